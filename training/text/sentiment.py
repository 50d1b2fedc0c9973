"""Three-class sentiment (negative / neutral / positive) on frozen MiniLM sentence embeddings.

Training (:func:`train_sentiment_model`) fits a small MLP, wrapped in a PyTorch Lightning module,
on the Twitter US Airline Sentiment tweets (stratified 70/10/20 train/val/test, seed 42, early
stopping on the validation loss) plus half of the UCI Sentiment Labelled Sentences (binary
negative/positive reviews, so the model also sees product/service prose); the other half of UCI
is held out as an out-of-domain check. A TF-IDF + logistic-regression baseline is fitted on the
same non-test rows (train + val) in the same run.

Sentence embeddings move a lot when a name changes ("I flew United ..." vs "I flew Delta ..."),
and an unregularised head turns that into large score swings on neutral sentences. Training
therefore adds a name-consistency penalty: the variance of the predicted log-probabilities when 48
airline, company and person names are swapped into 64 template sentences
(:data:`~training.text.sentiment_data.NAME_TEMPLATES`,
:data:`~training.text.sentiment_data.NAME_FILLERS`). On held-out sentences and names (those of
``tests/model/test_text_models.py``) it lowers the mean score change of a name swap from 0.095
to 0.060 and the largest from 0.48 to 0.28, for a small rise in validation loss (0.477 -> 0.486).

Inference (:class:`SentimentModel`, :func:`load_sentiment_model`) is plain torch: it never
imports Lightning, and one sentence costs one MiniLM forward pass plus a tiny MLP.
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sklearn.metrics import confusion_matrix
from threadpoolctl import threadpool_limits

from training.text.corpora import (
    SENTIMENT_LABELS,
    embed_corpus,
    load_airline_tweets,
    load_uci_sentences,
    sample_corpus,
)
from training.text.sentiment_data import (
    embed_name_swaps,
    label_indices,
    split_airline,
    split_uci,
)
from training.text.sentiment_eval import (
    PUBLISHED_AIRLINE,
    align_proba,
    binary_polarity_accuracy,
    build_tfidf_baseline,
    compute_sentiment_metrics,
    plot_confusion_matrix,
)
from training.text.sentiment_lightning import fit_sentiment_network
from training.text.sentiment_model import (
    CONFUSION_FILE,
    METRICS_FILE,
    MODEL_FILE,
    SentimentConfig,
    SentimentModel,
    normalise_text,
)

logger = logging.getLogger(__name__)


@dataclass
class SentimentReport:
    """Outcome of :func:`train_sentiment_model`.

    Attributes:
        metrics: Flat metrics (``airline_*``, ``baseline_airline_*``, ``uci_heldout_*`` ...).
        artifact_path: The saved model (``sentiment.pt``).
        metrics_path: The JSON summary (``sentiment_metrics.json``).
        confusion_matrix_path: The airline test confusion matrix (PNG).
        params: Hyper-parameters and data sizes (for experiment tracking).
        details: Per-class and per-source breakdowns, published figures.
        wall_time_s: Training wall time in seconds (embeddings included).
    """

    metrics: dict[str, float]
    artifact_path: Path
    metrics_path: Path
    confusion_matrix_path: Path
    params: dict[str, Any] = field(default_factory=dict)
    details: dict[str, Any] = field(default_factory=dict)
    wall_time_s: float = 0.0

    @property
    def artifacts(self) -> list[Path]:
        """Return every file the run wrote."""
        return [self.artifact_path, self.metrics_path, self.confusion_matrix_path]


def train_sentiment_model(
    datasets_dir: Path,
    out_dir: Path,
    *,
    max_epochs: int = 80,
    seed: int = 42,
    config: SentimentConfig | None = None,
    cache_dir: Path | None = None,
    sample: int | None = None,
) -> SentimentReport:
    """Train, evaluate and save the sentiment model (and its TF-IDF baseline, same split).

    Args:
        datasets_dir: The shared datasets folder.
        out_dir: Where ``sentiment.pt``, ``sentiment_metrics.json`` and the confusion matrix
            are written.
        max_epochs: Upper bound on epochs (early stopping on val loss usually stops sooner).
        seed: Seed of the splits, initialisation and batch order.
        config: Full hyper-parameters; ``max_epochs`` and ``seed`` override its fields.
        cache_dir: Embedding cache folder (default ``<HASTE_HOME>/cache/embeddings``).
        sample: Use a seeded, stratified sample of at most this many texts per corpus (the
            demo's fast mode; splits are then made within the sample). None uses everything.

    Returns:
        The report with metrics and artifact paths.
    """
    started = time.perf_counter()
    base = config or SentimentConfig()
    config = SentimentConfig(**{**asdict(base), "max_epochs": max_epochs, "seed": seed})
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)

    tweets = sample_corpus(load_airline_tweets(datasets_dir), sample, seed=seed)
    sentences = sample_corpus(load_uci_sentences(datasets_dir), sample, seed=seed)
    tweets, sentences = tweets.reset_index(drop=True), sentences.reset_index(drop=True)
    # Whole corpora are embedded (and cached) once, then indexed: changing a split re-uses them.
    tweet_vectors = embed_corpus([normalise_text(t) for t in tweets["text"]], cache_dir=cache_dir)
    uci_vectors = embed_corpus([normalise_text(t) for t in sentences["text"]], cache_dir=cache_dir)
    air_train, air_val, air_test = split_airline(tweets, config)
    uci_train, uci_heldout = split_uci(sentences, config)
    train_rows = pd.concat(
        [air_train.assign(corpus="airline"), uci_train.assign(corpus="uci")], ignore_index=True
    )
    train_x = np.concatenate(
        [tweet_vectors[air_train.index.to_numpy()], uci_vectors[uci_train.index.to_numpy()]]
    )
    val_x = tweet_vectors[air_val.index.to_numpy()]
    test_x = tweet_vectors[air_test.index.to_numpy()]
    uci_x = uci_vectors[uci_heldout.index.to_numpy()]
    name_groups = None
    if config.consistency_weight > 0:
        name_groups = embed_name_swaps(cache_dir=cache_dir)
    embedded = time.perf_counter()

    network, facts = fit_sentiment_network(
        train_x,
        label_indices(train_rows["label"]),
        val_x,
        label_indices(air_val["label"]),
        config,
        name_groups,
    )
    model_config = {**asdict(config), "input_dim": int(train_x.shape[1])}
    model = SentimentModel(network, SENTIMENT_LABELS, model_config)
    fitted = time.perf_counter()

    test_y = label_indices(air_test["label"])
    ours_test = model.predict_proba_embeddings(test_x)
    ours_uci = model.predict_proba_embeddings(uci_x)

    baseline = build_tfidf_baseline(seed)
    baseline_rows = pd.concat([train_rows, air_val], ignore_index=True)
    with threadpool_limits(limits=1):
        baseline.fit(
            [normalise_text(t) for t in baseline_rows["text"]],
            label_indices(baseline_rows["label"]),
        )
    base_test = align_proba(baseline, [normalise_text(t) for t in air_test["text"]])
    base_uci = align_proba(baseline, [normalise_text(t) for t in uci_heldout["text"]])

    metrics: dict[str, float] = {}
    for prefix, probabilities in (("airline", ours_test), ("baseline_airline", base_test)):
        scores = compute_sentiment_metrics(test_y, probabilities)
        metrics.update({f"{prefix}_{key}": value for key, value in scores.items()})
    uci_targets = uci_heldout["target"].to_numpy()
    metrics["uci_heldout_accuracy"] = binary_polarity_accuracy(uci_targets, ours_uci)
    metrics["baseline_uci_heldout_accuracy"] = binary_polarity_accuracy(uci_targets, base_uci)
    per_source = {}
    for source, rows in uci_heldout.groupby("source"):
        mask = (uci_heldout["source"] == source).to_numpy()
        per_source[str(source)] = binary_polarity_accuracy(
            rows["target"].to_numpy(), ours_uci[mask]
        )
        metrics[f"uci_heldout_accuracy_{source}"] = per_source[str(source)]
    metrics.update({k: v for k, v in facts.items()})
    metrics["train_seconds"] = fitted - embedded

    matrix = confusion_matrix(test_y, ours_test.argmax(axis=1), labels=[0, 1, 2])
    artifact = model.save(out_dir / MODEL_FILE)
    figure = plot_confusion_matrix(
        matrix, "Airline test split: MiniLM + MLP", out_dir / CONFUSION_FILE
    )
    params = {
        **asdict(config),
        "embedding_model": "sentence-transformers/all-MiniLM-L6-v2",
        "rows_train_airline": len(air_train),
        "rows_train_uci": len(uci_train),
        "rows_val": len(air_val),
        "rows_test": len(air_test),
        "rows_uci_heldout": len(uci_heldout),
    }
    details = {
        "labels": list(SENTIMENT_LABELS),
        "confusion_matrix": matrix.tolist(),
        "published_airline": PUBLISHED_AIRLINE,
        "uci_heldout_accuracy_by_source": per_source,
        "baseline": "TfidfVectorizer(1-2 grams, min_df=2, sublinear_tf) + LogisticRegression(C=4)"
        ", fitted on the same airline train+val and UCI train rows",
    }
    wall = time.perf_counter() - started
    metrics_path = out_dir / METRICS_FILE
    summary = {"metrics": metrics, "params": params, "details": details, "wall_time_s": wall}
    metrics_path.write_text(json.dumps(summary, indent=2, default=str), encoding="utf-8")
    logger.info(
        "sentiment: airline acc %.4f macro-F1 %.4f (TF-IDF %.4f / %.4f), UCI held-out %.4f",
        metrics["airline_accuracy"],
        metrics["airline_macro_f1"],
        metrics["baseline_airline_accuracy"],
        metrics["baseline_airline_macro_f1"],
        metrics["uci_heldout_accuracy"],
    )
    return SentimentReport(metrics, artifact, metrics_path, figure, params, details, wall)
