"""Loaders for the labelled text corpora in ``../shared/datasets`` (read in place, never copied).

Every loader returns a :class:`pandas.DataFrame` with at least the columns ``text`` and
``label``; the quirks documented in each dataset's ``PROVENANCE.md`` are handled here.
"""

from __future__ import annotations

import csv
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd

from pipelines.datasets import resolve_dataset

AIRLINE_FILE = Path("twitter_airline_sentiment") / "Tweets.csv"
UCI_DIR = Path("uci_sentiment_sentences")
UCI_FILES: dict[str, str] = {
    "amazon": "amazon_cells_labelled.txt",
    "imdb": "imdb_labelled.txt",
    "yelp": "yelp_labelled.txt",
}
INTENT_DIR = Path("email_intent_enron")
INTENT_FILES: dict[str, str] = {
    "train": "Ask0729-fixed.txt",
    "test": "testSet-qualifiedBatch-fixed.txt",
}

#: Sentiment classes, in the column order of every sentiment probability matrix.
SENTIMENT_LABELS: tuple[str, ...] = ("negative", "neutral", "positive")


def load_airline_tweets(datasets_dir: Path) -> pd.DataFrame:
    """Load the Twitter US Airline Sentiment tweets (CrowdFlower, Feb 2015).

    The copy was re-saved by a spreadsheet (tweet ids lost, dates reformatted) but the text and
    labels are intact (PROVENANCE.md), so only those and a few useful extras are kept.

    Args:
        datasets_dir: The shared datasets folder.

    Returns:
        14,640 rows with ``text``, ``label`` (negative/neutral/positive), ``airline``,
        ``negativereason`` and ``label_confidence``.

    Raises:
        DatasetNotFoundError: When ``Tweets.csv`` is missing (a ``FileNotFoundError``).
        ValueError: When an unexpected sentiment label is found.
    """
    path = resolve_dataset(datasets_dir, AIRLINE_FILE)
    raw = pd.read_csv(path, encoding="utf-8", keep_default_na=False, na_values=[""])
    frame = pd.DataFrame(
        {
            "text": raw["text"].fillna("").astype(str),
            "label": raw["airline_sentiment"].astype(str).str.strip(),
            "airline": raw["airline"].astype(str),
            "negativereason": raw["negativereason"],
            "label_confidence": pd.to_numeric(raw["airline_sentiment_confidence"]),
        }
    )
    unknown = set(frame["label"]) - set(SENTIMENT_LABELS)
    if unknown:
        raise ValueError(f"{path}: unexpected airline_sentiment values {sorted(unknown)}")
    return frame


def _read_tab_lines(path: Path) -> list[list[str]]:
    r"""Split a tab-separated text file on ``\n`` only (U+0085 is not a line break here)."""
    content = path.read_text(encoding="utf-8", errors="replace")
    lines = [line.rstrip("\r") for line in content.split("\n")]
    rows = csv.reader(
        (line for line in lines if line.strip()), delimiter="\t", quoting=csv.QUOTE_NONE
    )
    return [row for row in rows]


def load_uci_sentences(datasets_dir: Path) -> pd.DataFrame:
    r"""Load the UCI Sentiment Labelled Sentences (Amazon, IMDb and Yelp, 1,000 each).

    Lines are split on ``\n`` only (``imdb_labelled.txt`` contains U+0085, which
    ``str.splitlines`` would treat as a line break) and fields on tabs with no quoting.

    Args:
        datasets_dir: The shared datasets folder.

    Returns:
        3,000 rows with ``text``, ``label`` (negative/positive), ``target`` (0/1) and
        ``source`` (amazon/imdb/yelp).

    Raises:
        DatasetNotFoundError: When one of the three files is missing.
        ValueError: When a line is not ``sentence<TAB>0|1``.
    """
    records: list[dict[str, object]] = []
    for source, filename in UCI_FILES.items():
        path = resolve_dataset(datasets_dir, UCI_DIR / filename)
        for number, row in enumerate(_read_tab_lines(path), start=1):
            if len(row) < 2 or row[-1].strip() not in {"0", "1"}:
                raise ValueError(f"{path}:{number}: expected 'sentence<TAB>0|1', got {row!r}")
            target = int(row[-1].strip())
            text = "\t".join(row[:-1]).strip()
            records.append(
                {
                    "text": text,
                    "label": "positive" if target == 1 else "negative",
                    "target": target,
                    "source": source,
                }
            )
    return pd.DataFrame.from_records(records)


def load_email_intent(
    datasets_dir: Path, split: Literal["train", "test"] = "train"
) -> pd.DataFrame:
    """Load the Parakweet email-intent sentences (``Label<TAB>sentence``, Yes = request).

    Args:
        datasets_dir: The shared datasets folder.
        split: ``"train"`` (Ask0729-fixed.txt, 3,657 lines) or ``"test"``
            (testSet-qualifiedBatch-fixed.txt, 992 lines).

    Returns:
        Rows with ``text`` and ``label`` (1 = the sentence asks for something, 0 = not).

    Raises:
        DatasetNotFoundError: When the file is missing.
        ValueError: When ``split`` is unknown or a line has no Yes/No label.
    """
    if split not in INTENT_FILES:
        raise ValueError(f"split must be one of {sorted(INTENT_FILES)}, got {split!r}")
    path = resolve_dataset(datasets_dir, INTENT_DIR / INTENT_FILES[split])
    records: list[dict[str, object]] = []
    for number, row in enumerate(_read_tab_lines(path), start=1):
        flag = row[0].strip() if row else ""
        if len(row) < 2 or flag not in {"Yes", "No"}:
            raise ValueError(f"{path}:{number}: expected 'Yes|No<TAB>sentence', got {row!r}")
        records.append({"text": "\t".join(row[1:]).strip(), "label": int(flag == "Yes")})
    return pd.DataFrame.from_records(records)


def default_embedding_cache_dir() -> Path:
    """Return the on-disk cache of corpus embeddings, shared by every home on the machine."""
    from features.text_embeddings import shared_cache_dir

    return shared_cache_dir()


def embed_corpus(texts: Sequence[str], *, cache_dir: Path | None = None) -> np.ndarray:
    """Embed a training corpus with MiniLM, caching the matrix on disk by text fingerprint.

    Args:
        texts: Texts in order.
        cache_dir: Cache folder; ``None`` uses :func:`default_embedding_cache_dir`.

    Returns:
        Float32 array of shape ``(len(texts), 384)``, L2-normalised.
    """
    from features.text_embeddings import EMBEDDING_DIM, embed_texts, text_fingerprint

    texts = list(texts)
    folder = Path(cache_dir) if cache_dir is not None else default_embedding_cache_dir()
    path = folder / f"{text_fingerprint(texts)}.npy"
    if path.exists():
        cached = np.load(path)
        if cached.shape == (len(texts), EMBEDDING_DIM):
            return cached.astype(np.float32, copy=False)
    vectors = embed_texts(texts, batch_size=64, show_progress=False)
    folder.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f"{path.stem}.{os.getpid()}.tmp.npy")
    np.save(partial, vectors)
    os.replace(partial, path)
    return vectors


def sample_corpus(frame: pd.DataFrame, size: int | None, *, seed: int = 42) -> pd.DataFrame:
    """Return a seeded sample of at most ``size`` rows, stratified by ``label``.

    The demo trains the text models on such samples to finish in minutes; every class keeps
    its share of the corpus.

    Args:
        frame: A corpus with a ``label`` column.
        size: Rows wanted; None (or at least ``len(frame)``) returns the corpus unchanged.
        seed: Seed of the sample.

    Returns:
        The sample, in the corpus's original row order.
    """
    if size is None or size >= len(frame):
        return frame
    if size < 1:
        raise ValueError(f"sample size must be >= 1, got {size}")
    fraction = size / len(frame)
    picked = frame.groupby("label", group_keys=False).sample(frac=fraction, random_state=seed)
    return frame.loc[sorted(picked.index)]
