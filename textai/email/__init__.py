"""Email AI: composition with tone and CRM personalisation, replies, subjects, templates.

* :mod:`textai.email.compose`: :func:`compose_email` (prompt variables, model call, guard rails).
* :mod:`textai.email.personalisation`: :func:`build_personalisation`, :func:`load_crm_context`.
* :mod:`textai.email.model_answers`: subject/body parsing and placeholder resolution.
* :mod:`textai.email.replies`: :func:`suggest_replies`.
* :mod:`textai.email.subjects`: :func:`optimize_subject`, :class:`SubjectScorer` (a
  hand-weighted heuristic unless fitted on real outcomes; see the module docstring).
* :mod:`textai.email.sentiment`: :func:`analyze_email_sentiment`.
* :mod:`textai.email.templates`: :func:`mine_templates`.

The writing rules the email AI shares with the offline provider live in the LLM layer, which
never imports this package: tone markers (:mod:`textai.llm.email_tone`), subject rewrites
(:mod:`textai.llm.subject_rewrites`), keyword sentiment and reply-intent order
(:mod:`textai.llm.incoming_email`) and retrieval over the successful-email corpus
(:mod:`textai.llm.email_index`).

Every function that needs an LLM takes a ``generate(prompt_name, variables) -> str``
dependency, so the LLM service, the offline provider and test doubles are interchangeable.
Nothing is loaded at import time.
"""

from textai.email.compose import compose_email
from textai.email.models import (
    EmailContext,
    EmailDraft,
    GenerateFn,
    PersonalisationFact,
    PreviousEmail,
    Recipient,
    ReplySuggestion,
)
from textai.email.personalisation import build_personalisation, load_crm_context
from textai.email.replies import suggest_replies
from textai.email.sentiment import analyze_email_sentiment
from textai.email.subjects import (
    ScoredSubject,
    SubjectScorer,
    SubjectVariants,
    optimize_subject,
)
from textai.email.templates import EmailTemplate, mine_templates

__all__ = [
    "EmailContext",
    "EmailDraft",
    "EmailTemplate",
    "GenerateFn",
    "PersonalisationFact",
    "PreviousEmail",
    "Recipient",
    "ReplySuggestion",
    "ScoredSubject",
    "SubjectScorer",
    "SubjectVariants",
    "analyze_email_sentiment",
    "build_personalisation",
    "compose_email",
    "load_crm_context",
    "mine_templates",
    "optimize_subject",
    "suggest_replies",
]
