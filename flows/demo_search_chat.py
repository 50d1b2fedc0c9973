"""The demo's conversational-search step (Prefect-free): a question and a follow-up."""

from __future__ import annotations

from typing import Any

import httpx

from flows.demo_report import DemoReport

CHAT_PATH = "/api/ai/search/chat"


def _summary(body: dict[str, Any]) -> str:
    """One line: the turn, whether it refined the previous one, the records cited."""
    filters = ", ".join(f["field"] for f in body["filters"]["filters"]) or "no filters"
    refined = "refined" if body["refined_from_previous"] else "new"
    return f"turn {body['turn']} ({refined}; {filters}): {len(body['citations'])} cited"[:70]


def run_search_chat_demo(report: DemoReport, client: httpx.Client) -> None:
    """Ask "deals over 20k", then refine it with "only in healthcare" in the same conversation."""
    first = report.call(
        client, "POST", CHAT_PATH, _summary, json={"message": "deals over 20k", "limit": 3},
        timeout=600,
    )  # fmt: skip
    if first.status_code != 200:
        return
    conversation_id = first.json()["conversation_id"]
    report.call(
        client,
        "POST",
        CHAT_PATH,
        _summary,
        json={"conversation_id": conversation_id, "message": "only in healthcare", "limit": 3},
        timeout=120,
    )
