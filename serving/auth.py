"""API keys of the AI gateway: creation, hashing, authentication and role permissions.

A key (``hk_`` + 43 URL-safe characters) is shown once when it is created; only its SHA-256 is
stored in ``api_keys``. A key belongs to a user, and so to the user's team; its role decides
which endpoints it may call (:data:`ROLE_PERMISSIONS`). Authentication results are cached per
process for a few seconds so a request costs one dictionary lookup, not a database query.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
import threading
import time
import uuid
from dataclasses import dataclass

from sqlalchemy import select, update

from haste.db.models import API_KEY_ROLES, APIKey, Team, User
from haste.db.session import session_scope

KEY_PREFIX = "hk_"

#: Permissions granted to each role. ``predict``: model endpoints; ``llm``: email and
#: conversation AI; ``search``: semantic search; ``usage``: team cost reports; ``admin``:
#: A/B weights, promotions and key management.
ROLE_PERMISSIONS: dict[str, frozenset[str]] = {
    "admin": frozenset({"predict", "llm", "search", "usage", "admin"}),
    "manager": frozenset({"predict", "llm", "search", "usage"}),
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


def hash_api_key(key: str) -> str:
    """Return the SHA-256 hex digest stored for a key.

    Args:
        key: The clear API key.

    Returns:
        64 hex characters.
    """
    return hashlib.sha256(key.encode()).hexdigest()


def generate_api_key() -> str:
    """Return a new random API key (``hk_`` + 256 bits, URL-safe)."""
    return KEY_PREFIX + secrets.token_urlsafe(32)


def create_api_key(
    url: str,
    user_id: uuid.UUID,
    name: str,
    role: str,
    rate_limit_per_minute: int | None = None,
    expires_at: dt.datetime | None = None,
) -> tuple[str, uuid.UUID]:
    """Create a key for a user; the clear key is returned once and never stored.

    Args:
        url: Database URL.
        user_id: Owner of the key.
        name: Label of the key.
        role: ``admin``, ``manager``, ``rep`` or ``service``.
        rate_limit_per_minute: Requests per minute (None: the configured default).
        expires_at: Optional expiry time.

    Returns:
        The clear key and the key's id.

    Raises:
        ValueError: Unknown role, non-positive rate limit or unknown user.
    """
    if role not in API_KEY_ROLES:
        raise ValueError(f"role must be one of {', '.join(API_KEY_ROLES)}, got {role!r}")
    if rate_limit_per_minute is not None and rate_limit_per_minute <= 0:
        raise ValueError(f"rate_limit_per_minute must be positive, got {rate_limit_per_minute}")
    key = generate_api_key()
    with session_scope(url) as session:
        if session.get(User, user_id) is None:
            raise ValueError(f"user {user_id} does not exist")
        row = APIKey(
            user_id=user_id,
            name=name,
            key_prefix=key[:10],
            key_hash=hash_api_key(key),
            role=role,
            rate_limit_per_minute=rate_limit_per_minute,
            expires_at=expires_at,
        )
        session.add(row)
        session.flush()
        key_id = row.id
    return key, key_id


def revoke_api_key(url: str, key_id: uuid.UUID) -> bool:
    """Deactivate a key (kept for the audit trail).

    Args:
        url: Database URL.
        key_id: The key's id.

    Returns:
        Whether a key was deactivated.
    """
    with session_scope(url) as session:
        result = session.execute(
            update(APIKey).where(APIKey.id == key_id, APIKey.is_active).values(is_active=False)
        )
        return bool(result.rowcount)


def ensure_user(url: str, email: str, role: str, team_name: str | None = None) -> uuid.UUID:
    """Return the id of the user with this email, creating it (and its team) if needed.

    Args:
        url: Database URL.
        email: Login email.
        role: User role (``admin``, ``manager`` or ``rep``).
        team_name: Team to create/join.

    Returns:
        The user's id.
    """
    with session_scope(url) as session:
        user = session.scalar(select(User).where(User.email == email))
        if user is not None:
            return user.id
        team_id = None
        if team_name:
            team = session.scalar(select(Team).where(Team.name == team_name))
            if team is None:
                team = Team(name=team_name)
                session.add(team)
                session.flush()
            team_id = team.id
        user = User(email=email, full_name=email.split("@")[0], role=role, team_id=team_id)
        session.add(user)
        session.flush()
        return user.id


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
        with self._lock:
            hit = self._cache.get(digest)
        if hit is not None and now - hit[0] < self.ttl_s:
            return hit[1]
        principal = lookup_principal(self.url, key)
        with self._lock:
            self._cache[digest] = (now, principal)
        return principal
