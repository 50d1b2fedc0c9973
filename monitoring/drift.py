"""Data and prediction drift with Evidently 0.7, performance once labels arrive, retraining rule.

Framework-free: the Prefect flow :mod:`flows.monitoring` only orchestrates these functions.

* :func:`load_monitoring_config` reads ``configs/monitoring.yaml`` (defaults + per-model overrides).
* :func:`detect_drift` runs an Evidently ``Report`` (``DataDriftPreset`` over the feature columns
  plus ``ValueDrift`` over the model's predicted probability, tests included) and summarises it
  as a :class:`DriftResult`.
* :func:`performance_once_labelled` scores the current rows whose outcome is known.
* :func:`decide_retraining` applies the thresholds: drifted-column share, prediction drift and the
  ROC AUC drop against the metric registered with the champion.
"""

from __future__ import annotations

import copy
import json
import logging
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import yaml
from pydantic import BaseModel, ConfigDict, Field
from sklearn.metrics import accuracy_score, brier_score_loss, roc_auc_score

from haste.settings import CONFIG_DIR

logger = logging.getLogger(__name__)

#: Default monitoring config file.
MONITORING_CONFIG_PATH = CONFIG_DIR / "monitoring.yaml"

_VALUE_DRIFT = "evidently:metric_v2:ValueDrift"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class DriftMethods(_Strict):
    """Evidently drift methods and their thresholds (see Evidently's drift method list)."""

    num_method: str = "psi"
    num_threshold: float = Field(0.2, gt=0.0)
    cat_method: str = "psi"
    cat_threshold: float = Field(0.2, gt=0.0)
    prediction_method: str = "psi"
    prediction_threshold: float = Field(0.2, gt=0.0)


class Thresholds(_Strict):
    """When monitoring asks for retraining."""

    share_drifted_columns: float = Field(0.3, gt=0.0, le=1.0)
    prediction_drift: bool = True
    roc_auc_drop: float = Field(0.05, ge=0.0)
    min_labelled_rows: int = Field(100, ge=1)


class MonitoringConfig(_Strict):
    """Monitoring settings of one model."""

    model_name: str
    reference_window: int = Field(5000, ge=10)
    current_window: int = Field(2000, ge=10)
    seed: int = 7
    prediction_column: str = "prediction_probability"
    drift: DriftMethods = Field(default_factory=DriftMethods)
    thresholds: Thresholds = Field(default_factory=Thresholds)


def _deep_merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    merged = copy.deepcopy(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _deep_merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def load_monitoring_config(model_name: str, path: Path | None = None) -> MonitoringConfig:
    """Return the monitoring config of a model: ``defaults`` overridden by ``models.<name>``.

    Args:
        model_name: Model (as in ``configs/models``).
        path: YAML file; defaults to ``configs/monitoring.yaml``.

    Returns:
        The validated config (a model absent from ``models`` gets the defaults).

    """
    path = Path(path or MONITORING_CONFIG_PATH)
    with path.open(encoding="utf-8") as handle:
        raw = yaml.safe_load(handle) or {}
    overrides = (raw.get("models") or {}).get(model_name)
    if overrides is None:
        logger.info("%s has no entry in %s: monitoring defaults apply", model_name, path)
    merged = _deep_merge(raw.get("defaults") or {}, overrides or {})
    return MonitoringConfig.model_validate({**merged, "model_name": model_name})


@dataclass
class RetrainingDecision:
    """Whether to retrain, and why."""

    should_retrain: bool
    reasons: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready dict."""
        return asdict(self)


@dataclass
class DriftResult:
    """Summary of one Evidently drift report.

    Attributes:
        columns: Feature columns compared.
        drifted_columns: Feature columns whose drift test failed.
        share_drifted: ``len(drifted_columns) / len(columns)``.
        column_scores: Drift score per feature column (NaN: absent from the current data).
        prediction_column: Predicted probability column, None when not compared.
        prediction_drift: Whether the prediction column drifted.
        prediction_score: Its drift score.
        prediction_method: Its drift method.
        tests_passed: Evidently tests that succeeded.
        tests_failed: Evidently tests that failed (or errored).
        failed_tests: Names of those tests.
        reference_rows: Reference rows.
        current_rows: Current rows.
        should_retrain: Drift alone crosses a threshold.
        reasons: Human-readable reasons (naming the drifted columns).
        snapshot: The Evidently snapshot (HTML/JSON via :func:`write_reports`).

    """

    columns: list[str]
    drifted_columns: list[str]
    share_drifted: float
    column_scores: dict[str, float]
    prediction_column: str | None
    prediction_drift: bool
    prediction_score: float | None
    prediction_method: str | None
    tests_passed: int
    tests_failed: int
    failed_tests: list[str]
    reference_rows: int
    current_rows: int
    should_retrain: bool = False
    reasons: list[str] = field(default_factory=list)
    snapshot: Any = field(default=None, repr=False, compare=False)

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready dict (without the snapshot)."""
        out = {key: value for key, value in self.__dict__.items() if key != "snapshot"}
        out["column_scores"] = {
            key: (None if np.isnan(value) else round(float(value), 6))
            for key, value in self.column_scores.items()
        }
        return out

    def to_markdown(self, title: str = "Drift report") -> str:
        """Render a short Markdown summary (for the Prefect UI)."""
        lines = [
            f"# {title}",
            "",
            f"- rows: reference {self.reference_rows}, current {self.current_rows}",
            f"- drifted feature columns: {len(self.drifted_columns)} of {len(self.columns)} "
            f"(share {self.share_drifted:.2f})",
        ]
        if self.prediction_column:
            score = "n/a" if self.prediction_score is None else f"{self.prediction_score:.4f}"
            lines.append(
                f"- prediction drift ({self.prediction_column}, {self.prediction_method}): "
                f"{'yes' if self.prediction_drift else 'no'} (score {score})"
            )
        lines.append(f"- Evidently tests: {self.tests_passed} passed, {self.tests_failed} failed")
        if self.drifted_columns:
            lines += ["", "| drifted column | score |", "|---|---|"]
            lines += [
                f"| {column} | {self.column_scores.get(column, float('nan')):.4f} |"
                for column in self.drifted_columns
            ]
        return "\n".join(lines) + "\n"


def model_input_columns(model: Any, frame: pd.DataFrame, excluded: list[str]) -> list[str]:
    """Return the raw columns a fitted pipeline reads (its encoder's), else the non-excluded ones.

    Args:
        model: A fitted scikit-learn pipeline whose first step has ``columns`` (TabularEncoder).
        frame: The feature table.
        excluded: Columns never used as inputs (ids, target, sensitive...).

    Returns:
        Input column names in model order.

    """
    try:
        columns = list(model[0].columns)
    except (TypeError, AttributeError, IndexError, KeyError):
        columns = [column for column in frame.columns if column not in set(excluded)]
    return columns


def add_predictions(
    model: Any, frame: pd.DataFrame, columns: list[str], prediction_column: str
) -> pd.DataFrame:
    """Return a copy of ``frame`` with the model's probability of class 1 in ``prediction_column``.

    Raises:
        KeyError: When input columns are missing from ``frame``.

    """
    missing = [column for column in columns if column not in frame.columns]
    if missing:
        raise KeyError(f"current data lacks model inputs: {missing}")
    scored = frame.copy()
    scored[prediction_column] = model.predict_proba(frame[columns])[:, 1]
    return scored


def select_windows(
    table: pd.DataFrame, current: pd.DataFrame | None, config: MonitoringConfig
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Pick the reference and current windows.

    The reference is a seeded sample of at most ``reference_window`` rows of the training
    feature table. The current window is the last ``current_window`` rows of ``current``; when
    ``current`` is None it is a fresh seeded sample of the feature table's rows outside the
    reference (the whole table when none remain): a smoke check that should show no drift.

    Args:
        table: The model's training feature table.
        current: Recent rows (latest last), or None.
        config: Monitoring config (window sizes, seed).

    Returns:
        (reference, current) frames with fresh indexes.

    """
    reference = table.sample(min(len(table), config.reference_window), random_state=config.seed)
    if current is None:
        pool = table.drop(reference.index)
        pool = pool if len(pool) else table
        current = pool.sample(min(len(pool), config.current_window), random_state=config.seed + 1)
    else:
        current = current.tail(config.current_window)
    return reference.reset_index(drop=True), current.reset_index(drop=True)


def _is_numeric(series: pd.Series) -> bool:
    return pd.api.types.is_numeric_dtype(series) and not pd.api.types.is_bool_dtype(series)


def detect_drift(
    reference: pd.DataFrame,
    current: pd.DataFrame,
    config: MonitoringConfig,
    prediction_column: str | None = None,
    columns: list[str] | None = None,
) -> DriftResult:
    """Compare current data with the reference using Evidently (DataDriftPreset, tests included).

    Args:
        reference: Reference rows (training feature table sample, scored by the champion).
        current: Recent rows, scored by the same model.
        config: Monitoring config (methods, thresholds).
        prediction_column: Predicted probability column; defaults to
            ``config.prediction_column`` when both frames hold it (else no prediction drift).
        columns: Feature columns; defaults to every column common to both frames.

    Returns:
        Per-column scores, drifted columns, prediction drift, test counts and the drift-only
        retraining verdict (:func:`decide_retraining` with no performance).

    Raises:
        KeyError: When a requested column is missing from a frame.

    """
    from evidently import DataDefinition, Dataset, Report
    from evidently.metrics import ValueDrift
    from evidently.presets import DataDriftPreset

    configured = config.prediction_column
    if prediction_column is None and configured in reference.columns.intersection(current.columns):
        prediction_column = configured
    for frame, name in ((reference, "reference"), (current, "current")):
        if prediction_column is not None and prediction_column not in frame.columns:
            raise KeyError(f"{name} data lacks the prediction column {prediction_column!r}")
    if columns is None:
        columns = [c for c in reference.columns if c in current.columns and c != prediction_column]
    missing = [c for c in columns if c not in reference.columns or c not in current.columns]
    if missing:
        raise KeyError(f"columns absent from the reference or current data: {missing}")

    # Columns Evidently cannot compare: empty in the reference (skipped) or in the current data
    # (counted as drifted: the feature stopped arriving).
    empty_reference = [c for c in columns if reference[c].notna().sum() == 0]
    empty_current = [
        c for c in columns if c not in empty_reference and current[c].notna().sum() == 0
    ]
    if empty_reference:
        logger.warning("no reference values, drift not measured for %s", empty_reference)
    compared = [c for c in columns if c not in empty_reference and c not in empty_current]
    numerical = [c for c in compared if _is_numeric(reference[c])]
    categorical = [c for c in compared if c not in numerical]
    kept = compared + ([prediction_column] if prediction_column else [])
    ref, cur = reference[kept].copy(), current[kept].copy()
    for frame in (ref, cur):
        frame[categorical] = frame[categorical].astype(object).where(frame[categorical].notna())
        frame[categorical] = frame[categorical].astype("string")
        frame[numerical] = frame[numerical].astype(float)
    definition = DataDefinition(
        numerical_columns=numerical + ([prediction_column] if prediction_column else []),
        categorical_columns=categorical,
    )
    methods = config.drift
    parts: list[Any] = [
        DataDriftPreset(
            columns=compared,
            drift_share=config.thresholds.share_drifted_columns,
            num_method=methods.num_method,
            num_threshold=methods.num_threshold,
            cat_method=methods.cat_method,
            cat_threshold=methods.cat_threshold,
        )
    ]
    if prediction_column:
        parts.append(
            ValueDrift(
                column=prediction_column,
                method=methods.prediction_method,
                threshold=methods.prediction_threshold,
            )
        )
    snapshot = Report(parts, include_tests=True).run(
        current_data=Dataset.from_pandas(cur, data_definition=definition),
        reference_data=Dataset.from_pandas(ref, data_definition=definition),
    )
    summary = snapshot.dict()

    column_of: dict[str, str] = {}
    scores: dict[str, float] = {}
    for metric in summary["metrics"]:
        config_dict = metric.get("config", {})
        if config_dict.get("type") == _VALUE_DRIFT:
            column_of[metric["id"]] = config_dict["column"]
            scores[config_dict["column"]] = float(metric["value"])
    drifted: set[str] = set(empty_current)
    passed, failed_names = 0, []
    for test in summary["tests"]:
        if test["status"] == "SUCCESS":
            passed += 1
            continue
        if test["status"] in ("FAIL", "ERROR"):
            failed_names.append(test["name"])
        column = column_of.get(test.get("metric_config", {}).get("metric_id", ""))
        if column is not None and test["status"] == "FAIL":
            drifted.add(column)

    drifted_columns = [c for c in columns if c in drifted]
    measured = [c for c in columns if c not in empty_reference]
    column_scores = {c: scores.get(c, float("nan")) for c in measured}
    result = DriftResult(
        columns=measured,
        drifted_columns=drifted_columns,
        share_drifted=len(drifted_columns) / len(measured) if measured else 0.0,
        column_scores=column_scores,
        prediction_column=prediction_column,
        prediction_drift=bool(prediction_column and prediction_column in drifted),
        prediction_score=scores.get(prediction_column) if prediction_column else None,
        prediction_method=methods.prediction_method if prediction_column else None,
        tests_passed=passed,
        tests_failed=len(failed_names),
        failed_tests=failed_names,
        reference_rows=len(reference),
        current_rows=len(current),
        snapshot=snapshot,
    )
    decision = decide_retraining(result, None, None, config.thresholds)
    result.should_retrain, result.reasons = decision.should_retrain, decision.reasons
    logger.info(
        "drift: %d/%d columns (share %.2f), prediction drift %s",
        len(drifted_columns),
        len(measured),
        result.share_drifted,
        result.prediction_drift,
    )
    return result


def write_reports(snapshot: Any, out_dir: Path, name: str = "drift_report") -> tuple[Path, Path]:
    """Write an Evidently snapshot as HTML (interactive report) and JSON (metrics and tests).

    Args:
        snapshot: The object returned by ``Report.run``.
        out_dir: Destination folder (created).
        name: File stem.

    Returns:
        (html_path, json_path).

    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    html_path, json_path = out_dir / f"{name}.html", out_dir / f"{name}.json"
    # Evidently's save_html only writes when given a str (a Path is silently ignored).
    snapshot.save_html(str(html_path))
    json_path.write_text(snapshot.json(), encoding="utf-8")
    return html_path, json_path


def performance_once_labelled(
    current_with_labels: pd.DataFrame,
    probabilities: np.ndarray | pd.Series,
    target: str = "converted",
    threshold: float = 0.5,
    min_rows: int = 1,
) -> dict[str, float] | None:
    """Return ROC AUC, accuracy and Brier score on the current rows whose label is known.

    Args:
        current_with_labels: Current rows; ``target`` holds 0/1, missing while unknown.
        probabilities: Predicted probability of class 1, aligned with the rows.
        target: Label column.
        threshold: Decision threshold for accuracy.
        min_rows: Labelled rows required.

    Returns:
        ``roc_auc``, ``accuracy``, ``brier``, ``n_labelled``, ``positive_rate``; None when the
        label column is absent, fewer than ``min_rows`` rows are labelled or one class only.

    """
    if target not in current_with_labels.columns:
        return None
    labels = pd.to_numeric(current_with_labels[target], errors="coerce").to_numpy(dtype=float)
    probabilities = np.asarray(probabilities, dtype=float)
    if len(probabilities) != len(labels):
        raise ValueError(f"{len(probabilities)} probabilities for {len(labels)} rows")
    known = ~np.isnan(labels)
    y_true, y_prob = labels[known].astype(int), probabilities[known]
    if known.sum() < min_rows or len(np.unique(y_true)) < 2:
        return None
    return {
        "roc_auc": float(roc_auc_score(y_true, y_prob)),
        "accuracy": float(accuracy_score(y_true, (y_prob >= threshold).astype(int))),
        "brier": float(brier_score_loss(y_true, y_prob)),
        "n_labelled": float(known.sum()),
        "positive_rate": float(y_true.mean()),
    }


def decide_retraining(
    drift: DriftResult,
    performance: dict[str, float] | None,
    registered_metric: float | None,
    thresholds: Thresholds,
) -> RetrainingDecision:
    """Apply the retraining thresholds.

    Retrain when the share of drifted feature columns reaches ``share_drifted_columns``, when
    the prediction drifted (if ``prediction_drift``), or when the labelled ROC AUC is at least
    ``roc_auc_drop`` below ``registered_metric`` (the champion's held-out ROC AUC).

    Args:
        drift: Output of :func:`detect_drift`.
        performance: Output of :func:`performance_once_labelled` (None: no labels yet).
        registered_metric: The champion's registered ROC AUC (None: unknown).
        thresholds: The model's thresholds.

    Returns:
        The decision with one reason per crossed threshold.

    """
    reasons: list[str] = []
    if drift.columns and drift.share_drifted >= thresholds.share_drifted_columns:
        reasons.append(
            f"{len(drift.drifted_columns)} of {len(drift.columns)} feature columns drifted "
            f"(share {drift.share_drifted:.2f} >= {thresholds.share_drifted_columns:.2f}): "
            + ", ".join(drift.drifted_columns)
        )
    if thresholds.prediction_drift and drift.prediction_drift:
        score = "n/a" if drift.prediction_score is None else f"{drift.prediction_score:.4f}"
        reasons.append(
            f"prediction drift on {drift.prediction_column} "
            f"({drift.prediction_method} score {score})"
        )
    if performance is not None and registered_metric is not None:
        drop = registered_metric - performance["roc_auc"]
        if drop >= thresholds.roc_auc_drop:
            reasons.append(
                f"ROC AUC {performance['roc_auc']:.4f} on {int(performance['n_labelled'])} "
                f"labelled rows is {drop:.4f} below the registered {registered_metric:.4f} "
                f"(>= {thresholds.roc_auc_drop:.2f})"
            )
    return RetrainingDecision(should_retrain=bool(reasons), reasons=reasons)


def drift_table(drift: DriftResult) -> list[dict[str, Any]]:
    """Return one row per compared column (features then prediction) for table artifacts."""
    rows = [
        {
            "column": column,
            "score": None if np.isnan(score) else round(score, 4),
            "drifted": column in drift.drifted_columns,
        }
        for column, score in drift.column_scores.items()
    ]
    if drift.prediction_column:
        score = drift.prediction_score
        rows.append(
            {
                "column": drift.prediction_column,
                "score": None if score is None else round(score, 4),
                "drifted": drift.prediction_drift,
            }
        )
    return rows


def summary_json(drift: DriftResult, extra: dict[str, Any] | None = None) -> str:
    """Return the drift summary (and ``extra`` keys) as indented JSON."""
    return json.dumps({**drift.to_dict(), **(extra or {})}, indent=2, default=str)
