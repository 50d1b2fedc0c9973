"""Deal and account predictions served by the gateway (framework-free).

* :class:`DealPredictor`: days to close, expected close date and win probability of a Maven CRM
  opportunity, from the ``deal_velocity`` and ``win_probability`` champions, with SHAP factors;
* :class:`AccountChurnPredictor`: churn risk of a Telco account from the ``churn`` champion and
  the account's row of the churn feature table, with SHAP factors.

Each returns None for an unknown id (the API answers 404) and raises
:class:`training.registry.NoChampionError` at load time when the model was never trained.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from serving.lookup import ServedModel, feature_snapshot, load_served_model
from training.registry import CHAMPION, NoChampionError, alias_versions, load_alias_model

logger = logging.getLogger("ray.serve")


@dataclass
class DealPredictor:
    """Score Maven CRM opportunities with the deal champions.

    Attributes:
        models: The fitted :class:`training.deal_models.DealModels`.
        deals: The enriched pipeline indexed by lower-case opportunity id.
        as_of: The export's last date ("today" of the data).
        versions: Served versions (``deal_velocity``, ``win_probability``).
    """

    models: Any
    deals: pd.DataFrame
    as_of: pd.Timestamp
    versions: dict[str, str]

    @classmethod
    def load(cls, datasets_dir: Path, alias: str = CHAMPION) -> DealPredictor:
        """Load both models at ``alias`` from MLflow and the Maven pipeline from the datasets.

        For the ``challenger`` alias, a model without a challenger is served by its champion
        (so a new deal-velocity challenger is tested beside the current win model).

        Args:
            datasets_dir: The shared datasets folder.
            alias: MLflow alias to serve.

        Returns:
            The predictor.

        Raises:
            NoChampionError: When neither model holds ``alias`` (or a champion is missing).
        """
        from pipelines.datasets import load_maven_crm
        from training.deal_data import (
            DAYS_MODEL_NAME,
            ID_COLUMN,
            WIN_MODEL_NAME,
            build_deal_frame,
            data_end,
        )
        from training.deal_models import DealModels

        held = alias_versions([DAYS_MODEL_NAME, WIN_MODEL_NAME], alias)
        if alias != CHAMPION and not held:
            raise NoChampionError(f"no {alias!r} version of the deal models")
        days_model, days_version = load_alias_model(
            DAYS_MODEL_NAME, alias if DAYS_MODEL_NAME in held else CHAMPION
        )
        win_model, win_version = load_alias_model(
            WIN_MODEL_NAME, alias if WIN_MODEL_NAME in held else CHAMPION
        )
        maven = load_maven_crm(datasets_dir)
        frame = build_deal_frame(maven)
        models = DealModels(
            days_model=days_model,
            win_model=win_model,
            accounts=maven.accounts,
            products=maven.products,
            teams=maven.teams,
        )
        deals = frame.set_index(frame[ID_COLUMN].astype(str).str.lower())
        return cls(
            models=models,
            deals=deals,
            as_of=data_end(frame),
            versions={
                DAYS_MODEL_NAME: str(days_version.version),
                WIN_MODEL_NAME: str(win_version.version),
            },
        )

    @property
    def model_ref(self) -> str:
        """Return how the audit trail names the two models."""
        return ",".join(f"{name}@v{version}" for name, version in self.versions.items())

    def predict(self, deal_id: str, top_k: int = 3) -> dict[str, Any] | None:
        """Predict one deal.

        Args:
            deal_id: Opportunity id (case-insensitive).
            top_k: SHAP factors per model.

        Returns:
            The prediction (see :func:`training.deal_predict.predict_deal`) plus the deal's
            stage, agent, product and account; None when the deal is unknown.
        """
        from training.deal_predict import predict_deal

        key = deal_id.strip().lower()
        if key not in self.deals.index:
            return None
        row = self.deals.loc[key]
        if isinstance(row, pd.DataFrame):
            row = row.iloc[0]
        prediction = predict_deal(self.models, row, top_k=top_k, as_of=self.as_of)
        for column in ("deal_stage", "sales_agent", "product", "account"):
            value = row.get(column)
            prediction[column] = None if pd.isna(value) else str(value)
        prediction["as_of"] = self.as_of.date().isoformat()
        return prediction


@dataclass
class AccountChurnPredictor:
    """Score accounts (Telco customers) with the churn champion.

    Attributes:
        model: The served churn champion.
        table: Churn feature table indexed by lower-case account id.
    """

    model: ServedModel
    table: pd.DataFrame

    @classmethod
    def load(
        cls,
        features_path: Path,
        alias: str = CHAMPION,
        id_column: str = "customerID",
        top_k: int = 5,
    ) -> Any:
        """Load the model holding ``alias`` and the feature table.

        Args:
            features_path: The churn feature table written by the pipeline.
            alias: MLflow alias to serve.
            id_column: Account id column.
            top_k: SHAP factors returned.

        Returns:
            The predictor, or None when the model or the table is missing (logged).
        """
        model = load_served_model("churn", alias, top_k)
        if model is None:
            return None
        if not features_path.exists():
            logger.warning("not serving churn: no feature table at %s", features_path)
            return None
        table = pd.read_parquet(features_path)
        return cls(model=model, table=table.set_index(table[id_column].astype(str).str.lower()))

    def predict(self, account_id: str) -> tuple[dict[str, Any], dict[str, Any]] | None:
        """Score one account.

        Args:
            account_id: Account id (case-insensitive).

        Returns:
            The score document and the feature snapshot, or None for an unknown account.
        """
        key = account_id.strip().lower()
        if key not in self.table.index:
            return None
        records = self.table.loc[[key]]
        inputs, score = self.model.score_contact(records, account_id)
        payload = score.to_dict(include_explanation=True)
        payload.pop("contact_id", None)
        payload["account_id"] = account_id
        payload["risk_band"] = payload.pop("band")
        payload["recommended_actions"] = retention_actions(score.score)
        return payload, feature_snapshot(inputs)


def retention_actions(risk_score: int) -> list[str]:
    """Return the customer-success playbook for a churn risk score (0-100).

    Args:
        risk_score: Churn probability x 100.

    Returns:
        Actions, most urgent first.
    """
    if risk_score >= 70:
        return [
            "Call the account owner this week: review the contract and open issues",
            "Offer a longer-term contract or a loyalty discount",
            "Escalate to the customer-success manager",
        ]
    if risk_score >= 40:
        return [
            "Schedule a check-in and a product-usage review",
            "Share onboarding material for unused features",
        ]
    return ["Keep the regular cadence; consider an upsell conversation"]
