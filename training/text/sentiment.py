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
(:data:`NAME_TEMPLATES`, :data:`NAME_FILLERS`). On held-out sentences and names (those of
``tests/model/test_text_models.py``) it lowers the mean score change of a name swap from 0.095
to 0.060 and the largest from 0.48 to 0.28, for a small rise in validation loss (0.477 -> 0.486).

Inference (:class:`SentimentModel`, :func:`load_sentiment_model`) is plain torch: it never
imports Lightning, and one sentence costs one MiniLM forward pass plus a tiny MLP.
"""

from __future__ import annotations

import copy
import json
import logging
import time
from dataclasses import asdict, dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import accuracy_score, confusion_matrix, f1_score
from sklearn.model_selection import train_test_split
from sklearn.pipeline import Pipeline, make_pipeline
from threadpoolctl import threadpool_limits
from torch import nn

from training.text.corpora import (
    SENTIMENT_LABELS,
    embed_corpus,
    load_airline_tweets,
    load_uci_sentences,
    sample_corpus,
)
from training.text.sentiment_model import (
    CONFUSION_FILE,
    METRICS_FILE,
    MODEL_FILE,
    SentimentConfig,
    SentimentModel,
    build_network,
    normalise_text,
)

logger = logging.getLogger(__name__)


#: Published figures on the airline tweets (twitter_airline_sentiment/PROVENANCE.md).
PUBLISHED_AIRLINE: dict[str, dict[str, float]] = {
    "multinomial_nb": {"accuracy": 0.772},
    "svc": {"accuracy": 0.788},
    "bert_base_uncased": {"accuracy": 0.820, "macro_f1": 0.76},
}

#: Sentences with one name slot, for the name-consistency regulariser (not test sentences).
NAME_TEMPLATES: tuple[str, ...] = (
    "{} sent over the updated pricing sheet this morning.",
    "I spoke with {} about the renewal.",
    "Is {} still hosting the webinar on Thursday?",
    "We are switching to {} next quarter.",
    "Can someone from {} confirm the delivery date?",
    "I booked my trip with {}.",
    "{} is the point of contact for the integration.",
    "{} wants to move the kickoff to next week.",
    "{} asked for a copy of the invoice.",
    "Please forward this to {}.",
    "{} will join the call at 3pm.",
    "The contract with {} expires in June.",
    "We got a referral from {}.",
    "My connecting flight is with {}.",
    "{} just posted their quarterly results.",
    "Does {} allow two carry-on bags?",
    "{} is reviewing the proposal with legal.",
    "I have a meeting with {} tomorrow at 10.",
    "Our order from {} shipped on Monday.",
    "{} changed the gate for flight 302.",
    "I need to update my email address with {}.",
    "{} requested a demo for their sales team.",
    "How do I reach {} customer service?",
    "{} mentioned they are hiring two more engineers.",
    "The invoice from {} is attached.",
    "We are flying {} to Denver on Friday.",
    "{} is based in Chicago.",
    "Who at {} handles procurement?",
    "Our account manager at {} never returned my call.",
    "{} cancelled the meeting again without notice.",
    "{} charged us twice for the same order, unacceptable.",
    "Still waiting on {} to process the refund.",
    "Honestly {} has been a nightmare to deal with.",
    "The flight on {} was delayed three hours.",
    "{} lost our luggage and nobody helps.",
    "I've been on hold with {} for over an hour.",
    "{} keeps ignoring our support tickets.",
    "Very disappointed with how {} handled the outage.",
    "{} overbooked the flight and bumped me.",
    "The software from {} crashes every day.",
    "{} missed the deadline for the third time.",
    "Worst onboarding experience ever with {}.",
    "{} was rude to our team on the call.",
    "We are cancelling our subscription with {}.",
    "{} did an amazing job with the rollout!",
    "The support team at {} fixed the issue quickly.",
    "Thank you {} for the quick reply.",
    "Had a great call with {} today.",
    "{} loved the new dashboard.",
    "{} upgraded me to first class, so happy!",
    "Really impressed with the service from {}.",
    "{} signed the deal, great news!",
    "Kudos to {} for going above and beyond.",
    "The crew on {} was friendly and helpful.",
    "{} gave us a great discount on the renewal.",
    "Loving the new features {} shipped.",
    "{} resolved my complaint within minutes, thanks!",
    "Best customer experience I've had, thanks to {}.",
    "{} finally replied, but the answer did not help.",
    "Any update from {} on the contract?",
    "{} said the shipment might be late.",
    "Not sure if {} received my message.",
    "{} was okay, nothing special.",
    "We met {} at the conference last year.",
)

#: Airline, company and person names swapped into :data:`NAME_TEMPLATES`.
NAME_FILLERS: tuple[str, ...] = (
    "United",
    "Delta",
    "American Airlines",
    "Southwest",
    "JetBlue",
    "US Airways",
    "Virgin America",
    "Alaska Airlines",
    "Spirit",
    "Lufthansa",
    "Ryanair",
    "Emirates",
    "Acme",
    "Globex",
    "Initech",
    "Salesforce",
    "HubSpot",
    "Oracle",
    "Microsoft",
    "Contoso",
    "Northwind",
    "Umbrella Corp",
    "Stark Industries",
    "Wayne Enterprises",
    "James",
    "Mary",
    "Robert",
    "Linda",
    "Mohammed",
    "Fatima",
    "Carlos",
    "Sofia",
    "Hiroshi",
    "Yuki",
    "Olumide",
    "Chen",
    "Anna",
    "Kevin",
    "Lakshmi",
    "Pierre",
    "Ingrid",
    "Jamal",
    "Emily",
    "Diego",
    "Nguyen",
    "Sarah",
    "Ahmed",
    "Olga",
)


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


@cache
def _lightning_module_class() -> type:
    """Define the LightningModule lazily, so that inference never imports Lightning."""
    import pytorch_lightning as pl

    class SentimentClassifierModule(pl.LightningModule):
        """The MLP head with its loss and optimiser, for the Lightning trainer."""

        def __init__(
            self,
            network: nn.Module,
            learning_rate: float,
            weight_decay: float,
            name_groups: torch.Tensor | None = None,
            consistency_weight: float = 0.0,
            consistency_groups: int = 16,
        ):
            super().__init__()
            self.network = network
            self.learning_rate = learning_rate
            self.weight_decay = weight_decay
            self.loss = nn.CrossEntropyLoss()
            self.name_groups = name_groups
            self.consistency_weight = consistency_weight
            self.consistency_groups = consistency_groups

        def forward(self, inputs: torch.Tensor) -> torch.Tensor:
            return self.network(inputs)

        def training_step(self, batch: tuple[torch.Tensor, torch.Tensor], _: int) -> torch.Tensor:
            inputs, targets = batch
            loss = self.loss(self(inputs), targets)
            self.log("train_loss", loss, on_step=False, on_epoch=True)
            if self.name_groups is not None and self.consistency_weight > 0:
                penalty = self._name_consistency_penalty()
                self.log("name_consistency", penalty, on_step=False, on_epoch=True)
                loss = loss + self.consistency_weight * penalty
            return loss

        def _name_consistency_penalty(self) -> torch.Tensor:
            """Variance of the log-probabilities across names, over sampled templates.

            Log-probabilities rather than probabilities: a probability variance can also be
            lowered by saturating every prediction, which pushes neutral text to the extremes.
            """
            assert self.name_groups is not None
            picked = torch.randint(0, len(self.name_groups), (self.consistency_groups,))
            log_probabilities = torch.log_softmax(self(self.name_groups[picked]), dim=-1)
            spread = log_probabilities - log_probabilities.mean(dim=1, keepdim=True)
            return spread.pow(2).sum(dim=-1).mean()

        def validation_step(self, batch: tuple[torch.Tensor, torch.Tensor], _: int) -> None:
            inputs, targets = batch
            logits = self(inputs)
            self.log("val_loss", self.loss(logits, targets), on_epoch=True, prog_bar=False)
            accuracy = (logits.argmax(dim=-1) == targets).float().mean()
            self.log("val_accuracy", accuracy, on_epoch=True)

        def configure_optimizers(self) -> torch.optim.Optimizer:
            return torch.optim.AdamW(
                self.parameters(), lr=self.learning_rate, weight_decay=self.weight_decay
            )

    return SentimentClassifierModule


@cache
def _best_state_callback_class() -> type:
    """Define a callback keeping the weights of the best validation epoch (in memory)."""
    import pytorch_lightning as pl

    class BestStateKeeper(pl.Callback):
        """Copy the network's state dict whenever ``val_loss`` improves."""

        def __init__(self) -> None:
            self.best_loss = float("inf")
            self.best_epoch = -1
            self.best_state: dict[str, torch.Tensor] | None = None

        def on_validation_epoch_end(self, trainer: Any, pl_module: Any) -> None:
            if trainer.sanity_checking:
                return
            loss = float(trainer.callback_metrics["val_loss"])
            if loss < self.best_loss:
                self.best_loss = loss
                self.best_epoch = trainer.current_epoch
                self.best_state = copy.deepcopy(pl_module.network.state_dict())

    return BestStateKeeper


def _loader(
    features: np.ndarray, targets: np.ndarray, batch_size: int, *, shuffle: bool, seed: int
) -> torch.utils.data.DataLoader:
    dataset = torch.utils.data.TensorDataset(
        torch.as_tensor(features, dtype=torch.float32), torch.as_tensor(targets, dtype=torch.long)
    )
    generator = torch.Generator().manual_seed(seed)
    return torch.utils.data.DataLoader(
        dataset, batch_size=batch_size, shuffle=shuffle, generator=generator, num_workers=0
    )


def fit_sentiment_network(
    train_x: np.ndarray,
    train_y: np.ndarray,
    val_x: np.ndarray,
    val_y: np.ndarray,
    config: SentimentConfig,
    name_groups: np.ndarray | None = None,
) -> tuple[nn.Module, dict[str, float]]:
    """Train the MLP head with Lightning, early stopping on the validation loss.

    Args:
        train_x: Training embeddings.
        train_y: Training class indices.
        val_x: Validation embeddings.
        val_y: Validation class indices.
        config: Hyper-parameters.
        name_groups: Embeddings of name-swapped sentences, shape ``(templates, names, 384)``,
            for the name-consistency penalty; ``None`` disables it.

    Returns:
        The network holding the weights of the best validation epoch, and training facts
        (``best_epoch``, ``best_val_loss``, ``epochs_run``).
    """
    import pytorch_lightning as pl
    from pytorch_lightning.callbacks import EarlyStopping

    pl.seed_everything(config.seed, workers=True, verbose=False)
    network = build_network(
        train_x.shape[1], config.hidden_dim, len(SENTIMENT_LABELS), config.dropout
    )
    groups = None if name_groups is None else torch.as_tensor(name_groups, dtype=torch.float32)
    module = _lightning_module_class()(
        network,
        config.learning_rate,
        config.weight_decay,
        groups,
        config.consistency_weight,
        config.consistency_groups,
    )
    keeper = _best_state_callback_class()()
    trainer = pl.Trainer(
        accelerator="cpu",
        devices=1,
        max_epochs=config.max_epochs,
        deterministic=True,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        num_sanity_val_steps=0,
        callbacks=[EarlyStopping("val_loss", patience=config.patience, mode="min"), keeper],
    )
    # One intra-op thread: the head is tiny, and on a shared 2-core machine a second thread
    # mostly waits on the first (measured: 15x slower per epoch under load).
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        trainer.fit(
            module,
            _loader(train_x, train_y, config.batch_size, shuffle=True, seed=config.seed),
            _loader(val_x, val_y, 1024, shuffle=False, seed=config.seed),
        )
    finally:
        torch.set_num_threads(threads)
    if keeper.best_state is not None:
        network.load_state_dict(keeper.best_state)
    facts = {
        "best_epoch": float(keeper.best_epoch),
        "best_val_loss": float(keeper.best_loss),
        "epochs_run": float(trainer.current_epoch),
    }
    return network.eval(), facts


def embed_name_swaps(*, cache_dir: Path | None = None) -> np.ndarray:
    """Embed every :data:`NAME_TEMPLATES` x :data:`NAME_FILLERS` sentence (cached on disk).

    Args:
        cache_dir: Embedding cache folder (default ``<HASTE_HOME>/cache/embeddings``).

    Returns:
        Array of shape ``(len(NAME_TEMPLATES), len(NAME_FILLERS), 384)``.
    """
    sentences = [
        normalise_text(template.format(name))
        for template in NAME_TEMPLATES
        for name in NAME_FILLERS
    ]
    vectors = embed_corpus(sentences, cache_dir=cache_dir)
    return vectors.reshape(len(NAME_TEMPLATES), len(NAME_FILLERS), -1)


def split_airline(
    tweets: pd.DataFrame, config: SentimentConfig
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Split the tweets into stratified train / validation / test parts.

    Args:
        tweets: Output of :func:`~training.text.corpora.load_airline_tweets`.
        config: Split fractions and seed.

    Returns:
        ``(train, val, test)`` frames.
    """
    rest, test = train_test_split(
        tweets, test_size=config.test_size, stratify=tweets["label"], random_state=config.seed
    )
    val_fraction = config.val_size / (1.0 - config.test_size)
    train, val = train_test_split(
        rest, test_size=val_fraction, stratify=rest["label"], random_state=config.seed
    )
    return train, val, test


def split_uci(
    sentences: pd.DataFrame, config: SentimentConfig
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Split the UCI sentences into a training part and a held-out part.

    Args:
        sentences: Output of :func:`~training.text.corpora.load_uci_sentences`.
        config: ``uci_train_fraction`` and seed.

    Returns:
        ``(train, heldout)``; ``train`` is empty when the fraction is 0.
    """
    if config.uci_train_fraction <= 0:
        return sentences.iloc[:0], sentences
    strata = sentences["source"] + ":" + sentences["label"]
    train, heldout = train_test_split(
        sentences,
        train_size=config.uci_train_fraction,
        stratify=strata,
        random_state=config.seed,
    )
    return train, heldout


def build_tfidf_baseline(seed: int) -> Pipeline:
    """Return the TF-IDF (word 1-2 grams) + logistic-regression baseline.

    Args:
        seed: Solver seed.

    Returns:
        An unfitted pipeline.
    """
    return make_pipeline(
        TfidfVectorizer(ngram_range=(1, 2), min_df=2, sublinear_tf=True),
        LogisticRegression(C=4.0, max_iter=2000, random_state=seed),
    )


def _label_indices(labels: pd.Series) -> np.ndarray:
    lookup = {label: index for index, label in enumerate(SENTIMENT_LABELS)}
    return labels.map(lookup).to_numpy(dtype=np.int64)


def compute_sentiment_metrics(y_true: np.ndarray, probabilities: np.ndarray) -> dict[str, float]:
    """Compute accuracy, macro-F1 and per-class F1 of three-class probabilities.

    Args:
        y_true: Class indices (order of :data:`SENTIMENT_LABELS`).
        probabilities: ``(n, 3)`` probabilities.

    Returns:
        ``accuracy``, ``macro_f1`` and ``f1_<label>`` for each class.
    """
    predicted = probabilities.argmax(axis=1)
    labels = list(range(len(SENTIMENT_LABELS)))
    per_class = f1_score(y_true, predicted, labels=labels, average=None, zero_division=0)
    metrics = {
        "accuracy": float(accuracy_score(y_true, predicted)),
        "macro_f1": float(f1_score(y_true, predicted, average="macro", zero_division=0)),
    }
    for name, value in zip(SENTIMENT_LABELS, per_class, strict=True):
        metrics[f"f1_{name}"] = float(value)
    return metrics


def binary_polarity_accuracy(targets: np.ndarray, probabilities: np.ndarray) -> float:
    """Accuracy of negative-vs-positive calls made by comparing ``p_neg`` with ``p_pos``.

    Args:
        targets: 1 = positive, 0 = negative.
        probabilities: ``(n, 3)`` probabilities in :data:`SENTIMENT_LABELS` order.

    Returns:
        The accuracy (neutral mass is ignored).
    """
    negative = SENTIMENT_LABELS.index("negative")
    positive = SENTIMENT_LABELS.index("positive")
    predicted = (probabilities[:, positive] > probabilities[:, negative]).astype(int)
    return float(np.mean(predicted == np.asarray(targets)))


def plot_confusion_matrix(matrix: np.ndarray, title: str, path: Path) -> Path:
    """Draw a labelled confusion matrix (rows: truth, columns: prediction).

    Args:
        matrix: Square count matrix in :data:`SENTIMENT_LABELS` order.
        title: Figure title.
        path: Target PNG.

    Returns:
        The written path.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from sklearn.metrics import ConfusionMatrixDisplay

    figure, axis = plt.subplots(figsize=(5.5, 4.5))
    ConfusionMatrixDisplay(matrix, display_labels=list(SENTIMENT_LABELS)).plot(
        ax=axis, cmap="Blues", colorbar=False, values_format="d"
    )
    axis.set_title(title)
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    plt.close(figure)
    return path


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
        _label_indices(train_rows["label"]),
        val_x,
        _label_indices(air_val["label"]),
        config,
        name_groups,
    )
    model_config = {**asdict(config), "input_dim": int(train_x.shape[1])}
    model = SentimentModel(network, SENTIMENT_LABELS, model_config)
    fitted = time.perf_counter()

    test_y = _label_indices(air_test["label"])
    ours_test = model.predict_proba_embeddings(test_x)
    ours_uci = model.predict_proba_embeddings(uci_x)

    baseline = build_tfidf_baseline(seed)
    baseline_rows = pd.concat([train_rows, air_val], ignore_index=True)
    with threadpool_limits(limits=1):
        baseline.fit(
            [normalise_text(t) for t in baseline_rows["text"]],
            _label_indices(baseline_rows["label"]),
        )
    base_test = _align_proba(baseline, [normalise_text(t) for t in air_test["text"]])
    base_uci = _align_proba(baseline, [normalise_text(t) for t in uci_heldout["text"]])

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


def _align_proba(pipeline: Pipeline, texts: list[str]) -> np.ndarray:
    """Return a fitted classifier's probabilities with columns in class-index order 0..2."""
    raw = pipeline.predict_proba(texts)
    out = np.zeros((len(texts), len(SENTIMENT_LABELS)))
    for column, cls in enumerate(pipeline.classes_):
        out[:, int(cls)] = raw[:, column]
    return out
