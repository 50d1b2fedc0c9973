#!/usr/bin/env bash
# A real two-node Ray cluster on this machine: a head node and a worker node, each its own
# raylet, object store and resources, joined through the head's GCS.
#
#   scripts/ray-cluster.sh up            # start head + worker, wait until both are alive
#   scripts/ray-cluster.sh status        # pids, ports and `ray status` of the cluster
#   scripts/ray-cluster.sh kill-worker   # SIGKILL the worker node (a node-loss drill)
#   scripts/ray-cluster.sh down          # stop both nodes (only the processes started here)
#
#   RAY_AUTH_MODE=token python -c 'import ray; ray.init(address="127.0.0.1:6390")'
#   (a driver must export RAY_AUTH_MODE=token: Ray reads it once per process)
#
# Nodes:  head   --num-cpus 1 --resources '{"head": 1}'    (GCS, Serve controller, proxy)
#         worker --num-cpus 1 --resources '{"worker": 4}'  (pin work with {"worker": 1})
#
# Ports: the cluster owns RAY_CLUSTER_PORT .. +99 (default 6390..6489; Redis keeps 6379):
#   +0 GCS, +1..+7 head (node manager, object manager, agent http/grpc, runtime-env agent,
#   metrics, Ray client), +8 dashboard (the full one, with the state API, only with
#   RAY_CLUSTER_DASHBOARD=1; Ray's minimal head process otherwise), +11..+16 the worker's,
#   +20..+59 head worker processes, +60..+99 worker-node worker processes. Nothing uses Ray's
#   defaults (52365, 10001, 8265), so local `ray.init()` instances run beside it.
#
# State lives in RAY_CLUSTER_DIR/<port> (default /tmp/haste-ray/6390): one temp dir per node
# (head/, worker/), their logs and pid files. `down` never calls `ray stop` (that would stop
# every Ray process on the machine): it ends the process trees it started, by pid.
#
# Ray binds every interface and advertises the machine's IP; RAY_CLUSTER_HOST (127.0.0.1) is
# only the address this script connects to. Token authentication is on (RAY_AUTH_MODE=token,
# the token in ~/.ray/auth_token, generated when missing): drivers on this machine find it.
#
# Environment: RAY_CLUSTER_PORT, RAY_CLUSTER_DIR, RAY_CLUSTER_HOST, RAY_AUTH_MODE (token),
# RAY_HEAD_CPUS (1), RAY_WORKER_CPUS (1), RAY_WORKER_GPUS (0; the head never gets one),
# RAY_HEAD_RESOURCES, RAY_WORKER_RESOURCES,
# RAY_NODE_OBJECT_STORE_BYTES (150000000 per node), RAY_CLUSTER_DASHBOARD (0),
# RAY_CLUSTER_TIMEOUT_S (90), RAY_CLUSTER_GRACE_S (5),
# RAY_BIN (the repo's .venv/bin/ray, else `ray` on PATH).
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PORT="${RAY_CLUSTER_PORT:-6390}"
HOST="${RAY_CLUSTER_HOST:-127.0.0.1}"
STATE="${RAY_CLUSTER_DIR:-/tmp/haste-ray}/${PORT}"
HEAD_CPUS="${RAY_HEAD_CPUS:-1}"
WORKER_CPUS="${RAY_WORKER_CPUS:-1}"
WORKER_GPUS="${RAY_WORKER_GPUS:-0}"  # both nodes would claim the machine's GPUs otherwise
HEAD_RESOURCES="${RAY_HEAD_RESOURCES:-{\"head\": 1\}}"
WORKER_RESOURCES="${RAY_WORKER_RESOURCES:-{\"worker\": 4\}}"
OBJECT_STORE="${RAY_NODE_OBJECT_STORE_BYTES:-150000000}"
DASHBOARD="${RAY_CLUSTER_DASHBOARD:-0}"
TIMEOUT_S="${RAY_CLUSTER_TIMEOUT_S:-90}"
GRACE_S="${RAY_CLUSTER_GRACE_S:-5}"  # SIGTERM to SIGKILL on `down`
if [[ -n "${RAY_BIN:-}" ]]; then
  RAY="$RAY_BIN"
elif [[ -x "$REPO/.venv/bin/ray" ]]; then
  RAY="$REPO/.venv/bin/ray"
else
  RAY="$(command -v ray || true)"
fi
PYTHON="$(dirname "$RAY")/python"
[[ -x "$PYTHON" ]] || PYTHON="$(command -v python3)"
export RAY_AUTH_MODE="${RAY_AUTH_MODE:-token}"

die() { echo "ray-cluster: $*" >&2; exit 1; }

# The pid (= process group, started with setsid) of a node's `ray start --block`, if alive.
node_pid() {
  local file="$STATE/$1.pid" pid
  [[ -f "$file" ]] || return 1
  pid="$(cat "$file")"
  kill -0 "$pid" 2>/dev/null || return 1
  echo "$pid"
}

# Every process of a node: its process group and all descendants (Ray's worker processes start
# their own process groups, so the group alone is not enough).
node_tree() {
  local root="$1"
  ps -eo pid=,ppid=,pgid= | awk -v root="$root" '
    { pid[NR] = $1; ppid[NR] = $2; pgid[NR] = $3 }
    END {
      keep[root] = 1
      for (i = 1; i <= NR; i++) if (pgid[i] == root) keep[pid[i]] = 1
      do {
        added = 0
        for (i = 1; i <= NR; i++)
          if (!(pid[i] in keep) && (ppid[i] in keep)) { keep[pid[i]] = 1; added = 1 }
      } while (added)
      for (p in keep) print p
    }'
}

# End a node: freeze its whole tree first (SIGSTOP, until no new process appears: a raylet
# may be spawning a worker right now), then TERM (RAY_CLUSTER_GRACE_S, then KILL) or KILL.
stop_node() {
  local name="$1" signal="$2" pid pids=() left=() count=-1 state
  pid="$(node_pid "$name")" || { rm -f "$STATE/$name.pid"; return 0; }
  while ((${#pids[@]} != count)); do
    count=${#pids[@]}
    mapfile -t pids < <(node_tree "$pid")
    kill -STOP "${pids[@]}" 2>/dev/null || true
  done
  kill "-$signal" "${pids[@]}" 2>/dev/null || true
  kill -CONT "${pids[@]}" 2>/dev/null || true
  if [[ "$signal" == "TERM" ]]; then
    for _ in $(seq 1 $((GRACE_S * 5))); do
      left=()
      for p in "${pids[@]}"; do
        state="$(sed 's/.*) //' "/proc/$p/stat" 2>/dev/null | cut -d' ' -f1 || true)"
        [[ -n "$state" && "$state" != "Z" ]] && left+=("$p")
      done
      ((${#left[@]} == 0)) && break
      sleep 0.2
    done
    ((${#left[@]} > 0)) && kill -KILL "${left[@]}" 2>/dev/null || true
  fi
  # A worker process the raylet was starting may already hang off init: it still names this
  # node's temp dir on its command line (started workers rename themselves ray::...).
  local strays=()
  for p in /proc/[0-9]*; do
    tr '\0' ' ' 2>/dev/null <"$p/cmdline" | grep -qF -- "$STATE/$name/" && strays+=("${p#/proc/}")
  done
  ((${#strays[@]} > 0)) && kill -KILL "${strays[@]}" 2>/dev/null || true
  rm -f "$STATE/$name.pid"
  echo "$name node stopped (pid $pid, $((${#pids[@]} + ${#strays[@]})) processes, SIG$signal)"
}

# Alive nodes of the cluster, counted from the GCS (no dashboard needed).
alive_nodes() {
  "$PYTHON" - "$HOST:$PORT" <<'EOF' 2>/dev/null
import sys

from ray._raylet import GcsClient

nodes = GcsClient(address=sys.argv[1]).get_all_node_info(timeout=5)
print(sum(1 for node in nodes.values() if node.state == 0))  # GcsNodeInfo.ALIVE
EOF
}

wait_for_nodes() {
  local want="$1" node="$2" deadline=$((SECONDS + TIMEOUT_S)) have
  while ((SECONDS < deadline)); do
    if ! node_pid "$node" >/dev/null; then
      echo "ray-cluster: the $node node exited; its log:" >&2
      tail -n 20 "$STATE/$node.log" >&2
      return 1
    fi
    have="$(alive_nodes || echo 0)"
    [[ "$have" == "$want" ]] && return 0
    sleep 1
  done
  echo "ray-cluster: no $want alive nodes after ${TIMEOUT_S}s (have ${have:-0}); logs:" \
    "$STATE/*.log" >&2
  return 1
}

# Ray 2.5x+ enables token authentication when a token exists; this cluster always uses it
# (the GCS listens on every interface). Clients on this machine read ~/.ray/auth_token.
ensure_token() {
  [[ "$RAY_AUTH_MODE" == "token" ]] || return 0
  [[ -n "${RAY_AUTH_TOKEN:-}" || -n "${RAY_AUTH_TOKEN_PATH:-}" ]] && return 0
  [[ -s "$HOME/.ray/auth_token" ]] || "$RAY" get-auth-token --generate >/dev/null
}

start_node() {
  local name="$1"
  shift
  mkdir -p "$STATE/$name"
  # setsid: the node is its own process group (and session), so it can be ended precisely.
  RAY_USAGE_STATS_ENABLED=0 setsid "$RAY" start --block --disable-usage-stats \
    --temp-dir "$STATE/$name" \
    --object-store-memory "$OBJECT_STORE" "$@" >"$STATE/$name.log" 2>&1 </dev/null &
  echo $! >"$STATE/$name.pid"
}

up() {
  [[ -x "$RAY" ]] || die "ray not found (create the venv: make install)"
  if node_pid head >/dev/null || node_pid worker >/dev/null; then
    die "a cluster already runs on port $PORT (scripts/ray-cluster.sh status)"
  fi
  ensure_token
  local started=$SECONDS dashboard=(--include-dashboard=false)
  # Even "disabled", the head runs a minimal dashboard process: give it the cluster's port too.
  [[ "$DASHBOARD" == "1" ]] && dashboard=(--include-dashboard=true --dashboard-host "$HOST")
  start_node head --head --port "$PORT" --num-cpus "$HEAD_CPUS" --num-gpus 0 \
    --resources "$HEAD_RESOURCES" \
    "${dashboard[@]}" --dashboard-port $((PORT + 8)) \
    --node-manager-port $((PORT + 1)) --object-manager-port $((PORT + 2)) \
    --dashboard-agent-listen-port $((PORT + 3)) --dashboard-agent-grpc-port $((PORT + 4)) \
    --runtime-env-agent-port $((PORT + 5)) --metrics-export-port $((PORT + 6)) \
    --ray-client-server-port $((PORT + 7)) \
    --min-worker-port $((PORT + 20)) --max-worker-port $((PORT + 59))
  wait_for_nodes 1 head || { down; exit 1; }
  start_node worker --address "$HOST:$PORT" --num-cpus "$WORKER_CPUS" --num-gpus "$WORKER_GPUS" \
    --resources "$WORKER_RESOURCES" --node-manager-port $((PORT + 11)) \
    --object-manager-port $((PORT + 12)) --dashboard-agent-listen-port $((PORT + 13)) \
    --dashboard-agent-grpc-port $((PORT + 14)) --runtime-env-agent-port $((PORT + 15)) \
    --metrics-export-port $((PORT + 16)) \
    --min-worker-port $((PORT + 60)) --max-worker-port $((PORT + 99))
  wait_for_nodes 2 worker || { down; exit 1; }
  echo "Ray cluster up in $((SECONDS - started))s: 2 nodes, address $HOST:$PORT"
  echo "  head   pid $(cat "$STATE/head.pid")   cpus $HEAD_CPUS resources $HEAD_RESOURCES"
  echo "  worker pid $(cat "$STATE/worker.pid")   cpus $WORKER_CPUS gpus $WORKER_GPUS" \
    "resources $WORKER_RESOURCES"
  [[ "$DASHBOARD" == "1" ]] && echo "  dashboard http://$HOST:$((PORT + 8))"
  return 0
}

down() {
  stop_node worker TERM
  stop_node head TERM
}

status() {
  local name pid
  for name in head worker; do
    if pid="$(node_pid "$name")"; then
      echo "$name: running (pid $pid, $(node_tree "$pid" | wc -l) processes)"
    else
      echo "$name: stopped"
    fi
  done
  node_pid head >/dev/null || return 1
  echo "address: $HOST:$PORT, alive nodes: $(alive_nodes || echo '?')"
  "$RAY" status --address "$HOST:$PORT" 2>/dev/null || true
}

case "${1:-}" in
  up) up ;;
  down) down ;;
  status) status ;;
  kill-worker) stop_node worker KILL ;;
  *) die "usage: $0 up|down|status|kill-worker (port RAY_CLUSTER_PORT=$PORT)" ;;
esac
