"""The two deal models (days to close, win probability), their baselines and fitting."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from sklearn.pipeline import Pipeline
from xgboost import XGBClassifier, XGBRegressor

from pipelines.datasets import MavenCRM
from training.deal_data import (
    CLOSED_STAGES,
    DAYS_PARAMS,
    FEATURE_COLUMNS,
    WIN_PARAMS,
    enrich_deals,
)
from training.estimators import encoded_pipeline
from training.explain import TreeShapExplainer


def build_days_pipeline(
    columns: Sequence[str] = FEATURE_COLUMNS, params: Mapping[str, Any] | None = None
) -> Pipeline:
    """Return an unfitted ``encode -> XGBRegressor`` pipeline (native categoricals)."""
    model = XGBRegressor(
        enable_categorical=True,
        tree_method="hist",
        objective="reg:squarederror",
        n_jobs=1,
        **dict(params or DAYS_PARAMS),
    )
    return encoded_pipeline(columns, model)


def build_win_pipeline(
    columns: Sequence[str] = FEATURE_COLUMNS, params: Mapping[str, Any] | None = None
) -> Pipeline:
    """Return an unfitted ``encode -> XGBClassifier`` pipeline (native categoricals)."""
    model = XGBClassifier(
        enable_categorical=True,
        tree_method="hist",
        eval_metric="logloss",
        n_jobs=1,
        **dict(params or WIN_PARAMS),
    )
    return encoded_pipeline(columns, model)


@dataclass(frozen=True)
class MedianDaysBaseline:
    """The spec's "median days-to-close by stage", made honest.

    For a closed deal the stage *is* the outcome (Won/Lost) and for an open deal it is always
    Engaging, so grouping by stage either leaks the answer or collapses to one number. The stage
    that is known when a deal is engaged and differs between deals is the product being sold, so
    the baseline is the training-set median days-to-close by ``product``, falling back to the
    overall training median for an unseen product.
    """

    by_product: dict[str, float]
    overall: float

    def predict(self, frame: pd.DataFrame) -> np.ndarray:
        """Return the baseline days-to-close of each row."""
        return frame["product"].map(self.by_product).fillna(self.overall).to_numpy(dtype=float)


def median_days_baseline(train: pd.DataFrame) -> MedianDaysBaseline:
    """Fit :class:`MedianDaysBaseline` on closed training deals."""
    by_product = train.groupby("product")["days_to_close"].median()
    return MedianDaysBaseline(
        by_product={str(k): float(v) for k, v in by_product.items()},
        overall=float(train["days_to_close"].median()),
    )


@dataclass(frozen=True)
class AgentWinRateBaseline:
    """Win probability = the agent's historical win rate (overall rate for an unseen agent)."""

    by_agent: dict[str, float]
    overall: float

    def predict_proba(self, frame: pd.DataFrame) -> np.ndarray:
        """Return the baseline probability of winning each row."""
        return frame["sales_agent"].map(self.by_agent).fillna(self.overall).to_numpy(dtype=float)


def agent_win_rate_baseline(train: pd.DataFrame) -> AgentWinRateBaseline:
    """Fit :class:`AgentWinRateBaseline` on closed training deals."""
    by_agent = train.groupby("sales_agent")["is_won"].mean()
    return AgentWinRateBaseline(
        by_agent={str(k): float(v) for k, v in by_agent.items()},
        overall=float(train["is_won"].mean()),
    )


def regression_metrics(y_true: np.ndarray, predicted: np.ndarray) -> dict[str, float]:
    """Return MAE, RMSE and median absolute error (days)."""
    errors = np.asarray(predicted, dtype=float) - np.asarray(y_true, dtype=float)
    return {
        "mae": float(np.mean(np.abs(errors))),
        "rmse": float(np.sqrt(np.mean(errors**2))),
        "median_ae": float(np.median(np.abs(errors))),
    }


@dataclass
class DealModels:
    """The two fitted pipelines plus the lookups needed to score a raw pipeline row.

    Args:
        days_model: ``encode -> XGBRegressor`` predicting days-to-close.
        win_model: ``encode -> XGBClassifier`` predicting the probability of winning.
        feature_columns: The raw input columns of both pipelines.
        accounts: Optional ``accounts.csv`` lookup (used when a row lacks the account columns).
        products: Optional ``products.csv`` lookup.
        teams: Optional ``sales_teams.csv`` lookup.

    """

    days_model: Pipeline
    win_model: Pipeline
    feature_columns: list[str] = field(default_factory=lambda: list(FEATURE_COLUMNS))
    accounts: pd.DataFrame | None = None
    products: pd.DataFrame | None = None
    teams: pd.DataFrame | None = None
    _explainers: dict[str, TreeShapExplainer] = field(default_factory=dict, repr=False)

    def features(self, deals: pd.DataFrame) -> pd.DataFrame:
        """Return the model inputs of raw or enriched deal rows (absent columns become NaN)."""
        enriched = enrich_deals(deals, self.accounts, self.products, self.teams)
        return enriched.reindex(columns=self.feature_columns)

    def predict_days(self, deals: pd.DataFrame) -> np.ndarray:
        """Return predicted days-to-close (clipped at 0)."""
        return np.clip(self.days_model.predict(self.features(deals)), 0, None)

    def predict_win(self, deals: pd.DataFrame) -> np.ndarray:
        """Return the predicted probability of winning."""
        return self.win_model.predict_proba(self.features(deals))[:, 1]

    def explainer(self, which: str) -> TreeShapExplainer:
        """Return the (cached) SHAP explainer of ``days`` or ``win``."""
        if which not in self._explainers:
            model = self.days_model if which == "days" else self.win_model
            self._explainers[which] = TreeShapExplainer(model)
        return self._explainers[which]


def fit_deal_models(
    train: pd.DataFrame,
    maven: MavenCRM | None = None,
    days_params: Mapping[str, Any] | None = None,
    win_params: Mapping[str, Any] | None = None,
) -> DealModels:
    """Fit the days-to-close and win-probability pipelines on closed deals.

    Args:
        train: Closed deals (rows of :func:`build_deal_frame`).
        maven: The lookups to keep for scoring raw rows later (optional).
        days_params: XGBRegressor hyper-parameters (default :data:`DAYS_PARAMS`).
        win_params: XGBClassifier hyper-parameters (default :data:`WIN_PARAMS`).

    Returns:
        The fitted models.

    """
    if not train["deal_stage"].isin(CLOSED_STAGES).all():
        raise ValueError("deal models learn from closed (Won/Lost) deals only")
    inputs = train.loc[:, list(FEATURE_COLUMNS)]
    days_model = build_days_pipeline(params=days_params).fit(inputs, train["days_to_close"])
    win_model = build_win_pipeline(params=win_params).fit(inputs, train["is_won"].astype(int))
    return DealModels(
        days_model=days_model,
        win_model=win_model,
        accounts=maven.accounts if maven else None,
        products=maven.products if maven else None,
        teams=maven.teams if maven else None,
    )
