"""Sentiment and action-item models on the real corpora: performance, behaviour, persistence.

Both models are trained once per module into a temporary folder; corpus embeddings come from
the machine-wide cache ``~/.cache/haste/embeddings`` (slow only on the very first run).
The behavioural sentences below are not used anywhere in training (the name-consistency
regulariser uses its own templates and names, see ``training.text.sentiment``).
"""

from __future__ import annotations

import itertools
import json
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from training.text.action_items import (
    ActionItemReport,
    load_action_item_model,
    train_action_item_model,
)
from training.text.registry import (
    TEXT_MODEL_FILES,
    ensure_text_models,
    log_text_model_run,
    text_models_dir,
)
from training.text.sentiment import SentimentReport, train_sentiment_model
from training.text.sentiment_data import NAME_FILLERS, NAME_TEMPLATES
from training.text.sentiment_model import load_sentiment_model


@dataclass
class TrainedTextModels:
    sentiment: SentimentReport
    action_items: ActionItemReport
    folder: Path


@pytest.fixture(scope="module")
def trained(datasets_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> TrainedTextModels:
    import torch

    torch.set_num_threads(2)
    folder = tmp_path_factory.mktemp("text_models")
    return TrainedTextModels(
        sentiment=train_sentiment_model(datasets_dir, folder, seed=42),
        action_items=train_action_item_model(datasets_dir, folder, seed=42),
        folder=folder,
    )


@pytest.fixture(scope="module")
def sentiment(trained: TrainedTextModels):
    return load_sentiment_model(trained.sentiment.artifact_path)


@pytest.fixture(scope="module")
def action_items(trained: TrainedTextModels):
    return load_action_item_model(trained.action_items.artifact_path)


# --- performance against the published figures and same-split baselines -------------------


def test_airline_accuracy_beats_published_naive_bayes(trained: TrainedTextModels) -> None:
    metrics = trained.sentiment.metrics
    # PROVENANCE.md: MultinomialNB 77.2 %, SVC 78.8 %, BERT-base 82.0 % / macro-F1 0.76.
    assert metrics["airline_accuracy"] >= 0.78
    assert metrics["airline_macro_f1"] >= 0.70
    # Frozen MiniLM + MLP is on par with TF-IDF + LR in-domain (measured 0.807 vs 0.806).
    assert metrics["airline_accuracy"] >= metrics["baseline_airline_accuracy"] - 0.02
    assert metrics["airline_macro_f1"] >= metrics["baseline_airline_macro_f1"] - 0.02


def test_uci_heldout_out_of_domain(trained: TrainedTextModels) -> None:
    metrics = trained.sentiment.metrics
    # Held-out half of UCI (1,500 reviews), negative vs positive by p_neg vs p_pos.
    assert metrics["uci_heldout_accuracy"] >= 0.85
    assert metrics["uci_heldout_accuracy"] > metrics["baseline_uci_heldout_accuracy"]
    for source in ("amazon", "imdb", "yelp"):
        assert metrics[f"uci_heldout_accuracy_{source}"] >= 0.80


def test_sentiment_artifacts_written(trained: TrainedTextModels) -> None:
    report = trained.sentiment
    assert report.artifact_path.name == "sentiment.pt"
    assert report.confusion_matrix_path.suffix == ".png"
    assert report.confusion_matrix_path.stat().st_size > 1_000
    summary = json.loads(report.metrics_path.read_text(encoding="utf-8"))
    assert summary["metrics"]["airline_accuracy"] == report.metrics["airline_accuracy"]
    assert summary["details"]["published_airline"]["bert_base_uncased"]["accuracy"] == 0.82
    assert summary["params"]["rows_test"] == 2_928
    assert np.asarray(summary["details"]["confusion_matrix"]).sum() == 2_928


def test_action_items_measured_floor_and_auc_above_baseline(trained: TrainedTextModels) -> None:
    metrics = trained.action_items.metrics
    # Test file (992 sentences, 31 % Yes); no published benchmark. Threshold chosen on train.
    assert metrics["f1"] >= 0.68
    assert metrics["roc_auc"] >= 0.88
    assert metrics["roc_auc"] >= metrics["baseline_roc_auc"]
    assert metrics["recall"] >= 0.75
    assert 0.05 < metrics["threshold"] < 0.95
    summary = json.loads(trained.action_items.metrics_path.read_text(encoding="utf-8"))
    assert summary["params"]["rows_test"] == 992


# --- behaviour ----------------------------------------------------------------------------

AIRLINES = ["United", "Delta", "JetBlue", "Southwest", "American Airlines", "Air Canada"]
AIRLINE_SENTENCES = [
    "Just landed in Seattle on {}.",
    "{} changed my seat without asking.",
    "Shout out to the {} gate agents in Atlanta!",
    "Does {} charge for a second checked bag?",
    "My mom is flying {} tomorrow morning.",
]
PEOPLE = ["John", "Maria", "Wei", "Aisha", "Dmitri", "Priya"]
PEOPLE_SENTENCES = [
    "{} from the finance team approved the budget.",
    "{} forwarded the customer's email to me.",
    "{} was super helpful on the support call.",
    "{} never showed up to the meeting.",
    "Can {} join the demo on Friday?",
]


def test_behaviour_sentences_are_not_training_templates() -> None:
    templates = set(NAME_TEMPLATES)
    assert not templates & set(AIRLINE_SENTENCES + PEOPLE_SENTENCES)
    assert not set(PEOPLE) & set(NAME_FILLERS)


@pytest.mark.parametrize(
    ("names", "sentences"),
    [(AIRLINES, AIRLINE_SENTENCES), (PEOPLE, PEOPLE_SENTENCES)],
    ids=["airline", "person"],
)
def test_name_swap_invariance(sentiment, names: list[str], sentences: list[str]) -> None:
    changes = []
    for sentence in sentences:
        scores = sentiment.score([sentence.format(name) for name in names])
        changes.extend(abs(a - b) for a, b in itertools.combinations(scores, 2))
    changes = np.asarray(changes)
    # Every pairwise swap (75 per group). On borderline-neutral sentences a swap can still move
    # the score by more than 0.1 (frozen embeddings move a lot with a name), so the 0.1 bound
    # is asserted on the mean and on the large majority of swaps.
    assert changes.mean() < 0.1
    assert (changes < 0.1).mean() >= 0.7
    assert changes.max() < 0.4


def test_at_handles_are_masked(sentiment) -> None:
    handles = [name.replace(" ", "") for name in AIRLINES]
    scores = sentiment.score([f"@{handle} my flight is delayed again" for handle in handles])
    np.testing.assert_allclose(scores, scores[0], atol=1e-6)


NEUTRAL_BASES = [
    "The meeting with the client was moved to Tuesday.",
    "We received the quote for the new licences.",
    "My flight from Boston landed at 6pm.",
    "The sales rep walked us through the pricing options.",
    "The delivery came on Wednesday.",
    "I checked in online for tomorrow's flight.",
    "Our team reviewed the contract draft.",
]


def test_appending_a_complaint_lowers_the_score(sentiment) -> None:
    base = sentiment.score(NEUTRAL_BASES)
    worse = sentiment.score([f"{s} This was a terrible, awful experience." for s in NEUTRAL_BASES])
    assert np.all(worse < base - 0.05), np.round(base - worse, 3)


def test_appending_praise_raises_the_score(sentiment) -> None:
    base = sentiment.score(NEUTRAL_BASES)
    better = sentiment.score([f"{s} Thanks so much, great service!" for s in NEUTRAL_BASES])
    assert np.all(better > base + 0.05), np.round(better - base, 3)


def test_sentiment_api_shapes(sentiment) -> None:
    texts = ["I love this airline!", "Worst flight of my life.", "What time is boarding?"]
    probabilities = sentiment.predict_proba(texts)
    assert probabilities.shape == (3, 3)
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, atol=1e-6)
    assert sentiment.labels == ["negative", "neutral", "positive"]
    assert sentiment.predict(texts)[:2] == ["positive", "negative"]
    scores = sentiment.score(texts)
    assert scores.shape == (3,)
    assert np.all((scores >= -1) & (scores <= 1))


def test_action_item_examples(action_items) -> None:
    flags = action_items.predict(
        ["Can you send me the contract by Friday?", "The weather was nice yesterday."]
    )
    assert flags.dtype == bool
    assert flags.tolist() == [True, False]
    probabilities = action_items.predict_proba(
        ["Please review the attached proposal and let me know.", "I had lunch with the team."]
    )
    assert probabilities[0] > action_items.threshold > probabilities[1]


# --- persistence, inference path, registry --------------------------------------------------


def test_sentiment_round_trip(sentiment, tmp_path: Path) -> None:
    texts = ["The upgrade was great.", "They lost my luggage.", "Flight 22 boards at 5."]
    copy = load_sentiment_model(sentiment.save(tmp_path / "copy.pt"))
    np.testing.assert_array_equal(sentiment.predict_proba(texts), copy.predict_proba(texts))
    assert copy.config == sentiment.config


def test_action_items_round_trip(action_items, tmp_path: Path) -> None:
    sentences = ["Could you call me tomorrow?", "The report is attached."]
    copy = load_action_item_model(action_items.save(tmp_path / "copy.joblib"))
    np.testing.assert_array_equal(
        action_items.predict_proba(sentences), copy.predict_proba(sentences)
    )
    assert copy.threshold == action_items.threshold


def test_inference_does_not_import_lightning(trained: TrainedTextModels) -> None:
    code = (
        "import sys, numpy as np\n"
        "from training.text.sentiment_model import load_sentiment_model\n"
        f"model = load_sentiment_model({str(trained.sentiment.artifact_path)!r})\n"
        "p = model.predict_proba_embeddings(np.zeros((1, 384), dtype=np.float32))\n"
        "assert p.shape == (1, 3)\n"
        "assert 'pytorch_lightning' not in sys.modules, 'Lightning imported'\n"
        "assert 'lightning' not in sys.modules, 'Lightning imported'\n"
    )
    root = Path(__file__).resolve().parents[2]
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=root, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr[-2000:]


def test_ensure_text_models_is_idempotent(
    trained: TrainedTextModels, isolated_settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = text_models_dir(isolated_settings)
    assert folder == isolated_settings.home / "models" / "text"
    folder.mkdir(parents=True)
    for filename in TEXT_MODEL_FILES.values():
        shutil.copy(trained.folder / filename, folder / filename)

    def fail(*args: object, **kwargs: object) -> None:
        raise AssertionError("a present model must not be retrained")

    monkeypatch.setattr("training.text.sentiment.train_sentiment_model", fail)
    monkeypatch.setattr("training.text.action_items.train_action_item_model", fail)
    paths = ensure_text_models(isolated_settings, datasets_dir=Path("/nonexistent"))
    assert paths == {name: folder / filename for name, filename in TEXT_MODEL_FILES.items()}


def test_log_text_model_run(trained: TrainedTextModels, mlflow_store) -> None:
    import mlflow

    isolated_settings = mlflow_store
    run_id = log_text_model_run(trained.action_items, "action_items", settings=isolated_settings)
    run = mlflow.MlflowClient(isolated_settings.mlflow_tracking_uri).get_run(run_id)
    assert run.data.metrics["f1"] == pytest.approx(trained.action_items.metrics["f1"])
    assert run.data.tags["model_name"] == "action_items"
    assert run.data.params["C"] == str(trained.action_items.params["C"])
