"""Prometheus metrics of the gateway, through ``ray.serve.metrics`` (Ray's metrics endpoint).

Ray prefixes each name with ``ray_`` on its ``/metrics`` endpoint (the port of
``settings.metrics_port``); ``deploy/grafana/hastecrm-ai-gateway.json`` charts them. The metric
objects are created on first use in each replica (never at import time).
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

#: Latency histogram buckets, in milliseconds.
LATENCY_BUCKETS_MS = [5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000, 30000]


@lru_cache(maxsize=1)
def gateway_metrics() -> dict[str, Any]:
    """Return the gateway's metric objects (created once per process).

    A concurrent first call may create them twice, which Ray's registry by name makes harmless.
    """
    from ray.serve import metrics

    return {
        "requests": metrics.Counter(
            "haste_requests_total",
            description="Gateway requests by endpoint, HTTP status, model version and variant.",
            tag_keys=("endpoint", "status", "model_version", "variant"),
        ),
        "latency": metrics.Histogram(
            "haste_request_latency_ms",
            description="Gateway request latency in milliseconds, by endpoint.",
            boundaries=LATENCY_BUCKETS_MS,
            tag_keys=("endpoint",),
        ),
        "cache": metrics.Counter(
            "haste_cache_requests_total",
            description="Score cache look-ups by model and result (hit or miss).",
            tag_keys=("model", "result"),
        ),
        "tokens": metrics.Counter(
            "haste_llm_tokens_total",
            description="LLM tokens by provider, model and kind (input or output).",
            tag_keys=("provider", "model", "kind"),
        ),
        "cost": metrics.Counter(
            "haste_llm_cost_usd_total",
            description="LLM cost in USD by provider and model.",
            tag_keys=("provider", "model"),
        ),
        "budget_refusals": metrics.Counter(
            "haste_budget_refusals_total",
            description="Calls refused because an AI budget was spent.",
            tag_keys=("scope",),
        ),
        "dependency_errors": metrics.Counter(
            "haste_dependency_errors_total",
            description="Requests answered 503 because a dependency failed.",
            tag_keys=("dependency",),
        ),
    }


def _emit(name: str, method: str, value: float, tags: dict[str, str]) -> None:
    """Record a value; metrics never fail a request (outside Ray they are skipped)."""
    try:
        getattr(gateway_metrics()[name], method)(value, tags=tags)
    except Exception:  # no Ray worker (unit tests, scripts): nothing to export to
        return


def observe_request(
    endpoint: str, status: int, duration_ms: float, model_version: str, variant: str
) -> None:
    """Count one answered request and its latency."""
    tags = {"endpoint": endpoint, "status": str(status)}
    _emit("requests", "inc", 1, {**tags, "model_version": model_version, "variant": variant})
    _emit("latency", "observe", duration_ms, {"endpoint": endpoint})


def count_cache(model: str, hit: bool) -> None:
    """Count one score-cache look-up."""
    _emit("cache", "inc", 1, {"model": model, "result": "hit" if hit else "miss"})


def count_llm(summary: dict[str, Any] | None) -> None:
    """Count the tokens and cost of a request's LLM calls (``_llm_summary`` of TextAI)."""
    if not summary:
        return
    base = {"provider": str(summary.get("provider")), "model": str(summary.get("model"))}
    for kind in ("input", "output"):
        tokens = float(summary.get(f"{kind}_tokens") or 0)
        if tokens:
            _emit("tokens", "inc", tokens, {**base, "kind": kind})
    cost = float(summary.get("cost_usd") or 0)
    if cost:
        _emit("cost", "inc", cost, base)


def count_budget_refusal(scope: str) -> None:
    """Count a call refused by a spent budget."""
    _emit("budget_refusals", "inc", 1, {"scope": scope})


def count_dependency_error(dependency: str) -> None:
    """Count a 503 caused by a failed dependency (database, redis, deployment)."""
    _emit("dependency_errors", "inc", 1, {"dependency": dependency})
