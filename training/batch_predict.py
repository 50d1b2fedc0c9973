"""Batch scoring kernel: score one Arrow (or pandas) batch of contacts with the lead models.

Framework-free: a batch in, a batch out. The Ray Data job (:mod:`distributed.batch_scoring`)
maps :func:`score_arrow_batch` over the blocks of a parquet dataset, the single-process engine
(:func:`training.batch_run.score_locally`) calls it on the chunks of a
``pyarrow.dataset`` scan; both write with :mod:`training.batch_sink`.

Paths, as in serving (:class:`training.scoring.LeadScorer`):

* **booster** (``TabularEncoder -> XGBClassifier``, the usual champion): the raw columns are
  encoded column by column with Arrow compute (:func:`encode_arrow`, the same numbers as
  :meth:`features.tabular.TabularEncoder.encode_values`, without a Python loop per cell), one
  ``DMatrix`` is built and :class:`training.booster.BoosterScorer` predicts (and, for the rows
  that are explained, computes XGBoost's exact TreeSHAP ``pred_contribs``);
* **generic** (``ColumnTransformer -> tree ensemble``, the baseline registered when XGBoost
  loses the baseline gate): :class:`training.pipeline_shap.PipelineShap` on a pandas frame
  (slower, still vectorised per batch);
* **pipeline** (any other fitted binary classifier pipeline): ``predict_proba``; it cannot be
  explained.

The served probability is the calibrated one (``calibration_`` of the registered model), the
score ``round(100 p)``, the band and the confidence those of the API. Explanations (top SHAP
contributions, recommended actions and the one-sentence explanation) are only computed for the
rows asked for (:class:`ExplainSpec`): ``pred_contribs`` costs ~35x the prediction.
"""

from __future__ import annotations

import hashlib
import json
import pickle
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
from sklearn.pipeline import Pipeline

from features.tabular import MissingFeaturesError, TabularEncoder
from training.booster import BoosterScorer
from training.calibration import ScoreCalibration, calibration_of
from training.pipeline_shap import PipelineShap, input_columns

#: Default entity id column of a scoring dataset.
ID_COLUMN = "contact_id"
#: Variants a batch run scores (the MLflow aliases), champion first.
VARIANTS: tuple[str, ...] = ("champion", "challenger")
#: Score bands (lower bound inclusive), as :data:`training.scoring.SCORE_BANDS`.
BANDS: tuple[tuple[int, str], ...] = ((70, "hot"), (40, "warm"), (0, "cold"))
_YES_NO = {"yes": 1.0, "no": 0.0, "true": 1.0, "false": 0.0}
_NAME = re.compile(r"^[A-Za-z0-9_.@:/-]{1,100}$")

#: Schema of a scored batch: one row per (contact, model), champion rows first.
SCORED_SCHEMA = pa.schema(
    [
        ("contact_id", pa.string()),
        ("variant", pa.string()),
        ("model_name", pa.string()),
        ("model_version", pa.string()),
        ("probability", pa.float64()),
        ("score", pa.int64()),
        ("band", pa.string()),
        ("confidence", pa.float64()),
        # JSON object {"contributions", "recommended_actions", "explanation"}; null unless asked
        ("details", pa.string()),
        ("explanation", pa.string()),
    ]
)


@dataclass(frozen=True)
class ExplainSpec:
    """Which rows get explanations.

    Attributes:
        enabled: Explain at all (off by default: explanations cost ~35x the prediction).
        min_score: Explain only rows scoring at least this (0: every row).
        top_k: Contributions kept per row.
        variants: Variants explained (None: the run's first model only, the champion).
    """

    enabled: bool = False
    min_score: int = 0
    top_k: int = 5
    variants: tuple[str, ...] | None = None

    def rows(self, variant: str, scores: np.ndarray, first: bool = True) -> np.ndarray:
        """Return the positions of the rows of ``variant`` to explain.

        Args:
            variant: The model's variant.
            scores: The rows' 0-100 scores.
            first: Whether the model is the run's first (explained when ``variants`` is None).
        """
        chosen = first if self.variants is None else variant in self.variants
        if not self.enabled or not chosen:
            return np.empty(0, dtype=np.int64)
        return np.flatnonzero(scores >= self.min_score)


@dataclass(frozen=True)
class BatchModel:
    """A registered model version to score with.

    Attributes:
        name: Registered model name (``lead_scoring_crm``).
        version: Registry version (stored with every prediction).
        variant: ``champion`` or ``challenger`` (or any label for an explicit version).
        pipeline: The fitted scikit-learn pipeline, as logged (calibrated or not).
    """

    name: str
    version: str
    variant: str
    pipeline: Any = field(repr=False)

    def __post_init__(self) -> None:
        for label in (self.name, self.version, self.variant):
            if not _NAME.match(str(label)):
                raise ValueError(f"invalid model label {label!r} (letters, digits, _.@:/- only)")

    @property
    def columns(self) -> list[str]:
        """Return the raw input columns of the model."""
        return input_columns(self.pipeline)

    def payload(self) -> ModelPayload:
        """Return the pickled model for shipping to workers."""
        blob = pickle.dumps(self.pipeline, protocol=pickle.HIGHEST_PROTOCOL)
        return ModelPayload(self.name, self.version, self.variant, blob)


@dataclass(frozen=True)
class ModelPayload:
    """A :class:`BatchModel` with its pipeline pickled (what a remote task receives)."""

    name: str
    version: str
    variant: str
    blob: bytes = field(repr=False)

    @property
    def key(self) -> str:
        """Return a digest identifying the model (the per-process scorer cache key)."""
        digest = hashlib.sha1(self.blob, usedforsecurity=False).hexdigest()[:16]
        return f"{self.name}:{self.version}:{self.variant}:{digest}"

    def load(self) -> BatchModel:
        """Unpickle the pipeline."""
        return BatchModel(self.name, self.version, self.variant, pickle.loads(self.blob))


# --------------------------------------------------------------------------------------------
# Encoding
# --------------------------------------------------------------------------------------------


def encode_arrow(encoder: TabularEncoder, batch: pa.Table | pd.DataFrame) -> np.ndarray:
    """Encode raw columns to the booster's float matrix, vectorised per column.

    Gives exactly :meth:`TabularEncoder.encode_values` of the same rows: numbers as floats,
    yes/no flags as 1/0, categoricals as their frozen codes; missing, unseen or unparsable
    values are NaN. String, numeric and boolean Arrow columns are encoded with Arrow compute;
    anything else falls back to the per-cell rules.

    Args:
        encoder: The fitted encoder of the model.
        batch: Rows holding at least the encoder's columns.

    Returns:
        A ``(rows, len(encoder.columns))`` float64 matrix.

    Raises:
        MissingFeaturesError: When a column is absent.
    """
    names = batch.column_names if isinstance(batch, pa.Table) else list(batch.columns)
    missing = [column for column in encoder.columns if column not in names]
    if missing:
        raise MissingFeaturesError(f"records lack required feature columns: {missing}")
    matrix = np.full((len(batch), len(encoder.columns)), np.nan)
    for j, column in enumerate(encoder.columns):
        values = _arrow_values(batch, column)
        if column in encoder.categories_:
            matrix[:, j] = _encode_category(values, encoder.categories_[column])
        elif column in encoder.flag_columns_:
            matrix[:, j] = _encode_flag(values)
        else:
            matrix[:, j] = _encode_number(values)
    return matrix


def _arrow_values(batch: pa.Table | pd.DataFrame, column: str) -> pa.Array | list[Any]:
    """Return a column as one Arrow array, or as Python values when Arrow cannot hold it."""
    if isinstance(batch, pa.Table):
        return batch.column(column).combine_chunks()
    series = batch[column]
    try:
        return pa.array(series, from_pandas=True)
    except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError):
        return series.tolist()


def _is_missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and value != value)


def _floats(values: pa.Array) -> np.ndarray:
    """Return an Arrow array as float64 numpy, nulls as NaN."""
    return np.asarray(
        pc.cast(values, pa.float64()).to_numpy(zero_copy_only=False), dtype=float
    ).copy()


def _strings(values: pa.Array | list[Any]) -> pa.Array | None:
    """Return string values as a plain string array, or None when they are not strings."""
    if isinstance(values, list):
        return None
    if pa.types.is_dictionary(values.type):
        values = values.cast(values.type.value_type)
    if pa.types.is_large_string(values.type) or pa.types.is_string_view(values.type):
        values = values.cast(pa.string())
    return values if pa.types.is_string(values.type) else None


def _python(values: pa.Array | list[Any]) -> list[Any]:
    return values if isinstance(values, list) else values.to_pylist()


def _encode_category(values: pa.Array | list[Any], levels: list[str]) -> np.ndarray:
    strings = _strings(values)
    if strings is not None:
        return _floats(pc.index_in(strings, value_set=pa.array(levels, pa.string())))
    codes = {level: float(code) for code, level in enumerate(levels)}
    return np.array(
        [np.nan if _is_missing(v) else codes.get(str(v), np.nan) for v in _python(values)]
    )


def _encode_flag(values: pa.Array | list[Any]) -> np.ndarray:
    if not isinstance(values, list) and pa.types.is_boolean(values.type):
        return _floats(values)
    strings = _strings(values)
    if strings is not None:
        cleaned = pc.utf8_lower(pc.utf8_trim_whitespace(strings))
        index = pc.index_in(cleaned, value_set=pa.array(list(_YES_NO)))
        return np.asarray([*_YES_NO.values(), np.nan])[
            np.nan_to_num(_floats(index), nan=len(_YES_NO)).astype(int)
        ]
    return np.array(
        [
            np.nan if _is_missing(v) else _YES_NO.get(str(v).strip().lower(), np.nan)
            for v in _python(values)
        ]
    )


def _encode_number(values: pa.Array | list[Any]) -> np.ndarray:
    if not isinstance(values, list) and (
        pa.types.is_integer(values.type)
        or pa.types.is_floating(values.type)
        or pa.types.is_boolean(values.type)
        or pa.types.is_decimal(values.type)
        or pa.types.is_null(values.type)
    ):
        return _floats(values)
    out = []
    for value in _python(values):
        try:
            out.append(np.nan if value is None else float(value))
        except (TypeError, ValueError):
            out.append(np.nan)
    return np.asarray(out, dtype=float)


# --------------------------------------------------------------------------------------------
# Scoring
# --------------------------------------------------------------------------------------------


class BatchScorer:
    """Probabilities, confidences and explanations of whole batches for one model.

    Args:
        pipeline: A fitted model pipeline (booster, generic or other, see the module docstring).
        nthread: XGBoost threads of the booster path (1 per Ray task; all cores in one process).
    """

    def __init__(self, pipeline: Any, nthread: int = 1) -> None:
        self.pipeline = pipeline
        self.columns = input_columns(pipeline)
        self.calibration: ScoreCalibration | None = calibration_of(pipeline)
        self.booster: BoosterScorer | None = None
        self.generic: PipelineShap | None = None
        self.nthread = max(1, int(nthread))
        if isinstance(pipeline, Pipeline) and BoosterScorer.supports(pipeline):
            self.booster = BoosterScorer(pipeline)
            self.booster.booster.set_param({"nthread": self.nthread})
            self.kind = "booster"
        elif PipelineShap.supports(pipeline):
            self.generic = PipelineShap(pipeline)
            self.kind = "generic"
        elif hasattr(pipeline, "predict_proba"):
            self.kind = "pipeline"
        else:
            raise TypeError(f"cannot score with a {type(pipeline).__name__}: no predict_proba")

    def _matrix(self, batch: pa.Table | pd.DataFrame) -> Any:
        import xgboost as xgb

        assert self.booster is not None
        return xgb.DMatrix(
            encode_arrow(self.booster.encoder, batch),
            feature_names=self.booster.feature_names,
            feature_types=self.booster.feature_types,
            enable_categorical=True,
            missing=np.nan,
            nthread=self.nthread,
        )

    def frame(self, batch: pa.Table | pd.DataFrame) -> pd.DataFrame:
        """Return the model's columns as the pandas frame the generic paths expect."""
        if isinstance(batch, pa.Table):
            frame = batch.select(self.columns).to_pandas()
        else:
            frame = batch[self.columns].reset_index(drop=True)
        if self.generic is not None:
            for column in self.generic.numeric:  # stored values may be objects (None, Decimal)
                frame[column] = pd.to_numeric(frame[column], errors="coerce")
        return frame

    def raw_probabilities(self, batch: pa.Table | pd.DataFrame) -> np.ndarray:
        """Return the raw (uncalibrated) positive-class probabilities."""
        if self.booster is not None:
            return self.booster.predict(self._matrix(batch))
        frame = self.frame(batch)
        if self.generic is not None:
            return self.generic.predict(frame)
        pipeline = self.pipeline
        model = pipeline[-1] if isinstance(pipeline, Pipeline) else pipeline
        inputs = pipeline[:-1].transform(frame) if isinstance(pipeline, Pipeline) else frame
        return np.asarray(model.predict_proba(inputs)[:, 1], dtype=float)

    def calibrate(self, raw: np.ndarray) -> np.ndarray:
        """Return the served (calibrated) probabilities of raw ones."""
        if self.calibration is None:
            return np.asarray(raw, dtype=float)
        return np.asarray(self.calibration.probabilities(raw), dtype=float)

    def probabilities(self, batch: pa.Table | pd.DataFrame) -> np.ndarray:
        """Return the served (calibrated) positive-class probabilities of a batch."""
        return self.calibrate(self.raw_probabilities(batch))

    def confidences(self, probabilities: np.ndarray) -> np.ndarray:
        """Return the API's confidence: conformal when calibrated, else max(p, 1 - p)."""
        if self.calibration is None:
            return np.maximum(probabilities, 1.0 - probabilities)
        return np.asarray(self.calibration.conformal.confidence(probabilities), dtype=float)

    def shap_values(self, batch: pa.Table | pd.DataFrame) -> np.ndarray:
        """Return SHAP values (log-odds, one column per raw input) of a batch.

        Raises:
            TypeError: For a pipeline that is neither the booster nor the generic path.
        """
        if self.booster is not None:
            return self.booster.explain(self._matrix(batch))
        if self.generic is not None:
            return self.generic.explain_matrix(self.generic.transform(self.frame(batch)))
        raise TypeError("explanations need an encoder -> XGBoost or ColumnTransformer pipeline")


def scores_of(probabilities: np.ndarray) -> np.ndarray:
    """Return the 0-100 scores (``round(100 p)`` clipped, as :func:`probability_to_score`)."""
    return np.clip(np.round(np.asarray(probabilities) * 100.0), 0, 100).astype(np.int64)


def bands_of(scores: np.ndarray) -> np.ndarray:
    """Return the band name of each score (hot >= 70, warm >= 40, cold)."""
    conditions = [scores >= lower for lower, _ in BANDS[:-1]]
    return np.select(conditions, [name for _, name in BANDS[:-1]], default=BANDS[-1][1])


def explain_rows(
    scorer: BatchScorer,
    batch: pa.Table,
    positions: np.ndarray,
    contact_ids: Sequence[str],
    probabilities: np.ndarray,
    confidences: np.ndarray,
    top_k: int,
) -> list[tuple[str, str]]:
    """Return ``(details JSON, explanation sentence)`` of the rows at ``positions``.

    The details hold the top ``top_k`` SHAP contributions (as the API returns them), the
    recommended actions and the one-sentence explanation of :mod:`training.scoring`.
    """
    from training.explain import Contribution
    from training.scoring import LeadScore, explain_in_words, recommend_actions

    subset = batch.take(pa.array(positions, pa.int64()))
    values = scorer.shap_values(subset)
    raw = subset.select(scorer.columns).to_pylist()
    out = []
    for row, impacts, position in zip(raw, values, positions, strict=True):
        order = np.argsort(-np.abs(impacts), kind="stable")[:top_k]
        contributions = [
            Contribution(scorer.columns[i], row[scorer.columns[i]], float(impacts[i]))
            for i in order
        ]
        probability = float(probabilities[position])
        score = int(scores_of(np.array([probability]))[0])
        lead = LeadScore(
            contact_id=str(contact_ids[position]),
            score=score,
            probability=probability,
            confidence=float(confidences[position]),
            band=str(bands_of(np.array([score]))[0]),
            contributions=contributions,
            recommended_actions=recommend_actions(score, contributions),
        )
        sentence = explain_in_words(lead)
        details = {
            "contributions": [c.to_dict() for c in contributions],
            "recommended_actions": lead.recommended_actions,
            "explanation": sentence,
        }
        out.append((json.dumps(details, separators=(",", ":"), allow_nan=False), sentence))
    return out


def missing_columns(
    available: Sequence[str], models: Sequence[BatchModel], id_column: str
) -> list[str]:
    """Return the columns the models (and the id) need that ``available`` lacks."""
    have = set(available)
    needed = [id_column, *(c for model in models for c in model.columns)]
    return sorted({column for column in needed if column not in have})


def needed_columns(models: Sequence[BatchModel], id_column: str = ID_COLUMN) -> list[str]:
    """Return the id and every model input column, in first-seen order (what to read)."""
    columns = [id_column]
    for model in models:
        columns.extend(c for c in model.columns if c not in columns)
    return columns


def score_table(
    batch: pa.Table | pd.DataFrame,
    scorers: Sequence[tuple[BatchModel, BatchScorer]],
    id_column: str = ID_COLUMN,
    explain: ExplainSpec | None = None,
) -> pa.Table:
    """Score a batch with every model: one output row per (contact, model).

    Args:
        batch: Raw rows with ``id_column`` and every model's input columns (a pandas frame is
            converted with ``pa.Table.from_pandas``: its columns must be Arrow-typable).
        scorers: The models (champion first) with their scorers.
        id_column: The entity id column.
        explain: Which rows to explain (default: none).

    Returns:
        A :data:`SCORED_SCHEMA` table: the first model's rows in input order, then the next's.

    Raises:
        ValueError: When a row has no id or a model gives a non-finite probability.
    """
    if isinstance(batch, pd.DataFrame):
        batch = pa.Table.from_pandas(batch, preserve_index=False)
    explain = explain or ExplainSpec()
    ids = pc.cast(batch.column(id_column), pa.string()).combine_chunks()
    if ids.null_count:
        raise ValueError(f"{ids.null_count} row(s) have no {id_column}")
    n = len(batch)
    parts = []
    for index, (model, scorer) in enumerate(scorers):
        probabilities = scorer.probabilities(batch)
        if not np.isfinite(probabilities).all():
            raise ValueError(f"{model.name} v{model.version} gave non-finite probabilities")
        confidences = scorer.confidences(probabilities)
        scores = scores_of(probabilities)
        details: list[str | None] = [None] * n
        sentences: list[str | None] = [None] * n
        positions = explain.rows(model.variant, scores, first=index == 0)
        if len(positions):
            explained = explain_rows(
                scorer,
                batch,
                positions,
                ids.to_pylist(),
                probabilities,
                confidences,
                explain.top_k,
            )
            for position, (detail, sentence) in zip(positions, explained, strict=True):
                details[position], sentences[position] = detail, sentence
        parts.append(
            pa.table(
                {
                    "contact_id": ids,
                    "variant": pa.repeat(pa.scalar(model.variant), n),
                    "model_name": pa.repeat(pa.scalar(model.name), n),
                    "model_version": pa.repeat(pa.scalar(model.version), n),
                    "probability": pa.array(probabilities, pa.float64()),
                    "score": pa.array(scores, pa.int64()),
                    "band": pa.array(bands_of(scores), pa.string()),
                    "confidence": pa.array(confidences, pa.float64()),
                    "details": pa.array(details, pa.string()),
                    "explanation": pa.array(sentences, pa.string()),
                },
                schema=SCORED_SCHEMA,
            )
        )
    if not parts:
        return SCORED_SCHEMA.empty_table()
    return pa.concat_tables(parts)


# --------------------------------------------------------------------------------------------
# The remote entry point
# --------------------------------------------------------------------------------------------

#: Scorers built in this process, by the payload keys of a run (a worker scores many blocks).
_SCORERS: dict[tuple[tuple[str, ...], int], list[tuple[BatchModel, BatchScorer]]] = {}
_MAX_CACHED = 4


def scorers_for(
    payloads: Sequence[ModelPayload], nthread: int = 1
) -> list[tuple[BatchModel, BatchScorer]]:
    """Return the scorers of pickled models, built once per process and reused."""
    key = (tuple(payload.key for payload in payloads), nthread)
    cached = _SCORERS.get(key)
    if cached is None:
        if len(_SCORERS) >= _MAX_CACHED:
            _SCORERS.clear()
        models = [payload.load() for payload in payloads]
        cached = [(model, BatchScorer(model.pipeline, nthread)) for model in models]
        _SCORERS[key] = cached
    return cached


def score_arrow_batch(
    batch: pa.Table,
    *,
    models: Sequence[ModelPayload],
    id_column: str = ID_COLUMN,
    explain: ExplainSpec | None = None,
    nthread: int = 1,
    chunk_rows: int | None = None,
) -> pa.Table:
    """Score one Arrow batch with pickled models (the function Ray Data maps over blocks).

    Args:
        batch: Raw rows (a parquet block).
        models: The models, champion first, as :class:`ModelPayload`.
        id_column: The entity id column.
        explain: Which rows to explain.
        nthread: XGBoost threads.
        chunk_rows: Score at most this many rows at a time (bounds the encoded matrix of a
            large block; None: the whole batch at once).

    Returns:
        The :data:`SCORED_SCHEMA` rows of the batch (chunk by chunk, in input order).
    """
    scorers = scorers_for(models, nthread)
    if not chunk_rows or batch.num_rows <= chunk_rows:
        return score_table(batch, scorers, id_column, explain)
    parts = [
        score_table(batch.slice(start, chunk_rows), scorers, id_column, explain)
        for start in range(0, batch.num_rows, chunk_rows)
    ]
    return pa.concat_tables(parts)
