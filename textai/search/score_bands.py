"""Lead-score bands of queries ("hot leads", "contacts that aren't cold", "high-scoring leads").

The bands and their thresholds are the platform's: ``scoring.bands`` of
``configs/streaming.yaml`` (lower bound inclusive, the band of a score is the highest threshold
it reaches: hot >= 70, warm >= 40, cold >= 0), the ones the real-time scoring engine publishes.
Contact documents carry ``lead_score`` and ``lead_score_band``
(:func:`~textai.search.lead_bands.band_of_score`), and a band word of a query becomes a
``lead_score_band`` filter (``!=`` when negated).
"""

from __future__ import annotations

import re

from textai.search.lead_bands import load_score_bands
from textai.search.negation import claim_negation, negate_op
from textai.search.parse_state import ParseState
from textai.search.query_model import Filter

#: Band synonyms of queries -> band name.
BAND_SYNONYMS: dict[str, str] = {
    "high-scoring": "hot", "high scoring": "hot", "highly scored": "hot", "top-scoring": "hot",
    "top scoring": "hot", "high-score": "hot", "high score": "hot", "lukewarm": "warm",
    "medium-scoring": "warm", "mid-scoring": "warm", "low-scoring": "cold", "low scoring": "cold",
    "low-score": "cold", "low score": "cold",
}  # fmt: skip
_NOUN_AFTER = re.compile(
    r"^(?:est)?\s+(?:(?:inbound|new|b2b|sales)\s+)?(?:leads?|contacts?|prospects?|people|ones"
    r"|accounts?|band|score|tier|list|buyers?|mqls?|sqls?)\b"
)
_NOUN_BEFORE = re.compile(
    r"\b(?:leads?|contacts?|prospects?|people|accounts?|score|band)\b(?:\s+[\w']+){0,4}\s+$"
)


def parse_score_bands(state: ParseState) -> None:
    """Find band words next to a lead word ("hot leads", "leads that are warm").

    Args:
        state: The parse state; a ``lead_score_band`` filter is added per band phrase and the
            phrase consumed.

    """
    names = [name for name, _ in load_score_bands()]
    words = sorted([*names, *BAND_SYNONYMS], key=len, reverse=True)
    alternation = "|".join(re.escape(w).replace(r"\ ", r"[\s-]+").replace(r"\-", r"[\s-]+")
                           for w in words)  # fmt: skip
    found: list[tuple[str, bool]] = []
    band_re = re.compile(rf"\b(?P<band>{alternation})\b")
    for m in band_re.finditer(state.working()):
        after = state.low[m.end() :]
        listed = re.match(rf"^\s+(?:or|and|/|,)\s+(?:{alternation})\b", after)
        nouned = _NOUN_AFTER.match(after) or _NOUN_BEFORE.search(state.low[: m.start()])
        if not (nouned or listed):
            continue
        if re.match(r"^\s+(?:calls?|calling|emails?|outreach)\b", after):
            continue  # "cold calls" are not cold leads
        phrase = re.sub(r"[\s-]+", " ", m.group("band"))
        band = BAND_SYNONYMS.get(phrase) or BAND_SYNONYMS.get(phrase.replace(" ", "-")) or phrase
        found.append((band, claim_negation(state, m.start())))
        state.consume(m.start(), m.end())
    for negated in (False, True):
        bands = list(dict.fromkeys(b for b, neg in found if neg is negated))
        if len(bands) == 1:
            state.filters.append(Filter("lead_score_band", negate_op("==", negated), bands[0]))
        elif bands:
            op = negate_op("in", negated)
            state.filters.append(Filter("lead_score_band", op, tuple(bands)))
