"""API keys, roles, rate limits and request ids of the gateway (SQLite, no Ray)."""

from __future__ import annotations

import datetime as dt
import uuid

import pytest

from haste.api_keys import create_api_key, ensure_user, hash_api_key, revoke_api_key
from serving.auth import ROLE_PERMISSIONS, Authenticator, AuthError, lookup_principal
from serving.gateway import GatewayError, admit_call, read_api_key
from serving.rate_limit import MemoryRateLimiter, build_rate_limiter
from serving.score_cache import NullCache, build_score_cache, score_key


def _key(url: str, role: str = "rep", **kwargs) -> tuple[str, uuid.UUID, uuid.UUID]:
    user_id = ensure_user(url, f"{uuid.uuid4().hex[:8]}@x.example", "rep", "Team A")
    key, key_id = create_api_key(url, user_id, "test", role, **kwargs)
    return key, key_id, user_id


def test_keys_are_stored_hashed_and_resolve_to_user_team_and_role(db_url: str) -> None:
    key, key_id, user_id = _key(db_url, "manager", rate_limit_per_minute=7)
    assert key.startswith("hk_") and len(key) > 40
    principal = lookup_principal(db_url, key)
    assert principal.api_key_id == key_id and principal.user_id == user_id
    assert principal.team_id is not None and principal.role == "manager"
    assert principal.rate_limit_per_minute == 7
    from haste.db import APIKey, session_scope

    with session_scope(db_url) as session:
        stored = session.get(APIKey, key_id)
        assert stored.key_hash == hash_api_key(key) and key not in (stored.key_prefix, "")


@pytest.mark.parametrize(
    ("key", "message"),
    [(None, "missing"), ("", "missing"), ("abc", "malformed"), ("hk_unknown", "unknown")],
)
def test_bad_keys_are_401(db_url: str, key: str | None, message: str) -> None:
    with pytest.raises(AuthError) as error:
        Authenticator(db_url).authenticate(key)
    assert error.value.status_code == 401 and message in error.value.message


def test_revoked_and_expired_keys_are_401(db_url: str) -> None:
    key, key_id, _ = _key(db_url)
    assert revoke_api_key(db_url, key_id)
    assert not revoke_api_key(db_url, key_id)  # already revoked
    with pytest.raises(AuthError, match="revoked"):
        lookup_principal(db_url, key)
    past = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=1)
    user_id = ensure_user(db_url, "exp@x.example", "rep")
    expired, _ = create_api_key(db_url, user_id, "old", "rep", expires_at=past)
    with pytest.raises(AuthError, match="expired"):
        lookup_principal(db_url, expired)


def test_key_creation_validates_its_inputs(db_url: str) -> None:
    user_id = ensure_user(db_url, "v@x.example", "rep")
    with pytest.raises(ValueError, match="role must be one of"):
        create_api_key(db_url, user_id, "k", "superuser")
    with pytest.raises(ValueError, match="positive"):
        create_api_key(db_url, user_id, "k", "rep", rate_limit_per_minute=0)
    with pytest.raises(ValueError, match="does not exist"):
        create_api_key(db_url, uuid.uuid4(), "k", "rep")


def test_roles_grant_permissions() -> None:
    assert ROLE_PERMISSIONS["admin"] >= ROLE_PERMISSIONS["manager"] >= ROLE_PERMISSIONS["rep"]
    assert "usage" not in ROLE_PERMISSIONS["rep"] and "llm" not in ROLE_PERMISSIONS["service"]


def test_admission_checks_role_and_rate_limit(db_url: str) -> None:
    key, _, _ = _key(db_url, "service", rate_limit_per_minute=2)
    clock = [120.0]
    limiter = MemoryRateLimiter(clock=lambda: clock[0])
    auth = Authenticator(db_url)
    headers = {"x-api-key": key}
    with pytest.raises(GatewayError) as forbidden:
        admit_call(headers, "llm", auth, limiter, 100)
    assert forbidden.value.status_code == 403 and "service" in forbidden.value.message
    context = admit_call(headers, "predict", auth, limiter, 100)
    assert context.principal.role == "service" and not context.client_request_id
    admit_call(headers, "predict", auth, limiter, 100)
    with pytest.raises(GatewayError) as limited:
        admit_call(headers, "predict", auth, limiter, 100)  # 3rd hit in the window
    assert limited.value.status_code == 429
    assert limited.value.headers["Retry-After"] == "60"
    clock[0] = 180.5  # next window
    assert admit_call(headers, "predict", auth, limiter, 100).principal.role == "service"


def test_missing_key_is_401_with_challenge_header(db_url: str) -> None:
    with pytest.raises(GatewayError) as error:
        admit_call({}, "predict", Authenticator(db_url), MemoryRateLimiter(), 10)
    assert error.value.status_code == 401
    assert error.value.headers == {"WWW-Authenticate": "ApiKey"}


def test_request_id_is_taken_from_the_client_or_generated(db_url: str) -> None:
    limiter = MemoryRateLimiter()
    given = admit_call({"x-request-id": "abc"}, "predict", None, limiter, 10)
    assert given.request_id == "abc" and given.client_request_id
    generated = admit_call({}, "predict", None, limiter, 10)
    assert len(generated.request_id) == 32 and not generated.client_request_id
    with pytest.raises(GatewayError) as error:
        admit_call({"x-request-id": "x" * 65}, "predict", None, limiter, 10)
    assert error.value.status_code == 422


def test_bearer_tokens_are_read_as_keys() -> None:
    assert read_api_key({"authorization": "Bearer hk_abc"}) == "hk_abc"
    assert read_api_key({"x-api-key": "hk_1", "authorization": "Bearer hk_2"}) == "hk_1"
    assert read_api_key({"authorization": "Basic xyz"}) is None


def test_interaction_carries_the_callers_identity(db_url: str) -> None:
    key, key_id, user_id = _key(db_url)
    context = admit_call(
        {"x-api-key": key}, "predict", Authenticator(db_url), MemoryRateLimiter(), 5
    )
    record = context.interaction("lead_score", {"a": 1}, {"b": 2}, "m@v1", variant="champion")
    assert record.user_id == user_id and record.api_key_id == key_id
    assert record.request_id == context.request_id and record.feature == "lead_score"
    assert record.to_row().variant == "champion"


def test_redis_rate_limiter_is_shared_between_instances() -> None:
    redis = pytest.importorskip("redis")
    url = "redis://127.0.0.1:6379/13"
    try:
        redis.Redis.from_url(url).ping()
    except redis.RedisError as error:
        pytest.skip(f"Redis unreachable: {error}")
    key = f"test-{uuid.uuid4().hex}"
    first, second = build_rate_limiter("redis", url), build_rate_limiter("redis", url)
    decisions = [first.hit(key, 3), second.hit(key, 3), first.hit(key, 3), second.hit(key, 3)]
    assert [d.allowed for d in decisions] == [True, True, True, False]
    assert decisions[-1].remaining == 0


def test_redis_score_cache_round_trip_and_null_cache() -> None:
    redis = pytest.importorskip("redis")
    url = "redis://127.0.0.1:6379/13"
    try:
        redis.Redis.from_url(url).ping()
    except redis.RedisError as error:
        pytest.skip(f"Redis unreachable: {error}")
    cache = build_score_cache("redis", url, ttl_s=30)
    key = score_key("lead_scoring", "1", uuid.uuid4().hex)
    assert cache.get(key) is None
    cache.set(key, {"score": 42})
    assert cache.get(key) == {"score": 42}
    assert isinstance(build_score_cache("off", url), NullCache)
    with pytest.raises(ValueError, match="gateway cache"):
        build_score_cache("memcached", url)
    unreachable = build_score_cache("redis", "redis://127.0.0.1:1/0")
    assert unreachable.get(key) is None  # an outage degrades to no cache, never an error
