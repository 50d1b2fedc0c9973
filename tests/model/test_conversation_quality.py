"""Conversation intelligence with the real models: ROUGE on DialogSum, action items, sentiment,
storage of the insight.

The summariser test needs only MiniLM and the DialogSum files; the others need the text models
of ``training/text`` (sentiment, action items), trained on first use by
``training.text.registry.ensure_text_models`` into the configured local store.
"""

from __future__ import annotations

import importlib
import random
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from haste.settings import Settings, get_settings
from pipelines.corpora.dialogue import load_dialogsum
from textai.conversation.analyze import ConversationAnalysis, ConversationAnalyzer
from textai.conversation.config import load_conversation_config
from textai.conversation.insight_store import store_conversation_insight
from textai.conversation.summarize import build_units, summarize_extractive, summarize_lead
from textai.conversation.transcript import parse_transcript

#: The DialogSum settings of benchmarks/conversation_bench.py (tuned on DialogSum dev).
DIALOGSUM_SETTINGS = {"max_words": 30, "diversity": 0.3, "lead_bias": 1.0, "min_unit_words": 4}
#: ROUGE-1 F1 x 100 vs summary1 on the seeded 50-dialogue test sample, measured: ours 28.68,
#: LEAD-3 26.55 (full test set, 500 dialogues: ours 28.97, LEAD-3 28.03). Floor just below ours.
ROUGE1_FLOOR = 28.0

SALES_CALL = """\
[00:00:00] Maya: Hi Tom, thanks for making time today. How are things at Brightline?
[00:00:06] Tom: Busy, honestly. Our renewals process is a mess and it is costing us customers.
[00:00:14] Maya: I'm sorry to hear that. What happens today when a renewal is coming up?
[00:00:21] Tom: Nothing, that's the problem. We miss renewal dates all the time and I am \
really frustrated with our current tool. It is slow, it crashes and support never answers.
[00:00:40] Maya: That sounds painful. Our platform sends renewal reminders automatically and \
forecasts which accounts are at risk, so your team can act weeks before the date.
[00:00:58] Tom: We looked at Salesforce last year but it was far too expensive for a team of \
our size.
[00:01:06] Maya: Understood. Most teams your size are live in two weeks, and pricing is per \
seat, so you only pay for the people who use it.
[00:01:15] Tom: Could you send me the pricing sheet by Thursday?
[00:01:19] Maya: Absolutely, I'll send the pricing sheet and a short case study tomorrow morning.
[00:01:26] Tom: Great, thank you so much. This is exactly what we need, I love the forecasting.
[00:01:33] Maya: Wonderful! Shall we book a demo with your team next week?
[00:01:38] Tom: Yes, next Tuesday works perfectly for us.
"""
PARTICIPANTS = [
    {"name": "Maya", "role": "rep"},
    {"name": "Tom", "role": "customer"},
]


@pytest.fixture(scope="module")
def text_models() -> dict[str, Any]:
    """Load the real sentiment and action-item models (trained on first use)."""
    try:
        registry = importlib.import_module("training.text.registry")
        sentiment = importlib.import_module("training.text.sentiment_model")
        action_items = importlib.import_module("training.text.action_items")
    except ModuleNotFoundError as exc:
        pytest.skip(
            f"training/text is missing ({exc.name}): the sentiment and action-item models "
            "(training.text.registry.ensure_text_models) are not available yet"
        )
    paths = registry.ensure_text_models(get_settings())
    return {
        "sentiment": sentiment.load_sentiment_model(paths["sentiment"]),
        "action_items": action_items.load_action_item_model(paths["action_items"]),
    }


@pytest.fixture(scope="module")
def analyzer(text_models: dict[str, Any]) -> ConversationAnalyzer:
    config = load_conversation_config()
    return ConversationAnalyzer(
        text_models["sentiment"],
        text_models["action_items"],
        [c.name for c in config.competitors],
        config=config,
    )


@pytest.fixture(scope="module")
def sales_analysis(analyzer: ConversationAnalyzer) -> ConversationAnalysis:
    return analyzer.analyze(SALES_CALL, PARTICIPANTS, "discovery call")


def test_summariser_rouge1_on_dialogsum_beats_lead3_floor(datasets_dir: Path) -> None:
    from rouge_score import rouge_scorer

    from features.text_embeddings import embed_texts

    examples = load_dialogsum(datasets_dir, "test")
    sample = [examples[i] for i in sorted(random.Random(42).sample(range(len(examples)), 50))]
    parsed = [parse_transcript(example.dialogue) for example in sample]
    units = [build_units(turns) for turns in parsed]
    vectors = embed_texts([u.text for per in units for u in per], batch_size=128)
    scorer = rouge_scorer.RougeScorer(["rouge1"], use_stemmer=True)
    ours, lead = [], []
    offset = 0
    for example, turns, per in zip(sample, parsed, units, strict=True):
        block = vectors[offset : offset + len(per)]
        offset += len(per)
        summary = summarize_extractive(turns, units=per, embeddings=block, **DIALOGSUM_SETTINGS)
        assert summary.word_count <= DIALOGSUM_SETTINGS["max_words"]
        reference = example.summaries[0]
        ours.append(scorer.score(reference, summary.text)["rouge1"].fmeasure)
        lead.append(scorer.score(reference, summarize_lead(turns).text)["rouge1"].fmeasure)
    ours_r1, lead_r1 = 100 * float(np.mean(ours)), 100 * float(np.mean(lead))
    assert ours_r1 >= ROUGE1_FLOOR, (ours_r1, lead_r1)
    assert ours_r1 > lead_r1, (ours_r1, lead_r1)


def test_pricing_sheet_request_is_an_action_item(sales_analysis: ConversationAnalysis) -> None:
    items = [i for i in sales_analysis.action_items if "pricing sheet by Thursday" in i["text"]]
    assert items, [i["text"] for i in sales_analysis.action_items]
    item = items[0]
    assert item["speaker"] == "Tom"
    assert item["turn_index"] == 7
    assert item["owner"] == "Maya"
    assert item["due"] == "by Thursday"


def test_negative_customer_scores_below_positive_speaker(
    analyzer: ConversationAnalyzer, sales_analysis: ConversationAnalysis
) -> None:
    scores = sales_analysis.overall_sentiment["turn_scores"]
    # Tom's complaint (turn 3) is negative, his thanks (turn 9) positive.
    assert scores[3] < 0 < scores[9]
    by_speaker = analyzer.analyze(
        "Customer: This is terrible. The product keeps crashing and I am very frustrated.\n"
        "Rep: I am so glad you told me, thank you! We will fix it today, I promise.\n"
        "Customer: Honestly I am disappointed, support has been useless for weeks.\n"
        "Rep: Great news: our engineers already found the cause. You will love the update.\n"
    ).sentiment_by_speaker
    assert by_speaker["Customer"]["score"] < by_speaker["Rep"]["score"]
    assert by_speaker["Customer"]["label"] == "negative"


def test_sales_call_alerts_moments_and_coaching(sales_analysis: ConversationAnalysis) -> None:
    assert [a["competitor"] for a in sales_analysis.alerts] == ["Salesforce"]
    assert sales_analysis.alerts[0]["severity"] == "high"  # mentioned with price / objection
    types = {m["type"] for m in sales_analysis.key_moments}
    assert {"competitor_mention", "next_step", "pricing"} <= types
    assert sales_analysis.coaching["question_rate"]["unit"] == "per_minute"
    assert sales_analysis.coaching["reps"] == ["Maya"]
    assert 0 < sales_analysis.summary.count(" ") < 80
    assert sales_analysis.topics[0]["start_turn"] == 0
    assert sales_analysis.topics[-1]["end_turn"] == sales_analysis.n_turns - 1


def test_storing_an_analysis_writes_conversation_insights(
    isolated_settings: Settings, sales_analysis: ConversationAnalysis
) -> None:
    from haste.db import Activity, ConversationInsight, session_scope, upgrade_database

    url = isolated_settings.database_url
    upgrade_database(url)
    insight_id = store_conversation_insight(url, sales_analysis)
    with session_scope(url) as session:
        row = session.get(ConversationInsight, insight_id)
        assert row is not None
        assert row.summary == sales_analysis.summary
        assert row.transcript.startswith("[00:00:00] Maya:")
        assert any("pricing sheet" in item["text"] for item in row.action_items)
        assert row.key_moments["alerts"][0]["competitor"] == "Salesforce"
        assert set(row.sentiment_scores["by_speaker"]) == {"Maya", "Tom"}
        activity = session.get(Activity, row.activity_id)
        assert activity.type == "call"
        assert activity.body == row.transcript
