"""Subject-line optimisation: rule-based variants (:mod:`textai.llm.subject_rewrites`), scored.

**What the scorer is (and is not).** No real data set pairing subject lines with open or reply
outcomes exists in ``../shared/datasets`` (its INDEX.md lists churn, leads, CRM deals, bank
telemarketing, sentiment, email-intent sentences and meeting/dialogue summaries; none has
subject lines with opens). The seed email corpus's open/reply counts are hand-set illustrations,
so training on them would only learn the author's guesses. The default :class:`SubjectScorer`
is therefore a **hand-weighted heuristic, not a fitted model**: each feature moves the score in
the direction commonly reported by email-marketing studies (personalisation with the name or
company helps; mobile clients truncate subjects past roughly 40-50 characters, so 30-50 is the
target band; spam-trigger words, ALL CAPS, exclamation marks and fake ``Re:``/``Fwd:`` hurt;
a question or a concrete number helps a little). The weights' magnitudes are judgement calls,
not estimates, and every score comes with the reasons that produced it.

**Trained on real data where available.** :meth:`SubjectScorer.fit` fits a logistic regression
on the same interpretable features from real outcomes (subject, opened or replied), and
:meth:`SubjectScorer.from_crm` does so from CRM email activities that log ``details.opened`` /
``details.opens`` / ``details.outcome``, when at least ``min_samples`` such emails with both
outcomes exist. Until then ``from_crm`` returns the heuristic, and ``trained_on`` says which
one is in use.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from pydantic import BaseModel, Field

from textai.errors import GenerationError
from textai.llm.subject_rewrites import (
    MAX_SUBJECT_CHARS,
    SPAM_PHRASES,
    TARGET_MAX_CHARS,
    TARGET_MIN_CHARS,
    SubjectVariant,
    clean_subject,
    coerce_subject_context,
    generate_subject_variants,
    is_shouting,
)

logger = logging.getLogger(__name__)

#: Subjects longer than this are cut off by mobile mail clients.
TRUNCATION_CHARS = 60
#: Fewest labelled emails :meth:`SubjectScorer.fit` accepts.
MIN_FIT_SAMPLES = 200


class ScoredSubject(BaseModel):
    """A subject line with its score.

    Attributes:
        text: The subject line.
        score: Predicted relative appeal in [0, 1] (higher is better; not an open rate).
        rule: Which rewrite produced it (``original`` for the input).
        reasons: Feature-by-feature explanation of the score.
    """

    text: str
    score: float = Field(ge=0.0, le=1.0)
    rule: str
    reasons: list[str] = Field(default_factory=list)


class SubjectVariants(BaseModel):
    """The result of :func:`optimize_subject`.

    Attributes:
        original: The input subject, scored.
        variants: Rewrites sorted by score (best first; ties by text).
        best: The best of the original and the variants.
        scorer: What the scorer is (``heuristic ...`` or ``logistic regression on ...``).
    """

    original: ScoredSubject
    variants: list[ScoredSubject]
    best: ScoredSubject
    scorer: str


@dataclass(frozen=True)
class SubjectFeatures:
    """Interpretable features of a subject line.

    Attributes:
        n_chars: Length in characters.
        n_words: Length in words.
        in_target_band: 30-50 characters.
        truncated_on_mobile: Longer than 60 characters.
        too_short: Under 15 characters.
        has_first_name: Contains the recipient's first name.
        has_company: Contains the recipient's company.
        is_question: Ends with a question mark.
        has_number: Contains a digit.
        spam_phrases: Spam-trigger phrases found.
        shouting_words: Words in capitals (not acronyms).
        exclamations: Exclamation marks.
        fake_reply: Starts with ``Re:``/``Fwd:``.
    """

    n_chars: int
    n_words: int
    in_target_band: bool
    truncated_on_mobile: bool
    too_short: bool
    has_first_name: bool
    has_company: bool
    is_question: bool
    has_number: bool
    spam_phrases: tuple[str, ...]
    shouting_words: int
    exclamations: int
    fake_reply: bool

    def to_vector(self) -> np.ndarray:
        """Return the numeric feature vector used by the fitted model."""
        return np.array(
            [
                float(self.in_target_band),
                float(self.truncated_on_mobile),
                float(self.too_short),
                float(self.has_first_name),
                float(self.has_company),
                float(self.is_question),
                float(self.has_number),
                float(min(len(self.spam_phrases), 3)),
                float(min(self.shouting_words, 3)),
                float(min(self.exclamations, 3)),
                float(self.fake_reply),
            ]
        )


FEATURE_NAMES: tuple[str, ...] = (
    "30-50 characters",
    "truncated on mobile (> 60 characters)",
    "very short (< 15 characters)",
    "recipient's first name",
    "recipient's company",
    "question",
    "concrete number",
    "spam-trigger phrases",
    "words in capitals",
    "exclamation marks",
    "fake Re:/Fwd: prefix",
)


def extract_subject_features(subject: str, context: Any = None) -> SubjectFeatures:
    """Compute the interpretable features of a subject line.

    Args:
        subject: The subject line.
        context: Recipient context (for personalisation features).

    Returns:
        The features.
    """
    ctx = coerce_subject_context(context)
    text = (subject or "").strip()
    lower = text.lower()
    spam = tuple(
        phrase for phrase in SPAM_PHRASES if re.search(rf"(?<!\w){re.escape(phrase)}(?!\w)", lower)
    )
    return SubjectFeatures(
        n_chars=len(text),
        n_words=len(text.split()),
        in_target_band=TARGET_MIN_CHARS <= len(text) <= TARGET_MAX_CHARS,
        truncated_on_mobile=len(text) > TRUNCATION_CHARS,
        too_short=0 < len(text) < 15,
        has_first_name=bool(ctx.first_name and _contains_word(lower, ctx.first_name)),
        has_company=bool(ctx.company and _contains_word(lower, ctx.company)),
        is_question=text.endswith("?"),
        has_number=bool(re.search(r"\d", text)),
        spam_phrases=spam,
        shouting_words=sum(is_shouting(word) for word in text.split()),
        exclamations=text.count("!"),
        fake_reply=bool(re.match(r"^\s*(re|fwd?|fw)\s*:", lower)),
    )


def _contains_word(lower_text: str, value: str) -> bool:
    """Return whether ``value`` occurs in ``lower_text`` on word boundaries."""
    return bool(re.search(rf"(?<!\w){re.escape(value.lower().strip())}(?!\w)", lower_text))


#: Hand-set heuristic weights (see the module docstring): (feature index, weight, reason).
HEURISTIC_WEIGHTS: tuple[tuple[int, float, str], ...] = (
    (0, 0.10, "length in the 30-50 character band"),
    (1, -0.10, "likely truncated on mobile (over 60 characters)"),
    (2, -0.05, "very short; may read as vague"),
    (3, 0.08, "personalised with the first name"),
    (4, 0.06, "mentions the recipient's company"),
    (5, 0.04, "question form invites a reply"),
    (6, 0.03, "concrete number adds specificity"),
    (7, -0.12, "spam-trigger phrase"),
    (8, -0.08, "words in capitals read as shouting"),
    (9, -0.06, "exclamation marks read as promotional"),
    (10, -0.10, "fake Re:/Fwd: prefix is deceptive"),
)
HEURISTIC_BASE = 0.5


class SubjectScorer:
    """Scores subject lines in [0, 1] with reasons: a heuristic, or a model fitted on outcomes.

    Args:
        model: A fitted ``sklearn`` logistic regression on :meth:`SubjectFeatures.to_vector`
            (``None``: the hand-weighted heuristic).
        trained_on: Description of the data the model was fitted on.
    """

    def __init__(self, model: Any = None, *, trained_on: str | None = None) -> None:
        self.model = model
        self.trained_on = trained_on or (
            "heuristic: hand-set weights from published email-marketing guidance "
            "(no real subject-line outcome data available; not fitted)"
        )

    @property
    def is_fitted(self) -> bool:
        """Whether scores come from a model fitted on real outcomes."""
        return self.model is not None

    def score(self, subject: str, context: Any = None) -> ScoredSubject:
        """Score one subject line.

        Args:
            subject: The subject line.
            context: Recipient context (personalisation features).

        Returns:
            The scored subject (``rule="original"``; callers overwrite it).
        """
        features = extract_subject_features(subject, context)
        vector = features.to_vector()
        if not subject or not subject.strip():
            return ScoredSubject(text=subject or "", score=0.0, rule="original", reasons=["empty"])
        if self.model is not None:
            probability = float(self.model.predict_proba(vector.reshape(1, -1))[0, 1])
            contributions = self.model.coef_[0] * vector
            reasons = [
                f"{FEATURE_NAMES[i]} ({'+' if c > 0 else ''}{c:.2f} log-odds)"
                for i, c in sorted(enumerate(contributions), key=lambda p: -abs(p[1]))
                if abs(c) > 1e-6
            ]
            return ScoredSubject(
                text=subject, score=round(probability, 4), rule="original", reasons=reasons
            )
        total = HEURISTIC_BASE
        reasons: list[str] = []
        for index, weight, reason in HEURISTIC_WEIGHTS:
            value = vector[index]
            if value:
                total += weight * value
                label = reason
                if index == 7:
                    label = f"{reason}: {', '.join(features.spam_phrases)}"
                reasons.append(f"{label} ({'+' if weight > 0 else ''}{weight * value:.2f})")
        return ScoredSubject(
            text=subject,
            score=round(min(1.0, max(0.0, total)), 4),
            rule="original",
            reasons=reasons,
        )

    def fit(
        self,
        subjects: Sequence[str],
        outcomes: Sequence[int | bool],
        contexts: Sequence[Any] | None = None,
        *,
        trained_on: str,
        min_samples: int = MIN_FIT_SAMPLES,
    ) -> SubjectScorer:
        """Fit a logistic regression on real outcomes (1 = opened/replied).

        Args:
            subjects: Subject lines that were actually sent.
            outcomes: Their outcomes (1/True = opened or replied).
            contexts: Recipient contexts, aligned with ``subjects`` (optional).
            trained_on: Description of the data, reported by :attr:`trained_on`.
            min_samples: Minimum number of emails.

        Returns:
            ``self``, fitted.

        Raises:
            ValueError: With fewer than ``min_samples`` emails or a single outcome class.
        """
        from sklearn.linear_model import LogisticRegression

        if len(subjects) != len(outcomes):
            raise ValueError("subjects and outcomes must have the same length")
        labels = np.asarray([int(bool(o)) for o in outcomes])
        if len(subjects) < min_samples or len(set(labels.tolist())) < 2:
            raise ValueError(
                f"need >= {min_samples} emails with both outcomes to fit, got {len(subjects)}"
            )
        ctxs = contexts if contexts is not None else [None] * len(subjects)
        matrix = np.vstack(
            [
                extract_subject_features(s, c).to_vector()
                for s, c in zip(subjects, ctxs, strict=True)
            ]
        )
        model = LogisticRegression(C=1.0, class_weight="balanced", max_iter=1000)
        model.fit(matrix, labels)
        self.model = model
        self.trained_on = f"logistic regression on {len(subjects)} real emails: {trained_on}"
        return self

    @classmethod
    def from_crm(
        cls, database_url: str | None = None, *, min_samples: int = MIN_FIT_SAMPLES
    ) -> SubjectScorer:
        """Fit on the CRM's sent emails when enough logged outcomes exist, else the heuristic.

        An outbound email activity counts when its ``details`` logs ``opened`` (bool),
        ``opens`` (count) or an ``outcome``; the label is opened (or replied).

        Args:
            database_url: Database URL; defaults to the configured one.
            min_samples: Minimum number of labelled emails.

        Returns:
            A fitted scorer, or the heuristic one (``is_fitted`` False).
        """
        subjects, labels = _load_crm_subject_outcomes(database_url)
        scorer = cls()
        if len(subjects) >= min_samples and len(set(labels)) == 2:
            try:
                return scorer.fit(
                    subjects,
                    labels,
                    trained_on="CRM email activities (opened/replied)",
                    min_samples=min_samples,
                )
            except ValueError as exc:
                logger.warning("subject scorer not fitted: %s", exc)
        return scorer


def _load_crm_subject_outcomes(database_url: str | None) -> tuple[list[str], list[int]]:
    """Return (subject, opened-or-replied) pairs logged on CRM email activities."""
    from sqlalchemy import select
    from sqlalchemy.exc import SQLAlchemyError

    from haste.db import Activity, session_scope

    subjects: list[str] = []
    labels: list[int] = []
    try:
        with session_scope(database_url) as session:
            stmt = select(Activity.subject, Activity.details).where(Activity.type == "email")
            for subject, details in session.execute(stmt):
                if not subject or not isinstance(details, dict):
                    continue
                if str(details.get("direction", "outbound")) != "outbound":
                    continue
                label = _outcome_label(details)
                if label is not None:
                    subjects.append(subject)
                    labels.append(label)
    except SQLAlchemyError as exc:
        logger.warning("could not read CRM subject outcomes: %s", exc)
    return subjects, labels


def _outcome_label(details: Mapping[str, Any]) -> int | None:
    """Return 1 (opened/replied), 0 (sent, no response) or ``None`` (no outcome logged)."""
    if "opened" in details:
        return int(bool(details["opened"]))
    if "opens" in details:
        try:
            return int(int(details["opens"]) > 0)
        except (TypeError, ValueError):
            return None
    outcome = details.get("outcome")
    if outcome in ("replied", "meeting_booked", "won", "opened"):
        return 1
    if outcome in ("no_response", "bounced", "unopened"):
        return 0
    return None


def parse_subject_lines(text: str) -> list[str]:
    """Parse subject lines from model output (one per line; bullets, numbers, quotes removed).

    Args:
        text: The model's answer.

    Returns:
        Non-empty subject lines in order, without duplicates.
    """
    lines: list[str] = []
    for raw in (text or "").splitlines():
        line = re.sub(r"^\s*(?:[-*•]|\d+[.)]|subject\s*:)\s*", "", raw, flags=re.IGNORECASE)
        line = line.strip().strip("\"'“”").strip()
        if line and line.lower() not in {existing.lower() for existing in lines}:
            lines.append(line[:MAX_SUBJECT_CHARS])
    return lines


SubjectGenerate = Callable[[str, dict[str, Any]], str]


def optimize_subject(
    subject: str,
    context: Any = None,
    *,
    n: int = 5,
    scorer: SubjectScorer | None = None,
    generate: SubjectGenerate | None = None,
    prompt_name: str = "subject_variants",
) -> SubjectVariants:
    """Score a subject line, propose rewrites and rank them.

    Args:
        subject: The subject line.
        context: Recipient/email context (see :func:`coerce_subject_context`).
        n: Number of variants to return.
        scorer: The scorer (defaults to the heuristic :class:`SubjectScorer`).
        generate: Optional LLM call ``(prompt_name, variables) -> text``; its lines are added
            as ``llm`` variants next to the rule-based ones (an unavailable LLM only loses
            those; consent, budget and validation errors propagate).
        prompt_name: Prompt used with ``generate``.

    Returns:
        The scored original and the variants, best first.
    """
    scorer = scorer or SubjectScorer()
    ctx = coerce_subject_context(context)
    candidates = generate_subject_variants(subject, ctx, n=max(n, 8))
    if generate is not None and subject.strip():
        variables = {
            "subject": subject.strip()[:300],
            "first_name": ctx.first_name or "",
            "company": ctx.company or "",
            "product": ctx.product or "",
            "purpose": ctx.purpose or "",
            "pain_point": ctx.pain_point or "",
            "n": max(1, min(n, 10)),
        }
        try:
            llm_lines = parse_subject_lines(generate(prompt_name, variables))
        except GenerationError as exc:  # LLM unavailable: keep the rule-based variants
            logger.warning("subject variant generation failed: %s", exc)
            llm_lines = []
        known = {c.text.lower() for c in candidates} | {subject.strip().lower()}
        for line in llm_lines:
            cleaned = clean_subject(line)
            if cleaned and cleaned.lower() not in known:
                known.add(cleaned.lower())
                candidates.append(SubjectVariant(cleaned, "llm"))
    original = scorer.score(subject, ctx)
    scored = []
    for candidate in candidates:
        result = scorer.score(candidate.text, ctx)
        scored.append(result.model_copy(update={"rule": candidate.rule}))
    scored.sort(key=lambda item: (-item.score, item.text))
    top = scored[:n]
    best = max([original, *top], key=lambda item: (item.score, item.rule == "original"))
    return SubjectVariants(original=original, variants=top, best=best, scorer=scorer.trained_on)
