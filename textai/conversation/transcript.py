"""Transcript parsing: turns (speaker, text, index, optional timestamp), cleaning, sentences.

Accepted inputs:

* text, one turn per line, in any mix of these line formats::

      Alice: Hi, thanks for joining.
      #Person1#: Hello, how are you?            (DialogSum)
      [00:01:02] Bob: Sure, go ahead.
      00:01:02 Bob: Sure, go ahead.
      Bob (00:01:02): Sure, go ahead.
      Bob [01:02]: Sure, go ahead.

  A line without a speaker continues the previous turn (wrapped text).
* a list of dicts (QMSum ``meeting_transcripts``): ``speaker`` (or ``name``/``role``) and
  ``content`` (or ``text``/``utterance``), optionally ``timestamp``/``start``/``time`` as
  seconds or ``[hh:]mm:ss``.

Empty input, or text in which no line carries a speaker, raises :class:`ValueError`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

from textai.text_patterns import WORD_CHAR_PATTERN

_TS = r"(?:\d{1,2}:)?\d{1,2}:\d{2}(?:[.,]\d+)?"
_SPEAKER = r"[^\s:\[\]()#][^:\[\]]{0,48}?"
_LINE_PATTERNS: tuple[re.Pattern[str], ...] = (
    # #Person1#: text (DialogSum), optionally after a timestamp
    re.compile(
        rf"^(?:[\[(]?(?P<ts>{_TS})[\])]?\s*)?#(?P<speaker>[^#]{{1,48}})#\s*:\s*(?P<text>.*)$"
    ),
    # [00:01:02] Speaker: text  /  00:01:02 - Speaker: text
    re.compile(
        rf"^[\[(]?(?P<ts>{_TS})[\])]?\s*[-–]?\s*(?P<speaker>{_SPEAKER})\s*:(?:\s+(?P<text>.*))?$"
    ),
    # Speaker (00:01:02): text  /  Speaker [01:02]: text
    re.compile(rf"^(?P<speaker>{_SPEAKER})\s*[\[(](?P<ts>{_TS})[\])]\s*:(?:\s+(?P<text>.*))?$"),
    # Speaker: text (the colon must be followed by a space, so "10:30" never splits)
    re.compile(rf"^(?P<speaker>{_SPEAKER})\s*:(?:\s+(?P<text>.*))?$"),
)
_MAX_SPEAKER_WORDS = 5
#: Words that never appear in a speaker label of two or more words ("So we think: ..." is text).
_NOT_IN_SPEAKER = frozenset(
    {
        "is",
        "are",
        "was",
        "were",
        "we",
        "i",
        "you",
        "that",
        "this",
        "so",
        "but",
        "and",
        "it",
        "then",
        "there",
        "here",
        "because",
        "if",
        "my",
        "our",
        "your",
        "will",
        "would",
        "have",
        "has",
        "be",
        "to",
        "not",
        "do",
        "what",
        "which",
        "when",
        "how",
    }
)

_CONTENT_KEYS = ("content", "text", "utterance", "transcript")
_SPEAKER_KEYS = ("speaker", "name", "role", "participant")
_TIME_KEYS = ("timestamp", "start", "start_time", "time", "begin")

_MARKUP = re.compile(
    r"\{[^}]*\}|<[^>]{1,40}>|\[(?:inaudible|crosstalk|laughter|noise)[^\]]*\]", re.I
)
_FILLERS = re.compile(
    r"(?<![\w'-])(?:u+m+|u+h+m*|e+r+m+|e+h+|h+m+|m+h*m+|mm-hmm|uh-huh|uh-uh|um-hum)(?![\w'-])"
    r"\s*[,.]?",
    re.I,
)
_REPEATED_WORD = re.compile(r"\b(\w+(?:'\w+)?)(?:\s*,?\s+\1\b)+", re.I)
_SPACE_BEFORE_PUNCT = re.compile(r"\s+([,.;:!?%)])")
_SPACE_AFTER_OPEN = re.compile(r"([(])\s+")
_SPLIT_CLITIC = re.compile(r"(\w)\s+('(?:s|re|ve|ll|d|m|t)|n't)\b", re.I)
_EMPTY_PUNCT = re.compile(r"^[\s,.;:!?-]+")
_DOUBLE_PUNCT = re.compile(r"([,;:])\s*(?=[,.;:!?])")
_MULTI_SPACE = re.compile(r"\s{2,}")
_SENTENCE_END = re.compile(r"(?<=[.!?])[\"')\]]*\s+")
_ABBREVIATIONS = frozenset(
    {
        "mr.",
        "mrs.",
        "ms.",
        "dr.",
        "prof.",
        "st.",
        "vs.",
        "etc.",
        "e.g.",
        "i.e.",
        "inc.",
        "ltd.",
        "jr.",
        "sr.",
        "no.",
        "approx.",
        "co.",
        "corp.",
        "mt.",
        "a.m.",
        "p.m.",
        "u.s.",
    }
)
#: A word: a run of letters/digits (any script of :data:`WORD_CHAR_PATTERN`, as the API's
#: schema says), a contraction counting once.
_WORD = re.compile(WORD_CHAR_PATTERN + r"+(?:['’][A-Za-z]+)?")


@dataclass(frozen=True)
class Turn:
    """One speaker turn.

    Attributes:
        index: Position in the conversation (0-based, contiguous).
        speaker: Speaker name as written (DialogSum ``#Person1#`` becomes ``Person1``).
        text: What was said (raw, not cleaned).
        timestamp: Start time in seconds from the recording start, when the transcript has it.
    """

    index: int
    speaker: str
    text: str
    timestamp: float | None = None

    @property
    def word_count(self) -> int:
        """Return the number of spoken words (markup and fillers removed)."""
        return count_words(clean_text(self.text))

    def to_dict(self) -> dict[str, Any]:
        """Return the turn as a JSON-ready dict."""
        return asdict(self)


def parse_timestamp(value: Any) -> float | None:
    """Convert a timestamp (seconds, ``mm:ss``, ``hh:mm:ss``, ``hh:mm:ss.ms``) to seconds.

    Args:
        value: A number, a time string or ``None``.

    Returns:
        Seconds as a float, or ``None`` when the value is missing.

    Raises:
        ValueError: When the value is present but not a timestamp.
    """
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        raise ValueError(f"not a timestamp: {value!r}")
    if isinstance(value, int | float):
        return float(value)
    text = str(value).strip().strip("[]()").replace(",", ".")
    parts = text.split(":")
    try:
        numbers = [float(part) for part in parts]
    except ValueError as exc:
        raise ValueError(f"not a timestamp: {value!r}") from exc
    if len(numbers) > 3:
        raise ValueError(f"not a timestamp: {value!r}")
    seconds = 0.0
    for number in numbers:
        seconds = seconds * 60 + number
    return seconds


def count_words(text: str) -> int:
    """Count the words of a text (alphanumeric tokens; contractions count once).

    Args:
        text: Any text.

    Returns:
        Number of words.
    """
    return len(_WORD.findall(text))


def clean_text(text: str) -> str:
    """Remove transcript markup and disfluencies and repair tokenised punctuation.

    Removes ``{vocalsound}``/``{disfmarker}``-style markup, ``[inaudible]`` tags, fillers
    (um, uh, erm, hmm, mm-hmm, uh-huh), immediate word repetitions ("the the"), and joins
    tokenised punctuation ("fine ." -> "fine.", "we 're" -> "we're").

    Args:
        text: Raw utterance.

    Returns:
        Cleaned utterance (may be empty when it was only fillers).
    """
    cleaned = _MARKUP.sub(" ", text)
    cleaned = _FILLERS.sub(" ", cleaned)
    cleaned = _SPLIT_CLITIC.sub(r"\1\2", cleaned)
    cleaned = _SPACE_BEFORE_PUNCT.sub(r"\1", cleaned)
    cleaned = _SPACE_AFTER_OPEN.sub(r"\1", cleaned)
    cleaned = _REPEATED_WORD.sub(r"\1", cleaned)
    cleaned = _DOUBLE_PUNCT.sub("", cleaned)
    cleaned = _MULTI_SPACE.sub(" ", cleaned).strip()
    cleaned = _EMPTY_PUNCT.sub("", cleaned).strip()
    if cleaned and cleaned[0].islower():
        cleaned = cleaned[0].upper() + cleaned[1:]
    return cleaned


def split_sentences(text: str) -> list[str]:
    """Split text into sentences on ``.``, ``!`` and ``?`` (common abbreviations kept).

    Args:
        text: A (preferably cleaned) utterance.

    Returns:
        Non-empty sentences in order.
    """
    text = text.strip()
    if not text:
        return []
    pieces: list[str] = []
    start = 0
    for match in _SENTENCE_END.finditer(text):
        candidate = text[start : match.start()].strip()
        last_word = candidate.rsplit(" ", 1)[-1].lower() if candidate else ""
        if last_word in _ABBREVIATIONS or re.fullmatch(r"(?:[a-z]\.)+", last_word):
            continue
        if candidate:
            pieces.append(candidate)
        start = match.end()
    tail = text[start:].strip()
    if tail:
        pieces.append(tail)
    return [piece for piece in pieces if _WORD.search(piece)]


def is_question(sentence: str) -> bool:
    """Return whether a sentence is a question (it ends with a question mark).

    Args:
        sentence: One sentence.

    Returns:
        ``True`` for questions.
    """
    return sentence.rstrip(" \"')").endswith("?")


def _match_line(line: str) -> tuple[str, str, float | None] | None:
    """Match one line against the turn formats.

    Args:
        line: A stripped, non-empty line.

    Returns:
        ``(speaker, text, timestamp)`` or ``None`` for a line without a speaker.
    """
    for pattern in _LINE_PATTERNS:
        match = pattern.match(line)
        if match is None:
            continue
        speaker = match.group("speaker").strip()
        if not speaker or len(speaker.split()) > _MAX_SPEAKER_WORDS:
            continue
        if not re.search(r"[A-Za-z0-9]", speaker):
            continue
        tokens = speaker.lower().split()
        if len(tokens) > 1 and any(token in _NOT_IN_SPEAKER for token in tokens):
            continue
        text = (match.group("text") or "").strip()
        timestamp = parse_timestamp(match.groupdict().get("ts"))
        return speaker, text, timestamp
    return None


#: Speaker of text that carries no speaker label.
UNKNOWN_SPEAKER = "Unknown"


def _parse_text(transcript: str) -> list[Turn]:
    """Parse a text transcript (one turn per line; unlabelled lines continue a turn).

    Args:
        transcript: The transcript text.

    Returns:
        Turns in order.

    Raises:
        ValueError: Never for text with a non-blank line: lines before the first speaker label
            (or a text without any) are one turn of :data:`UNKNOWN_SPEAKER`.
    """
    rows: list[list[Any]] = []
    orphan_lines: list[str] = []
    for raw_line in transcript.splitlines():
        line = raw_line.strip()
        if not line:
            continue
        matched = _match_line(line)
        if matched is not None:
            rows.append(list(matched))
        elif rows:
            rows[-1][1] = f"{rows[-1][1]} {line}".strip()
        else:
            orphan_lines.append(line)
    if orphan_lines:  # unlabelled text (dictated notes, a preamble): an unknown speaker's turn
        rows.insert(0, [UNKNOWN_SPEAKER, " ".join(orphan_lines), None])
    turns = [
        Turn(index=i, speaker=speaker, text=text, timestamp=ts)
        for i, (speaker, text, ts) in enumerate(row for row in rows if row[1])
    ]
    return turns


def _get_first_key(item: Mapping[str, Any], keys: Sequence[str]) -> Any:
    """Return the value of the first present key of a mapping (``None`` when none is)."""
    for key in keys:
        if key in item and item[key] is not None:
            return item[key]
    return None


def _parse_records(records: Sequence[Any]) -> list[Turn]:
    """Parse a list of turn dicts (QMSum ``meeting_transcripts`` and similar).

    Args:
        records: Dicts with a speaker and a content key.

    Returns:
        Turns in order (dicts with empty content are skipped).

    Raises:
        ValueError: When an item is not a dict or lacks a speaker or a content key.
    """
    turns: list[Turn] = []
    for position, item in enumerate(records):
        if not isinstance(item, Mapping):
            raise ValueError(f"transcript item {position} is not a dict: {item!r}")
        speaker = _get_first_key(item, _SPEAKER_KEYS)
        content = _get_first_key(item, _CONTENT_KEYS)
        if speaker is None or content is None:
            raise ValueError(
                f"transcript item {position} needs a speaker ({'/'.join(_SPEAKER_KEYS)}) and "
                f"a content ({'/'.join(_CONTENT_KEYS)}) key; got keys {sorted(item)}"
            )
        text = str(content).strip()
        if not text:
            continue
        timestamp = parse_timestamp(_get_first_key(item, _TIME_KEYS))
        turns.append(
            Turn(
                index=len(turns),
                speaker=str(speaker).strip() or "Unknown",
                text=text,
                timestamp=timestamp,
            )
        )
    return turns


def parse_transcript(transcript: str | Sequence[Mapping[str, Any]]) -> list[Turn]:
    """Parse a transcript into turns.

    Args:
        transcript: Transcript text (see the module docstring for the line formats) or a list
            of dicts with ``speaker`` and ``content``/``text`` (and optional ``timestamp``).

    Returns:
        Turns with contiguous indexes from 0.

    Raises:
        ValueError: When the transcript is empty or cannot be parsed.
    """
    if transcript is None:
        raise ValueError("the transcript is empty")
    if isinstance(transcript, str):
        if not transcript.strip():
            raise ValueError("the transcript is empty")
        turns = _parse_text(transcript)
    elif isinstance(transcript, Sequence):
        if len(transcript) == 0:
            raise ValueError("the transcript is empty (no turns)")
        turns = _parse_records(transcript)
    else:
        raise ValueError(
            f"a transcript must be text or a list of turn dicts, not {type(transcript).__name__}"
        )
    if not turns or not any(clean_text(turn.text) for turn in turns):
        raise ValueError("the transcript is empty (no spoken words)")
    return turns


def format_transcript(turns: Sequence[Turn]) -> str:
    """Render turns back to ``[hh:mm:ss] Speaker: text`` lines (timestamp only when known).

    Args:
        turns: Parsed turns.

    Returns:
        The transcript text, one turn per line.
    """
    lines = []
    for turn in turns:
        prefix = ""
        if turn.timestamp is not None:
            total = round(turn.timestamp)
            prefix = f"[{total // 3600:02d}:{total % 3600 // 60:02d}:{total % 60:02d}] "
        lines.append(f"{prefix}{turn.speaker}: {turn.text}")
    return "\n".join(lines)
