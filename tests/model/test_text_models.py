"""The text models on the real data: floors vs the published figures, behaviour, round trips."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from training.text.action_items import load_action_item_model, train_action_item_model
from training.text.sentiment import load_sentiment_model, train_sentiment_model

pytestmark = pytest.mark.model


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory, datasets_dir: Path) -> dict:
    out = tmp_path_factory.mktemp("text_models")
    sentiment = train_sentiment_model(datasets_dir, out)
    actions = train_action_item_model(datasets_dir, out)
    return {
        "sentiment": sentiment,
        "actions": actions,
        "sentiment_model": load_sentiment_model(sentiment.artifact_path),
        "action_model": load_action_item_model(actions.artifact_path),
    }


def test_sentiment_beats_the_published_bag_of_words_figures(trained) -> None:
    metrics = trained["sentiment"].metrics
    assert metrics["airline_accuracy"] >= 0.78  # NB 0.772, SVC 0.788 published; 0.801 measured
    assert metrics["airline_macro_f1"] >= 0.70  # BERT-base 0.76; 0.739 measured
    assert metrics["uci_heldout_accuracy"] >= 0.85  # out of domain; 0.883 measured
    assert metrics["uci_heldout_accuracy"] > metrics["baseline_uci_heldout_accuracy"]


def test_action_items_are_detected_on_the_held_out_file(trained) -> None:
    metrics = trained["actions"].metrics
    assert metrics["roc_auc"] >= 0.83  # 0.859 measured (TF-IDF baseline 0.888)
    assert metrics["f1"] >= 0.62  # 0.660 measured
    assert metrics["recall"] >= 0.8


def test_sentiment_is_invariant_to_names(trained) -> None:
    model = trained["sentiment_model"]
    pairs = [
        (
            "@united thanks for the quick rebooking, great crew",
            "@delta thanks for the quick rebooking, great crew",
        ),
        (
            "Maria was rude and the flight was late again",
            "John was rude and the flight was late again",
        ),
    ]
    for first, second in pairs:
        scores = model.score([first, second])
        assert abs(scores[0] - scores[1]) < 0.1, (first, scores)


def test_sentiment_moves_in_the_expected_direction(trained) -> None:
    model = trained["sentiment_model"]
    base = "The flight left on time and we landed in Denver."
    worse, better = model.score(
        [
            base + " This was a terrible, awful experience.",
            base + " Thanks so much, great service!",
        ]
    )
    (neutral,) = model.score([base])
    assert worse < neutral < better
    assert model.predict(["I love this airline, best crew ever!"]) == ["positive"]
    assert model.predict(["Lost my bag and nobody helps. Worst airline."]) == ["negative"]


def test_action_item_examples(trained) -> None:
    model = trained["action_model"]
    flags = model.predict(
        ["Can you send me the contract by Friday?", "The weather was nice yesterday."]
    )
    assert list(flags) == [True, False]


def test_round_trip_gives_identical_probabilities(trained, tmp_path: Path) -> None:
    texts = ["Great service today", "My bag is lost", "Please call me back tomorrow"]
    again = load_sentiment_model(trained["sentiment"].artifact_path)
    assert np.allclose(again.predict_proba(texts), trained["sentiment_model"].predict_proba(texts))
    actions = load_action_item_model(trained["actions"].artifact_path)
    assert np.allclose(actions.predict_proba(texts), trained["action_model"].predict_proba(texts))
