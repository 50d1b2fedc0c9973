"""Speech to text through the real OpenAI SDK against the local wire-format server.

A real WAV (stdlib ``wave``, a 3 s tone) is sent by ``client.audio.transcriptions.create``;
the server records the multipart request (model, format, file bytes) and answers in OpenAI's
``verbose_json`` / ``diarized_json`` / ``json`` shapes, or with its errors. The last test goes
through the whole upload route (stand-in core, real TextAI method, configured provider).
"""

from __future__ import annotations

import hashlib
import io
import math
import socket
import struct
import uuid
import wave
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from fastapi.testclient import TestClient

from haste.settings import Settings
from serving.http import create_api
from serving.text_app import TextAI
from tests.support.llm_wire_server import TRANSCRIPTIONS_PATH, WireServer, running_wire_server
from tests.unit.test_transcription_route import HEADERS, PATH, FakeAnalyzer, StubCore
from textai.conversation.speech_to_text import SpeechToTextConfig, transcribe_audio
from textai.conversation.upload_errors import TranscriptionUnavailableError, UploadError
from textai.llm.config import ProviderConfig

KEY_ENV = "STT_WIRE_TEST_KEY"


def make_tone_wav(seconds: float = 3.0, rate: int = 16_000) -> bytes:
    """Return a mono 16-bit WAV of a 440 Hz tone."""
    frames = b"".join(
        struct.pack("<h", int(8000 * math.sin(2 * math.pi * 440 * i / rate)))
        for i in range(int(seconds * rate))
    )
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as audio:
        audio.setnchannels(1)
        audio.setsampwidth(2)
        audio.setframerate(rate)
        audio.writeframes(frames)
    return buffer.getvalue()


WAV = make_tone_wav()


@pytest.fixture(scope="module")
def server() -> Iterator[WireServer]:
    with running_wire_server(api_key="sk-stt-wire") as running:
        yield running


@pytest.fixture()
def provider(server: WireServer, monkeypatch: pytest.MonkeyPatch) -> ProviderConfig:
    server.reset()
    monkeypatch.setenv(KEY_ENV, "sk-stt-wire")
    return ProviderConfig(
        name="openai",
        kind="openai",
        model="gpt-4o-mini",
        base_url=server.openai_base_url,
        api_key_env=KEY_ENV,
        max_retries=0,
    )


def test_whisper_segments_with_the_file_and_model_the_sdk_sent(
    server: WireServer, provider: ProviderConfig
) -> None:
    heard = transcribe_audio(WAV, "wav", SpeechToTextConfig(model="whisper-1"), provider=provider)
    (request,) = server.get_requests(TRANSCRIPTIONS_PATH)
    assert request.status == 200
    assert request.headers["authorization"] == "Bearer sk-stt-wire"
    assert request.body["model"] == "whisper-1"
    assert request.body["response_format"] == "verbose_json"
    assert request.body["timestamp_granularities[]"] == "segment"
    assert request.body["file"] == {
        "filename": "recording.wav",
        "content_type": "audio/wav",
        "size": len(WAV),
        "sha256": hashlib.sha256(WAV).hexdigest(),
    }
    assert (heard.provider, heard.model, heard.duration_s, heard.language) == (
        "openai",
        "whisper-1",
        3.0,
        "english",
    )
    assert [u.speaker for u in heard.utterances] == ["Speaker 1"] * 4  # no diarisation
    assert (heard.utterances[1].start, heard.utterances[1].end) == (0.75, 1.5)
    assert heard.utterances[1].text.startswith("Happy to. We are comparing you with Salesforce")


def test_diarized_model_gets_speaker_labels(server: WireServer, provider: ProviderConfig) -> None:
    config = SpeechToTextConfig(model="gpt-4o-transcribe-diarize", language="en")
    heard = transcribe_audio(WAV, "wav", config, provider=provider)
    (request,) = server.get_requests(TRANSCRIPTIONS_PATH)
    assert request.body["response_format"] == "diarized_json"
    assert request.body["chunking_strategy"] == "auto" and request.body["language"] == "en"
    assert "timestamp_granularities[]" not in request.body
    assert [u.speaker for u in heard.utterances] == [
        "Speaker A",
        "Speaker B",
        "Speaker A",
        "Speaker B",
    ]


def test_json_only_models_give_one_untimed_utterance(
    server: WireServer, provider: ProviderConfig
) -> None:
    heard = transcribe_audio(
        WAV, "wav", SpeechToTextConfig(model="gpt-4o-transcribe"), provider=provider
    )
    assert server.get_requests(TRANSCRIPTIONS_PATH)[0].body["response_format"] == "json"
    assert len(heard.utterances) == 1 and heard.utterances[0].start is None
    assert heard.duration_s == 3.0  # billed seconds (usage.type == duration)


def test_provider_refusing_the_audio_is_an_upload_error(
    server: WireServer, provider: ProviderConfig
) -> None:
    with pytest.raises(UploadError, match="could not transcribe this audio: Invalid file format"):
        transcribe_audio(b"not audio at all", "wav", SpeechToTextConfig(), provider=provider)


def test_wrong_key_and_provider_failures_are_503(
    server: WireServer, provider: ProviderConfig, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = SpeechToTextConfig()
    server.fail_next(1, 500, path=TRANSCRIPTIONS_PATH)
    with pytest.raises(TranscriptionUnavailableError, match="answered HTTP 500"):
        transcribe_audio(WAV, "wav", config, provider=provider)
    server.fail_next(1, 429, path=TRANSCRIPTIONS_PATH)
    with pytest.raises(TranscriptionUnavailableError, match="answered HTTP 429"):
        transcribe_audio(WAV, "wav", config, provider=provider)
    monkeypatch.setenv(KEY_ENV, "sk-wrong")
    with pytest.raises(TranscriptionUnavailableError, match=f"refused the API key \\({KEY_ENV}\\)"):
        transcribe_audio(WAV, "wav", config, provider=provider)


def test_unreachable_and_slow_providers_are_503(
    server: WireServer, provider: ProviderConfig
) -> None:
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    gone = provider.model_copy(update={"base_url": f"http://127.0.0.1:{port}/v1"})
    with pytest.raises(TranscriptionUnavailableError, match=r"unreachable at http://127\.0\.0\.1"):
        transcribe_audio(WAV, "wav", SpeechToTextConfig(), provider=gone)
    server.delay_next(1, 2.0, path=TRANSCRIPTIONS_PATH)
    with pytest.raises(TranscriptionUnavailableError, match="did not answer in time"):
        transcribe_audio(WAV, "wav", SpeechToTextConfig(timeout_s=0.3), provider=provider)


def test_audio_upload_through_the_route_with_the_configured_provider(
    server: WireServer, provider: ProviderConfig, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    llm_yaml = tmp_path / "llm.yaml"
    llm_yaml.write_text(
        yaml.safe_dump(
            {
                "default_provider": "offline",
                "fallback_chain": ["offline"],
                "providers": {
                    "openai": provider.model_dump(exclude={"name"}),
                    "offline": {"kind": "offline", "model": "minilm-retrieval"},
                },
            }
        )
    )
    monkeypatch.setenv("HASTE_LLM_CONFIG", str(llm_yaml))
    monkeypatch.setattr(
        "textai.conversation.insight_store.store_conversation_insight",
        lambda *args, **kwargs: uuid.UUID(int=9),
    )
    analyzer = FakeAnalyzer()
    text_app = TextAI.func_or_class(Settings().model_dump(mode="json"))
    text_app._conversations = lambda: analyzer
    client = TestClient(create_api(StubCore(tmp_path, text_app)))
    response = client.post(
        PATH, headers=HEADERS, files={"file": ("call.m4a-but-really.wav", WAV, "audio/wav")}
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["source"], body["provider"], body["model"], body["duration_s"]) == (
        "audio",
        "openai",
        "whisper-1",
        3.0,
    )
    assert len(body["utterances"]) == 4 and body["analysis"]["insight_id"] == str(uuid.UUID(int=9))
    (request,) = server.get_requests(TRANSCRIPTIONS_PATH)
    assert request.body["file"]["sha256"] == hashlib.sha256(WAV).hexdigest()
    (record,) = client.app.state.core.records
    assert (record.provider, record.model_used) == ("openai", "whisper-1")
