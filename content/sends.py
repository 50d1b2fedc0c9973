"""Seeded synthetic sends of the content library, with hidden true rates (the replay's truth).

:class:`TrueRates` holds, for every item, metric and segment value, a hidden effect on the
logit scale: an item main effect, random item x segment interactions and a few structured
ones (ROI content for executives, security and ROI content late in the pipeline, intros early,
the healthcare case study for healthcare). A send's funnel is ``open``; ``click`` and
``reply`` given an open; ``win`` more likely after a reply and late in the pipeline.

:func:`simulate_sends` logs sends with a *uniformly random* policy (item and contact drawn
uniformly), so Li et al.'s replay on them is unbiased; :func:`store_synthetic_sends` writes
them to ``content_sends`` (``source = "synthetic"``, deterministic ids: idempotent).
"""

from __future__ import annotations

import datetime as dt
import logging
import uuid
import zlib
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from content.segments import SEGMENTS

logger = logging.getLogger(__name__)

#: Per-send metrics, in funnel order.
METRICS: tuple[str, ...] = ("open", "click", "reply", "win")

#: Namespace of the synthetic sends' deterministic ids.
_NAMESPACE = uuid.UUID("6f1c2d0e-17a5-4c1e-9b8e-c0ffee170017")

#: Baseline logits: open rate, click given open, reply given open, win after a send.
_BASE = {"open": -0.45, "click": -1.4, "reply": -1.9, "win": -3.3}
#: Spread of item main effects and of item x segment interactions (logit scale).
_MAIN_SD, _INTERACTION_SD = 0.3, 0.45

#: Structured effects: (topic or item name, dimension, segment value, metric, logit bump).
_STRUCTURED: tuple[tuple[str, str, str, str, float], ...] = (
    ("roi", "seniority", "executive", "reply", 0.7),
    ("roi", "seniority", "director", "reply", 0.4),
    ("executive", "seniority", "executive", "reply", 0.8),
    ("executive", "seniority", "individual", "reply", -0.6),
    ("security", "stage", "proposal", "reply", 0.7),
    ("security", "stage", "negotiation", "reply", 0.8),
    ("roi", "stage", "negotiation", "win", 0.6),
    ("intro", "stage", "no_deal", "reply", 0.5),
    ("intro", "stage", "negotiation", "reply", -0.7),
    ("onboarding", "stage", "closed_won", "click", 0.8),
    ("Case study - healthcare network", "industry", "healthcare", "reply", 1.0),
    ("Case study - fintech scale-up", "industry", "fintech", "reply", 0.9),
    ("Case study - software company", "industry", "software", "click", 0.7),
)
#: Effect of the deal stage on a win after the send (logit scale).
_STAGE_WIN = {"negotiation": 1.2, "proposal": 0.8, "qualification": 0.3, "closed_won": -3.0,
              "closed_lost": -2.0}  # fmt: skip


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


def _normal(seed: int, *key: str) -> float:
    """Return a standard normal draw fixed by ``seed`` and ``key`` (stable across runs)."""
    digest = zlib.crc32("|".join(key).encode())
    return float(np.random.default_rng([seed, digest]).standard_normal())


@dataclass(frozen=True)
class TrueRates:
    """The hidden per-item x segment rates of the synthetic sends.

    Attributes:
        items: Library items (``name``, ``kind``, ``topic``), in arm order.
        seed: Seed of every hidden effect.
    """

    items: tuple[dict[str, Any], ...]
    seed: int = 17

    def _logit(self, metric: str, contexts: pd.DataFrame) -> np.ndarray:
        """Return the (n contexts, n items) logits of ``metric`` (given open for click/reply)."""
        n, k = len(contexts), len(self.items)
        out = np.full((n, k), _BASE[metric])
        for j, item in enumerate(self.items):
            out[:, j] += _MAIN_SD * _normal(self.seed, metric, item["name"])
            for dim in SEGMENTS:
                values = contexts[dim].astype(str).to_numpy()
                for value in np.unique(values):
                    bump = _INTERACTION_SD * _normal(self.seed, metric, item["name"], dim, value)
                    for key, d, v, m, size in _STRUCTURED:
                        if (key in (item.get("topic"), item["name"])) and (d, v, m) == (
                            dim,
                            value,
                            metric,
                        ):
                            bump += size
                    out[values == value, j] += bump
        if metric == "win":
            stage = contexts["stage"].astype(str).map(_STAGE_WIN).fillna(0.0).to_numpy()
            out += stage[:, None]
        return out

    def funnel(self, contexts: pd.DataFrame) -> dict[str, np.ndarray]:
        """Return the conditional probabilities of the funnel, each (n contexts, n items).

        Keys: ``open``, ``click_given_open``, ``reply_given_open``, ``win_given_reply`` and
        ``win_given_no_reply``.
        """
        win = self._logit("win", contexts)
        return {
            "open": _sigmoid(self._logit("open", contexts)),
            "click_given_open": _sigmoid(self._logit("click", contexts)),
            "reply_given_open": _sigmoid(self._logit("reply", contexts)),
            "win_given_reply": _sigmoid(win + 1.5),
            "win_given_no_reply": _sigmoid(win),
        }

    def rates(self, contexts: pd.DataFrame) -> dict[str, np.ndarray]:
        """Return the true per-send rate of each metric, each (n contexts, n items)."""
        f = self.funnel(contexts)
        reply = f["open"] * f["reply_given_open"]
        return {
            "open": f["open"],
            "click": f["open"] * f["click_given_open"],
            "reply": reply,
            "win": reply * f["win_given_reply"] + (1 - reply) * f["win_given_no_reply"],
        }


def simulate_sends(
    contexts: pd.DataFrame, truth: TrueRates, n: int, seed: int = 0
) -> tuple[pd.DataFrame, dict[str, np.ndarray]]:
    """Log ``n`` sends with the uniformly random policy and draw their outcomes.

    Args:
        contexts: One row per contact (:func:`content.segments.contexts_from_frames`).
        truth: Hidden rates.
        n: Number of sends.
        seed: Seed of the logging policy and of the outcomes.

    Returns:
        The sends (``contact_id``, ``deal_id``, the segments, ``arm`` (item index),
        ``content_name``, ``kind`` and the 0/1 outcomes ``open``, ``click``, ``reply``, ``win``)
        and the true rates of every send's context for every arm (``metric -> (n, k)``).
    """
    if n < 1 or contexts.empty:
        raise ValueError("simulate_sends needs contacts and n >= 1")
    rng = np.random.default_rng(seed)
    k = len(truth.items)
    who = rng.integers(0, len(contexts), n)
    arm = rng.integers(0, k, n)
    unique, inverse = np.unique(who, return_inverse=True)
    cells = contexts.iloc[unique].reset_index(drop=True)
    funnel = {key: value[inverse] for key, value in truth.funnel(cells).items()}
    rates = {key: value[inverse] for key, value in truth.rates(cells).items()}
    rows = np.arange(n)
    u = rng.random((n, 4))
    opened = u[:, 0] < funnel["open"][rows, arm]
    clicked = opened & (u[:, 1] < funnel["click_given_open"][rows, arm])
    replied = opened & (u[:, 2] < funnel["reply_given_open"][rows, arm])
    p_win = np.where(
        replied, funnel["win_given_reply"][rows, arm], funnel["win_given_no_reply"][rows, arm]
    )
    won = u[:, 3] < p_win
    sends = contexts.iloc[who].reset_index(drop=True).copy()
    sends["arm"] = arm
    sends["content_name"] = [truth.items[a]["name"] for a in arm]
    sends["kind"] = [truth.items[a]["kind"] for a in arm]
    for name, values in zip(METRICS, (opened, clicked, replied, won), strict=True):
        sends[name] = values.astype(np.int8)
    return sends, rates


def store_synthetic_sends(
    url: str | None = None, n: int = 8000, seed: int = 17, days: int = 180
) -> dict[str, int]:
    """Simulate sends over the CRM's contacts and store them (idempotent).

    Args:
        url: Database URL (the library must be seeded: :func:`content.library.seed_library`).
        n: Number of sends.
        seed: Seed of the hidden rates, the logging policy and the outcomes.
        days: Sends are spread over the last ``days`` days.

    Returns:
        ``{"sends": inserted, "contacts": contacts used}`` (0 inserted when already stored).

    Raises:
        ValueError: When the CRM has no contacts or the library is empty.
    """
    from sqlalchemy import select

    from content.segments import load_contexts
    from haste.db import Base, ContentItem, session_scope
    from pipelines.crm_store import insert_ignoring_existing

    contexts = load_contexts(url)
    with session_scope(url) as session:
        stored = session.execute(
            select(ContentItem.id, ContentItem.name, ContentItem.kind, ContentItem.topic)
            .where(ContentItem.is_active.is_(True))
            .order_by(ContentItem.name)
        ).all()
    if contexts.empty or not stored:
        raise ValueError("seed the synthetic CRM and the content library before the sends")
    items = tuple({"name": r.name, "kind": r.kind, "topic": r.topic} for r in stored)
    ids = {r.name: r.id for r in stored}
    sends, _ = simulate_sends(contexts, TrueRates(items, seed), n, seed)
    rng = np.random.default_rng(seed + 1)
    end = dt.datetime.now(dt.UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    sent = [end - dt.timedelta(days=float(x)) for x in rng.uniform(0, days, n)]
    lag = rng.exponential(6.0, (n, 3))
    records = []
    for i, row in enumerate(sends.itertuples(index=False)):
        opened = sent[i] + dt.timedelta(hours=float(lag[i, 0])) if row.open else None
        records.append(
            {
                "id": uuid.uuid5(_NAMESPACE, f"{seed}:{i}:{row.contact_id}"),
                "content_id": ids[row.content_name],
                "contact_id": row.contact_id,
                "deal_id": row.deal_id,
                "sent_at": sent[i],
                "opened_at": opened,
                "clicked_at": opened + dt.timedelta(hours=float(lag[i, 1])) if row.click else None,
                "replied_at": opened + dt.timedelta(hours=float(lag[i, 2])) if row.reply else None,
                "won": bool(row.win),
                "source": "synthetic",
            }
        )
    with session_scope(url) as session:
        inserted = insert_ignoring_existing(session, Base.metadata.tables["content_sends"], records)
    logger.info("content sends: %d inserted over %d contacts", inserted, len(contexts))
    return {"sends": inserted, "contacts": len(contexts)}
