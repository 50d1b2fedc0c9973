"""The spine end to end: Prefect flow -> MLflow registry -> Ray Serve -> database.

The package's platform (temporary HASTE_HOME/data, Prefect test harness, a free port; see
``conftest.py``) trains twice and serves the champion; the tests inspect what each part
recorded.
"""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal

import httpx
import pandas as pd
import pytest
from mlflow import MlflowClient
from sqlalchemy import func, select

from flows.demo import DEMO_CALL
from haste.audit import query_audit_trail
from haste.db.models import (
    AIFeatureFlag,
    AIInteraction,
    AIModel,
    APIKey,
    Company,
    Contact,
    Deal,
    LeadScore,
    Prediction,
)
from haste.db.session import session_scope
from pipelines.synthetic_store import read_crm
from tests.support.platform import NO_AB
from tests.support.platform import interactions as _interactions
from tests.support.platform import new_key as _new_key


def test_first_run_becomes_champion_and_equal_rerun_stays_challenger(platform) -> None:
    settings, (first, second, *_) = platform
    assert first["fairness_passed"]
    assert first["registration"]["version"] == "1"
    assert first["registration"]["decision"]["promoted"] is True
    # Same data and seed -> same metric -> the rerun must not displace the champion.
    assert second["registration"]["version"] == "2"
    assert second["registration"]["decision"]["promoted"] is False
    client = MlflowClient(settings.mlflow_tracking_uri, settings.mlflow_tracking_uri)
    assert str(client.get_model_version_by_alias("lead_scoring", "champion").version) == "1"
    assert str(client.get_model_version_by_alias("lead_scoring", "challenger").version) == "2"
    with session_scope(settings.database_url) as session:
        rows = session.scalars(select(AIModel).where(AIModel.name == "lead_scoring"))
        statuses = {m.version: m.deployment_status for m in rows}
    assert statuses == {"1": "champion", "2": "challenger"}


def test_held_out_metrics_are_real(platform) -> None:
    _, (first, *_) = platform
    assert first["metrics"]["roc_auc"] > 0.86
    assert first["metrics"]["accuracy"] > 0.79
    assert first["baseline_metrics"]["roc_auc"] > 0.8


def test_mlflow_run_has_plots_model_card_and_model(platform) -> None:
    settings, (first, *_) = platform
    client = MlflowClient(settings.mlflow_tracking_uri, settings.mlflow_tracking_uri)
    run_id = first["registration"]["run_id"]
    top = {a.path for a in client.list_artifacts(run_id)}
    plots = {a.path for a in client.list_artifacts(run_id, "plots")}
    assert {"model_card.md", "metrics.json"} <= top
    assert {"plots/roc_pr.png", "plots/calibration.png", "plots/shap_summary.png"} <= plots
    run = client.get_run(run_id)
    assert run.data.params["xgboost.n_estimators"] == "400"
    assert "fairness_equalized_odds_difference" in run.data.metrics
    version = client.get_model_version("lead_scoring", "1")
    assert "Model card" in version.description


def test_crm_loaded_once_despite_two_runs(platform) -> None:
    settings, _ = platform
    with session_scope(settings.database_url) as session:
        contacts = session.scalar(select(func.count()).select_from(Contact))
        companies = session.scalar(select(func.count()).select_from(Company))
        deals = session.scalar(select(func.count()).select_from(Deal))
    assert contacts == 9240 + 2000  # every real lead + the synthetic contacts, no duplicates
    assert companies > 0
    assert deals > 0


def test_health_reports_served_version(api: httpx.Client) -> None:
    response = api.get("/api/ai/health")
    assert response.status_code == 200
    assert response.json() == {
        "status": "ok",
        "models": {
            "lead_scoring": "1",
            "lead_scoring_crm": "1",
            "deal_velocity": "1",
            "win_probability": "1",
            "churn": "1",
        },
        # the second equal run stayed challenger: the ChallengerModels deployment serves it
        "challengers": {"lead_scoring": "2"},
    }


def test_lead_score_round_trip_is_explained_and_recorded(api, platform) -> None:
    settings, (first, *_) = platform
    contact_id = first["held_out_contacts"][0]
    response = api.post("/api/ai/lead-score", json={"contact_id": contact_id})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["contact_id"] == contact_id
    assert 0 <= body["score"] <= 100
    assert body["score"] == round(body["probability"] * 100)
    assert 0.0 <= body["confidence"] <= 1.0  # conformal confidence (training.conformal)
    assert body["coverage"] == 0.9
    assert body["prediction_set"] in ([0], [1], [0, 1], [])
    assert body["model_version"] == "1"
    assert 1 <= len(body["contributions"]) <= 5
    impacts = [abs(c["impact"]) for c in body["contributions"]]
    assert impacts == sorted(impacts, reverse=True)
    assert body["recommended_actions"]
    with session_scope(settings.database_url) as session:
        rows = session.scalars(
            select(LeadScore).where(LeadScore.contact_id == uuid.UUID(contact_id))
        ).all()
        predictions = session.scalars(
            select(Prediction).where(Prediction.entity_id == uuid.UUID(contact_id))
        ).all()
    assert [row.score for row in rows] == [body["score"]]
    assert rows[0].model_version == "1"
    assert predictions[0].prediction_value["score"] == body["score"]
    (audit,) = query_audit_trail(settings.database_url, contact_id=uuid.UUID(contact_id))
    assert audit.model_used == "lead_scoring@v1"
    assert audit.outputs["score"] == body["score"]
    assert "Total Time Spent on Website" in audit.inputs["features"]


def test_same_contact_scores_identically(api, platform) -> None:
    _, (first, *_) = platform
    contact_id = first["held_out_contacts"][1]
    scores = {
        api.post("/api/ai/lead-score", json={"contact_id": contact_id}).json()["probability"]
        for _ in range(3)
    }
    assert len(scores) == 1


def test_explanation_can_be_left_out(api, platform) -> None:
    _, (first, *_) = platform
    body = api.post(
        "/api/ai/lead-score",
        json={"contact_id": first["held_out_contacts"][2], "include_explanation": False},
    ).json()
    assert "score" in body
    assert body["contributions"] is None


def test_unknown_contact_is_404_with_message(api) -> None:
    missing = str(uuid.uuid4())
    response = api.post("/api/ai/lead-score", json={"contact_id": missing})
    assert response.status_code == 404
    assert missing in response.json()["detail"]


@pytest.mark.parametrize(
    "body",
    [
        {"contact_id": "not-a-uuid"},
        {},
        {"contact_id": str(uuid.uuid4()), "unexpected": 1},
        {"contact_id": str(uuid.uuid4()), "include_explanation": "maybe"},
    ],
)
def test_invalid_body_is_422_with_message(api, body) -> None:
    response = api.post("/api/ai/lead-score", json=body)
    assert response.status_code == 422
    payload = response.json()
    assert payload["detail"].startswith("invalid request: ")
    assert payload["errors"][0]["field"] and payload["errors"][0]["message"]


def test_next_actions_merge_rules_and_model_for_a_lead(api, platform) -> None:
    _, (first, *_) = platform
    contact_id = first["held_out_contacts"][3]
    stale = (dt.datetime.now(dt.UTC) - dt.timedelta(days=30)).isoformat()
    body = {
        "context": {
            "contact_id": contact_id,
            "recent_activities": [{"type": "email", "occurred_at": stale}],
            "deal_stage": "proposal",
        }
    }
    response = api.post("/api/ai/predictions/next-actions", json=body)
    assert response.status_code == 200, response.text
    result = response.json()
    assert result["lead_score"] is not None and result["model_version"] == "1"
    sources = {action["source"] for action in result["actions"]}
    assert sources == {"rule", "model", "uplift"}  # rules, SHAP advice, the uplift model
    uplift = [action for action in result["actions"] if action["source"] == "uplift"]
    assert len(uplift) == 1 and uplift[0]["reason"].startswith("Associational")
    priorities = [action["priority"] for action in result["actions"]]
    assert priorities == sorted(priorities, reverse=True)
    assert any("30 days" in action["reason"] for action in result["actions"])


def test_next_actions_for_a_crm_contact_without_lead_features(api, platform) -> None:
    settings, *_ = platform
    contact_id = uuid.uuid4()  # a brand-new contact: in the CRM, no features anywhere yet
    with session_scope(settings.database_url) as session:
        session.add(Contact(id=contact_id, first_name="New", ai_consent=True))
    response = api.post(
        "/api/ai/predictions/next-actions", json={"context": {"contact_id": str(contact_id)}}
    )
    assert response.status_code == 200, response.text
    result = response.json()
    assert result["lead_score"] is None
    assert {action["source"] for action in result["actions"]} == {"rule", "uplift"}  # no model
    assert "introduction" in result["actions"][0]["action"]
    with session_scope(settings.database_url) as session:
        stored = session.scalars(
            select(Prediction).where(
                Prediction.entity_id == contact_id,
                Prediction.prediction_type == "next_actions",
            )
        ).all()
    assert len(stored) == 1


@pytest.mark.parametrize(
    ("context", "status"),
    [
        ({"contact_id": str(uuid.uuid4())}, 404),
        ({"contact_id": "nope"}, 422),
        (
            {
                "contact_id": str(uuid.uuid4()),
                "recent_activities": [{"type": "fax", "occurred_at": "2026-01-01T00:00:00"}],
            },
            422,
        ),
        (
            {
                "contact_id": str(uuid.uuid4()),
                "recent_activities": [{"type": "email", "occurred_at": "2999-01-01T00:00:00"}],
            },
            404,  # a future-dated activity is planned, not history: valid; the contact is not
        ),
    ],
)
def test_next_actions_rejects_bad_input(api, context, status) -> None:
    response = api.post("/api/ai/predictions/next-actions", json={"context": context})
    assert response.status_code == status
    assert response.json()["detail"]


def test_crm_contact_is_scored_from_the_feast_online_store(api, platform) -> None:
    settings, *_ = platform
    contacts = read_crm(settings.data_dir / "raw" / "crm").contacts
    contact_id = str(contacts["id"].iloc[5])
    response = api.post("/api/ai/lead-score", json={"contact_id": contact_id})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["model_name"] == "lead_scoring_crm"
    assert 0 <= body["score"] <= 100
    (audit,) = query_audit_trail(settings.database_url, contact_id=uuid.UUID(contact_id))
    assert audit.inputs["feature_source"] == "feast_online_store"
    assert "email_sent" in audit.inputs["features"]


def test_contact_without_ai_consent_is_refused_with_403(api, platform) -> None:
    settings, *_ = platform
    contacts = read_crm(settings.data_dir / "raw" / "crm").contacts
    refused = str(contacts.loc[~contacts["ai_consent"].astype(bool), "id"].iloc[0])
    for path, body in (
        ("/api/ai/lead-score", {"contact_id": refused}),
        ("/api/ai/predictions/next-actions", {"context": {"contact_id": refused}}),
    ):
        response = api.post(path, json=body)
        assert response.status_code == 403
        assert "consent" in response.json()["detail"]
    # Consent is honoured upstream too: no features were built for the contact.
    lead_table = pd.read_parquet(settings.data_dir / "raw" / "crm_leads.parquet")
    assert refused not in set(lead_table["contact_id"].astype(str))


def test_ab_split_is_sticky_recorded_and_changes_without_restart(api, platform) -> None:
    from serving.runner import update_user_config

    settings, (first, *_) = platform
    contacts = first["held_out_contacts"][:20]
    replicas = _replica_actors()
    update_user_config(settings, {"ab_rollout": {"lead_scoring": 50}, "models_generation": 1})
    assert _replica_actors() == replicas  # reconfigured in place: no replica restarted
    try:
        variants = {}
        for contact_id in contacts:
            body = api.post("/api/ai/lead-score", json={"contact_id": contact_id}).json()
            expected_version = "2" if body["variant"] == "challenger" else "1"
            assert body["model_version"] == expected_version
            variants[contact_id] = body["variant"]
        share = sum(v == "challenger" for v in variants.values()) / len(variants)
        assert 0.15 <= share <= 0.85  # 50 % nominal on 20 sticky contacts
        for contact_id in contacts[:5]:  # sticky
            again = api.post("/api/ai/lead-score", json={"contact_id": contact_id}).json()
            assert again["variant"] == variants[contact_id]
        with session_scope(settings.database_url) as session:
            flag = session.scalar(
                select(AIFeatureFlag).where(AIFeatureFlag.feature_name == "ab_test:lead_scoring")
            )
        assert flag.rollout_percentage == 50 and flag.is_enabled
        challenger_id = next(c for c, v in variants.items() if v == "challenger")
        entries = query_audit_trail(settings.database_url, contact_id=uuid.UUID(challenger_id))
        assert entries[0].inputs["variant"] == "challenger"
        assert entries[0].model_used == "lead_scoring@v2"
    finally:
        update_user_config(settings, NO_AB)
    body = api.post("/api/ai/lead-score", json={"contact_id": challenger_id}).json()
    assert body["variant"] == "champion"


def test_promotion_reaches_running_replicas_on_reload_without_restart(api, platform) -> None:
    """Moving the aliases, then bumping models_generation, switches the served versions."""
    from mlflow import MlflowClient

    from serving.runner import update_user_config

    settings, (first, *_) = platform
    client = MlflowClient()
    contact = first["held_out_contacts"][0]
    replicas = _replica_actors()
    try:
        client.set_registered_model_alias("lead_scoring", "champion", "2")
        client.delete_registered_model_alias("lead_scoring", "challenger")
        assert (
            api.post("/api/ai/lead-score", json={"contact_id": contact}).json()["model_version"]
            == "1"
        )  # replicas keep what they loaded until told to reload
        update_user_config(settings, {"ab_rollout": {}, "models_generation": 2})
        health = api.get("/api/ai/health").json()
        assert health["models"]["lead_scoring"] == "2" and health["challengers"] == {}
        body = api.post("/api/ai/lead-score", json={"contact_id": contact}).json()
        assert (body["model_version"], body["variant"]) == ("2", "champion")
        assert _replica_actors() == replicas
    finally:  # back to the fixture's registry state
        client.set_registered_model_alias("lead_scoring", "champion", "1")
        client.set_registered_model_alias("lead_scoring", "challenger", "2")
        update_user_config(settings, {"ab_rollout": {}, "models_generation": 3})
    assert api.get("/api/ai/health").json()["challengers"] == {"lead_scoring": "2"}


def test_ab_cli_changes_the_running_split_in_place(api, platform) -> None:
    from typer.testing import CliRunner

    from haste.cli import app
    from training.ab_routing import load_rollouts

    settings, _ = platform
    runner = CliRunner()
    replicas = _replica_actors()
    bad = runner.invoke(app, ["ab", "set", "lead_scoring=150"])
    assert bad.exit_code == 1 and "PERCENT in 0-100" in bad.output
    try:
        done = runner.invoke(app, ["ab", "set", "lead_scoring=30"])
        assert done.exit_code == 0, done.output
        assert load_rollouts(settings.database_url)[0]["lead_scoring"] == 30
        shown = runner.invoke(app, ["ab", "show"])
        assert shown.exit_code == 0 and "30" in shown.output and "v2" in shown.output
        assert _replica_actors() == replicas
    finally:
        runner.invoke(app, ["ab", "set", "lead_scoring=0"])
    assert load_rollouts(settings.database_url)[0]["lead_scoring"] == 0


def _replica_actors() -> set[str]:
    """Return the names of the live Serve replica actors (a restart gives new names)."""
    import ray

    return {
        actor["name"]
        for actor in ray.util.list_named_actors(all_namespaces=True)
        if "SERVE_REPLICA" in actor["name"]
    }


# --------------------------------------------------------------------------- gateway
def test_deal_prediction_round_trip(api, platform, datasets_dir) -> None:
    from pipelines.datasets import load_maven_crm

    settings, *_ = platform
    pipeline = load_maven_crm(datasets_dir).pipeline
    deal_id = str(pipeline.loc[pipeline["deal_stage"] == "Engaging", "opportunity_id"].iloc[0])
    response = api.get(f"/api/ai/predictions/deal/{deal_id}", headers={"X-Request-ID": deal_id})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["deal_stage"] == "Engaging"
    assert 0 <= body["win_probability"] <= 1 and body["days_to_close"] >= 0
    assert body["expected_close_date"] and body["top_factors"]["win_probability"]
    assert body["model_versions"] == {"deal_velocity": "1", "win_probability": "1"}
    (row,) = _interactions(settings, request_id=deal_id)
    assert row.feature == "deal_prediction" and row.user_id is not None
    assert row.team_id is not None and row.response_time_ms is not None
    assert api.get("/api/ai/predictions/deal/NOSUCHDEAL").status_code == 404
    assert api.get("/api/ai/predictions/deal/bad%20id!").status_code == 422


def test_churn_risk_round_trip(api, platform) -> None:
    from pipelines.stages import PipelinePaths

    settings, *_ = platform
    table = pd.read_parquet(PipelinePaths(settings.data_dir).features("churn"))
    account = str(table["customerID"].iloc[0])
    response = api.get(f"/api/ai/predictions/account/{account}/churn-risk")
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["account_id"] == account and body["model_name"] == "churn"
    assert body["score"] == round(body["probability"] * 100)
    assert body["coverage"] == 0.9 and body["prediction_set"] in ([0], [1], [0, 1], [])
    assert body["contributions"] and body["recommended_actions"]
    with session_scope(settings.database_url) as session:
        stored = session.scalars(
            select(Prediction).where(
                Prediction.prediction_type == "churn", Prediction.model_version == "1"
            )
        ).all()
    assert any(p.prediction_value.get("account_id") == account for p in stored)
    missing = api.get("/api/ai/predictions/account/0000-NOPE/churn-risk")
    assert missing.status_code == 404 and "0000-NOPE" in missing.json()["detail"]


def test_calls_without_a_valid_key_are_refused(api, platform) -> None:
    settings, *_ = platform
    path, body = "/api/ai/lead-score", {"contact_id": str(uuid.uuid4())}
    no_key = httpx.post(f"{api.base_url}{path}", json=body)
    assert no_key.status_code == 401 and "X-API-Key" in no_key.json()["detail"]
    assert no_key.headers["WWW-Authenticate"] == "ApiKey"
    wrong = httpx.post(f"{api.base_url}{path}", json=body, headers={"X-API-Key": "hk_nope"})
    assert wrong.status_code == 401 and "unknown" in wrong.json()["detail"]
    key = _new_key(settings, "rep")
    from haste.api_keys import hash_api_key, revoke_api_key

    with session_scope(settings.database_url) as session:
        key_id = session.scalar(select(APIKey.id).where(APIKey.key_hash == hash_api_key(key)))
    assert revoke_api_key(settings.database_url, key_id)
    revoked = httpx.post(f"{api.base_url}{path}", json=body, headers={"X-API-Key": key})
    assert revoked.status_code == 401 and "revoked" in revoked.json()["detail"]
    # A bearer token works as well as the X-API-Key header.
    bearer = httpx.get(
        f"{api.base_url}/api/ai/predictions/deal/NOSUCHDEAL",
        headers={"Authorization": f"Bearer {_new_key(settings, 'service')}"},
    )
    assert bearer.status_code == 404


def test_rate_limit_answers_429_with_retry_after(api, platform) -> None:
    import time

    settings, (first, *_) = platform
    if time.time() % 60 > 45:  # stay inside one fixed window
        time.sleep(61 - time.time() % 60)
    key = _new_key(settings, "rep", rate_limit=3)
    headers = {"X-API-Key": key}
    body = {"contact_id": first["held_out_contacts"][4]}
    codes = [
        httpx.post(f"{api.base_url}/api/ai/lead-score", json=body, headers=headers).status_code
        for _ in range(3)
    ]
    assert codes == [200, 200, 200]
    refused = httpx.post(f"{api.base_url}/api/ai/lead-score", json=body, headers=headers)
    assert refused.status_code == 429
    assert 1 <= int(refused.headers["Retry-After"]) <= 60
    assert "3 requests per minute" in refused.json()["detail"]
    other = httpx.post(
        f"{api.base_url}/api/ai/lead-score",
        json=body,
        headers={"X-API-Key": _new_key(settings, "rep")},
    )
    assert other.status_code == 200  # limits are per key


def test_replayed_request_id_is_answered_once_and_recorded_once(api, platform) -> None:
    settings, (first, *_) = platform
    request_id = uuid.uuid4().hex
    body = {"contact_id": first["held_out_contacts"][5]}
    answers = [
        api.post("/api/ai/lead-score", json=body, headers={"X-Request-ID": request_id}).json()
        for _ in range(2)
    ]
    assert answers[0]["score"] == answers[1]["score"]
    assert len(_interactions(settings, request_id=request_id)) == 1
    too_long = api.post("/api/ai/lead-score", json=body, headers={"X-Request-ID": "x" * 65})
    assert too_long.status_code == 422


# --------------------------------------------------------------------------- text AI and LLM
def test_conversation_is_analysed_stored_and_recorded(api, platform) -> None:
    from haste.db.models import ConversationInsight

    settings, *_ = platform
    request_id = uuid.uuid4().hex
    response = api.post(
        "/api/ai/conversation/analyze",
        json={
            "transcript": DEMO_CALL,
            "participants": [{"name": "Rep", "role": "rep"}, {"name": "Dana", "role": "customer"}],
            "meeting_type": "check-in call",
        },
        headers={"X-Request-ID": request_id},
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["summary"] and body["topics"]
    assert any("pricing sheet" in item["text"] for item in body["action_items"])
    assert any(m["competitor"] == "HubSpot" for m in body["competitor_mentions"])
    assert set(body["sentiment_by_speaker"]) == {"Rep", "Dana"}
    assert body["coaching"]["talk_ratio"]
    with session_scope(settings.database_url) as session:
        insight = session.get(ConversationInsight, uuid.UUID(body["insight_id"]))
        assert insight is not None and insight.summary == body["summary"]
    (row,) = _interactions(settings, request_id=request_id)
    assert row.feature == "conversation_analyze" and row.user_id is not None
    empty = api.post("/api/ai/conversation/analyze", json={"transcript": "   "})
    assert empty.status_code == 422
    assert empty.json()["errors"][0]["field"].startswith("transcript")


def test_email_compose_uses_the_offline_provider_and_records_usage(api, platform) -> None:
    settings, *_ = platform
    request_id = uuid.uuid4().hex
    context = {
        "recipient": {"first_name": "Ada", "last_name": "Lovelace", "company": "Analytical Ltd"},
        "purpose": "meeting_request",
        "tone": "formal",
        "sender_name": "Sam",
        "product": "hasteCRM",
    }
    response = api.post(
        "/api/ai/email/compose", json={"context": context}, headers={"X-Request-ID": request_id}
    )
    assert response.status_code == 200, response.text
    body = response.json()
    draft = body["draft"]
    assert "Ada" in draft["body"] and draft["body"].lstrip().startswith("Dear")
    assert draft["subject"] and draft["tone"] == "formal"
    assert body["llm"]["provider"] == "offline" and Decimal(body["llm"]["cost_usd"]) == 0
    (row,) = _interactions(settings, request_id=request_id)
    assert row.provider == "offline" and row.tokens_used > 0
    assert row.variant.startswith("email_compose@v")
    bad = api.post("/api/ai/email/compose", json={"context": {**context, "tone": "rude"}})
    assert bad.status_code == 422 and "tone" in bad.json()["detail"]


def test_email_for_a_contact_without_consent_is_refused(api, platform) -> None:
    settings, *_ = platform
    contacts = read_crm(settings.data_dir / "raw" / "crm").contacts
    refused = str(contacts.loc[~contacts["ai_consent"].astype(bool), "id"].iloc[0])
    context = {"recipient": {"contact_id": refused, "first_name": "X"}, "sender_name": "Sam"}
    response = api.post("/api/ai/email/compose", json={"context": context})
    assert response.status_code == 403 and "consent" in response.json()["detail"]


def test_subject_optimisation_and_reply_suggestions(api) -> None:
    response = api.post(
        "/api/ai/email/optimize-subject",
        json={"subject": "FREE OFFER!!! Buy now", "context": {"first_name": "Ada"}},
    )
    assert response.status_code == 200, response.text
    body = response.json()
    scores = [variant["score"] for variant in body["variants"]]
    assert scores == sorted(scores, reverse=True)
    assert body["best"]["score"] > body["original"]["score"]
    angry = "This is unacceptable. The invoice is wrong again and nobody answers my emails."
    replies = api.post("/api/ai/email/reply-suggestions", json={"email": angry, "n": 2})
    assert replies.status_code == 200, replies.text
    result = replies.json()
    assert result["sentiment"]["label"] == "negative"
    assert len(result["suggestions"]) == 2
    assert all(s["acknowledged"] for s in result["suggestions"])


def test_natural_language_search_applies_exact_filters(api, platform) -> None:
    settings, *_ = platform
    request_id = uuid.uuid4().hex
    response = api.post(
        "/api/ai/search",
        json={"query": "deals over 20k", "limit": 10},
        headers={"X-Request-ID": request_id},
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["parsed"]["entity_types"] == ["deal"]
    assert body["parsed"]["filters"] == [{"field": "amount", "op": ">", "value": 20000.0}]
    assert body["results"], body
    for hit in body["results"]:
        assert hit["entity_type"] == "deal"
        assert hit["attributes"]["amount"] > 20_000
    (row,) = _interactions(settings, request_id=request_id)
    assert row.output_data["hits"] == [hit["doc_id"] for hit in body["results"]]
    people = api.post("/api/ai/search", json={"query": "marketing managers", "limit": 5})
    assert people.status_code == 200 and people.json()["results"]
    bad = api.post("/api/ai/search", json={"query": "", "limit": 10})
    assert bad.status_code == 422


def test_usage_needs_a_manager_and_rolls_up_per_team(api, platform) -> None:
    settings, *_ = platform
    rep = httpx.get(
        f"{api.base_url}/api/ai/usage", headers={"X-API-Key": _new_key(settings, "rep")}
    )
    assert rep.status_code == 403 and "usage" in rep.json()["detail"]
    response = api.get("/api/ai/usage", params={"by": "feature"})
    assert response.status_code == 200, response.text
    features = {row["feature"] for row in response.json()["rows"]}
    assert "email_compose" in features
    assert api.get("/api/ai/usage", params={"by": "planet"}).status_code == 422


def test_feedback_is_stored_on_the_interaction(api, platform) -> None:
    settings, *_ = platform
    request_id = uuid.uuid4().hex
    api.post(
        "/api/ai/email/optimize-subject",
        json={"subject": "Quick question"},
        headers={"X-Request-ID": request_id},
    )
    response = api.post("/api/ai/feedback", json={"request_id": request_id, "score": 4})
    assert response.status_code == 200, response.text
    (row,) = _interactions(settings, request_id=request_id)
    assert row.feedback_score == 4
    missing = api.post("/api/ai/feedback", json={"request_id": "nope", "score": 4})
    assert missing.status_code == 404


def test_dashboard_through_the_gateway_in_headless_chromium(api, platform, driver) -> None:
    """The dashboard the platform serves, in Chromium: real scores, clicks, screenshots."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    from tests.support.browser import SECTION_IDS, full_page_png, save_screenshot

    settings, *_ = platform
    rep = httpx.get(f"{api.base_url}/dashboard", params={"api_key": _new_key(settings, "rep")})
    assert rep.status_code == 403  # usage numbers are for managers and admins
    assert httpx.get(f"{api.base_url}/dashboard").status_code == 401
    key = api.headers["X-API-Key"]
    driver.get(f"{api.base_url}/dashboard?api_key={key}")
    WebDriverWait(driver, 60).until(lambda d: d.find_elements(By.ID, "usage"))
    for section in SECTION_IDS:
        assert driver.find_element(By.ID, section).is_displayed(), section
    with session_scope(settings.database_url) as session:
        scored = session.scalar(select(func.count(func.distinct(LeadScore.contact_id))))
    shown = driver.find_element(By.ID, "kpi-contacts-scored").get_attribute("data-value")
    assert int(shown) == scored > 0
    save_screenshot("gateway-dashboard.png", full_page_png(driver))
    button = driver.find_elements(By.CSS_SELECTOR, "button.why-btn")[0]
    row = driver.find_element(By.ID, button.get_attribute("aria-controls"))
    driver.execute_script("arguments[0].scrollIntoView({block: 'center'});", button)
    button.click()
    WebDriverWait(driver, 5).until(lambda d: row.is_displayed())
    assert row.find_elements(By.CSS_SELECTOR, ".contribution-bar")
    save_screenshot("gateway-dashboard-why.png", driver.get_screenshot_as_png())
    data = api.get("/api/ai/dashboard")
    assert data.status_code == 200 and data.json()["lead_scores"]


def test_a_replica_killed_mid_load_loses_no_interaction_record(api, platform) -> None:
    """Two replicas under load; one is killed. Clients retry failures with the same request id:
    every request ends up answered and recorded exactly once (last test: it redeploys)."""
    import threading
    import time

    import ray

    from serving.runner import deploy_app

    settings, (first, *_) = platform
    deploy_app(settings, "lead_scoring", NO_AB, {"num_replicas": 2})
    contacts = first["held_out_contacts"][:10]
    request_ids = [f"kill-{uuid.uuid4().hex[:12]}" for _ in range(120)]
    answered: dict[str, int] = {}
    failures: list[int] = []

    def client(ids: list[str]) -> None:
        with httpx.Client(base_url=str(api.base_url), headers=api.headers, timeout=30) as http:
            for n, request_id in enumerate(ids):
                for _attempt in range(20):
                    try:
                        response = http.post(
                            "/api/ai/lead-score",
                            json={"contact_id": contacts[n % len(contacts)]},
                            headers={"X-Request-ID": request_id},
                        )
                    except httpx.HTTPError:
                        failures.append(-1)
                        time.sleep(0.2)
                        continue
                    if response.status_code == 200:
                        answered[request_id] = response.json()["score"]
                        break
                    failures.append(response.status_code)
                    time.sleep(0.2)

    threads = [threading.Thread(target=client, args=(request_ids[i::4],)) for i in range(4)]
    for thread in threads:
        thread.start()
    time.sleep(1.0)
    replicas = [
        actor
        for actor in ray.util.list_named_actors(all_namespaces=True)
        if "SERVE_REPLICA" in actor["name"] and "AIGateway" in actor["name"]
    ]
    assert len(replicas) == 2, replicas
    ray.kill(ray.get_actor(replicas[0]["name"], namespace=replicas[0]["namespace"]))
    for thread in threads:
        thread.join(timeout=240)
    assert set(answered) == set(request_ids), f"unanswered after retries; failures {failures}"
    with session_scope(settings.database_url) as session:
        recorded = session.execute(
            select(AIInteraction.request_id, func.count())
            .where(AIInteraction.request_id.in_(request_ids))
            .group_by(AIInteraction.request_id)
        ).all()
    counts = dict(recorded)
    assert set(counts) == set(request_ids)  # nothing lost
    assert set(counts.values()) == {1}  # nothing recorded twice
    _wait_until_recovered(api, replicas=2)


def _wait_until_recovered(api: httpx.Client, replicas: int, timeout_s: float = 120.0) -> None:
    """Wait until the killed gateway replica is replaced and the ingress routes to live ones.

    Until the controller's health check notices the kill, HAProxy still lists the dead replica
    and a request sent to it is dropped (clients retry, as above). The modules after this one
    send each request once, so the platform must be whole again before this test returns.
    """
    import time

    from ray import serve

    from serving.runner import APP_NAME

    deadline = time.monotonic() + timeout_s
    healthy_in_a_row = 0
    while healthy_in_a_row < 10:
        assert time.monotonic() < deadline, "the gateway did not recover from the kill"
        status = serve.status().applications[APP_NAME].deployments["AIGateway"]
        running = status.replica_states.get("RUNNING", 0)
        if status.status == "HEALTHY" and running == replicas:
            try:
                ok = api.get("/api/ai/health").status_code == 200
            except httpx.HTTPError:
                ok = False
            healthy_in_a_row = healthy_in_a_row + 1 if ok else 0
        else:
            healthy_in_a_row = 0
        time.sleep(0.2)
