"""Start and stop the Ray Serve application locally (or on ``settings.ray_address``)."""

from __future__ import annotations

import hashlib
import logging
import os
import signal
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import ray
import yaml
from ray import serve
from ray.serve.schema import LoggingConfig

from haste.settings import CONFIG_DIR, Settings
from serving.app import CONVERSATION_DEPLOYMENT, build_app
from serving.config import ServeConfig, serve_config_from_settings
from serving.ingress import ingress_environment, with_gateway_env
from serving.model_server import CHALLENGER_DEPLOYMENT, CHAMPION_DEPLOYMENT
from serving.proxy_middleware import PROXY_CALLBACK, PROXY_CALLBACK_ENV
from serving.stream_consumer import CONSUMER_DEPLOYMENT

logger = logging.getLogger(__name__)

APP_NAME = "hastecrm-ai"
DEPLOYMENT = "AIGateway"
TEXT_DEPLOYMENT = "TextAI"


def load_deployment_options(
    path: Path | None = None, deployment: str = DEPLOYMENT
) -> dict[str, Any]:
    """Return a deployment's options in ``configs/serve.yaml`` (autoscaling, actor options...)."""
    with Path(path or CONFIG_DIR / "serve.yaml").open(encoding="utf-8") as handle:
        config = yaml.safe_load(handle)
    app = next(a for a in config["applications"] if a["name"] == APP_NAME)
    options = next((d for d in app["deployments"] if d["name"] == deployment), {})
    return {key: value for key, value in options.items() if key != "name"}


#: Packages whose code runs in the replicas: a change to any of them restarts the replicas.
REPLICA_PACKAGES = (
    "serving",
    "textai",
    "insights",
    "training",
    "features",
    "pipelines",
    "monitoring",
    "streaming",
    "haste",
)


def code_version(config: ServeConfig) -> str:
    """Return a hash of the replicas' code and config (the deployments' pinned code version).

    Args:
        config: The replica config.

    Returns:
        16 hex digits: equal for an unchanged checkout and config, different otherwise.
    """
    digest = hashlib.sha256(repr(config).encode())
    root = Path(__file__).resolve().parents[1]
    for package in REPLICA_PACKAGES:
        for path in sorted((root / package).rglob("*.py")):
            digest.update(str(path.relative_to(root)).encode())
            digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


def base_url(settings: Settings) -> str:
    """Return the HTTP base URL of the Serve proxy."""
    return f"http://{settings.serve_host}:{settings.serve_port}"


def metrics_port(wanted: int) -> int | None:
    """Return the metrics port to give Ray: ``wanted`` if free, else None (Ray picks one)."""
    if not wanted:
        return None
    with socket.socket() as probe:
        try:
            probe.bind(("127.0.0.1", wanted))
        except OSError:
            logger.warning("metrics port %d is taken; Ray picks another (see its logs)", wanted)
            return None
    return wanted


@contextmanager
def environment_defaults(values: dict[str, str]) -> Iterator[None]:
    """Set the variables not already set, for the block only (processes started inherit them)."""
    added = {name: value for name, value in values.items() if name not in os.environ}
    os.environ.update(added)
    try:
        yield
    finally:
        for name in added:
            os.environ.pop(name, None)


def start_serving(
    settings: Settings,
    model_name: str = "lead_scoring",
    user_config: dict[str, Any] | None = None,
    overrides: dict[str, Any] | None = None,
    log_level: int = logging.INFO,
) -> str:
    """Start Ray (local unless ``ray_address``), deploy the app and wait until it answers.

    Args:
        settings: Platform settings.
        model_name: Model to serve.
        user_config: Overrides the ``user_config`` of ``configs/serve.yaml`` (A/B split...).
        overrides: Other deployment options replacing the file's (``num_replicas``...).
        log_level: Level of Ray's and Serve's driver-side logs (``WARNING`` for a quiet demo).

    Returns:
        The base URL of the API.

    """
    # The proxies mark client-sent request ids (serving.proxy_middleware); set before Ray
    # starts so its proxy actors inherit it.
    os.environ.setdefault(PROXY_CALLBACK_ENV, PROXY_CALLBACK)
    if not ray.is_initialized():
        if settings.ray_address:
            ray.init(address=settings.ray_address, log_to_driver=False, logging_level=log_level)
        else:
            # HAProxy ingress and replica flags (serving.ingress), for the processes of this
            # Ray only: a later local Ray (another port) gets its own.
            with environment_defaults(ingress_environment(settings.serve_port)):
                ray.init(
                    num_cpus=2,
                    include_dashboard=False,
                    _metrics_export_port=metrics_port(settings.metrics_port),  # Prometheus
                    log_to_driver=False,
                    logging_level=log_level,
                    object_store_memory=200 * 1024 * 1024,
                )
    logging.getLogger("ray.serve").setLevel(log_level)
    serve.start(
        http_options={"host": settings.serve_host, "port": settings.serve_port},
        # JSON lines carrying Serve's request id (= the audit trail's) in every deployment.
        logging_config=LoggingConfig(encoding="JSON", log_level=logging.getLevelName(log_level)),
    )
    url = deploy_app(settings, model_name, user_config, overrides)
    logger.info("Ray Serve app %s ready at %s", APP_NAME, url)
    return url


def deploy_app(
    settings: Settings,
    model_name: str,
    user_config: dict[str, Any] | None = None,
    overrides: dict[str, Any] | None = None,
) -> str:
    """Deploy (or update) the app with ``configs/serve.yaml``'s options; wait until healthy.

    Args:
        settings: Platform settings.
        model_name: Model to serve.
        user_config: Overrides the gateway's ``user_config`` when given; its
            ``models_generation`` goes to the model deployments too (they reload on a change).
        overrides: Other gateway options; a fixed ``num_replicas`` replaces autoscaling.

    Returns:
        The base URL of the API.
    """
    options = load_deployment_options()
    model_options = {
        name: load_deployment_options(deployment=name)
        for name in (CHAMPION_DEPLOYMENT, CHALLENGER_DEPLOYMENT)
    }
    if user_config is not None:
        options["user_config"] = user_config
        for deployment in model_options.values():
            deployment["user_config"] = {
                "models_generation": user_config.get("models_generation", 1)
            }
    for name in (CONVERSATION_DEPLOYMENT, CONSUMER_DEPLOYMENT):
        model_options[name] = load_deployment_options(deployment=name)
    if overrides:
        if "num_replicas" in overrides:
            options.pop("autoscaling_config", None)
        options.update(overrides)
    options = with_gateway_env(options)
    config = serve_config_from_settings(settings, model_name)
    text_options = load_deployment_options(deployment=TEXT_DEPLOYMENT)
    for deployment_options in (options, text_options, *model_options.values()):
        deployment_options.setdefault("graceful_shutdown_timeout_s", config.limits.shutdown_grace_s)
    serve.run(
        build_app(
            config,
            options,
            text_options,
            model_options,
            code_version(config),
        ),
        name=APP_NAME,
        route_prefix="/",
        # Every replica logs JSON lines carrying Serve's request id (the audit trail's too).
        logging_config=LoggingConfig(encoding="JSON", log_level="INFO"),
    )
    url = base_url(settings)
    wait_until_healthy(url)
    return url


def update_user_config(
    settings: Settings, user_config: dict[str, Any], model_name: str = "lead_scoring"
) -> None:
    """Redeploy with a new ``user_config``: running replicas reconfigure, nothing restarts."""
    deploy_app(settings, model_name, user_config)


def wait_until_healthy(url: str, timeout_s: float = 60.0) -> None:
    """Poll the health endpoint until it answers 200 or ``timeout_s`` passes."""
    deadline = time.monotonic() + timeout_s
    last_error = ""
    while time.monotonic() < deadline:
        try:
            response = httpx.get(f"{url}/api/ai/health", timeout=5.0)
            if response.status_code == 200:
                return
            last_error = f"HTTP {response.status_code}"
        except httpx.HTTPError as error:
            last_error = str(error)
        time.sleep(0.5)
    raise TimeoutError(f"Serve app at {url} not healthy after {timeout_s}s: {last_error}")


def stop_serving(drain: bool = False) -> None:
    """Shut Serve and the local Ray instance down.

    Args:
        drain: Delete the app first and wait: every replica stops taking requests and gets
            ``graceful_shutdown_timeout_s`` (``limits.shutdown_grace_s``) to finish those in
            flight, whose audit records are written before their answers.
    """
    if ray.is_initialized():
        if drain:
            started = time.monotonic()
            try:
                serve.delete(APP_NAME, _blocking=True)
            except Exception:  # already gone, or the controller died: shut down anyway
                logger.warning("could not drain %s", APP_NAME, exc_info=True)
            logger.info("drained %s in %.1f s", APP_NAME, time.monotonic() - started)
        serve.shutdown()
        ray.shutdown()


def serve_until_signalled(url: str, grace_s: float, announce: Any = print) -> str:
    """Block until SIGINT or SIGTERM, then drain and stop; return the signal's name.

    Both signals are handled explicitly (a shell starting ``haste serve &`` ignores SIGINT in
    the child; a container stop sends SIGTERM). A watchdog ends the process if draining takes
    more than ``grace_s`` + 15 s.
    """
    received: list[str] = []
    stop = threading.Event()

    def on_signal(number: int, _frame: Any) -> None:
        received.append(signal.Signals(number).name)
        stop.set()

    for number in (signal.SIGINT, signal.SIGTERM):
        signal.signal(number, on_signal)
    announce(f"serving at {url} (OpenAPI docs: {url}/docs); Ctrl-C or SIGTERM to stop")
    while not stop.wait(1.0):
        pass
    announce(f"{received[0]}: draining in-flight requests (up to {grace_s:g} s), then stopping")
    watchdog = threading.Timer(grace_s + 15, lambda: os._exit(1))
    watchdog.daemon = True
    watchdog.start()
    stop_serving(drain=True)
    watchdog.cancel()
    return received[0]


def reconfigure_running(
    settings: Settings,
    rollouts: dict[str, int] | None = None,
    reload_models: bool = False,
    model_name: str = "lead_scoring",
) -> dict[str, Any]:
    """Change the A/B split or reload the aliases of the app another process is serving.

    Connects to the running Ray cluster (``ray_address``, else the local one ``haste serve``
    started), merges ``rollouts`` into the live split recorded in ``ai_feature_flags`` and
    redeploys with the new ``user_config``: the code version is unchanged, so the running
    replicas reconfigure in place (nothing restarts).

    Args:
        settings: Platform settings.
        rollouts: Model name -> challenger percentage to change (others keep theirs).
        reload_models: Bump ``models_generation``: every replica re-reads champion/challenger.
        model_name: The app's profile lead model.

    Returns:
        The ``user_config`` now live.

    Raises:
        ConnectionError: When no Ray cluster with the app is running.
    """
    from training.ab_routing import load_rollouts, parse_rollouts

    current, generation = load_rollouts(settings.database_url)
    split = {model: value for model, value in current.items() if value > 0}
    split.update(rollouts or {})
    generation = int(generation or 1) + (1 if reload_models else 0)
    user_config = {"ab_rollout": split, "models_generation": generation}
    parse_rollouts(user_config)  # refuse bad percentages before touching the app
    if not ray.is_initialized():
        try:
            ray.init(address=settings.ray_address or "auto", log_to_driver=False)
        except ConnectionError as error:
            raise ConnectionError(
                "no running Ray cluster to reconfigure: start the API with `haste serve`"
            ) from error
    if APP_NAME not in serve.status().applications:
        raise ConnectionError(f"Ray is running but the {APP_NAME} app is not: run `haste serve`")
    deploy_app(settings, model_name, user_config)
    return user_config
