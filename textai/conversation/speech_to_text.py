"""Speech to text through the OpenAI SDK (``audio.transcriptions``) for call recordings.

The provider is one of ``configs/llm.yaml`` (kind ``openai`` or ``openai_compatible``): its
``base_url``, ``api_key_env``, retries and name are reused, so a key or a self-hosted server is
configured once. ``speech_to_text`` in ``configs/conversation.yaml`` picks the provider, the
model and the limits (:class:`SpeechToTextConfig`).

The answer format follows the model: ``whisper-1`` gives ``verbose_json`` with segment
timestamps (no speakers: every segment is ``Speaker 1``), ``gpt-4o-transcribe-diarize`` gives
``diarized_json`` whose segments carry speaker labels (``A``, ``B`` ... become ``Speaker A``),
other models ``json`` (one untimed utterance). Without a provider (none configured, no key,
unreachable) :class:`~textai.conversation.upload_errors.TranscriptionUnavailableError` says so
and that transcript files work offline.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

import yaml

from textai.conversation.transcript_files import DEFAULT_SPEAKER, Utterance
from textai.conversation.upload_errors import (
    TranscriptionUnavailableError,
    UploadError,
    UploadTooLargeError,
)

#: Audio formats the OpenAI transcription API takes, with the content type sent for each.
AUDIO_CONTENT_TYPES: dict[str, str] = {
    "wav": "audio/wav",
    "mp3": "audio/mpeg",
    "m4a": "audio/mp4",
    "mp4": "audio/mp4",
    "ogg": "audio/ogg",
    "flac": "audio/flac",
    "webm": "audio/webm",
}
RESPONSE_FORMATS = ("verbose_json", "diarized_json", "json", "text")
OFFLINE_HINT = "uploaded transcript files (VTT, SRT, JSON) are analysed offline without one"
_KEYLESS_PLACEHOLDER = "not-needed"


@dataclass(frozen=True)
class SpeechToTextConfig:
    """``speech_to_text`` of ``configs/conversation.yaml``.

    Attributes:
        provider: A provider of ``configs/llm.yaml`` of kind ``openai``/``openai_compatible``;
            ``None`` disables audio (transcript files still work).
        model: Transcription model (``whisper-1``, ``gpt-4o-transcribe``,
            ``gpt-4o-transcribe-diarize``...).
        response_format: ``verbose_json``, ``diarized_json``, ``json`` or ``text``; ``None``
            picks it from the model.
        language: ISO-639-1 code sent as a hint (``None``: detected).
        max_audio_bytes: Largest audio upload (the OpenAI API takes 25 MB).
        max_transcript_bytes: Largest transcript file upload.
        audio_formats: Audio formats accepted (a subset of :data:`AUDIO_CONTENT_TYPES`).
        timeout_s: Timeout of one transcription request.
    """

    provider: str | None = "openai"
    model: str = "whisper-1"
    response_format: str | None = None
    language: str | None = None
    max_audio_bytes: int = 26_214_400
    max_transcript_bytes: int = 5_242_880
    audio_formats: tuple[str, ...] = ("wav", "mp3", "m4a", "mp4", "ogg", "flac", "webm")
    timeout_s: float = 120.0

    def __post_init__(self) -> None:
        """Check the values (a bad key is named)."""
        if not self.model:
            raise ValueError("speech_to_text.model: must not be empty")
        if self.response_format is not None and self.response_format not in RESPONSE_FORMATS:
            raise ValueError(
                f"speech_to_text.response_format: {self.response_format!r} is not one of "
                f"{', '.join(RESPONSE_FORMATS)}"
            )
        for name in ("max_audio_bytes", "max_transcript_bytes", "timeout_s"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
                raise ValueError(f"speech_to_text.{name}: must be a positive number, got {value!r}")
        unknown = sorted(set(self.audio_formats) - set(AUDIO_CONTENT_TYPES))
        if unknown or not self.audio_formats:
            raise ValueError(
                f"speech_to_text.audio_formats: unknown {unknown} or empty "
                f"(known: {', '.join(AUDIO_CONTENT_TYPES)})"
            )

    def pick_response_format(self) -> str:
        """Return the configured format, else the model's best: segments, with speakers if any."""
        if self.response_format:
            return self.response_format
        if "diarize" in self.model:
            return "diarized_json"
        if self.model.startswith("whisper"):
            return "verbose_json"
        return "json"


def load_speech_to_text_config(path: str | Path | None = None) -> SpeechToTextConfig:
    """Read ``speech_to_text`` of ``configs/conversation.yaml`` (defaults when absent).

    Args:
        path: The YAML file (default: the repository's ``configs/conversation.yaml``).

    Returns:
        The settings.

    Raises:
        ValueError: On an unknown key or a bad value (the key is named).
    """
    from textai.conversation.config import get_default_config_path

    file = Path(path) if path is not None else get_default_config_path()
    data = yaml.safe_load(file.read_text(encoding="utf-8")) if file.exists() else {}
    section = (data or {}).get("speech_to_text") or {}
    if not isinstance(section, Mapping):
        raise ValueError(f"{file}: speech_to_text must be a mapping")
    known = {item.name for item in fields(SpeechToTextConfig)}
    unknown = sorted(set(section) - known)
    if unknown:
        raise ValueError(f"{file}: unknown speech_to_text keys {unknown} (known: {sorted(known)})")
    values = dict(section)
    if "audio_formats" in values:
        values["audio_formats"] = tuple(str(item).lower() for item in values["audio_formats"])
    return SpeechToTextConfig(**values)


@dataclass(frozen=True)
class AudioTranscript:
    """What the provider heard.

    Attributes:
        provider: Provider name (``configs/llm.yaml``).
        model: Model that transcribed.
        response_format: Format asked for.
        duration_s: Audio length in seconds (``None`` when the answer does not say).
        language: Detected or given language, when known.
        text: The whole transcript text.
        utterances: Timed segments with speakers.
        latency_ms: Time of the provider call.
    """

    provider: str
    model: str
    response_format: str
    duration_s: float | None
    language: str | None
    text: str
    utterances: list[Utterance] = field(default_factory=list)
    latency_ms: float = 0.0


def resolve_provider(config: SpeechToTextConfig, llm_config: Any = None) -> Any:
    """Return the ``configs/llm.yaml`` provider that transcribes, checked for use.

    Args:
        config: Speech-to-text settings.
        llm_config: A loaded :class:`~textai.llm.config.LLMConfig` (default: the file).

    Returns:
        The provider's :class:`~textai.llm.config.ProviderConfig`.

    Raises:
        TranscriptionUnavailableError: No provider configured, an unknown or non-OpenAI-API
            provider, or a hosted provider without its API key.
    """
    if not config.provider:
        raise TranscriptionUnavailableError(
            "audio transcription needs a speech-to-text provider (speech_to_text.provider in "
            f"configs/conversation.yaml) and none is configured; {OFFLINE_HINT}"
        )
    if llm_config is None:
        from textai.llm.config import load_llm_config

        try:
            llm_config = load_llm_config()
        except ValueError as error:
            raise TranscriptionUnavailableError(f"cannot read the LLM providers: {error}") from None
    provider = llm_config.providers.get(config.provider)
    if provider is None:
        raise TranscriptionUnavailableError(
            f"speech-to-text provider {config.provider!r} is not in configs/llm.yaml "
            f"(known: {', '.join(sorted(llm_config.providers))}); {OFFLINE_HINT}"
        )
    if provider.kind not in ("openai", "openai_compatible"):
        raise TranscriptionUnavailableError(
            f"speech-to-text provider {provider.name!r} is of kind {provider.kind}: it needs the "
            f"OpenAI audio API (kind openai or openai_compatible); {OFFLINE_HINT}"
        )
    if provider.kind == "openai" and not provider.resolve_api_key():
        raise TranscriptionUnavailableError(
            f"audio transcription needs an API key for provider {provider.name!r}: set "
            f"{provider.api_key_env or 'its api_key_env'}; {OFFLINE_HINT}"
        )
    return provider


def build_client(provider: Any, timeout_s: float) -> Any:
    """Return an ``openai.OpenAI`` client for the provider (its key, URL and retries)."""
    import openai

    return openai.OpenAI(
        api_key=provider.resolve_api_key() or _KEYLESS_PLACEHOLDER,
        base_url=provider.base_url,
        timeout=timeout_s,
        max_retries=provider.max_retries,
    )


def _translate_error(error: Exception, provider: Any) -> Exception:
    """Turn an SDK error into an upload error (the audio is at fault) or a 503 (the provider)."""
    import openai

    from textai.llm.providers import extract_error_message

    name = f"speech-to-text provider {provider.name!r}"
    if isinstance(error, openai.APITimeoutError):
        return TranscriptionUnavailableError(f"{name} did not answer in time; retry later")
    if isinstance(error, openai.APIConnectionError):
        where = provider.base_url or "api.openai.com"
        return TranscriptionUnavailableError(f"{name} is unreachable at {where}; {OFFLINE_HINT}")
    if not isinstance(error, openai.APIStatusError):
        return error
    message = extract_error_message(error.body) or getattr(error, "message", None) or str(error)
    status = error.status_code
    if status in (401, 403):
        return TranscriptionUnavailableError(
            f"{name} refused the API key ({provider.api_key_env or 'no key'}): {message}"
        )
    if status == 413:
        return UploadTooLargeError(f"{name} refused the audio as too large: {message}")
    if status in (400, 415, 422):
        return UploadError(f"{name} could not transcribe this audio: {message}")
    return TranscriptionUnavailableError(f"{name} answered HTTP {status}: {message}")


def _segment_utterances(segments: Any, diarized: bool) -> list[Utterance]:
    """Turn provider segments into utterances (speaker labels only from diarized answers)."""
    utterances = []
    for segment in segments or []:
        text = " ".join(str(_read(segment, "text") or "").split())
        if not text:
            continue
        speaker = str(_read(segment, "speaker") or "").strip() if diarized else ""
        if speaker and len(speaker) <= 2 and speaker.isalnum():
            speaker = f"Speaker {speaker}"
        start, end = _read(segment, "start"), _read(segment, "end")
        utterances.append(
            Utterance(
                speaker or DEFAULT_SPEAKER,
                float(start) if start is not None else None,
                float(end) if end is not None else None,
                text,
            )
        )
    return utterances


def _read(item: Any, name: str) -> Any:
    """Read a field of an SDK model or a dict."""
    return item.get(name) if isinstance(item, Mapping) else getattr(item, name, None)


def _duration(answer: Any, utterances: list[Utterance]) -> float | None:
    """Return the audio length: the answer's duration, billed seconds, or the last segment end."""
    duration = _read(answer, "duration")
    usage = _read(answer, "usage")
    if duration is None and usage is not None and _read(usage, "type") == "duration":
        duration = _read(usage, "seconds")
    if duration is None:
        ends = [u.end for u in utterances if u.end is not None]
        duration = max(ends) if ends else None
    return round(float(duration), 3) if duration is not None else None


def transcribe_audio(
    data: bytes,
    audio_format: str,
    config: SpeechToTextConfig,
    *,
    provider: Any = None,
    client: Any = None,
) -> AudioTranscript:
    """Transcribe a recording with ``client.audio.transcriptions.create``.

    Args:
        data: The audio file's bytes.
        audio_format: Its format (a key of :data:`AUDIO_CONTENT_TYPES`), used for the file
            name and content type sent.
        config: Speech-to-text settings (model, format, language, timeout).
        provider: The provider (default: :func:`resolve_provider`).
        client: A ready OpenAI client (default: built for the provider).

    Returns:
        The transcript with timed, speaker-labelled utterances.

    Raises:
        TranscriptionUnavailableError: No usable provider, or it failed (a 503).
        UploadError: The provider refused the audio, or heard no speech (a 422).
        UploadTooLargeError: The provider refused the audio's size (a 413).
    """
    provider = provider or resolve_provider(config)
    client = client or build_client(provider, config.timeout_s)
    response_format = config.pick_response_format()
    params: dict[str, Any] = {
        "model": config.model,
        "file": (f"recording.{audio_format}", data, AUDIO_CONTENT_TYPES[audio_format]),
        "response_format": response_format,
    }
    if response_format == "verbose_json":
        params["timestamp_granularities"] = ["segment"]
    if response_format == "diarized_json":
        params["chunking_strategy"] = "auto"  # required for diarisation past 30 s of audio
    if config.language:
        params["language"] = config.language
    began = time.perf_counter()
    try:
        answer = client.audio.transcriptions.create(**params)
    except Exception as error:
        raise _translate_error(error, provider) from error
    latency_ms = round((time.perf_counter() - began) * 1000.0, 1)
    if isinstance(answer, str):
        text, utterances = answer.strip(), []
    else:
        text = str(_read(answer, "text") or "").strip()
        utterances = _segment_utterances(
            _read(answer, "segments"), response_format == "diarized_json"
        )
    if not utterances and text:
        utterances = [Utterance(DEFAULT_SPEAKER, None, None, " ".join(text.split()))]
    if not utterances:
        raise UploadError("no speech was recognised in the audio")
    return AudioTranscript(
        provider=provider.name,
        model=config.model,
        response_format=response_format,
        duration_s=_duration(answer, utterances),
        language=_read(answer, "language") if not isinstance(answer, str) else None,
        text=text or " ".join(u.text for u in utterances),
        utterances=utterances,
        latency_ms=latency_ms,
    )
