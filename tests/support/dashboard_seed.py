"""A small, realistic CRM + AI data set for the dashboard tests (deterministic per seed).

:func:`seed_dashboard_data` migrates the database, then writes 2 teams and their users, 12
companies, 30 contacts with 2-3 lead scores each over the last days (with SHAP-style
contributions), next-best-actions / churn / deal-velocity / lead-score predictions,
champion + challenger rows in ``ai_models`` and ~100 ``ai_interactions`` across features,
providers and teams (some older than the 30-day window, some without a team, some failed).
It returns what it wrote so tests can compare the dashboard with exact expected values.

:func:`add_score_change` writes one ``score_changes`` row (the real-time engine's output) and
:func:`seed_stream_data` a few of them plus ``stream_alerts``, for the live feed and the
streaming-alerts panel.
"""

from __future__ import annotations

import datetime as dt
import json
import random
import unicodedata
import uuid
from collections import defaultdict
from decimal import Decimal
from pathlib import Path
from typing import Any

from haste.db import (
    AIInteraction,
    AIModel,
    Company,
    Contact,
    LeadScore,
    Prediction,
    ScoreChange,
    StreamAlert,
    Team,
    User,
    session_scope,
    upgrade_database,
)

WINDOW_DAYS = 30

TEAMS = ("Enterprise Sales", "SMB Growth")
COMPANIES = (
    ("Acme Robotics", "Manufacturing"),
    ("Blue Harbor Bank", "Financial Services"),
    ("Cedar Health", "Healthcare"),
    ("Delta Logistics", "Transportation"),
    ("Evergreen Foods", "Retail"),
    ("Fjord Analytics", "Software"),
    ("Granite Insurance", "Insurance"),
    ("Helix Biotech", "Life Sciences"),
    ("Iris Media", "Media"),
    ("Juniper Energy", "Energy"),
    ("Kestrel Education", "Education"),
    ("Lumen Telecom", "Telecommunications"),
)
FIRST_NAMES = (
    "Ada", "Bruno", "Chloé", "Dmitri", "Elena", "Farah", "Gustav", "Hana", "Ines", "Jonas",
    "Kenji", "Lena", "Mateo", "Nadia", "Omar", "Priya", "Quentin", "Rosa", "Sven", "Tara",
    "Umar", "Vera", "Wei", "Ximena", "Yusuf", "Zoe", "Aiden", "Bianca", "Carlos", "Dana",
)  # fmt: skip
LAST_NAMES = (
    "Lovelace", "Costa", "Martin", "Ivanov", "Rossi", "Haddad", "Berg", "Sato", "Garcia",
    "Weber", "Tanaka", "Fischer", "Lopez", "Karim", "Farouk", "Patel", "Dubois", "Silva",
    "Nilsson", "Reid", "Aziz", "Novak", "Zhang", "Ortega", "Demir", "Clarke", "Byrne",
    "Moretti", "Mendes", "Kowalski",
)  # fmt: skip
DRIFT_COLUMNS = (
    "TotalVisits",
    "Lead Source",
    "Last Activity",
    "Specialization",
    "Total Time Spent on Website",
    "MonthlyCharges",
    "tenure",
    "Contract",
)
STAGES = ("lead", "mql", "sql", "opportunity", "customer")
FEATURES = (
    ("Total Time Spent on Website", lambda r: r.randint(30, 2400)),
    ("TotalVisits", lambda r: r.randint(0, 25)),
    ("Lead Source", lambda r: r.choice(["Google", "Direct Traffic", "Referral", "Webinar"])),
    ("Email Opens (30d)", lambda r: r.randint(0, 14)),
    ("Job Title Seniority", lambda r: r.choice(["C-level", "VP", "Manager", "Individual"])),
    ("Company Size", lambda r: r.choice(["1-10", "11-50", "51-200", "201-1000", "1000+"])),
    ("Days Since Last Activity", lambda r: r.randint(0, 60)),
)
LLM_FEATURES = (
    ("email_compose", ("openai", "gpt-4o-mini"), 900),
    ("conversation_summary", ("anthropic", "claude-3-5-haiku"), 2600),
    ("email_subjects", ("openai", "gpt-4o-mini"), 300),
    ("semantic_search", ("offline", "offline-embeddings"), 120),
)
MODEL_FEATURES = (
    ("lead_score", ("xgboost", "lead_scoring@3")),
    ("next_actions", ("rules+xgboost", "lead_scoring@3")),
    ("churn_risk", ("xgboost", "churn@2")),
    ("deal_prediction", ("xgboost", "deal_velocity@1")),
)
ACTIONS = (
    ("Send a follow-up email to re-engage.", "Last activity was 16 days ago (>= 14).", 0.8,
     "rule", "email"),
    ("Call instead of emailing.", "The last 3 outbound emails got no reply.", 0.75, "rule",
     "call"),
    ("Book a product demo with the decision maker.", "The deal is in qualification.", 0.65,
     "rule", "meeting"),
    ("Invite the lead to a webinar or product tour.", "Low Total Time Spent on Website.", 0.55,
     "model", "email"),
    ("Prioritise this hot lead today.", "Score 82/100 (hot).", 0.9, "model", "call"),
)  # fmt: skip


def _ascii(text: str) -> str:
    """Return ``text`` without accents (for email addresses)."""
    return unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii")


def _contributions(rng: random.Random, score: int) -> list[dict[str, Any]]:
    """Return 5 SHAP-style contributions leaning with the score."""
    lean = (score - 50) / 50
    out = []
    for feature, draw in rng.sample(FEATURES, 5):
        impact = round(rng.gauss(lean * 0.6, 0.45), 4)
        out.append(
            {
                "feature": feature,
                "value": draw(rng),
                "impact": impact,
                "direction": "positive" if impact >= 0 else "negative",
            }
        )
    out.sort(key=lambda c: -abs(c["impact"]))
    return out


def _explanation(score: int, contributions: list[dict[str, Any]]) -> str:
    """Return a one-line explanation in the platform's style."""
    band = "hot" if score >= 70 else "warm" if score >= 40 else "cold"
    up = [c["feature"] for c in contributions if c["impact"] > 0][:2]
    down = [c["feature"] for c in contributions if c["impact"] < 0][:2]
    text = f"Score {score}/100 ({band})."
    if up:
        text += f" Raised by {', '.join(up)}."
    if down:
        text += f" Lowered by {', '.join(down)}."
    return text


def _score_history(rng: random.Random, index: int) -> list[int]:
    """Return 2-3 scores, oldest first, cycling through up / down / stable trends."""
    base = rng.randint(15, 85)
    length = 2 + index % 2
    kind = index % 3
    history = [base]
    for _ in range(length - 1):
        if kind == 0:
            step = rng.randint(5, 12)  # up
        elif kind == 1:
            step = -rng.randint(5, 12)  # down
        else:
            step = rng.randint(-3, 3)  # stable
        history.append(min(100, max(0, history[-1] + step)))
    if kind == 0 and history[-1] - history[-2] <= 3:  # clipped at 100
        history[-2] = history[-1] - 8
    if kind == 1 and history[-2] - history[-1] <= 3:  # clipped at 0
        history[-2] = history[-1] + 8
    return history


def seed_dashboard_data(url: str, seed: int = 0) -> dict[str, Any]:
    """Migrate ``url`` and write the dashboard data set.

    Args:
        url: Database URL (SQLite or PostgreSQL).
        seed: Random seed (same seed, same data apart from timestamps relative to now).

    Returns:
        ``team_ids`` (name -> id string), ``contacts`` (id -> ``{"name", "scores"}``, scores
        oldest first), ``cost_by_team`` / ``calls_by_team`` (team name or ``None`` -> exact
        Decimal / int, last 30 days, every interaction type), ``cost_by_feature``,
        ``predictions_30d`` and ``interactions`` (rows written).
    """
    upgrade_database(url)
    rng = random.Random(seed)
    now = dt.datetime.now(dt.UTC).replace(microsecond=0)
    summary: dict[str, Any] = {
        "team_ids": {},
        "contacts": {},
        "cost_by_team": defaultdict(lambda: Decimal("0.000000")),
        "calls_by_team": defaultdict(int),
        "cost_by_feature": defaultdict(lambda: Decimal("0.000000")),
        "predictions_30d": 0,
        "interactions": 0,
    }
    with session_scope(url) as session:
        teams = [Team(id=uuid.uuid4(), name=name) for name in TEAMS]
        session.add_all(teams)
        users: list[User] = []
        for t_index, team in enumerate(teams):
            summary["team_ids"][team.name] = str(team.id)
            for u_index, role in enumerate(("manager", "rep", "rep")):
                users.append(
                    User(
                        id=uuid.uuid4(),
                        team_id=team.id,
                        email=f"user{t_index}{u_index}-{seed}@haste.example",
                        full_name=f"{FIRST_NAMES[t_index * 3 + u_index]} {LAST_NAMES[u_index]}",
                        role=role,
                    )
                )
        admin = User(id=uuid.uuid4(), email=f"admin-{seed}@haste.example", role="admin")
        session.add_all([*users, admin])
        companies = [
            Company(
                id=uuid.uuid4(),
                name=name,
                industry=industry,
                domain=name.lower().replace(" ", "") + ".example",
                employee_count=rng.choice([12, 45, 180, 650, 2400]),
                country=rng.choice(["US", "UK", "DE", "FR", "IN"]),
            )
            for name, industry in COMPANIES
        ]
        session.add_all(companies)
        session.flush()

        contacts: list[Contact] = []
        predictions: list[Prediction] = []
        for index in range(30):
            first, last = FIRST_NAMES[index], LAST_NAMES[index]
            contact = Contact(
                id=uuid.uuid4(),
                company_id=companies[index % len(companies)].id,
                owner_id=users[index % len(users)].id,
                first_name=first,
                last_name=last,
                email=_ascii(f"{first}.{last}@example.com").lower(),
                job_title=rng.choice(["CTO", "VP Sales", "Ops Manager", "Analyst"]),
                lead_source=rng.choice(["Google", "Referral", "Webinar", "Direct Traffic"]),
                lifecycle_stage=rng.choice(STAGES),
                ai_consent=True,
                created_at=now - dt.timedelta(days=40),
            )
            contacts.append(contact)
            history = _score_history(rng, index)
            summary["contacts"][str(contact.id)] = {"name": f"{first} {last}", "scores": history}
            for step, score in enumerate(history):
                moment = now - dt.timedelta(
                    days=2 * (len(history) - 1 - step) + index % 4, hours=rng.randint(0, 8)
                )
                contributions = _contributions(rng, score)
                session.add(
                    LeadScore(
                        contact_id=contact.id,
                        score=score,
                        score_components={"contributions": contributions},
                        model_version="3",
                        explanation=_explanation(score, contributions),
                        calculated_at=moment,
                    )
                )
                predictions.append(
                    Prediction(
                        entity_type="contact",
                        entity_id=contact.id,
                        prediction_type="lead_score",
                        prediction_value={
                            "score": score,
                            "probability": round(score / 100, 4),
                            "band": "hot" if score >= 70 else "warm" if score >= 40 else "cold",
                            "variant": "champion",
                        },
                        confidence_score=round(max(score, 100 - score) / 100, 4),
                        model_version="3",
                        created_at=moment,
                    )
                )
            if index % 2 == 0:
                chosen = rng.sample(ACTIONS, 3)
                predictions.append(
                    Prediction(
                        entity_type="contact",
                        entity_id=contact.id,
                        prediction_type="next_actions",
                        prediction_value={
                            "actions": [
                                dict(
                                    zip(
                                        ("action", "reason", "priority", "source", "channel"),
                                        a,
                                        strict=True,
                                    )
                                )
                                for a in sorted(chosen, key=lambda a: -a[2])
                            ],
                            "lead_score": history[-1],
                        },
                        confidence_score=max(a[2] for a in chosen),
                        model_version="3",
                        created_at=now - dt.timedelta(hours=index * 3 + 1),
                    )
                )
        session.add_all(contacts)
        session.flush()

        for index in range(8):
            probability = round(rng.uniform(0.05, 0.9), 4)
            band = "high" if probability >= 0.6 else "medium" if probability >= 0.3 else "low"
            predictions.append(
                Prediction(
                    entity_type="account",
                    entity_id=uuid.uuid4(),
                    prediction_type="churn",
                    prediction_value={
                        "account_id": f"{7590 + index * 37:04d}-VHVEG",
                        "score": round(probability * 100),
                        "probability": probability,
                        "confidence": round(max(probability, 1 - probability), 4),
                        "risk_band": band,
                        "prediction_set": [1]
                        if band == "high"
                        else [0]
                        if band == "low"
                        else [0, 1],
                        "coverage": 0.9,
                        "recommended_actions": ["Offer a loyalty discount on a 1-year contract."],
                    },
                    confidence_score=round(max(probability, 1 - probability), 4),
                    model_version="2",
                    created_at=now - dt.timedelta(days=index * 2, hours=3),
                )
            )
        for index in range(8):
            win = round(rng.uniform(0.2, 0.85), 4)
            days_to_close = round(rng.uniform(10, 90), 1)
            predictions.append(
                Prediction(
                    entity_type="deal",
                    entity_id=uuid.uuid4(),
                    prediction_type="deal_velocity",
                    prediction_value={
                        "deal_id": f"D{1000 + index}",
                        "account": COMPANIES[index][0],
                        "deal_stage": rng.choice(["Engaging", "Prospecting"]),
                        "win_probability": win,
                        "days_to_close": days_to_close,
                        "days_to_close_interval": [
                            max(0.0, days_to_close - 20),
                            days_to_close + 35,
                        ],
                        "coverage": 0.9,
                        "expected_close_date": (now + dt.timedelta(days=days_to_close))
                        .date()
                        .isoformat(),
                        "overdue": False,
                    },
                    confidence_score=round(max(win, 1 - win), 4),
                    model_version="1",
                    # the last two are older than the 30-day window
                    created_at=now - dt.timedelta(days=index * 5 if index < 6 else 35 + index),
                )
            )
        session.add_all(predictions)
        window_start = now - dt.timedelta(days=WINDOW_DAYS)
        summary["predictions_30d"] = sum(1 for p in predictions if p.created_at >= window_start)

        models = [
            ("lead_scoring", "2", "retired", 0.861, 0.0),
            ("lead_scoring", "3", "champion", 0.884, 0.071),
            ("lead_scoring", "4", "challenger", 0.891, 0.064),
            ("churn", "2", "champion", 0.842, 0.052),
            ("churn", "3", "challenger", 0.836, 0.118),
            ("deal_velocity", "1", "champion", 0.781, 0.043),
        ]
        for age, (name, version, status, auc, eod) in enumerate(reversed(models)):
            session.add(
                AIModel(
                    name=name,
                    type=name,
                    version=version,
                    provider="internal",
                    deployment_status=status,
                    performance_metrics={
                        "metrics": {
                            "roc_auc": auc,
                            "pr_auc": round(auc - 0.09, 4),
                            "f1": round(auc - 0.16, 4),
                            "accuracy": round(auc - 0.05, 4),
                            "brier": round(1.05 - auc, 4),
                        },
                        "fairness": {
                            "demographic_parity_difference": round(eod * 0.8, 4),
                            "equalized_odds_difference": eod,
                            "min_group_roc_auc": round(auc - 0.06, 4),
                        },
                    },
                    created_at=now - dt.timedelta(days=age * 3 + 1),
                    deployed_at=None if status == "challenger" else now - dt.timedelta(days=age),
                )
            )

        interactions = []
        for index in range(104):
            team_slot = index % 5  # 0, 1: team A; 2, 3: team B; 4: alternate / no team
            if team_slot < 2:
                team, user = teams[0], users[index % 3]
            elif team_slot < 4:
                team, user = teams[1], users[3 + index % 3]
            elif index % 10 == 4:
                team, user = None, admin
            else:
                team, user = teams[0], users[0]
            old = index % 13 == 0  # outside the 30-day window
            created = now - (
                dt.timedelta(days=35 + index % 20)
                if old
                else dt.timedelta(days=index % 28, hours=index % 7, minutes=index % 50)
            )
            failed = index % 17 == 5
            if index % 2 == 0:
                feature, (provider, model), mean_tokens = rng.choices(
                    LLM_FEATURES, weights=(5, 3, 2, 2)
                )[0]
                tokens = max(20, int(rng.gauss(mean_tokens, mean_tokens * 0.25)))
                cost = (
                    Decimal(0)
                    if provider == "offline"
                    else (Decimal(tokens) * Decimal("0.0000085")).quantize(Decimal("0.000001"))
                    + Decimal(rng.randint(0, 999)) / Decimal(1_000_000)
                )
                kind, latency = "llm", rng.randint(350, 2400)
            else:
                feature, (provider, model) = rng.choices(MODEL_FEATURES, weights=(6, 3, 2, 2))[0]
                tokens, cost, kind, latency = None, Decimal(0), feature, rng.randint(8, 140)
            interactions.append(
                AIInteraction(
                    user_id=user.id,
                    team_id=None if team is None else team.id,
                    interaction_type=kind,
                    feature=feature,
                    provider=provider,
                    model_used=model,
                    variant="champion" if kind != "llm" else f"{feature}@v1",
                    tokens_used=tokens,
                    response_time_ms=latency,
                    cost_usd=cost,
                    error_message="provider timeout" if failed else None,
                    created_at=created,
                    request_id=f"seed-{seed}-{index}",
                )
            )
            if not old:
                key = None if team is None else team.name
                summary["cost_by_team"][key] += cost
                summary["calls_by_team"][key] += 1
                summary["cost_by_feature"][feature] += cost
        session.add_all(interactions)
        summary["interactions"] = len(interactions)
    summary["cost_by_team"] = dict(summary["cost_by_team"])
    summary["calls_by_team"] = dict(summary["calls_by_team"])
    summary["cost_by_feature"] = dict(summary["cost_by_feature"])
    return summary


def write_sample_reports(reports_dir: Path) -> dict[str, Path]:
    """Write drift summaries and bias audits shaped like the monitoring/bias-audit flows' files.

    ``lead_scoring`` has an older clean drift report and a newer drifted one (retraining
    asked), ``churn`` a clean one; the ``lead_scoring`` bias audit passes, the ``churn`` one
    fails on ``gender``.

    Args:
        reports_dir: The reports folder (``settings.data_dir / "reports"``).

    Returns:
        Paths of the written files by short name.
    """
    written: dict[str, Path] = {}
    drift_cases = (
        ("lead_scoring", "20260101T000000Z", [], 0.0, False),
        ("lead_scoring", "20260301T060000Z", ["TotalVisits", "Lead Source", "Last Activity"],
         0.375, True),
        ("churn", "20260301T060000Z", ["MonthlyCharges"], 0.1, False),
    )  # fmt: skip
    for model, stamp, drifted, share, retrain in drift_cases:
        folder = reports_dir / "monitoring" / model / stamp
        folder.mkdir(parents=True, exist_ok=True)
        columns = list(DRIFT_COLUMNS)
        scores = {
            c: round(0.31 + 0.07 * i if c in drifted else 0.02 + 0.01 * i, 4)
            for i, c in enumerate(columns)
        }
        summary = {
            "columns": columns,
            "drifted_columns": drifted,
            "share_drifted": share,
            "column_scores": scores,
            "prediction_column": "prediction_probability",
            "prediction_drift": retrain,
            "prediction_score": 0.27 if retrain else 0.03,
            "prediction_method": "psi",
            "tests_passed": 10 - len(drifted),
            "tests_failed": len(drifted),
            "failed_tests": [],
            "reference_rows": 5000,
            "current_rows": 2000,
            "should_retrain": retrain,
            "reasons": [],
            "model_name": model,
            "champion_version": "3",
            "performance": None,
            "registered_roc_auc": 0.88,
            "decision": {
                "should_retrain": retrain,
                "reasons": [f"{share:.0%} of feature columns drifted (>= 30%)"] if retrain else [],
            },
        }
        (folder / "drift_summary.json").write_text(json.dumps(summary), encoding="utf-8")
        (folder / "drift_report.html").write_text(
            f"<html><body><h1>Evidently drift report {model}</h1></body></html>", encoding="utf-8"
        )
        written[f"drift_{model}_{stamp}"] = folder / "drift_summary.json"
    for model, passed in (("lead_scoring", True), ("churn", False)):
        folder = reports_dir / "bias_audit" / model
        folder.mkdir(parents=True, exist_ok=True)
        alerts = [] if passed else ["equalized odds difference 0.182 > 0.100"]
        audit = {
            "model_name": model,
            "model_version": "3",
            "n_rows": 3000,
            "threshold": 0.5,
            "passed": passed,
            "alerts": [f"{model} / gender: {a}" for a in alerts],
            "columns": {
                "gender": {
                    "column": "gender",
                    "disparities": {
                        "demographic_parity_difference": 0.041 if passed else 0.121,
                        "equalized_odds_difference": 0.063 if passed else 0.182,
                    },
                    "alerts": alerts,
                    "excluded_groups": [],
                    "by_group": [
                        {"gender": "female", "count": 1480, "selection_rate": 0.31},
                        {"gender": "male", "count": 1520, "selection_rate": 0.35},
                    ],
                },
                "City": {
                    "column": "City",
                    "disparities": {"demographic_parity_difference": 0.052},
                    "alerts": [],
                    "excluded_groups": ["Other Metro Cities"],
                    "by_group": [],
                },
            },
            "data_source": "synthetic CRM (seed 7)",
            "mitigations": [],
        }
        (folder / "bias_audit.json").write_text(json.dumps(audit), encoding="utf-8")
        (folder / "bias_report.html").write_text(
            f"<html><body><h1>Bias audit {model}</h1></body></html>", encoding="utf-8"
        )
        written[f"bias_{model}"] = folder / "bias_audit.json"
    return written


def _band(score: int) -> str:
    """Return the default band of a 0-100 score."""
    return "hot" if score >= 70 else "warm" if score >= 40 else "cold"


def add_score_change(
    url: str,
    *,
    previous_score: int | None = 41,
    score: int = 73,
    reasons: list[str] | None = None,
    contact_id: uuid.UUID | None = None,
    created_at: dt.datetime | None = None,
    event_type: str = "email_replied",
) -> ScoreChange:
    """Write one ``score_changes`` row as the rescoring consumers do and return it.

    Args:
        url: Database URL (migrated).
        previous_score: Score before (``None``: the contact's first streamed score).
        score: Score after (the bands follow the default thresholds 70/40).
        reasons: ``text`` of each ``changed_because`` item (default: one email reply).
        contact_id: The contact (default: a new id).
        created_at: Commit time (default: now).
        event_type: The event's type.

    Returns:
        The committed row (detached; every column loaded).
    """
    texts = reasons or ["+12: replied to email (Email Replies 30d 0 -> 1)"]
    previous_band = None if previous_score is None else _band(previous_score)
    now = created_at or dt.datetime.now(dt.UTC)
    change = ScoreChange(
        id=uuid.uuid4(),
        contact_id=contact_id or uuid.uuid4(),
        event_id=f"evt-{uuid.uuid4().hex}",
        event_type=event_type,
        previous_score=previous_score,
        score=score,
        previous_band=previous_band,
        band=_band(score),
        band_crossed=previous_band != _band(score),
        changed_because=[
            {
                "feature": f"feature_{index}",
                "label": f"Feature {index}",
                "points": int(text.split(":")[0]) if text[:1] in "+-" else 0,
                "before": 0,
                "after": 1,
                "text": text,
            }
            for index, text in enumerate(texts)
        ],
        model_version="3",
        variant="champion",
        occurred_at=now,
        published_at=now,
        created_at=now,
    )
    with session_scope(url) as session:
        session.add(change)
        session.flush()
        session.expunge(change)
    return change


def seed_stream_data(url: str) -> dict[str, Any]:
    """Write three older score changes and two streaming alerts.

    Args:
        url: Database URL (migrated).

    Returns:
        ``changes`` (the rows, oldest first) and ``alerts`` (kind -> value).
    """
    now = dt.datetime.now(dt.UTC)
    changes = [
        add_score_change(
            url,
            previous_score=before,
            score=after,
            reasons=[text],
            created_at=now - dt.timedelta(minutes=minutes),
            event_type=kind,
        )
        for before, after, text, kind, minutes in (
            (35, 38, "+3: opened email (Email Opens 30d 2 -> 3)", "email_opened", 30),
            (62, 71, "+9: visited pricing page (Pricing Page Views 7d 0 -> 1)", "page_view", 20),
            (44, 39, "-5: days since last activity went up (Days Since Activity 3 -> 9)",
             "inactivity", 10),
        )
    ]  # fmt: skip
    alerts = {"score_drift": (0.27, 0.2), "group_gap": (11.5, 10.0)}
    with session_scope(url) as session:
        for age, (kind, (value, threshold)) in enumerate(alerts.items()):
            session.add(
                StreamAlert(
                    kind=kind,
                    model_name="lead_scoring_crm",
                    value=value,
                    threshold=threshold,
                    window_size=500,
                    details={},
                    created_at=now - dt.timedelta(minutes=5 + age),
                )
            )
    return {"changes": changes, "alerts": {kind: value for kind, (value, _) in alerts.items()}}
