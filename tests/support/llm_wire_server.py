"""A local HTTP server speaking the OpenAI and Anthropic wire formats, for tests and demos.

``running_wire_server()`` starts it with uvicorn in a background thread on a free
127.0.0.1 port and yields a :class:`WireServer`:

- ``POST /v1/chat/completions``: OpenAI Chat Completions (``Authorization: Bearer KEY``);
- ``POST /v1/audio/transcriptions``: OpenAI speech to text (multipart: ``file``, ``model``,
  ``response_format`` ``json``/``verbose_json``/``diarized_json``/``text``); the transcript is
  the server's scripted call (``transcript_lines``) spread over the audio's length (a WAV's
  real duration, else 4 s a line); a file that is not audio gets OpenAI's 400;
- ``POST /v1/messages``: Anthropic Messages (the key in ``x-api-key`` or, as the 2.x SDK sends
  it, ``Authorization: Bearer KEY``; ``anthropic-version`` required; from API version
  2026-10-21 the sampling parameters ``temperature``/``top_p``/``top_k`` get a 400, as the
  real API answers).

Replies are deterministic and depend on the input: the text is ``echo: `` followed by the last
user message, cut to ``max_tokens`` words; token counts are whitespace-separated words (input:
the system prompt plus every message). A missing or wrong key gets 401 in the provider's own
error JSON shape. Every request is recorded (path, headers, JSON body, answered status) and the
server can be scripted to fail the next N calls with a status (429, 500, 529 ...) or to delay
them (timeout tests). Point the OpenAI SDK at ``server.openai_base_url`` (ends in ``/v1``) and
the Anthropic SDK at ``server.anthropic_base_url`` (the SDK appends ``/v1/messages``).
"""

from __future__ import annotations

import asyncio
import hashlib
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, PlainTextResponse, Response

from tests.support.asgi_server import serve_in_thread

OPENAI_PATH = "/v1/chat/completions"
TRANSCRIPTIONS_PATH = "/v1/audio/transcriptions"
#: The call every transcription returns (speaker label, text), spread over the audio.
DEFAULT_TRANSCRIPT_LINES: tuple[tuple[str, str], ...] = (
    ("A", "Hi Dana, thanks for making time for the demo today."),
    ("B", "Happy to. We are comparing you with Salesforce, so pricing matters."),
    ("A", "Understood. I will send you the pricing sheet by Friday."),
    ("B", "Great, let's schedule a follow-up call next week."),
)
_AUDIO_MAGIC = (b"RIFF", b"ID3", b"fLaC", b"OggS", b"\x1a\x45\xdf\xa3", b"\xff\xfb", b"\xff\xf3")
ANTHROPIC_PATH = "/v1/messages"
SAMPLING_REMOVED_VERSION = "2026-10-21"
"""Anthropic API version from which temperature/top_p/top_k are rejected (SDK 2.x sends it)."""
CREATED_AT = 1_700_000_000
"""Fixed ``created`` timestamp of OpenAI replies (replies are deterministic)."""
WIRE_API_KEY = "sk-test-wire-0001"
"""API key the integration suites' shared wire server expects (both SDK suites use it)."""

_OPENAI_ERROR_TYPES = {
    400: ("invalid_request_error", None),
    401: ("invalid_request_error", "invalid_api_key"),
    404: ("invalid_request_error", "model_not_found"),
    429: ("requests", "rate_limit_exceeded"),
}
_ANTHROPIC_ERROR_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    429: "rate_limit_error",
    529: "overloaded_error",
}


def count_tokens(text: str) -> int:
    """Return the server's token count of ``text``: whitespace-separated words."""
    return len(text.split())


def flatten_content(content: Any) -> str:
    """Return the text of a message ``content``: a string or a list of ``{type, text}`` parts."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return " ".join(str(part.get("text", "")) for part in content if isinstance(part, dict))
    return ""


def compose_reply(messages: list[dict[str, Any]], max_tokens: int) -> tuple[str, bool]:
    """Return the deterministic reply to a conversation and whether it was cut by max_tokens."""
    last_user = next(
        (flatten_content(m.get("content")) for m in reversed(messages) if m.get("role") == "user"),
        "",
    )
    words = ["echo:", *last_user.split()]
    return " ".join(words[:max_tokens]), len(words) > max_tokens


@dataclass
class RecordedRequest:
    """One request the server received.

    Attributes:
        path: URL path, e.g. ``/v1/messages``.
        headers: Request headers, names lower-cased.
        body: Parsed JSON body (``{}`` when not JSON).
        status: HTTP status the server answered (0 while in flight).
    """

    path: str
    headers: dict[str, str]
    body: dict[str, Any]
    status: int = 0


@dataclass
class _Failure:
    """A scripted failure for the next ``remaining`` matching calls."""

    status: int
    remaining: int
    path: str | None
    retry_after_ms: int | None


@dataclass
class _Delay:
    """A scripted delay for the next ``remaining`` matching calls (None: every call)."""

    seconds: float
    remaining: int | None
    path: str | None


@dataclass
class WireServer:
    """The running server's address, its record of requests and its scripting hooks.

    Attributes:
        api_key: The key both endpoints accept.
        host: Bound host.
        port: Bound port (0 until started).
    """

    api_key: str = "test-key"
    host: str = "127.0.0.1"
    port: int = 0
    transcript_lines: tuple[tuple[str, str], ...] = DEFAULT_TRANSCRIPT_LINES
    _requests: list[RecordedRequest] = field(default_factory=list)
    _failures: list[_Failure] = field(default_factory=list)
    _delays: list[_Delay] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def base_url(self) -> str:
        """Server root, e.g. ``http://127.0.0.1:54321``."""
        return f"http://{self.host}:{self.port}"

    @property
    def openai_base_url(self) -> str:
        """``base_url`` for the OpenAI SDK (ends in ``/v1``)."""
        return f"{self.base_url}/v1"

    @property
    def anthropic_base_url(self) -> str:
        """``base_url`` for the Anthropic SDK (it appends ``/v1/messages``)."""
        return self.base_url

    @property
    def requests(self) -> list[RecordedRequest]:
        """A snapshot of every request received, oldest first."""
        with self._lock:
            return list(self._requests)

    def get_requests(self, path: str) -> list[RecordedRequest]:
        """Return the requests received on ``path`` (``OPENAI_PATH`` or ``ANTHROPIC_PATH``)."""
        return [r for r in self.requests if r.path == path]

    def fail_next(
        self,
        count: int,
        status: int = 500,
        *,
        path: str | None = None,
        retry_after_ms: int | None = 1,
    ) -> None:
        """Answer the next ``count`` calls (on ``path``, or any path) with ``status``.

        Args:
            count: Number of calls to fail.
            status: HTTP status of the failure (429, 500, 529, 400 ...).
            path: Only calls to this path; ``None`` matches both endpoints.
            retry_after_ms: Sent as ``retry-after-ms`` so the SDKs' own retries wait only this
                long; ``None`` sends no header (the SDKs then back off 0.5 s and more).
        """
        with self._lock:
            self._failures.append(_Failure(status, count, path, retry_after_ms))

    def delay_next(self, count: int | None, seconds: float, *, path: str | None = None) -> None:
        """Delay the next ``count`` calls (``None``: every call) by ``seconds`` before answering."""
        with self._lock:
            self._delays.append(_Delay(seconds, count, path))

    def reset(self) -> None:
        """Forget the recorded requests and every scripted failure or delay."""
        with self._lock:
            self._requests.clear()
            self._failures.clear()
            self._delays.clear()

    def _record(self, record: RecordedRequest) -> tuple[float, _Failure | None]:
        """Store a request and consume the delay and failure scripted for it."""
        with self._lock:
            self._requests.append(record)
            delay = 0.0
            for scripted in self._delays:
                if scripted.path in (None, record.path) and scripted.remaining != 0:
                    delay = scripted.seconds
                    if scripted.remaining is not None:
                        scripted.remaining -= 1
                    break
            failure = None
            for scripted_failure in self._failures:
                if scripted_failure.path in (None, record.path) and scripted_failure.remaining:
                    scripted_failure.remaining -= 1
                    failure = scripted_failure
                    break
            self._failures = [f for f in self._failures if f.remaining]
            self._delays = [d for d in self._delays if d.remaining != 0]
            return delay, failure


def _format_openai_error(status: int, message: str) -> dict[str, Any]:
    """Return OpenAI's error body."""
    kind, code = _OPENAI_ERROR_TYPES.get(status, ("server_error", None))
    return {"error": {"message": message, "type": kind, "param": None, "code": code}}


def _format_anthropic_error(status: int, message: str) -> dict[str, Any]:
    """Return Anthropic's error body."""
    kind = _ANTHROPIC_ERROR_TYPES.get(status, "api_error")
    return {"type": "error", "error": {"type": kind, "message": message}}


def _answer_openai(body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    """Return the status and body answering a Chat Completions request."""
    model, messages = body.get("model"), body.get("messages")
    if not isinstance(model, str) or not isinstance(messages, list) or not messages:
        return 400, _format_openai_error(400, "'model' and a non-empty 'messages' are required")
    limit = body.get("max_completion_tokens") or body.get("max_tokens") or 16
    text, truncated = compose_reply(messages, int(limit))
    prompt_tokens = sum(count_tokens(flatten_content(m.get("content"))) for m in messages)
    completion_tokens = count_tokens(text)
    digest = hashlib.sha256(repr(body).encode()).hexdigest()[:24]
    return 200, {
        "id": f"chatcmpl-{digest}",
        "object": "chat.completion",
        "created": CREATED_AT,
        "model": model,
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": text},
                "logprobs": None,
                "finish_reason": "length" if truncated else "stop",
            }
        ],
        "usage": {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": completion_tokens,
            "total_tokens": prompt_tokens + completion_tokens,
        },
    }


def _answer_anthropic(body: dict[str, Any], version: str) -> tuple[int, dict[str, Any]]:
    """Return the status and body answering a Messages request of API ``version``."""
    model, messages, limit = body.get("model"), body.get("messages"), body.get("max_tokens")
    if not isinstance(model, str) or not isinstance(messages, list) or not messages:
        return 400, _format_anthropic_error(400, "model: Field required; messages: Field required")
    if not isinstance(limit, int) or limit < 1:
        return 400, _format_anthropic_error(400, "max_tokens: Field required")
    if any(m.get("role") not in ("user", "assistant") for m in messages):
        return 400, _format_anthropic_error(400, "messages: roles must be 'user' or 'assistant'")
    if version >= SAMPLING_REMOVED_VERSION:
        for name in ("temperature", "top_p", "top_k"):
            if name in body:
                return 400, _format_anthropic_error(400, f"{name}: Extra inputs are not permitted")
    text, truncated = compose_reply(messages, limit)
    system = flatten_content(body.get("system", ""))
    input_tokens = count_tokens(system) + sum(
        count_tokens(flatten_content(m.get("content"))) for m in messages
    )
    digest = hashlib.sha256(repr(body).encode()).hexdigest()[:24]
    return 200, {
        "id": f"msg_{digest}",
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": [{"type": "text", "text": text}],
        "stop_reason": "max_tokens" if truncated else "end_turn",
        "stop_sequence": None,
        "usage": {"input_tokens": input_tokens, "output_tokens": count_tokens(text)},
    }


def measure_audio_seconds(data: bytes, lines: int) -> float:
    """Return a WAV file's real duration (``wave``), else 4 s per transcript line."""
    import io
    import wave

    try:
        with wave.open(io.BytesIO(data)) as audio:
            return audio.getnframes() / float(audio.getframerate())
    except (wave.Error, EOFError, ZeroDivisionError):
        return 4.0 * lines


def _answer_transcription(server: WireServer, form: dict[str, Any], data: bytes) -> tuple[int, Any]:
    """Return the status and body (a dict, or text) answering a transcription request."""
    model, response_format = form.get("model"), form.get("response_format") or "json"
    if not isinstance(model, str) or not model:
        return 400, _format_openai_error(400, "you must provide a model parameter")
    if not data.startswith(_AUDIO_MAGIC) and data[4:8] != b"ftyp":
        return 400, _format_openai_error(
            400,
            "Invalid file format. Supported formats: ['flac', 'm4a', 'mp3', 'mp4', 'mpeg', "
            "'mpga', 'oga', 'ogg', 'wav', 'webm']",
        )
    lines = server.transcript_lines
    duration = round(measure_audio_seconds(data, len(lines)), 3)
    step = duration / max(len(lines), 1)
    text = " ".join(line for _, line in lines)
    usage = {"type": "duration", "seconds": max(1, round(duration))}
    if response_format == "text":
        return 200, text
    if response_format == "json":
        return 200, {"text": text, "usage": usage}
    if response_format == "verbose_json":
        segments = [
            {
                "id": index,
                "seek": 0,
                "start": round(index * step, 3),
                "end": round((index + 1) * step, 3),
                "text": f" {line}",
                "tokens": [],
                "temperature": 0.0,
                "avg_logprob": -0.2,
                "compression_ratio": 1.1,
                "no_speech_prob": 0.01,
            }
            for index, (_, line) in enumerate(lines)
        ]
        body = {"task": "transcribe", "language": "english", "duration": duration}
        return 200, {**body, "text": text, "segments": segments, "usage": usage}
    if response_format == "diarized_json":
        segments = [
            {
                "type": "transcript.text.segment",
                "id": f"seg_{index:03d}",
                "start": round(index * step, 3),
                "end": round((index + 1) * step, 3),
                "text": line,
                "speaker": speaker,
            }
            for index, (speaker, line) in enumerate(lines)
        ]
        body = {"task": "transcribe", "duration": duration, "text": text}
        return 200, {**body, "segments": segments, "usage": usage}
    return 400, _format_openai_error(400, f"response_format {response_format!r} is not supported")


def create_app(server: WireServer) -> FastAPI:
    """Return the FastAPI app serving both wire formats for ``server``'s state."""
    app = FastAPI(title="LLM wire test server", docs_url=None, redoc_url=None)

    async def handle(request: Request, *, anthropic: bool) -> JSONResponse:
        try:
            body = await request.json()
        except ValueError:
            body = None
        record = RecordedRequest(
            path=request.url.path,
            headers={k.lower(): v for k, v in request.headers.items()},
            body=body if isinstance(body, dict) else {},
        )
        delay, failure = server._record(record)
        if delay > 0:
            await asyncio.sleep(delay)
        error = _format_anthropic_error if anthropic else _format_openai_error
        headers: dict[str, str] = {}
        if anthropic:
            bearer = record.headers.get("authorization", "").removeprefix("Bearer ")
            key = record.headers.get("x-api-key") or bearer
            if not key or key != server.api_key:
                status, payload = 401, error(401, "invalid x-api-key")
            elif not record.headers.get("anthropic-version"):
                status, payload = 400, error(400, "anthropic-version: header is required")
            else:
                status, payload = 0, {}
        else:
            auth = record.headers.get("authorization", "")
            if auth != f"Bearer {server.api_key}":
                shown = auth.removeprefix("Bearer ")[-4:] or "none"
                status, payload = 401, error(401, f"Incorrect API key provided: ...{shown}.")
            else:
                status, payload = 0, {}
        if status == 0 and failure is not None:
            status, payload = failure.status, error(failure.status, f"scripted {failure.status}")
            if failure.retry_after_ms is not None:
                headers["retry-after-ms"] = str(failure.retry_after_ms)
        if status == 0 and body is None:
            status, payload = 400, error(400, "body must be JSON")
        if status == 0:
            if anthropic:
                version = record.headers.get("anthropic-version", "")
                status, payload = _answer_anthropic(body, version)
            else:
                status, payload = _answer_openai(body)
        record.status = status
        return JSONResponse(payload, status_code=status, headers=headers)

    @app.post(OPENAI_PATH)
    async def chat_completions(request: Request) -> JSONResponse:
        return await handle(request, anthropic=False)

    @app.post(TRANSCRIPTIONS_PATH)
    async def transcriptions(request: Request) -> Response:
        form = await request.form()
        fields: dict[str, Any] = {}
        data = b""
        for key, value in form.multi_items():
            if hasattr(value, "read"):
                data = await value.read()
                fields[key] = {
                    "filename": value.filename,
                    "content_type": value.content_type,
                    "size": len(data),
                    "sha256": hashlib.sha256(data).hexdigest(),
                }
            elif key in fields:
                previous = fields[key]
                fields[key] = (
                    [*previous, value] if isinstance(previous, list) else [previous, value]
                )
            else:
                fields[key] = value
        record = RecordedRequest(
            path=request.url.path,
            headers={k.lower(): v for k, v in request.headers.items()},
            body=fields,
        )
        delay, failure = server._record(record)
        if delay > 0:
            await asyncio.sleep(delay)
        headers: dict[str, str] = {}
        if record.headers.get("authorization", "") != f"Bearer {server.api_key}":
            status, payload = 401, _format_openai_error(401, "Incorrect API key provided.")
        elif failure is not None:
            status = failure.status
            payload = _format_openai_error(status, f"scripted {status}")
            if failure.retry_after_ms is not None:
                headers["retry-after-ms"] = str(failure.retry_after_ms)
        elif "file" not in fields:
            status, payload = 400, _format_openai_error(400, "you must provide a file")
        else:
            status, payload = _answer_transcription(server, fields, data)
        record.status = status
        if isinstance(payload, str):
            return PlainTextResponse(payload, status_code=status, headers=headers)
        return JSONResponse(payload, status_code=status, headers=headers)

    @app.post(ANTHROPIC_PATH)
    async def messages(request: Request) -> JSONResponse:
        return await handle(request, anthropic=True)

    return app


@contextmanager
def running_wire_server(api_key: str = "test-key") -> Iterator[WireServer]:
    """Run the wire server on a free 127.0.0.1 port for the ``with`` block.

    Args:
        api_key: The key the server accepts on both endpoints.

    Yields:
        The :class:`WireServer` (``base_url``, recorded requests, scripting hooks).

    Raises:
        RuntimeError: When the server does not start within 10 seconds.
    """
    server = WireServer(api_key=api_key)
    with serve_in_thread(create_app(server), "LLM wire server", host=server.host) as port:
        server.port = port
        yield server
