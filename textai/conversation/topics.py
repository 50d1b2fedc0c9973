"""Topic detection: embedding TextTiling segmentation labelled with TF-IDF keywords.

Segmentation (TextTiling, Hearst 1997, with MiniLM vectors instead of word counts): at every
gap between two turns, compare the word-weighted mean embedding of the ``window`` turns before
with that of the ``window`` turns after; smooth the similarity curve, compute each gap's depth
(how far the curve dips below the nearest peaks on both sides) and cut at the deepest gaps
whose depth exceeds ``mean - cutoff_std * std`` of all depths, keeping every segment at least
``min_segment_turns`` long and at most ``max_segments`` segments. The segments are contiguous
and cover every turn.

Labels: TF-IDF of each segment's words, with the IDF fitted on the conversation's turns (a
word said in every turn is no topic), conversational filler words removed; the label is the
top three keywords.
"""

from __future__ import annotations

import itertools
import math
import re
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from textai.conversation.transcript import Turn, clean_text, count_words

Embedder = Callable[[Sequence[str]], np.ndarray]

_FILLER_WORDS = """
yeah yes yep okay ok right just like really think know mean gonna wanna sure well thing things
going got get getting actually maybe good great lot kind sort want need say said guess basically
probably pretty stuff bit way oh hey hi hello thanks thank let does did doing don didn doesn isn
wasn aren won wouldn couldn shouldn ll ve re uh um hmm mm alright cool fine come look looks use
used make makes one two also person1 person2 person3 person4 lets needs sounds sound tell told
ask asked absolutely exactly far time today honestly wonderful perfectly totally definitely
"""
_ENGLISH_STOP_WORDS = """
a about above across after afterwards again against all almost alone along already also although
always am among amongst an and another any anyhow anyone anything anyway anywhere are around as
at back be became because become becomes been before beforehand behind being below beside
besides between beyond both but by can cannot could did do does doing done down due during each
either else elsewhere enough etc even ever every everyone everything everywhere except few first
for former formerly from further had has have having he hence her here hereafter hereby herein
hers herself him himself his how however i if in indeed into is it its itself just last latter
least less many may me meanwhile might mine more moreover most mostly much must my myself namely
neither never nevertheless next no nobody none noone nor not nothing now nowhere of off often on
once only onto or other others otherwise our ours ourselves out over own per perhaps please
quite rather same see seem seemed seeming seems several she should since so some somehow someone
something sometime sometimes somewhere still such than that the their theirs them themselves
then there thereafter thereby therefore therein these they this those though through throughout
thru thus to together too toward towards under until up upon us very via was we were what
whatever when whence whenever where whereafter whereas whereby wherein whereupon wherever whether
which while whither who whoever whole whom whose why will with within without would yet you
your yours yourself yourselves
"""
#: Filler words of speech that TF-IDF would otherwise rank as topics.
CONVERSATION_STOP_WORDS: frozenset[str] = frozenset(_FILLER_WORDS.split())
_POSSESSIVE = re.compile(r"['’]s\b")
#: Words of 3+ letters; contractions ("we're", "don't") are skipped, not split.
_TOKEN = re.compile(r"(?<![a-z0-9'’])[a-z][a-z0-9-]{2,}(?![a-z0-9]*['’])")


@dataclass(frozen=True)
class TopicSegment:
    """A stretch of the conversation about one topic.

    Attributes:
        label: Short label (top keywords joined by ", ").
        keywords: Top keywords, most distinctive first.
        start_turn: First turn index (inclusive).
        end_turn: Last turn index (inclusive).
    """

    label: str
    keywords: list[str]
    start_turn: int
    end_turn: int

    def to_dict(self) -> dict[str, Any]:
        """Return the segment as a JSON-ready dict."""
        return asdict(self)


def _pool_window(embeddings: np.ndarray, weights: np.ndarray, start: int, stop: int) -> Any:
    """Return the weighted mean vector of rows ``start:stop`` (normalised)."""
    block = embeddings[start:stop]
    weight = weights[start:stop, None]
    vector = (block * weight).sum(axis=0)
    norm = float(np.linalg.norm(vector))
    return vector / norm if norm > 0 else vector


def compute_gap_similarities(
    embeddings: np.ndarray, weights: np.ndarray, window: int
) -> np.ndarray:
    """Cosine similarity across every gap between consecutive turns.

    Args:
        embeddings: One L2-normalised vector per turn.
        weights: Weight per turn (word counts; zero-word turns weigh nothing).
        window: Turns on each side of the gap.

    Returns:
        Array of length ``n_turns - 1``; entry ``g`` is the gap before turn ``g + 1``.
    """
    count = embeddings.shape[0]
    sims = np.zeros(max(count - 1, 0), dtype=np.float64)
    for gap in range(1, count):
        left = _pool_window(embeddings, weights, max(0, gap - window), gap)
        right = _pool_window(embeddings, weights, gap, min(count, gap + window))
        sims[gap - 1] = float(left @ right)
    return sims


def compute_depth_scores(similarities: np.ndarray) -> np.ndarray:
    """TextTiling depth of every gap: climb to the peak on each side, sum the two drops.

    Args:
        similarities: Smoothed gap similarities.

    Returns:
        Depth per gap (>= 0).
    """
    count = len(similarities)
    depths = np.zeros(count, dtype=np.float64)
    for gap in range(count):
        left_peak = similarities[gap]
        index = gap
        while index > 0 and similarities[index - 1] >= left_peak:
            index -= 1
            left_peak = similarities[index]
        right_peak = similarities[gap]
        index = gap
        while index < count - 1 and similarities[index + 1] >= right_peak:
            index += 1
            right_peak = similarities[index]
        depths[gap] = (left_peak - similarities[gap]) + (right_peak - similarities[gap])
    return depths


def _smooth(values: np.ndarray, width: int) -> np.ndarray:
    """Moving average with a centred window of ``width`` (edges use the available values)."""
    if width <= 1 or len(values) < 3:
        return values
    half = width // 2
    return np.array([values[max(0, i - half) : i + half + 1].mean() for i in range(len(values))])


def segment_turns(
    embeddings: np.ndarray,
    weights: np.ndarray | None = None,
    *,
    window: int | None = None,
    min_segment_turns: int | None = None,
    max_segments: int = 5,
    cutoff_std: float = 0.5,
) -> list[tuple[int, int]]:
    """Split turns into contiguous topic segments.

    Args:
        embeddings: One L2-normalised vector per turn.
        weights: Weight per turn (defaults to 1).
        window: Turns compared on each side of a gap (default ``clip(n / 20, 2, 20)``).
        min_segment_turns: Shortest allowed segment (default ``max(3, min(60, n / 5))``).
        max_segments: Most segments returned.
        cutoff_std: Gaps deeper than ``mean - cutoff_std * std`` of all depths are candidates.

    Returns:
        ``(start_turn, end_turn)`` pairs (inclusive), contiguous, covering ``0..n-1``.
    """
    count = embeddings.shape[0]
    if count == 0:
        return []
    weights = np.ones(count) if weights is None else np.asarray(weights, dtype=np.float64)
    window = window or int(np.clip(count // 20, 2, 20))
    min_len = min_segment_turns or max(3, min(60, count // 5))
    if count < 2 * min_len or max_segments <= 1:
        return [(0, count - 1)]
    sims = _smooth(compute_gap_similarities(embeddings, weights, window), 3)
    depths = compute_depth_scores(sims)
    cutoff = depths.mean() - cutoff_std * depths.std()
    candidates = [
        gap for gap in np.argsort(-depths, kind="stable") if depths[gap] > max(cutoff, 1e-9)
    ]
    starts: list[int] = []
    for gap in candidates:
        start = int(gap) + 1
        trial = sorted([*starts, start])
        edges = [0, *trial, count]
        if all(edges[i + 1] - edges[i] >= min_len for i in range(len(edges) - 1)):
            starts = trial
        if len(starts) + 1 >= max_segments:
            break
    edges = [0, *starts, count]
    return [(edges[i], edges[i + 1] - 1) for i in range(len(edges) - 1)]


def _tokenize(text: str, stop_words: frozenset[str]) -> list[str]:
    """Return the lowercase content words of a text (English and filler stop words removed)."""
    text = _POSSESSIVE.sub("", text.lower())
    return [token for token in _TOKEN.findall(text) if token not in stop_words]


def _collect_stop_words(extra: Sequence[str] = ()) -> frozenset[str]:
    """Return English stop words, filler words and the words of ``extra`` (lowercased)."""
    words = set(_ENGLISH_STOP_WORDS.split()) | set(CONVERSATION_STOP_WORDS)
    for item in extra:
        words.update(token for token in _TOKEN.findall(item.lower()))
    return frozenset(words)


def label_segments(
    turn_texts: Sequence[str],
    segments: Sequence[tuple[int, int]],
    *,
    top_k: int = 5,
    extra_stop_words: Sequence[str] = (),
) -> list[list[str]]:
    """Return the top TF-IDF keywords (unigrams and bigrams) of each segment.

    Args:
        turn_texts: Cleaned text per turn.
        segments: ``(start_turn, end_turn)`` pairs.
        top_k: Keywords per segment.
        extra_stop_words: Words never used as keywords (e.g. speaker names).

    Returns:
        Keywords per segment, most distinctive first (may be empty for wordless segments).
    """
    stop_words = _collect_stop_words(extra_stop_words)
    turn_tokens = [_tokenize(text, stop_words) for text in turn_texts]
    turn_terms = []
    for tokens in turn_tokens:
        bigrams = [f"{a} {b}" for a, b in itertools.pairwise(tokens)]
        turn_terms.append([*tokens, *bigrams])
    document_frequency: dict[str, int] = {}
    for terms in turn_terms:
        for term in set(terms):
            document_frequency[term] = document_frequency.get(term, 0) + 1
    n_docs = max(len(turn_terms), 1)
    results: list[list[str]] = []
    for start, end in segments:
        counts: dict[str, int] = {}
        for terms in turn_terms[start : end + 1]:
            for term in terms:
                counts[term] = counts.get(term, 0) + 1
        scored = []
        for term, tf in counts.items():
            if " " in term and tf < 2:
                continue
            idf = math.log((1 + n_docs) / (1 + document_frequency[term])) + 1.0
            scored.append(((1 + math.log(tf)) * idf, term))
        scored.sort(key=lambda item: (-item[0], item[1]))
        keywords: list[str] = []
        for _, term in scored:
            words = set(term.split(" "))
            if any(words & set(kept.split(" ")) for kept in keywords):
                continue
            keywords.append(term)
            if len(keywords) == top_k:
                break
        results.append(keywords)
    return results


def pool_turn_embeddings(
    n_turns: int, unit_turns: Sequence[int], unit_vectors: np.ndarray
) -> np.ndarray:
    """Average sentence vectors into one normalised vector per turn (zeros for empty turns).

    Args:
        n_turns: Number of turns.
        unit_turns: Turn index of each sentence.
        unit_vectors: Sentence vectors (same order).

    Returns:
        Array ``(n_turns, dim)``.
    """
    dim = unit_vectors.shape[1] if unit_vectors.ndim == 2 and unit_vectors.size else 384
    vectors = np.zeros((n_turns, dim), dtype=np.float64)
    for turn, vector in zip(unit_turns, unit_vectors, strict=True):
        vectors[turn] += vector
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return np.divide(vectors, norms, out=np.zeros_like(vectors), where=norms > 0)


def detect_topics(
    turns: Sequence[Turn],
    turn_vectors: np.ndarray | None = None,
    *,
    embed: Embedder | None = None,
    window: int | None = None,
    min_segment_turns: int | None = None,
    max_segments: int = 5,
    top_k: int = 5,
) -> list[TopicSegment]:
    """Segment a conversation into topics and label each segment.

    Args:
        turns: Parsed turns.
        turn_vectors: One L2-normalised vector per turn (embedded here when ``None``).
        embed: Embedding function used when ``turn_vectors`` is ``None`` (default MiniLM).
        window: See :func:`segment_turns`.
        min_segment_turns: See :func:`segment_turns`.
        max_segments: See :func:`segment_turns`.
        top_k: Keywords per segment.

    Returns:
        Contiguous segments covering every turn, in order.
    """
    if not turns:
        return []
    texts = [clean_text(turn.text) for turn in turns]
    if turn_vectors is None:
        if embed is None:
            from features.text_embeddings import embed_texts

            embed = embed_texts
        turn_vectors = np.asarray(embed(texts), dtype=np.float64)
    weights = np.array([count_words(text) for text in texts], dtype=np.float64)
    segments = segment_turns(
        np.asarray(turn_vectors, dtype=np.float64),
        weights,
        window=window,
        min_segment_turns=min_segment_turns,
        max_segments=max_segments,
    )
    speakers = sorted({turn.speaker for turn in turns})
    keywords = label_segments(texts, segments, top_k=top_k, extra_stop_words=speakers)
    offset = turns[0].index
    return [
        TopicSegment(
            label=", ".join(words[:3]) if words else "small talk",
            keywords=words,
            start_turn=start + offset,
            end_turn=end + offset,
        )
        for (start, end), words in zip(segments, keywords, strict=True)
    ]
