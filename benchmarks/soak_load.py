"""Load generation and measurement helpers of ``benchmarks/soak.py``.

The request mix (real ids read from the platform's data), the closed-loop throughput probe,
the open-loop constant-arrival-rate load and the RSS of the Ray Serve replica processes.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import random
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import httpx
import numpy as np

#: Share of each endpoint in the mix, like a CRM front end: a lead score on every contact
#: view, next actions and deal/account widgets on detail pages, search and subject help less.
ENDPOINT_WEIGHTS: dict[str, int] = {
    "lead_score": 50,
    "next_actions": 15,
    "churn_risk": 10,
    "deal": 10,
    "search": 10,
    "optimize_subject": 5,
}

#: Status recorded for a request without an HTTP answer (timeout, connection error).
NO_ANSWER = 0

FILTER_QUERIES = (
    "deals over 20k closing this quarter",
    "open deals in negotiation",
    "contacts created last week",
    "companies with more than 500 employees",
    "software companies in France",
    "won deals last month",
    "marketing managers",
    "customers in Canada",
)
SUBJECTS = (
    "Quick question",
    "Following up on our call",
    "A better way to run your pipeline",
    "Your renewal",
    "Ideas for {company}",
    "{first_name}, 15 minutes next week?",
)
ACCOUNTS = "/api/ai/predictions/account"
STAGES = ("prospecting", "qualification", "proposal", "negotiation", None)
ACTIVITY_TYPES = ("email", "call", "meeting", "note", "task")


@dataclass(frozen=True)
class Sample:
    """One request of a phase.

    Attributes:
        t: Seconds from the start of the phase to when the request was due.
        endpoint: Endpoint key (see :data:`ENDPOINT_WEIGHTS`).
        status: HTTP status, or :data:`NO_ANSWER`.
        latency_ms: Send to complete answer, in milliseconds.
    """

    t: float
    endpoint: str
    status: int
    latency_ms: float


@dataclass
class Targets:
    """Real ids the requests use (so that they answer 200, not 404)."""

    contact_ids: list[str]
    account_ids: list[str]
    deal_ids: list[str]
    companies: list[str]
    first_names: list[str]


def load_targets(
    settings: Any, include_crm: bool = True, per_source: int = 1000, seed: int = 0
) -> Targets:
    """Read contact, account and deal ids from the platform's data.

    Contacts: lead-profile prospects (``features/lead_scoring.parquet``) and CRM contacts in
    the online store (``features/lead_scoring_crm.parquet``), minus those without AI consent in
    the CRM database (they answer 403). Accounts: the churn feature table. Deals: the open
    opportunities of the Maven pipeline (shared datasets).

    Args:
        settings: Platform settings.
        include_crm: Include CRM contacts (False when ``lead_scoring_crm`` has no champion).
        per_source: Ids sampled per source.
        seed: Sampling seed.

    Returns:
        The targets; a list is empty when its source is missing.
    """
    import pandas as pd

    from haste.records import contact_consents
    from pipelines.stages import PipelinePaths

    paths = PipelinePaths(settings.data_dir)

    def ids(path: Any, column: str, lower: bool = False) -> list[str]:
        if not path.exists():
            return []
        values = pd.read_parquet(path, columns=[column])[column].dropna().astype(str)
        values = values.drop_duplicates()
        values = values.sample(n=min(per_source, len(values)), random_state=seed)
        return [v.lower() for v in values] if lower else list(values)

    contacts = ids(paths.features("lead_scoring"), "Prospect ID", lower=True)
    if include_crm:
        contacts += ids(paths.features("lead_scoring_crm"), "contact_id")
    consents = contact_consents(settings.database_url, [uuid.UUID(c) for c in contacts])
    contacts = [c for c in contacts if consents.get(uuid.UUID(c)) is not False]
    deals: list[str] = []
    try:
        from pipelines.datasets import load_maven_crm

        pipeline = load_maven_crm(settings.datasets_dir).pipeline
        open_deals = pipeline[pipeline["deal_stage"].isin(["Engaging", "Prospecting"])]
        deals = open_deals["opportunity_id"].astype(str).head(per_source).tolist()
    except (FileNotFoundError, KeyError):
        pass
    companies = ids(paths.crm_dir / "companies.parquet", "name")
    first_names = ids(paths.crm_dir / "contacts.parquet", "first_name")
    return Targets(
        contacts, ids(paths.features("churn"), "customerID"), deals, companies, first_names
    )


class RequestMix:
    """Draw weighted requests (method, path, JSON body) from real ids.

    Args:
        targets: The ids to use.
        weights: Endpoint key -> weight; endpoints without targets are dropped.
        seed: Seed of the draws.
    """

    def __init__(self, targets: Targets, weights: dict[str, int], seed: int = 0) -> None:
        self.t = targets
        self.rng = random.Random(seed)
        needs = {
            "lead_score": targets.contact_ids,
            "next_actions": targets.contact_ids,
            "churn_risk": targets.account_ids,
            "deal": targets.deal_ids,
        }
        self.weights = {k: w for k, w in weights.items() if w > 0 and needs.get(k, [1])}
        self.builders: dict[str, Callable[[], tuple[str, str, Any]]] = {
            "lead_score": self._lead_score,
            "next_actions": self._next_actions,
            "churn_risk": lambda: ("GET", f"{ACCOUNTS}/{self._pick('a')}/churn-risk", None),
            "deal": lambda: ("GET", f"/api/ai/predictions/deal/{self._pick('d')}", None),
            "search": self._search,
            "optimize_subject": self._subject,
        }

    def _pick(self, kind: str) -> str:
        pool = {"c": self.t.contact_ids, "a": self.t.account_ids, "d": self.t.deal_ids}[kind]
        return self.rng.choice(pool)

    def _name(self, pool: list[str], default: str) -> str:
        return self.rng.choice(pool) if pool else default

    def _lead_score(self) -> tuple[str, str, Any]:
        body = {"contact_id": self._pick("c"), "include_explanation": self.rng.random() < 0.8}
        return "POST", "/api/ai/lead-score", body

    def _next_actions(self) -> tuple[str, str, Any]:
        now = dt.datetime.now(dt.UTC)
        activities = [
            {
                "type": self.rng.choice(ACTIVITY_TYPES),
                "occurred_at": (now - dt.timedelta(hours=self.rng.uniform(1, 400))).isoformat(),
                "direction": self.rng.choice(("inbound", "outbound")),
                "replied": self.rng.random() < 0.3,
            }
            for _ in range(self.rng.randint(0, 6))
        ]
        context = {
            "contact_id": self._pick("c"),
            "recent_activities": activities,
            "deal_stage": self.rng.choice(STAGES),
        }
        return "POST", "/api/ai/predictions/next-actions", {"context": context, "limit": 5}

    def _search(self) -> tuple[str, str, Any]:
        if self.rng.random() < 0.5:
            query = self.rng.choice(FILTER_QUERIES)
        else:
            query = self._name(self.t.companies, "Acme Corp")
        return "POST", "/api/ai/search", {"query": query, "limit": 10}

    def _subject(self) -> tuple[str, str, Any]:
        company = self._name(self.t.companies, "Acme Corp")
        first_name = self._name(self.t.first_names, "Alex")
        subject = self.rng.choice(SUBJECTS).format(company=company, first_name=first_name)
        body: dict[str, Any] = {
            "subject": subject,
            "context": {"first_name": first_name, "company": company, "purpose": "intro"},
            "n": 3,
        }
        if self.t.contact_ids and self.rng.random() < 0.5:
            body["contact_id"] = self._pick("c")
        return "POST", "/api/ai/email/optimize-subject", body

    def build(self, endpoint: str) -> tuple[str, str, Any]:
        """Return (method, path, JSON body or None) of one request to ``endpoint``."""
        return self.builders[endpoint]()

    def draw(self) -> tuple[str, str, str, Any]:
        """Return (endpoint, method, path, body) of a weighted random request."""
        endpoint = self.rng.choices(list(self.weights), list(self.weights.values()))[0]
        return (endpoint, *self.build(endpoint))


async def send(
    client: httpx.AsyncClient, endpoint: str, method: str, path: str, body: Any, t: float
) -> Sample:
    """Send one request; a timeout or connection error is recorded as :data:`NO_ANSWER`."""
    started = time.perf_counter()
    try:
        response = await client.request(method, path, json=body)
        status = response.status_code
    except httpx.HTTPError:
        status = NO_ANSWER
    return Sample(t, endpoint, status, (time.perf_counter() - started) * 1000)


async def closed_loop(
    client: httpx.AsyncClient, mix: RequestMix, concurrency: int, seconds: float, tick: Callable
) -> tuple[list[Sample], float]:
    """Run ``concurrency`` workers that each send the next request as soon as one answers.

    Args:
        client: HTTP client on the API.
        mix: Request mix.
        concurrency: Workers (requests in flight).
        seconds: Duration.
        tick: Called with each finished :class:`Sample` (progress).

    Returns:
        The samples and the sustainable throughput: answers < 500 finished within the window,
        per second.
    """
    samples: list[Sample] = []
    start = time.monotonic()
    end = start + seconds

    async def worker() -> None:
        while (now := time.monotonic()) < end:
            sample = await send(client, *mix.draw(), now - start)
            samples.append(sample)
            tick(sample)

    await asyncio.gather(*(worker() for _ in range(concurrency)))
    good = sum(
        1 for s in samples if NO_ANSWER < s.status < 500 and s.t + s.latency_ms / 1e3 <= seconds
    )
    return samples, good / seconds


async def open_loop(
    client: httpx.AsyncClient,
    mix: RequestMix,
    rate: float,
    seconds: float,
    max_in_flight: int,
    tick: Callable,
    every: Callable | None = None,
) -> tuple[list[Sample], int, float]:
    """Send requests at a constant arrival rate, whatever the latency (open loop).

    The i-th request is due at ``i / rate`` seconds on a fixed clock: a slow answer does not
    delay the next request (a late loop catches up at once). A due request that finds
    ``max_in_flight`` requests outstanding is not sent and counted as dropped.

    Args:
        client: HTTP client on the API.
        mix: Request mix.
        rate: Requests per second.
        seconds: Duration.
        max_in_flight: Bound on outstanding requests.
        tick: Called with each finished :class:`Sample` (progress).
        every: Called (in a thread) once a minute, e.g. to sample memory.

    Returns:
        The samples (ordered by due time), how many were dropped, and the 99th percentile of
        the lag between due time and actual send (ms: the load generator's own health).
    """
    samples: list[Sample] = []
    tasks: set[asyncio.Task] = set()  # requests in flight (a finished one removes itself)
    side: list[asyncio.Task] = []  # the once-a-minute calls
    lags: list[float] = []
    dropped = 0
    start = time.monotonic()
    next_minute = 60.0

    async def one(t: float) -> None:
        sample = await send(client, *mix.draw(), t)
        samples.append(sample)
        tick(sample)

    for i in range(int(rate * seconds)):
        due = i / rate
        delay = start + due - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
        lags.append(max(0.0, time.monotonic() - start - due) * 1000)
        if every is not None and due >= next_minute:
            next_minute += 60.0
            side.append(asyncio.create_task(asyncio.to_thread(every)))
        if len(tasks) >= max_in_flight:
            dropped += 1
            continue
        task = asyncio.create_task(one(due))
        tasks.add(task)
        task.add_done_callback(tasks.discard)
    await asyncio.gather(*tasks, *side)
    samples.sort(key=lambda s: s.t)
    return samples, dropped, float(np.percentile(lags, 99)) if lags else 0.0


def _ray_pids(port: int | None) -> list[tuple[str, int]]:
    """Return (actor class name or process title, pid) of Ray's actor processes.

    With ``port``: the raylet's children beside the Serve proxy on that local port (no Ray
    connection, never another local cluster). Without: the connected cluster's live actors,
    from Ray's GCS (no dashboard needed), else from the state API.
    """
    import psutil

    if port is not None:
        pids = [
            c.pid
            for c in psutil.net_connections("tcp")
            if c.status == psutil.CONN_LISTEN and c.laddr.port == port and c.pid
        ]
        raylet = psutil.Process(pids[0]).parent() if pids else None
        children = raylet.children() if raylet is not None else []
        return [(" ".join(child.cmdline()[:1]), child.pid) for child in children]
    import ray

    if not ray.is_initialized():
        return []
    try:
        from ray._private import state

        alive = state.actors(actor_state_name="ALIVE").values()
        return [(a["ActorClassName"], a["Pid"]) for a in alive]
    except Exception:  # a private API: fall back on the public one
        from ray.util.state import list_actors

        alive = list_actors(filters=[("state", "=", "ALIVE")], limit=10_000)
        return [(a.class_name, a.pid) for a in alive]


def replica_rss_mb(deployments: Iterable[str], port: int | None = None) -> dict[str, dict]:
    """Return the RSS of every live Ray Serve replica of ``deployments`` (and of the proxy).

    Args:
        deployments: Deployment names (matched in the replicas' actor class names).
        port: Local port of a Serve proxy to find the processes by (see :func:`_ray_pids`).

    Returns:
        ``"<deployment>#<pid>"`` -> ``{"deployment", "pid", "rss_mb"}``; empty when the
        processes cannot be found or read (Ray not connected, server on another host).
    """
    import psutil

    wanted = [*deployments, "ProxyActor"]
    out: dict[str, dict[str, Any]] = {}
    try:
        actors = _ray_pids(port)
    except (psutil.Error, OSError):
        return {}
    for class_name, pid in actors:
        name = next((d for d in wanted if d in (class_name or "")), None)
        if name is None or not pid:
            continue
        try:
            rss = psutil.Process(pid).memory_info().rss / 2**20
        except psutil.Error:  # gone, or not readable
            continue
        out[f"{name}#{pid}"] = {"deployment": name, "pid": pid, "rss_mb": round(rss, 1)}
    return out
