"""Privacy tooling: anonymised exports, consent filtering and differentially private training.

Framework-free (no Prefect, no MLflow):

* :func:`anonymise_export` pseudonymises ids with a keyed (salted) SHA-256, drops direct PII,
  generalises quasi-identifiers (numeric bins, months, rare categories -> ``"other"``) and
  :func:`k_anonymity` measures the smallest equivalence class that remains.
* :func:`consent_filter` honours the per-contact ``ai_consent`` flag before training.
* :func:`train_dp_logistic` trains a logistic regression with DP-SGD (Opacus) and
  :func:`dp_accuracy_cost` measures what a privacy budget costs on a held-out split.
"""

from __future__ import annotations

import hashlib
import hmac
import itertools
import logging
import math
import time
import warnings
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import torch
from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.metrics import accuracy_score, roc_auc_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from training.config import TrainingConfig
from training.dataset import prepare_labelled_data, split_labelled_data

logger = logging.getLogger(__name__)

#: Label of generalised rare categories.
OTHER = "other"
#: Values of a consent column read as "consent given" (case-insensitive for text).
_CONSENT_TRUE = {"1", "true", "yes", "y", "granted", "opt-in", "opt_in"}
#: Privacy budgets compared by :func:`dp_accuracy_cost` (``inf``: no DP, the reference).
DEFAULT_EPSILONS: tuple[float, ...] = (0.5, 1.0, 4.0, math.inf)


# --- pseudonymisation and k-anonymity ----------------------------------------------------------


def pseudonymise(values: pd.Series, salt: str) -> pd.Series:
    """Replace identifiers by keyed SHA-256 pseudonyms (HMAC with ``salt``).

    The same value gives the same pseudonym with the same salt, in every column and export, so
    anonymised tables still join; without the salt the mapping cannot be recomputed from a
    dictionary of candidate ids. Missing values stay missing.

    Args:
        values: Identifiers (any type; compared as strings).
        salt: Secret key of the export (keep it out of the export itself).

    Returns:
        32 hex characters (128 bits) per identifier.

    Raises:
        ValueError: When ``salt`` is empty.

    """
    if not salt:
        raise ValueError("a non-empty salt is required to pseudonymise identifiers")
    key = salt.encode("utf-8")

    def digest(value: Any) -> str:
        return hmac.new(key, str(value).encode("utf-8"), hashlib.sha256).hexdigest()[:32]

    return values.map(digest, na_action="ignore").astype(object)


def _generalise_numeric(values: pd.Series, bins: int) -> pd.Series:
    """Replace numbers by the quantile bin they fall in, e.g. ``"[25, 40)"``."""
    numbers = pd.to_numeric(values, errors="coerce").astype(float)
    defined = numbers.dropna()
    if defined.empty:
        return pd.Series(pd.NA, index=values.index, dtype=object)
    edges = np.unique(np.nanquantile(defined, np.linspace(0.0, 1.0, bins + 1)))
    if len(edges) < 2:
        edges = np.array([edges[0], edges[0]])
    labels = [
        f"[{_short(lo)}, {_short(hi)}{']' if i == len(edges) - 2 else ')'}"
        for i, (lo, hi) in enumerate(itertools.pairwise(edges))
    ]
    position = np.clip(np.searchsorted(edges, numbers, side="right") - 1, 0, len(labels) - 1)
    out = pd.Series(np.asarray(labels, dtype=object)[position], index=values.index, dtype=object)
    return out.where(numbers.notna(), pd.NA)


def _short(value: float) -> str:
    """Format a bin edge compactly (integers without decimals)."""
    return f"{value:.0f}" if float(value).is_integer() else f"{value:.3g}"


def _collapse_rare(values: pd.Series, k: int) -> pd.Series:
    """Replace categories seen in fewer than ``k`` rows by :data:`OTHER` (missing stays missing)."""
    text = values.astype(object).where(values.notna(), pd.NA)
    counts = text.value_counts(dropna=True)
    rare = counts.index[counts < k]
    return text.where(~text.isin(rare), OTHER)


def anonymise_export(
    frame: pd.DataFrame,
    id_columns: Sequence[str],
    pii_columns: Sequence[str],
    quasi_identifiers: Sequence[str],
    salt: str,
    *,
    k: int = 5,
    bins: int = 5,
) -> pd.DataFrame:
    """Return an anonymised copy of a table for export (analytics, vendors, notebooks).

    * ``id_columns``: replaced by salted SHA-256 pseudonyms (:func:`pseudonymise`), stable across
      exports made with the same salt.
    * ``pii_columns``: dropped (names, emails, phone numbers, free text...).
    * ``quasi_identifiers``: generalised. Numbers become quantile bins (``bins`` of them),
      dates become months, and every category (bins included) seen in fewer than ``k`` rows is
      collapsed into ``"other"``.

    Generalisation makes re-identification by linkage harder but does not guarantee
    k-anonymity over the *combination* of quasi-identifiers: check it with
    :func:`k_anonymity` before an export leaves the platform.

    Args:
        frame: The table to export.
        id_columns: Identifier columns to pseudonymise.
        pii_columns: Direct identifiers to drop.
        quasi_identifiers: Columns that could re-identify someone in combination.
        salt: Secret salt of the pseudonyms.
        k: Minimum rows per category of a quasi-identifier.
        bins: Number of quantile bins of a numeric quasi-identifier.

    Returns:
        The anonymised copy (same rows and index, PII columns removed).

    Raises:
        KeyError: When a named column is absent.
        ValueError: When a column is both an id and a quasi-identifier, ``salt`` is empty,
            ``k < 1`` or ``bins < 1``.

    """
    named = [*id_columns, *pii_columns, *quasi_identifiers]
    missing = [column for column in named if column not in frame.columns]
    if missing:
        raise KeyError(f"columns absent from the export: {missing}")
    if set(id_columns) & set(quasi_identifiers):
        raise ValueError("a column cannot be both an id and a quasi-identifier")
    if k < 1 or bins < 1:
        raise ValueError(f"k and bins must be positive, got k={k}, bins={bins}")
    out = frame.drop(columns=list(dict.fromkeys(pii_columns))).copy()
    for column in id_columns:
        if column in out.columns:
            out[column] = pseudonymise(out[column], salt)
    for column in quasi_identifiers:
        if column in pii_columns:
            continue
        series = out[column]
        if pd.api.types.is_datetime64_any_dtype(series):
            series = series.dt.to_period("M").astype(str).where(series.notna(), pd.NA)
        elif (
            pd.api.types.is_numeric_dtype(series)
            and not pd.api.types.is_bool_dtype(series)
            and series.nunique(dropna=True) > bins
        ):
            series = _generalise_numeric(series, bins)
        out[column] = _collapse_rare(series, k)
    kept_qi = [c for c in quasi_identifiers if c not in pii_columns]
    logger.info(
        "anonymised export: %d rows, %d ids pseudonymised, %d PII columns dropped, k=%d over %s",
        len(out),
        len(id_columns),
        len(set(pii_columns)),
        k_anonymity(out, kept_qi),
        kept_qi,
    )
    return out


def k_anonymity(frame: pd.DataFrame, quasi_identifiers: Sequence[str]) -> int:
    """Return the size of the smallest group of rows sharing all quasi-identifier values.

    A table is k-anonymous when this is at least k: every person hides among k - 1 others.

    Args:
        frame: The table.
        quasi_identifiers: The columns an attacker could link on.

    Returns:
        The smallest equivalence class size (0 for an empty frame, ``len(frame)`` for no
        quasi-identifier).

    """
    if frame.empty:
        return 0
    if not quasi_identifiers:
        return len(frame)
    sizes = frame.groupby(list(quasi_identifiers), dropna=False, observed=True).size()
    return int(sizes.min())


# --- consent -----------------------------------------------------------------------------------


def consent_filter(frame: pd.DataFrame, consent_column: str = "ai_consent") -> pd.DataFrame:
    """Keep only the rows whose owner consented to AI processing (opt-in).

    Consent is given by ``True``/``1``/``"yes"``/``"true"``/``"granted"``; anything else,
    missing included, counts as no consent.

    Args:
        frame: Training rows with a consent flag.
        consent_column: The consent flag's column.

    Returns:
        The consenting rows (same columns, original index).

    Raises:
        KeyError: When the consent column is absent (consent cannot be assumed).

    """
    if consent_column not in frame.columns:
        raise KeyError(
            f"consent column {consent_column!r} is absent: consent cannot be assumed, "
            "add the flag before training"
        )
    flags = frame[consent_column]
    if pd.api.types.is_bool_dtype(flags):
        consented = flags.fillna(False).astype(bool)
    else:
        consented = flags.map(
            lambda value: str(value).strip().lower() in _CONSENT_TRUE, na_action="ignore"
        )
        consented = consented.where(flags.notna(), False).astype(bool)
    dropped = int((~consented).sum())
    logger.info(
        "consent filter: dropped %d of %d rows without %s (kept %d)",
        dropped,
        len(frame),
        consent_column,
        len(frame) - dropped,
    )
    return frame.loc[consented.to_numpy()]


# --- differentially private logistic regression -----------------------------------------------


def build_linear_preprocessor(frame: pd.DataFrame) -> ColumnTransformer:
    """Return median-impute + standardise for numbers, one-hot for everything else.

    Args:
        frame: Training inputs (used to tell numeric from text columns).

    Returns:
        An unfitted transformer producing a dense float matrix.

    """
    numeric = [
        c
        for c in frame.columns
        if pd.api.types.is_numeric_dtype(frame[c]) and not pd.api.types.is_bool_dtype(frame[c])
    ]
    other = [c for c in frame.columns if c not in numeric]
    return ColumnTransformer(
        [
            ("num", make_pipeline(SimpleImputer(strategy="median"), StandardScaler()), numeric),
            (
                "cat",
                make_pipeline(
                    SimpleImputer(strategy="constant", fill_value="missing"),
                    OneHotEncoder(handle_unknown="ignore", min_frequency=10, sparse_output=False),
                ),
                other,
            ),
        ],
        sparse_threshold=0.0,
    )


def _as_frame(X: Any) -> pd.DataFrame:
    """Return ``X`` as a DataFrame with string column names (arrays included)."""
    frame = X if isinstance(X, pd.DataFrame) else pd.DataFrame(np.asarray(X))
    if not all(isinstance(c, str) for c in frame.columns):
        frame = frame.set_axis([str(c) for c in frame.columns], axis=1)
    # Text columns as plain objects: one-hot encoding does not need pandas categoricals.
    categorical = frame.select_dtypes(include=["category", "bool"]).columns
    return frame.astype(dict.fromkeys(categorical, object)) if len(categorical) else frame


@dataclass
class DPLogisticModel:
    """A logistic regression trained by :func:`train_dp_logistic`, with its privacy accounting.

    Attributes:
        preprocess: The fitted one-hot / standardise transformer.
        coef: Weights over the transformed features.
        intercept: Bias.
        target_epsilon: The requested budget (``inf``: trained without DP).
        epsilon: The budget spent according to the Opacus accountant (``inf`` without DP).
        delta: The delta of the guarantee.
        noise_multiplier: Gaussian noise multiplier chosen by Opacus (0 without DP).
        max_grad_norm: Per-example gradient clipping bound.
        epochs: Passes over the data.
        fit_seconds: Training wall time.

    """

    preprocess: ColumnTransformer
    coef: np.ndarray
    intercept: float
    target_epsilon: float
    epsilon: float
    delta: float
    noise_multiplier: float
    max_grad_norm: float
    epochs: int
    fit_seconds: float

    classes_ = np.array([0, 1])

    def decision_function(self, X: Any) -> np.ndarray:
        """Return the logit of class 1."""
        matrix = np.asarray(self.preprocess.transform(_as_frame(X)), dtype=np.float64)
        return matrix @ self.coef + self.intercept

    def predict_proba(self, X: Any) -> np.ndarray:
        """Return ``[P(0), P(1)]`` per row (scikit-learn layout)."""
        positive = 1.0 / (1.0 + np.exp(-self.decision_function(X)))
        return np.column_stack([1.0 - positive, positive])

    def predict(self, X: Any, threshold: float = 0.5) -> np.ndarray:
        """Return 0/1 labels at ``threshold``."""
        return (self.predict_proba(X)[:, 1] >= threshold).astype(int)


@contextmanager
def _single_thread() -> Iterator[None]:
    """Run torch on one thread: a linear model on small batches only loses to thread overhead."""
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


def train_dp_logistic(
    X: Any,
    y: Any,
    epsilon: float = 1.0,
    delta: float | None = None,
    epochs: int = 20,
    seed: int = 0,
    *,
    batch_size: int = 256,
    learning_rate: float = 0.5,
    max_grad_norm: float = 1.0,
    accountant: str = "rdp",
) -> DPLogisticModel:
    """Train a logistic regression with DP-SGD (Opacus ``make_private_with_epsilon``).

    Features are standardised (numbers) and one-hot encoded (text). Each step samples a Poisson
    batch (expected size ``batch_size``), clips every example's gradient to ``max_grad_norm``
    and adds Gaussian noise calibrated so that ``epochs`` passes spend at most
    ``(epsilon, delta)``. ``epsilon=inf`` trains the same model with plain mini-batch SGD (the
    non-private reference).

    The guarantee covers the model weights only: the standardisation statistics and one-hot
    levels are fitted on the same rows without noise (use public bounds/levels if they matter).

    Args:
        X: Raw training inputs (DataFrame or array).
        y: 0/1 labels.
        epsilon: Target privacy budget; ``math.inf`` for no DP.
        delta: Target delta; defaults to ``1 / (10 n)`` (below 1/n, as DP requires).
        epochs: Passes over the data.
        seed: Seed of the initialisation, the sampling and the noise.
        batch_size: Expected batch size.
        learning_rate: SGD step size.
        max_grad_norm: Per-example clipping bound.
        accountant: Opacus accountant (``rdp``, ``prv`` or ``gdp``).

    Returns:
        The fitted model with the epsilon actually spent.

    Raises:
        ValueError: On a non-positive epsilon, empty data or labels other than 0/1.

    """
    started = time.perf_counter()
    if not epsilon > 0:
        raise ValueError(f"epsilon must be positive (math.inf for no DP), got {epsilon}")
    frame = _as_frame(X)
    labels = np.asarray(y, dtype=np.float64).reshape(-1)
    if len(frame) == 0 or len(frame) != len(labels):
        raise ValueError(f"need as many labels as rows, got {len(frame)} rows, {len(labels)}")
    if not set(np.unique(labels)) <= {0.0, 1.0}:
        raise ValueError("labels must be 0/1")
    n = len(frame)
    delta = float(delta) if delta is not None else 1.0 / (10.0 * n)
    preprocess = build_linear_preprocessor(frame)
    matrix = np.asarray(preprocess.fit_transform(frame), dtype=np.float32)

    with _single_thread(), warnings.catch_warnings():
        # Opacus' advisory warnings (pseudo-RNG noise, hooks on input-less modules) are noise
        # in every log; secure_mode is a deployment decision documented above.
        warnings.filterwarnings("ignore", message=".*Secure RNG turned off.*")
        warnings.filterwarnings("ignore", message=".*Full backward hook is firing.*")
        warnings.filterwarnings("ignore", message=".*Optimal order is the largest alpha.*")
        weight, bias, spent, noise_multiplier = _sgd_fit(
            matrix,
            labels,
            epsilon=float(epsilon),
            delta=delta,
            epochs=epochs,
            seed=seed,
            batch_size=min(batch_size, n),
            learning_rate=learning_rate,
            max_grad_norm=max_grad_norm,
            accountant=accountant,
        )
    result = DPLogisticModel(
        preprocess=preprocess,
        coef=weight,
        intercept=bias,
        target_epsilon=float(epsilon),
        epsilon=spent,
        delta=delta,
        noise_multiplier=noise_multiplier,
        max_grad_norm=max_grad_norm,
        epochs=epochs,
        fit_seconds=time.perf_counter() - started,
    )
    logger.info(
        "DP logistic: target epsilon %s, spent %.3f (delta %.2e, sigma %.3f) in %.1fs",
        epsilon,
        spent,
        delta,
        noise_multiplier,
        result.fit_seconds,
    )
    return result


def _sgd_fit(
    matrix: np.ndarray,
    labels: np.ndarray,
    *,
    epsilon: float,
    delta: float,
    epochs: int,
    seed: int,
    batch_size: int,
    learning_rate: float,
    max_grad_norm: float,
    accountant: str,
) -> tuple[np.ndarray, float, float, float]:
    """Fit ``sigmoid(w.x + b)`` by (DP-)SGD; return weights, bias, epsilon spent and sigma."""
    torch.manual_seed(seed)
    generator = torch.Generator().manual_seed(seed)
    dataset = torch.utils.data.TensorDataset(
        torch.from_numpy(matrix), torch.from_numpy(labels.astype(np.float32))
    )
    loader = torch.utils.data.DataLoader(
        dataset, batch_size=batch_size, shuffle=True, generator=generator
    )
    model: torch.nn.Module = torch.nn.Linear(matrix.shape[1], 1)
    torch.nn.init.zeros_(model.weight)
    torch.nn.init.zeros_(model.bias)
    optimizer: torch.optim.Optimizer = torch.optim.SGD(model.parameters(), lr=learning_rate)
    engine = None
    noise_multiplier = 0.0
    if math.isfinite(epsilon):
        from opacus import PrivacyEngine  # heavy import, only for private training

        engine = PrivacyEngine(accountant=accountant)
        model, optimizer, loader = engine.make_private_with_epsilon(
            module=model,
            optimizer=optimizer,
            data_loader=loader,
            target_epsilon=epsilon,
            target_delta=delta,
            epochs=epochs,
            max_grad_norm=max_grad_norm,
            noise_generator=generator,
        )
        noise_multiplier = float(optimizer.noise_multiplier)
    # Linear decay to zero: the last iterates average out SGD's (and DP's) noise.
    total_steps = max(1, epochs * len(loader))
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda step: max(0.0, 1.0 - step / total_steps)
    )
    loss_fn = torch.nn.BCEWithLogitsLoss()
    model.train()
    for _ in range(epochs):
        for features, targets in loader:
            if len(features) > 0:  # Poisson sampling can draw an empty batch
                optimizer.zero_grad()
                loss = loss_fn(model(features).squeeze(-1), targets)
                loss.backward()
                optimizer.step()
            schedule.step()
    spent = float(engine.get_epsilon(delta)) if engine is not None else math.inf
    linear = getattr(model, "_module", model)
    weight = linear.weight.detach().numpy().astype(np.float64).reshape(-1)
    bias = float(linear.bias.detach().numpy().reshape(-1)[0])
    return weight, bias, spent, noise_multiplier


def dp_accuracy_cost(
    frame: pd.DataFrame,
    config: TrainingConfig,
    epsilons: Sequence[float] = DEFAULT_EPSILONS,
    *,
    delta: float | None = None,
    epochs: int = 20,
    seed: int = 0,
    **train_kwargs: Any,
) -> pd.DataFrame:
    """Measure what differential privacy costs a model on its config's held-out split.

    Every budget trains :func:`train_dp_logistic` on the same training rows (the config's
    inputs, split and seed) and is scored on the same held-out rows; the non-private model
    (``epsilon = inf``) is always trained and is the reference of the cost columns.

    Args:
        frame: The labelled dataset (e.g. :func:`pipelines.datasets.load_dataset`).
        config: The model's training config (inputs, target, split).
        epsilons: Budgets to compare (``math.inf`` = no DP).
        delta: Target delta; defaults to ``1 / (10 n_train)``.
        epochs: Passes over the training rows.
        seed: Seed of training (the split uses the config's seed).
        **train_kwargs: Passed to :func:`train_dp_logistic` (batch size, learning rate...).

    Returns:
        One row per budget (largest first): ``epsilon`` (target), ``epsilon_spent``,
        ``delta``, ``noise_multiplier``, ``roc_auc``, ``accuracy``, ``roc_auc_cost`` and
        ``accuracy_cost`` (non-private minus private) and ``fit_seconds``.

    """
    data = prepare_labelled_data(frame, config)
    train, test = split_labelled_data(
        data, config.split.test_size, config.split.random_state, config.split.group_by_id
    )
    budgets = sorted({float(e) for e in (*epsilons, math.inf)}, reverse=True)
    threshold = config.evaluate.threshold
    rows = []
    for budget in budgets:
        model = train_dp_logistic(
            train.features,
            train.labels,
            epsilon=budget,
            delta=delta,
            epochs=epochs,
            seed=seed,
            **train_kwargs,
        )
        scores = model.predict_proba(test.features)[:, 1]
        rows.append(
            {
                "epsilon": budget,
                "epsilon_spent": model.epsilon,
                "delta": model.delta,
                "noise_multiplier": model.noise_multiplier,
                "roc_auc": float(roc_auc_score(test.labels, scores)),
                "accuracy": float(accuracy_score(test.labels, (scores >= threshold).astype(int))),
                "fit_seconds": model.fit_seconds,
            }
        )
    table = pd.DataFrame(rows)
    reference = table.loc[np.isinf(table["epsilon"])].iloc[0]
    table["roc_auc_cost"] = reference["roc_auc"] - table["roc_auc"]
    table["accuracy_cost"] = reference["accuracy"] - table["accuracy"]
    logger.info(
        "%s DP cost (ROC AUC): %s",
        config.model_name,
        ", ".join(f"eps={row.epsilon:g}: {row.roc_auc:.4f}" for row in table.itertuples()),
    )
    return table[
        [
            "epsilon",
            "epsilon_spent",
            "delta",
            "noise_multiplier",
            "roc_auc",
            "accuracy",
            "roc_auc_cost",
            "accuracy_cost",
            "fit_seconds",
        ]
    ]
