"""Coaching: who the reps are and the tips their talk metrics call for."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

from textai.conversation.config import (
    ConversationConfig,
)


def _index_names(
    speakers: Sequence[str], participants: Sequence[Mapping[str, Any]]
) -> dict[str, str]:
    """Map lowercase full and first names of participants/speakers to a speaker name."""
    names: dict[str, str] = {}
    for speaker in speakers:
        if re.fullmatch(r"(?i)(?:person|speaker|spk)\s*\d+", speaker):
            continue
        names[speaker.lower()] = speaker
        first = speaker.split()[0].lower()
        if len(first) > 2:
            names.setdefault(first, speaker)
    for participant in participants:
        name = str(participant.get("name") or "").strip()
        if not name:
            continue
        target = _match_speaker(name, speakers) or name
        names.setdefault(name.lower(), target)
        first = name.split()[0].lower()
        if len(first) > 2:
            names.setdefault(first, target)
    return names


def _match_speaker(name: str, speakers: Sequence[str]) -> str | None:
    """Return the speaker label matching a participant name (exact, then first name)."""
    lowered = name.lower().strip()
    for speaker in speakers:
        if speaker.lower() == lowered:
            return speaker
    first = lowered.split()[0] if lowered else ""
    for speaker in speakers:
        if first and speaker.lower().split()[0] == first:
            return speaker
    return None


def identify_reps(
    speakers: Sequence[str],
    participants: Sequence[Mapping[str, Any]],
    rep_roles: Sequence[str],
) -> set[str]:
    """Return the speakers whose participant role is a sales-rep role.

    Args:
        speakers: Speaker labels of the transcript.
        participants: ``{"name", "role"}`` dicts (``is_rep: true`` also marks a rep).
        rep_roles: Roles that mark a rep (case-insensitive).

    Returns:
        Speaker labels of the reps (empty when unknown).
    """
    roles = {role.lower() for role in rep_roles}
    reps: set[str] = set()
    for participant in participants:
        role = str(participant.get("role") or "").strip().lower()
        if role in roles or participant.get("is_rep") is True:
            speaker = _match_speaker(str(participant.get("name") or ""), speakers)
            if speaker is not None:
                reps.add(speaker)
    return reps


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
