"""Call transcription intake: ``POST /api/ai/conversation/transcribe`` (multipart upload).

A recording is transcribed by the configured speech-to-text provider (OpenAI SDK), a
transcript file (WebVTT, SRT, JSON export, text) is parsed offline; either way the timed,
speaker-labelled utterances are analysed like ``/api/ai/conversation/analyze`` and stored.
The route sniffs and size-checks the file (415/413/422 before any model time), checks consent,
and forwards the bytes to the ``ConversationAI`` deployment.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Coroutine
from functools import lru_cache
from typing import Annotated, Any, Literal

from fastapi import APIRouter, File, Form, Request, Response, UploadFile
from pydantic import TypeAdapter, ValidationError

from serving.core import usage_identity
from serving.dependencies import LLM, Core
from serving.errors import ERROR_RESPONSES, ApiError, ErrorResponse
from serving.gateway import CallContext
from serving.idempotency import IdempotentRoute
from textai.conversation.intake import sniff_upload
from textai.conversation.request import Participant
from textai.conversation.speech_to_text import SpeechToTextConfig, load_speech_to_text_config
from textai.conversation.upload_errors import UploadError

PATH = "/api/ai/conversation/transcribe"
FEATURE = "conversation_transcribe"
#: Room for the multipart framing and the form fields on top of the file itself.
MULTIPART_OVERHEAD_BYTES = 65_536
_PARTICIPANTS = TypeAdapter(list[Participant])


class BufferedUploadRoute(IdempotentRoute):
    """An idempotent route that reads the whole (size-limited) body before parsing the form.

    Claiming a client's ``X-Request-ID`` fingerprints the raw body; FastAPI parses a form from
    the stream, after which the body could not be read again. Reading it first keeps both.
    """

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        """Wrap the idempotent handler: buffer the body, then handle the request."""
        handler = super().get_route_handler()

        async def handle(request: Request) -> Response:
            await request.body()
            return await handler(request)

        return handle


router = APIRouter(route_class=BufferedUploadRoute, responses=ERROR_RESPONSES)


@lru_cache(maxsize=1)
def speech_config() -> SpeechToTextConfig:
    """Return ``speech_to_text`` of ``configs/conversation.yaml`` (read once per process)."""
    return load_speech_to_text_config()


def upload_body_limits() -> dict[str, tuple[int, str]]:
    """Return the body-size limit of the upload route (for the gateway's middleware)."""
    config = speech_config()
    largest = max(config.max_audio_bytes, config.max_transcript_bytes)
    setting = "speech_to_text.max_audio_bytes in configs/conversation.yaml"
    return {PATH: (int(largest) + MULTIPART_OVERHEAD_BYTES, setting)}


def parse_participants(text: str | None) -> list[dict[str, Any]]:
    """Read the ``participants`` form field: a JSON list of ``{name, role, email}``.

    Raises:
        ApiError: 422 naming what is wrong.
    """
    if not text or not text.strip():
        return []
    if "\x00" in text or "\\u0000" in text:  # PostgreSQL text cannot hold NUL
        raise ApiError(422, "participants must not contain NUL characters")
    try:
        items = _PARTICIPANTS.validate_json(text)
    except ValidationError as error:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in issue['loc']) or 'value'}: {issue['msg']}"
            for issue in error.errors()[:5]
        )
        raise ApiError(
            422, f"participants must be a JSON list of {{name, role, email}}: {problems}"
        ) from None
    if len(items) > 50:
        raise ApiError(422, f"participants: at most 50, got {len(items)}")
    return [item.model_dump(mode="json") for item in items]


def transcription_record(
    context: CallContext, inputs: dict[str, Any], result: dict[str, Any]
) -> Any:
    """Return the audit record of a transcription (and its analysis)."""
    analysis = result.get("analysis") or {}
    return context.interaction(
        FEATURE,
        inputs,
        {
            "source": result["source"],
            "duration_s": result["duration_s"],
            "utterances": len(result["utterances"]),
            "insight_id": analysis.get("insight_id"),
            "summary": analysis.get("summary"),
            "action_items": len(analysis.get("action_items") or []),
            "alerts": analysis.get("alerts") or [],
        },
        result.get("model") or f"{result['source']}-parser",
        provider=result.get("provider") or "local",
    )


@router.post(
    PATH,
    tags=["conversation"],
    responses={
        413: {
            "model": ErrorResponse,
            "description": "The file is over `speech_to_text.max_audio_bytes` (audio) or "
            "`max_transcript_bytes` (transcript files), or the transcript over the analyzer's "
            "limits.",
        },
        415: {
            "model": ErrorResponse,
            "description": "Neither a supported audio format nor a transcript file (the "
            "message lists what is supported).",
        },
        503: {
            "model": ErrorResponse,
            "description": "Audio needs a speech-to-text provider and none is configured or "
            "reachable (transcript files work offline), or a deployment is unavailable.",
        },
    },
)
async def transcribe_conversation(
    core: Core,
    context: LLM,
    file: Annotated[
        UploadFile,
        File(description="A call recording or a transcript file (VTT, SRT, JSON, TXT)."),
    ],
    contact_id: Annotated[uuid.UUID | None, Form()] = None,
    activity_id: Annotated[uuid.UUID | None, Form()] = None,
    meeting_type: Annotated[str | None, Form(max_length=100, pattern=r"^[^\x00]*$")] = None,
    participants: Annotated[
        str | None,
        Form(max_length=20_000, description="JSON list of {name, role, email}."),
    ] = None,
    # "true"/"false", not bool: FastAPI reads a missing bool form field as false (a checkbox)
    analyze: Annotated[
        Literal["true", "false"],
        Form(description="Analyse and store the transcript (`false`: the transcript only)."),
    ] = "true",
) -> dict[str, Any]:
    """Transcribe a call recording (or read a transcript file), then analyse it.

    Audio (wav, mp3, m4a, mp4, ogg, flac, webm) goes to the configured speech-to-text
    provider; WebVTT (Zoom/Teams, ``<v Speaker>`` or ``Speaker: text`` cues), SRT, JSON
    (Gong-style ``transcript``/``sentences``, a list of ``{speaker, start, end, text}``,
    transcription ``segments``) and ``Speaker: text`` files are parsed offline. The answer has
    the utterances with speakers and times, the transcript text and (``analyze``) the
    analysis of ``/api/ai/conversation/analyze`` with its ``insight_id``.
    """
    config = speech_config()
    people = parse_participants(participants)
    data = await file.read()
    try:
        sniffed = sniff_upload(file.filename, data, config)
    except UploadError as error:
        raise ApiError(error.status_code, str(error)) from None
    await core.consent(context, FEATURE, contact_id, activity_id)
    inputs = {
        "contact_id": str(contact_id) if contact_id else None,
        "meeting_type": meeting_type,
        "source": sniffed.kind,
        "bytes": len(data),
    }
    body = {
        "data": data,
        "kind": sniffed.kind,
        "audio_format": sniffed.audio_format,
        "participants": people,
        "meeting_type": meeting_type,
        "contact_id": inputs["contact_id"],
        "activity_id": str(activity_id) if activity_id else None,
        "analyze": analyze == "true",
    }
    result = await core.call_text(
        context,
        FEATURE,
        inputs,
        "transcribe_conversation",
        body,
        usage_identity(context),
        handle=core.conversation,
    )
    await core.record([transcription_record(context, inputs, result)])
    return {**result, "request_id": context.request_id}
