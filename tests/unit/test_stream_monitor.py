"""Streaming monitor: score drift and group gap alerts written from the stored score changes."""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from pydantic import ValidationError
from sqlalchemy import insert

from haste.db import dispose_engine, session_scope
from haste.db.models import Contact
from haste.db.stream_tables import ScoreChange, StreamAlert
from streaming.monitor import (
    GROUP_GAP,
    SCORE_DRIFT,
    StreamMonitor,
    StreamMonitorConfig,
    check_stream,
    load_stream_monitor_config,
    recent_alerts,
    reference_scores,
)

MODEL = "lead_scoring_crm"
NOW = dt.datetime(2025, 3, 1, 12, 0, tzinfo=dt.UTC)
CONFIG = StreamMonitorConfig(
    window=400,
    min_scores=200,
    psi_threshold=0.2,
    psi_bins=10,
    group_column="gender",
    group_gap_threshold=10,
    min_group_size=30,
    cooldown_s=300,
)


def _scores(size: int, seed: int, shift: float = 0.0) -> np.ndarray:
    """0-100 integer scores shaped like the lead model's (most leads cold, a few hot)."""
    rng = np.random.default_rng(seed)
    return np.clip(np.round(rng.beta(2.0, 5.0, size) * 100 + shift), 0, 100)


REFERENCE = _scores(1500, seed=0)


def _stream(
    url: str,
    scores: Sequence[float],
    genders: Sequence[str | None],
    start: dt.datetime = NOW - dt.timedelta(minutes=30),
    version: str = "3",
) -> None:
    """Insert one contact per score (with its gender) and its ``score_changes`` row."""
    contacts, changes = [], []
    for offset, (score, gender) in enumerate(zip(scores, genders, strict=True)):
        contact_id = uuid.uuid4()
        contacts.append({"id": contact_id, "first_name": f"c{offset}", "gender": gender})
        changes.append(
            {
                "id": uuid.uuid4(),
                "contact_id": contact_id,
                "event_id": uuid.uuid4().hex,
                "event_type": "email_replied",
                "score": int(score),
                "band": "hot" if score >= 70 else "warm" if score >= 40 else "cold",
                "changed_because": [],
                "model_version": version,
                "variant": "champion",
                "occurred_at": start,
                "created_at": start + dt.timedelta(milliseconds=offset),
            }
        )
    with session_scope(url) as session:
        session.execute(insert(Contact), contacts)
        session.execute(insert(ScoreChange), changes)


def _genders(size: int, seed: int) -> list[str]:
    rng = np.random.default_rng(seed)
    return list(rng.choice(["female", "male"], size=size))


def _kinds(alerts: list[dict[str, Any]]) -> list[str]:
    return [alert["kind"] for alert in alerts]


# --- config ------------------------------------------------------------------------------------


def test_the_config_section_is_read_from_monitoring_yaml() -> None:
    config = load_stream_monitor_config()
    assert config == StreamMonitorConfig(
        window=500,
        min_scores=200,
        psi_threshold=0.2,
        psi_bins=10,
        group_column="gender",
        group_gap_threshold=10,
        min_group_size=30,
        cooldown_s=300,
    )


def test_the_batch_monitor_still_reads_its_keys() -> None:
    from monitoring.drift import load_monitoring_config

    assert load_monitoring_config(MODEL).reference_window == 1000
    assert load_monitoring_config("churn").current_window == 2000


def test_bad_configs_are_rejected(tmp_path: Path) -> None:
    with pytest.raises(ValidationError, match="min_scores"):
        StreamMonitorConfig(window=100, min_scores=200)
    with pytest.raises(ValidationError, match="no column"):
        StreamMonitorConfig(group_column="salary")
    path = tmp_path / "monitoring.yaml"
    path.write_text("streaming:\n  windw: 10\n", encoding="utf-8")
    with pytest.raises(ValidationError, match="windw"):
        load_stream_monitor_config(path)
    path.write_text("defaults: {}\n", encoding="utf-8")
    assert load_stream_monitor_config(path) == StreamMonitorConfig()


# --- checks ------------------------------------------------------------------------------------


def test_a_drifted_window_raises_score_drift(db_url: str) -> None:
    _stream(db_url, _scores(400, seed=1, shift=25), _genders(400, seed=1))
    alerts = check_stream(db_url, MODEL, REFERENCE, CONFIG, now=NOW)
    assert _kinds(alerts) == [SCORE_DRIFT]
    alert = alerts[0]
    assert alert["value"] > 0.2
    assert (alert["threshold"], alert["window_size"], alert["model_name"]) == (0.2, 400, MODEL)
    details = alert["details"]
    assert len(details["current_shares"]) == len(details["reference_shares"]) > 1
    assert details["current_size"] == 400
    assert details["reference_size"] == REFERENCE.size


def test_an_unbiased_window_like_the_reference_raises_nothing(db_url: str) -> None:
    _stream(db_url, _scores(400, seed=2), _genders(400, seed=2))
    assert check_stream(db_url, MODEL, REFERENCE, CONFIG, now=NOW) == []
    assert recent_alerts(db_url) == []


def test_a_biased_window_raises_group_gap(db_url: str) -> None:
    # Same overall distribution as the reference, but the low half is female, the high male.
    scores = np.sort(_scores(400, seed=3))
    genders = ["female"] * 200 + ["male"] * 200
    _stream(db_url, scores, genders)
    alerts = check_stream(db_url, MODEL, REFERENCE, CONFIG, now=NOW)
    assert _kinds(alerts) == [GROUP_GAP]
    details = alerts[0]["details"]
    groups = details["groups"]
    assert groups["male"]["count"] == groups["female"]["count"] == 200
    assert alerts[0]["value"] == pytest.approx(groups["male"]["mean"] - groups["female"]["mean"])
    assert details["audited"] == ["female", "male"]
    assert details["column"] == "gender"


def test_a_small_group_and_missing_genders_do_not_raise_a_gap(db_url: str) -> None:
    scores = list(_scores(380, seed=4)) + [100] * 10 + [0] * 10
    genders: list[str | None] = [*_genders(380, seed=4), *["nonbinary"] * 10, *[None] * 10]
    _stream(db_url, scores, genders)
    assert check_stream(db_url, MODEL, REFERENCE, CONFIG, now=NOW) == []
    # With a lower min_group_size the same window is audited over all four groups.
    loose = CONFIG.model_copy(update={"min_group_size": 5})
    alerts = check_stream(db_url, MODEL, REFERENCE, loose, now=NOW)
    assert _kinds(alerts) == [GROUP_GAP]
    assert alerts[0]["details"]["audited"] == ["Unknown", "female", "male", "nonbinary"]
    assert alerts[0]["value"] == pytest.approx(100.0)


def test_no_check_below_min_scores(db_url: str) -> None:
    _stream(db_url, _scores(150, seed=5, shift=40), _genders(150, seed=5))
    assert check_stream(db_url, MODEL, REFERENCE, CONFIG, now=NOW) == []


def test_only_the_latest_window_is_checked(db_url: str) -> None:
    old = NOW - dt.timedelta(hours=2)
    _stream(db_url, _scores(400, seed=6, shift=40), _genders(400, seed=6), start=old)
    _stream(db_url, _scores(400, seed=7), _genders(400, seed=7))
    assert check_stream(db_url, MODEL, REFERENCE, CONFIG, now=NOW) == []


def test_model_version_restricts_the_window(db_url: str) -> None:
    _stream(db_url, _scores(400, seed=8, shift=30), _genders(400, seed=8), version="2")
    _stream(db_url, _scores(300, seed=9), _genders(300, seed=9), version="3")
    assert check_stream(db_url, MODEL, REFERENCE, CONFIG, now=NOW, model_version="3") == []
    alerts = check_stream(db_url, MODEL, REFERENCE, CONFIG, now=NOW, model_version="2")
    assert _kinds(alerts) == [SCORE_DRIFT]


def test_the_cooldown_stops_a_second_alert(db_url: str) -> None:
    _stream(db_url, _scores(400, seed=10, shift=25), _genders(400, seed=10))
    assert _kinds(check_stream(db_url, MODEL, REFERENCE, CONFIG, now=NOW)) == [SCORE_DRIFT]
    later = NOW + dt.timedelta(seconds=CONFIG.cooldown_s - 1)
    assert check_stream(db_url, MODEL, REFERENCE, CONFIG, now=later) == []
    # Another model's alerts have their own cooldown.
    assert _kinds(check_stream(db_url, "other", REFERENCE, CONFIG, now=later)) == [SCORE_DRIFT]
    after = NOW + dt.timedelta(seconds=CONFIG.cooldown_s + 1)
    assert _kinds(check_stream(db_url, MODEL, REFERENCE, CONFIG, now=after)) == [SCORE_DRIFT]
    with session_scope(db_url) as session:
        assert session.query(StreamAlert).count() == 3


def test_recent_alerts_are_newest_first(db_url: str) -> None:
    _stream(db_url, _scores(400, seed=11, shift=25), _genders(400, seed=11))
    written = []
    for minutes in (0, 10, 20):
        now = NOW + dt.timedelta(minutes=minutes)
        written += check_stream(db_url, MODEL, REFERENCE, CONFIG, now=now)
    alerts = recent_alerts(db_url)
    assert [alert["id"] for alert in alerts] == [alert["id"] for alert in reversed(written)]
    assert alerts[0]["created_at"] == (NOW + dt.timedelta(minutes=20)).isoformat()
    assert set(alerts[0]) >= {"kind", "model_name", "value", "threshold", "window_size"}
    assert len(recent_alerts(db_url, limit=2)) == 2


# --- reference ---------------------------------------------------------------------------------


class _LinearModel:
    """A stand-in pipeline: the probability is the ``engagement`` column (0-1)."""

    def predict_proba(self, frame: pd.DataFrame) -> np.ndarray:
        probability = frame["engagement"].to_numpy(dtype=float)
        return np.column_stack([1 - probability, probability])


def _feature_table(rows: int = 200) -> pd.DataFrame:
    rng = np.random.default_rng(12)
    return pd.DataFrame(
        {
            "contact_id": [f"c{i}" for i in range(rows)],
            "engagement": rng.uniform(0, 1, rows),
            "gender": rng.choice(["female", "male"], rows),
            "converted": rng.integers(0, 2, rows),
        }
    )


def test_reference_scores_are_the_models_scores_of_its_training_rows() -> None:
    table = _feature_table()
    scores = reference_scores(_LinearModel(), MODEL, table=table)
    # lead_scoring_crm trains on 80% of the table (test_size 0.2).
    assert scores.size == 160
    assert set(np.unique(scores)) <= set(range(101))
    expected = np.round(table["engagement"] * 100)
    assert np.isin(scores, expected).all()


def test_from_registry_scores_the_champion(
    tmp_path: Path, db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    import training.registry

    features = tmp_path / "data" / "features"
    features.mkdir(parents=True)
    _feature_table().to_parquet(features / f"{MODEL}.parquet", index=False)

    class _Version:
        version = "7"

    monkeypatch.setattr(
        training.registry, "load_alias_model", lambda name, alias: (_LinearModel(), _Version())
    )
    monitor = StreamMonitor.from_registry(db_url, MODEL, CONFIG, data_dir=tmp_path / "data")
    assert monitor.model_version == "7"
    assert monitor.reference.size == 160


def test_the_monitor_runs_until_stopped_and_logs_alerts(
    db_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    _stream(db_url, _scores(400, seed=13, shift=25), _genders(400, seed=13))
    monitor = StreamMonitor(db_url, MODEL, REFERENCE, CONFIG)

    async def scenario() -> None:
        stop = asyncio.Event()
        task = asyncio.create_task(monitor.run(stop, interval_s=0.01))
        while monitor.checks < 3:
            await asyncio.sleep(0.01)
        stop.set()
        await asyncio.wait_for(task, timeout=5)

    with caplog.at_level(logging.WARNING, logger="haste.streaming"):
        asyncio.run(scenario())
    lines = [r.getMessage() for r in caplog.records if r.name == "haste.streaming"]
    assert len(lines) == 1  # the cooldown holds the later checks back
    assert lines[0].startswith(f"stream alert {SCORE_DRIFT} on {MODEL}")


def test_a_failed_check_does_not_stop_the_monitor(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    url = f"sqlite:///{tmp_path / 'empty.db'}"  # never migrated: every check fails
    monitor = StreamMonitor(url, MODEL, REFERENCE, CONFIG)

    async def scenario() -> None:
        stop = asyncio.Event()
        task = asyncio.create_task(monitor.run(stop, interval_s=0.01))
        await asyncio.sleep(0.1)
        stop.set()
        await asyncio.wait_for(task, timeout=5)

    with caplog.at_level(logging.ERROR, logger="haste.streaming"):
        asyncio.run(scenario())
    dispose_engine(url)
    failures = [r for r in caplog.records if "failed" in r.getMessage()]
    assert len(failures) >= 2
