"""``POST /api/ai/conversation/transcribe`` over a stand-in core and the real TextAI method.

The gateway app of :func:`serving.http.create_api` runs in-process; the stand-in core admits
``X-API-Key: hk_test`` and forwards text calls to an in-process ``TextAI`` whose analyzer and
insight store are fakes (no models, no database), so the route's refusals (401/413/415/422/
503), its answer and its audit record are checked without Ray.
"""

from __future__ import annotations

import asyncio
import io
import uuid
import wave
from pathlib import Path
from types import SimpleNamespace
from typing import Annotated, Any

import pytest
from fastapi import APIRouter, Depends, FastAPI, File, Request, UploadFile
from fastapi.testclient import TestClient

from haste.settings import Settings
from serving.auth import ANONYMOUS
from serving.config import RequestLimits
from serving.errors import ApiError
from serving.gateway import CallContext
from serving.http import create_api
from serving.idempotency import IdempotentRoute
from serving.routes import transcription
from serving.text_app import TextAI, TextAIError
from textai.conversation.speech_to_text import SpeechToTextConfig

KEY = "hk_test"
PATH = "/api/ai/conversation/transcribe"
HEADERS = {"X-API-Key": KEY}
VTT = (
    b"WEBVTT\n\n1\n00:00:01.000 --> 00:00:04.000\nDana Reyes: Hi Sam, thanks for joining.\n\n"
    b"2\n00:00:04.500 --> 00:00:09.000\nSam Patel: We compare you with Salesforce.\n\n"
    b"3\n00:00:09.500 --> 00:00:12.000\nDana Reyes: I will send the pricing sheet by Friday.\n"
)


class FakeAnalysis:
    def __init__(self, transcript: list[dict[str, Any]]) -> None:
        self.transcript = transcript

    def to_dict(self) -> dict[str, Any]:
        return {
            "summary": " ".join(turn["content"] for turn in self.transcript)[:80],
            "n_turns": len(self.transcript),
            "action_items": [{"text": "send the pricing sheet"}],
            "alerts": [],
        }


class FakeAnalyzer:
    def __init__(self) -> None:
        self.calls: list[tuple[Any, Any, Any]] = []

    def analyze(self, transcript: Any, participants: Any, meeting_type: Any) -> FakeAnalysis:
        self.calls.append((transcript, participants, meeting_type))
        return FakeAnalysis(transcript)


class StubCore:
    """Admits ``hk_test``; runs text calls on an in-process TextAI."""

    def __init__(self, tmp_path: Path, text_app: Any) -> None:
        self.database_url = f"sqlite:///{tmp_path / 'haste.db'}"
        self.reports_dir = tmp_path / "reports"
        self.settings = Settings()
        self.config = SimpleNamespace(limits=RequestLimits(max_body_bytes=4096))
        self.variants = {"champion": None, "challenger": None}
        self.text_app = text_app
        self.conversation = "conversation-handle"
        self.records: list[Any] = []
        self.consents: list[tuple[Any, Any]] = []
        self.handles: list[Any] = []

    def admit(self, headers: Any, permission: str) -> CallContext:
        if headers.get("x-api-key") != KEY:
            raise ApiError(401, "missing API key: send it in the X-API-Key header")
        assert permission == "llm"
        return CallContext(ANONYMOUS, uuid.uuid4().hex, False)

    async def consent(self, context: Any, feature: str, contact_id: Any, activity_id: Any) -> None:
        self.consents.append((contact_id, activity_id))
        if contact_id == uuid.UUID(int=403):
            raise ApiError(403, f"contact {contact_id} has not consented to AI processing")

    async def call_text(
        self, context: Any, feature: str, inputs: dict, method: str, *args: Any, handle: Any
    ) -> dict[str, Any]:
        self.handles.append(handle)
        try:
            return await asyncio.to_thread(getattr(self.text_app, method), *args)
        except TextAIError as error:
            raise ApiError(error.status_code, error.message) from error

    async def record(self, records: list[Any]) -> None:
        self.records.extend(records)


@pytest.fixture()
def analyzer(monkeypatch: pytest.MonkeyPatch) -> FakeAnalyzer:
    monkeypatch.setattr(
        "textai.conversation.insight_store.store_conversation_insight",
        lambda *args, **kwargs: uuid.UUID(int=7),
    )
    return FakeAnalyzer()


@pytest.fixture()
def client(tmp_path: Path, analyzer: FakeAnalyzer, monkeypatch: pytest.MonkeyPatch) -> TestClient:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    text_app = TextAI.func_or_class(Settings().model_dump(mode="json"))
    text_app._conversations = lambda: analyzer
    return TestClient(create_api(StubCore(tmp_path, text_app)))


def make_wav(seconds: float = 0.25) -> bytes:
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as audio:
        audio.setnchannels(1)
        audio.setsampwidth(2)
        audio.setframerate(8000)
        audio.writeframes(b"\x00\x00" * int(8000 * seconds))
    return buffer.getvalue()


def test_vtt_upload_is_parsed_analysed_stored_and_audited(
    client: TestClient, analyzer: FakeAnalyzer
) -> None:
    contact = str(uuid.uuid4())
    response = client.post(
        PATH,
        headers=HEADERS,
        files={"file": ("zoom.vtt", VTT, "text/vtt")},
        data={
            "contact_id": contact,
            "meeting_type": "discovery",
            "participants": '[{"name": "Dana Reyes", "role": "rep"}]',
        },
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["source"], body["provider"], body["duration_s"]) == ("vtt", None, 12.0)
    assert body["utterances"][1] == {
        "speaker": "Sam Patel",
        "start": 4.5,
        "end": 9.0,
        "text": "We compare you with Salesforce.",
    }
    assert (
        body["transcript"].splitlines()[0] == "[00:00:01] Dana Reyes: Hi Sam, thanks for joining."
    )
    assert body["analysis"]["insight_id"] == str(uuid.UUID(int=7))
    assert body["analysis"]["n_turns"] == 3
    transcript, participants, meeting_type = analyzer.calls[0]
    assert transcript[0] == {
        "speaker": "Dana Reyes",
        "content": "Hi Sam, thanks for joining.",
        "timestamp": 1.0,
    }
    assert participants == [{"name": "Dana Reyes", "role": "rep", "email": None}]
    assert meeting_type == "discovery"
    core = client.app.state.core
    assert core.consents == [(uuid.UUID(contact), None)]
    assert core.handles == ["conversation-handle"]  # the long-work deployment
    (record,) = core.records
    assert record.interaction_type == "conversation_transcribe" and record.provider == "local"
    assert record.output_data["insight_id"] == str(uuid.UUID(int=7))
    assert record.input_data["source"] == "vtt" and record.input_data["bytes"] == len(VTT)


def test_analyze_false_returns_the_transcript_only(
    client: TestClient, analyzer: FakeAnalyzer
) -> None:
    srt = b"1\n00:00:01,000 --> 00:00:02,000\nDana: Hello.\n"
    response = client.post(
        PATH, headers=HEADERS, files={"file": ("a.srt", srt)}, data={"analyze": "false"}
    )
    assert response.status_code == 200
    assert response.json()["analysis"] is None and analyzer.calls == []


def test_audio_without_a_provider_key_is_503_pointing_to_transcript_files(
    client: TestClient,
) -> None:
    response = client.post(PATH, headers=HEADERS, files={"file": ("call.wav", make_wav())})
    assert response.status_code == 503
    detail = response.json()["detail"]
    assert "set OPENAI_API_KEY" in detail and "transcript files (VTT, SRT, JSON)" in detail


@pytest.mark.parametrize(
    ("name", "data", "status", "message"),
    [
        ("deck.pdf", b"%PDF-1.7\n...", 415, "looks like a PDF document; supported: audio"),
        ("call.mp3", b"Dana: hi", 415, "named .mp3 but its content is not"),
        ("call.aac", b"\xff\xf1\x50\x80\x00\x1f\xfc", 415, "aac audio is not accepted"),
        ("notes.docx", b"Dana: hello", 415, "unrecognised .docx file"),
        ("empty.vtt", b"", 422, "the uploaded file is empty"),
        ("bad.vtt", b"WEBVTT\n\n00:01 --> 00:02\nhi\n", 422, "malformed vtt transcript: WebVTT"),
        ("bad.json", b'{"transcript": [', 422, "malformed json transcript: not valid JSON"),
    ],
)
def test_bad_files_are_clear_4xx(
    client: TestClient, name: str, data: bytes, status: int, message: str
) -> None:
    response = client.post(PATH, headers=HEADERS, files={"file": (name, data)})
    assert response.status_code == status, response.text
    assert message in response.json()["detail"]


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"participants": "not json"}, "participants must be a JSON list"),
        ({"participants": '[{"role": "rep"}]'}, "0.name: Field required"),
        ({"contact_id": "not-a-uuid"}, "contact_id"),
        ({"analyze": "maybe"}, "analyze"),
        ({"meeting_type": "x" * 101}, "meeting_type"),
        ({"meeting_type": "demo\x00"}, "meeting_type"),
        ({"participants": '[{"name": "A\\u0000"}]'}, "must not contain NUL"),
    ],
)
def test_bad_form_fields_are_422(client: TestClient, data: dict, message: str) -> None:
    response = client.post(PATH, headers=HEADERS, files={"file": ("a.vtt", VTT)}, data=data)
    assert response.status_code == 422, response.text
    assert message in response.json()["detail"]


def test_missing_file_key_and_consent(client: TestClient) -> None:
    missing = client.post(PATH, headers=HEADERS, data={"meeting_type": "demo"})
    assert missing.status_code == 422 and "file" in missing.json()["detail"]
    assert client.post(PATH, files={"file": ("a.vtt", VTT)}).status_code == 401
    refused = client.post(
        PATH,
        headers=HEADERS,
        files={"file": ("a.vtt", VTT)},
        data={"contact_id": str(uuid.UUID(int=403))},
    )
    assert refused.status_code == 403


def test_uploads_have_their_own_configured_body_limit(
    tmp_path: Path, analyzer: FakeAnalyzer, monkeypatch: pytest.MonkeyPatch
) -> None:
    small = SpeechToTextConfig(max_audio_bytes=200_000, max_transcript_bytes=100_000)
    monkeypatch.setattr(transcription, "speech_config", lambda: small)
    text_app = TextAI.func_or_class(Settings().model_dump(mode="json"))
    text_app._conversations = lambda: analyzer
    client = TestClient(create_api(StubCore(tmp_path, text_app)))
    # 150 kB of VTT: far over the gateway's 4 kB limit, under the upload limit -> route's 413
    big_vtt = VTT + b"\n" + b"NOTE padding\n\n" * 10_000
    response = client.post(PATH, headers=HEADERS, files={"file": ("a.vtt", big_vtt)})
    assert response.status_code == 413
    assert (
        "at most 100000 are accepted (speech_to_text.max_transcript_bytes)"
        in (response.json()["detail"])
    )
    # a body past the upload limit is refused by the middleware before it is read
    huge = make_wav(seconds=20.0)  # 320 kB
    response = client.post(PATH, headers=HEADERS, files={"file": ("a.wav", huge)})
    assert response.status_code == 413
    assert (
        f"larger than {200_000 + transcription.MULTIPART_OVERHEAD_BYTES} bytes"
        in (response.json()["detail"])
    )
    assert "speech_to_text.max_audio_bytes" in response.json()["detail"]
    # other routes keep the gateway's limit
    other = client.post("/api/ai/search", headers=HEADERS, json={"query": "a" * 10_000})
    assert other.status_code == 413 and "limits.max_body_bytes" in other.json()["detail"]


def test_openapi_documents_the_multipart_upload_and_its_refusals() -> None:
    operation = create_api().openapi()["paths"][PATH]["post"]
    content = operation["requestBody"]["content"]
    assert list(content) == ["multipart/form-data"]
    for status in ("401", "403", "413", "415", "422", "503"):
        assert status in operation["responses"], status
    assert "speech_to_text.max_audio_bytes" in operation["responses"]["413"]["description"]


async def read_raw_length(request: Request) -> int:
    """Read the raw body after the form (as claiming an ``X-Request-ID`` does)."""
    return len(await request.body())


def test_the_raw_body_stays_readable_after_the_form_is_parsed() -> None:
    """Claiming an ``X-Request-ID`` fingerprints the raw body after FastAPI parsed the form."""

    def build(route_class: type) -> TestClient:
        router = APIRouter(route_class=route_class)

        @router.post("/upload")
        async def upload(
            raw: Annotated[int, Depends(read_raw_length)], file: Annotated[UploadFile, File()]
        ) -> dict:
            return {"raw": raw, "file": len(await file.read())}

        app = FastAPI()
        app.include_router(router)
        return TestClient(app, raise_server_exceptions=False)

    files = {"file": ("a.vtt", VTT)}
    assert build(IdempotentRoute).post("/upload", files=files).status_code == 500
    answer = build(transcription.BufferedUploadRoute).post("/upload", files=files)
    assert answer.status_code == 200 and answer.json()["file"] == len(VTT)
    assert answer.json()["raw"] > len(VTT)
