"""AI budgets enforced exactly under concurrency, on SQLite and on the real PostgreSQL.

Property tests (hypothesis + 8 threads): every reservation is one conditional UPDATE per
budget in one transaction, so ``spent_usd`` never passes ``limit_usd``, equals the sum of what
was settled, both budgets of a call move together (all or none), and a call is refused only
when it did not fit at the moment it was tried.
"""

from __future__ import annotations

import datetime as dt
import random
import threading
import uuid
from collections.abc import Callable
from decimal import Decimal

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from haste.db import AIBudget, Team, session_scope, upgrade_database
from haste.settings import Settings
from textai.llm.budgets import BudgetExceededError, BudgetManager, Reservation, month_start
from textai.llm.client import LLMClient
from textai.llm.config import BudgetConfig, ProviderConfig, parse_llm_config
from textai.llm.prompt_parsing import parse_prompt
from textai.llm.prompts import PromptRegistry
from textai.llm.providers import LLMRequest, LLMResponse, Provider
from textai.llm.service import LLMService
from textai.llm.usage import (
    UsageContext,
    cost_of,
    max_cost_of,
    max_input_tokens,
    to_billable,
    usage_rollup,
)

MICRO = Decimal("0.000001")
THREADS = 8


@pytest.fixture()
def sqlite_url(isolated_settings: Settings) -> str:
    url = isolated_settings.database_url
    upgrade_database(url)
    return url


def read_spent(url: str, scope_type: str, scope_id: str) -> tuple[Decimal, Decimal]:
    """Return (spent, limit) of the current month's row (zeros when absent)."""
    with session_scope(url) as session:
        row = session.execute(
            select(AIBudget.spent_usd, AIBudget.limit_usd).where(
                AIBudget.scope_type == scope_type,
                AIBudget.scope_id == scope_id,
                AIBudget.period_start == month_start(dt.datetime.now(dt.UTC)),
            )
        ).first()
    if row is None:
        return Decimal(0), Decimal(0)
    return (
        Decimal(str(row[0])).quantize(MICRO),
        Decimal(str(row[1])).quantize(MICRO),
    )


def two_budgets(feature_limit: Decimal, team_limit: Decimal) -> list[BudgetConfig]:
    return [
        BudgetConfig(scope="feature", id="*", monthly_limit_usd=feature_limit),
        BudgetConfig(scope="team", id="*", monthly_limit_usd=team_limit, degrade_to=None),
    ]


def run_threads(work: Callable[[int], None]) -> None:
    threads = [threading.Thread(target=work, args=(i,)) for i in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not any(thread.is_alive() for thread in threads)


class Monitor:
    """Polls both budget rows while the threads run: spent must never pass the limit."""

    def __init__(self, url: str, keys: list[tuple[str, str]]) -> None:
        self.url, self.keys = url, keys
        self.violations: list[str] = []
        self.samples = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._poll)

    def _poll(self) -> None:
        while not self._stop.is_set():
            for scope_type, scope_id in self.keys:
                spent, limit = read_spent(self.url, scope_type, scope_id)
                self.samples += 1
                if spent > limit and limit > 0:
                    self.violations.append(f"{scope_type}:{spent}>{limit}")
            self._stop.wait(0.005)

    def __enter__(self) -> Monitor:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def check_concurrent_budgets(
    url: str, costs: list[list[int]], feature_limit: int, team_limit: int, seed: int
) -> None:
    """The three-phase property: concurrent reserves, concurrent settles, mixed traffic."""
    feature = f"f{uuid.uuid4().hex[:12]}"
    team = uuid.uuid4()
    context = UsageContext(user_id=None, team_id=team, feature=feature)
    manager = BudgetManager(url, two_budgets(feature_limit * MICRO, team_limit * MICRO))
    keys = [("feature", feature), ("team", str(team))]
    limits = {"feature": feature_limit * MICRO, "team": team_limit * MICRO}
    accepted: list[Reservation] = []
    refused: list[Decimal] = []
    lock = threading.Lock()

    # Phase 1: reserve only (spent is monotonic), 8 threads at once.
    def reserve_all(index: int) -> None:
        for micro in costs[index]:
            amount = micro * MICRO
            try:
                reservation = manager.reserve(context, amount)
            except BudgetExceededError as exc:
                assert exc.requested_usd == amount
                assert exc.scope_type in ("feature", "team")
                with lock:
                    refused.append(amount)
                continue
            with lock:
                accepted.append(reservation)

    with Monitor(url, keys) as monitor:
        run_threads(reserve_all)
    assert monitor.violations == []
    total = sum((r.amount for r in accepted), Decimal(0))
    spent = {scope: read_spent(url, scope, key)[0] for scope, key in keys}
    assert spent["feature"] == spent["team"] == total  # all budgets or none, nothing lost
    assert total <= min(limits.values())
    assert len(accepted) + len(refused) == sum(len(c) for c in costs)
    for amount in refused:  # refused only when it could not fit (spent only grew since)
        assert any(spent[scope] + amount > limits[scope] for scope in limits)

    # Phase 2: settle every reservation concurrently with a random actual <= reserved.
    rng = random.Random(seed)
    actuals = [
        (r, Decimal(rng.randint(0, int(r.amount / MICRO))) * MICRO if rng.random() < 0.8 else None)
        for r in accepted
    ]
    chunks = [actuals[i::THREADS] for i in range(THREADS)]

    def settle_all(index: int) -> None:
        for reservation, actual in chunks[index]:
            if actual is None:
                manager.release(reservation)
            else:
                assert manager.settle(reservation, actual) == reservation.amount - actual

    run_threads(settle_all)
    settled = sum((a for _, a in actuals if a is not None), Decimal(0))
    assert read_spent(url, "feature", feature)[0] == settled
    assert read_spent(url, "team", str(team))[0] == settled

    # Phase 3: mixed traffic, reserve then settle at once; spent == everything settled.
    mixed: list[Decimal] = []

    def reserve_and_settle(index: int) -> None:
        local = random.Random(seed + index)
        for micro in costs[index]:
            try:
                reservation = manager.reserve(context, micro * MICRO)
            except BudgetExceededError:
                continue
            actual = Decimal(local.randint(0, micro)) * MICRO
            manager.settle(reservation, actual)
            with lock:
                mixed.append(actual)

    with Monitor(url, keys) as monitor:
        run_threads(reserve_and_settle)
    assert monitor.violations == []
    final = settled + sum(mixed, Decimal(0))
    assert read_spent(url, "feature", feature)[0] == final
    assert read_spent(url, "team", str(team))[0] == final
    assert final <= min(limits.values())


budget_cases = dict(
    costs=st.lists(
        st.lists(st.integers(min_value=1, max_value=400), min_size=1, max_size=8),
        min_size=THREADS,
        max_size=THREADS,
    ),
    feature_limit=st.integers(min_value=50, max_value=3000),
    team_limit=st.integers(min_value=50, max_value=3000),
    seed=st.integers(min_value=0, max_value=10_000),
)


@settings(
    max_examples=8,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(**budget_cases)
def test_concurrent_budgets_sqlite(
    sqlite_url: str, costs: list[list[int]], feature_limit: int, team_limit: int, seed: int
) -> None:
    check_concurrent_budgets(sqlite_url, costs, feature_limit, team_limit, seed)


@settings(
    max_examples=8,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(**budget_cases)
def test_concurrent_budgets_postgres(
    module_pg_url: str, costs: list[list[int]], feature_limit: int, team_limit: int, seed: int
) -> None:
    check_concurrent_budgets(module_pg_url, costs, feature_limit, team_limit, seed)


@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
def test_first_use_race_creates_one_row(backend: str, request: pytest.FixtureRequest) -> None:
    url = request.getfixturevalue("sqlite_url" if backend == "sqlite" else "module_pg_url")
    feature = f"race{uuid.uuid4().hex[:10]}"
    manager = BudgetManager(url, [BudgetConfig(scope="feature", monthly_limit_usd="0.0001")])
    context = UsageContext(None, None, feature)
    barrier = threading.Barrier(THREADS)
    results: list[bool] = []

    def hit(_: int) -> None:
        barrier.wait()
        try:
            manager.reserve(context, Decimal("0.00002"))
            results.append(True)
        except BudgetExceededError:
            results.append(False)

    run_threads(hit)
    assert results.count(True) == 5  # 5 x 20 micro-dollars fill the 100 micro-dollar limit
    with session_scope(url) as session:
        rows = session.scalars(select(AIBudget).where(AIBudget.scope_id == feature)).all()
    assert len(rows) == 1
    assert Decimal(str(rows[0].spent_usd)).quantize(MICRO) == Decimal("0.0001")


@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
def test_alerts_once_per_threshold(backend: str, request: pytest.FixtureRequest) -> None:
    url = request.getfixturevalue("sqlite_url" if backend == "sqlite" else "module_pg_url")
    user = uuid.uuid4()
    manager = BudgetManager(
        url,
        [BudgetConfig(scope="user", monthly_limit_usd=1, alert_thresholds=[0.5, 0.8, 1.0])],
    )
    context = UsageContext(user, None, "alerts")
    assert manager.reserve(context, Decimal("0.4")).alerts == []
    half = manager.reserve(context, Decimal("0.2"))
    assert [a.threshold for a in half.alerts] == [0.5]
    assert "reached 50% of its $1.000000 limit" in half.alerts[0].message
    manager.release(half)  # below 50 % again, then back above: no second alert
    assert manager.reserve(context, Decimal("0.2")).alerts == []
    both = manager.reserve(context, Decimal("0.4"))
    assert [a.threshold for a in both.alerts] == [0.8, 1.0]
    (row,) = [r for r in manager.status() if r.scope_id == str(user)]
    assert row.alerts_sent == [0.5, 0.8, 1.0]
    with pytest.raises(BudgetExceededError) as caught:
        manager.reserve(context, MICRO)
    message = str(caught.value)
    assert f"user budget '{user}'" in message and "$1.000000 of its $1.000000 limit" in message

    # Concurrent crossings: each threshold is alerted exactly once in total.
    other = UsageContext(uuid.uuid4(), None, "alerts")
    alerts: list[float] = []
    lock = threading.Lock()

    def spend(_: int) -> None:
        for _ in range(4):
            try:
                reservation = manager.reserve(other, Decimal("0.05"))
            except BudgetExceededError:
                return
            with lock:
                alerts.extend(a.threshold for a in reservation.alerts)

    run_threads(spend)  # 32 tries of 0.05: exactly 20 fit, spent reaches the limit
    assert sorted(alerts) == [0.5, 0.8, 1.0]
    assert read_spent(url, "user", str(other.user_id))[0] == Decimal("1.000000")


def test_settle_and_release_contract(sqlite_url: str) -> None:
    manager = BudgetManager(sqlite_url, [BudgetConfig(scope="global", monthly_limit_usd=1)])
    context = UsageContext(None, None, "contract")
    reservation = manager.reserve(context, Decimal("0.1"))
    with pytest.raises(ValueError, match="outside"):
        manager.settle(reservation, Decimal("0.2"))
    assert manager.settle(reservation, Decimal("0.0250001")) == Decimal("0.074999")
    with pytest.raises(ValueError, match="already settled"):
        manager.settle(reservation, Decimal("0.01"))
    with pytest.raises(ValueError, match="already settled"):
        manager.release(reservation)
    released = manager.reserve(context, Decimal("0.3"))
    manager.release(released)
    manager.release(released)  # idempotent
    assert read_spent(sqlite_url, "global", "*")[0] == Decimal("0.025001")
    free = manager.reserve(context, Decimal(0))
    assert free.budgets and free.amount == 0
    with pytest.raises(ValueError, match=">= 0"):
        manager.reserve(context, Decimal("-1"))


def test_month_rollover_and_apply_limits(sqlite_url: str) -> None:
    now = [dt.datetime(2026, 1, 31, 23, 59, tzinfo=dt.UTC)]
    config = [BudgetConfig(scope="feature", id="summary", monthly_limit_usd="0.5")]
    manager = BudgetManager(sqlite_url, config, clock=lambda: now[0])
    context = UsageContext(None, None, "summary")
    manager.reserve(context, Decimal("0.5"))
    with pytest.raises(BudgetExceededError):
        manager.reserve(context, MICRO)
    now[0] = dt.datetime(2026, 2, 1, 0, 0, tzinfo=dt.UTC)
    manager.reserve(context, Decimal("0.2"))
    assert [(s.period_start, s.spent_usd) for s in manager.status()] == [
        (dt.date(2026, 2, 1), Decimal("0.200000"))
    ]
    raised = BudgetManager(
        sqlite_url,
        [BudgetConfig(scope="feature", id="summary", monthly_limit_usd="0.1")],
        clock=lambda: now[0],
    )
    assert raised.apply_limits() == 1
    assert raised.status()[0].limit_usd == Decimal("0.200000")  # never below the spend
    assert manager.status(dt.date(2026, 1, 15))[0].spent_usd == Decimal("0.500000")


def test_applicable_budgets_explicit_wins() -> None:
    user, team = uuid.uuid4(), uuid.uuid4()
    manager = BudgetManager(
        "sqlite://",
        [
            BudgetConfig(scope="user", id="*", monthly_limit_usd=1),
            BudgetConfig(scope="user", id=str(user), monthly_limit_usd=5),
            BudgetConfig(scope="team", id="*", monthly_limit_usd=10),
            BudgetConfig(scope="feature", id="email_compose", monthly_limit_usd=3),
            BudgetConfig(scope="global", monthly_limit_usd=100),
        ],
    )
    applied = manager.applicable(UsageContext(user, team, "email_compose"))
    assert [(a.scope_type, a.scope_id, a.config.monthly_limit_usd) for a in applied] == [
        ("feature", "email_compose", Decimal(3)),
        ("global", "*", Decimal(100)),
        ("team", str(team), Decimal(10)),
        ("user", str(user), Decimal(5)),
    ]
    anonymous = manager.applicable(UsageContext(None, None, "other"))
    assert [a.key for a in anonymous] == [("global", "*")]


def test_budget_config_validation() -> None:
    from textai.llm.config import LLMConfigError

    base = {"providers": {"offline": {"kind": "offline", "model": "m"}}}
    with pytest.raises(LLMConfigError, match="degrade_to: unknown provider 'cheap'"):
        parse_llm_config(
            {**base, "budgets": [{"scope": "team", "monthly_limit_usd": 1, "degrade_to": "cheap"}]}
        )
    with pytest.raises(LLMConfigError, match="id must be"):
        parse_llm_config(
            {**base, "budgets": [{"scope": "global", "id": "x", "monthly_limit_usd": 1}]}
        )
    with pytest.raises(LLMConfigError, match="alert_thresholds"):
        parse_llm_config(
            {
                **base,
                "budgets": [{"scope": "user", "monthly_limit_usd": 1, "alert_thresholds": [1.5]}],
            }
        )
    with pytest.raises(LLMConfigError, match="listed twice"):
        parse_llm_config({**base, "budgets": [{"scope": "user", "monthly_limit_usd": 1}] * 2})


def test_cost_is_exact_decimal_and_bounded() -> None:
    priced = ProviderConfig(
        name="p", kind="openai", model="m", input_price_per_mtok=0.15, output_price_per_mtok=0.6
    )
    assert cost_of(priced, 1_000_000, 0) == Decimal("0.15")
    assert cost_of(priced, 7, 3) == Decimal("0.00000285")
    assert to_billable(cost_of(priced, 7, 3)) == Decimal("0.000003")
    assert sum(cost_of(priced, 1, 1) for _ in range(10)) == Decimal("0.0000075")
    request = LLMRequest.from_prompt("héllo wörld", system="sys", max_tokens=100)
    assert max_input_tokens(request) == len("héllo wörld".encode()) + 3 + 2 * 8 + 16
    bound = max_cost_of([priced], request)
    assert bound == to_billable(cost_of(priced, max_input_tokens(request), 100))
    free = ProviderConfig(name="o", kind="offline", model="m")
    assert max_cost_of([free], request) == 0
    assert max_cost_of([free, priced], request) == bound
    with pytest.raises(ValueError):
        cost_of(priced, -1, 0)


class PricedDouble(Provider):
    """Test double billing a few input tokens and ``max_tokens`` output tokens per call."""

    def __init__(self, name: str) -> None:
        self.name, self.model, self.calls = name, f"{name}-model", 0

    def generate(self, request: LLMRequest) -> LLMResponse:
        self.calls += 1
        return LLMResponse(
            f"{self.name} says hi", self.name, self.model, 5, request.max_tokens, 2, 0
        )


def test_service_degrades_then_refuses(sqlite_url: str) -> None:
    config = parse_llm_config(
        {
            "providers": {
                "premium": {
                    "kind": "openai",
                    "model": "big",
                    "input_price_per_mtok": 10,
                    "output_price_per_mtok": 30,
                },
                "cheap": {
                    "kind": "openai",
                    "model": "small",
                    "input_price_per_mtok": 1,
                    "output_price_per_mtok": 2,
                },
                "offline": {"kind": "offline", "model": "local"},
            },
            "fallback_chain": ["offline"],
            "default_provider": "premium",
            "cache": {"enabled": False},
            "budgets": [
                {"scope": "feature", "id": "*", "monthly_limit_usd": 0.02, "degrade_to": "cheap"},
                {"scope": "feature", "id": "strict", "monthly_limit_usd": 0.001},
                {"scope": "team", "id": "*", "monthly_limit_usd": 0.5},
            ],
        }
    )
    doubles = {name: PricedDouble(name) for name in ("premium", "cheap", "offline")}
    greet = {
        "version": 1,
        "template": "Say hi to {{ who }}",
        "variables": {"who": "str"},
        "model_config": {"max_tokens": 100},
    }
    registry = PromptRegistry(definitions=[parse_prompt({"name": "greet", "versions": [greet]})])
    service = LLMService(
        config,
        LLMClient(config, providers=doubles),
        registry,
        BudgetManager(sqlite_url, config),
        sqlite_url,
    )
    with session_scope(sqlite_url) as session:
        team = Team(name=f"team-{uuid.uuid4().hex[:6]}")
        session.add(team)
        session.flush()
        team_id = team.id
    usage = UsageContext(None, team_id, "greet")
    # premium: reserves (11 bytes + 8 + 16) x $10/M + 100 x $30/M = $0.00335, costs $0.00305.
    providers = []
    while not providers or providers[-1].provider == "premium":
        providers.append(service.complete("greet", {"who": "x"}, usage=usage))
        assert len(providers) < 20
    assert providers[0].degraded_from is None
    assert providers[-1].provider == "cheap" and providers[-1].degraded_from == "premium"
    assert providers[0].cost_usd == Decimal("0.003050")
    # cheap: reserves 35 x $1/M + 100 x $2/M = $0.000235, costs $0.000205, until full.
    with pytest.raises(BudgetExceededError) as caught:
        for _ in range(100):
            service.complete("greet", {"who": "x"}, usage=usage)
    error = caught.value
    assert (error.scope_type, error.scope_id, error.degrade_to) == ("feature", "greet", "cheap")
    assert "has spent $" in str(error) and "of its $0.020000 limit" in str(error)
    spent, limit = read_spent(sqlite_url, "feature", "greet")
    assert spent <= limit and spent + Decimal("0.000235") > limit
    # A budget without degrade_to refuses at once.
    strict = UsageContext(None, team_id, "strict")
    with pytest.raises(BudgetExceededError, match="feature budget 'strict'"):
        service.complete("greet", {"who": "x"}, usage=strict)
    # Every settled micro-dollar is in ai_interactions; refusals are recorded as errors.
    rollup = {row["feature"]: row for row in usage_rollup(sqlite_url, by="feature")}
    assert rollup["greet"]["cost_usd"] == spent
    assert rollup["greet"]["errors"] == 1 and rollup["strict"]["errors"] == 1
    team_rollup = usage_rollup(sqlite_url, by="team")
    assert team_rollup[0]["team"] == str(team_id) and team_rollup[0]["cost_usd"] == spent
    assert read_spent(sqlite_url, "team", str(team_id))[0] == spent
    assert doubles["offline"].calls == 0
