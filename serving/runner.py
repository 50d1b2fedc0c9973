"""Start and stop the Ray Serve application locally (or on ``settings.ray_address``)."""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any

import httpx
import ray
import yaml
from ray import serve

from haste.settings import CONFIG_DIR, Settings
from pipelines.stages import PipelinePaths
from serving.app import ServeConfig, build_app

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


def serve_config_from_settings(settings: Settings, model_name: str = "lead_scoring") -> ServeConfig:
    """Build a replica config with absolute URLs and paths."""
    return ServeConfig(
        tracking_uri=settings.mlflow_tracking_uri,
        database_url=settings.database_url,
        features_path=str(PipelinePaths(settings.data_dir).features(model_name)),
        settings=settings.model_dump(mode="json"),
        model_name=model_name,
        churn_features_path=str(PipelinePaths(settings.data_dir).features("churn")),
    )


def base_url(settings: Settings) -> str:
    """Return the HTTP base URL of the Serve proxy."""
    return f"http://{settings.serve_host}:{settings.serve_port}"


def start_serving(
    settings: Settings,
    model_name: str = "lead_scoring",
    user_config: dict[str, Any] | None = None,
    overrides: dict[str, Any] | None = None,
) -> str:
    """Start Ray (local unless ``ray_address``), deploy the app and wait until it answers.

    Args:
        settings: Platform settings.
        model_name: Model to serve.
        user_config: Overrides the ``user_config`` of ``configs/serve.yaml`` (A/B split...).
        overrides: Other deployment options replacing the file's (``num_replicas``...).

    Returns:
        The base URL of the API.

    """
    if not ray.is_initialized():
        if settings.ray_address:
            ray.init(address=settings.ray_address, log_to_driver=False)
        else:
            ray.init(
                num_cpus=2,
                include_dashboard=False,
                log_to_driver=False,
                object_store_memory=200 * 1024 * 1024,
            )
    serve.start(http_options={"host": settings.serve_host, "port": settings.serve_port})
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
        user_config: Overrides the file's ``user_config`` when given.
        overrides: Other deployment options; a fixed ``num_replicas`` replaces autoscaling.

    Returns:
        The base URL of the API.
    """
    options = load_deployment_options()
    if user_config is not None:
        options["user_config"] = user_config
    if overrides:
        if "num_replicas" in overrides:
            options.pop("autoscaling_config", None)
        options.update(overrides)
    serve.run(
        build_app(
            serve_config_from_settings(settings, model_name),
            options,
            load_deployment_options(deployment=TEXT_DEPLOYMENT),
        ),
        name=APP_NAME,
        route_prefix="/",
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


def stop_serving() -> None:
    """Shut Serve and the local Ray instance down."""
    if ray.is_initialized():
        serve.shutdown()
        ray.shutdown()
