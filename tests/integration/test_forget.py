"""`haste forget` leaves nothing of a contact anywhere and flags the models trained on it."""

from __future__ import annotations

import uuid

import mlflow
import numpy as np
import redis
from sklearn.linear_model import LogisticRegression
from typer.testing import CliRunner

from features.definitions import build_definitions
from features.extractors import build_lead_table
from features.store import (
    apply_definitions,
    default_offline_dir,
    get_store,
    materialize,
    missing_entities,
    online_features,
    write_offline_features,
)
from haste.cli import app
from haste.db.migrate import upgrade_database
from haste.records import InteractionRecord, record_lead_scores
from haste.settings import Settings
from pipelines.crm_store import store_crm
from pipelines.erasure import contact_mask, data_files, remaining_in_database
from pipelines.stages import PipelinePaths
from pipelines.synthetic import generate_crm
from pipelines.synthetic_store import write_crm
from training.registry import configure_mlflow, log_sklearn_model, register_challenger


def _score(contact: str) -> dict:
    return {
        "contact_id": contact,
        "score": 40,
        "probability": 0.4,
        "confidence": 0.6,
        "band": "warm",
        "contributions": [],
        "explanation": "x",
    }


def test_forget_removes_the_contact_everywhere(isolated_settings: Settings) -> None:
    settings = isolated_settings
    paths = PipelinePaths(settings.data_dir)
    crm = generate_crm(n_contacts=300, seed=11)
    write_crm(crm, paths.crm_dir)
    table = build_lead_table(crm)
    paths.features("lead_scoring_crm").parent.mkdir(parents=True, exist_ok=True)
    table.to_parquet(paths.features("lead_scoring_crm"), index=False)
    upgrade_database(settings.database_url)
    store_crm(crm, settings.database_url)
    offline = default_offline_dir(settings)
    write_offline_features(crm, offline)
    store = get_store(settings)
    apply_definitions(store, build_definitions(offline))
    materialize(store)

    victim, bystander = (str(v) for v in crm.contacts["id"].iloc[:2])
    audit = InteractionRecord("lead_score", {"contact_id": victim}, {"score": 40}, "m@v1")
    record_lead_scores(settings.database_url, [_score(victim)], "1", audit)
    cache = redis.Redis.from_url(settings.redis_url)
    cache.set(f"haste:score:{victim}", "40")
    client = configure_mlflow(settings)
    with mlflow.start_run():
        uri = log_sklearn_model(
            LogisticRegression().fit(np.array([[0.0], [1.0]]), [0, 1]), None, tags={}
        )
    register_challenger(client, uri, "lead_scoring_crm", {})

    assert missing_entities(online_features(store, [victim])) == []
    result = CliRunner().invoke(app, ["forget", victim, "--yes"])
    assert result.exit_code == 0, result.output

    assert set(remaining_in_database(settings.database_url, uuid.UUID(victim)).values()) == {0}
    files = data_files(settings)
    assert files, "the test must have written parquet files"
    assert [p for p in files if contact_mask(p, uuid.UUID(victim)).any()] == []
    assert missing_entities(online_features(get_store(settings), [victim])) == [victim]
    assert cache.exists(f"haste:score:{victim}") == 0
    version = client.get_model_version("lead_scoring_crm", "1")
    assert version.tags["needs_retraining"] == "true"
    assert "lead_scoring_crm@v1" in result.output

    # Nothing else was touched.
    assert remaining_in_database(settings.database_url, uuid.UUID(bystander))["contacts"] == 1
    assert missing_entities(online_features(get_store(settings), [bystander])) == []
    assert contact_mask(paths.crm_dir / "contacts.parquet", uuid.UUID(bystander)).any()


def test_forget_rejects_a_bad_id(isolated_settings: Settings) -> None:
    result = CliRunner().invoke(app, ["forget", "bob", "--yes"])
    assert result.exit_code == 1
    assert "not a contact id" in result.output
