"""Intent recognition of search queries: rules, then a MiniLM nearest-example classifier."""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path

import numpy as np

from textai.search.query_model import ParsedQuery
from textai.search.query_text import (
    DESCRIPTIVE_MIN_WORDS,
    PERSON_CUE,
    QUESTION_CUE,
    TOPIC_CUE,
    content_words,
    validate_query,
)


def rule_intent(text: str, parsed: ParsedQuery | None = None) -> str:
    """Recognise the intent of a query with rules (no model).

    Args:
        text: The raw query.
        parsed: Its parse, when known (filters without remainder -> ``filter_list``).

    Returns:
        One of :data:`INTENTS`.

    """
    low = text.strip().lower()
    if PERSON_CUE.match(low):
        return "lookup_person"
    if parsed is not None and (parsed.filters or parsed.entity_types) and not parsed.text:
        return "filter_list"
    if QUESTION_CUE.match(low) or low.endswith("?") or low.startswith("who "):
        return "question"
    if TOPIC_CUE.search(low) or len(content_words(low)) >= DESCRIPTIVE_MIN_WORDS:
        return "topic_search"
    if parsed is not None and parsed.filters:
        return "filter_list"
    return "find_entity"


def default_intents_path() -> Path:
    """Return the path of the labelled intent examples (``configs/search_intents.yaml``).

    Returns:
        The YAML file's path.

    """
    from haste.settings import CONFIG_DIR

    return CONFIG_DIR / "search_intents.yaml"


def load_intent_examples(path: Path | None = None) -> dict[str, list[str]]:
    """Load the labelled example phrases per intent.

    Args:
        path: YAML file (default :func:`default_intents_path`); ``intents: {name: [phrases]}``.

    Returns:
        Intent -> example phrases.

    Raises:
        ValueError: When the file has no intents or an intent has no example.

    """
    import yaml

    with (path or default_intents_path()).open(encoding="utf-8") as handle:
        data = yaml.safe_load(handle) or {}
    intents = data.get("intents") or {}
    if not intents:
        raise ValueError(f"no intents in {path or default_intents_path()}")
    out: dict[str, list[str]] = {}
    for name, examples in intents.items():
        phrases = [str(e).strip() for e in (examples or []) if str(e).strip()]
        if not phrases:
            raise ValueError(f"intent {name!r} has no example phrase")
        out[str(name)] = phrases
    return out


class IntentClassifier:
    """Nearest-centroid intent classifier over all-MiniLM-L6-v2 sentence embeddings.

    Each intent's centroid is the normalised mean embedding of its example phrases; a query
    gets the intent of the most cosine-similar centroid.
    """

    def __init__(self, examples: dict[str, list[str]]) -> None:
        """Embed the examples and compute one centroid per intent.

        Args:
            examples: Intent -> example phrases.

        """
        from features.text_embeddings import embed_texts

        self.labels: tuple[str, ...] = tuple(examples)
        phrases = [p for name in self.labels for p in examples[name]]
        owner = np.array([i for i, name in enumerate(self.labels) for _ in examples[name]])
        vectors = embed_texts(phrases)
        centroids = np.stack([vectors[owner == i].mean(axis=0) for i in range(len(self.labels))])
        norms = np.linalg.norm(centroids, axis=1, keepdims=True)
        self.centroids: np.ndarray = (centroids / np.maximum(norms, 1e-12)).astype(np.float32)

    @classmethod
    def from_yaml(cls, path: Path | None = None) -> IntentClassifier:
        """Build the classifier from a YAML file of labelled examples.

        Args:
            path: The YAML file (default ``configs/search_intents.yaml``).

        Returns:
            The fitted classifier.

        """
        return cls(load_intent_examples(path))

    def scores(self, texts: Sequence[str]) -> np.ndarray:
        """Return the cosine similarity of each text to each intent centroid.

        Args:
            texts: Queries.

        Returns:
            Array of shape ``(len(texts), n_intents)``.

        """
        from features.text_embeddings import embed_texts

        return embed_texts(list(texts)) @ self.centroids.T

    def predict_many(self, texts: Sequence[str]) -> list[str]:
        """Classify several queries.

        Args:
            texts: Queries.

        Returns:
            One intent per query.

        """
        if not texts:
            return []
        return [self.labels[i] for i in np.argmax(self.scores(texts), axis=1)]

    def predict(self, text: str) -> str:
        """Classify one query.

        Args:
            text: The query.

        Returns:
            The intent.

        """
        return self.predict_many([validate_query(text)])[0]


@lru_cache(maxsize=1)
def default_intent_classifier() -> IntentClassifier:
    """Return the classifier of ``configs/search_intents.yaml``, built once per process.

    Returns:
        The shared :class:`IntentClassifier`.

    """
    return IntentClassifier.from_yaml()


def recognize_intent(text: str) -> str:
    """Recognise a query's intent with the nearest-centroid MiniLM classifier.

    Args:
        text: The query.

    Returns:
        An intent of ``configs/search_intents.yaml`` (find_entity, filter_list, lookup_person,
        question, topic_search).

    Raises:
        ValueError: On an empty or invalid query.

    """
    return default_intent_classifier().predict(text)
