"""Transcription intake: sniffing uploads, size/format refusals, settings, provider checks."""

from __future__ import annotations

import io
import wave
from pathlib import Path

import pytest

from textai.conversation.intake import merge_turns, read_upload, sniff_audio, sniff_upload
from textai.conversation.speech_to_text import (
    AudioTranscript,
    SpeechToTextConfig,
    load_speech_to_text_config,
    resolve_provider,
)
from textai.conversation.transcript_files import Utterance
from textai.conversation.upload_errors import (
    EmptyUploadError,
    TranscriptionUnavailableError,
    UnsupportedUploadError,
    UploadError,
    UploadTooLargeError,
)
from textai.llm.config import parse_llm_config

CONFIG = SpeechToTextConfig()


def make_wav(seconds: float = 0.5, rate: int = 8000) -> bytes:
    """Return a silent mono 16-bit WAV file of ``seconds``."""
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as audio:
        audio.setnchannels(1)
        audio.setsampwidth(2)
        audio.setframerate(rate)
        audio.writeframes(b"\x00\x00" * int(seconds * rate))
    return buffer.getvalue()


AUDIO_HEADERS = {
    "wav": make_wav(),
    "mp3": b"ID3\x04\x00\x00\x00\x00\x00\x00" + b"\x00" * 32,
    "mp3-frame": b"\xff\xfb\x90\x64" + b"\x00" * 32,
    "flac": b"fLaC\x00\x00\x00\x22" + b"\x00" * 32,
    "ogg": b"OggS\x00\x02" + b"\x00" * 32,
    "m4a": b"\x00\x00\x00\x20ftypM4A \x00\x00\x00\x00" + b"\x00" * 16,
    "mp4": b"\x00\x00\x00\x20ftypisom\x00\x00\x02\x00" + b"\x00" * 16,
    "webm": b"\x1a\x45\xdf\xa3\x9f\x42\x86\x81\x01\x42\x82\x84webm" + b"\x00" * 16,
}


@pytest.mark.parametrize("name", sorted(AUDIO_HEADERS))
def test_audio_is_recognised_by_its_bytes_whatever_its_name(name: str) -> None:
    expected = name.split("-")[0]
    assert sniff_audio(AUDIO_HEADERS[name]) == expected
    sniffed = sniff_upload("recording.bin", AUDIO_HEADERS[name], CONFIG)
    assert (sniffed.kind, sniffed.audio_format) == ("audio", expected)


@pytest.mark.parametrize(
    ("data", "what"),
    [
        (b"\xff\xf1\x50\x80" + b"\x00" * 20, "aac audio is not accepted"),
        (b"FORM\x00\x00\x00\x10AIFFCOMM" + b"\x00" * 20, "aiff audio is not accepted"),
        (b"\x1a\x45\xdf\xa3\x9f\x42\x86\x81\x01\x42\x82\x88matroska", "mkv audio"),
        (b"%PDF-1.7\n%\xe2\xe3", "looks like a PDF document"),
        (b"PK\x03\x04\x14\x00\x06\x00", "ZIP archive"),
    ],
)
def test_unsupported_binary_formats_are_415_with_the_supported_list(data: bytes, what: str) -> None:
    with pytest.raises(UnsupportedUploadError, match=what) as caught:
        sniff_upload("call.bin", data, CONFIG)
    assert caught.value.status_code == 415
    assert "supported: audio (wav, mp3, m4a, mp4, ogg, flac, webm" in str(caught.value)
    assert ".vtt WebVTT, .srt SubRip, .json" in str(caught.value)


def test_audio_format_not_configured_is_415() -> None:
    only_wav = SpeechToTextConfig(audio_formats=("wav",))
    with pytest.raises(UnsupportedUploadError, match="mp3 audio is not accepted"):
        sniff_upload("a.mp3", AUDIO_HEADERS["mp3"], only_wav)


@pytest.mark.parametrize(
    ("name", "data", "kind"),
    [
        ("zoom.vtt", b"WEBVTT\n\n00:00.000 --> 00:01.000\nA: hi\n", "vtt"),
        ("call.srt", b"1\n00:00:01,000 --> 00:00:02,000\nA: hi\n", "srt"),
        ("gong.json", b'{"transcript": []}', "json"),
        ("notes.txt", b"Dana: hi\nSam: hello\n", "text"),
        (None, b"\xef\xbb\xbfWEBVTT\n\n", "vtt"),  # content decides without a name
        ("export", b'[{"speaker": "A", "text": "hi"}]', "json"),
        ("export.txt", b"1\n00:00:01,000 --> 00:00:02,000\nhi\n", "srt"),  # .txt holding SRT
        ("C:\\Users\\dana\\call.VTT", b"not even vtt", "vtt"),  # the extension decides
    ],
)
def test_transcript_files_by_extension_or_content(name: str | None, data: bytes, kind: str) -> None:
    assert sniff_upload(name, data, CONFIG).kind == kind


@pytest.mark.parametrize(
    ("name", "data", "message"),
    [
        ("call.mp3", b"Dana: this is text, not audio", "named .mp3 but its content is not"),
        ("notes.docx", b"Dana: hello there", r"unrecognised \.docx file"),
        (None, b"[00:01] Dana: hello there", "unrecognised file"),
    ],
)
def test_unrecognised_files_are_415(name: str | None, data: bytes, message: str) -> None:
    with pytest.raises(UnsupportedUploadError, match=message):
        sniff_upload(name, data, CONFIG)


@pytest.mark.parametrize("data", [b"", b"  \n\t "])
def test_empty_upload_is_422(data: bytes) -> None:
    with pytest.raises(EmptyUploadError, match="empty") as caught:
        sniff_upload("a.vtt", data, CONFIG)
    assert caught.value.status_code == 422


def test_oversized_audio_and_transcripts_are_413() -> None:
    small = SpeechToTextConfig(max_audio_bytes=1000, max_transcript_bytes=100)
    with pytest.raises(UploadTooLargeError, match=r"speech_to_text\.max_audio_bytes") as caught:
        sniff_upload("a.wav", make_wav(1.0), small)
    assert caught.value.status_code == 413
    with pytest.raises(UploadTooLargeError, match="max_transcript_bytes"):
        sniff_upload("a.vtt", b"WEBVTT\n\n" + b"x" * 200, small)
    assert sniff_upload("a.vtt", b"WEBVTT\n\n" + b"x" * 50, small).kind == "vtt"


def test_read_upload_merges_a_speaker_s_cues_into_turns() -> None:
    vtt = (
        b"WEBVTT\n\n00:00:01.000 --> 00:00:02.000\nDana: Hi Sam.\n\n"
        b"00:00:02.000 --> 00:00:03.000\nDana: Thanks for joining.\n\n"
        b"00:01:05.000 --> 00:01:09.500\nSam: Sure, send the pricing sheet.\n"
    )
    intake = read_upload(vtt, sniff_upload("a.vtt", vtt, CONFIG), CONFIG)
    assert intake.source == "vtt" and intake.provider is None
    assert len(intake.utterances) == 3 and intake.duration_s == 69.5
    assert intake.analysis_turns() == [
        {"speaker": "Dana", "content": "Hi Sam. Thanks for joining.", "timestamp": 1.0},
        {"speaker": "Sam", "content": "Sure, send the pricing sheet.", "timestamp": 65.0},
    ]
    assert intake.transcript == (
        "[00:00:01] Dana: Hi Sam. Thanks for joining.\n"
        "[00:01:05] Sam: Sure, send the pricing sheet."
    )
    body = intake.to_dict()
    assert body["utterances"][2] == {
        "speaker": "Sam",
        "start": 65.0,
        "end": 69.5,
        "text": "Sure, send the pricing sheet.",
    }


def test_read_upload_text_and_malformed_files() -> None:
    intake = read_upload(b"Dana: hi\nSam: hello\n", sniff_upload("a.txt", b"x", CONFIG), CONFIG)
    assert [u.speaker for u in intake.utterances] == ["Dana", "Sam"]
    with pytest.raises(UploadError, match=r"malformed srt transcript: SRT cue 1"):
        read_upload(b"1\nsoon --> later\nhi\n", sniff_upload("a.srt", b"x", CONFIG), CONFIG)
    with pytest.raises(UploadError, match=r"malformed vtt transcript: .*not UTF-8"):
        read_upload(b"WEBVTT\xff\xfe", sniff_upload("a.vtt", b"x", CONFIG), CONFIG)


def test_read_upload_refuses_transcripts_over_the_analyzer_limits() -> None:
    lines = "".join(f"{'AB'[i % 2]}: {'word ' * 5}\n" for i in range(2_100))
    data = lines.encode()
    with pytest.raises(UploadTooLargeError, match="2100 speaker turns; at most 2000"):
        read_upload(data, sniff_upload("a.txt", data, CONFIG), CONFIG)
    data = ("A: " + "word " * 40_100).encode()
    with pytest.raises(UploadTooLargeError, match="200499 characters; at most 200000"):
        read_upload(data, sniff_upload("a.txt", data, CONFIG), CONFIG)


def test_read_upload_audio_goes_through_the_transcriber() -> None:
    calls = []

    def transcribe(data: bytes, audio_format: str, config: SpeechToTextConfig) -> AudioTranscript:
        calls.append((len(data), audio_format))
        return AudioTranscript(
            "openai",
            "whisper-1",
            "verbose_json",
            12.5,
            "en",
            "Hi. Hello.",
            [Utterance("Speaker 1", 0.0, 5.0, "Hi."), Utterance("Speaker 1", 5.0, 12.5, "Hello.")],
            321.0,
        )

    wav = make_wav()
    intake = read_upload(wav, sniff_upload("a.wav", wav, CONFIG), CONFIG, transcribe=transcribe)
    assert calls == [(len(wav), "wav")]
    assert (intake.source, intake.provider, intake.model, intake.duration_s) == (
        "audio",
        "openai",
        "whisper-1",
        12.5,
    )
    assert len(intake.turns) == 1 and intake.turns[0].text == "Hi. Hello."


def test_merge_turns_keeps_speaker_changes() -> None:
    turns = merge_turns(
        [Utterance("A", 0, 1, "x"), Utterance("B", 1, 2, "y"), Utterance("A", 2, 3, "z")]
    )
    assert [(t.index, t.speaker, t.timestamp) for t in turns] == [
        (0, "A", 0),
        (1, "B", 1),
        (2, "A", 2),
    ]


def test_speech_config_from_yaml_and_bad_keys(tmp_path: Path) -> None:
    shipped = load_speech_to_text_config()
    assert shipped.provider == "openai" and shipped.max_audio_bytes == 26_214_400
    assert shipped.pick_response_format() == "verbose_json"
    file = tmp_path / "conversation.yaml"
    file.write_text("speech_to_text:\n  model: gpt-4o-transcribe-diarize\n  provider: null\n")
    config = load_speech_to_text_config(file)
    assert config.provider is None and config.pick_response_format() == "diarized_json"
    assert SpeechToTextConfig(model="gpt-4o-transcribe").pick_response_format() == "json"
    file.write_text("speech_to_text:\n  modle: whisper-1\n")
    with pytest.raises(ValueError, match=r"unknown speech_to_text keys \['modle'\]"):
        load_speech_to_text_config(file)
    file.write_text("speech_to_text:\n  audio_formats: [wav, aac]\n")
    with pytest.raises(ValueError, match=r"audio_formats: unknown \['aac'\]"):
        load_speech_to_text_config(file)
    file.write_text("speech_to_text:\n  max_audio_bytes: 0\n")
    with pytest.raises(ValueError, match="max_audio_bytes: must be a positive number"):
        load_speech_to_text_config(file)


LLM = parse_llm_config(
    {
        "providers": {
            "openai": {"kind": "openai", "model": "gpt-4o-mini", "api_key_env": "STT_TEST_KEY"},
            "claude": {"kind": "anthropic", "model": "claude-haiku-4-5"},
            "local": {"kind": "openai_compatible", "model": "m", "base_url": "http://x/v1"},
            "offline": {"kind": "offline", "model": "minilm-retrieval"},
        },
        "fallback_chain": ["offline"],
    }
)


@pytest.mark.parametrize(
    ("provider", "message"),
    [
        (None, "needs a speech-to-text provider .* none is configured"),
        ("whisper", "provider 'whisper' is not in configs/llm.yaml"),
        ("claude", "is of kind anthropic: it needs the OpenAI audio API"),
        ("openai", "needs an API key for provider 'openai': set STT_TEST_KEY"),
    ],
)
def test_unusable_providers_are_503_saying_transcript_files_work_offline(
    provider: str | None, message: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("STT_TEST_KEY", raising=False)
    with pytest.raises(TranscriptionUnavailableError, match=message) as caught:
        resolve_provider(SpeechToTextConfig(provider=provider), LLM)
    assert caught.value.status_code == 503
    assert "transcript files (VTT, SRT, JSON) are analysed offline" in str(caught.value)


def test_usable_providers_reuse_the_llm_config(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STT_TEST_KEY", "sk-x")
    assert resolve_provider(SpeechToTextConfig(provider="openai"), LLM).name == "openai"
    local = resolve_provider(SpeechToTextConfig(provider="local"), LLM)
    assert local.base_url == "http://x/v1"  # keyless OpenAI-compatible server
