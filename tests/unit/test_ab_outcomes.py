"""Outcome A/B report on a real (SQLite, migrated) CRM with a known lift: exact counts.

The CRM is :func:`tests.support.ab_seed.seed_ab_crm` (its docstring lists what is seeded).
"""

from __future__ import annotations

import datetime as dt
import json
import uuid

import pytest
from typer.testing import CliRunner

from haste.db import Activity, Contact, session_scope
from haste.records import InteractionRecord
from haste.settings import Settings
from tests.support.ab_seed import CLOSED_AT, NOW, OPEN_AT, seed_ab_crm
from training.ab_outcomes import ABConfig, OutcomeConfig, build_ab_report, load_ab_config


@pytest.fixture()
def seeded(db_url: str) -> str:
    return seed_ab_crm(db_url)


def _config(**outcomes: object) -> ABConfig:
    config = load_ab_config()
    return config.model_copy(
        update={"outcomes": OutcomeConfig(**{**config.outcomes.model_dump(), **outcomes})}
    )


def _by_model(url: str, config: ABConfig, **kwargs: object) -> dict[str, dict]:
    return {r["model"]: r for r in build_ab_report(url, config, now=NOW, **kwargs)}


def test_report_counts_exposures_windows_and_conversions_exactly(seeded: str) -> None:
    report = _by_model(seeded, _config(window_days=30, events=["deal_won"]))["lead_scoring"]
    champion, challenger = report["variants"]["champion"], report["variants"]["challenger"]
    # 300 closed + 5 crossovers (first exposure: champion) + 50 open
    assert champion["exposures"] == 355 and champion["open"] == 50
    assert champion["closed"] == 305 and champion["conversions"] == 62
    assert challenger["exposures"] == 330 and challenger["open"] == 30
    assert challenger["closed"] == 300 and challenger["conversions"] == 90
    assert champion["versions"] == ["3"] and challenger["versions"] == ["4"]
    assert report["crossovers"] == 5
    assert report["lift"] == pytest.approx(90 / 300 - 62 / 305)
    assert report["prob_challenger_better"] > 0.99
    low, high = challenger["interval"]
    assert low < 0.30 < high and high - low < 0.11
    assert report["sequential"]["p_value"] < 0.05
    assert report["decision"]["action"] == "promote challenger"


def test_excluding_crossovers_drops_them_from_both_variants(seeded: str) -> None:
    report = _by_model(seeded, _config(crossover="exclude"))["lead_scoring"]
    assert report["variants"]["champion"]["closed"] == 300
    assert report["variants"]["champion"]["conversions"] == 60
    assert report["variants"]["challenger"]["closed"] == 300
    assert report["crossovers"] == 5


def test_a_longer_window_counts_late_wins_and_closes_fewer_exposures(seeded: str) -> None:
    report = _by_model(seeded, _config(window_days=45))["lead_scoring"]
    champion = report["variants"]["champion"]
    assert champion["closed"] == 305 and champion["conversions"] == 82  # + the 20 late wins
    shorter = _by_model(seeded, _config(window_days=5))["lead_scoring"]
    champion = shorter["variants"]["champion"]  # 10 days old: closed; wins at day 10: missed
    assert champion["open"] == 0 and champion["conversions"] == 0


def test_other_models_and_the_model_filter(seeded: str) -> None:
    reports = _by_model(seeded, _config())
    assert sorted(reports) == ["lead_scoring", "lead_scoring_crm"]
    crm = reports["lead_scoring_crm"]["variants"]
    assert (crm["champion"]["closed"], crm["champion"]["conversions"]) == (20, 4)
    assert (crm["challenger"]["closed"], crm["challenger"]["conversions"]) == (20, 8)
    assert crm["challenger"]["versions"] == ["2"]
    decision = reports["lead_scoring_crm"]["decision"]  # 20 per arm < min_exposures
    assert decision["action"] == "keep collecting" and decision["more_exposures"] >= 360
    only = build_ab_report(seeded, _config(), model="lead_scoring_crm", now=NOW)
    assert [r["model"] for r in only] == ["lead_scoring_crm"]


def test_meetings_count_when_configured(seeded: str) -> None:
    with session_scope(seeded) as session:
        contact = Contact(first_name="Meeting")
        session.add(contact)
        session.flush()
        row = InteractionRecord(
            interaction_type="lead_score",
            input_data={"contact_id": str(contact.id)},
            output_data={},
            model_used="lead_scoring_crm@v2",
            variant="challenger",
        ).to_row()
        row.created_at = CLOSED_AT
        session.add(row)
        session.add(
            Activity(contact_id=contact.id, type="meeting", occurred_at=CLOSED_AT + dt.timedelta(1))
        )
    won_only = _by_model(seeded, _config())["lead_scoring_crm"]["variants"]["challenger"]
    with_meetings = _by_model(seeded, _config(events=["deal_won", "meeting"]))
    challenger = with_meetings["lead_scoring_crm"]["variants"]["challenger"]
    assert won_only["conversions"] == 8 and won_only["closed"] == 21
    assert challenger["conversions"] == 9 and challenger["closed"] == 21


def test_since_keeps_only_later_exposures(seeded: str) -> None:
    reports = _by_model(seeded, _config(), since=OPEN_AT - dt.timedelta(days=1))
    champion = reports["lead_scoring"]["variants"]["champion"]
    assert champion["exposures"] == 50 and champion["closed"] == 0
    assert reports["lead_scoring"]["decision"]["action"] == "keep collecting"


def test_an_empty_trail_gives_no_report(db_url: str) -> None:
    assert build_ab_report(db_url, _config(), now=NOW) == []


def test_cli_report_prints_the_table_and_the_json(seeded: str) -> None:
    from haste.cli.serving import app

    runner = CliRunner()
    result = runner.invoke(app, ["ab", "report", "--model", "lead_scoring", "--no-offline"])
    assert result.exit_code == 0, result.output
    assert "lead_scoring" in result.output and "decision:" in result.output
    result = runner.invoke(app, ["ab", "report", "--json", "--no-offline", "--days", "30"])
    assert result.exit_code == 0, result.output
    data = {r["model"]: r for r in json.loads(result.output)}
    # "now" is the real clock here: every seeded window (2026-04/05) is closed by then or not,
    # but the exposure counts do not depend on it.
    assert data["lead_scoring"]["variants"]["champion"]["exposures"] == 355
    assert data["lead_scoring_crm"]["variants"]["challenger"]["exposures"] == 20


class _Core:
    """Stand-in gateway core over the seeded database: admits ``X-API-Key: hk_test``."""

    def __init__(self, url: str) -> None:
        from types import SimpleNamespace

        from haste.settings import get_settings
        from serving.config import RequestLimits

        self.database_url = url
        self.settings = get_settings()
        self.config = SimpleNamespace(limits=RequestLimits(max_body_bytes=4096))
        self.variants = {"champion": None, "challenger": None}
        self.admitted: list[str] = []

    def admit(self, headers: object, permission: str) -> object:
        from serving.auth import ANONYMOUS
        from serving.errors import ApiError
        from serving.gateway import CallContext

        if headers.get("x-api-key") != "hk_test":
            raise ApiError(401, "missing API key: send it in the X-API-Key header")
        self.admitted.append(permission)
        return CallContext(ANONYMOUS, uuid.uuid4().hex, False)


def test_route_reports_and_refuses_bad_input(seeded: str) -> None:
    from fastapi.testclient import TestClient

    from serving.http import create_api

    core = _Core(seeded)
    client = TestClient(create_api(core))
    headers = {"X-API-Key": "hk_test"}
    assert client.get("/api/ai/ab/report").status_code == 401
    assert client.get("/api/ai/ab/report?days=0", headers=headers).status_code == 422
    bad = client.get("/api/ai/ab/report?model=a%20b", headers=headers)
    assert bad.status_code == 422 and bad.json()["detail"].startswith("invalid request")
    response = client.get("/api/ai/ab/report?model=lead_scoring&days=30", headers=headers)
    assert response.status_code == 200
    body = response.json()
    assert [r["model"] for r in body["reports"]] == ["lead_scoring"]
    assert body["reports"][0]["variants"]["champion"]["exposures"] == 355
    assert body["reports"][0]["decision"]["action"] in {
        "promote challenger",
        "keep champion",
        "keep collecting",
    }
    assert "usage" in core.admitted
    assert client.get("/api/ai/ab/report?model=nope", headers=headers).json()["reports"] == []
    number = client.get("/api/ai/ab/report?since=0.5", headers=headers)  # not a Unix time
    assert number.status_code == 422 and "ISO 8601" in number.text
    since = client.get("/api/ai/ab/report?since=2020-01-01T00:00:00Z", headers=headers)
    assert since.status_code == 200


def test_censoring_and_window_edges_without_a_database() -> None:
    import pandas as pd

    from training.ab_outcomes import label_outcomes

    at = pd.Timestamp("2026-05-01T00:00:00Z")
    exposures = pd.DataFrame(
        {
            "contact_id": ["a", "b", "c", "d"],
            "variant": ["champion", "champion", "challenger", "challenger"],
            "exposed_at": [at, at, at, at + pd.Timedelta(days=1)],
        }
    )
    events = pd.DataFrame(
        {
            "contact_id": ["a", "b", "c", "d"],
            "occurred_at": [
                at + pd.Timedelta(days=7),  # the window's last instant: converted
                at + pd.Timedelta(days=7, seconds=1),  # just after it: not converted
                at - pd.Timedelta(seconds=1),  # before the decision: not converted
                at + pd.Timedelta(days=2),  # converted, but its window is still open
            ],
        }
    )
    labelled = label_outcomes(exposures, events, 7, at + pd.Timedelta(days=7))
    assert labelled["closed"].tolist() == [True, True, True, False]
    assert labelled["converted"].tolist() == [True, False, False, True]


def test_offline_metrics_come_from_the_alias_versions_runs(mlflow_store: Settings) -> None:
    import mlflow
    from mlflow import MlflowClient

    from training.ab_outcomes import offline_metrics
    from training.registry import configure_mlflow

    configure_mlflow(mlflow_store)
    client = MlflowClient()
    client.create_registered_model("lead_scoring")
    for alias, auc in (("champion", 0.81), ("challenger", 0.83)):
        with mlflow.start_run() as run:
            mlflow.log_metric("roc_auc", auc)
        version = client.create_model_version(
            "lead_scoring", f"runs:/{run.info.run_id}/model", run_id=run.info.run_id
        )
        client.set_registered_model_alias("lead_scoring", alias, version.version)
    found = offline_metrics(mlflow_store, ["lead_scoring", "churn"])
    assert found["lead_scoring"]["champion"] == {"version": "1", "value": 0.81}
    assert found["lead_scoring"]["challenger"] == {"version": "2", "value": 0.83}
    assert found["churn"] == {"metric": "roc_auc", "champion": None, "challenger": None}
