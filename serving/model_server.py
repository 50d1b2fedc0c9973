"""Model deployments: every served model at one MLflow alias (``champion`` or ``challenger``).

The application binds :class:`ModelServer` twice, as the ``ChampionModels`` and
``ChallengerModels`` deployments. Each replica loads, at its alias, the lead-scoring models
(``lead_scoring`` for Leads.csv profiles, ``lead_scoring_crm`` for Feast rows), the ``churn``
model with its account table, and the deal models (``deal_velocity``, ``win_probability``)
with the Maven pipeline. The gateway (:mod:`serving.app`) owns the data lookups, the A/B
routing, the cache and the audit trail; it sends each request's stored rows to the deployment
of the variant it chose.

A model without the alias is simply not served by that deployment (the gateway routes its
traffic to the champion). Bumping ``models_generation`` in the deployment's ``user_config``
reloads the aliases in place, without a restart: that is how a promotion or a rollback reaches
running replicas (``haste ab reload``).
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import mlflow
from ray import serve

from haste.settings import Settings
from serving.config import ServeConfig
from serving.lookup import ServedModel, load_served_model
from serving.predictions import AccountChurnPredictor, DealPredictor
from training.registry import NoChampionError

logger = logging.getLogger("ray.serve")

CHAMPION_DEPLOYMENT = "ChampionModels"
CHALLENGER_DEPLOYMENT = "ChallengerModels"


class ModelUnavailableError(LookupError):
    """Raised when the deployment does not serve the requested model at its alias."""


def load_lead_models(config: ServeConfig, alias: str) -> dict[str, ServedModel]:
    """Load the lead models holding ``alias`` (profile and CRM); missing ones are skipped.

    Args:
        config: The application config (model names, ``top_k``).
        alias: ``champion`` or ``challenger``.

    Returns:
        Model name -> loaded model.
    """
    leads = {}
    for name in (config.model_name, config.crm_model_name):
        model = load_served_model(name, alias, config.top_k) if name else None
        if model is not None:
            leads[name] = model
    return leads


def score_lead_rows(
    model: ServedModel, rows: list[dict[str, Any]], contact_ids: list[str]
) -> list[dict[str, Any]]:
    """Score and explain stored rows with one lead model (one vectorised call).

    The one scoring step of both lead-score paths: the model deployments' and the gateway's
    own champion (:mod:`serving.lead_batch`), so both answer the same.

    Args:
        model: The lead model.
        rows: One stored row per contact.
        contact_ids: The contacts, in the same order.

    Returns:
        One payload per contact: the score with its explanation, ``model_name``,
        ``model_version`` and the model inputs under ``features``.
    """
    payloads = []
    for features, score in model.score_rows(rows, contact_ids):
        payload = score.to_dict(include_explanation=True)
        payload.update(model_name=model.name, model_version=model.version, features=features)
        payloads.append(payload)
    return payloads


@dataclass
class AliasModels:
    """Every served model holding one alias (framework-free: usable without Ray).

    Attributes:
        alias: The MLflow alias.
        leads: Lead models by name.
        churn: The churn predictor, or None.
        deals: The deal predictor, or None.
    """

    alias: str
    leads: dict[str, ServedModel] = field(default_factory=dict)
    churn: AccountChurnPredictor | None = None
    deals: DealPredictor | None = None

    @classmethod
    def load(cls, config: ServeConfig, alias: str) -> AliasModels:
        """Load every model holding ``alias`` (missing ones are logged and skipped).

        Args:
            config: The application config (tracking URI, feature paths).
            alias: ``champion`` or ``challenger``.

        Returns:
            The loaded models.
        """
        leads = load_lead_models(config, alias)
        churn = None
        if config.churn_features_path:
            churn = AccountChurnPredictor.load(Path(config.churn_features_path), alias)
        deals = None
        try:
            deals = DealPredictor.load(Settings(**config.settings).datasets_dir, alias)
        except (NoChampionError, FileNotFoundError) as error:
            logger.warning("not serving deal predictions at %s: %s", alias, error)
        return cls(alias=alias, leads=leads, churn=churn, deals=deals)

    def versions(self) -> dict[str, str]:
        """Return every served model name -> version."""
        versions = {name: model.version for name, model in self.leads.items()}
        if self.churn is not None:
            versions[self.churn.model.name] = self.churn.model.version
        if self.deals is not None:
            versions.update(self.deals.versions)
        return versions

    def score_leads(
        self, model_name: str, rows: list[dict[str, Any]], contact_ids: list[str]
    ) -> list[dict[str, Any]]:
        """Score and explain stored rows with one lead model (one vectorised call).

        Args:
            model_name: ``lead_scoring`` or ``lead_scoring_crm``.
            rows: One stored row per contact.
            contact_ids: The contacts, in the same order.

        Returns:
            One payload per contact: the score with its explanation, ``model_name``,
            ``model_version`` and the model inputs under ``features``.

        Raises:
            ModelUnavailableError: When this alias has no such model.
        """
        model = self.leads.get(model_name)
        if model is None:
            raise ModelUnavailableError(f"no {self.alias} version of {model_name} is served")
        return score_lead_rows(model, rows, contact_ids)

    def score_calls(
        self, calls: list[tuple[str, list[dict[str, Any]], list[str]]]
    ) -> list[list[dict[str, Any]] | ModelUnavailableError]:
        """Score several :meth:`score_leads` calls with one vectorised call per model.

        Args:
            calls: ``(model name, rows, contact ids)`` per call.

        Returns:
            Per call, its payloads, or the :class:`ModelUnavailableError` of its model.
        """
        results: list[list[dict[str, Any]] | ModelUnavailableError] = [[] for _ in calls]
        by_model: dict[str, list[int]] = {}
        for index, (name, _, _) in enumerate(calls):
            by_model.setdefault(name, []).append(index)
        for name, indexes in by_model.items():
            rows = [row for i in indexes for row in calls[i][1]]
            ids = [contact for i in indexes for contact in calls[i][2]]
            try:
                payloads = self.score_leads(name, rows, ids)
            except ModelUnavailableError as error:
                for i in indexes:
                    results[i] = error
                continue
            start = 0
            for i in indexes:
                count = len(calls[i][1])
                results[i] = payloads[start : start + count]
                start += count
        return results

    def what_if(
        self,
        model_name: str,
        row: dict[str, Any],
        contact_id: str,
        target_band: str,
        k: int,
        vary: list[str] | None,
    ) -> dict[str, Any]:
        """Counterfactual advice for a stored row (see :func:`training.counterfactuals`).

        Returns:
            :meth:`WhatIfResult.to_dict` with ``model_name`` and ``model_version``.

        Raises:
            ModelUnavailableError: When this alias has no such model.
            VaryError: When ``vary`` names a feature that may not change.
        """
        from training.counterfactual_config import load_counterfactual_config
        from training.counterfactuals import explain_what_if

        model = self.leads.get(model_name)
        if model is None:
            raise ModelUnavailableError(f"no {self.alias} version of {model_name} is served")
        config = load_counterfactual_config()
        result = explain_what_if(
            model.scorer, row, contact_id, model_name, config, target_band, k, vary
        )
        return {**result.to_dict(), "model_name": model.name, "model_version": model.version}

    def predict_deal(self, deal_id: str) -> dict[str, Any] | None:
        """Predict a deal (None: unknown deal); see :meth:`DealPredictor.predict`.

        Raises:
            ModelUnavailableError: When this alias has no deal models.
        """
        if self.deals is None:
            raise ModelUnavailableError(f"no {self.alias} deal models are served")
        prediction = self.deals.predict(deal_id)
        if prediction is not None:
            prediction["model_versions"] = dict(self.deals.versions)
            prediction["model_ref"] = self.deals.model_ref
        return prediction

    def predict_churn(self, account_id: str) -> dict[str, Any] | None:
        """Score an account's churn risk (None: unknown account).

        Returns:
            The score document with ``model_name``, ``model_version`` and ``features``.

        Raises:
            ModelUnavailableError: When this alias has no churn model.
        """
        if self.churn is None:
            raise ModelUnavailableError(f"no {self.alias} churn model is served")
        scored = self.churn.predict(account_id)
        if scored is None:
            return None
        payload, features = scored
        model = self.churn.model
        return {
            **payload,
            "model_name": model.name,
            "model_version": model.version,
            "features": features,
        }


@serve.deployment(name=CHAMPION_DEPLOYMENT, ray_actor_options={"num_cpus": 0.25})
class ModelServer:
    """A Ray Serve deployment of :class:`AliasModels` (bound once per alias).

    Args:
        config: The application config.
        alias: The MLflow alias this deployment serves.
    """

    def __init__(self, config: ServeConfig, alias: str) -> None:
        self.config = config
        self.alias = alias
        self.generation: object = None
        mlflow.set_tracking_uri(config.tracking_uri)
        mlflow.set_registry_uri(config.tracking_uri)
        self.models = AliasModels.load(config, alias)
        logger.info("%s models: %s", alias, self.models.versions())

    def reconfigure(self, user_config: dict[str, Any]) -> None:
        """Reload the alias's models when ``models_generation`` changes (no restart)."""
        generation = user_config.get("models_generation")
        if self.generation is not None and generation != self.generation:
            self.models = AliasModels.load(self.config, self.alias)
            logger.info("reloaded %s models: %s", self.alias, self.models.versions())
        self.generation = generation

    def versions(self) -> dict[str, str]:
        """Return every served model name -> version."""
        return self.models.versions()

    async def score_leads(
        self, model_name: str, rows: list[dict[str, Any]], contact_ids: list[str]
    ) -> list[dict[str, Any]]:
        """See :meth:`AliasModels.score_leads` (calls are merged by ``@serve.batch``)."""
        result = await self._score_batched((model_name, rows, contact_ids))
        if isinstance(result, ModelUnavailableError):
            raise result
        return result

    @serve.batch(max_batch_size=8, batch_wait_timeout_s=0.001)
    async def _score_batched(
        self, calls: list[tuple[str, list[dict[str, Any]], list[str]]]
    ) -> list[list[dict[str, Any]] | ModelUnavailableError]:
        """Dynamic batching: the calls of every gateway replica within 1 ms, scored together."""
        return await asyncio.to_thread(self.models.score_calls, calls)

    def predict_deal(self, deal_id: str) -> dict[str, Any] | None:
        """See :meth:`AliasModels.predict_deal`."""
        return self.models.predict_deal(deal_id)

    def predict_churn(self, account_id: str) -> dict[str, Any] | None:
        """See :meth:`AliasModels.predict_churn`."""
        return self.models.predict_churn(account_id)

    async def what_if(self, *args: Any) -> dict[str, Any]:
        """See :meth:`AliasModels.what_if` (a search of about a second: off the event loop)."""
        return await asyncio.to_thread(self.models.what_if, *args)


def served_model_names(config: ServeConfig) -> list[str]:
    """Return the registered models the application serves."""
    from training.deal_data import DAYS_MODEL_NAME, WIN_MODEL_NAME

    names = [config.model_name, config.crm_model_name, "churn", DAYS_MODEL_NAME, WIN_MODEL_NAME]
    return [name for name in names if name]
