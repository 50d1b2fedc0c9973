"""Webhooks: receivers of band crossings, their signed deliveries, retries and failures.

A caller registers a URL (:func:`register_webhook`) and gets a secret, shown once. Every score
change that crosses a band is queued once per active webhook (:func:`enqueue_deliveries`, called
when the change message is consumed from the broker; a redelivered message queues nothing
twice) and POSTed by :func:`deliver_due` (run in a loop by :class:`WebhookDispatcher`):

* the body is the change message of :func:`streaming.changes.change_message`, serialised once;
* ``X-Haste-Signature: sha256=<hex>`` is the HMAC-SHA256, keyed by the secret, of
  ``"<X-Haste-Timestamp>." + body`` (:func:`sign_payload`, checked by :func:`verify_signature`);
  ``X-Haste-Delivery`` is the delivery id (receivers dedupe on it), ``X-Haste-Event`` is
  ``lead_score.changed``;
* a 2xx answer delivers; anything else (status, network error, timeout) is retried after
  :meth:`~streaming.config.WebhookConfig.backoff` and given up (``failed``) after
  ``max_attempts`` attempts. :func:`list_webhooks` shows the counts and the last error.

Deliveries to one webhook keep their order: they are POSTed one after the other, oldest first,
and a delivery waiting for its retry holds back the newer ones of its webhook (until it is
delivered or failed). Different webhooks are served concurrently. A picked delivery is leased
(its ``next_attempt_at`` moved past the time its attempt may take), so two dispatchers never
POST it twice, and a crashed dispatcher's deliveries are picked again once the lease ends.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import hashlib
import hmac
import json
import logging
import secrets
import time
import uuid
from collections import Counter
from collections.abc import Collection
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import httpx
from sqlalchemy import and_, func, or_, select, update
from sqlalchemy.orm import Session, aliased

from haste.db.session import session_scope
from haste.db.stream_tables import Webhook, WebhookDelivery
from streaming.changes import CHANGE_MESSAGE_TYPE
from streaming.config import WebhookConfig

logger = logging.getLogger("haste.streaming")

#: Headers of every delivery.
SIGNATURE_HEADER = "X-Haste-Signature"
TIMESTAMP_HEADER = "X-Haste-Timestamp"
DELIVERY_HEADER = "X-Haste-Delivery"
EVENT_HEADER = "X-Haste-Event"
#: ``X-Haste-Event`` of a score change.
WEBHOOK_EVENT = CHANGE_MESSAGE_TYPE
#: Prefix of the signature (the algorithm).
SIGNATURE_PREFIX = "sha256="
#: Longest webhook URL accepted (the column's size).
MAX_URL_LENGTH = 2000
#: Bounds of a caller-chosen secret (the column holds 128 characters).
MIN_SECRET_LENGTH = 16
MAX_SECRET_LENGTH = 128
#: Delivery states.
PENDING, DELIVERED, FAILED = "pending", "delivered", "failed"
#: Seconds added to a picked delivery's lease beyond the time its attempts may take.
LEASE_MARGIN_S = 30.0
#: Characters of a receiver's answer kept in ``last_error``.
ERROR_BODY_CHARS = 200


def sign_payload(secret: str, timestamp: str, body: bytes) -> str:
    """Return the ``X-Haste-Signature`` of a delivery.

    Args:
        secret: The webhook's secret.
        timestamp: ``X-Haste-Timestamp`` (unix seconds, as sent).
        body: The exact bytes of the body.

    Returns:
        ``"sha256=" + hex(HMAC-SHA256(secret, timestamp + "." + body))``.
    """
    digest = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return SIGNATURE_PREFIX + digest.hexdigest()


def verify_signature(secret: str, timestamp: str, body: bytes, signature: str) -> bool:
    """Return whether ``signature`` signs ``body`` sent at ``timestamp`` (constant time).

    Args:
        secret: The webhook's secret.
        timestamp: ``X-Haste-Timestamp`` as received.
        body: The body as received (raw bytes, before any JSON parsing).
        signature: ``X-Haste-Signature`` as received.

    Returns:
        True when the signature is the one :func:`sign_payload` computes.
    """
    expected = sign_payload(secret, timestamp, body)
    return hmac.compare_digest(expected.encode(), signature.encode())


def delivery_headers(secret: str, delivery_id: str, timestamp: str, body: bytes) -> dict[str, str]:
    """Return the headers of one delivery attempt.

    Args:
        secret: The webhook's secret.
        delivery_id: The delivery's id (``X-Haste-Delivery``).
        timestamp: Unix seconds of the attempt (``X-Haste-Timestamp``).
        body: The exact bytes POSTed.

    Returns:
        Signature, timestamp, delivery id, event name and content type.
    """
    return {
        "Content-Type": "application/json",
        SIGNATURE_HEADER: sign_payload(secret, timestamp, body),
        TIMESTAMP_HEADER: timestamp,
        DELIVERY_HEADER: delivery_id,
        EVENT_HEADER: WEBHOOK_EVENT,
    }


def validate_webhook_url(url: str) -> str:
    """Return a webhook URL if it is an absolute http(s) URL with a host.

    Args:
        url: The URL to check.

    Returns:
        The URL, stripped of surrounding blanks.

    Raises:
        ValueError: With a message for the caller when the URL is unusable.
    """
    url = url.strip()
    if not url:
        raise ValueError("the webhook URL is empty")
    if len(url) > MAX_URL_LENGTH:
        raise ValueError(f"the webhook URL is longer than {MAX_URL_LENGTH} characters")
    if any(char.isspace() for char in url):
        raise ValueError("the webhook URL contains blanks")
    try:
        parts = urlsplit(url)
        host = parts.hostname
        parts.port  # noqa: B018 - raises ValueError on a bad port
    except ValueError as error:
        raise ValueError(f"the webhook URL is not a valid URL: {error}") from error
    if parts.scheme.lower() not in ("http", "https"):
        raise ValueError("the webhook URL must start with http:// or https://")
    if not host:
        raise ValueError("the webhook URL has no host")
    return url


def _check_secret(secret: str) -> str:
    """Return a caller-chosen secret if its length is within bounds, else raise ValueError."""
    if not MIN_SECRET_LENGTH <= len(secret) <= MAX_SECRET_LENGTH:
        raise ValueError(
            f"the secret must be {MIN_SECRET_LENGTH} to {MAX_SECRET_LENGTH} characters long"
        )
    return secret


def _utc(value: dt.datetime | None) -> dt.datetime | None:
    """Return a timestamp as aware UTC (SQLite gives naive UTC back; ``None`` stays)."""
    if value is None:
        return None
    if value.tzinfo is None:
        return value.replace(tzinfo=dt.UTC)
    return value.astimezone(dt.UTC)


def _now(now: dt.datetime | None) -> dt.datetime:
    """Return ``now`` as aware UTC, or the current time."""
    return _utc(now) or dt.datetime.now(dt.UTC)


def _iso(value: dt.datetime | None) -> str | None:
    """Return an ISO-8601 UTC timestamp (``None`` stays ``None``)."""
    moment = _utc(value)
    return None if moment is None else moment.isoformat()


def _as_uuid(value: uuid.UUID | str) -> uuid.UUID | None:
    """Return ``value`` as a UUID, or ``None`` when it is not one."""
    if isinstance(value, uuid.UUID):
        return value
    try:
        return uuid.UUID(str(value))
    except ValueError:
        return None


def register_webhook(
    db_url: str, scope: str, url: str, secret: str | None = None
) -> dict[str, Any]:
    """Register a receiver of band crossings.

    Args:
        db_url: Database URL (migrated).
        scope: Who registers it (the API key id); only it lists or deletes the hook.
        url: Where changes are POSTed (absolute http(s) URL, at most 2000 characters).
        secret: HMAC key of the signatures (16-128 characters); generated when ``None``.

    Returns:
        ``id``, ``url``, ``secret`` (shown only here), ``active`` and ``created_at``.

    Raises:
        ValueError: When the URL or the secret is unusable (the message says why).
    """
    url = validate_webhook_url(url)
    secret = secrets.token_urlsafe(32) if secret is None else _check_secret(secret)
    hook = Webhook(
        id=uuid.uuid4(), scope=scope, url=url, secret=secret, active=True, created_at=_now(None)
    )
    with session_scope(db_url) as session:
        session.add(hook)
    return {
        "id": str(hook.id),
        "url": hook.url,
        "secret": hook.secret,
        "active": hook.active,
        "created_at": _iso(hook.created_at),
    }


def _delivery_counts(session: Session, hook_ids: list[uuid.UUID]) -> Counter[tuple[Any, str]]:
    """Return the number of deliveries per (webhook id, status)."""
    rows = session.execute(
        select(WebhookDelivery.webhook_id, WebhookDelivery.status, func.count())
        .where(WebhookDelivery.webhook_id.in_(hook_ids))
        .group_by(WebhookDelivery.webhook_id, WebhookDelivery.status)
    ).all()
    return Counter({(hook_id, status): count for hook_id, status, count in rows})


def _last_attempted(session: Session, hook_id: uuid.UUID) -> WebhookDelivery | None:
    """Return the webhook's delivery attempted last (``None``: nothing attempted yet)."""
    attempted_at = func.coalesce(WebhookDelivery.delivered_at, WebhookDelivery.next_attempt_at)
    return session.scalars(
        select(WebhookDelivery)
        .where(WebhookDelivery.webhook_id == hook_id, WebhookDelivery.attempts > 0)
        .order_by(attempted_at.desc(), WebhookDelivery.created_at.desc())
        .limit(1)
    ).first()


def _last_attempt_at(delivery: WebhookDelivery, config: WebhookConfig) -> dt.datetime | None:
    """Return when a delivery was last attempted.

    A delivered one at ``delivered_at``; a failed one at ``next_attempt_at`` (set to the time of
    the attempt that gave up); a pending one ``backoff(attempts)`` before its next attempt.
    """
    if delivery.status == DELIVERED:
        return _utc(delivery.delivered_at)
    next_at = _utc(delivery.next_attempt_at)
    if delivery.status == FAILED or next_at is None:
        return next_at
    return next_at - dt.timedelta(seconds=config.backoff(delivery.attempts))


def _hook_summary(
    hook: Webhook,
    counts: Counter[tuple[Any, str]],
    last: WebhookDelivery | None,
    config: WebhookConfig,
) -> dict[str, Any]:
    """Return one webhook with its delivery statistics (never its secret)."""
    retrying = last is not None and last.status == PENDING
    return {
        "id": str(hook.id),
        "url": hook.url,
        "active": hook.active,
        "created_at": _iso(hook.created_at),
        "delivered": counts[(hook.id, DELIVERED)],
        "pending": counts[(hook.id, PENDING)],
        "failed": counts[(hook.id, FAILED)],
        "last_status_code": None if last is None else last.last_status_code,
        "last_error": None if last is None else last.last_error,
        "last_attempt_at": None if last is None else _iso(_last_attempt_at(last, config)),
        "next_attempt_at": _iso(last.next_attempt_at) if last and retrying else None,
    }


def list_webhooks(
    db_url: str, scope: str, config: WebhookConfig | None = None
) -> list[dict[str, Any]]:
    """Return a scope's webhooks, oldest first, with their delivery statistics.

    Args:
        db_url: Database URL.
        scope: The registering API key id.
        config: Webhook settings (the backoff tells when a retried delivery was last tried).

    Returns:
        Per webhook: ``id``, ``url``, ``active``, ``created_at``, the ``delivered``,
        ``pending`` and ``failed`` counts, and of the last attempt ``last_status_code``,
        ``last_error`` and ``last_attempt_at`` (``next_attempt_at`` while it awaits a retry).
    """
    config = config or WebhookConfig()
    with session_scope(db_url) as session:
        hooks = session.scalars(
            select(Webhook).where(Webhook.scope == scope).order_by(Webhook.created_at, Webhook.id)
        ).all()
        counts = _delivery_counts(session, [hook.id for hook in hooks])
        return [
            _hook_summary(hook, counts, _last_attempted(session, hook.id), config) for hook in hooks
        ]


def delete_webhook(db_url: str, scope: str, webhook_id: uuid.UUID | str) -> bool:
    """Delete a webhook and its deliveries, if ``scope`` registered it.

    Args:
        db_url: Database URL.
        scope: The caller's API key id.
        webhook_id: The webhook.

    Returns:
        True when it was deleted; False when there is no such webhook in this scope.
    """
    hook_id = _as_uuid(webhook_id)
    if hook_id is None:
        return False
    with session_scope(db_url) as session:
        hook = session.scalars(
            select(Webhook).where(Webhook.id == hook_id, Webhook.scope == scope)
        ).first()
        if hook is None:
            return False
        session.execute(
            WebhookDelivery.__table__.delete().where(WebhookDelivery.webhook_id == hook_id)
        )
        session.delete(hook)
        return True


def _insert_new_deliveries(session: Session, rows: list[dict[str, Any]]) -> int:
    """Insert delivery rows, skipping (webhook, change) pairs already queued; return inserted."""
    table = WebhookDelivery.__table__
    dialect = session.get_bind().dialect.name
    if dialect in ("postgresql", "sqlite"):
        if dialect == "postgresql":
            from sqlalchemy.dialects.postgresql import insert
        else:
            from sqlalchemy.dialects.sqlite import insert
        statement = (
            insert(table)
            .values(rows)
            .on_conflict_do_nothing(index_elements=["webhook_id", "change_id"])
            .returning(table.c.id)
        )
        return len(session.execute(statement).all())  # rowcount is -1 on psycopg
    queued = set(
        session.scalars(
            select(WebhookDelivery.webhook_id).where(
                WebhookDelivery.change_id == rows[0]["change_id"]
            )
        )
    )
    fresh = [row for row in rows if row["webhook_id"] not in queued]
    if fresh:
        session.execute(table.insert().values(fresh))
    return len(fresh)


def enqueue_deliveries(db_url: str, message: dict[str, Any], now: dt.datetime | None = None) -> int:
    """Queue a band crossing for every active webhook (once per webhook and change).

    Args:
        db_url: Database URL.
        message: A change message (:func:`streaming.changes.change_message`); one that did not
            cross a band queues nothing.
        now: Queue time and first attempt time (default: now).

    Returns:
        Deliveries queued (0 when the change was queued before: a redelivered message).

    Raises:
        ValueError: When the message has no valid ``change_id``.
    """
    if not message.get("band_crossed"):
        return 0
    change_id = _as_uuid(message.get("change_id") or "")
    if change_id is None:
        raise ValueError("a change message needs a change_id")
    moment = _now(now)
    with session_scope(db_url) as session:
        hook_ids = session.scalars(select(Webhook.id).where(Webhook.active.is_(True))).all()
        if not hook_ids:
            return 0
        rows = [
            {
                "id": uuid.uuid4(),
                "webhook_id": hook_id,
                "change_id": change_id,
                "payload": message,
                "status": PENDING,
                "attempts": 0,
                "next_attempt_at": moment,
                "created_at": moment,
            }
            for hook_id in hook_ids
        ]
        return _insert_new_deliveries(session, rows)


@dataclass(frozen=True)
class DueDelivery:
    """A picked delivery with what its attempt needs."""

    id: uuid.UUID
    webhook_id: uuid.UUID
    url: str
    secret: str
    payload: dict[str, Any]
    attempts: int


@dataclass(frozen=True)
class Attempt:
    """The outcome of one POST: delivered, or the status and error to record."""

    ok: bool
    status_code: int | None
    error: str | None


#: Webhooks delivered to at the same time (each holds a thread while it resolves its host).
MAX_HOOKS_IN_FLIGHT = 8

#: Most deliveries of one webhook claimed at once (the rest wait for the next claim).
PER_HOOK = 20


def _due_query(now: dt.datetime, limit: int, exclude: Collection[uuid.UUID] = ()) -> Any:
    """Return the query of due deliveries not held back by an older one of their webhook.

    Round robin across webhooks: each webhook's oldest due delivery comes first, then each
    one's second, and so on (at most :data:`PER_HOOK` per webhook), so a webhook with a large
    backlog (or many webhooks failing at once) never starves the others. Webhooks whose
    deliveries are in flight (``exclude``) are skipped.
    """
    older = aliased(WebhookDelivery)
    held_back = (
        select(older.id)
        .where(
            older.webhook_id == WebhookDelivery.webhook_id,
            older.status == PENDING,
            older.next_attempt_at > now,
            or_(
                older.created_at < WebhookDelivery.created_at,
                and_(older.created_at == WebhookDelivery.created_at, older.id < WebhookDelivery.id),
            ),
        )
        .exists()
    )
    rank = (
        func.row_number()
        .over(
            partition_by=WebhookDelivery.webhook_id,
            order_by=(WebhookDelivery.created_at, WebhookDelivery.id),
        )
        .label("rank")
    )
    conditions = [
        WebhookDelivery.status == PENDING,
        WebhookDelivery.next_attempt_at <= now,
        Webhook.active.is_(True),
        ~held_back,
    ]
    if exclude:
        conditions.append(WebhookDelivery.webhook_id.not_in(list(exclude)))
    due = (
        select(WebhookDelivery.id, rank)
        .join(Webhook, Webhook.id == WebhookDelivery.webhook_id)
        .where(*conditions)
        .subquery()
    )
    return (
        select(WebhookDelivery, Webhook.url, Webhook.secret)
        .join(due, due.c.id == WebhookDelivery.id)
        .join(Webhook, Webhook.id == WebhookDelivery.webhook_id)
        .where(due.c.rank <= PER_HOOK)
        .order_by(due.c.rank, WebhookDelivery.created_at, WebhookDelivery.id)
        .limit(limit)
    )


def claim_due_deliveries(
    db_url: str,
    now: dt.datetime,
    limit: int,
    timeout_s: float,
    exclude: Collection[uuid.UUID] = (),
) -> list[DueDelivery]:
    """Pick due deliveries, oldest first, and lease them for the time their attempts may take.

    Args:
        db_url: Database URL.
        now: The current time.
        limit: Most deliveries picked.
        timeout_s: Time budget of one POST (the lease covers a webhook's picked deliveries).
        exclude: Webhooks to skip (their deliveries are in flight).

    Returns:
        The deliveries this caller leased (another dispatcher's are skipped), round robin
        across webhooks, each webhook's oldest first.
    """
    with session_scope(db_url) as session:
        rows = session.execute(_due_query(now, limit, exclude)).all()
        per_hook = Counter(row[0].webhook_id for row in rows)
        leased: list[DueDelivery] = []
        for delivery, url, secret in rows:
            lease_s = timeout_s * per_hook[delivery.webhook_id] + LEASE_MARGIN_S
            claimed = session.execute(
                update(WebhookDelivery)
                .where(
                    WebhookDelivery.id == delivery.id,
                    WebhookDelivery.status == PENDING,
                    WebhookDelivery.next_attempt_at <= now,
                )
                .values(next_attempt_at=now + dt.timedelta(seconds=lease_s))
                .execution_options(synchronize_session=False)
            ).rowcount
            if claimed == 1:
                leased.append(
                    DueDelivery(
                        delivery.id,
                        delivery.webhook_id,
                        url,
                        secret,
                        dict(delivery.payload),
                        delivery.attempts,
                    )
                )
        return leased


def record_attempt(
    db_url: str,
    delivery: DueDelivery,
    attempt: Attempt,
    config: WebhookConfig,
    now: dt.datetime,
) -> str:
    """Record one attempt of a delivery and return its outcome.

    Args:
        db_url: Database URL.
        delivery: The leased delivery.
        attempt: What the POST gave.
        config: Webhook settings (backoff and the number of attempts).
        now: When the attempt was made.

    Returns:
        ``delivered``, ``retried`` (due again after the backoff) or ``failed`` (gave up).
    """
    attempts = delivery.attempts + 1
    values: dict[str, Any] = {
        "attempts": attempts,
        "last_status_code": attempt.status_code,
        "last_error": attempt.error,
    }
    if attempt.ok:
        outcome = DELIVERED
        values.update(status=DELIVERED, delivered_at=now, next_attempt_at=now)
    elif attempts >= config.max_attempts:
        outcome = FAILED
        values.update(status=FAILED, next_attempt_at=now)
    else:
        outcome = "retried"
        values["next_attempt_at"] = now + dt.timedelta(seconds=config.backoff(attempts))
    with session_scope(db_url) as session:
        session.execute(
            update(WebhookDelivery)
            .where(WebhookDelivery.id == delivery.id)
            .values(**values)
            .execution_options(synchronize_session=False)
        )
    return outcome


def release_deliveries(db_url: str, deliveries: list[DueDelivery], now: dt.datetime) -> None:
    """End the lease of deliveries that were picked but not attempted (due again at ``now``).

    Args:
        db_url: Database URL.
        deliveries: The untried deliveries.
        now: Their new due time.
    """
    if not deliveries:
        return
    with session_scope(db_url) as session:
        session.execute(
            update(WebhookDelivery)
            .where(
                WebhookDelivery.id.in_([d.id for d in deliveries]),
                WebhookDelivery.status == PENDING,
            )
            .values(next_attempt_at=now)
            .execution_options(synchronize_session=False)
        )


def serialise_payload(payload: dict[str, Any]) -> bytes:
    """Return the body of a delivery: compact UTF-8 JSON (signed and sent as is)."""
    return json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode()


def _describe(error: BaseException) -> str:
    """Return a network error as ``Type: message`` (the type alone when it has no message)."""
    text = str(error).strip()
    return f"{type(error).__name__}: {text}"[:500] if text else type(error).__name__


async def post_delivery(
    client: httpx.AsyncClient, delivery: DueDelivery, timeout_s: float
) -> Attempt:
    """POST one delivery, signed, and return what came back.

    Args:
        client: The HTTP client.
        delivery: The delivery.
        timeout_s: Time budget of the request.

    Returns:
        ``ok`` for a 2xx; otherwise the status (``None`` without an answer) and the error.
    """
    body = serialise_payload(delivery.payload)
    headers = delivery_headers(delivery.secret, str(delivery.id), str(int(time.time())), body)
    try:
        response = await client.post(delivery.url, content=body, headers=headers, timeout=timeout_s)
    except Exception as error:  # network errors, timeouts, bad URLs: all retried
        return Attempt(False, None, _describe(error))
    if 200 <= response.status_code < 300:
        return Attempt(True, response.status_code, None)
    answer = " ".join(response.text.split())[:ERROR_BODY_CHARS]
    error = f"HTTP {response.status_code}" + (f": {answer}" if answer else "")
    return Attempt(False, response.status_code, error)


async def _deliver_in_order(
    db_url: str,
    config: WebhookConfig,
    client: httpx.AsyncClient,
    deliveries: list[DueDelivery],
    now: dt.datetime | None,
) -> list[str]:
    """Attempt one webhook's deliveries oldest first; a retry holds back the rest."""
    outcomes: list[str] = []
    for index, delivery in enumerate(deliveries):
        attempt = await post_delivery(client, delivery, config.timeout_s)
        moment = _now(now)
        outcome = await asyncio.to_thread(record_attempt, db_url, delivery, attempt, config, moment)
        outcomes.append(outcome)
        if outcome != DELIVERED:
            logger.warning(
                "webhook delivery %s to %s %s after attempt %d: %s",
                delivery.id,
                delivery.url,
                "failed for good" if outcome == FAILED else "will be retried",
                delivery.attempts + 1,
                attempt.error,
            )
        if outcome == "retried":
            await asyncio.to_thread(release_deliveries, db_url, deliveries[index + 1 :], moment)
            break
    return outcomes


async def deliver_due(
    db_url: str,
    config: WebhookConfig,
    client: httpx.AsyncClient,
    now: dt.datetime | None = None,
    limit: int = 100,
) -> dict[str, int]:
    """POST the deliveries that are due: each webhook's in order, webhooks concurrently.

    Args:
        db_url: Database URL.
        config: Webhook settings (timeout, backoff, attempts).
        client: The HTTP client.
        now: The current time (default: the clock; tests step it instead of sleeping).
        limit: Most deliveries attempted in this call.

    Returns:
        ``delivered``, ``retried`` and ``failed`` counts of the attempts made.
    """
    picked = await asyncio.to_thread(
        claim_due_deliveries, db_url, _now(now), limit, config.timeout_s
    )
    by_hook: dict[uuid.UUID, list[DueDelivery]] = {}
    for delivery in picked:
        by_hook.setdefault(delivery.webhook_id, []).append(delivery)
    results = await asyncio.gather(
        *(_deliver_in_order(db_url, config, client, group, now) for group in by_hook.values())
    )
    counts = Counter(outcome for outcomes in results for outcome in outcomes)
    return {key: counts[key] for key in (DELIVERED, "retried", FAILED)}


def _first_hooks(picked: list[DueDelivery], count: int) -> list[DueDelivery]:
    """Keep the deliveries of the first ``count`` webhooks (in claim order).

    The others' leases expire (a few seconds), and they are claimed again later.
    """
    hooks: list[uuid.UUID] = []
    for delivery in picked:
        if delivery.webhook_id not in hooks:
            hooks.append(delivery.webhook_id)
    kept = set(hooks[:count])
    return [delivery for delivery in picked if delivery.webhook_id in kept]


class WebhookDispatcher:
    """Delivers due webhook deliveries in a loop (one task per process is enough).

    Args:
        db_url: Database URL.
        config: Webhook settings.
        client: HTTP client (default: one owned by :meth:`run`, closed when it ends).
        limit: Most deliveries attempted per round.
    """

    def __init__(
        self,
        db_url: str,
        config: WebhookConfig,
        client: httpx.AsyncClient | None = None,
        limit: int = 100,
    ) -> None:
        self.db_url = db_url
        self.config = config
        self.client = client
        self.limit = limit

    async def run(self, stop: asyncio.Event, poll_s: float = 0.5) -> None:
        """Deliver until ``stop`` is set, polling every ``poll_s`` seconds when idle.

        Args:
            stop: Set it to end the loop (after the round in progress).
            poll_s: Wait between rounds that found nothing to deliver.
        """
        if self.client is not None:
            await self._loop(self.client, stop, poll_s)
            return
        async with httpx.AsyncClient(timeout=self.config.timeout_s) as client:
            await self._loop(client, stop, poll_s)

    async def _loop(self, client: httpx.AsyncClient, stop: asyncio.Event, poll_s: float) -> None:
        """Claim due deliveries and deliver each webhook's in its own task until ``stop``.

        A webhook that times out holds only its own task: the others' deliveries go on (a round
        never waits for the slowest receiver).
        """
        in_flight: dict[uuid.UUID, asyncio.Task] = {}
        try:
            while not stop.is_set():
                in_flight = {hook: task for hook, task in in_flight.items() if not task.done()}
                room = MAX_HOOKS_IN_FLIGHT - len(in_flight)
                if room <= 0:  # every slot busy (slow receivers): wait for one to finish
                    await asyncio.wait(list(in_flight.values()), timeout=poll_s)
                    continue
                try:
                    picked = await asyncio.to_thread(
                        claim_due_deliveries,
                        self.db_url,
                        _now(None),
                        self.limit,
                        self.config.timeout_s,
                        set(in_flight),
                    )
                    picked = _first_hooks(picked, room)
                except Exception:  # the database is down, say: try again next round
                    logger.exception("claiming webhook deliveries failed")
                    picked = []
                by_hook: dict[uuid.UUID, list[DueDelivery]] = {}
                for delivery in picked:
                    by_hook.setdefault(delivery.webhook_id, []).append(delivery)
                for hook, group in by_hook.items():
                    in_flight[hook] = asyncio.create_task(
                        _deliver_in_order(self.db_url, self.config, client, group, None)
                    )
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), timeout=poll_s)
        finally:
            if in_flight:
                await asyncio.wait(list(in_flight.values()), timeout=self.config.timeout_s + 1)
