"""Which content to send next to a contact or about a deal (``POST /api/ai/content/recommend``).

The library's active items are the arms of :class:`content.bandit.ContextualThompson`, trained
on every stored send; the contact's segments (industry, seniority, deal stage) are the context.
Items are ranked by the probability that Thompson sampling sends them (the share of joint
posterior draws they win), with the posterior mean and 95 % interval of the metric in that
context, and which segment evidence was used or backed off to the item's rate.
"""

from __future__ import annotations

import uuid
import zlib
from typing import Any

import numpy as np

from content.bandit import ContextualThompson
from content.segments import SEGMENTS, contact_context

#: Posterior draws per recommendation.
DRAWS = 4000


class ContentNotSeededError(RuntimeError):
    """The content library has no active item (seed it first)."""


def _active_items(url: str | None, kind: str | None) -> list[dict[str, Any]]:
    from sqlalchemy import select

    from haste.db import ContentItem, session_scope

    query = select(ContentItem).where(ContentItem.is_active.is_(True)).order_by(ContentItem.name)
    if kind is not None:
        query = query.where(ContentItem.kind == kind)
    with session_scope(url) as session:
        return [
            {"id": str(i.id), "name": i.name, "kind": i.kind, "subject": i.subject,
             "topic": i.topic}
            for i in session.scalars(query)
        ]  # fmt: skip


def _why(metric: str, mean: float, evidence: dict[str, dict[str, Any]], sends: int) -> str:
    """Return a one-line reason for a recommended item."""
    used = [f"{d}={e['value']} ({e['sends']} sends)" for d, e in evidence.items()
            if not e["backed_off"]]  # fmt: skip
    backed = [d for d, e in evidence.items() if e["backed_off"]]
    text = f"expected {metric} rate {mean:.1%} from {sends} sends of this item"
    if used:
        text += "; segment evidence: " + ", ".join(used)
    if backed:
        text += "; too few sends for " + ", ".join(backed) + " (item rate used)"
    return text


def recommend_content(
    url: str | None,
    contact_id: uuid.UUID | None = None,
    deal_id: uuid.UUID | None = None,
    kind: str | None = None,
    n: int = 3,
    metric: str = "reply",
) -> dict[str, Any]:
    """Rank the library's items for a contact (or a deal's contact).

    Args:
        url: Database URL.
        contact_id: The contact (or give ``deal_id``).
        deal_id: A deal: its contact and stage are the context.
        kind: Only items of this kind.
        n: Items returned.
        metric: Reward the items are ranked on: ``click``, ``reply`` or ``win``.

    Raises:
        LookupError: Unknown contact or deal.
        ContentNotSeededError: No active item (of ``kind``).
    """
    from content.performance import load_sends

    context = contact_context(url, contact_id, deal_id)
    items = _active_items(url, kind)
    if not items:
        raise ContentNotSeededError(
            "the content library has no active item"
            + (f" of kind {kind}" if kind else "")
            + ": seed it with `haste content seed`"
        )
    names = {item["name"]: j for j, item in enumerate(items)}
    sends = load_sends(url, kind)
    sends = sends[sends["content_name"].isin(names)]
    model = ContextualThompson(len(items), SEGMENTS)
    if not sends.empty:
        model.update_many(
            sends[list(SEGMENTS)].astype(str).to_dict("records"),
            sends["content_name"].map(names).to_numpy(),
            sends[metric].to_numpy(),
        )
        model.refit()
    key = f"{context['contact_id']}|{context['deal_id']}|{kind}|{metric}"
    rng = np.random.default_rng(zlib.crc32(key.encode()))
    draws = model.draw(context, rng, DRAWS)
    share = np.bincount(draws.argmax(axis=1), minlength=len(items)) / DRAWS
    mean = draws.mean(axis=0)
    low, high = np.percentile(draws, [2.5, 97.5], axis=0)
    order = np.lexsort((-mean, -share))[:n]
    ranked = []
    for rank, j in enumerate(order, start=1):
        evidence = model.evidence(context, int(j))
        ranked.append(
            {
                "rank": rank,
                "content_id": items[j]["id"],
                "name": items[j]["name"],
                "kind": items[j]["kind"],
                "subject": items[j]["subject"],
                "posterior_mean": round(float(mean[j]), 5),
                "ci95": [round(float(low[j]), 5), round(float(high[j]), 5)],
                "prob_best": round(float(share[j]), 4),
                "sends": int(model.trials[j]),
                "segments_used": evidence,
                "why": _why(metric, float(mean[j]), evidence, int(model.trials[j])),
            }
        )
    return {
        "contact_id": context["contact_id"],
        "deal_id": context["deal_id"],
        "segment": {d: context[d] for d in SEGMENTS},
        "metric": metric,
        "kind": kind,
        "policy": "contextual Thompson sampling (Beta posteriors, empirical-Bayes priors)",
        "n_sends": len(sends),
        "items": ranked,
    }
