"""Fixtures of the multi-node tests: a real two-node Ray cluster and a small served model.

The cluster is ``scripts/ray-cluster.sh up`` on a free 100-port block (never Ray's defaults,
never Redis's 6379), with the dashboard on for ``ray.util.state`` and fast node-failure
detection; the finaliser always runs ``down`` (only the processes the script started).
The model is a small XGBoost lead model fitted on the real Leads.csv and registered as the
``lead_scoring`` champion in a temporary MLflow store named by the platform's settings.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest

from haste.settings import get_settings
from tests.support.asgi_server import free_port
from tests.support.ray_cluster import (
    FAST_FAILURE_DETECTION,
    FEATURES,
    ID_COLUMN,
    LABEL,
    ConnectedCluster,
    LeadModel,
    free_cluster_port,
    new_cluster,
)


@pytest.fixture(scope="module")
def ray_cluster() -> Iterator[ConnectedCluster]:
    """Start the two-node cluster, connect to it; always stop it afterwards."""
    import ray

    if ray.is_initialized():  # a local Ray left by another test: this driver needs the cluster
        ray.shutdown()
    cluster = new_cluster(free_cluster_port(), FAST_FAILURE_DETECTION)
    try:
        cluster.up()
        ray.init(address=cluster.address, log_to_driver=False)
        nodes = {n["NodeID"]: n for n in ray.nodes() if n["Alive"]}
        worker = [i for i, n in nodes.items() if n["Resources"].get("worker")]
        head = [i for i, n in nodes.items() if n["Resources"].get("head")]
        assert len(worker) == 1 and len(head) == 1, nodes
        yield ConnectedCluster(cluster, head[0], worker[0])
    finally:
        _disconnect()
        cluster.down()


@pytest.fixture(scope="module")
def serve_url(ray_cluster: ConnectedCluster) -> str:
    """Start Serve on the cluster; return its HTTP address.

    The proxy runs on the head only (``HeadOnly``): both nodes share this machine's ports, and
    requests must keep a way in when the worker node is lost. ``ray_cluster`` shuts Serve down.
    """
    from ray import serve

    port = free_port()
    serve.start(proxy_location="HeadOnly", http_options={"host": "127.0.0.1", "port": port})
    return f"http://127.0.0.1:{port}/"


def _disconnect() -> None:
    """Drop the driver's connection; the cluster's ``down`` ends the rest (Serve included).

    No ``serve.shutdown()``: after the node-loss test it waits ~20 s on a replica that can
    never be placed (Serve drops its cached client of a finished driver session itself).
    """
    import ray

    if ray.is_initialized():
        ray.shutdown()


@pytest.fixture(scope="module")
def lead_model(tmp_path_factory: pytest.TempPathFactory, datasets_dir: Path) -> Iterator[LeadModel]:
    """Fit a small lead model on Leads.csv; register it as the champion in a temp MLflow."""
    import mlflow

    from haste.db import upgrade_database
    from training.batch_models import load_batch_model
    from training.estimators import build_xgboost_pipeline
    from training.registry import (
        CHAMPION,
        configure_mlflow,
        log_sklearn_model,
        register_challenger,
    )

    home = tmp_path_factory.mktemp("cluster-home")
    previous = mlflow.get_tracking_uri(), mlflow.get_registry_uri()
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("HASTE_HOME", str(home / "state"))
        patch.setenv("HASTE_DATA_DIR", str(home / "data"))
        for key in ("HASTE_DATABASE_URL", "HASTE_MLFLOW_TRACKING_URI", "MLFLOW_EXPERIMENT_ID"):
            patch.delenv(key, raising=False)
        get_settings.cache_clear()
        settings = get_settings()
        leads = pd.read_csv(datasets_dir / "leads_xeducation" / "Leads.csv")
        leads = leads[[ID_COLUMN, *FEATURES, LABEL]]
        pipeline = build_xgboost_pipeline(
            FEATURES, {"n_estimators": 40, "max_depth": 3, "learning_rate": 0.2, "random_state": 0}
        )
        pipeline.fit(leads[FEATURES], leads[LABEL])
        client = configure_mlflow(settings)
        with mlflow.start_run(run_name="cluster-test"):
            uri = log_sklearn_model(pipeline, leads[FEATURES].head(3), {"test": "cluster"})
        version = register_challenger(client, uri, "lead_scoring", {"test": "cluster"})
        client.set_registered_model_alias("lead_scoring", CHAMPION, version.version)
        upgrade_database(settings.database_url)  # the batch runs write `predictions` here
        batch = load_batch_model(f"models:/lead_scoring@{CHAMPION}")
        try:
            yield LeadModel(settings, pipeline, leads, str(version.version), batch)
        finally:
            get_settings.cache_clear()
            mlflow.set_tracking_uri(previous[0])
            mlflow.set_registry_uri(previous[1])
