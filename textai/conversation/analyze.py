"""Conversation analysis (``POST /api/ai/conversation/analyze``) and its storage.

:class:`ConversationAnalyzer` turns a transcript into a :class:`ConversationAnalysis`:

* ``summary``: extractive MiniLM summary (optionally rewritten by an injected LLM provider);
* ``topics``: TextTiling segments labelled with TF-IDF keywords;
* ``sentiment_by_speaker``: per speaker, the mean turn score in [-1, 1] (``P(positive) -
  P(negative)`` of the sentiment model) and a time series over turn windows; plus
  ``overall_sentiment``;
* ``action_items``: sentences the action-item classifier (trained on the email-intent data)
  marks positive, with speaker, turn, probability, an owner guess and a due phrase;
* ``key_moments``: sentiment swings, competitor mentions, pricing/objection/next-step mentions
  and price questions, each with its turn and reason;
* ``competitor_mentions`` and ``alerts`` (competitor list from ``configs/conversation.yaml``);
* ``coaching``: talk ratio (share of words), longest monologue, question rate (per minute with
  timestamps, else per 100 turns), interruption-like quick switches, and ``coaching_tips``.

:func:`store_conversation_insight` writes the ``conversation_insights`` row (creating the
``activities`` row when no activity is given).
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from textai.conversation.action_items import _find_addressee, find_due, guess_owner, has_action_cue
from textai.conversation.coaching import _index_names, build_coaching_tips, identify_reps
from textai.conversation.competitors import build_competitor_alerts, find_competitor_mentions
from textai.conversation.config import (
    ConversationConfig,
    _compile_phrases,
    load_conversation_config,
    parse_competitors,
)
from textai.conversation.summarize import (
    Embedder,
    RequestBuilder,
    SummaryUnit,
    build_units,
    summarize_abstractive,
    summarize_extractive,
)
from textai.conversation.talk_metrics import (
    compute_question_rate,
    compute_talk_ratio,
    count_interruptions,
    find_longest_monologue,
    label_sentiment,
    measure_duration,
)
from textai.conversation.topics import detect_topics, pool_turn_embeddings
from textai.conversation.transcript import (
    Turn,
    clean_text,
    count_words,
    format_transcript,
    is_question,
    parse_transcript,
)

logger = logging.getLogger(__name__)

SENTIMENT_LABELS: tuple[str, str, str] = ("negative", "neutral", "positive")


class SentimentModelLike(Protocol):
    """What the analyzer needs from the sentiment model."""

    def predict_proba(self, texts: Sequence[str]) -> np.ndarray:
        """Return ``(n, 3)`` probabilities over (negative, neutral, positive)."""
        ...


class ActionItemModelLike(Protocol):
    """What the analyzer needs from the action-item classifier."""

    def predict_proba(self, sentences: Sequence[str]) -> np.ndarray:
        """Return ``(n,)`` probabilities that each sentence is an action item."""
        ...


# --------------------------------------------------------------------------------------------
# Configuration
# --------------------------------------------------------------------------------------------


# --------------------------------------------------------------------------------------------
# Result
# --------------------------------------------------------------------------------------------


@dataclass
class ConversationAnalysis:
    """Everything the analyzer found in one conversation (``to_dict()`` is the API body)."""

    summary: str
    summary_method: str
    topics: list[dict[str, Any]]
    sentiment_by_speaker: dict[str, dict[str, Any]]
    overall_sentiment: dict[str, Any]
    action_items: list[dict[str, Any]]
    key_moments: list[dict[str, Any]]
    competitor_mentions: list[dict[str, Any]]
    alerts: list[dict[str, Any]]
    coaching: dict[str, Any]
    coaching_tips: list[str]
    speakers: list[str]
    participants: list[dict[str, Any]]
    meeting_type: str | None
    n_turns: int
    word_count: int
    duration_seconds: float | None
    transcript: str = ""
    timings_ms: dict[str, float] = field(default_factory=dict)

    def to_dict(self, *, include_transcript: bool = False) -> dict[str, Any]:
        """Return a JSON-ready dict.

        Args:
            include_transcript: Include the normalised transcript text.

        Returns:
            The analysis as plain Python types.
        """
        data = asdict(self)
        if not include_transcript:
            data.pop("transcript")
        return data


# --------------------------------------------------------------------------------------------
# Building blocks (pure functions, unit-tested)
# --------------------------------------------------------------------------------------------


# --------------------------------------------------------------------------------------------
# Analyzer
# --------------------------------------------------------------------------------------------


class ConversationAnalyzer:
    """Analyse conversations with injected models (real ones or test doubles).

    Args:
        sentiment_model: Object with ``predict_proba(texts) -> (n, 3)`` over
            (negative, neutral, positive) (``training.text.sentiment_model.SentimentModel``).
        action_item_model: Object with ``predict_proba(sentences) -> (n,)``
            (``training.text.action_items.ActionItemClassifier``).
        competitors: Competitor names (or ``{name, aliases}`` dicts) that raise alerts.
        llm: Optional LLM provider with ``generate(request)`` for an abstractive summary.
        config: Keywords and thresholds (defaults: ``configs/conversation.yaml`` values).
        embed: Embedding function (defaults to MiniLM ``features.text_embeddings.embed_texts``).
        request_builder: ``(prompt, max_words) -> request`` for the LLM provider.
    """

    def __init__(
        self,
        sentiment_model: SentimentModelLike,
        action_item_model: ActionItemModelLike,
        competitors: Sequence[str | Mapping[str, Any]],
        llm: Any = None,
        *,
        config: ConversationConfig | None = None,
        embed: Embedder | None = None,
        request_builder: RequestBuilder | None = None,
    ) -> None:
        self.sentiment_model = sentiment_model
        self.action_item_model = action_item_model
        self.competitors = parse_competitors(competitors)
        self.llm = llm
        self.config = config or ConversationConfig()
        self._embed = embed
        self._uses_default_embedder = embed is None
        self.request_builder = request_builder
        self._patterns = {
            "pricing": _compile_phrases(self.config.pricing_keywords),
            "objection": _compile_phrases(self.config.objection_keywords),
            "next_step": _compile_phrases(self.config.next_step_keywords),
        }

    @classmethod
    def from_settings(
        cls,
        settings: Any = None,
        *,
        config_path: str | Path | None = None,
        llm: Any = None,
    ) -> ConversationAnalyzer:
        """Build the analyzer from the trained text models and ``configs/conversation.yaml``.

        Never trains: the text models come from the text-models flow (``haste train-text``).

        Args:
            settings: Platform settings (defaults to :func:`haste.settings.get_settings`).
            config_path: Conversation config file (defaults to ``configs/conversation.yaml``).
            llm: Optional LLM provider for abstractive summaries.

        Returns:
            The analyzer.

        Raises:
            TextModelsNotTrainedError: When the text models have not been trained yet.
        """
        from haste.settings import get_settings
        from training.text import action_items, sentiment_model
        from training.text.registry import trained_text_model_paths

        paths = trained_text_model_paths(settings or get_settings())
        config = load_conversation_config(config_path)
        return cls(
            sentiment_model.load_sentiment_model(paths["sentiment"]),
            action_items.load_action_item_model(paths["action_items"]),
            list(config.competitors),
            llm,
            config=config,
        )

    @property
    def embed(self) -> Embedder:
        """Return the embedding function (MiniLM unless one was injected)."""
        if self._embed is None:
            from features.text_embeddings import embed_texts

            self._embed = embed_texts
        return self._embed

    # -- steps ---------------------------------------------------------------------------------

    def _score_turns(self, turns: Sequence[Turn]) -> tuple[list[float | None], np.ndarray]:
        """Score every turn's sentiment (``None`` for wordless turns).

        Returns:
            Per-turn scores and the mean probability over scored turns.
        """
        texts = [clean_text(turn.text) for turn in turns]
        scored = [i for i, text in enumerate(texts) if count_words(text) > 0]
        scores: list[float | None] = [None] * len(turns)
        if not scored:
            return scores, np.full(3, 1 / 3)
        proba = np.asarray(
            self.sentiment_model.predict_proba([texts[i] for i in scored]), dtype=np.float64
        )
        labels = tuple(getattr(self.sentiment_model, "labels", SENTIMENT_LABELS))
        order = (
            [labels.index(name) for name in SENTIMENT_LABELS]
            if set(labels) == set(SENTIMENT_LABELS)
            else [0, 1, 2]
        )
        proba = proba[:, order]
        for row, index in zip(proba, scored, strict=True):
            scores[index] = float(row[2] - row[0])
        return scores, proba.mean(axis=0)

    def _score_speakers(
        self, turns: Sequence[Turn], scores: Sequence[float | None]
    ) -> dict[str, dict[str, Any]]:
        """Per speaker: mean score, label, number of scored turns and a windowed series."""
        n_turns = len(turns)
        window = max(4, math.ceil(n_turns / max(self.config.sentiment_max_points, 1)))
        result: dict[str, dict[str, Any]] = {}
        for speaker in dict.fromkeys(turn.speaker for turn in turns):
            values = [
                s
                for turn, s in zip(turns, scores, strict=True)
                if turn.speaker == speaker and s is not None
            ]
            series = []
            for start in range(0, n_turns, window):
                block = [
                    s
                    for turn, s in zip(
                        turns[start : start + window], scores[start : start + window], strict=True
                    )
                    if turn.speaker == speaker and s is not None
                ]
                if block:
                    series.append(
                        {
                            "window": start // window,
                            "start_turn": turns[start].index,
                            "end_turn": turns[min(start + window, n_turns) - 1].index,
                            "timestamp": turns[start].timestamp,
                            "score": round(float(np.mean(block)), 4),
                            "turns": len(block),
                        }
                    )
            mean = float(np.mean(values)) if values else 0.0
            result[speaker] = {
                "score": round(mean, 4),
                "label": label_sentiment(mean, self.config.label_threshold),
                "turns": len(values),
                "series": series,
            }
        return result

    def _extract_action_items(
        self,
        turns: Sequence[Turn],
        units: Sequence[SummaryUnit],
        participants: Sequence[Mapping[str, Any]],
        vectors: np.ndarray | None = None,
    ) -> list[dict[str, Any]]:
        """Classify sentences and describe the positive ones (owner guess and due phrase).

        When the sentences were embedded with the platform's MiniLM (no injected embedder) and
        the classifier accepts embeddings (``predict_proba_embeddings``), the vectors are
        reused instead of embedding every sentence a second time.
        """
        keep = [i for i, u in enumerate(units) if u.words >= self.config.action_item_min_words]
        candidates = [units[i] for i in keep]
        if not candidates:
            return []
        cfg = self.config
        reuse = getattr(self.action_item_model, "predict_proba_embeddings", None)
        if self._uses_default_embedder and vectors is not None and callable(reuse):
            raw = reuse(np.asarray(vectors)[keep])
        else:
            raw = self.action_item_model.predict_proba([u.text for u in candidates])
        proba = np.asarray(raw, dtype=np.float64).reshape(-1)
        threshold = self.config.action_item_threshold
        if threshold is None:
            threshold = float(getattr(self.action_item_model, "threshold", 0.5) or 0.5)
        speakers = list(dict.fromkeys(turn.speaker for turn in turns))
        names = _index_names(speakers, participants)
        position = {turn.index: i for i, turn in enumerate(turns)}
        items: list[dict[str, Any]] = []
        seen: set[str] = set()
        for unit, probability in zip(candidates, proba, strict=True):
            key = unit.text.lower()
            if probability < threshold or key in seen:
                continue
            needs_cue = (
                cfg.action_item_require_cue and probability < cfg.action_item_cue_free_probability
            )
            if needs_cue and not has_action_cue(unit.text):
                continue
            seen.add(key)
            turn = turns[position[unit.turn_index]]
            owner, reason = guess_owner(
                unit.text,
                unit.speaker,
                names=names,
                addressee=_find_addressee(turns, position[unit.turn_index]),
            )
            items.append(
                {
                    "text": unit.text,
                    "speaker": unit.speaker,
                    "turn_index": unit.turn_index,
                    "timestamp": turn.timestamp,
                    "probability": round(float(probability), 4),
                    "owner": owner,
                    "owner_reason": reason,
                    "due": find_due(unit.text),
                }
            )
        return items

    def _find_keyword_hits(
        self, turns: Sequence[Turn], units: Sequence[SummaryUnit], reps: set[str]
    ) -> dict[str, Any]:
        """Return pricing/objection/next-step hits (one per sentence) and price questions.

        Objections only count from the other party when the reps are known.
        """
        hits: dict[str, list[dict[str, Any]]] = {name: [] for name in self._patterns}
        hits["price_question"] = []
        position = {turn.index: i for i, turn in enumerate(turns)}
        for unit in units:
            for name, pattern in self._patterns.items():
                match = pattern.search(unit.text)
                if match is None or (name == "objection" and unit.speaker in reps):
                    continue
                entry = {
                    "turn_index": unit.turn_index,
                    "speaker": unit.speaker,
                    "timestamp": turns[position[unit.turn_index]].timestamp,
                    "text": unit.text,
                    "keyword": match.group(0).lower(),
                }
                hits[name].append(entry)
                if name == "pricing" and is_question(unit.text):
                    hits["price_question"].append(entry)
        return hits

    def _find_sentiment_swings(
        self, turns: Sequence[Turn], scores: Sequence[float | None]
    ) -> list[dict[str, Any]]:
        """Strongest sentiment swings vs the same speaker's previous three turns."""
        history: dict[str, list[float]] = {}
        swings: list[tuple[float, int]] = []
        for i, (turn, score) in enumerate(zip(turns, scores, strict=True)):
            if score is None:
                continue
            past = history.setdefault(turn.speaker, [])
            if past and turn.word_count >= 3:
                swings.append((score - float(np.mean(past[-3:])), i))
            past.append(score)
        moments = []
        limit = self.config.max_moments_per_type
        threshold = self.config.swing_threshold
        drops = sorted((s for s in swings if s[0] <= -threshold), key=lambda s: s[0])[:limit]
        rises = sorted((s for s in swings if s[0] >= threshold), key=lambda s: -s[0])[:limit]
        for kind, items in (("sentiment_drop", drops), ("sentiment_rise", rises)):
            for delta, i in items:
                turn = turns[i]
                moments.append(
                    {
                        "type": kind,
                        "turn_index": turn.index,
                        "speaker": turn.speaker,
                        "timestamp": turn.timestamp,
                        "text": clean_text(turn.text)[:300],
                        "score": round(float(scores[i] or 0.0), 4),
                        "reason": (
                            f"{turn.speaker}'s sentiment {'fell' if delta < 0 else 'rose'} by "
                            f"{abs(delta):.2f} to {scores[i]:+.2f} versus their previous turns"
                        ),
                    }
                )
        return moments

    def _collect_key_moments(
        self,
        turns: Sequence[Turn],
        scores: Sequence[float | None],
        hits: Mapping[str, list[dict[str, Any]]],
        mentions: Sequence[Mapping[str, Any]],
    ) -> list[dict[str, Any]]:
        """Combine sentiment swings, competitor mentions and keyword hits, in turn order."""
        limit = self.config.max_moments_per_type
        moments = self._find_sentiment_swings(turns, scores)
        reasons = {
            "price_question": "question about price",
            "pricing": "pricing discussed ({keyword})",
            "objection": "objection raised ({keyword})",
            "next_step": "next step mentioned ({keyword})",
        }
        taken: set[tuple[str, int]] = set()
        for mention in mentions:
            key = ("competitor_mention", mention["turn_index"])
            if key in taken:
                continue
            taken.add(key)
            moments.append(
                {
                    "type": "competitor_mention",
                    "turn_index": mention["turn_index"],
                    "speaker": mention["speaker"],
                    "timestamp": mention["timestamp"],
                    "text": mention["text"],
                    "reason": f"competitor {mention['competitor']} mentioned",
                }
            )
        question_turns = {hit["turn_index"] for hit in hits["price_question"]}
        for kind in ("price_question", "objection", "next_step", "pricing"):
            count = 0
            for hit in hits[kind]:
                if kind == "pricing" and hit["turn_index"] in question_turns:
                    continue
                key = (kind, hit["turn_index"])
                if key in taken or count >= limit:
                    continue
                taken.add(key)
                count += 1
                moments.append(
                    {
                        "type": kind,
                        "turn_index": hit["turn_index"],
                        "speaker": hit["speaker"],
                        "timestamp": hit["timestamp"],
                        "text": hit["text"],
                        "reason": reasons[kind].format(keyword=hit["keyword"]),
                    }
                )
        moments.sort(key=lambda moment: (moment["turn_index"], moment["type"]))
        return moments

    # -- entry point ---------------------------------------------------------------------------

    def analyze(
        self,
        transcript: str | list[dict[str, Any]],
        participants: list[dict[str, Any]] | None = None,
        meeting_type: str | None = None,
    ) -> ConversationAnalysis:
        """Analyse one conversation.

        Args:
            transcript: Transcript text or a list of ``{"speaker", "content"}`` dicts.
            participants: ``{"name", "role", ...}`` dicts; a role in ``rep_roles`` marks the
                coached speaker(s), names help guess action-item owners.
            meeting_type: Free text (``discovery call``, ``demo``, ``internal meeting``...).

        Returns:
            The analysis.

        Raises:
            ValueError: When the transcript is empty or cannot be parsed.
        """
        timings: dict[str, float] = {}
        clock = time.perf_counter()

        def lap(name: str) -> None:
            nonlocal clock
            now = time.perf_counter()
            timings[name] = round((now - clock) * 1000, 2)
            clock = now

        turns = parse_transcript(transcript)
        participant_list = [dict(p) for p in (participants or [])]
        speakers = list(dict.fromkeys(turn.speaker for turn in turns))
        units = build_units(turns)
        lap("parse")
        vectors = np.asarray(self.embed([unit.text for unit in units]), dtype=np.float32)
        lap("embed")
        cfg = self.config
        summary = summarize_extractive(
            turns,
            max_words=cfg.summary_max_words,
            diversity=cfg.summary_diversity,
            lead_bias=cfg.summary_lead_bias,
            units=units,
            embeddings=vectors,
        )
        summary = summarize_abstractive(
            self.llm,
            turns,
            summary,
            max_words=cfg.llm_max_words,
            meeting_type=meeting_type,
            request_builder=self.request_builder,
        )
        lap("summary")
        turn_vectors = pool_turn_embeddings(
            len(turns), [unit.turn_index - turns[0].index for unit in units], vectors
        )
        topics = detect_topics(
            turns, turn_vectors, max_segments=cfg.max_segments, top_k=cfg.topic_keywords
        )
        lap("topics")
        scores, mean_proba = self._score_turns(turns)
        by_speaker = self._score_speakers(turns, scores)
        valid = [s for s in scores if s is not None]
        overall_score = float(np.mean(valid)) if valid else 0.0
        overall = {
            "score": round(overall_score, 4),
            "label": label_sentiment(overall_score, cfg.label_threshold),
            "distribution": {
                name: round(float(p), 4)
                for name, p in zip(SENTIMENT_LABELS, mean_proba, strict=True)
            },
            "turn_scores": [None if s is None else round(s, 4) for s in scores],
        }
        lap("sentiment")
        action_items = self._extract_action_items(turns, units, participant_list, vectors)
        lap("action_items")
        reps = identify_reps(speakers, participant_list, cfg.rep_roles)
        hits = self._find_keyword_hits(turns, units, reps)
        mentions = find_competitor_mentions(turns, self.competitors)
        alerts = build_competitor_alerts(
            mentions,
            negative_turns={
                turn.index
                for turn, s in zip(turns, scores, strict=True)
                if s is not None and s < -cfg.label_threshold
            },
            objection_turns={hit["turn_index"] for hit in hits["objection"]},
            pricing_turns={hit["turn_index"] for hit in hits["pricing"]},
            reps=reps,
        )
        key_moments = self._collect_key_moments(turns, scores, hits, mentions)
        talk_ratio = compute_talk_ratio(turns)
        coaching = {
            "talk_ratio": {k: round(v, 4) for k, v in talk_ratio.items()},
            "words_by_speaker": {
                speaker: sum(t.word_count for t in turns if t.speaker == speaker)
                for speaker in speakers
            },
            "turns_by_speaker": {
                speaker: sum(t.speaker == speaker for t in turns) for speaker in speakers
            },
            "longest_monologue": find_longest_monologue(turns),
            "question_rate": compute_question_rate(turns),
            "interruptions": count_interruptions(turns, cfg.interruption_words_per_second),
            "reps": sorted(reps),
        }
        tips = build_coaching_tips(
            {**coaching, "talk_ratio": talk_ratio},
            cfg,
            reps=reps,
            n_speakers=len(speakers),
            has_next_step=bool(hits["next_step"]) or bool(action_items),
            competitor_alerts=alerts,
            objection_count=len({hit["turn_index"] for hit in hits["objection"]}),
        )
        lap("moments_coaching")
        return ConversationAnalysis(
            summary=summary.text,
            summary_method=summary.method,
            topics=[topic.to_dict() for topic in topics],
            sentiment_by_speaker=by_speaker,
            overall_sentiment=overall,
            action_items=action_items,
            key_moments=key_moments,
            competitor_mentions=mentions,
            alerts=alerts,
            coaching=coaching,
            coaching_tips=tips,
            speakers=speakers,
            participants=participant_list,
            meeting_type=meeting_type,
            n_turns=len(turns),
            word_count=sum(turn.word_count for turn in turns),
            duration_seconds=measure_duration(turns),
            transcript=format_transcript(turns),
            timings_ms=timings,
        )


# --------------------------------------------------------------------------------------------
# API body and storage
# --------------------------------------------------------------------------------------------
