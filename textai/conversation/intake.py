"""Transcription intake: an uploaded recording or transcript file -> utterances to analyse.

:func:`sniff_upload` decides what a file is from its bytes (audio magic numbers: RIFF/WAVE,
ID3 or an MPEG frame sync, ``fLaC``, ``OggS``, ``ftyp`` (m4a/mp4), the WebM EBML header) and,
for text, from its extension or its first line (``WEBVTT``, SRT timing, JSON); it refuses
empty (422), unsupported (415, listing what is supported) and oversized (413) files before any
work. :func:`read_upload` then transcribes audio (:mod:`~textai.conversation.speech_to_text`)
or parses the transcript file (:mod:`~textai.conversation.transcript_files`) and returns the
utterances, the transcript text and the turns in the shape the analyzer takes.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import PurePosixPath, PureWindowsPath
from typing import Any

from textai.conversation.request import MAX_TRANSCRIPT_CHARS, MAX_TURNS
from textai.conversation.speech_to_text import SpeechToTextConfig, transcribe_audio
from textai.conversation.transcript import Turn, format_transcript, parse_transcript
from textai.conversation.transcript_files import Utterance, decode_text, parse_transcript_file
from textai.conversation.upload_errors import (
    EmptyUploadError,
    UnsupportedUploadError,
    UploadError,
    UploadTooLargeError,
)

#: Transcript file extensions and the format each one is parsed as.
TRANSCRIPT_EXTENSIONS = {"vtt": "vtt", "webvtt": "vtt", "srt": "srt", "json": "json", "txt": "text"}
#: Extensions of audio files (a file so named whose bytes are not audio is refused).
AUDIO_EXTENSIONS = frozenset(
    {"wav", "wave", "mp3", "mpeg", "mpga", "m4a", "mp4", "ogg", "oga", "opus", "flac", "webm"}
)
#: Magic numbers of common files that are neither, to name them in the refusal.
_OTHER_FORMATS: tuple[tuple[bytes, int, str], ...] = (
    (b"%PDF", 0, "a PDF document"),
    (b"PK\x03\x04", 0, "a ZIP archive (or DOCX/XLSX)"),
    (b"\x89PNG", 0, "a PNG image"),
    (b"\xff\xd8\xff", 0, "a JPEG image"),
    (b"GIF8", 0, "a GIF image"),
    (b"#!AMR", 0, "AMR audio"),
    (b"caff", 0, "CAF audio"),
    (b"\xd0\xcf\x11\xe0", 0, "an MS Office document"),
)
_SRT_START = re.compile(r"^\s*(?:\d+\s*\n)?\s*\d{1,2}:\d{2}:\d{2}[,.]\d{1,3}\s*-->")


@dataclass(frozen=True)
class SniffedUpload:
    """What an upload is.

    Attributes:
        kind: ``audio``, ``vtt``, ``srt``, ``json`` or ``text``.
        audio_format: The audio container (``wav``, ``mp3``...) for audio.
    """

    kind: str
    audio_format: str | None = None


def sniff_audio(data: bytes) -> str | None:
    """Return the audio format of a file from its magic number (``None``: not audio).

    Args:
        data: The file's bytes (the first 64 are enough).

    Returns:
        ``wav``, ``mp3``, ``flac``, ``ogg``, ``m4a``, ``mp4``, ``webm``, ``aiff``, ``aac`` or
        ``mkv`` (the last three are recognised but not accepted by the transcription API).
    """
    head = data[:64]
    if head[:4] == b"RIFF" and head[8:12] == b"WAVE":
        return "wav"
    if head[:4] == b"FORM" and head[8:12] in (b"AIFF", b"AIFC"):
        return "aiff"
    if head[:3] == b"ID3":
        return "mp3"
    if len(head) >= 2 and head[0] == 0xFF and head[1] & 0xE0 == 0xE0:
        layer = (head[1] >> 1) & 0x3
        return "mp3" if layer else "aac"  # layer 00 is an ADTS (AAC) header
    if head[:4] == b"fLaC":
        return "flac"
    if head[:4] == b"OggS":
        return "ogg"
    if head[4:8] == b"ftyp":
        return "m4a" if head[8:12] in (b"M4A ", b"M4B ") else "mp4"
    if head[:4] == b"\x1a\x45\xdf\xa3":
        return "webm" if b"webm" in head else "mkv"
    return None


def describe_supported(config: SpeechToTextConfig) -> str:
    """Return the sentence listing what the endpoint accepts."""
    megabytes = config.max_audio_bytes / 1_048_576
    return (
        f"supported: audio ({', '.join(config.audio_formats)}; up to {megabytes:g} MB) or a "
        "transcript file (.vtt WebVTT, .srt SubRip, .json Gong-style/segments, .txt "
        "'Speaker: text' lines)"
    )


def _extension(filename: str | None) -> str:
    """Return the lower-case extension of an uploaded file name (any path stripped)."""
    name = PureWindowsPath(PurePosixPath(filename or "").name).name
    return name.rsplit(".", 1)[1].lower() if "." in name else ""


def _sniff_text_kind(text: str) -> str | None:
    """Return the transcript format a text's first line shows (``None``: none)."""
    stripped = text.lstrip()
    if stripped.startswith("WEBVTT"):
        return "vtt"
    if stripped[:1] == "{" or re.match(r"\[\s*[\[{\"\]]", stripped):
        return "json"
    if _SRT_START.match(text):
        return "srt"
    return None


def sniff_upload(filename: str | None, data: bytes, config: SpeechToTextConfig) -> SniffedUpload:
    """Classify an upload and check its size, before any transcription or parsing.

    Audio is recognised by its bytes whatever its name; text by its extension, else by its
    first line.

    Args:
        filename: The client's file name (only its extension is used).
        data: The file's bytes.
        config: Speech-to-text settings (accepted audio formats, size limits).

    Returns:
        What the upload is.

    Raises:
        EmptyUploadError: The file is empty (422).
        UnsupportedUploadError: Neither accepted audio nor a transcript file (415).
        UploadTooLargeError: Over ``max_audio_bytes`` / ``max_transcript_bytes`` (413).
    """
    if not data.strip():
        raise EmptyUploadError("the uploaded file is empty")
    extension = _extension(filename)
    audio = sniff_audio(data)
    if audio is not None:
        if audio not in config.audio_formats:
            raise UnsupportedUploadError(
                f"{audio} audio is not accepted; {describe_supported(config)}"
            )
        if len(data) > config.max_audio_bytes:
            raise UploadTooLargeError(
                f"the audio file has {len(data)} bytes; at most {config.max_audio_bytes} are "
                "accepted (speech_to_text.max_audio_bytes)"
            )
        return SniffedUpload("audio", audio)
    if extension in AUDIO_EXTENSIONS:
        raise UnsupportedUploadError(
            f"the file is named .{extension} but its content is not a recognised audio format; "
            f"{describe_supported(config)}"
        )
    for magic, offset, what in _OTHER_FORMATS:
        if data[offset : offset + len(magic)] == magic:
            raise UnsupportedUploadError(
                f"the file looks like {what}; {describe_supported(config)}"
            )
    kind = TRANSCRIPT_EXTENSIONS.get(extension)
    if kind in (None, "text"):  # a .txt file may hold a WebVTT/SRT/JSON export
        head = data[:4096].decode("utf-8", "ignore").lstrip("\ufeff")
        kind = _sniff_text_kind(head) or kind
        if kind is None:
            named = f".{extension} file" if extension else "file"
            raise UnsupportedUploadError(
                f"unrecognised {named}: not audio, WebVTT, SRT or JSON; "
                f"{describe_supported(config)}"
            )
    if len(data) > config.max_transcript_bytes:
        raise UploadTooLargeError(
            f"the transcript file has {len(data)} bytes; at most {config.max_transcript_bytes} "
            "are accepted (speech_to_text.max_transcript_bytes)"
        )
    return SniffedUpload(kind)


def merge_turns(utterances: Sequence[Utterance]) -> list[Turn]:
    """Join consecutive utterances of one speaker into turns (captions split sentences).

    Args:
        utterances: Utterances in order.

    Returns:
        Turns with the first utterance's start as timestamp.
    """
    turns: list[Turn] = []
    for utterance in utterances:
        if turns and turns[-1].speaker == utterance.speaker:
            last = turns[-1]
            turns[-1] = Turn(
                last.index, last.speaker, f"{last.text} {utterance.text}", last.timestamp
            )
        else:
            turns.append(Turn(len(turns), utterance.speaker, utterance.text, utterance.start))
    return turns


@dataclass(frozen=True)
class TranscriptIntake:
    """An upload made ready for analysis.

    Attributes:
        source: ``audio``, ``vtt``, ``srt``, ``json`` or ``text``.
        utterances: Timed utterances with speakers, as uploaded or transcribed.
        turns: Consecutive utterances of a speaker joined (what is analysed).
        provider: Speech-to-text provider (audio only).
        model: Speech-to-text model (audio only).
        duration_s: Recording length (audio), else the last utterance's end or start.
        latency_ms: Transcription time (audio only).
    """

    source: str
    utterances: list[Utterance]
    turns: list[Turn] = field(default_factory=list)
    provider: str | None = None
    model: str | None = None
    duration_s: float | None = None
    latency_ms: float | None = None

    @property
    def transcript(self) -> str:
        """Return the transcript text, one ``[hh:mm:ss] Speaker: text`` line per turn."""
        return format_transcript(self.turns)

    def analysis_turns(self) -> list[dict[str, Any]]:
        """Return the turns as the analyzer's structured transcript (speaker/content/timestamp)."""
        return [
            {"speaker": turn.speaker, "content": turn.text, "timestamp": turn.timestamp}
            for turn in self.turns
        ]

    def to_dict(self) -> dict[str, Any]:
        """Return the answer's transcript part (JSON-ready)."""
        return {
            "source": self.source,
            "provider": self.provider,
            "model": self.model,
            "duration_s": self.duration_s,
            "utterances": [utterance.to_dict() for utterance in self.utterances],
            "transcript": self.transcript,
        }


def _check_transcript_size(turns: Sequence[Turn]) -> None:
    """Refuse transcripts the analyzer does not take (413, as for a JSON body)."""
    chars = sum(len(turn.text) for turn in turns)
    if chars > MAX_TRANSCRIPT_CHARS:
        raise UploadTooLargeError(
            f"the transcript has {chars} characters; at most {MAX_TRANSCRIPT_CHARS} are analysed"
        )
    if len(turns) > MAX_TURNS:
        raise UploadTooLargeError(
            f"the transcript has {len(turns)} speaker turns; at most {MAX_TURNS} are analysed"
        )


def read_upload(
    data: bytes,
    sniffed: SniffedUpload,
    config: SpeechToTextConfig,
    *,
    transcribe: Callable[..., Any] = transcribe_audio,
) -> TranscriptIntake:
    """Transcribe or parse an upload sniffed by :func:`sniff_upload`.

    Args:
        data: The file's bytes.
        sniffed: What the file is.
        config: Speech-to-text settings.
        transcribe: ``(data, audio_format, config) -> AudioTranscript`` (injected in tests).

    Returns:
        Utterances, turns and (audio) the provider's details.

    Raises:
        UploadError: A malformed transcript file or unintelligible audio (422), a transcript
            over the analyzer's limits (413).
        TranscriptionUnavailableError: Audio without a usable provider (503).
    """
    if sniffed.kind == "audio":
        heard = transcribe(data, sniffed.audio_format, config)
        utterances, provider, model = heard.utterances, heard.provider, heard.model
        duration, latency = heard.duration_s, heard.latency_ms
    else:
        try:
            if sniffed.kind == "text":
                parsed = parse_transcript(decode_text(data))
                utterances = [Utterance(t.speaker, t.timestamp, None, t.text) for t in parsed]
            else:
                utterances = parse_transcript_file(data, sniffed.kind)
        except ValueError as error:
            raise UploadError(f"malformed {sniffed.kind} transcript: {error}") from None
        provider = model = latency = None
        times = [u.end if u.end is not None else u.start for u in utterances]
        known = [t for t in times if t is not None]
        duration = round(max(known), 3) if known else None
    turns = merge_turns(utterances)
    _check_transcript_size(turns)
    return TranscriptIntake(
        source=sniffed.kind,
        utterances=list(utterances),
        turns=turns,
        provider=provider,
        model=model,
        duration_s=duration,
        latency_ms=latency,
    )
