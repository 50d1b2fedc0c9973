"""Conversation summaries: extractive (MiniLM centrality + MMR) and an optional LLM pass.

The extractive summariser cleans every turn (markup, fillers, repeated words), splits it into
sentences, embeds the sentences with all-MiniLM-L6-v2 and scores each by its centrality (mean
cosine similarity to the other sentences, i.e. how much of the conversation it represents),
with a mild bonus for early sentences (the opening usually states the purpose). It then picks
sentences by maximal marginal relevance (relevance minus redundancy with what is already
picked) until the word budget is spent, and prints them in their original order, each run of
sentences prefixed by its speaker (``Alice: ... Bob: ...``). The budget counts every word of
the returned text, speaker names included.

The abstractive pass is optional: given an LLM provider (any object with
``generate(request)``) it rewrites the extractive summary plus the cleaned transcript into a
short third-person summary; on any provider error the extractive text is kept.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from textai.conversation.transcript import Turn, clean_text, count_words, split_sentences

logger = logging.getLogger(__name__)

Embedder = Callable[[Sequence[str]], np.ndarray]
RequestBuilder = Callable[[str, int], Any]


@dataclass(frozen=True)
class SummaryUnit:
    """A candidate sentence of the summary.

    Attributes:
        position: Order of the sentence in the conversation (0-based over all sentences).
        turn_index: Turn it comes from.
        speaker: Speaker of that turn.
        text: Cleaned sentence.
        words: Word count of ``text``.
    """

    position: int
    turn_index: int
    speaker: str
    text: str
    words: int


@dataclass
class Summary:
    """A summary and how it was made.

    Attributes:
        text: The summary text.
        method: ``extractive`` or ``abstractive``.
        word_count: Words in ``text``.
        units: Selected sentences in conversation order (extractive part).
        extractive_text: The extractive summary (equal to ``text`` when extractive).
    """

    text: str
    method: str
    word_count: int
    units: list[SummaryUnit] = field(default_factory=list)
    extractive_text: str = ""

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready dict (selected turn indexes instead of the units)."""
        return {
            "text": self.text,
            "method": self.method,
            "word_count": self.word_count,
            "turn_indexes": sorted({unit.turn_index for unit in self.units}),
        }


def build_units(turns: Sequence[Turn]) -> list[SummaryUnit]:
    """Clean every turn and split it into sentence units.

    Args:
        turns: Parsed turns.

    Returns:
        All sentences of the conversation in order (empty sentences dropped).
    """
    units: list[SummaryUnit] = []
    for turn in turns:
        for sentence in split_sentences(clean_text(turn.text)):
            units.append(
                SummaryUnit(
                    position=len(units),
                    turn_index=turn.index,
                    speaker=turn.speaker,
                    text=sentence,
                    words=count_words(sentence),
                )
            )
    return units


def render_units(units: Sequence[SummaryUnit], *, include_speakers: bool = True) -> str:
    """Join units in conversation order, prefixing each new turn with ``Speaker:``.

    A sentence cut off at the end of a turn ("..., so,") is closed with a full stop.

    Args:
        units: Units to print (sorted by position here).
        include_speakers: Prefix speaker names.

    Returns:
        The summary text.
    """
    parts: list[str] = []
    previous_turn: int | None = None
    for unit in sorted(units, key=lambda item: item.position):
        text = unit.text.rstrip(",;:-– ")
        if text and text[-1] not in ".!?…\"')":
            text += "."
        if include_speakers and unit.turn_index != previous_turn:
            parts.append(f"{unit.speaker}: {text}")
        else:
            parts.append(text)
        previous_turn = unit.turn_index
    return " ".join(parts)


def _count_unit_cost(unit: SummaryUnit, include_speakers: bool) -> int:
    """Return the words a unit adds to the output at most (its speaker prefix included)."""
    return unit.words + (count_words(unit.speaker) if include_speakers else 0)


def _truncate_words(text: str, max_words: int) -> str:
    """Cut a text after ``max_words`` words (whitespace tokens), ending it with an ellipsis."""
    tokens = text.split()
    kept: list[str] = []
    for token in tokens:
        if count_words(" ".join([*kept, token])) > max_words:
            break
        kept.append(token)
    result = " ".join(kept)
    return result + "…" if len(kept) < len(tokens) and result else result


def score_centrality(embeddings: np.ndarray, *, lead_bias: float = 0.0) -> np.ndarray:
    """Score sentences by mean cosine similarity to the others, plus an early-position bonus.

    Args:
        embeddings: L2-normalised vectors, one row per sentence.
        lead_bias: Bonus for the first sentence, decaying as ``1 / (1 + position)``.

    Returns:
        Relevance scores rescaled to [0, 1].
    """
    count = embeddings.shape[0]
    if count == 0:
        return np.zeros(0, dtype=np.float64)
    if count == 1:
        return np.ones(1, dtype=np.float64)
    similarity = embeddings.astype(np.float64) @ embeddings.astype(np.float64).T
    centrality = (similarity.sum(axis=1) - np.diag(similarity)) / (count - 1)
    spread = centrality.max() - centrality.min()
    relevance = (centrality - centrality.min()) / spread if spread > 1e-12 else np.ones(count)
    if lead_bias:
        relevance = relevance + lead_bias / (1.0 + np.arange(count))
    return relevance


def select_mmr(
    relevance: np.ndarray,
    embeddings: np.ndarray,
    costs: Sequence[int],
    max_words: int,
    *,
    diversity: float = 0.3,
) -> list[int]:
    """Pick items by maximal marginal relevance until the word budget is spent.

    Args:
        relevance: Relevance per item.
        embeddings: L2-normalised vectors per item (for redundancy).
        costs: Word cost per item.
        max_words: Word budget.
        diversity: Weight of redundancy (0 = pure relevance, 1 = pure novelty).

    Returns:
        Indexes of the picked items, in picking order.
    """
    count = len(costs)
    picked: list[int] = []
    remaining = set(range(count))
    budget = max_words
    max_similarity = np.zeros(count, dtype=np.float64)
    while remaining:
        fitting = [index for index in remaining if costs[index] <= budget]
        if not fitting:
            break
        candidates = np.asarray(fitting)
        scores = (1 - diversity) * relevance[candidates] - diversity * max_similarity[candidates]
        best = int(candidates[int(np.argmax(scores))])
        picked.append(best)
        remaining.discard(best)
        budget -= costs[best]
        max_similarity = np.maximum(
            max_similarity, embeddings.astype(np.float64) @ embeddings[best].astype(np.float64)
        )
    return picked


def _get_default_embedder() -> Embedder:
    """Return the platform's MiniLM embedder (imported lazily: it loads torch)."""
    from features.text_embeddings import embed_texts

    return embed_texts


def summarize_extractive(
    turns: Sequence[Turn],
    *,
    max_words: int = 60,
    include_speakers: bool = True,
    diversity: float = 0.3,
    lead_bias: float = 0.1,
    min_unit_words: int = 4,
    embed: Embedder | None = None,
    units: Sequence[SummaryUnit] | None = None,
    embeddings: np.ndarray | None = None,
) -> Summary:
    """Summarise a conversation by selecting central, non-redundant sentences.

    Args:
        turns: Parsed turns.
        max_words: Word budget of the returned text (speaker names count).
        include_speakers: Prefix each run of sentences with its speaker.
        diversity: MMR redundancy weight in [0, 1].
        lead_bias: Bonus for early sentences (see :func:`score_centrality`).
        min_unit_words: Sentences shorter than this ("Yeah.", "Okay, sure.") are never picked
            unless nothing longer exists.
        embed: Embedding function (defaults to MiniLM ``embed_texts``).
        units: Precomputed units of ``turns`` (from :func:`build_units`).
        embeddings: Precomputed embeddings of ``units`` (same order).

    Returns:
        The summary; its ``word_count`` never exceeds ``max_words``.

    Raises:
        ValueError: When ``max_words`` is not positive or the conversation has no words.
    """
    if max_words <= 0:
        raise ValueError(f"max_words must be positive, got {max_words}")
    all_units = list(units) if units is not None else build_units(turns)
    if not all_units:
        raise ValueError("nothing to summarise: the conversation has no words")
    candidates = [i for i, unit in enumerate(all_units) if unit.words >= min_unit_words]
    if not candidates:
        candidates = list(range(len(all_units)))
    if embeddings is None:
        embedder = embed or _get_default_embedder()
        vectors = np.asarray(embedder([all_units[i].text for i in candidates]), dtype=np.float32)
    else:
        vectors = np.asarray(embeddings, dtype=np.float32)[candidates]
    chosen_units = [all_units[i] for i in candidates]
    relevance = score_centrality(vectors, lead_bias=lead_bias)
    costs = [_count_unit_cost(unit, include_speakers) for unit in chosen_units]
    picked = select_mmr(relevance, vectors, costs, max_words, diversity=diversity)
    selected = sorted((chosen_units[i] for i in picked), key=lambda unit: unit.position)
    if selected:
        text = render_units(selected, include_speakers=include_speakers)
    else:
        best = chosen_units[int(np.argmax(relevance))]
        selected = [best]
        text = _truncate_words(render_units(selected, include_speakers=include_speakers), max_words)
    return Summary(
        text=text,
        method="extractive",
        word_count=count_words(text),
        units=selected,
        extractive_text=text,
    )


def summarize_lead(
    turns: Sequence[Turn],
    *,
    n_sentences: int = 3,
    include_speakers: bool = True,
    max_words: int | None = None,
) -> Summary:
    """LEAD baseline: the first sentences of the conversation.

    Args:
        turns: Parsed turns.
        n_sentences: Sentences to keep (LEAD-3 by default); ignored when ``max_words`` is set.
        include_speakers: Prefix speaker names (as the extractive summariser does).
        max_words: When set, keep leading sentences while they fit this budget instead.

    Returns:
        The baseline summary.
    """
    units = build_units(turns)
    if max_words is None:
        selected = units[:n_sentences]
    else:
        selected, used = [], 0
        for unit in units:
            cost = _count_unit_cost(unit, include_speakers)
            if used + cost > max_words:
                break
            selected.append(unit)
            used += cost
    text = render_units(selected, include_speakers=include_speakers)
    return Summary(
        text=text, method="lead", word_count=count_words(text), units=selected, extractive_text=text
    )


def summarize_random(
    turns: Sequence[Turn],
    *,
    max_words: int,
    seed: int = 0,
    include_speakers: bool = True,
    min_unit_words: int = 4,
) -> Summary:
    """Random baseline: random sentences (same filters and budget as ours), in original order.

    Args:
        turns: Parsed turns.
        max_words: Word budget.
        seed: Random seed.
        include_speakers: Prefix speaker names.
        min_unit_words: Minimum sentence length, as in :func:`summarize_extractive`.

    Returns:
        The baseline summary.
    """
    units = build_units(turns)
    pool = [unit for unit in units if unit.words >= min_unit_words] or units
    order = list(range(len(pool)))
    random.Random(seed).shuffle(order)
    selected, used = [], 0
    for index in order:
        cost = _count_unit_cost(pool[index], include_speakers)
        if used + cost <= max_words:
            selected.append(pool[index])
            used += cost
    text = render_units(selected, include_speakers=include_speakers)
    return Summary(
        text=text,
        method="random",
        word_count=count_words(text),
        units=selected,
        extractive_text=text,
    )


def build_llm_prompt(
    turns: Sequence[Turn],
    extractive: str,
    *,
    max_words: int,
    meeting_type: str | None = None,
    max_transcript_words: int = 3000,
) -> str:
    """Build the prompt of the abstractive pass.

    Args:
        turns: Parsed turns.
        extractive: The extractive summary (the key sentences).
        max_words: Target length of the summary.
        meeting_type: E.g. ``discovery call``; shown to the model.
        max_transcript_words: The cleaned transcript is cut after this many words.

    Returns:
        The prompt text.
    """
    lines, used = [], 0
    for turn in turns:
        text = clean_text(turn.text)
        if not text:
            continue
        words = count_words(text)
        if used + words > max_transcript_words:
            lines.append("[... transcript truncated ...]")
            break
        lines.append(f"{turn.speaker}: {text}")
        used += words
    kind = meeting_type or "conversation"
    return (
        f"Summarise this {kind} in at most {max_words} words, in the third person, naming "
        "the speakers. State the purpose, the decisions, open questions and agreed next "
        "steps. Use only facts stated in the transcript.\n\n"
        f"Key sentences (extractive summary):\n{extractive}\n\n"
        "Transcript:\n" + "\n".join(lines)
    )


def _build_default_request(prompt: str, max_words: int) -> dict[str, Any]:
    """Return the default provider request: a plain dict with the prompt and limits."""
    return {
        "task": "conversation_summary",
        "prompt": prompt,
        "max_tokens": max(64, int(max_words * 2)),
        "temperature": 0.2,
    }


def _extract_response_text(response: Any) -> str:
    """Extract the generated text of a provider response (str, ``.text``, ``["text"]``)."""
    if response is None:
        return ""
    if isinstance(response, str):
        return response
    if isinstance(response, dict):
        for key in ("text", "content", "output", "completion"):
            if isinstance(response.get(key), str):
                return response[key]
        return ""
    for attribute in ("text", "content", "output", "completion"):
        value = getattr(response, attribute, None)
        if isinstance(value, str):
            return value
    return ""


def summarize_abstractive(
    llm: Any,
    turns: Sequence[Turn],
    extractive: Summary,
    *,
    max_words: int = 80,
    meeting_type: str | None = None,
    request_builder: RequestBuilder | None = None,
) -> Summary:
    """Rewrite the extractive summary with an LLM provider; keep the extractive one on failure.

    Args:
        llm: Provider with ``generate(request)``; ``None`` returns ``extractive`` unchanged.
        turns: Parsed turns.
        extractive: The extractive summary.
        max_words: Target length; longer generations are cut to it.
        meeting_type: Shown to the model.
        request_builder: ``(prompt, max_words) -> request`` for the provider's request type;
            defaults to a dict with ``task``, ``prompt``, ``max_tokens``, ``temperature``.

    Returns:
        The abstractive summary, or ``extractive`` when there is no provider, it fails or it
        returns no text.
    """
    if llm is None or not hasattr(llm, "generate"):
        return extractive
    prompt = build_llm_prompt(
        turns, extractive.text, max_words=max_words, meeting_type=meeting_type
    )
    builder = request_builder or _build_default_request
    try:
        text = _extract_response_text(llm.generate(builder(prompt, max_words))).strip()
    except Exception as exc:  # any provider failure falls back to the extractive summary
        logger.warning("abstractive summary failed (%s); keeping the extractive summary", exc)
        return extractive
    if not text:
        return extractive
    if count_words(text) > max_words:
        text = _truncate_words(text, max_words)
    return Summary(
        text=text,
        method="abstractive",
        word_count=count_words(text),
        units=extractive.units,
        extractive_text=extractive.text,
    )
