"""Transcription intake on the served platform: a WebVTT upload analysed, stored, recorded."""

from __future__ import annotations

import uuid

import httpx

from flows.demo_transcription import SAMPLE_VTT
from haste.db.models import ConversationInsight
from haste.db.session import session_scope
from tests.support.platform import interactions as _interactions

PATH = "/api/ai/conversation/transcribe"


def test_a_vtt_upload_is_analysed_stored_and_recorded(api, platform) -> None:
    settings, *_ = platform
    request_id = uuid.uuid4().hex
    # One multipart body, sent twice byte for byte (a retry resends the same bytes; httpx draws
    # a new boundary per request, and a different body under the same request id is a 422).
    upload = httpx.Request(
        "POST",
        f"{api.base_url}{PATH}",
        files={"file": ("discovery-call.vtt", SAMPLE_VTT.encode(), "text/vtt")},
        data={"participants": '[{"name": "Dana Reyes", "role": "rep"}]'},
    )
    body_bytes = upload.read()
    headers = {"X-Request-ID": request_id, "Content-Type": upload.headers["Content-Type"]}
    response = api.post(PATH, content=body_bytes, headers=headers)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["source"] == "vtt" and body["duration_s"] == 56.0
    assert {u["speaker"] for u in body["utterances"]} == {"Dana Reyes", "Sam Patel"}
    analysis = body["analysis"]
    assert any("pricing sheet" in item["text"] for item in analysis["action_items"])
    assert any(m["competitor"] == "Salesforce" for m in analysis["competitor_mentions"])
    with session_scope(settings.database_url) as session:
        insight = session.get(ConversationInsight, uuid.UUID(analysis["insight_id"]))
        assert insight is not None and insight.summary == analysis["summary"]
    (row,) = _interactions(settings, request_id=request_id)
    assert row.feature == "conversation_transcribe"
    replay = api.post(PATH, content=body_bytes, headers=headers)  # the recorded answer
    assert replay.status_code == 200 and replay.headers.get("Idempotent-Replayed") == "true"


def test_unsupported_and_empty_uploads_are_refused(api, platform) -> None:
    pdf = api.post(PATH, files={"file": ("slides.pdf", b"%PDF-1.7\n%x\n", "application/pdf")})
    assert pdf.status_code == 415
    assert "supported: audio" in pdf.json()["detail"]
    empty = api.post(PATH, files={"file": ("call.vtt", b"", "text/vtt")})
    assert empty.status_code == 422
