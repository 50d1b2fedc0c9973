"""Start and stop the Ray Serve application locally (or on ``settings.ray_address``)."""

from __future__ import annotations

import logging
import time

import httpx
import ray
from ray import serve

from haste.settings import Settings
from pipelines.stages import PipelinePaths
from serving.app import ServeConfig, build_app

logger = logging.getLogger(__name__)

APP_NAME = "hastecrm-ai"


def serve_config_from_settings(settings: Settings, model_name: str = "lead_scoring") -> ServeConfig:
    """Build a replica config with absolute URLs and paths."""
    return ServeConfig(
        tracking_uri=settings.mlflow_tracking_uri,
        database_url=settings.database_url,
        features_path=str(PipelinePaths(settings.data_dir).features(model_name)),
        settings=settings.model_dump(mode="json"),
        model_name=model_name,
    )


def base_url(settings: Settings) -> str:
    """Return the HTTP base URL of the Serve proxy."""
    return f"http://{settings.serve_host}:{settings.serve_port}"


def start_serving(settings: Settings, model_name: str = "lead_scoring") -> str:
    """Start Ray (local unless ``ray_address``), deploy the app and wait until it answers.

    Args:
        settings: Platform settings.
        model_name: Model to serve.

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
    serve.run(
        build_app(serve_config_from_settings(settings, model_name)),
        name=APP_NAME,
        route_prefix="/",
    )
    url = base_url(settings)
    wait_until_healthy(url)
    logger.info("Ray Serve app %s ready at %s", APP_NAME, url)
    return url


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
