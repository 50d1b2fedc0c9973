"""Batch scoring kernel and bulk writers (no Ray): training/batch_*.py, pipelines/bulk_write.py.

The lead model is ``lead_scoring_crm`` as training registers it (encoder -> XGBoost, calibrated)
and the calibrated GradientBoosting baseline (the generic path), both fitted on a small seeded
synthetic CRM; batch results are compared with the serving scorer
(:class:`training.scoring.LeadScorer`), and what the writers store is read back through the ORM.
"""

from __future__ import annotations

import datetime as dt
import json
import uuid
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from features.extractors import build_lead_table
from features.scoring_snapshot import latest_contact_features, write_scoring_snapshot
from features.store import compute_offline_features, save_offline_frames
from features.tabular import TabularEncoder
from haste.db import session_scope
from haste.db.models import AIInteraction, Contact, LeadScore, Prediction
from haste.records import entity_uuid
from pipelines.bulk_write import BulkWriter
from pipelines.synthetic import generate_crm
from training.batch_models import parse_model_uri
from training.batch_predict import (
    BANDS,
    SCORED_SCHEMA,
    BatchModel,
    BatchScorer,
    ExplainSpec,
    encode_arrow,
    score_arrow_batch,
    score_table,
)
from training.batch_run import DatasetError, check_dataset, dataset_files, score_locally
from training.batch_sink import BatchRun, ScoreSink, new_run, time_ordered_uuid_hex, uuid_hex
from training.config import load_training_config
from training.scoring import SCORE_BANDS, LeadScorer
from training.train import calibrate_candidate, fit_models


@dataclass(frozen=True)
class Models:
    table: pd.DataFrame
    champion: BatchModel
    challenger: BatchModel


@pytest.fixture(scope="module")
def models() -> Models:
    """The calibrated XGBoost lead model (v1) and the calibrated baseline (v2)."""
    table = build_lead_table(generate_crm(600, seed=3))
    config = load_training_config("lead_scoring_crm")
    xgboost = {**config.train.xgboost, "n_estimators": 60}
    baseline = {**config.train.baseline, "n_estimators": 40}
    config = config.model_copy(
        update={
            "tune": config.tune.model_copy(update={"enabled": False}),
            "train": config.train.model_copy(update={"xgboost": xgboost, "baseline": baseline}),
        }
    )
    fitted = fit_models(table, config)
    booster, _ = calibrate_candidate(fitted)
    baseline, _ = calibrate_candidate(fitted, fitted.baseline)
    return Models(
        table,
        BatchModel("lead_scoring_crm", "1", "champion", booster),
        BatchModel("lead_scoring_crm", "2", "challenger", baseline),
    )


def _scored(models: Models, explain: ExplainSpec | None = None, rows: int = 200) -> pa.Table:
    pairs = [(model, BatchScorer(model.pipeline)) for model in (models.champion, models.challenger)]
    return score_table(models.table.head(rows), pairs, explain=explain)


# --- encoding ----------------------------------------------------------------------------------


def test_arrow_encoding_equals_the_serving_encoder_on_awkward_values() -> None:
    train = pd.DataFrame(
        {
            "n": [1.0, 2.0, 3.0],
            "flag": ["Yes", "No", "yes"],
            "cat": ["a", "b", "c"],
        }
    )
    encoder = TabularEncoder(["n", "flag", "cat"]).fit(train)
    raw = pd.DataFrame(
        {
            "n": [1.5, None, 7.0, -2.0, np.nan],
            "flag": [" YES ", "no", None, "maybe", "True"],
            "cat": ["b", "zzz", None, "a", "c"],
        }
    )
    expected = encoder.encode_values(raw[["n", "flag", "cat"]].to_numpy(dtype=object).tolist())
    table = pa.Table.from_pandas(raw, preserve_index=False)
    assert np.array_equal(encode_arrow(encoder, table), expected, equal_nan=True)
    assert np.array_equal(encode_arrow(encoder, raw), expected, equal_nan=True)
    dictionary = table.set_column(2, "cat", table["cat"].dictionary_encode())
    assert np.array_equal(encode_arrow(encoder, dictionary), expected, equal_nan=True)
    # objects Arrow cannot type (mixed numbers and text) take the per-cell rules
    mixed = raw.astype(object)
    mixed.loc[0, "n"], mixed.loc[1, "cat"] = "4.5", 7
    mixed_expected = encoder.encode_values(mixed.to_numpy(dtype=object).tolist())
    assert np.array_equal(encode_arrow(encoder, mixed), mixed_expected, equal_nan=True)
    assert encode_arrow(encoder, mixed)[0, 0] == 4.5


def test_bands_are_the_apis() -> None:
    assert [(lower, name) for lower, name, _ in SCORE_BANDS] == list(BANDS)


# --- scoring -----------------------------------------------------------------------------------


def test_batch_scores_equal_the_serving_scorer(models: Models) -> None:
    records = models.table.head(200)
    scored = _scored(models)
    assert scored.schema == SCORED_SCHEMA
    assert scored.num_rows == 400
    for model in (models.champion, models.challenger):
        part = scored.filter(pa.compute.equal(scored["variant"], model.variant)).to_pandas()
        served = LeadScorer(model.pipeline).score(records, records["contact_id"].tolist())
        assert part["contact_id"].tolist() == records["contact_id"].tolist()
        assert np.allclose(part["probability"], [s.probability for s in served], atol=1e-12)
        assert part["score"].tolist() == [s.score for s in served]
        assert part["band"].tolist() == [s.band for s in served]
        assert np.allclose(part["confidence"], [s.confidence for s in served], atol=1e-12)
        assert set(part["model_version"]) == {model.version}
        assert part["details"].isna().all()  # nothing explained unless asked
    assert BatchScorer(models.champion.pipeline).kind == "booster"
    assert BatchScorer(models.challenger.pipeline).kind == "generic"


def test_explanations_only_where_asked_and_equal_to_the_apis(models: Models) -> None:
    spec = ExplainSpec(enabled=True, min_score=40, top_k=3, variants=("champion",))
    scored = _scored(models, spec).to_pandas()
    champion = scored[scored["variant"] == "champion"]
    explained = champion[champion["details"].notna()]
    assert (explained["score"] >= 40).all()
    assert champion.loc[champion["score"] < 40, "details"].isna().all()
    assert scored.loc[scored["variant"] == "challenger", "details"].isna().all()
    assert len(explained) > 0
    records = models.table.set_index("contact_id").loc[explained["contact_id"]].reset_index()
    served = LeadScorer(models.champion.pipeline, top_k=3).score(
        records, records["contact_id"].tolist()
    )
    for (_, row), lead in zip(explained.iterrows(), served, strict=True):
        details = json.loads(row["details"])
        api = lead.to_dict()
        assert details["contributions"] == json.loads(json.dumps(api["contributions"]))
        assert details["recommended_actions"] == api["recommended_actions"]
        assert details["explanation"] == row["explanation"] == api["explanation"]


def test_the_generic_path_explains_too(models: Models) -> None:
    spec = ExplainSpec(enabled=True, top_k=2, variants=("challenger",))
    scored = _scored(models, spec, rows=20).to_pandas()
    challenger = scored[scored["variant"] == "challenger"]
    assert challenger["details"].notna().all()
    assert all(len(json.loads(d)["contributions"]) == 2 for d in challenger["details"])


def test_remote_entry_point_chunks_and_caches(models: Models) -> None:
    batch = pa.Table.from_pandas(models.table.head(250), preserve_index=False)
    payloads = [models.champion.payload(), models.challenger.payload()]
    whole = score_arrow_batch(batch, models=payloads)
    chunked = score_arrow_batch(batch, models=payloads, chunk_rows=60)
    for variant in ("champion", "challenger"):
        a = whole.filter(pa.compute.equal(whole["variant"], variant))
        b = chunked.filter(pa.compute.equal(chunked["variant"], variant))
        assert a["contact_id"].equals(b["contact_id"])
        assert np.allclose(a["probability"].to_numpy(), b["probability"].to_numpy())


# --- ids ---------------------------------------------------------------------------------------


def test_row_ids_are_unique_increasing_version_7_uuids() -> None:
    first = time_ordered_uuid_hex(70_000).to_pylist()
    second = time_ordered_uuid_hex(10).to_pylist()
    ids = [uuid.UUID(value) for value in first + second]
    assert all(u.version == 7 and u.variant == uuid.RFC_4122 for u in ids)
    assert len(set(first + second)) == len(ids)
    assert first == sorted(first) and second[0] > first[-1]


def test_uuid_hex_keeps_uuids_and_hashes_other_ids() -> None:
    known = uuid.uuid4()
    out = uuid_hex(pa.array([str(known), known.hex.upper(), "lead-42"])).to_pylist()
    assert out[:2] == [known.hex, known.hex]
    assert out[2] == entity_uuid("contact", "lead-42").hex


def test_model_uris() -> None:
    assert parse_model_uri("models:/lead_scoring_crm@challenger") == (
        "lead_scoring_crm",
        "challenger",
        None,
    )
    assert parse_model_uri("models:/lead_scoring_crm/3") == ("lead_scoring_crm", None, "3")
    assert parse_model_uri("lead_scoring_crm") == ("lead_scoring_crm", "champion", None)
    with pytest.raises(ValueError, match="expected"):
        parse_model_uri("runs:/abc/model")


# --- writers (SQLite) --------------------------------------------------------------------------


def _dataset(table: pd.DataFrame, folder: Path, parts: int = 3) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for number, chunk in enumerate(np.array_split(table, parts)):
        pq.write_table(
            pa.Table.from_pandas(chunk, preserve_index=False), folder / f"p{number}.parquet"
        )
    return folder


def _count(url: str, model: type) -> int:
    with session_scope(url) as session:
        return int(session.scalar(select(func.count()).select_from(model)))


def test_local_run_stores_both_variants_with_versions(
    models: Models, db_url: str, tmp_path: Path
) -> None:
    data = _dataset(models.table, tmp_path / "snapshot")
    run = new_run("unit-run")
    summary = score_locally(data, [models.champion, models.challenger], db_url, run, batch_size=150)
    n = len(models.table)
    assert summary.contacts == n
    assert summary.written == {"predictions": 2 * n}
    assert summary.write_method == "executemany"
    assert summary.comparison is not None and summary.comparison["contacts"] == n
    assert [m["model_version"] for m in summary.models] == ["1", "2"]
    served = dict(
        zip(
            models.table["contact_id"],
            LeadScorer(models.champion.pipeline).probabilities(models.table),
            strict=True,
        )
    )
    with session_scope(db_url) as session:
        rows = session.scalars(select(Prediction)).all()
        champion = [r for r in rows if r.prediction_value["variant"] == "champion"]
        assert len(champion) == n and {r.model_version for r in champion} == {"1"}
        for row in champion:  # stored probabilities are the serving path's, bit for bit
            assert row.prediction_value["probability"] == served[str(row.entity_id)]
            assert row.prediction_value["run_id"] == "unit-run"
            assert row.prediction_type == "lead_scoring_crm"
            assert row.entity_type == "contact"
            assert isinstance(row.entity_id, uuid.UUID)
        stamps = {row.created_at.replace(tzinfo=dt.UTC) for row in rows}
        assert stamps == {run.started_at}
    # re-running the same run id replaces its rows instead of adding to them
    again = score_locally(data, [models.champion], db_url, new_run("unit-run"), batch_size=500)
    assert again.replaced == 2 * n
    assert _count(db_url, Prediction) == n


def test_a_failing_run_writes_nothing(models: Models, db_url: str) -> None:
    good = pa.Table.from_pandas(models.table.head(100), preserve_index=False)
    scored = score_table(good, [(models.champion, BatchScorer(models.champion.pipeline))])

    def batches():
        yield scored
        yield scored
        raise RuntimeError("worker lost")

    sink = ScoreSink(db_url, new_run(), ["lead_scoring_crm"])
    with pytest.raises(RuntimeError, match="worker lost"), sink:
        for batch in batches():
            sink.write(batch)
    assert _count(db_url, Prediction) == 0


def test_lead_scores_target_and_foreign_keys(models: Models, db_url: str) -> None:
    records = models.table.head(50)
    with session_scope(db_url) as session:
        session.add_all(Contact(id=uuid.UUID(c)) for c in records["contact_id"])
    pairs = [(m, BatchScorer(m.pipeline)) for m in (models.champion, models.challenger)]
    explain = ExplainSpec(enabled=True)
    scored = score_table(records, pairs, explain=explain)
    run = BatchRun("lead-run", dt.datetime(2026, 1, 2, tzinfo=dt.UTC), "lead_scores")
    with ScoreSink(db_url, run, ["lead_scoring_crm"]) as sink:
        sink.write(scored)
    assert sink.written == {"lead_scores": 50, "predictions": 50}
    with session_scope(db_url) as session:
        scores = session.scalars(select(LeadScore)).all()
        assert {s.model_version for s in scores} == {"1"}
        first = scores[0]
        assert first.score_components["source"] == "batch"
        assert first.score_components["run_id"] == "lead-run"
        assert first.score_components["contributions"]
        assert first.explanation.startswith(f"Score {first.score}/100")
        challenger = session.scalars(select(Prediction)).all()
        assert {p.prediction_value["variant"] for p in challenger} == {"challenger"}
    # an unknown contact breaks the foreign key: the whole batch is rolled back
    stranger = score_table(
        models.table.iloc[50:60], [(models.champion, BatchScorer(models.champion.pipeline))]
    )
    sink = ScoreSink(db_url, BatchRun("x", run.started_at, "lead_scores"), ["m"])
    with pytest.raises(IntegrityError, match=r"(?i)foreign key"), sink:
        sink.write(stranger)
    assert _count(db_url, LeadScore) == 50


def test_bulk_writer_encrypts_like_the_orm(db_url: str) -> None:
    ids = [uuid.uuid4() for _ in range(3)]
    documents = [{"prompt": f"hello {i}", "n": i} for i in range(3)]
    batch = pa.table(
        {
            "id": [i.hex for i in ids],
            "interaction_type": ["batch"] * 3,
            "input_data": [json.dumps(d) for d in documents],
        }
    )
    with session_scope(db_url) as session:
        writer = BulkWriter(
            session.connection(),
            AIInteraction.__table__,
            ["id", "interaction_type", "input_data"],
            {"output_data": {"ok": True}, "created_at": dt.datetime(2026, 1, 1, tzinfo=dt.UTC)},
        )
        assert writer.write(batch) == 3
    with session_scope(db_url) as session:
        stored = {row.id: row for row in session.scalars(select(AIInteraction))}
        raw = session.connection().exec_driver_sql("SELECT input_data FROM ai_interactions")
        assert all(value.startswith("enc1:") for (value,) in raw)
        for key, document in zip(ids, documents, strict=True):
            assert stored[key].input_data == document
            assert stored[key].output_data == {"ok": True}


# --- dataset and snapshot ----------------------------------------------------------------------


def test_missing_columns_are_reported(models: Models, tmp_path: Path) -> None:
    data = _dataset(models.table.drop(columns=["web_page_views"]), tmp_path / "bad", parts=1)
    with pytest.raises(DatasetError, match="web_page_views"):
        check_dataset(dataset_files(data), [models.champion])
    with pytest.raises(DatasetError, match="no parquet"):
        dataset_files(tmp_path / "nothing")


def test_scoring_snapshot_is_each_contacts_latest_features(tmp_path: Path) -> None:
    crm = generate_crm(150, seed=5)
    frames = compute_offline_features(crm)
    save_offline_frames(frames, tmp_path / "offline")
    snapshot = write_scoring_snapshot(tmp_path / "offline", tmp_path / "snap")
    table = pq.read_table(snapshot.path).to_pandas()
    web = frames["web_activity"].sort_values("event_timestamp").groupby("contact_id").last()
    assert snapshot.rows == len(table) == web.shape[0] == table["contact_id"].nunique()
    merged = table.set_index("contact_id").loc[web.index]
    assert np.allclose(merged["web_page_views"], web["web_page_views"])
    assert {"lead_engagement_score", "company_industry", "email_sent"} <= set(table.columns)
    earlier = frames["web_activity"]["event_timestamp"].min()
    first = latest_contact_features(tmp_path / "offline", earlier.to_pydatetime())
    assert len(first) < len(table)  # fewer contacts existed at the first snapshot
    assert pd.to_datetime(first["event_timestamp"]).max() <= earlier
