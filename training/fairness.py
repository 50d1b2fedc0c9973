"""Fairlearn audit of a classifier over a sensitive column, and the registration gate."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from fairlearn.metrics import (
    MetricFrame,
    count,
    false_positive_rate,
    selection_rate,
    true_positive_rate,
)
from sklearn.metrics import accuracy_score, roc_auc_score

from training.config import FairnessConfig


@dataclass
class FairnessReport:
    """Outcome of a fairness audit: group metrics, disparities and the gate's verdict."""

    sensitive_column: str
    by_group: pd.DataFrame
    disparities: dict[str, float]
    violations: list[str] = field(default_factory=list)
    excluded_groups: list[str] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        """Return whether every threshold of the gate is met."""
        return not self.violations

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready summary."""
        return {
            "sensitive_column": self.sensitive_column,
            "passed": self.passed,
            "disparities": {k: round(v, 4) for k, v in self.disparities.items()},
            "violations": self.violations,
            "excluded_groups": self.excluded_groups,
            "by_group": self.by_group.round(4).reset_index().to_dict(orient="records"),
        }

    def to_markdown(self) -> str:
        """Return a human-readable report."""
        verdict = "PASSED" if self.passed else "FAILED"
        lines = [
            f"# Fairness audit over `{self.sensitive_column}`: {verdict}",
            "",
            *(f"- {name}: {value:.4f}" for name, value in self.disparities.items()),
            "",
            self.by_group.round(4).to_markdown(),
        ]
        if self.violations:
            lines += ["", "Violations:", *(f"- {v}" for v in self.violations)]
        if self.excluded_groups:
            lines += ["", f"Groups too small to audit: {', '.join(self.excluded_groups)}"]
        return "\n".join(lines)


def _group_roc_auc(y_true: np.ndarray, y_score: np.ndarray) -> float:
    """ROC AUC that is NaN (not an error) for a group with one class only."""
    if len(np.unique(y_true)) < 2:
        return float("nan")
    return float(roc_auc_score(y_true, y_score))


def _defined_rate(metric: Any, positive: bool) -> Any:
    """Wrap a TPR/FPR metric so a group lacking the conditioning class gives NaN, not 0."""

    def rate(y_true: np.ndarray, y_pred: np.ndarray) -> float:
        condition = np.asarray(y_true) == (1 if positive else 0)
        if not condition.any():
            return float("nan")
        return float(metric(y_true, y_pred))

    return rate


def _spread(values: pd.Series) -> float:
    """Return max - min over the defined (non-NaN) values; 0.0 when fewer than two."""
    defined = values.dropna().astype(float)
    return float(defined.max() - defined.min()) if len(defined) >= 2 else 0.0


def _nanmin(values: pd.Series) -> float:
    """Return the smallest defined value, NaN when none is defined."""
    defined = values.dropna().astype(float)
    return float(defined.min()) if len(defined) else float("nan")


def audit_fairness(
    y_true: pd.Series,
    probabilities: np.ndarray,
    groups: pd.Series,
    config: FairnessConfig,
    threshold: float = 0.5,
) -> FairnessReport:
    """Audit predictions per sensitive group and apply the gate's thresholds.

    The audited column is ``groups.name`` (or the config's first sensitive column).
    Groups with fewer than ``config.min_group_size`` rows are excluded from the disparity
    metrics (their estimates are noise) and listed in the report.

    Args:
        y_true: 0/1 labels.
        probabilities: Predicted probability of class 1.
        groups: Sensitive group of each row.
        config: Gate thresholds.
        threshold: Decision threshold.

    Returns:
        The audit report; ``passed`` is the gate's verdict.

    """
    column = str(groups.name) if groups.name is not None else config.sensitive_column
    y_true = pd.Series(np.asarray(y_true), index=groups.index)
    scores = pd.Series(np.asarray(probabilities, dtype=float), index=groups.index)
    sizes = groups.value_counts()
    kept = sizes[sizes >= config.min_group_size].index
    excluded = sorted(str(g) for g in sizes.index.difference(kept))
    if len(kept) == 0:
        return FairnessReport(
            sensitive_column=column,
            by_group=pd.DataFrame(),
            disparities={},
            violations=[
                f"no {column} group has >= {config.min_group_size} rows: "
                "fairness cannot be assessed"
            ],
            excluded_groups=excluded,
        )
    mask = groups.isin(kept)
    y, s, g = y_true[mask].to_numpy(), scores[mask].to_numpy(), groups[mask].to_numpy()
    predicted = (s >= threshold).astype(int)
    frame = MetricFrame(
        metrics={
            "count": count,
            "selection_rate": selection_rate,
            "accuracy": accuracy_score,
            "true_positive_rate": _defined_rate(true_positive_rate, positive=True),
            "false_positive_rate": _defined_rate(false_positive_rate, positive=False),
        },
        y_true=y,
        y_pred=predicted,
        sensitive_features=g,
    )
    by_group = frame.by_group.copy()
    # ROC AUC needs the scores, not the thresholded labels.
    by_group["roc_auc"] = [_group_roc_auc(y[g == group], s[g == group]) for group in by_group.index]
    by_group["base_rate"] = pd.Series(y, index=g).groupby(level=0).mean()
    by_group.index.name = column
    tpr_gap = _spread(by_group["true_positive_rate"])
    fpr_gap = _spread(by_group["false_positive_rate"])
    disparities = {
        "demographic_parity_difference": _spread(by_group["selection_rate"]),
        "equalized_odds_difference": max(tpr_gap, fpr_gap),
        "true_positive_rate_difference": tpr_gap,
        "min_group_roc_auc": _nanmin(by_group["roc_auc"]),
    }
    violations = []
    if disparities["equalized_odds_difference"] > config.max_equalized_odds_difference:
        violations.append(
            f"equalized odds difference {disparities['equalized_odds_difference']:.3f} "
            f"> {config.max_equalized_odds_difference}"
        )
    if tpr_gap > config.max_true_positive_rate_difference:
        violations.append(
            f"true positive rate difference {tpr_gap:.3f} "
            f"> {config.max_true_positive_rate_difference}"
        )
    if config.min_group_roc_auc > 0 and np.isnan(disparities["min_group_roc_auc"]):
        violations.append("worst group ROC AUC undefined: no audited group has both classes")
    elif disparities["min_group_roc_auc"] < config.min_group_roc_auc:
        violations.append(
            f"worst group ROC AUC {disparities['min_group_roc_auc']:.3f} "
            f"< {config.min_group_roc_auc}"
        )
    return FairnessReport(
        sensitive_column=column,
        by_group=by_group,
        disparities=disparities,
        violations=violations,
        excluded_groups=excluded,
    )


@dataclass
class FairnessAudit:
    """The gate over every sensitive column: one report per column, worst-case disparities."""

    reports: dict[str, FairnessReport]

    @property
    def passed(self) -> bool:
        """Return whether every column's report passed."""
        return all(report.passed for report in self.reports.values())

    @property
    def violations(self) -> list[str]:
        """Return every violation, prefixed by its column."""
        return [f"{c}: {v}" for c, r in self.reports.items() for v in r.violations]

    @property
    def disparities(self) -> dict[str, float]:
        """Return the worst value of each disparity across columns (max gap, min AUC)."""
        worst: dict[str, float] = {}
        for report in self.reports.values():
            for name, value in report.disparities.items():
                pick = min if name.startswith("min_") else max
                worst[name] = pick(worst.get(name, value), value)
        return worst

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready summary."""
        return {
            "passed": self.passed,
            "disparities": {k: round(v, 4) for k, v in self.disparities.items()},
            "violations": self.violations,
            "by_column": {column: report.to_dict() for column, report in self.reports.items()},
        }

    def to_markdown(self) -> str:
        """Return every column's report."""
        return "\n\n".join(report.to_markdown() for report in self.reports.values())


def audit_all_columns(
    y_true: pd.Series,
    probabilities: np.ndarray,
    groups: pd.DataFrame,
    config: FairnessConfig,
    threshold: float = 0.5,
) -> FairnessAudit:
    """Audit every sensitive column of ``groups`` (see :func:`audit_fairness`)."""
    return FairnessAudit(
        {
            column: audit_fairness(y_true, probabilities, groups[column], config, threshold)
            for column in groups.columns
        }
    )
