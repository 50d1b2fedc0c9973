"""The sentiment model as served: text normalisation, the network over MiniLM, save and load."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

MODEL_FILE = "sentiment.pt"


METRICS_FILE = "sentiment_metrics.json"


CONFUSION_FILE = "sentiment_confusion.png"


FORMAT_VERSION = 1


_HANDLE = re.compile(r"(?<![\w@])@\w+")


_URL = re.compile(r"https?://\S+|www\.\S+", re.IGNORECASE)


_SPACES = re.compile(r"\s+")


@dataclass(frozen=True)
class SentimentConfig:
    """Hyper-parameters of the sentiment head and of its data split.

    Attributes:
        hidden_dim: Width of the MLP's hidden layer.
        dropout: Dropout before the output layer.
        learning_rate: AdamW learning rate.
        weight_decay: AdamW weight decay.
        batch_size: Mini-batch size.
        max_epochs: Upper bound on training epochs (early stopping usually ends sooner).
        patience: Epochs without a validation-loss improvement before stopping.
        seed: Seed of the splits, the initialisation and the batch order.
        test_size: Fraction of the airline tweets held out for the test metrics.
        val_size: Fraction of the airline tweets used for early stopping.
        uci_train_fraction: Fraction of the UCI sentences added to training (stratified by
            source and label); the rest is the out-of-domain held-out set.
        consistency_weight: Weight of the name-consistency penalty (0 disables it): the
            variance of the predicted log-probabilities across :data:`NAME_FILLERS` swapped into
            each of :data:`NAME_TEMPLATES`.
        consistency_groups: Templates sampled per training step for that penalty.
    """

    hidden_dim: int = 256
    dropout: float = 0.3
    learning_rate: float = 2e-3
    weight_decay: float = 1e-4
    batch_size: int = 512
    max_epochs: int = 80
    patience: int = 10
    seed: int = 42
    test_size: float = 0.2
    val_size: float = 0.1
    uci_train_fraction: float = 0.5
    consistency_weight: float = 0.3
    consistency_groups: int = 8


def normalise_text(text: str) -> str:
    """Mask @handles and URLs and collapse whitespace (the same at training and inference).

    Masking the handles keeps the model from learning which airline a tweet is addressed to,
    which would not transfer to CRM text and would make scores depend on a company name.

    Args:
        text: Raw text.

    Returns:
        The normalised text.
    """
    text = _URL.sub("http", text)
    text = _HANDLE.sub("@user", text)
    return _SPACES.sub(" ", text).strip()


def build_network(input_dim: int, hidden_dim: int, n_classes: int, dropout: float) -> nn.Sequential:
    """Build the MLP head shared by training and inference.

    Args:
        input_dim: Embedding size (384 for MiniLM).
        hidden_dim: Hidden layer width.
        n_classes: Number of output classes.
        dropout: Dropout probability.

    Returns:
        ``Dropout(0.1) -> Linear -> GELU -> Dropout -> Linear`` producing logits.
    """
    return nn.Sequential(
        nn.Dropout(0.1),
        nn.Linear(input_dim, hidden_dim),
        nn.GELU(),
        nn.Dropout(dropout),
        nn.Linear(hidden_dim, n_classes),
    )


class SentimentModel:
    """A trained sentiment head over MiniLM embeddings, ready for inference (plain torch).

    Attributes:
        labels: Class names, in the column order of :meth:`predict_proba`.
        config: The training configuration (as a dict).
        network: The MLP, in eval mode.
    """

    def __init__(
        self, network: nn.Module, labels: Sequence[str], config: dict[str, Any] | None = None
    ) -> None:
        self.network = network.eval()
        self.labels: list[str] = list(labels)
        self.config: dict[str, Any] = dict(config or {})
        self._negative = self.labels.index("negative")
        self._positive = self.labels.index("positive")

    def predict_proba_embeddings(self, embeddings: np.ndarray) -> np.ndarray:
        """Return class probabilities for precomputed MiniLM embeddings.

        Args:
            embeddings: Array of shape ``(n, 384)``.

        Returns:
            Array of shape ``(n, len(labels))``; rows sum to 1.
        """
        inputs = torch.as_tensor(np.asarray(embeddings, dtype=np.float32))
        with torch.inference_mode():
            logits = self.network(inputs)
            return torch.softmax(logits, dim=-1).numpy().astype(np.float64)

    def predict_proba(self, texts: Sequence[str]) -> np.ndarray:
        """Return class probabilities for raw texts.

        Args:
            texts: Texts (tweets, emails, notes...).

        Returns:
            Array of shape ``(n, 3)`` in the order of :attr:`labels`.
        """
        from features.text_embeddings import embed_texts

        if isinstance(texts, str):
            texts = [texts]
        normalised = [normalise_text(text) for text in texts]
        return self.predict_proba_embeddings(embed_texts(normalised))

    def predict(self, texts: Sequence[str]) -> list[str]:
        """Return the most likely label of each text.

        Args:
            texts: Texts.

        Returns:
            One label per text.
        """
        probabilities = self.predict_proba(texts)
        return [self.labels[index] for index in probabilities.argmax(axis=1)]

    def score(self, texts: Sequence[str]) -> np.ndarray:
        """Return a sentiment score in ``[-1, 1]``: ``p(positive) - p(negative)``.

        Args:
            texts: Texts.

        Returns:
            Array of shape ``(n,)``.
        """
        probabilities = self.predict_proba(texts)
        return probabilities[:, self._positive] - probabilities[:, self._negative]

    def save(self, path: Path) -> Path:
        """Save the state dict and configuration (loadable with ``weights_only=True``).

        Args:
            path: Target ``.pt`` file.

        Returns:
            The written path.
        """
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        payload = {
            "format_version": FORMAT_VERSION,
            "labels": list(self.labels),
            "config": self.config,
            "state_dict": self.network.state_dict(),
        }
        torch.save(payload, path)
        return path


def load_sentiment_model(path: Path) -> SentimentModel:
    """Load a model saved by :func:`train_sentiment_model` (plain torch, no Lightning).

    Args:
        path: The ``sentiment.pt`` file, or the folder holding it.

    Returns:
        The model in eval mode.

    Raises:
        FileNotFoundError: When the file does not exist.
    """
    path = Path(path)
    if path.is_dir():
        path = path / MODEL_FILE
    if not path.exists():
        raise FileNotFoundError(
            f"sentiment model {path} not found; train it with "
            "training.text.sentiment.train_sentiment_model"
        )
    payload = torch.load(path, map_location="cpu", weights_only=True)
    config = payload["config"]
    labels = payload["labels"]
    network = build_network(
        config["input_dim"], config["hidden_dim"], len(labels), config["dropout"]
    )
    network.load_state_dict(payload["state_dict"])
    return SentimentModel(network, labels, config)
