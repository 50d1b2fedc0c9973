"""Participants of a conversation: matching names to speakers and finding the reps."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any


def index_names(
    speakers: Sequence[str], participants: Sequence[Mapping[str, Any]]
) -> dict[str, str]:
    """Map lowercase full and first names of participants/speakers to a speaker name.

    Generic labels (``Person 1``, ``Speaker 2``) are not names; first names shorter than
    three letters are left out.

    Args:
        speakers: Speaker labels of the transcript.
        participants: ``{"name", ...}`` dicts.

    Returns:
        Lowercase name or first name -> speaker label (the participant's name when no
        speaker matches it).
    """
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
        target = match_speaker(name, speakers) or name
        names.setdefault(name.lower(), target)
        first = name.split()[0].lower()
        if len(first) > 2:
            names.setdefault(first, target)
    return names


def match_speaker(name: str, speakers: Sequence[str]) -> str | None:
    """Return the speaker label matching a participant name (exact, then first name).

    Args:
        name: A participant's name.
        speakers: Speaker labels of the transcript.

    Returns:
        The matching speaker label, or ``None``.
    """
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
            speaker = match_speaker(str(participant.get("name") or ""), speakers)
            if speaker is not None:
                reps.add(speaker)
    return reps
