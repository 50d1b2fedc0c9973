"""Conversation settings: competitors and their aliases, thresholds, configs/conversation.yaml."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

_DEFAULT_CONFIG_FILE = "conversation.yaml"


@dataclass(frozen=True)
class Competitor:
    """A competitor and the names it goes by.

    Attributes:
        name: Canonical name (reported in mentions and alerts).
        aliases: Other spellings.
    """

    name: str
    aliases: tuple[str, ...] = ()

    def compile_pattern(self) -> re.Pattern[str]:
        """Return the case-insensitive whole-word regex of the name and its aliases."""
        return compile_phrases([self.name, *self.aliases])


def compile_phrases(phrases: Sequence[str]) -> re.Pattern[str]:
    """Compile whole-word, case-insensitive alternatives (plural/possessive forms allowed).

    Args:
        phrases: Words or phrases (spaces match any whitespace).

    Returns:
        The pattern (one that never matches when there is no phrase).
    """
    parts = sorted(
        {re.escape(p.strip()).replace(r"\ ", r"\s+") for p in phrases if p.strip()},
        key=len,
        reverse=True,
    )
    if not parts:
        return re.compile(r"(?!x)x")
    return re.compile(rf"(?<![\w-])(?:{'|'.join(parts)})(?:e?s|'s|’s)?(?![\w-])", re.I)


def parse_competitors(items: Sequence[str | Mapping[str, Any] | Competitor]) -> list[Competitor]:
    """Normalise a competitor list (names, ``{name, aliases}`` dicts or :class:`Competitor`).

    Args:
        items: Configured competitors.

    Returns:
        Competitors, duplicates removed.

    Raises:
        ValueError: For an item without a name.
    """
    result: list[Competitor] = []
    seen: set[str] = set()
    for item in items:
        if isinstance(item, Competitor):
            competitor = item
        elif isinstance(item, str):
            competitor = Competitor(item.strip())
        elif isinstance(item, Mapping) and item.get("name"):
            competitor = Competitor(
                str(item["name"]).strip(), tuple(str(a) for a in item.get("aliases") or ())
            )
        else:
            raise ValueError(f"a competitor needs a name: {item!r}")
        if competitor.name and competitor.name.lower() not in seen:
            seen.add(competitor.name.lower())
            result.append(competitor)
    return result


def _split_phrases(text: str) -> tuple[str, ...]:
    """Split a ``|``-separated list of phrases (compact literals for the defaults)."""
    return tuple(part.strip() for part in text.split("|") if part.strip())


@dataclass(frozen=True)
class ConversationConfig:
    """Settings of the analyzer (``configs/conversation.yaml``; defaults mirror the file)."""

    competitors: tuple[Competitor, ...] = (
        Competitor("Salesforce", ("SFDC", "Sales Cloud")),
        Competitor("HubSpot", ("Hub Spot",)),
        Competitor("Pipedrive"),
        Competitor("Zoho", ("Zoho CRM",)),
    )
    pricing_keywords: tuple[str, ...] = _split_phrases(
        "price | pricing | cost | budget | discount | quote | invoice | per seat | "
        "per user | license | licence | subscription | fee | payment | expensive | "
        "cheaper | afford | dollars | euros | ROI | pricing sheet | price list"
    )
    objection_keywords: tuple[str, ...] = _split_phrases(
        "too expensive | not sure | concern | concerned | worried | problem | issue | "
        "not interested | already use | already using | hesitant | not a priority | "
        "no budget | can't justify | too complicated | too long | doesn't work | "
        "don't need | risk | pushback | disappointed | frustrated | unhappy | cancel"
    )
    next_step_keywords: tuple[str, ...] = _split_phrases(
        "next step | follow up | follow-up | send over | send you | send me | schedule | "
        "set up a call | book a | demo | trial | pilot | proposal | contract | sign | "
        "kick-off | kickoff | onboarding | circle back | touch base | by monday | "
        "by tuesday | by wednesday | by thursday | by friday | next week | tomorrow"
    )
    summary_max_words: int = 80
    summary_diversity: float = 0.3
    summary_lead_bias: float = 0.1
    llm_max_words: int = 80
    max_segments: int = 5
    topic_keywords: int = 5
    sentiment_max_points: int = 12
    swing_threshold: float = 0.6
    label_threshold: float = 0.2
    action_item_threshold: float | None = None
    action_item_min_words: int = 3
    action_item_require_cue: bool = True
    action_item_cue_free_probability: float = 0.9
    max_moments_per_type: int = 5
    rep_roles: tuple[str, ...] = _split_phrases(
        "rep | sales | sales rep | seller | agent | host | ae | sdr | bdr | "
        "account executive | account manager | csm | internal | presenter"
    )
    talk_ratio_max: float = 0.65
    talk_ratio_min: float = 0.25
    monologue_max_words: int = 150
    monologue_max_seconds: float = 90.0
    min_questions_per_minute: float = 0.2
    min_questions_per_100_turns: float = 10.0
    interruption_words_per_second: float = 4.0


_YAML_KEYS: dict[tuple[str, str], str] = {
    ("keywords", "pricing"): "pricing_keywords",
    ("keywords", "objection"): "objection_keywords",
    ("keywords", "next_step"): "next_step_keywords",
    ("summary", "max_words"): "summary_max_words",
    ("summary", "diversity"): "summary_diversity",
    ("summary", "lead_bias"): "summary_lead_bias",
    ("summary", "llm_max_words"): "llm_max_words",
    ("topics", "max_segments"): "max_segments",
    ("topics", "top_k"): "topic_keywords",
    ("sentiment", "max_points"): "sentiment_max_points",
    ("sentiment", "swing_threshold"): "swing_threshold",
    ("sentiment", "label_threshold"): "label_threshold",
    ("action_items", "threshold"): "action_item_threshold",
    ("action_items", "min_words"): "action_item_min_words",
    ("action_items", "require_cue"): "action_item_require_cue",
    ("action_items", "cue_free_probability"): "action_item_cue_free_probability",
    ("key_moments", "max_per_type"): "max_moments_per_type",
    ("coaching", "rep_roles"): "rep_roles",
    ("coaching", "talk_ratio_max"): "talk_ratio_max",
    ("coaching", "talk_ratio_min"): "talk_ratio_min",
    ("coaching", "monologue_max_words"): "monologue_max_words",
    ("coaching", "monologue_max_seconds"): "monologue_max_seconds",
    ("coaching", "min_questions_per_minute"): "min_questions_per_minute",
    ("coaching", "min_questions_per_100_turns"): "min_questions_per_100_turns",
    ("coaching", "interruption_words_per_second"): "interruption_words_per_second",
}


def get_default_config_path() -> Path:
    """Return ``configs/conversation.yaml`` of the repository."""
    from haste.settings import CONFIG_DIR

    return CONFIG_DIR / _DEFAULT_CONFIG_FILE


def load_conversation_config(path: str | Path | None = None) -> ConversationConfig:
    """Load the analyzer settings from YAML (missing keys keep their defaults).

    Args:
        path: YAML file; defaults to ``configs/conversation.yaml`` (defaults only when absent).

    Returns:
        The configuration.

    Raises:
        ValueError: When the file is not a mapping.
    """
    file = Path(path) if path is not None else get_default_config_path()
    if not file.exists():
        if path is not None:
            raise FileNotFoundError(f"conversation config not found: {file}")
        return ConversationConfig()
    data = yaml.safe_load(file.read_text(encoding="utf-8")) or {}
    if not isinstance(data, Mapping):
        raise ValueError(f"{file} must hold a mapping, got {type(data).__name__}")
    values: dict[str, Any] = {}
    if "competitors" in data:
        values["competitors"] = tuple(parse_competitors(data["competitors"] or []))
    for (section, key), attribute in _YAML_KEYS.items():
        block = data.get(section) or {}
        if isinstance(block, Mapping) and key in block:
            value = block[key]
            values[attribute] = tuple(value) if isinstance(value, list) else value
    return ConversationConfig(**values)
