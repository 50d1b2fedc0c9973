"""Bias audits of served models and the cost of Fairlearn mitigations (framework-free).

* :func:`audit_champion` scores fresh labelled rows with a model and audits every sensitive
  column of its config with Fairlearn: per-group selection rate, TPR, FPR, accuracy and ROC AUC
  (a :class:`fairlearn.metrics.MetricFrame`, see :func:`training.fairness.audit_fairness`),
  demographic parity difference/ratio and equalized odds difference/ratio. Alerts are raised
  with the thresholds of the registration gate (``config.fairness``).
* :func:`compare_mitigations` compares the unmitigated model with two mitigations on a split of
  the same rows: :class:`~fairlearn.postprocessing.ThresholdOptimizer` (equalized odds, on top
  of the prefit model) and :class:`~fairlearn.reductions.ExponentiatedGradient` (equalized odds,
  over a logistic regression on one-hot / standardised inputs), with the accuracy / ROC AUC
  they cost and the disparity they remove.
* :func:`render_bias_report` renders both as Markdown and as a self-contained HTML page with a
  bar plot of per-group selection rate and TPR.
"""

from __future__ import annotations

import base64
import html
import io
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from fairlearn.metrics import (
    MetricFrame,
    false_positive_rate,
    selection_rate,
    true_positive_rate,
)
from fairlearn.postprocessing import ThresholdOptimizer
from fairlearn.reductions import EqualizedOdds, ExponentiatedGradient
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import accuracy_score, roc_auc_score
from sklearn.model_selection import StratifiedKFold
from threadpoolctl import threadpool_limits

from monitoring.privacy import build_linear_preprocessor
from training.config import TrainingConfig
from training.dataset import prepare_labelled_data
from training.fairness import audit_fairness

logger = logging.getLogger(__name__)

UNMITIGATED = "unmitigated model"
THRESHOLD_OPTIMIZER = "ThresholdOptimizer (equalized odds)"
LOGISTIC_BASELINE = "logistic regression (unmitigated)"
EXPONENTIATED_GRADIENT = "ExponentiatedGradient (equalized odds, logistic)"
#: Rows of the mitigation table, in order.
METHODS = (UNMITIGATED, THRESHOLD_OPTIMIZER, LOGISTIC_BASELINE, EXPONENTIATED_GRADIENT)


# --- audit -------------------------------------------------------------------------------------


@dataclass
class ColumnBiasAudit:
    """Audit of one sensitive column.

    Attributes:
        column: The sensitive column.
        by_group: One row per audited group: count, selection rate, accuracy, TPR, FPR,
            ROC AUC and base rate.
        disparities: Demographic parity difference/ratio, equalized odds difference/ratio,
            TPR difference and the worst group's ROC AUC.
        alerts: Thresholds of ``config.fairness`` that are exceeded.
        excluded_groups: Groups under ``min_group_size`` rows (not audited: too noisy).

    """

    column: str
    by_group: pd.DataFrame
    disparities: dict[str, float]
    alerts: list[str] = field(default_factory=list)
    excluded_groups: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready summary."""
        return {
            "column": self.column,
            "disparities": {k: _round(v) for k, v in self.disparities.items()},
            "alerts": self.alerts,
            "excluded_groups": self.excluded_groups,
            "by_group": _records(self.by_group),
        }


@dataclass
class BiasAuditResult:
    """Bias audit of one model over every sensitive column of its config."""

    model_name: str
    n_rows: int
    threshold: float
    columns: dict[str, ColumnBiasAudit]
    model_version: str | None = None

    @property
    def alerts(self) -> list[str]:
        """Return every alert, prefixed with the model and column."""
        return [
            f"{self.model_name} / {name}: {alert}"
            for name, audit in self.columns.items()
            for alert in audit.alerts
        ]

    @property
    def passed(self) -> bool:
        """Return whether no threshold is exceeded."""
        return not self.alerts

    def metrics(self) -> dict[str, float]:
        """Return ``<column>.<disparity>`` -> value (defined values only), e.g. for MLflow."""
        return {
            f"{_metric_key(name)}.{metric}": float(value)
            for name, audit in self.columns.items()
            for metric, value in audit.disparities.items()
            if value is not None and np.isfinite(value)
        }

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready summary."""
        return {
            "model_name": self.model_name,
            "model_version": self.model_version,
            "n_rows": self.n_rows,
            "threshold": self.threshold,
            "passed": self.passed,
            "alerts": self.alerts,
            "columns": {name: audit.to_dict() for name, audit in self.columns.items()},
        }


def _round(value: float) -> float | None:
    return None if value is None or not np.isfinite(value) else round(float(value), 4)


def _records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    out = frame.reset_index().to_dict(orient="records")
    return [
        {k: (_round(v) if isinstance(v, float | np.floating) else v) for k, v in row.items()}
        for row in out
    ]


def _metric_key(name: str) -> str:
    return "".join(ch if ch.isalnum() or ch in "_-." else "_" for ch in name)


def _ratio(values: pd.Series) -> float:
    """Return min / max over the defined values (1.0 when all are 0, NaN when < 2 defined)."""
    defined = values.dropna().astype(float)
    if len(defined) < 2:
        return float("nan")
    top = defined.max()
    return 1.0 if top == 0 else float(defined.min() / top)


def audit_scores(
    labels: pd.Series,
    probabilities: np.ndarray,
    groups: pd.DataFrame,
    config: TrainingConfig,
    *,
    model_version: str | None = None,
) -> BiasAuditResult:
    """Audit already computed scores (see :func:`audit_champion`)."""
    threshold = config.evaluate.threshold
    columns: dict[str, ColumnBiasAudit] = {}
    for column in groups.columns:
        report = audit_fairness(labels, probabilities, groups[column], config.fairness, threshold)
        by_group = report.by_group
        disparities = dict(report.disparities)
        if by_group.empty:
            disparities.update(
                demographic_parity_ratio=float("nan"), equalized_odds_ratio=float("nan")
            )
        else:
            tpr_ratio = _ratio(by_group["true_positive_rate"])
            fpr_ratio = _ratio(by_group["false_positive_rate"])
            disparities["demographic_parity_ratio"] = _ratio(by_group["selection_rate"])
            disparities["equalized_odds_ratio"] = float(np.nanmin([tpr_ratio, fpr_ratio]))
        order = [
            "demographic_parity_difference",
            "demographic_parity_ratio",
            "equalized_odds_difference",
            "equalized_odds_ratio",
            "true_positive_rate_difference",
            "min_group_roc_auc",
        ]
        columns[column] = ColumnBiasAudit(
            column=column,
            by_group=by_group,
            disparities={k: disparities[k] for k in order if k in disparities},
            alerts=list(report.violations),
            excluded_groups=list(report.excluded_groups),
        )
    result = BiasAuditResult(
        model_name=config.model_name,
        n_rows=len(labels),
        threshold=threshold,
        columns=columns,
        model_version=model_version,
    )
    logger.info(
        "bias audit %s (%d rows): %s",
        config.model_name,
        len(labels),
        "; ".join(result.alerts) or "no alert",
    )
    return result


def audit_champion(
    model: Any, frame: pd.DataFrame, config: TrainingConfig, *, model_version: str | None = None
) -> BiasAuditResult:
    """Score labelled rows with a model and audit every sensitive column of its config.

    Per group (a Fairlearn ``MetricFrame``): count, selection rate, accuracy, TPR, FPR, ROC AUC
    and base rate; across groups: demographic parity difference/ratio, equalized odds
    difference/ratio, TPR difference, worst group ROC AUC. Groups under
    ``config.fairness.min_group_size`` rows are listed but not audited. An alert is raised for
    each gate threshold (equalized odds difference, TPR difference, worst group ROC AUC) that is
    exceeded.

    Args:
        model: Anything with ``predict_proba`` over the config's raw input columns (the
            registered champion pipeline).
        frame: Fresh labelled rows with the target, id, inputs and sensitive columns.
        config: The model's training config (threshold, sensitive columns, gate thresholds).
        model_version: Registry version, recorded in the result.

    Returns:
        The audit; ``alerts`` is empty when every threshold is met.

    """
    data = prepare_labelled_data(frame, config)
    probabilities = np.asarray(model.predict_proba(data.features))[:, 1]
    return audit_scores(
        data.labels, probabilities, data.groups, config, model_version=model_version
    )


# --- mitigations -------------------------------------------------------------------------------


@dataclass
class MitigationComparison:
    """Unmitigated model vs Fairlearn mitigations over one sensitive column.

    Attributes:
        column: The sensitive column.
        table: One row per method: accuracy, ROC AUC, demographic parity difference/ratio,
            equalized odds difference, and the cost / reduction relative to the unmitigated
            model (``accuracy_cost``, ``roc_auc_cost``: positive = worse; ``eod_reduction``:
            positive = fairer).
        by_group: Method -> per-group selection rate and TPR on the evaluation rows.
        n_fit: Rows each cross-fitted mitigation was fitted on (mean over folds).
        n_eval: Rows every method is evaluated on (out of fold for the mitigations).
        excluded_groups: Groups too small to take part.

    """

    column: str
    table: pd.DataFrame
    by_group: dict[str, pd.DataFrame]
    n_fit: int
    n_eval: int
    excluded_groups: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready summary."""
        return {
            "column": self.column,
            "n_fit": self.n_fit,
            "n_eval": self.n_eval,
            "excluded_groups": self.excluded_groups,
            "table": _records(self.table),
        }

    def to_markdown(self) -> str:
        """Return the comparison table with a one-line reading guide."""
        return "\n".join(
            [
                f"### Mitigations over `{self.column}`",
                "",
                f"Cross-fitted: each mitigation fitted on ~{self.n_fit} rows predicts the other "
                f"rows; every method is evaluated on all {self.n_eval} rows"
                + (
                    f" (groups under the minimum size left out: {', '.join(self.excluded_groups)})"
                    if self.excluded_groups
                    else ""
                )
                + ". Costs are relative to the unmitigated model (positive = worse); "
                "`eod_reduction` > 0 means a smaller equalized odds difference.",
                "",
                self.table.round(4).to_markdown(),
            ]
        )


def _method_row(
    y: np.ndarray, predicted: np.ndarray, scores: np.ndarray, groups: np.ndarray
) -> tuple[dict[str, float], pd.DataFrame]:
    """Overall metrics, Fairlearn disparities and per-group rates of one method's predictions.

    One :class:`~fairlearn.metrics.MetricFrame` gives what ``demographic_parity_*`` and
    ``equalized_odds_*`` of :mod:`fairlearn.metrics` compute (between-group difference / ratio
    of selection rate, TPR and FPR), without building a frame per metric.
    """
    frame = MetricFrame(
        metrics={
            "selection_rate": selection_rate,
            "true_positive_rate": true_positive_rate,
            "false_positive_rate": false_positive_rate,
        },
        y_true=y,
        y_pred=predicted,
        sensitive_features=groups,
    )
    difference = frame.difference(method="between_groups")
    ratio = frame.ratio(method="between_groups")
    row = {
        "accuracy": float(accuracy_score(y, predicted)),
        "roc_auc": float(roc_auc_score(y, scores)) if len(np.unique(y)) == 2 else float("nan"),
        "selection_rate": float(np.mean(predicted)),
        "demographic_parity_difference": float(difference["selection_rate"]),
        "demographic_parity_ratio": float(ratio["selection_rate"]),
        "equalized_odds_difference": float(
            max(difference["true_positive_rate"], difference["false_positive_rate"])
        ),
        "equalized_odds_ratio": float(
            min(ratio["true_positive_rate"], ratio["false_positive_rate"])
        ),
    }
    return row, frame.by_group[["selection_rate", "true_positive_rate"]]


class _Float64Proba(BaseEstimator, ClassifierMixin):
    """Expose a fitted model's ``predict_proba`` as float64.

    XGBoost returns float32 probabilities, which ThresholdOptimizer mixes with float64
    interpolations (a pandas dtype warning today, an error in future pandas).
    """

    def __init__(self, model: Any) -> None:
        self.model = model
        self.classes_ = np.array([0, 1])  # marks the wrapper as fitted for check_is_fitted

    def fit(self, X: Any, y: Any) -> _Float64Proba:
        """Refuse to refit: the wrapped model is prefit."""
        raise NotImplementedError("the wrapped model is prefit")

    def predict_proba(self, X: Any) -> np.ndarray:
        """Return the wrapped model's probabilities as float64."""
        return np.asarray(self.model.predict_proba(X), dtype=np.float64)


def _fit_predict_mitigations(
    model: Any,
    x_fit: pd.DataFrame,
    y_fit: np.ndarray,
    g_fit: np.ndarray,
    x_eval: pd.DataFrame,
    g_eval: np.ndarray,
    seed: int,
    eg_max_iter: int,
) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Fit the mitigations on one part; return method -> (0/1 predictions, scores) on the other.

    Scores of the randomised classifiers are their probability of predicting 1.
    """
    out: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    optimizer = ThresholdOptimizer(
        estimator=_Float64Proba(model),
        constraints="equalized_odds",
        prefit=True,
        predict_method="predict_proba",
    )
    optimizer.fit(x_fit, y_fit, sensitive_features=g_fit)
    out[THRESHOLD_OPTIMIZER] = (
        np.asarray(optimizer.predict(x_eval, sensitive_features=g_eval, random_state=seed)),
        np.asarray(optimizer._pmf_predict(x_eval, sensitive_features=g_eval))[:, 1],
    )
    preprocess = build_linear_preprocessor(x_fit)
    matrix_fit = preprocess.fit_transform(x_fit)
    matrix_eval = preprocess.transform(x_eval)
    # One BLAS thread: small logistic fits only lose to thread start-up and contention.
    with threadpool_limits(limits=1):
        baseline = LogisticRegression(max_iter=1000).fit(matrix_fit, y_fit)
        out[LOGISTIC_BASELINE] = (
            baseline.predict(matrix_eval),
            baseline.predict_proba(matrix_eval)[:, 1],
        )
        reduction = ExponentiatedGradient(
            LogisticRegression(max_iter=1000), constraints=EqualizedOdds(), max_iter=eg_max_iter
        )
        reduction.fit(matrix_fit, y_fit, sensitive_features=g_fit)
        out[EXPONENTIATED_GRADIENT] = (
            np.asarray(reduction.predict(matrix_eval, random_state=seed)),
            np.asarray(reduction._pmf_predict(matrix_eval))[:, 1],
        )
    return out


def compare_mitigations(
    model: Any,
    frame: pd.DataFrame,
    config: TrainingConfig,
    column: str | None = None,
    *,
    folds: int = 2,
    random_state: int | None = None,
    eg_max_iter: int = 30,
) -> MitigationComparison:
    """Compare the unmitigated model with ThresholdOptimizer and ExponentiatedGradient.

    The labelled rows (held out from the model's training) are cross-fitted: split into
    ``folds`` parts stratified on group and label, every mitigation is fitted on the other parts
    and predicts the rows of one part, so each row is scored by mitigations that never saw it
    and every method is evaluated on all rows:

    * the unmitigated model at the config's threshold;
    * ``ThresholdOptimizer(constraints="equalized_odds", prefit=True,
      predict_method="predict_proba")`` over the same model (group-specific, randomised
      thresholds; needs the sensitive attribute at prediction time);
    * a logistic regression on one-hot / standardised inputs, unmitigated (the reference for
      the change of model class) and under ``ExponentiatedGradient(EqualizedOdds())``.

    ROC AUC of the randomised classifiers is that of their probability of predicting 1: close
    to the AUC of a single operating point per group, so lower than a score's by construction.
    Group thresholds fitted on small groups do not always generalise: read ``eod_reduction``
    (measured out of sample) rather than the in-sample promise of the method.

    Args:
        model: The fitted model (``predict_proba`` over the raw input columns).
        frame: Labelled rows the model did not train on.
        config: The model's training config.
        column: Sensitive column; defaults to the config's first one.
        folds: Cross-fitting folds (2: fitted on half the rows).
        random_state: Seed of the folds and of the randomised predictions; defaults to the
            config's split seed.
        eg_max_iter: Iterations of ExponentiatedGradient (each refits a logistic regression).

    Returns:
        The comparison table and per-group rates.

    Raises:
        ValueError: When fewer than two groups have ``min_group_size`` rows, or ``folds < 2``.

    """
    if folds < 2:
        raise ValueError(f"folds must be at least 2, got {folds}")
    column = column or config.fairness.sensitive_column
    seed = config.split.random_state if random_state is None else random_state
    data = prepare_labelled_data(frame, config)
    groups = data.groups[column]
    sizes = groups.value_counts()
    kept = sizes[sizes >= config.fairness.min_group_size].index
    excluded = sorted(str(g) for g in sizes.index.difference(kept))
    if len(kept) < 2:
        raise ValueError(
            f"{column}: fewer than two groups with >= {config.fairness.min_group_size} rows; "
            "no disparity to mitigate"
        )
    mask = groups.isin(kept).to_numpy()
    features = data.features.loc[mask]
    y = data.labels.loc[mask].to_numpy()
    g = groups.loc[mask].to_numpy()
    strata = pd.Series(g).astype(str) + "|" + pd.Series(y).astype(str)
    if strata.value_counts().min() < folds:
        strata = pd.Series(g)
    splitter = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)
    predicted = {m: np.zeros(len(y), dtype=int) for m in METHODS[1:]}
    scored = {m: np.zeros(len(y), dtype=float) for m in METHODS[1:]}
    fit_sizes = []
    for fit_rows, eval_rows in splitter.split(np.zeros(len(y)), strata):
        fold = _fit_predict_mitigations(
            model,
            features.iloc[fit_rows],
            y[fit_rows],
            g[fit_rows],
            features.iloc[eval_rows],
            g[eval_rows],
            seed,
            eg_max_iter,
        )
        for method, (labels_, scores_) in fold.items():
            predicted[method][eval_rows] = labels_.astype(int)
            scored[method][eval_rows] = scores_
        fit_sizes.append(len(fit_rows))

    scores = np.asarray(model.predict_proba(features), dtype=float)[:, 1]
    predicted[UNMITIGATED] = (scores >= config.evaluate.threshold).astype(int)
    scored[UNMITIGATED] = scores
    rows: dict[str, dict[str, float]] = {}
    rates: dict[str, pd.DataFrame] = {}
    for method in METHODS:
        rows[method], rates[method] = _method_row(y, predicted[method], scored[method], g)
    table = pd.DataFrame.from_dict(rows, orient="index")
    table.index.name = "method"
    reference = table.loc[UNMITIGATED]
    table["accuracy_cost"] = reference["accuracy"] - table["accuracy"]
    table["roc_auc_cost"] = reference["roc_auc"] - table["roc_auc"]
    table["eod_reduction"] = (
        reference["equalized_odds_difference"] - table["equalized_odds_difference"]
    )
    logger.info(
        "%s mitigations over %s: %s",
        config.model_name,
        column,
        "; ".join(
            f"{name}: acc {row.accuracy:.3f}, AUC {row.roc_auc:.3f}, "
            f"EOD {row.equalized_odds_difference:.3f}"
            for name, row in table.iterrows()
        ),
    )
    return MitigationComparison(
        column=column,
        table=table,
        by_group=rates,
        n_fit=int(np.mean(fit_sizes)),
        n_eval=len(y),
        excluded_groups=excluded,
    )


# --- report ------------------------------------------------------------------------------------


def _column_markdown(audit: ColumnBiasAudit) -> list[str]:
    verdict = "ALERT" if audit.alerts else "ok"
    lines = [
        f"## `{audit.column}`: {verdict}",
        "",
        *(
            f"- {name}: {'n/a' if not np.isfinite(value) else f'{value:.4f}'}"
            for name, value in audit.disparities.items()
        ),
        "",
    ]
    if not audit.by_group.empty:
        lines += [audit.by_group.round(4).to_markdown(), ""]
    if audit.alerts:
        lines += ["Alerts:", *(f"- {alert}" for alert in audit.alerts), ""]
    if audit.excluded_groups:
        lines += [f"Groups too small to audit: {', '.join(audit.excluded_groups)}", ""]
    return lines


def plot_group_rates(result: BiasAuditResult) -> bytes:
    """Return a PNG bar plot of per-group selection rate and TPR, one panel per column."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    audits = [a for a in result.columns.values() if not a.by_group.empty]
    fig, axes = plt.subplots(
        1, max(1, len(audits)), figsize=(5.5 * max(1, len(audits)), 3.8), squeeze=False
    )
    for ax, audit in zip(axes[0], audits, strict=False):
        by_group = audit.by_group
        x = np.arange(len(by_group))
        width = 0.38
        ax.bar(x - width / 2, by_group["selection_rate"], width, label="selection rate")
        ax.bar(x + width / 2, by_group["true_positive_rate"], width, label="TPR")
        ax.set_xticks(x, [str(g) for g in by_group.index], rotation=30, ha="right")
        ax.set_ylim(0, 1)
        ax.set_title(f"{result.model_name}: {audit.column}")
        ax.legend(loc="upper right", fontsize=8)
    if not audits:
        axes[0][0].text(0.5, 0.5, "no auditable group", ha="center", va="center")
        axes[0][0].set_axis_off()
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=100)
    plt.close(fig)
    return buffer.getvalue()


def render_bias_report(
    result: BiasAuditResult,
    mitigations: Sequence[MitigationComparison] | MitigationComparison | None = None,
    html_path: Path | None = None,
) -> str:
    """Render the audit and the mitigation comparisons as Markdown (and optionally HTML).

    Args:
        result: Output of :func:`audit_champion`.
        mitigations: Outputs of :func:`compare_mitigations` (one per column, or none).
        html_path: Where to write a self-contained HTML page (tables + embedded PNG bar plot
            of per-group selection rate and TPR); skipped when None.

    Returns:
        The Markdown report.

    """
    if isinstance(mitigations, MitigationComparison):
        mitigations = [mitigations]
    mitigations = list(mitigations or [])
    version = f" v{result.model_version}" if result.model_version else ""
    verdict = "no alert" if result.passed else f"{len(result.alerts)} alert(s)"
    lines = [
        f"# Bias audit: {result.model_name}{version}: {verdict}",
        "",
        f"{result.n_rows} labelled rows, decision threshold {result.threshold}.",
        "",
    ]
    if result.alerts:
        lines += ["**Alerts**", "", *(f"- {alert}" for alert in result.alerts), ""]
    for audit in result.columns.values():
        lines += _column_markdown(audit)
    if mitigations:
        lines += ["## Mitigations", ""]
        for comparison in mitigations:
            lines += [comparison.to_markdown(), ""]
    markdown = "\n".join(lines).rstrip() + "\n"
    if html_path is not None:
        html_path = Path(html_path)
        html_path.parent.mkdir(parents=True, exist_ok=True)
        html_path.write_text(_render_html(result, mitigations), encoding="utf-8")
    return markdown


def _render_html(result: BiasAuditResult, mitigations: list[MitigationComparison]) -> str:
    """Return a self-contained HTML page of the audit."""
    png = base64.b64encode(plot_group_rates(result)).decode("ascii")
    title = html.escape(f"Bias audit: {result.model_name}")
    parts = [
        f"<!doctype html><html><head><meta charset='utf-8'><title>{title}</title>",
        "<style>body{font-family:sans-serif;margin:2em}table{border-collapse:collapse}"
        "td,th{border:1px solid #ccc;padding:4px 8px;text-align:right}"
        ".alert{color:#b00020}</style></head><body>",
        f"<h1>{title}"
        + (f" v{html.escape(result.model_version)}" if result.model_version else "")
        + "</h1>",
        f"<p>{result.n_rows} labelled rows, decision threshold {result.threshold}.</p>",
    ]
    if result.alerts:
        parts.append(
            "<ul class='alert'>"
            + "".join(f"<li>{html.escape(a)}</li>" for a in result.alerts)
            + "</ul>"
        )
    else:
        parts.append("<p>No alert: every threshold of the fairness gate is met.</p>")
    parts.append(f"<img alt='per-group selection rate and TPR' src='data:image/png;base64,{png}'>")
    for audit in result.columns.values():
        parts.append(f"<h2>{html.escape(audit.column)}</h2><ul>")
        parts += [
            f"<li>{html.escape(name)}: {'n/a' if not np.isfinite(v) else f'{v:.4f}'}</li>"
            for name, v in audit.disparities.items()
        ]
        parts.append("</ul>")
        if not audit.by_group.empty:
            parts.append(audit.by_group.round(4).to_html())
        if audit.excluded_groups:
            parts.append(
                f"<p>Groups too small to audit: {html.escape(', '.join(audit.excluded_groups))}</p>"
            )
    for comparison in mitigations:
        parts.append(
            f"<h2>Mitigations over {html.escape(comparison.column)}</h2>"
            f"<p>Cross-fitted on ~{comparison.n_fit} rows per fold, evaluated on "
            f"{comparison.n_eval} rows; "
            "costs relative to the unmitigated model (positive = worse).</p>"
        )
        parts.append(comparison.table.round(4).to_html())
    parts.append("</body></html>")
    return "\n".join(parts)
