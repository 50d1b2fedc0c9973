"""Conversation intelligence with test doubles: parsing, coaching, alerts, topics, summaries."""

from __future__ import annotations

import itertools
import json
import re
import uuid
import zlib
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest

from textai.conversation.action_items import find_due, guess_owner, has_action_cue
from textai.conversation.analyze import ConversationAnalyzer
from textai.conversation.competitors import build_competitor_alerts, find_competitor_mentions
from textai.conversation.config import Competitor, ConversationConfig, load_conversation_config
from textai.conversation.insight_store import store_conversation_insight
from textai.conversation.request import ConversationAnalyzeRequest, analyze_request
from textai.conversation.summarize import (
    summarize_abstractive,
    summarize_extractive,
    summarize_lead,
    summarize_random,
)
from textai.conversation.talk_metrics import (
    compute_question_rate,
    compute_talk_ratio,
    count_interruptions,
    find_longest_monologue,
)
from textai.conversation.topics import detect_topics, segment_turns
from textai.conversation.transcript import (
    clean_text,
    count_words,
    parse_timestamp,
    parse_transcript,
    split_sentences,
)

REPO = Path(__file__).resolve().parents[2]

SALES_CALL = """\
[00:00:00] Rep: Hi Dana, thanks for joining today.
[00:00:10] Dana: Happy to be here.
[00:00:15] Rep: How is your team handling renewals right now?
[00:00:30] Dana: We track them in spreadsheets and it is painful.
[00:00:45] Rep: Our platform automates renewals. It sends reminders and forecasts revenue. \
It also integrates with your billing system.
[00:01:30] Rep: We onboard most teams in two weeks.
[00:01:45] Dana: What does it cost? Do you integrate with Salesforce?
[00:02:00] Rep: It is forty dollars per seat. Could you send me your seat count by Thursday?
"""
PARTICIPANTS = [{"name": "Rep", "role": "rep"}, {"name": "Dana", "role": "customer"}]


# -- test doubles ----------------------------------------------------------------------------


def fake_embed(texts: Sequence[str]) -> np.ndarray:
    """Hashed bag of words, L2-normalised (similar words -> similar vectors)."""
    vectors = np.zeros((len(texts), 64), dtype=np.float32)
    for row, text in enumerate(texts):
        for token in re.findall(r"[a-z]+", text.lower()):
            vectors[row, zlib.crc32(token.encode()) % 64] += 1.0
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return np.divide(vectors, norms, out=np.zeros_like(vectors), where=norms > 0)


class FakeSentiment:
    labels = ("negative", "neutral", "positive")
    POSITIVE = frozenset({"happy", "great", "love", "thanks", "excellent", "perfect"})
    NEGATIVE = frozenset(
        {"painful", "terrible", "expensive", "frustrated", "disappointed", "awful"}
    )

    def predict_proba(self, texts: Sequence[str]) -> np.ndarray:
        rows = []
        for text in texts:
            words = set(re.findall(r"[a-z]+", text.lower()))
            if words & self.NEGATIVE:
                rows.append([0.8, 0.15, 0.05])
            elif words & self.POSITIVE:
                rows.append([0.05, 0.15, 0.8])
            else:
                rows.append([0.1, 0.8, 0.1])
        return np.asarray(rows)


class FakeActionItems:
    PATTERN = re.compile(r"\b(could you send|i'll|i will|schedule|send me)\b", re.I)

    def predict_proba(self, sentences: Sequence[str]) -> np.ndarray:
        return np.asarray([0.9 if self.PATTERN.search(s) else 0.1 for s in sentences])


class FakeLLM:
    def __init__(self, reply: str | Exception) -> None:
        self.reply = reply
        self.requests: list[dict] = []

    def generate(self, request: dict) -> dict:
        self.requests.append(request)
        if isinstance(self.reply, Exception):
            raise self.reply
        return {"text": self.reply}


def make_analyzer(**kwargs) -> ConversationAnalyzer:
    return ConversationAnalyzer(
        FakeSentiment(), FakeActionItems(), ["Salesforce", "HubSpot"], embed=fake_embed, **kwargs
    )


# -- parsing ---------------------------------------------------------------------------------


def test_parses_speaker_colon_lines_with_continuations() -> None:
    turns = parse_transcript("Alice: Hello there.\nwrapped line\n\nBob Smith: Hi! Meet at 10:30?")
    assert [(t.index, t.speaker, t.text) for t in turns] == [
        (0, "Alice", "Hello there. wrapped line"),
        (1, "Bob Smith", "Hi! Meet at 10:30?"),
    ]
    assert all(t.timestamp is None for t in turns)


def test_parses_dialogsum_format() -> None:
    turns = parse_transcript("#Person1#: Hi, Mr. Smith.\n#Person2#: Hello!\n#Person1#: Bye.")
    assert [t.speaker for t in turns] == ["Person1", "Person2", "Person1"]
    assert turns[0].text == "Hi, Mr. Smith."


def test_parses_timestamped_lines() -> None:
    turns = parse_transcript(
        "[00:01:02] Alice: First.\n(01:05) Bob: Second.\n00:01:10 - Alice: Third.\n"
        "Bob [1:02:03]: Fourth."
    )
    assert [t.speaker for t in turns] == ["Alice", "Bob", "Alice", "Bob"]
    assert [t.timestamp for t in turns] == [62.0, 65.0, 70.0, 3723.0]


def test_parses_qmsum_style_records() -> None:
    records = [
        {"speaker": "Project Manager", "content": "Okay , let's start ."},
        {"speaker": "Marketing", "content": ""},
        {"speaker": "Marketing", "text": "Sure .", "timestamp": "00:05"},
    ]
    turns = parse_transcript(records)
    assert [(t.index, t.speaker, t.timestamp) for t in turns] == [
        (0, "Project Manager", None),
        (1, "Marketing", 5.0),
    ]


@pytest.mark.parametrize("bad", ["", "   \n ", [], None])
def test_empty_transcript_raises(bad) -> None:
    with pytest.raises(ValueError, match="empty"):
        parse_transcript(bad)


def test_unlabelled_text_is_an_unknown_speakers_turn() -> None:
    (turn,) = parse_transcript("just some prose without any speaker labels at all")
    assert (turn.speaker, turn.text) == (
        "Unknown",
        "just some prose without any speaker labels at all",
    )
    first, second = parse_transcript("preamble text\nAlice: hi")
    assert (first.speaker, first.text) == ("Unknown", "preamble text")
    assert (second.speaker, second.text) == ("Alice", "hi")


def test_unparseable_transcripts_raise_clear_errors() -> None:
    with pytest.raises(ValueError, match="needs a speaker"):
        parse_transcript([{"content": "no speaker"}])
    with pytest.raises(ValueError, match="no spoken words"):
        parse_transcript("Alice: um\nBob: {vocalsound}")


def test_sentence_like_prefixes_are_not_speakers() -> None:
    turns = parse_transcript("Alice: Here is the plan.\nSo the thing is: we need budget.")
    assert len(turns) == 1
    assert turns[0].text.endswith("we need budget.")


def test_clean_text_removes_fillers_markup_and_tokenised_punctuation() -> None:
    raw = "Um , so {vocalsound} we we 're uh going to , like , ship it ."
    assert clean_text(raw) == "So we're going to, like, ship it."
    assert clean_text("Mm-hmm .") == ""


def test_split_sentences_keeps_abbreviations() -> None:
    assert split_sentences("Dr. Smith called. Is it done? Yes! Thanks e.g. now") == [
        "Dr. Smith called.",
        "Is it done?",
        "Yes!",
        "Thanks e.g. now",
    ]


def test_parse_timestamp_formats() -> None:
    assert parse_timestamp("01:02") == 62.0
    assert parse_timestamp("1:00:00.5") == 3600.5
    assert parse_timestamp(12) == 12.0
    assert parse_timestamp(None) is None
    with pytest.raises(ValueError):
        parse_timestamp("soon")


# -- coaching metrics (exact, on a hand-made call) ---------------------------------------------


def test_word_counts_of_the_hand_made_call() -> None:
    turns = parse_transcript(SALES_CALL)
    assert [t.word_count for t in turns] == [6, 4, 8, 9, 17, 7, 9, 15]


def test_talk_ratio_is_share_of_words() -> None:
    ratio = compute_talk_ratio(parse_transcript(SALES_CALL))
    assert ratio == pytest.approx({"Rep": 53 / 75, "Dana": 22 / 75})


def test_longest_monologue_merges_consecutive_turns() -> None:
    monologue = find_longest_monologue(parse_transcript(SALES_CALL))
    assert monologue == {
        "speaker": "Rep",
        "words": 24,
        "turns": 2,
        "start_turn": 4,
        "end_turn": 5,
        "seconds": 60.0,
    }


def test_question_rate_per_minute_with_timestamps() -> None:
    rate = compute_question_rate(parse_transcript(SALES_CALL))
    assert rate["unit"] == "per_minute"
    assert rate["duration_seconds"] == 120.0
    assert rate["questions"] == 4
    assert rate["rate"] == pytest.approx(2.0)
    assert rate["by_speaker"] == {
        "Rep": {"questions": 2, "rate": pytest.approx(1.0)},
        "Dana": {"questions": 2, "rate": pytest.approx(1.0)},
    }


def test_question_rate_per_100_turns_without_timestamps() -> None:
    plain = re.sub(r"^\[[\d:]+\] ", "", SALES_CALL, flags=re.M)
    rate = compute_question_rate(parse_transcript(plain))
    assert rate["unit"] == "per_100_turns"
    assert rate["duration_seconds"] is None
    assert rate["rate"] == pytest.approx(50.0)
    assert rate["by_speaker"]["Rep"]["rate"] == pytest.approx(40.0)
    assert rate["by_speaker"]["Dana"]["rate"] == pytest.approx(200 / 3)


def test_interruptions_from_cut_off_turns_and_timestamps() -> None:
    turns = parse_transcript(
        "[00:00:00] A: I was going to say that we --\n"
        "[00:00:02] B: Sorry, quick question.\n"
        "[00:00:03] A: one two three four five six seven eight nine ten eleven twelve.\n"
        "[00:00:04] B: Wait.\n"
        "[00:00:30] A: Fine."
    )
    result = count_interruptions(turns, words_per_second=4.0)
    assert result["by_speaker"] == {"B": 2}
    assert result["count"] == 2


def test_coaching_tips_flag_a_rep_who_talks_too_much() -> None:
    analysis = make_analyzer().analyze(SALES_CALL, PARTICIPANTS, "discovery call")
    assert analysis.coaching["talk_ratio"]["Rep"] == pytest.approx(53 / 75, abs=1e-4)
    assert analysis.coaching["reps"] == ["Rep"]
    assert any("Rep talked 71%" in tip and "listen more" in tip for tip in analysis.coaching_tips)
    assert not any(tip.startswith("Dana talked") for tip in analysis.coaching_tips)


# -- competitors, key moments, action items ----------------------------------------------------


def test_configured_competitors_raise_alerts() -> None:
    config = load_conversation_config(REPO / "configs" / "conversation.yaml")
    names = [c.name for c in config.competitors]
    assert {"Salesforce", "HubSpot", "Pipedrive", "Zoho"} <= set(names)
    turns = parse_transcript(
        "Dana: We use SFDC today and HubSpot's pricing looked cheaper.\n"
        "Rep: Understood.\nDana: Salesforce is too expensive for us.\nRep: Zohobar is a snack."
    )
    mentions = find_competitor_mentions(turns, config.competitors)
    assert [(m["competitor"], m["turn_index"]) for m in mentions] == [
        ("Salesforce", 0),
        ("HubSpot", 0),
        ("Salesforce", 2),
    ]
    alerts = build_competitor_alerts(mentions, objection_turns={2}, reps={"Rep"})
    by_name = {alert["competitor"]: alert for alert in alerts}
    assert by_name["Salesforce"]["severity"] == "high"
    assert by_name["Salesforce"]["mentions"] == 2
    assert by_name["HubSpot"]["severity"] == "medium"
    assert "Salesforce mentioned 2 times" in by_name["Salesforce"]["message"]


def test_analyzer_reports_competitor_alert_and_key_moments() -> None:
    analysis = make_analyzer().analyze(SALES_CALL, PARTICIPANTS, "discovery call")
    assert [a["competitor"] for a in analysis.alerts] == ["Salesforce"]
    assert analysis.alerts[0]["turns"] == [6]
    types = {(m["type"], m["turn_index"]) for m in analysis.key_moments}
    assert ("competitor_mention", 6) in types
    assert ("price_question", 6) in types
    assert ("pricing", 7) in types
    assert all("reason" in m for m in analysis.key_moments)


def test_action_item_with_owner_and_due_date() -> None:
    analysis = make_analyzer().analyze(SALES_CALL, PARTICIPANTS)
    items = [i for i in analysis.action_items if "seat count" in i["text"]]
    assert len(items) == 1
    item = items[0]
    assert item["speaker"] == "Rep"
    assert item["turn_index"] == 7
    assert item["owner"] == "Dana"
    assert item["due"] == "by Thursday"


class ConstantActionItems:
    def predict_proba(self, sentences: Sequence[str]) -> np.ndarray:
        return np.full(len(sentences), 0.7)


def test_action_items_need_a_cue_below_the_cue_free_probability() -> None:
    analyzer = ConversationAnalyzer(FakeSentiment(), ConstantActionItems(), [], embed=fake_embed)
    analysis = analyzer.analyze(
        "Ann: Great, thank you so much.\nBob: Please share the deck with legal.\n"
        "Ann: We need to confirm the budget by Friday.\nBob: Yes, that works perfectly for us."
    )
    assert [item["text"] for item in analysis.action_items] == [
        "Please share the deck with legal.",
        "We need to confirm the budget by Friday.",
    ]
    assert has_action_cue("Could you send me the pricing sheet by Thursday?")
    assert not has_action_cue("This is exactly what we need, I love it.")


def test_objection_keywords_from_reps_are_not_objections() -> None:
    analysis = make_analyzer().analyze(
        "Rep: Our reports flag accounts at risk.\nDana: My concern is the migration.",
        [{"name": "Rep", "role": "rep"}],
    )
    objections = [m for m in analysis.key_moments if m["type"] == "objection"]
    assert [(m["speaker"], m["turn_index"]) for m in objections] == [("Dana", 1)]


def test_guess_owner_rules() -> None:
    names = {"bob": "Bob", "alice": "Alice"}
    assert guess_owner("I'll send the deck to Bob.", "Alice", names=names, addressee="Bob") == (
        "Alice",
        "speaker committed (I will / I'll)",
    )
    assert (
        guess_owner("Bob will draft the contract.", "Alice", names=names, addressee=None)[0]
        == "Bob"
    )
    assert guess_owner("Can you loop in legal?", "Alice", names=names, addressee="Bob")[0] == "Bob"
    assert guess_owner("The deck is ready.", "Alice", names=names, addressee="Bob") == (None, None)
    assert find_due("Please confirm by end of the week.") == "by end of the week"


def test_sentiment_by_speaker_and_time_series() -> None:
    analysis = make_analyzer().analyze(SALES_CALL, PARTICIPANTS)
    dana = analysis.sentiment_by_speaker["Dana"]
    assert dana["turns"] == 3
    # happy (+0.75), painful (-0.75), neutral (0.0)
    assert dana["score"] == pytest.approx(0.0, abs=1e-6)
    assert dana["series"] and all(-1 <= p["score"] <= 1 for p in dana["series"])
    assert analysis.overall_sentiment["label"] in {"negative", "neutral", "positive"}
    assert len(analysis.overall_sentiment["turn_scores"]) == analysis.n_turns


def test_analysis_is_json_serialisable() -> None:
    analysis = make_analyzer().analyze(SALES_CALL, PARTICIPANTS, "discovery call")
    body = json.loads(json.dumps(analysis.to_dict()))
    assert body["n_turns"] == 8
    assert body["summary_method"] == "extractive"
    assert "transcript" not in body
    assert analysis.to_dict(include_transcript=True)["transcript"].startswith("[00:00:00] Rep:")


# -- topics ------------------------------------------------------------------------------------


def _two_topic_turns() -> list[dict]:
    first = [
        "renewals invoices billing reminders renewals",
        "billing invoices renewals overdue invoices",
        "renewals billing reminders invoices cycle",
    ]
    second = [
        "hiring interviews candidates recruiters offers",
        "candidates interviews hiring pipeline recruiters",
        "offers candidates hiring interviews onboarding",
    ]
    turns = [{"speaker": "A" if i % 2 else "B", "content": first[i % 3]} for i in range(12)]
    turns += [{"speaker": "A" if i % 2 else "B", "content": second[i % 3]} for i in range(12)]
    return turns


def test_topic_segments_are_contiguous_and_cover_every_turn() -> None:
    turns = parse_transcript(_two_topic_turns())
    topics = detect_topics(turns, embed=fake_embed, max_segments=4, min_segment_turns=4)
    assert topics[0].start_turn == 0
    assert topics[-1].end_turn == len(turns) - 1
    for left, right in itertools.pairwise(topics):
        assert right.start_turn == left.end_turn + 1
    assert 12 in {t.start_turn for t in topics}
    first = next(t for t in topics if t.start_turn == 0)
    assert {"renewals", "billing", "invoices"} & set(" ".join(first.keywords).split())
    last = topics[-1]
    assert {"hiring", "interviews", "candidates"} & set(" ".join(last.keywords).split())
    assert not {"renewals", "billing"} & set(" ".join(last.keywords).split())


def test_short_conversation_is_one_segment() -> None:
    vectors = fake_embed(["a b", "c d", "e f"])
    assert segment_turns(vectors) == [(0, 2)]


# -- summaries ---------------------------------------------------------------------------------


def test_summary_respects_word_budget_and_keeps_order() -> None:
    turns = parse_transcript(SALES_CALL)
    for budget in (5, 12, 25, 40):
        summary = summarize_extractive(turns, max_words=budget, embed=fake_embed)
        assert 0 < summary.word_count <= budget
        assert count_words(summary.text) == summary.word_count
        positions = [u.position for u in summary.units]
        assert positions == sorted(positions)


def test_summary_cleans_fillers_and_prefixes_speakers() -> None:
    turns = parse_transcript(
        "Alice: Um, so we uh agreed to move the launch to May.\n"
        "Bob: Yeah.\nBob: Uh, the budget stays the same for the launch."
    )
    summary = summarize_extractive(turns, max_words=40, embed=fake_embed)
    assert "um" not in summary.text.lower().split()
    assert "uh" not in summary.text.lower().split()
    assert summary.text.startswith("Alice: So we agreed")
    assert "Bob: The budget stays" in summary.text


def test_baselines_lead_and_random() -> None:
    turns = parse_transcript(SALES_CALL)
    lead = summarize_lead(turns, n_sentences=3)
    assert lead.text.startswith("Rep: Hi Dana")
    assert len(lead.units) == 3
    random_summary = summarize_random(turns, max_words=20, seed=1)
    assert random_summary.word_count <= 20
    assert random_summary.text == summarize_random(turns, max_words=20, seed=1).text


def test_abstractive_pass_uses_the_llm_and_falls_back_on_errors() -> None:
    turns = parse_transcript(SALES_CALL)
    extractive = summarize_extractive(turns, max_words=30, embed=fake_embed)
    llm = FakeLLM("Rep pitched renewal automation to Dana, who asked about price.")
    result = summarize_abstractive(llm, turns, extractive, max_words=30)
    assert result.method == "abstractive"
    assert result.text.startswith("Rep pitched")
    assert "Transcript:" in llm.requests[0]["prompt"]
    failed = summarize_abstractive(FakeLLM(RuntimeError("down")), turns, extractive)
    assert failed is extractive
    assert summarize_abstractive(None, turns, extractive) is extractive


def test_analyzer_with_llm_reports_abstractive_summary() -> None:
    analysis = make_analyzer(llm=FakeLLM("A short abstractive summary.")).analyze(SALES_CALL)
    assert analysis.summary == "A short abstractive summary."
    assert analysis.summary_method == "abstractive"


# -- config, request body and storage ----------------------------------------------------------


def test_config_defaults_mirror_the_yaml() -> None:
    loaded = load_conversation_config(REPO / "configs" / "conversation.yaml")
    defaults = ConversationConfig()
    assert loaded == defaults
    assert Competitor("Salesforce", ("SFDC", "Sales Cloud")) in loaded.competitors


def test_analyze_request_validates_and_stores(tmp_path: Path) -> None:
    from haste.db import ConversationInsight, session_scope, upgrade_database

    url = f"sqlite:///{tmp_path / 'crm.db'}"
    upgrade_database(url)
    request = ConversationAnalyzeRequest(
        transcript=SALES_CALL, participants=PARTICIPANTS, meeting_type="discovery call"
    )
    body = analyze_request(make_analyzer(), request, url)
    insight_id = uuid.UUID(body["insight_id"])
    with session_scope(url) as session:
        row = session.get(ConversationInsight, insight_id)
        assert row is not None
        assert row.summary == body["summary"]
        assert row.key_moments["alerts"][0]["competitor"] == "Salesforce"
        assert row.sentiment_scores["by_speaker"]["Dana"]["turns"] == 3
    with pytest.raises(ValueError):
        ConversationAnalyzeRequest(transcript="x", unknown_field=1)


def test_store_uses_an_existing_activity(tmp_path: Path) -> None:
    from haste.db import Activity, ConversationInsight, session_scope, upgrade_database

    url = f"sqlite:///{tmp_path / 'crm.db'}"
    upgrade_database(url)
    analysis = make_analyzer().analyze(SALES_CALL, PARTICIPANTS, "demo meeting")
    first = store_conversation_insight(url, analysis)
    with session_scope(url) as session:
        activity_id = session.get(ConversationInsight, first).activity_id
        assert session.get(Activity, activity_id).type == "meeting"
    second = store_conversation_insight(url, analysis, activity_id=activity_id)
    with session_scope(url) as session:
        assert session.get(ConversationInsight, second).activity_id == activity_id
        assert session.query(Activity).count() == 1
