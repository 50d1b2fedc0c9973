"""Coaching: the talk metrics of a conversation and the tips they call for."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from textai.conversation.config import ConversationConfig
from textai.conversation.talk_metrics import (
    compute_question_rate,
    compute_talk_ratio,
    count_interruptions,
    find_longest_monologue,
)
from textai.conversation.transcript import Turn


def measure_coaching(
    turns: Sequence[Turn],
    speakers: Sequence[str],
    reps: set[str],
    *,
    interruption_words_per_second: float,
) -> dict[str, Any]:
    """Measure a conversation's talk metrics for coaching.

    Args:
        turns: The conversation's turns.
        speakers: Speaker labels in order of first turn.
        reps: The reps' speaker names.
        interruption_words_per_second: Speaking rate above which a quick switch counts as an
            interruption.

    Returns:
        ``talk_ratio`` (share of words, rounded), ``words_by_speaker``, ``turns_by_speaker``,
        ``longest_monologue``, ``question_rate``, ``interruptions`` and ``reps`` (sorted).
    """
    return {
        "talk_ratio": {k: round(v, 4) for k, v in compute_talk_ratio(turns).items()},
        "words_by_speaker": {
            speaker: sum(t.word_count for t in turns if t.speaker == speaker)
            for speaker in speakers
        },
        "turns_by_speaker": {
            speaker: sum(t.speaker == speaker for t in turns) for speaker in speakers
        },
        "longest_monologue": find_longest_monologue(turns),
        "question_rate": compute_question_rate(turns),
        "interruptions": count_interruptions(turns, interruption_words_per_second),
        "reps": sorted(reps),
    }


def build_coaching_tips(
    coaching: Mapping[str, Any],
    config: ConversationConfig,
    *,
    reps: set[str],
    n_speakers: int,
    has_next_step: bool,
    competitor_alerts: Sequence[Mapping[str, Any]],
    objection_count: int,
) -> list[str]:
    """Turn coaching metrics into short recommendations.

    Tips are about the reps when they are known, else about every speaker.

    Args:
        coaching: ``talk_ratio``, ``longest_monologue``, ``question_rate``, ``interruptions``.
        config: Thresholds.
        reps: Coached speakers (empty: everyone).
        n_speakers: Number of speakers.
        has_next_step: Whether a next step was mentioned.
        competitor_alerts: Competitor alerts.
        objection_count: Number of objection mentions.

    Returns:
        Recommendations, most important first.
    """
    tips: list[str] = []
    coached = reps or set(coaching["talk_ratio"])
    for speaker, share in coaching["talk_ratio"].items():
        if speaker not in coached:
            continue
        if share > config.talk_ratio_max and n_speakers >= 2:
            tips.append(
                f"{speaker} talked {share:.0%} of the time (above "
                f"{config.talk_ratio_max:.0%}): listen more — ask open questions and pause "
                "to let the other side speak."
            )
        elif reps and n_speakers == 2 and share < config.talk_ratio_min:
            tips.append(
                f"{speaker} talked only {share:.0%} of the time: lead the conversation more — "
                "summarise, propose and steer towards a next step."
            )
    monologue = coaching.get("longest_monologue")
    if monologue and monologue["speaker"] in coached:
        too_long = monologue["words"] > config.monologue_max_words or (
            monologue.get("seconds") is not None
            and monologue["seconds"] > config.monologue_max_seconds
        )
        if too_long:
            length = f"{monologue['words']} words"
            if monologue.get("seconds") is not None:
                length += f", {monologue['seconds']:.0f} s"
            tips.append(
                f"{monologue['speaker']} spoke {length} without a break (turns "
                f"{monologue['start_turn']}-{monologue['end_turn']}): break long monologues "
                "up with check-in questions."
            )
    rates = coaching["question_rate"]
    floor = (
        config.min_questions_per_minute
        if rates["unit"] == "per_minute"
        else config.min_questions_per_100_turns
    )
    unit = "per minute" if rates["unit"] == "per_minute" else "per 100 turns"
    for speaker, stats in rates["by_speaker"].items():
        if reps and speaker in reps and stats["rate"] < floor:
            tips.append(
                f"{speaker} asked {stats['questions']} question"
                f"{'s' if stats['questions'] != 1 else ''} ({stats['rate']:.2f} {unit}, "
                f"target ≥ {floor:g}): ask more discovery questions."
            )
    if not reps and rates["rate"] < floor and n_speakers >= 2:
        tips.append(
            f"Few questions were asked ({rates['rate']:.2f} {unit}, target ≥ {floor:g}): "
            "use open discovery questions to understand needs."
        )
    interruptions = coaching.get("interruptions") or {}
    for speaker, count in (interruptions.get("by_speaker") or {}).items():
        if speaker in coached and count >= 3:
            tips.append(f"{speaker} cut in {count} times: let the other party finish.")
    for alert in competitor_alerts:
        tips.append(
            f"{alert['competitor']} came up ({alert['mentions']}x): prepare the competitive "
            "battle card and differentiate on value, not price."
        )
    if objection_count:
        tips.append(
            f"{objection_count} objection{'s' if objection_count > 1 else ''} raised: "
            "acknowledge, ask a clarifying question, then answer with evidence."
        )
    if not has_next_step and n_speakers >= 2:
        tips.append("No next step was agreed: close with a concrete, dated next step.")
    return tips
