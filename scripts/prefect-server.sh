#!/usr/bin/env bash
# A local Prefect 3 server, the `local-process` work pool and a process worker for prefect.yaml.
#
#   scripts/prefect-server.sh up [--deploy] [--paused] [--port N]
#       Start the server (UI and API at http://127.0.0.1:4200), wait until its API is healthy,
#       create the work pool (type process) and start a worker polling it. Idempotent: what
#       already runs is kept. --deploy also registers every deployment of prefect.yaml
#       (`prefect deploy --all`); --paused then pauses their schedules (manual runs only).
#   scripts/prefect-server.sh deploy [--paused]   (re)register the deployments of prefect.yaml
#   scripts/prefect-server.sh status              pids, API health, pool; exit 0 running,
#                                                 1 partly running, 3 stopped
#   scripts/prefect-server.sh down                stop the worker (and its flow runs), then the server
#   scripts/prefect-server.sh env                 print the export line for Prefect clients
#
# Environment (all optional):
#   HASTE_PREFECT_HOME          state dir: pid files, logs, Prefect's home and SQLite database
#                               (default <repo>/.haste/prefect, gitignored)
#   HASTE_PREFECT_HOST/PORT     where the server listens (127.0.0.1, 4200); --port overrides
#   HASTE_PREFECT_POOL          work pool of prefect.yaml (local-process)
#   HASTE_PREFECT_FILE          the prefect.yaml to deploy (<repo>/prefect.yaml)
#   HASTE_PREFECT_WORKER_LIMIT  flow runs the worker runs at once (2)
#   HASTE_PREFECT_TIMEOUT       seconds to wait for the API and the worker (180)
#   HASTE_REPO_DIR              working directory of the flow runs (the repo; prefect.yaml's pull step)
#   HASTE_VENV_BIN              where prefect and python live (<repo>/.venv/bin)
#   PREFECT_HOME                Prefect's home (default <state dir>/home)
# The worker passes its environment (HASTE_* settings included) to every flow run, which runs with
# the repo's .venv python; the telemetry-off/offline defaults of haste.runtime are applied first.
set -euo pipefail

REPO_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV_BIN="${HASTE_VENV_BIN:-$REPO_DIR/.venv/bin}"
PREFECT="$VENV_BIN/prefect"
PYTHON="$VENV_BIN/python"

STATE_DIR="${HASTE_PREFECT_HOME:-$REPO_DIR/.haste/prefect}"
HOST="${HASTE_PREFECT_HOST:-127.0.0.1}"
PORT="${HASTE_PREFECT_PORT:-4200}"
POOL="${HASTE_PREFECT_POOL:-local-process}"
PREFECT_FILE="${HASTE_PREFECT_FILE:-$REPO_DIR/prefect.yaml}"
WORKER_LIMIT="${HASTE_PREFECT_WORKER_LIMIT:-2}"
TIMEOUT="${HASTE_PREFECT_TIMEOUT:-180}"
STOP_TIMEOUT=30

SERVER_PID="$STATE_DIR/server.pid"
WORKER_PID="$STATE_DIR/worker.pid"
SERVER_URL_FILE="$STATE_DIR/server.url"
SERVER_LOG="$STATE_DIR/server.log"
WORKER_LOG="$STATE_DIR/worker.log"
DEPLOY_LOG="$STATE_DIR/deploy.log"

say() { echo "prefect-server: $*" >&2; }
die() {
    say "error: $*"
    exit 1
}

usage() {
    sed -n '2,14p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'
    exit "${1:-0}"
}

# --- environment -------------------------------------------------------------------------------

setup_env() {
    [[ -x "$PREFECT" ]] || die "$PREFECT not found: create the venv first (make install)"
    mkdir -p "$STATE_DIR"
    STATE_DIR="$(cd "$STATE_DIR" && pwd)"
    export PREFECT_HOME="${PREFECT_HOME:-$STATE_DIR/home}"
    export HASTE_REPO_DIR="${HASTE_REPO_DIR:-$REPO_DIR}"
    export PREFECT_SERVER_ANALYTICS_ENABLED="${PREFECT_SERVER_ANALYTICS_ENABLED:-false}"
    # haste.runtime's defaults (telemetry off, offline hubs, quiet deprecations); set values win.
    local defaults
    if defaults="$("$PYTHON" -c '
import os, shlex
from haste.runtime import RUNTIME_ENV_DEFAULTS
for key, value in RUNTIME_ENV_DEFAULTS.items():
    if key not in os.environ:
        print(f"export {key}={shlex.quote(value)}")
' 2>/dev/null)"; then
        eval "$defaults"
    else
        export DO_NOT_TRACK="${DO_NOT_TRACK:-1}"
    fi
    # A server already started by this script keeps its address.
    if [[ -f "$SERVER_URL_FILE" ]] && pid_alive "$SERVER_PID"; then
        API_URL="$(cat "$SERVER_URL_FILE")"
    else
        API_URL="http://$HOST:$PORT/api"
    fi
}

# Clients (deploy, pool, worker) talk to this script's server, whatever the profile says.
client_env() { export PREFECT_API_URL="$API_URL"; }

# --- processes ---------------------------------------------------------------------------------

# pid_alive PIDFILE: the recorded process still runs and is a Prefect process.
pid_alive() {
    local pid
    [[ -f "$1" ]] || return 1
    pid="$(cat "$1" 2>/dev/null)" || return 1
    [[ "$pid" =~ ^[0-9]+$ ]] || return 1
    kill -0 "$pid" 2>/dev/null || return 1
    ps -p "$pid" -o args= 2>/dev/null | grep -q prefect
}

# start_detached PIDFILE LOG CMD...: run CMD in a session of its own (its pid is its process
# group) and write its pid to PIDFILE. SIGINT is reset to its default: a background job inherits
# it ignored, and Prefect's worker stops on SIGTERM by sending itself SIGINT.
start_detached() {
    local pidfile="$1" logfile="$2"
    shift 2
    rm -f "$pidfile"
    "$PYTHON" -c '
import os, signal, sys
signal.signal(signal.SIGINT, signal.SIG_DFL)
try:
    os.setsid()
except OSError:
    pass
with open(sys.argv[1], "w") as pidfile:
    pidfile.write(str(os.getpid()))
os.execvp(sys.argv[2], sys.argv[2:])
' "$pidfile" "$@" >>"$logfile" 2>&1 </dev/null &
    local i
    for ((i = 0; i < 100; i++)); do
        [[ -s "$pidfile" ]] && return 0
        sleep 0.1
    done
    die "could not start $*"
}

descendants() {
    local child
    for child in $(pgrep -P "$1" 2>/dev/null || true); do
        echo "$child"
        descendants "$child"
    done
}

# stop_process NAME PIDFILE: SIGTERM to its process group and descendants, SIGKILL after a while.
stop_process() {
    local name="$1" pidfile="$2" pid pids alive i p
    if ! pid_alive "$pidfile"; then
        rm -f "$pidfile"
        say "$name not running"
        return 0
    fi
    pid="$(cat "$pidfile")"
    # Flow runs may run in sessions of their own: collect them before their parent goes.
    pids="$pid $(descendants "$pid" | tr '\n' ' ')"
    kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null || true
    # One SIGTERM each: a second one makes a Prefect worker SIGKILL itself.
    for p in $pids; do
        if [[ "$(ps -o pgid= -p "$p" 2>/dev/null | tr -d ' ')" != "$pid" ]]; then
            kill -TERM "$p" 2>/dev/null || true
        fi
    done
    for ((i = 0; i < STOP_TIMEOUT * 5; i++)); do
        alive=""
        for p in $pids; do kill -0 "$p" 2>/dev/null && alive="$alive $p"; done
        [[ -z "$alive" ]] && break
        sleep 0.2
    done
    if [[ -n "$alive" ]]; then
        say "$name did not stop within ${STOP_TIMEOUT}s: SIGKILL to$alive"
        kill -KILL -- "-$pid" 2>/dev/null || true
        # shellcheck disable=SC2086
        kill -KILL $alive 2>/dev/null || true
    fi
    rm -f "$pidfile"
    say "$name stopped (pid $pid)"
}

# --- API ---------------------------------------------------------------------------------------

http_get() {
    if command -v curl >/dev/null; then
        curl -fsS --max-time 5 "$1" 2>/dev/null
    else
        "$PYTHON" -c 'import sys, urllib.request
print(urllib.request.urlopen(sys.argv[1], timeout=5).read().decode())' "$1" 2>/dev/null
    fi
}

api_healthy() { [[ "$(http_get "$API_URL/health" || true)" == "true" ]]; }

pool_ready() { http_get "$API_URL/work_pools/$POOL" | grep -q '"status": *"READY"'; }

log_tail() { [[ -f "$1" ]] && tail -n "${2:-30}" "$1" | sed 's/^/    /' >&2 || true; }

wait_for_api() {
    local deadline=$((SECONDS + TIMEOUT))
    until api_healthy; do
        if ! pid_alive "$SERVER_PID"; then
            say "the server exited; the end of $SERVER_LOG:"
            log_tail "$SERVER_LOG"
            die "Prefect server did not start"
        fi
        if ((SECONDS >= deadline)); then
            log_tail "$SERVER_LOG"
            die "the API at $API_URL was not healthy within ${TIMEOUT}s (log: $SERVER_LOG)"
        fi
        sleep 0.5
    done
}

wait_for_worker() {
    local deadline=$((SECONDS + TIMEOUT))
    until pool_ready; do
        if ! pid_alive "$WORKER_PID"; then
            say "the worker exited; the end of $WORKER_LOG:"
            log_tail "$WORKER_LOG"
            die "Prefect worker did not start"
        fi
        if ((SECONDS >= deadline)); then
            log_tail "$WORKER_LOG"
            die "work pool '$POOL' not ready within ${TIMEOUT}s (log: $WORKER_LOG)"
        fi
        sleep 0.5
    done
}

# --- commands ----------------------------------------------------------------------------------

start_server() {
    if pid_alive "$SERVER_PID"; then
        say "server already running (pid $(cat "$SERVER_PID"), $API_URL)"
        wait_for_api
        return 0
    fi
    if api_healthy; then
        die "$API_URL already answers, but not from a server of $STATE_DIR: stop it or use --port"
    fi
    say "starting the server on http://$HOST:$PORT (log: $SERVER_LOG)"
    # The server must not treat a client setting as its own address.
    start_detached "$SERVER_PID" "$SERVER_LOG" \
        env -u PREFECT_API_URL "$PREFECT" server start --host "$HOST" --port "$PORT"
    echo "$API_URL" >"$SERVER_URL_FILE"
    local started=$SECONDS
    wait_for_api
    say "API healthy after $((SECONDS - started))s"
}

ensure_pool() {
    client_env
    if "$PREFECT" work-pool inspect "$POOL" >/dev/null 2>&1; then
        return 0
    fi
    "$PREFECT" --no-prompt work-pool create "$POOL" --type process >/dev/null ||
        "$PREFECT" work-pool inspect "$POOL" >/dev/null 2>&1 ||
        die "could not create work pool '$POOL'"
    say "work pool '$POOL' (process) created"
}

start_worker() {
    client_env
    if pid_alive "$WORKER_PID"; then
        say "worker already running (pid $(cat "$WORKER_PID"))"
        return 0
    fi
    say "starting a worker on pool '$POOL' (log: $WORKER_LOG)"
    start_detached "$WORKER_PID" "$WORKER_LOG" \
        "$PREFECT" worker start --pool "$POOL" --type process --name "haste-${HOSTNAME:-local}-$PORT" \
        --limit "$WORKER_LIMIT" --install-policy never --no-create-pool-if-not-found
}

deploy() {
    local paused="$1"
    client_env
    [[ -f "$PREFECT_FILE" ]] || die "$PREFECT_FILE not found"
    say "registering the deployments of $PREFECT_FILE (log: $DEPLOY_LOG)"
    local started=$SECONDS
    # --no-prompt: never ask (non-interactive); the pull step reads $HASTE_REPO_DIR.
    if ! (cd "$REPO_DIR" && "$PREFECT" --no-prompt deploy --all --prefect-file "$PREFECT_FILE") \
        >"$DEPLOY_LOG" 2>&1 </dev/null; then
        log_tail "$DEPLOY_LOG" 40
        die "prefect deploy --all failed (log: $DEPLOY_LOG)"
    fi
    say "$(grep -c "successfully" "$DEPLOY_LOG" || true) deployments registered in $((SECONDS - started))s"
    if [[ "$paused" == 1 ]]; then
        "$PREFECT" --no-prompt deployment schedule pause --all >>"$DEPLOY_LOG" 2>&1 </dev/null ||
            die "could not pause the schedules (log: $DEPLOY_LOG)"
        say "schedules paused (resume: $PREFECT deployment schedule resume --all)"
    fi
}

cmd_up() {
    local with_deploy="$1" paused="$2"
    start_server
    ensure_pool
    start_worker
    if [[ "$with_deploy" == 1 ]]; then
        deploy "$paused"
    fi
    wait_for_worker
    say "ready: UI ${API_URL%/api}"
    say "clients: export PREFECT_API_URL=$API_URL"
}

cmd_status() {
    local server=0 worker=0 deployments="?"
    if pid_alive "$SERVER_PID"; then
        server=1
        if api_healthy; then
            deployments="$(client_env && "$PYTHON" -c 'import json, sys, urllib.request
req = urllib.request.Request(sys.argv[1] + "/deployments/count", data=b"{}",
                             headers={"Content-Type": "application/json"})
print(json.load(urllib.request.urlopen(req, timeout=5)))' "$API_URL" 2>/dev/null || echo "?")"
            echo "server   running (pid $(cat "$SERVER_PID")), API $API_URL healthy"
        else
            echo "server   running (pid $(cat "$SERVER_PID")), API $API_URL NOT healthy"
        fi
    else
        echo "server   stopped"
    fi
    if pid_alive "$WORKER_PID"; then
        worker=1
        local state="not ready"
        pool_ready && state="ready"
        echo "worker   running (pid $(cat "$WORKER_PID")), pool '$POOL' $state"
    else
        echo "worker   stopped"
    fi
    if ((server)); then echo "deployments $deployments"; fi
    echo "state    $STATE_DIR"
    if ((server && worker)); then return 0; fi
    if ((server || worker)); then return 1; fi
    return 3
}

cmd_down() {
    stop_process worker "$WORKER_PID"
    stop_process server "$SERVER_PID"
    rm -f "$SERVER_URL_FILE"
}

main() {
    local command="${1:-}"
    [[ -n "$command" ]] || usage 2
    shift
    local with_deploy=0 paused=0
    while (($#)); do
        case "$1" in
        --deploy) with_deploy=1 ;;
        --paused) paused=1 ;;
        --port)
            [[ $# -ge 2 ]] || die "--port needs a value"
            PORT="$2"
            shift
            ;;
        --port=*) PORT="${1#--port=}" ;;
        -h | --help) usage 0 ;;
        *) die "unknown option $1 (see --help)" ;;
        esac
        shift
    done
    [[ "$PORT" =~ ^[0-9]+$ ]] || die "port must be a number, got '$PORT'"
    case "$command" in
    -h | --help | help) usage 0 ;;
    up)
        setup_env
        cmd_up "$with_deploy" "$paused"
        ;;
    deploy)
        setup_env
        api_healthy || die "no healthy server at $API_URL: run '$0 up' first"
        deploy "$paused"
        ;;
    status)
        setup_env
        cmd_status
        ;;
    down)
        setup_env
        cmd_down
        ;;
    env)
        setup_env
        echo "export PREFECT_API_URL=$API_URL"
        ;;
    *) usage 2 ;;
    esac
}

main "$@"
