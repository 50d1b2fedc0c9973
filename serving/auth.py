"""Authentication of the AI gateway's API keys and the permissions of each role.

Keys are created, hashed and revoked by :mod:`haste.api_keys` (the kernel: the CLI and the
demo create keys without importing serving/). A key belongs to a user, and so to the user's
team; its role decides which endpoints it may call (:data:`ROLE_PERMISSIONS`). Authentication
results are cached per process for a few seconds so a request costs one dictionary lookup,
not a database query.
"""

from __future__ import annotations

import datetime as dt
import threading
import time
import uuid
from dataclasses import dataclass

from sqlalchemy import select

from haste.api_keys import KEY_PREFIX, hash_api_key
from haste.db.models import APIKey, User
from haste.db.session import session_scope

#: Permissions granted to each role. ``predict``: model endpoints; ``llm``: email and
#: conversation AI; ``search``: semantic search; ``usage``: team cost reports; ``admin``:
#: A/B weights, promotions and key management.
ROLE_PERMISSIONS: dict[str, frozenset[str]] = {
    "admin": frozenset({"predict", "llm", "search", "usage", "admin", "automate", "review"}),
    "manager": frozenset({"predict", "llm", "search", "usage", "automate", "review"}),
    "rep": frozenset({"predict", "llm", "search"}),
    "service": frozenset({"predict", "search"}),
}


class AuthError(Exception):
    """Authentication (401) or authorisation (403) failure, with a message for the caller."""

    def __init__(self, status_code: int, message: str) -> None:
        super().__init__(message)
        self.status_code = status_code
        self.message = message


@dataclass(frozen=True)
class Principal:
    """Who is calling: the key, its user, team and role, and the key's rate limit."""

    api_key_id: uuid.UUID | None
    user_id: uuid.UUID | None
    team_id: uuid.UUID | None
    role: str
    rate_limit_per_minute: int | None

    @property
    def limit_key(self) -> str:
        """Return the identity rate limits are counted against."""
        return str(self.api_key_id) if self.api_key_id else "anonymous"

    def require(self, permission: str) -> None:
        """Raise :class:`AuthError` (403) unless the role grants ``permission``.

        Args:
            permission: One of the permissions of :data:`ROLE_PERMISSIONS`.
        """
        if permission not in ROLE_PERMISSIONS.get(self.role, frozenset()):
            raise AuthError(
                403, f"role '{self.role}' of this API key does not allow '{permission}' calls"
            )


#: The caller when ``auth_required`` is off (local experiments only).
ANONYMOUS = Principal(
    api_key_id=None, user_id=None, team_id=None, role="admin", rate_limit_per_minute=None
)


def lookup_principal(url: str, key: str, now: dt.datetime | None = None) -> Principal:
    """Resolve a clear key to its principal.

    Args:
        url: Database URL.
        key: The clear key from the ``X-API-Key`` header (or a bearer token).
        now: Current time (for expiry).

    Returns:
        The principal.

    Raises:
        AuthError: 401 for a missing, malformed, unknown, revoked or expired key.
    """
    if not key:
        raise AuthError(401, "missing API key: send it in the X-API-Key header")
    if not key.startswith(KEY_PREFIX):
        raise AuthError(401, "malformed API key (expected the hk_... key given at creation)")
    now = now or dt.datetime.now(dt.UTC)
    with session_scope(url) as session:
        row = session.execute(
            select(APIKey, User.team_id)
            .join(User, User.id == APIKey.user_id)
            .where(APIKey.key_hash == hash_api_key(key))
        ).first()
        if row is None:
            raise AuthError(401, "unknown API key")
        api_key, team_id = row
        if not api_key.is_active:
            raise AuthError(401, f"API key {api_key.key_prefix}... has been revoked")
        expires = api_key.expires_at
        if expires is not None and expires.tzinfo is None:
            expires = expires.replace(tzinfo=dt.UTC)
        if expires is not None and expires <= now:
            raise AuthError(401, f"API key {api_key.key_prefix}... expired at {expires}")
        return Principal(
            api_key_id=api_key.id,
            user_id=api_key.user_id,
            team_id=team_id,
            role=api_key.role,
            rate_limit_per_minute=api_key.rate_limit_per_minute,
        )


class Authenticator:
    """Authenticate keys against the database with a short per-process cache.

    Args:
        url: Database URL.
        ttl_s: How long a successful lookup is reused (revocations take at most this long).
    """

    def __init__(self, url: str, ttl_s: float = 10.0) -> None:
        self.url = url
        self.ttl_s = ttl_s
        self._cache: dict[str, tuple[float, Principal]] = {}
        self._lock = threading.Lock()

    def _cached(self, digest: str, now: float) -> Principal | None:
        """Return the principal cached for a key digest, or None when absent or expired."""
        with self._lock:
            hit = self._cache.get(digest)
        return hit[1] if hit is not None and now - hit[0] < self.ttl_s else None

    def is_cached(self, key: str | None) -> bool:
        """Return whether :meth:`authenticate` would answer ``key`` from the cache (no query)."""
        return self._cached(hash_api_key((key or "").strip()), time.monotonic()) is not None

    def authenticate(self, key: str | None) -> Principal:
        """Return the principal of a key.

        Args:
            key: The clear key (None when the header is missing).

        Returns:
            The principal.

        Raises:
            AuthError: 401 when the key is not valid.
        """
        key = (key or "").strip()
        digest = hash_api_key(key)
        now = time.monotonic()
        cached = self._cached(digest, now)
        if cached is not None:
            return cached
        principal = lookup_principal(self.url, key)
        with self._lock:
            self._cache[digest] = (now, principal)
        return principal
