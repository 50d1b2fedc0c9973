"""The text corpora loaders against the counts quoted in each dataset's PROVENANCE.md."""

from __future__ import annotations

from pathlib import Path

import pytest

from training.text.corpora import (
    SENTIMENT_LABELS,
    load_airline_tweets,
    load_email_intent,
    load_uci_sentences,
)


def test_airline_tweets_counts(datasets_dir: Path) -> None:
    tweets = load_airline_tweets(datasets_dir)
    assert len(tweets) == 14_640
    assert tweets["label"].value_counts().to_dict() == {
        "negative": 9_178,
        "neutral": 3_099,
        "positive": 2_363,
    }
    assert set(tweets["label"]) == set(SENTIMENT_LABELS)
    assert tweets["text"].str.len().min() > 0
    assert tweets["airline"].nunique() == 6


def test_uci_sentences_split_on_newline_only(datasets_dir: Path) -> None:
    sentences = load_uci_sentences(datasets_dir)
    assert len(sentences) == 3_000
    counts = sentences.groupby(["source", "label"]).size()
    assert set(counts.to_dict().values()) == {500}
    assert len(counts) == 6
    assert set(sentences["target"]) == {0, 1}
    assert (sentences["target"] == (sentences["label"] == "positive")).all()
    # imdb_labelled.txt holds U+0085 inside sentences: they stay inside one sentence.
    assert sentences["text"].str.contains("\x85").any()
    assert not sentences["text"].str.contains("\t").any()


@pytest.mark.parametrize(("split", "rows", "yes"), [("train", 3_657, 1_719), ("test", 992, 309)])
def test_email_intent_counts(datasets_dir: Path, split: str, rows: int, yes: int) -> None:
    sentences = load_email_intent(datasets_dir, split)  # type: ignore[arg-type]
    assert len(sentences) == rows
    assert int(sentences["label"].sum()) == yes
    assert set(sentences["label"]) == {0, 1}
    assert sentences["text"].str.len().min() > 0


def test_missing_dataset_is_a_clear_file_not_found(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match=r"Tweets\.csv"):
        load_airline_tweets(tmp_path)
    with pytest.raises(FileNotFoundError, match=r"amazon_cells_labelled\.txt"):
        load_uci_sentences(tmp_path)
    with pytest.raises(FileNotFoundError, match=r"Ask0729-fixed\.txt"):
        load_email_intent(tmp_path, "train")


def test_unknown_email_intent_split_is_rejected(datasets_dir: Path) -> None:
    with pytest.raises(ValueError, match="split"):
        load_email_intent(datasets_dir, "validation")  # type: ignore[arg-type]
