"""Batch scoring on Ray Data into PostgreSQL (COPY): distributed/batch_scoring.py end to end.

A 2,000-contact synthetic CRM goes through the offline feature store and the scoring snapshot;
``lead_scoring_crm`` is trained small (the calibrated XGBoost as champion v1, the calibrated
GradientBoosting baseline as challenger v2) and registered in a throw-away MLflow registry;
a local Ray (2 CPUs) scores the snapshot with both, loaded by their aliases, and the driver
COPYs the rows into a fresh PostgreSQL database. What is stored must equal the in-process
serving path (booster fast path / generic path) and carry the model versions.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq
import pytest
from sqlalchemy import func, select

from distributed.batch_scoring import RayPlacement, data_context, score_batch
from features.extractors import build_lead_table
from features.scoring_snapshot import latest_contact_features, write_snapshot_frame
from features.store import compute_offline_features, save_offline_frames, weekly_snapshot_times
from haste.db import session_scope
from haste.db.models import AIInteraction, Contact, LeadScore, Prediction
from haste.settings import get_settings
from pipelines.bulk_write import BulkWriter
from pipelines.synthetic import generate_crm
from training.batch_predict import BatchModel, ExplainSpec
from training.config import load_training_config
from training.scoring import LeadScorer
from training.train import calibrate_candidate, fit_models

MODEL = "lead_scoring_crm"
CONTACTS = 2000


@dataclass(frozen=True)
class Setup:
    snapshot: Path
    frame: pd.DataFrame
    champion: BatchModel
    challenger: BatchModel


@pytest.fixture(scope="module")
def ray_local() -> Iterator[None]:
    """A local Ray with 2 CPUs for the module, shut down afterwards."""
    import ray

    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        yield
    finally:
        ray.shutdown()


def _register(pipeline: object, example: pd.DataFrame, alias: str) -> str:
    """Log a pipeline, register it and give it ``alias``; return its version."""
    import mlflow
    from mlflow import MlflowClient

    from training.registry import log_sklearn_model

    client = MlflowClient()
    with mlflow.start_run():
        uri = log_sklearn_model(pipeline, example, {"purpose": "batch-test"})
    version = mlflow.register_model(uri, MODEL).version
    client.set_registered_model_alias(MODEL, alias, version)
    return str(version)


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Setup]:
    """Snapshot of a synthetic CRM and a champion + challenger in a throw-away registry."""
    import mlflow

    from training.batch_models import load_run_models
    from training.registry import configure_mlflow

    root = tmp_path_factory.mktemp("batch")
    crm = generate_crm(CONTACTS, seed=11)
    times = weekly_snapshot_times(crm)[-3:]  # the latest weeks: every contact, less work
    save_offline_frames(compute_offline_features(crm, times), root / "offline")
    frame = latest_contact_features(root / "offline")
    write_snapshot_frame(frame, root / "snapshot", rows_per_file=450)  # 5 files, 5+ blocks
    config = load_training_config(MODEL)
    config = config.model_copy(
        update={
            "tune": config.tune.model_copy(update={"enabled": False}),
            "train": config.train.model_copy(
                update={
                    "xgboost": {**config.train.xgboost, "n_estimators": 60},
                    "baseline": {**config.train.baseline, "n_estimators": 40},
                }
            ),
        }
    )
    fitted = fit_models(build_lead_table(crm), config)
    booster, _ = calibrate_candidate(fitted)
    baseline, _ = calibrate_candidate(fitted, fitted.baseline)
    previous = mlflow.get_tracking_uri(), mlflow.get_registry_uri()
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("HASTE_HOME", str(root / "home"))
        patch.delenv("HASTE_MLFLOW_TRACKING_URI", raising=False)
        patch.delenv("HASTE_MLFLOW_ARTIFACT_ROOT", raising=False)
        patch.delenv("MLFLOW_EXPERIMENT_ID", raising=False)
        get_settings.cache_clear()
        try:
            configure_mlflow(get_settings())
            example = fitted.train.features.head(3)
            assert _register(booster, example, "champion") == "1"
            assert _register(baseline, example, "challenger") == "2"
            champion, challenger = load_run_models(MODEL)
            yield Setup(root / "snapshot", frame, champion, challenger)
        finally:
            if mlflow.active_run() is not None:
                mlflow.end_run()
            mlflow.set_tracking_uri(previous[0])
            mlflow.set_registry_uri(previous[1])
            get_settings.cache_clear()


def _stored(url: str, run_id: str) -> list[Prediction]:
    with session_scope(url) as session:
        rows = session.scalars(select(Prediction).where(Prediction.prediction_type == MODEL))
        return [row for row in rows if row.prediction_value["run_id"] == run_id]


def _count(url: str, table: type) -> int:
    with session_scope(url) as session:
        return int(session.scalar(select(func.count()).select_from(table)))


def test_ray_scores_equal_the_in_process_path_carry_versions_and_rerun(
    ray_local: None, setup: Setup, module_pg_url: str
) -> None:
    assert (setup.champion.variant, setup.champion.version) == ("champion", "1")
    assert (setup.challenger.variant, setup.challenger.version) == ("challenger", "2")
    summary = score_batch(
        setup.snapshot,
        ["models:/lead_scoring_crm@champion", "models:/lead_scoring_crm@challenger"],
        module_pg_url,
        batch_size=300,
        run_id="ray-it",
        explain=ExplainSpec(enabled=True, min_score=70),
        progress=False,
    )
    n = len(setup.frame)
    assert summary.engine == "ray" and summary.write_method == "copy"
    assert summary.contacts == n
    assert summary.written == {"predictions": 2 * n}
    assert summary.comparison is not None and summary.comparison["contacts"] == n
    expected = {
        model.variant: dict(
            zip(
                setup.frame["contact_id"],
                LeadScorer(model.pipeline).probabilities(setup.frame),
                strict=True,
            )
        )
        for model in (setup.champion, setup.challenger)
    }
    rows = _stored(module_pg_url, "ray-it")
    assert len(rows) == 2 * n
    versions = {"champion": "1", "challenger": "2"}
    explained = 0
    for row in rows:
        value = row.prediction_value
        variant = value["variant"]
        assert row.model_version == versions[variant]
        # JSON keeps the float64 exactly: equal to the serving path's probability
        assert value["probability"] == expected[variant][str(row.entity_id)]
        assert value["score"] == min(max(round(value["probability"] * 100), 0), 100)
        has_details = "contributions" in value
        assert has_details == (variant == "champion" and value["score"] >= 70)
        explained += has_details
    assert explained > 0
    assert {str(r.entity_id) for r in rows} == set(setup.frame["contact_id"])
    # idempotent: re-running the run id replaces its rows (JSONB filter, same transaction)
    before = _count(module_pg_url, Prediction)
    again = score_batch(
        setup.snapshot, [setup.champion], module_pg_url, run_id="ray-it", progress=False
    )
    assert again.replaced == 2 * n
    assert _count(module_pg_url, Prediction) == before - n
    assert {r.model_version for r in _stored(module_pg_url, "ray-it")} == {"1"}


def test_a_failed_run_writes_nothing(
    ray_local: None, setup: Setup, module_pg_url: str, tmp_path: Path
) -> None:
    broken = tmp_path / "broken"
    broken.mkdir()
    for number, path in enumerate(sorted(setup.snapshot.glob("*.parquet"))):
        table = pq.read_table(path).to_pandas()
        if number == 3:  # a block whose ids are missing: its scoring raises, retries too
            table["contact_id"] = None
            table["contact_id"] = table["contact_id"].astype("string")
        table.to_parquet(broken / path.name, index=False)
    before = _count(module_pg_url, Prediction)
    with pytest.raises(Exception, match="UDF failed") as failure:
        score_batch(
            broken,
            [setup.champion],
            module_pg_url,
            batch_size=200,
            max_retries=1,
            progress=False,
        )
    assert "after 2/2 attempts" in str(failure.value)  # the failed block was retried once
    assert _count(module_pg_url, Prediction) == before


def test_lead_scores_target_through_copy(ray_local: None, setup: Setup, module_pg_url: str) -> None:
    with session_scope(module_pg_url) as session:
        session.add_all(Contact(id=uuid.UUID(c)) for c in setup.frame["contact_id"])
    summary = score_batch(
        setup.snapshot,
        [setup.champion, setup.challenger],
        module_pg_url,
        target="lead_scores",
        run_id="lead-it",
        resources=None,
        progress=False,
    )
    n = len(setup.frame)
    assert summary.written == {"lead_scores": n, "predictions": n}
    with session_scope(module_pg_url) as session:
        scores = session.scalars(select(LeadScore)).all()
        assert len(scores) == n and {s.model_version for s in scores} == {"1"}
        assert all(s.score_components["run_id"] == "lead-it" for s in scores)
        assert all(s.score_components["source"] == "batch" for s in scores)
    assert len(_stored(module_pg_url, "lead-it")) == n  # the challenger's rows


def test_tasks_are_retried_and_placed(ray_local: None) -> None:
    from ray.data import DataContext

    placement = RayPlacement(num_cpus=1, resources={"worker": 0.1}, max_retries=2)
    assert placement.task_args() == {
        "num_cpus": 1,
        "resources": {"worker": 0.1},
        "concurrency": None,
    }
    context = DataContext.get_current()
    before = context.max_map_retries
    with data_context(placement, progress=False) as applied:
        assert applied.max_map_retries == 2 and applied.retried_map_errors is True
    assert context.max_map_retries == before


def test_copy_encrypts_like_the_orm(module_pg_url: str) -> None:
    import datetime as dt

    import pyarrow as pa

    ids = [uuid.uuid4() for _ in range(3)]
    documents = [{"prompt": f"hello {i}"} for i in range(3)]
    batch = pa.table(
        {
            "id": [str(i) for i in ids],
            "interaction_type": ["batch"] * 3,
            "input_data": [json.dumps(d) for d in documents],
        }
    )
    with session_scope(module_pg_url) as session:
        writer = BulkWriter(
            session.connection(),
            AIInteraction.__table__,
            ["id", "interaction_type", "input_data"],
            {"output_data": {"ok": True}, "created_at": dt.datetime(2026, 1, 1, tzinfo=dt.UTC)},
        )
        assert writer.method == "copy"
        writer.write(batch)
        assert writer.streaming  # one COPY stream across writes, ended by close()
        writer.close()
    with session_scope(module_pg_url) as session:
        stored = {r.id: r for r in session.scalars(select(AIInteraction))}
        raw = session.connection().exec_driver_sql(
            "SELECT input_data, output_data FROM ai_interactions"
        )
        assert all(a.startswith("enc1:") and b.startswith("enc1:") for a, b in raw)
        for key, document in zip(ids, documents, strict=True):
            assert stored[key].input_data == document
            assert stored[key].output_data == {"ok": True}
