"""The demo's content-intelligence steps (Prefect-free).

1. :func:`seed_content`: the content library and uniformly logged synthetic sends over the
   synthetic CRM's contacts (before the gateway starts);
2. :func:`run_content_demo`: the library's performance per item and per seniority, and a
   recommendation for one contact, through the API.
"""

from __future__ import annotations

from typing import Any

import httpx

from flows.demo_report import DemoReport
from haste.settings import Settings


def seed_content(settings: Settings) -> dict[str, int]:
    """Insert the content library and its synthetic sends (idempotent)."""
    from content.library import seed_library
    from content.sends import store_synthetic_sends

    items = seed_library(settings.database_url)
    stored = store_synthetic_sends(settings.database_url)
    return {"items": items, **stored}


def _performance(body: dict[str, Any]) -> str:
    top = body["items"][0] if body["items"] else None
    if top is None:
        return "no sends"
    low, high = top["ci95"]
    return (
        f"{body['n_sends']} sends; best {top['content_name'][:28]} "
        f"{top['posterior_mean']:.1%} [{low:.1%}, {high:.1%}]"
    )


def _recommendation(body: dict[str, Any]) -> str:
    top = body["items"][0]
    return f"{body['segment']['seniority']}/{body['segment']['stage']}: {top['name'][:34]}"


def run_content_demo(report: DemoReport, client: httpx.Client) -> None:
    """Call the performance and recommendation endpoints for a contact with sends."""
    from sqlalchemy import select

    from haste.db import ContentSend, session_scope

    with report.step("content: performance and recommendation") as step:
        report.call(
            client,
            "GET",
            "/api/ai/content/performance",
            _performance,
            params={"metric": "reply", "segment": "seniority", "min_sends": 30},
        )
        with session_scope() as session:
            contact = session.scalar(select(ContentSend.contact_id).limit(1))
        if contact is None:
            step.detail = "no content sends: seed_content was not run"
            return
        answer = report.call(
            client,
            "POST",
            "/api/ai/content/recommend",
            _recommendation,
            json={"contact_id": str(contact), "kind": "email_template", "n": 3},
        )
        report.call(client, "POST", "/api/ai/content/recommend", json={"n": 3})  # 422
        if answer.status_code == 200:
            step.detail = "; ".join(i["name"] for i in answer.json()["items"])
