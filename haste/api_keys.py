"""API keys: creation, hashing and revocation, and the users they belong to.

A key (``hk_`` + 43 URL-safe characters) is shown once when it is created; only its SHA-256 is
stored in ``api_keys``. Authentication of a request by its key lives in :mod:`serving.auth`.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
import uuid

from sqlalchemy import select, update

from haste.db.models import API_KEY_ROLES, APIKey, Team, User
from haste.db.session import session_scope

KEY_PREFIX = "hk_"


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
