"""The gateway's champion fast path: scored in the replica, the same answer as the deployment's.

:class:`serving.lead_batch.LeadScoreBatch` scores champion leads with the model the gateway
replica holds (:meth:`serving.core.GatewayCore.local_model`) and sends the other variants to
their model deployment (:class:`serving.model_server.AliasModels` behind a handle). Both paths
must answer and record the same thing, for the calibrated XGBoost pipeline (booster fast path,
conformal sets) and for the GradientBoosting baseline (``training.pipeline_shap.PipelineShap``).
"""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pandas as pd
import pytest
from sklearn.pipeline import Pipeline
from sqlalchemy import select

from haste.db import session_scope, upgrade_database
from haste.db.models import AIInteraction, Contact, LeadScore, Prediction
from serving.auth import Principal
from serving.errors import ApiError
from serving.gateway import CallContext
from serving.lead_batch import LeadScoreBatch, ScoreJob
from serving.lookup import ContactFeatureLookup, ServedModel
from serving.model_server import AliasModels
from serving.score_cache import NullCache
from tests.support.leads import FEATURES, labelled_leads, synthetic_leads
from training.calibration import CalibratedPipeline, CalibrationConfig, calibrate_model
from training.estimators import build_baseline_pipeline, build_xgboost_pipeline
from training.scoring import LeadScorer

MODEL = "lead_scoring"
PARAMS = {"n_estimators": 30, "max_depth": 3, "learning_rate": 0.2, "random_state": 0}
CALLER = Principal(
    api_key_id=None, user_id=None, team_id=None, role="admin", rate_limit_per_minute=None
)


@pytest.fixture(scope="module")
def calibrated() -> CalibratedPipeline:
    """The production model's shape: encode -> XGBoost, calibrated, with conformal sets."""
    frame, labels = synthetic_leads(rows=600, seed=11)
    train = labelled_leads(frame.iloc[:400], labels.iloc[:400])
    test = labelled_leads(frame.iloc[400:], labels.iloc[400:])
    pipeline = build_xgboost_pipeline(FEATURES, PARAMS).fit(train.features, train.labels)
    return calibrate_model(pipeline, train, test, CalibrationConfig(folds=3), MODEL).pipeline


@pytest.fixture(scope="module")
def baseline() -> Pipeline:
    """The baseline served when it wins the gate: one-hot/scaler -> GradientBoosting."""
    frame, labels = synthetic_leads()
    params = {"n_estimators": 30, "max_depth": 2, "learning_rate": 0.2, "random_state": 0}
    return build_baseline_pipeline(frame, params).fit(frame, labels)


class ModelHandle:
    """A deployment handle stand-in: ``score_leads.remote`` runs :class:`AliasModels`."""

    def __init__(self, models: AliasModels) -> None:
        self.models = models
        self.calls = 0
        self.score_leads = SimpleNamespace(remote=self._remote)

    async def _remote(self, name: str, rows: list[dict], ids: list[str]) -> list[dict]:
        self.calls += 1
        return self.models.score_leads(name, rows, ids)


class Core:
    """The part of :class:`serving.core.GatewayCore` a lead-score batch uses."""

    def __init__(
        self,
        url: str,
        profiles: pd.DataFrame,
        champion: ServedModel,
        challenger: ServedModel | None = None,
        local: bool = True,
        challenger_ids: frozenset[str] = frozenset(),
    ) -> None:
        self.database_url = url
        self.lookup = ContactFeatureLookup(profiles, MODEL, None, None)
        self.cache = NullCache()
        self.settings = SimpleNamespace(gateway_cache="off")
        self.local_leads = {MODEL: champion} if local else {}
        self.challenger_ids = challenger_ids
        self.models = {"champion": champion, "challenger": challenger}
        self.variants = {
            alias: ModelHandle(AliasModels(alias=alias, leads={MODEL: model}))
            for alias, model in self.models.items()
            if model is not None
        }

    def variant(self, model_name: str, subject: str) -> str:
        return "challenger" if subject in self.challenger_ids else "champion"

    def version(self, model_name: str, variant: str) -> str:
        return self.models[variant].version

    def local_model(self, model_name: str, variant: str) -> ServedModel | None:
        return self.local_leads.get(model_name) if variant == "champion" else None


@pytest.fixture()
def crm(tmp_path: Path) -> tuple[str, pd.DataFrame]:
    """A migrated SQLite CRM holding 12 consenting contacts and one refusing, and their rows."""
    url = f"sqlite:///{tmp_path / 'crm.db'}"
    upgrade_database(url)
    frame, _ = synthetic_leads(rows=13, seed=5)
    ids = [str(uuid.UUID(int=i + 1)) for i in range(len(frame))]
    with session_scope(url) as session:
        for i, contact in enumerate(ids):
            session.add(Contact(id=uuid.UUID(contact), first_name="Lead", ai_consent=i != 12))
    profiles = frame.assign(**{"Prospect ID": ids}).set_index(pd.Index(ids))
    return url, profiles


def _jobs(ids: list[str]) -> list[ScoreJob]:
    return [
        ScoreJob(uuid.UUID(contact), True, CallContext(CALLER, uuid.uuid4().hex, False))
        for contact in ids
    ]


def _score(core: Core, ids: list[str]) -> list[dict[str, Any] | ApiError]:
    return asyncio.run(LeadScoreBatch(core).score(_jobs(ids)))


def _stored(url: str, ids: list[str]) -> dict[str, tuple]:
    """Return each contact's stored score, prediction and audit record (comparable fields)."""
    wanted = [uuid.UUID(contact) for contact in ids]
    with session_scope(url) as session:
        scores = {
            str(row.contact_id): (
                row.score,
                row.score_components,
                row.explanation,
                row.model_version,
            )
            for row in session.scalars(select(LeadScore).where(LeadScore.contact_id.in_(wanted)))
        }
        predictions = {
            str(row.entity_id): (row.prediction_value, row.confidence_score, row.model_version)
            for row in session.scalars(select(Prediction).where(Prediction.entity_id.in_(wanted)))
        }
        audits = {
            str(row.contact_id): (
                row.model_used,
                row.variant,
                row.provider,
                row.input_data,
                {key: value for key, value in row.output_data.items() if key != "latency_ms"},
            )
            for row in session.scalars(
                select(AIInteraction).where(AIInteraction.contact_id.in_(wanted))
            )
        }
    return {c: (scores.get(c), predictions.get(c), audits.get(c)) for c in ids}


@pytest.mark.parametrize("model", ["calibrated", "baseline"])
def test_the_fast_path_answers_and_records_what_the_deployment_does(
    request: pytest.FixtureRequest, crm: tuple[str, pd.DataFrame], model: str, tmp_path: Path
) -> None:
    url, profiles = crm
    served = ServedModel(MODEL, "7", LeadScorer(request.getfixturevalue(model)))
    ids = list(profiles.index[:12])
    local = Core(url, profiles, served)
    answers = _score(local, ids[:6]) + _score(local, ids[6:7])  # a batch, then a batch of one
    other_url = f"sqlite:///{tmp_path / 'other.db'}"
    upgrade_database(other_url)
    with session_scope(other_url) as session:
        session.add_all(Contact(id=uuid.UUID(c), ai_consent=True) for c in ids)
    remote = Core(other_url, profiles, served, local=False)
    expected = _score(remote, ids[:6]) + _score(remote, ids[6:7])
    assert local.variants["champion"].calls == 0  # never called: scored in the replica
    assert remote.variants["champion"].calls == 2
    assert answers == expected
    first = answers[0]
    assert first["model_version"] == "7" and first["variant"] == "champion"
    assert 1 <= len(first["contributions"]) <= 4 and first["explanation"].startswith("Score")
    if model == "calibrated":
        assert first["coverage"] == 0.9 and first["prediction_set"] in ([0], [1], [0, 1], [])
    else:
        assert first["coverage"] is None
    assert _stored(url, ids[:7]) == _stored(other_url, ids[:7])
    stored = _stored(url, ids[:7])[ids[0]]
    assert stored[0][0] == first["score"] and stored[1][2] == "7"
    assert stored[2][0] == f"{MODEL}@v7" and set(stored[2][3]["features"]) == set(FEATURES)


def test_challenger_leads_keep_the_deployment_hop_in_the_same_batch(
    crm: tuple[str, pd.DataFrame], calibrated: CalibratedPipeline, baseline: Pipeline
) -> None:
    url, profiles = crm
    ids = list(profiles.index[:8])
    core = Core(
        url,
        profiles,
        ServedModel(MODEL, "1", LeadScorer(calibrated)),
        ServedModel(MODEL, "2", LeadScorer(baseline)),
        challenger_ids=frozenset(ids[::2]),
    )
    answers = _score(core, ids)
    versions = {a["contact_id"]: (a["variant"], a["model_version"]) for a in answers}
    assert versions == {
        c: ("challenger", "2") if i % 2 == 0 else ("champion", "1") for i, c in enumerate(ids)
    }
    assert core.variants["champion"].calls == 0 and core.variants["challenger"].calls == 1
    audits = _stored(url, ids)
    assert {c: audits[c][2][:2] for c in ids} == {
        c: (f"{MODEL}@v{versions[c][1]}", versions[c][0]) for c in ids
    }


def test_refusals_are_answered_and_recorded_on_the_fast_path(
    crm: tuple[str, pd.DataFrame], calibrated: CalibratedPipeline
) -> None:
    url, profiles = crm
    core = Core(url, profiles, ServedModel(MODEL, "1", LeadScorer(calibrated)))
    refusing, unknown = profiles.index[12], str(uuid.uuid4())
    answers = _score(core, [profiles.index[0], refusing, unknown])
    assert answers[0]["score"] >= 0
    assert [(a.status_code, "consent" in a.message) for a in answers[1:2]] == [(403, True)]
    assert answers[2].status_code == 404 and unknown in answers[2].message
    with session_scope(url) as session:
        errors = sorted(
            row.error_message[:3]
            for row in session.scalars(select(AIInteraction))
            if row.error_message
        )
    assert errors == ["403", "404"]


def test_a_batch_of_one_runs_on_the_event_loop(
    crm: tuple[str, pd.DataFrame], calibrated: CalibratedPipeline, monkeypatch: pytest.MonkeyPatch
) -> None:
    url, profiles = crm
    core = Core(url, profiles, ServedModel(MODEL, "1", LeadScorer(calibrated)))
    hops: list[int] = []
    original = asyncio.to_thread

    async def counted(function: Any, *args: Any) -> Any:
        hops.append(len(args[0]))
        return await original(function, *args)

    monkeypatch.setattr(asyncio, "to_thread", counted)
    _score(core, [profiles.index[0]])
    assert hops == []  # an idle replica's request: no hop to a worker thread and back
    _score(core, list(profiles.index[1:4]))
    assert hops == [3]  # a batch under load: one worker-thread call for all of it
