"""Conversation analysis (``POST /api/ai/conversation/analyze``): the analyzer and its result.

:class:`ConversationAnalyzer` turns a transcript into a :class:`ConversationAnalysis`:

* ``summary``: extractive MiniLM summary (optionally rewritten by an injected LLM provider),
  see :mod:`textai.conversation.summarize`;
* ``topics``: TextTiling segments labelled with TF-IDF keywords
  (:mod:`textai.conversation.topics`);
* ``sentiment_by_speaker``: per speaker, the mean turn score in [-1, 1] (``P(positive) -
  P(negative)`` of the sentiment model) and a time series over turn windows; plus
  ``overall_sentiment`` (:mod:`textai.conversation.speaker_sentiment`);
* ``action_items``: sentences the action-item classifier (trained on the email-intent data)
  marks positive, with speaker, turn, probability, an owner guess and a due phrase
  (:mod:`textai.conversation.action_items`);
* ``key_moments``: sentiment swings, competitor mentions, pricing/objection/next-step mentions
  and price questions, each with its turn and reason (:mod:`textai.conversation.key_moments`);
* ``competitor_mentions`` and ``alerts`` (competitor list from ``configs/conversation.yaml``,
  :mod:`textai.conversation.competitors`);
* ``coaching``: talk ratio (share of words), longest monologue, question rate (per minute with
  timestamps, else per 100 turns), interruption-like quick switches, and ``coaching_tips``
  (:mod:`textai.conversation.coaching`).

The analysis is stored by :func:`textai.conversation.insight_store.store_conversation_insight`
and served by :func:`textai.conversation.request.analyze_request`.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from textai.conversation.action_items import ActionItemModelLike, extract_action_items
from textai.conversation.coaching import build_coaching_tips, measure_coaching
from textai.conversation.competitors import build_competitor_alerts, find_competitor_mentions
from textai.conversation.config import (
    ConversationConfig,
    load_conversation_config,
    parse_competitors,
)
from textai.conversation.key_moments import (
    collect_key_moments,
    compile_keyword_patterns,
    find_keyword_hits,
)
from textai.conversation.participants import identify_reps
from textai.conversation.speaker_sentiment import (
    SentimentModelLike,
    score_speakers,
    score_turns,
    summarize_overall_sentiment,
)
from textai.conversation.summarize import (
    Embedder,
    RequestBuilder,
    build_units,
    summarize_abstractive,
    summarize_extractive,
)
from textai.conversation.talk_metrics import compute_talk_ratio, measure_duration
from textai.conversation.topics import detect_topics, pool_turn_embeddings
from textai.conversation.transcript import format_transcript, parse_transcript


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
        self._patterns = compile_keyword_patterns(self.config)

    @classmethod
    def from_settings(
        cls,
        settings: Any = None,
        *,
        config_path: str | Path | None = None,
        llm: Any = None,
    ) -> ConversationAnalyzer:
        """Build the analyzer from the trained text models and ``configs/conversation.yaml``.

        Never trains (serving must not): the sentiment and action-item models are loaded from
        :func:`training.text.registry.trained_text_model_paths`, which the text-models flow
        (``haste train-text``) fills; tests that need them call
        :func:`training.text.registry.ensure_text_models` first.

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
        scores, mean_proba = score_turns(self.sentiment_model, turns)
        by_speaker = score_speakers(
            turns,
            scores,
            max_points=cfg.sentiment_max_points,
            label_threshold=cfg.label_threshold,
        )
        overall = summarize_overall_sentiment(
            scores, mean_proba, label_threshold=cfg.label_threshold
        )
        lap("sentiment")
        action_items = extract_action_items(
            self.action_item_model,
            turns,
            units,
            participant_list,
            cfg,
            vectors if self._uses_default_embedder else None,
        )
        lap("action_items")
        reps = identify_reps(speakers, participant_list, cfg.rep_roles)
        hits = find_keyword_hits(turns, units, self._patterns, reps)
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
        key_moments = collect_key_moments(
            turns,
            scores,
            hits,
            mentions,
            limit=cfg.max_moments_per_type,
            swing_threshold=cfg.swing_threshold,
        )
        coaching = measure_coaching(
            turns, speakers, reps, interruption_words_per_second=cfg.interruption_words_per_second
        )
        tips = build_coaching_tips(
            {**coaching, "talk_ratio": compute_talk_ratio(turns)},
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
