"""The demo's executive-summary step: the week's summary over HTTP, and a refused future week.

``GET /api/ai/insights/executive-summary`` computes the week's figures from their named queries
and writes the summary through the TextAI deployment (a hosted LLM's text only when every
number matches a cited figure; the templates otherwise); a week ending tomorrow is refused
with a 422.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import httpx

from flows.demo_report import DemoReport

PATH = "/api/ai/insights/executive-summary"


def describe_summary(body: dict[str, Any]) -> str:
    """Return the one-line summary of an answer: figures, citations, trends and the writer."""
    citations = sum(
        len(sentence["citations"])
        for section in body.get("sections", [])
        for sentence in section["sentences"]
    )
    moving = sum(1 for t in body.get("trends", []) if t["direction"] in ("up", "down"))
    return (
        f"{len(body.get('figures', []))} figures, {citations} citations, "
        f"{moving}/{len(body.get('trends', []))} trends moving, {body.get('path')}"
    )[:70]


def run_executive_demo(report: DemoReport, client: httpx.Client) -> None:
    """Call the executive-summary endpoint for this week, then for a week in the future (422)."""
    report.call(client, "GET", PATH, describe_summary, timeout=120)
    tomorrow = (dt.datetime.now(dt.UTC).date() + dt.timedelta(days=1)).isoformat()
    report.call(client, "GET", PATH, params={"week_ending": tomorrow})
