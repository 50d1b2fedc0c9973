"""Idempotent requests: a client's ``X-Request-ID`` names one request of one caller.

The first request with a key *claims* it (a row of ``idempotency_keys`` with the request's
fingerprint); its answer is then *completed* into the row, or the claim *released* when the
answer must not be replayed (a 5xx: the client should retry for real). Later requests with the
same key from the same caller:

* same fingerprint (method, path, query and body), answered: the recorded answer (a replay);
* same fingerprint, still running: :class:`IdempotencyConflict` 409 (retry later);
* another fingerprint: :class:`IdempotencyConflict` 422 (a key names one request).

Keys are scoped by caller (the API key id), so one caller can never read another's answer.
Framework-free: the gateway (:mod:`serving.idempotency`) turns these into HTTP answers.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import delete, update
from sqlalchemy.exc import IntegrityError

from haste.db.gateway_tables import IdempotencyKey
from haste.db.models import as_utc
from haste.db.session import session_scope
from haste.records import without_nul

#: A key is forgotten this long after its first use (it can then name a new request).
KEY_TTL = dt.timedelta(hours=24)
#: A claim without an answer this old is taken over (its replica died mid-request, or the
#: database was down when its answer came); longer than any interactive time budget.
CLAIM_LEASE = dt.timedelta(seconds=90)


class IdempotencyConflict(Exception):
    """A key reused for another request (422) or while its request runs (409)."""

    def __init__(self, status_code: int, message: str) -> None:
        super().__init__(message)
        self.status_code = status_code
        self.message = message


@dataclass(frozen=True)
class RecordedAnswer:
    """The answer recorded for a key: HTTP status and JSON body text."""

    status_code: int
    body: str


@dataclass(frozen=True)
class Claim:
    """A key this request holds until it completes or releases it."""

    scope: str
    key: str


def fingerprint_request(method: str, path: str, query: str, body: bytes) -> str:
    """Return the SHA-256 naming a request: method, path, sorted query, canonical JSON body.

    A JSON body is canonicalised (sorted keys, no whitespace), so the same request re-encoded
    by another client library has the same fingerprint; other bodies are hashed as bytes.
    """
    try:
        canonical = json.dumps(json.loads(body), sort_keys=True, separators=(",", ":")).encode()
    except (ValueError, UnicodeDecodeError):
        canonical = body
    sorted_query = "&".join(sorted(query.split("&"))) if query else ""
    digest = hashlib.sha256(f"{method.upper()} {path}?{sorted_query}\n".encode())
    digest.update(canonical)
    return digest.hexdigest()


def claim_key(
    url: str,
    scope: str,
    key: str,
    fingerprint: str,
    endpoint: str,
    owner: str | None = None,
    owner_alive: Callable[[str], bool] | None = None,
) -> Claim | RecordedAnswer:
    """Claim ``key`` for this request, or return the answer it already got.

    Args:
        url: Database URL.
        scope: The caller (API key id, or ``anonymous``).
        key: The client's request id.
        fingerprint: :func:`fingerprint_request` of this request.
        endpoint: ``METHOD /path`` (named in the conflict message).
        owner: Who runs this request (e.g. the Ray actor id of the replica).
        owner_alive: Whether another claim's owner still runs; a running claim whose owner
            died (a replica killed mid-request) is taken over at once instead of after
            :data:`CLAIM_LEASE`.

    Returns:
        A :class:`Claim` (go on, then :func:`complete_key` or :func:`release_key`) or the
        :class:`RecordedAnswer` to replay.

    Raises:
        IdempotencyConflict: 422 when the key named another request, 409 while it runs.
    """
    now = dt.datetime.now(dt.UTC)
    for _ in range(3):  # insert, or read the row; retake a stale one (compare and set)
        try:
            with session_scope(url) as session:
                session.add(
                    IdempotencyKey(
                        scope=scope,
                        key=key,
                        fingerprint=fingerprint,
                        endpoint=endpoint,
                        owner=owner,
                        created_at=now,
                    )
                )
            return Claim(scope, key)
        except IntegrityError:
            pass
        with session_scope(url) as session:
            row = session.get(IdempotencyKey, (scope, key))
            if row is None:
                continue  # released meanwhile: claim again
            created = as_utc(row.created_at)
            expired = now - created > KEY_TTL
            stale = row.status_code is None and (
                now - created > CLAIM_LEASE or _orphaned(row, fingerprint, owner, owner_alive)
            )
            if not (expired or stale):
                return _answer_or_conflict(row, key, fingerprint)
            taken = session.execute(
                update(IdempotencyKey)
                .where(
                    IdempotencyKey.scope == scope,
                    IdempotencyKey.key == key,
                    IdempotencyKey.created_at == row.created_at,
                )
                .values(
                    fingerprint=fingerprint,
                    endpoint=endpoint,
                    owner=owner,
                    status_code=None,
                    response_body=None,
                    created_at=now,
                    completed_at=None,
                )
            )
            if taken.rowcount == 1:
                return Claim(scope, key)
    raise IdempotencyConflict(409, f"request id {key!r} is being claimed concurrently; retry")


def _orphaned(
    row: IdempotencyKey,
    fingerprint: str,
    owner: str | None,
    owner_alive: Callable[[str], bool] | None,
) -> bool:
    """Return whether a running claim of the same request lost its owner (a dead replica)."""
    if owner_alive is None or row.owner is None or row.owner == owner:
        return False
    return row.fingerprint == fingerprint and not owner_alive(row.owner)


def _answer_or_conflict(row: IdempotencyKey, key: str, fingerprint: str) -> RecordedAnswer:
    """Return the recorded answer of a live key, or raise the conflict it is."""
    if row.fingerprint != fingerprint:
        raise IdempotencyConflict(
            422,
            f"X-Request-ID {key!r} was already used for another request ({row.endpoint}, "
            "or another body); send a new id for a new request",
        )
    if row.status_code is None:
        raise IdempotencyConflict(
            409, f"the request with X-Request-ID {key!r} is still running; retry shortly"
        )
    return RecordedAnswer(row.status_code, row.response_body or "null")


def complete_key(url: str, claim: Claim, status_code: int, body: str) -> None:
    """Record the answer of a claimed key (later retries replay it)."""
    with session_scope(url) as session:
        session.execute(
            update(IdempotencyKey)
            .where(IdempotencyKey.scope == claim.scope, IdempotencyKey.key == claim.key)
            .values(
                status_code=status_code,
                response_body=without_nul(body),
                completed_at=dt.datetime.now(dt.UTC),
            )
        )


def release_key(url: str, claim: Claim) -> None:
    """Forget a claimed key whose answer must not be replayed (the client may retry)."""
    with session_scope(url) as session:
        session.execute(
            delete(IdempotencyKey).where(
                IdempotencyKey.scope == claim.scope,
                IdempotencyKey.key == claim.key,
                IdempotencyKey.status_code.is_(None),
            )
        )


def prune_keys(url: str, now: dt.datetime | None = None) -> int:
    """Delete the keys older than :data:`KEY_TTL`; return how many."""
    cutoff = (now or dt.datetime.now(dt.UTC)) - KEY_TTL
    with session_scope(url) as session:
        result = session.execute(delete(IdempotencyKey).where(IdempotencyKey.created_at < cutoff))
        return result.rowcount or 0


__all__ = [
    "CLAIM_LEASE",
    "KEY_TTL",
    "Claim",
    "IdempotencyConflict",
    "RecordedAnswer",
    "claim_key",
    "complete_key",
    "fingerprint_request",
    "prune_keys",
    "release_key",
]
