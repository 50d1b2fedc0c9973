"""Uploaded transcript files: WebVTT, SRT and JSON exports parsed into timed utterances.

Accepted files (UTF-8, a BOM allowed):

* **WebVTT** (Zoom, Teams, Google Meet recordings): a ``WEBVTT`` header, then cues of an
  optional identifier, a timing line ``[hh:]mm:ss.ttt --> [hh:]mm:ss.ttt [settings]`` and the
  text. The speaker is the ``<v Speaker>`` voice tag, else a ``Speaker: text`` prefix (as Zoom
  writes it); other tags are dropped and entities unescaped. ``NOTE``, ``STYLE`` and
  ``REGION`` blocks are skipped.
* **SRT**: numbered cues, a timing line ``hh:mm:ss,mmm --> hh:mm:ss,mmm`` and the text; the
  speaker is a ``Speaker: text`` or ``[Speaker] text`` prefix.
* **JSON**:

  - Gong-style exports ``{"transcript": [{"speakerId"|"speaker", "topic", "sentences":
    [{"start", "end", "text"}]}]}`` (times in milliseconds, as Gong's API writes them),
    optionally inside ``{"callTranscripts": [...]}`` (one call) and with ``"speakers"`` /
    ``"parties"`` (``{"speakerId", "name"}``) naming the ids;
  - a list of ``{"speaker", "start", "end", "text"}`` (seconds or ``[hh:]mm:ss``), also as
    ``{"utterances": [...]}``;
  - OpenAI ``verbose_json`` / ``diarized_json`` transcriptions ``{"text", "segments": [{"start",
    "end", "text"[, "speaker"]}]}`` (segments without a speaker are ``Speaker 1``).

Every malformed file raises :class:`ValueError` naming the line, cue or item at fault. The cue
parsers are small and strict on purpose (no WebVTT/SRT library is a dependency).
"""

from __future__ import annotations

import html
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

from textai.conversation.transcript import UNKNOWN_SPEAKER, parse_timestamp

#: Speaker of segments from a transcription without speaker labels.
DEFAULT_SPEAKER = "Speaker 1"

_VTT_TIME = r"(?:\d{1,}:)?\d{2}:\d{2}\.\d{3}"
_VTT_TIMING = re.compile(rf"^({_VTT_TIME})[ \t]+-->[ \t]+({_VTT_TIME})(?:[ \t]+.*)?$")
_SRT_TIME = r"\d{1,2}:\d{2}:\d{2}[,.]\d{1,3}"
_SRT_TIMING = re.compile(rf"^({_SRT_TIME})[ \t]*-->[ \t]*({_SRT_TIME})(?:[ \t]+.*)?$")
_VOICE = re.compile(r"<v(?:\.[\w.-]+)*[ \t]+([^>]+)>(.*?)(?:</v>|(?=<v[ \t.])|$)", re.S)
_TAG = re.compile(r"</?[a-zA-Z][^>]*>|<\d[\d:.]*>")
_LABEL = re.compile(r"^(?:>>\s*)?(?P<speaker>[^:<>\[\]\n]{1,48}?)\s*:\s+(?P<text>\S.*)$", re.S)
_BRACKET_LABEL = re.compile(r"^\[(?P<speaker>[^\]\n]{1,48})\]\s*(?P<text>\S.*)$", re.S)
_MAX_LABEL_WORDS = 5
_SPACE = re.compile(r"\s+")


@dataclass(frozen=True)
class Utterance:
    """One timed piece of a conversation.

    Attributes:
        speaker: Who spoke (as the file names them).
        start: Start in seconds from the recording start (``None`` when the file has no times).
        end: End in seconds (``None`` when unknown).
        text: What was said (tags removed, whitespace collapsed).
    """

    speaker: str
    start: float | None
    end: float | None
    text: str

    def to_dict(self) -> dict[str, Any]:
        """Return the utterance as a JSON-ready dict."""
        return asdict(self)


def decode_text(data: bytes) -> str:
    """Decode an uploaded text file (UTF-8, or UTF-16 with a byte-order mark).

    Args:
        data: The file's bytes.

    Returns:
        The text, without a byte-order mark and with newline line ends.

    Raises:
        ValueError: When the bytes are not text in those encodings.
    """
    try:
        if data.startswith((b"\xff\xfe", b"\xfe\xff")):
            text = data.decode("utf-16")
        else:
            text = data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise ValueError(
            f"the file is not UTF-8 text (byte {error.start} cannot be decoded)"
        ) from None
    if "\x00" in text:
        raise ValueError("the file is not text (it contains NUL characters)")
    return text.replace("\r\n", "\n").replace("\r", "\n")


def _clean(text: str) -> str:
    """Drop markup tags, unescape entities and collapse whitespace."""
    return _SPACE.sub(" ", html.unescape(_TAG.sub("", text))).strip()


def split_speaker_label(text: str) -> tuple[str | None, str]:
    """Split a ``Speaker: text`` (or ``[Speaker] text``) prefix off cue text.

    Args:
        text: Cleaned cue text.

    Returns:
        ``(speaker, rest)``; ``(None, text)`` when the text carries no plausible label (over
        five words, a URL, or a time such as ``10:30``).
    """
    for pattern in (_LABEL, _BRACKET_LABEL):
        match = pattern.match(text)
        if match is None:
            continue
        speaker = match.group("speaker").strip()
        if (
            speaker
            and len(speaker.split()) <= _MAX_LABEL_WORDS
            and re.search(r"[^\W\d_]", speaker)
            and "://" not in text[: match.end("speaker") + 3]
        ):
            return speaker, match.group("text").strip()
    return None, text


def _split_blocks(text: str) -> list[tuple[int, list[str]]]:
    """Split text into blocks of non-blank lines, each with its first line number (1-based)."""
    blocks: list[tuple[int, list[str]]] = []
    current: list[str] = []
    start = 0
    for number, line in enumerate(text.split("\n"), start=1):
        if line.strip():
            if not current:
                start = number
            current.append(line.rstrip())
        elif current:
            blocks.append((start, current))
            current = []
    if current:
        blocks.append((start, current))
    return blocks


def _check_times(start: float, end: float, where: str) -> None:
    """Refuse a cue that ends before it starts."""
    if end < start:
        raise ValueError(f"{where}: the cue ends ({end:g} s) before it starts ({start:g} s)")


def _cue_utterances(
    payload: str, start: float, end: float, voices: bool, last_speaker: str | None
) -> list[Utterance]:
    """Turn one cue's text into utterances (one per voice span, else one)."""
    spans = [(m.group(1).strip(), m.group(2)) for m in _VOICE.finditer(payload)] if voices else []
    if not spans:
        speaker, text = split_speaker_label(_clean(payload))
        spans = [(speaker or last_speaker or UNKNOWN_SPEAKER, text)]
    utterances = []
    for speaker, raw in spans:
        text = _clean(raw)
        if text:
            utterances.append(Utterance(_clean(speaker) or UNKNOWN_SPEAKER, start, end, text))
    return utterances


def parse_vtt(text: str) -> list[Utterance]:
    """Parse a WebVTT file into utterances.

    Cues without a speaker label keep the previous cue's speaker (captions split one person's
    sentence over several cues); before any label they are :data:`UNKNOWN_SPEAKER`.

    Args:
        text: The file's text.

    Returns:
        Utterances in cue order.

    Raises:
        ValueError: Without the ``WEBVTT`` header, on a malformed timing line, a cue without
            text, or a file without cues.
    """
    blocks = _split_blocks(text.lstrip("\ufeff"))
    header = blocks[0][1][0].strip() if blocks and blocks[0][0] == 1 else ""
    if not (header == "WEBVTT" or header.startswith(("WEBVTT ", "WEBVTT\t"))):
        raise ValueError("not a WebVTT file: the first line must be 'WEBVTT'")
    if any("-->" in line for line in blocks[0][1]):
        raise ValueError("WebVTT: the 'WEBVTT' header must be followed by a blank line")
    utterances: list[Utterance] = []
    speaker: str | None = None
    for number, block in blocks[1:]:
        first = block[0].strip()
        if first.startswith(("NOTE", "STYLE", "REGION")) and "-->" not in first:
            continue
        if "-->" not in first and (len(block) < 2 or "-->" not in block[1]):
            raise ValueError(
                f"WebVTT line {number}: expected a cue timing line "
                f"'00:00:01.000 --> 00:00:04.000', got {first[:60]!r}"
            )
        offset = 0 if "-->" in first else 1
        timing = _VTT_TIMING.match(block[offset].strip())
        if timing is None:
            raise ValueError(
                f"WebVTT line {number + offset}: malformed cue timing "
                f"{block[offset].strip()[:60]!r} (expected '[hh:]mm:ss.ttt --> [hh:]mm:ss.ttt')"
            )
        where = f"WebVTT line {number + offset}"
        speaker = _add_cue(utterances, timing, block[offset + 1 :], where, True, speaker)
    if not utterances:
        raise ValueError("the WebVTT file has no cue with text")
    return utterances


def _add_cue(
    utterances: list[Utterance],
    timing: re.Match[str],
    lines: list[str],
    where: str,
    voices: bool,
    speaker: str | None,
) -> str | None:
    """Append one timed cue's utterances (VTT and SRT alike); return the speaker to carry on.

    Args:
        utterances: The file's utterances so far (extended in place).
        timing: The cue's matched timing line (start and end groups).
        lines: The cue's text lines.
        where: Where the cue is, for error messages.
        voices: Whether ``<v Speaker>`` voice tags are read (WebVTT).
        speaker: The previous cue's speaker (kept by a cue without a label).

    Raises:
        ValueError: When the end is before the start (see :func:`_check_times`).
    """
    start, end = (float(parse_timestamp(value) or 0.0) for value in timing.groups())
    _check_times(start, end, where)
    cue = _cue_utterances("\n".join(lines), start, end, voices=voices, last_speaker=speaker)
    utterances.extend(cue)
    return cue[-1].speaker if cue else speaker


def parse_srt(text: str) -> list[Utterance]:
    """Parse a SubRip (SRT) file into utterances.

    Args:
        text: The file's text.

    Returns:
        Utterances in cue order (unlabelled cues keep the previous speaker).

    Raises:
        ValueError: On a block that is not ``number / timing / text``, a malformed timing, or
            a file without cues.
    """
    utterances: list[Utterance] = []
    speaker: str | None = None
    for position, (number, block) in enumerate(_split_blocks(text.lstrip("\ufeff")), start=1):
        offset = 1 if block[0].strip().isdigit() else 0
        if len(block) <= offset:
            raise ValueError(f"SRT cue {position} (line {number}): a number without a timing")
        timing = _SRT_TIMING.match(block[offset].strip())
        if timing is None:
            raise ValueError(
                f"SRT cue {position} (line {number + offset}): malformed timing "
                f"{block[offset].strip()[:60]!r} (expected 'hh:mm:ss,mmm --> hh:mm:ss,mmm')"
            )
        where = f"SRT cue {position}"
        speaker = _add_cue(utterances, timing, block[offset + 1 :], where, False, speaker)
    if not utterances:
        raise ValueError("the SRT file has no cue with text")
    return utterances


def _seconds(value: Any, where: str, *, millis: bool = False) -> float | None:
    """Read a time (seconds, or milliseconds for Gong) of a JSON item."""
    if value is None:
        return None
    try:
        seconds = parse_timestamp(value)
    except ValueError as error:
        raise ValueError(f"{where}: {error}") from None
    if seconds is not None and seconds < 0:
        raise ValueError(f"{where}: a negative time {value!r}")
    if millis and seconds is not None and isinstance(value, int | float):
        seconds /= 1000.0
    return seconds


def _label_speaker(value: Any) -> str:
    """Return a speaker label: provider letters/numbers ("A", "0") become "Speaker A"."""
    label = str(value).strip()
    if not label:
        return UNKNOWN_SPEAKER
    return f"Speaker {label}" if len(label) <= 2 and label.isalnum() else label


def _parse_gong(data: Mapping[str, Any]) -> list[Utterance]:
    """Parse a Gong-style ``{"transcript": [{speakerId, topic, sentences}]}`` export."""
    names: dict[str, str] = {}
    for party in data.get("speakers") or data.get("parties") or []:
        if isinstance(party, Mapping) and party.get("speakerId") and party.get("name"):
            names[str(party["speakerId"])] = str(party["name"])
    utterances: list[Utterance] = []
    for index, monologue in enumerate(data["transcript"]):
        where = f"transcript[{index}]"
        if not isinstance(monologue, Mapping):
            raise ValueError(f"{where} is not an object")
        speaker_id = monologue.get("speakerId", monologue.get("speaker"))
        sentences = monologue.get("sentences")
        if speaker_id is None or not isinstance(sentences, list):
            raise ValueError(
                f"{where} needs 'speakerId' (or 'speaker') and a 'sentences' list; "
                f"got keys {sorted(monologue)}"
            )
        speaker = names.get(str(speaker_id)) or _label_speaker(speaker_id)
        for position, sentence in enumerate(sentences):
            spot = f"{where}.sentences[{position}]"
            if not isinstance(sentence, Mapping) or not isinstance(sentence.get("text"), str):
                raise ValueError(f"{spot} needs a 'text' string")
            start = _seconds(sentence.get("start"), f"{spot}.start", millis=True)
            end = _seconds(sentence.get("end"), f"{spot}.end", millis=True)
            if start is not None and end is not None:
                _check_times(start, end, spot)
            text = _clean(sentence["text"])
            if text:
                utterances.append(Utterance(speaker, start, end, text))
    return utterances


def _parse_items(items: Sequence[Any], name: str, default_speaker: str | None) -> list[Utterance]:
    """Parse ``{speaker, start, end, text}`` items (or provider segments)."""
    utterances: list[Utterance] = []
    for index, item in enumerate(items):
        where = f"{name}[{index}]"
        if not isinstance(item, Mapping):
            raise ValueError(f"{where} is not an object")
        text = item.get("text", item.get("content"))
        speaker = item.get("speaker", item.get("name", default_speaker))
        if not isinstance(text, str) or speaker is None:
            raise ValueError(
                f"{where} needs a 'speaker' and a 'text' string; got keys {sorted(item)}"
            )
        start = _seconds(item.get("start", item.get("timestamp")), f"{where}.start")
        end = _seconds(item.get("end"), f"{where}.end")
        if start is not None and end is not None:
            _check_times(start, end, where)
        cleaned = _clean(text)
        if cleaned:
            utterances.append(Utterance(_label_speaker(speaker), start, end, cleaned))
    return utterances


def parse_transcript_json(text: str) -> list[Utterance]:
    """Parse a JSON transcript export (see the module docstring for the shapes).

    Args:
        text: The file's text.

    Returns:
        Utterances in order.

    Raises:
        ValueError: On invalid JSON, an unknown shape, or an item without speaker or text.
    """
    try:
        data = json.loads(text)
    except json.JSONDecodeError as error:
        raise ValueError(
            f"not valid JSON: {error.msg} at line {error.lineno} column {error.colno}"
        ) from None
    if isinstance(data, Mapping) and isinstance(data.get("callTranscripts"), list):
        calls = data["callTranscripts"]
        if len(calls) != 1 or not isinstance(calls[0], Mapping):
            raise ValueError(f"callTranscripts holds {len(calls)} calls: upload one call's file")
        data = {**data, **calls[0]}
    if isinstance(data, Mapping) and isinstance(data.get("transcript"), list):
        utterances = _parse_gong(data)
    elif isinstance(data, Mapping) and isinstance(data.get("segments"), list):
        utterances = _parse_items(data["segments"], "segments", DEFAULT_SPEAKER)
    elif isinstance(data, Mapping) and isinstance(data.get("utterances"), list):
        utterances = _parse_items(data["utterances"], "utterances", None)
    elif isinstance(data, list):
        utterances = _parse_items(data, "item", None)
    else:
        shape = type(data).__name__ if not isinstance(data, Mapping) else f"keys {sorted(data)}"
        raise ValueError(
            "unknown JSON transcript shape (" + shape + "): expected a Gong-style "
            '{"transcript": [{"speakerId", "sentences": [...]}]}, a list of '
            '{"speaker", "start", "end", "text"}, or {"segments": [...]} from a transcription'
        )
    if not utterances:
        raise ValueError("the JSON transcript has no utterance with text")
    return utterances


#: Parser of each transcript file format.
PARSERS = {"vtt": parse_vtt, "srt": parse_srt, "json": parse_transcript_json}


def parse_transcript_file(data: bytes, file_format: str) -> list[Utterance]:
    """Decode and parse an uploaded transcript file.

    Args:
        data: The file's bytes.
        file_format: ``vtt``, ``srt`` or ``json``.

    Returns:
        Utterances in order.

    Raises:
        ValueError: When the bytes are not text, or the file is malformed for its format.
    """
    if file_format not in PARSERS:
        raise ValueError(f"unknown transcript format {file_format!r} (known: {sorted(PARSERS)})")
    return PARSERS[file_format](decode_text(data))
