"""Email AI without models: tone, personalisation, guard rails, subjects, templates, corpus."""

from __future__ import annotations

import datetime as dt
import hashlib
import re
from collections.abc import Sequence
from typing import Any

import numpy as np
import pytest

from haste.settings import Settings
from pipelines.corpora.emails import (
    PLACEHOLDER_DEFAULTS,
    PURPOSES,
    TONES,
    SuccessfulEmail,
    fill_placeholders,
    harvest_crm_emails,
    infer_purpose,
    infer_tone,
    load_seed_corpus,
    normalise_purpose,
)
from textai.email.compose import compose_email
from textai.email.model_answers import parse_email_text, resolve_placeholders
from textai.email.models import EmailContext, PreviousEmail, Recipient
from textai.email.personalisation import build_personalisation
from textai.email.replies import ensure_acknowledgement, suggest_replies
from textai.email.sentiment import analyze_email_sentiment
from textai.email.subjects import (
    SubjectScorer,
    extract_subject_features,
    optimize_subject,
    parse_subject_lines,
)
from textai.email.templates import abstract_email_text, mine_templates
from textai.llm.email_index import EmailIndex
from textai.llm.incoming_email import estimate_lexicon_sentiment, rank_reply_intents
from textai.llm.offline_reading import (
    detect_task,
    detect_task_from_text,
    extract_example_blocks,
    parse_list_block,
    parse_prompt_variables,
    split_incoming_block,
    truncate_tokens,
)
from textai.llm.providers import LLMRequest
from textai.llm.subject_rewrites import SPAM_PHRASES, generate_subject_variants

KNOWN_PLACEHOLDERS = set(PLACEHOLDER_DEFAULTS)
LEFTOVER = re.compile(r"\{[^}]*\}|\[[A-Z][A-Za-z_ ]*\d*\]")


def hashed_embed(texts: Sequence[str]) -> np.ndarray:
    """Deterministic bag-of-words embedding (no model): hashed word counts, L2-normalised."""
    vectors = np.zeros((len(texts), 256), dtype=np.float32)
    for row, text in enumerate(texts):
        for word in re.findall(r"[a-z]+", text.lower()):
            vectors[row, int(hashlib.md5(word.encode()).hexdigest(), 16) % 256] += 1.0
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return vectors / np.where(norms > 0, norms, 1.0)


class FakeLLM:
    """Test double for ``generate``: records calls and answers from a script."""

    def __init__(self, answer: str | None = None) -> None:
        self.answer = answer
        self.calls: list[tuple[str, dict[str, Any]]] = []

    def __call__(self, prompt_name: str, variables: dict[str, Any]) -> str:
        self.calls.append((prompt_name, variables))
        if self.answer is not None:
            return self.answer
        if prompt_name == "email_reply":
            return f"Hello,\n\nReply with intent {variables['intent']}.\n\nThanks,\nMe"
        return (
            f"Subject: A note for {variables['company']}\n\n"
            f"Hey {variables['recipient_name']}!\n\n"
            "I'm writing because we've helped teams like yours cut admin work. "
            "Would a short call next week work?\n\n"
            f"Thanks!\n{variables['sender_name']}"
        )


@pytest.fixture()
def context() -> EmailContext:
    return EmailContext(
        recipient=Recipient(
            contact_id="0b7c5c1e-5a4e-4d7a-9a53-6f1c2f3e4d51",
            first_name="Ada",
            last_name="Lovelace",
            email="ada@acme.example",
            title="VP Sales",
            company="Acme",
            industry="fintech",
        ),
        purpose="renewal",
        tone="formal",
        sender_name="Bob Stone",
        product="hasteCRM",
        pain_point="manual lead routing",
    )


CRM_FACTS: dict[str, Any] = {
    "industry": "fintech",
    "employee_count": 250,
    "last_activity": {
        "type": "call",
        "subject": "Pricing discussion",
        "occurred_at": dt.datetime(2025, 3, 3, 10, 0, tzinfo=dt.UTC),
    },
    "lead_score": 85,
    "deal_stage": "proposal",
}


# -- compose: tone, personalisation, guard rails --------------------------------------------


@pytest.mark.parametrize(
    ("tone", "greeting", "sign_off"),
    [
        ("formal", "Dear Ada,", "Kind regards,"),
        ("casual", "Hi Ada,", "Cheers,"),
        ("friendly", "Hi Ada,", "Best,"),
    ],
)
def test_compose_enforces_tone_markers(
    context: EmailContext, tone: str, greeting: str, sign_off: str
) -> None:
    context = context.model_copy(update={"tone": tone})
    llm = FakeLLM()
    draft = compose_email(context, llm)
    paragraphs = draft.body.split("\n\n")
    assert paragraphs[0] == greeting
    assert draft.body.endswith(f"{sign_off}\nBob Stone")
    assert draft.tone == tone
    assert "Hey Ada" not in draft.body and "Thanks!" not in draft.body
    assert llm.calls[0][0] == "email_compose" and llm.calls[0][1]["tone"] == tone
    if tone == "formal":
        assert "I'm" not in draft.body and "we've" not in draft.body and "!" not in draft.body
        assert "I am writing" in draft.body
    if tone == "friendly":
        assert paragraphs[1].startswith("I hope")
    assert draft.subject == "A note for Acme"


def test_build_personalisation_reads_crm_facts(context: EmailContext) -> None:
    facts = build_personalisation(context, CRM_FACTS)
    keys = [fact.key for fact in facts]
    assert keys == ["last_activity", "industry", "company_size", "deal_stage", "lead_score"]
    by_key = {fact.key: fact for fact in facts}
    assert by_key["last_activity"].sentence == (
        'Thank you again for our call on 3 March about "Pricing discussion".'
    )
    assert "fintech" in by_key["industry"].sentence and "Acme" in by_key["industry"].sentence
    assert "250" in by_key["company_size"].sentence
    assert by_key["lead_score"].is_internal and "hot" in by_key["lead_score"].value
    assert "proposal" in by_key["deal_stage"].sentence


def test_previous_email_is_a_fact_without_last_activity(context: EmailContext) -> None:
    context = context.model_copy(
        update={"previous_emails": [PreviousEmail(subject="Renewal options", body="...")]}
    )
    facts = build_personalisation(context, {})
    assert [f.key for f in facts] == ["previous_email", "industry"]


def test_compose_personalises_with_crm_facts(context: EmailContext) -> None:
    llm = FakeLLM()
    draft = compose_email(context, llm, crm_facts=CRM_FACTS)
    variables = llm.calls[0][1]
    assert any("3 March" in s for s in variables["personalisation"])
    assert variables["call_to_action"].startswith("Would you have 20 minutes")
    assert "85" not in " ".join(variables["personalisation"])  # the score stays internal
    # The fake model ignored the facts: the first one is inserted and flagged.
    assert "Thank you again for our call on 3 March" in draft.body
    assert "last_activity" in draft.personalisation_used
    assert "personalisation added: last_activity" in draft.warnings


def test_compose_reports_facts_the_model_used(context: EmailContext) -> None:
    answer = (
        "Subject: Your renewal\n\nDear Ada,\n\nAs a fintech team of 250 people, Acme has grown "
        "a lot this year. Would you have 20 minutes this week to talk through next steps?\n\n"
        "Kind regards,\nBob Stone"
    )
    draft = compose_email(context, FakeLLM(answer), crm_facts=CRM_FACTS)
    assert {"industry", "company_size", "lead_score"} <= set(draft.personalisation_used)
    assert not any(w.startswith("personalisation added") for w in draft.warnings)


def test_compose_resolves_leftover_placeholders(context: EmailContext) -> None:
    answer = (
        "Subject: Renewal for [COMPANY]\n\nDear [PERSON_1],\n\nYour {{ product }} plan at "
        "{company} renews on {date}. [PERSON_2] will call you.\n\nKind regards,\n[Your Name]"
    )
    draft = compose_email(context, FakeLLM(answer))
    assert not LEFTOVER.search(draft.body) and not LEFTOVER.search(draft.subject)
    assert draft.subject == "Renewal for Acme"
    assert "Your hasteCRM plan at Acme renews soon. A colleague will call you." in draft.body
    assert draft.body.endswith("Kind regards,\nBob Stone")
    placeholder_warnings = [w for w in draft.warnings if w.startswith("unresolved placeholder")]
    assert len(placeholder_warnings) == 7


def test_compose_cuts_long_bodies_and_flags_short_ones(context: EmailContext) -> None:
    long_body = " ".join(f"Sentence number {i} is here." for i in range(200))
    draft = compose_email(context, FakeLLM(f"Subject: Long\n\nDear Ada,\n\n{long_body}"))
    assert draft.word_count <= 220 and "body cut to 220 words" in draft.warnings
    assert draft.body.endswith("Kind regards,\nBob Stone")
    short = compose_email(context, FakeLLM("Subject: Hi\n\nOk."), min_words=40, max_words=100)
    assert any(w.startswith("body is short") for w in short.warnings)
    with pytest.raises(ValueError, match="min_words"):
        compose_email(context, FakeLLM(), min_words=300, max_words=100)
    with pytest.raises(ValueError, match="no text"):
        compose_email(context, FakeLLM("   "))


def test_compose_missing_subject_gets_purpose_default(context: EmailContext) -> None:
    draft = compose_email(context, FakeLLM("Dear Ada,\n\nYour renewal is due.\n\nBob"))
    assert draft.subject == "Your upcoming renewal"
    assert "no subject line in the answer: purpose default used" in draft.warnings


class FakeRetriever:
    def __init__(self, emails: list[SuccessfulEmail]) -> None:
        self.emails = emails
        self.queries: list[tuple[str, str | None, str | None]] = []

    def search(
        self, query: str, *, k: int = 3, purpose: str | None = None, tone: str | None = None
    ) -> list[SuccessfulEmail]:
        self.queries.append((query, purpose, tone))
        return self.emails[:k]


def test_compose_sends_retrieved_examples(context: EmailContext) -> None:
    corpus = [e for e in load_seed_corpus() if e.purpose == "renewal"][:3]
    retriever = FakeRetriever(corpus)
    llm = FakeLLM()
    draft = compose_email(context, llm, retriever=retriever, n_examples=2)
    assert [e["id"] for e in llm.calls[0][1]["examples"]] == [corpus[0].id, corpus[1].id]
    assert draft.template_id == corpus[0].id and draft.sources == [corpus[0].id, corpus[1].id]
    query, purpose, tone = retriever.queries[0]
    assert purpose == "renewal" and tone == "formal" and "manual lead routing" in query


def test_parse_and_resolve_helpers() -> None:
    assert parse_email_text("**Subject:** Hello there\n\nBody text") == ("Hello there", "Body text")
    assert parse_email_text("```\nSubject: X\nBody: Y\n```") == ("X", "Y")
    assert parse_email_text("Just a body") == (None, "Just a body")
    text, warnings = resolve_placeholders(
        "Hi <first_name>, see [here](http://x)", {"first_name": "Ada"}
    )
    assert text == "Hi Ada, see [here](http://x)" and len(warnings) == 1


# -- replies and sentiment ------------------------------------------------------------------


class FixedSentimentModel:
    def __init__(self, row: Sequence[float]) -> None:
        self.row = list(row)

    def predict_proba(self, texts: Sequence[str]) -> np.ndarray:
        return np.array([self.row] * len(texts))


def test_analyze_email_sentiment_with_a_model_and_the_fallback() -> None:
    result = analyze_email_sentiment(["a", "b"], FixedSentimentModel([0.7, 0.2, 0.1]))
    assert [r["label"] for r in result] == ["negative", "negative"]
    assert result[0]["score"] == pytest.approx(-0.6) and result[0]["source"] == "model"
    assert set(result[0]["probabilities"]) == {"negative", "neutral", "positive"}
    assert analyze_email_sentiment([], None) == []
    angry = estimate_lexicon_sentiment("This is unacceptable, I am frustrated and angry.")
    assert angry["label"] == "negative" and angry["source"] == "lexicon"
    assert estimate_lexicon_sentiment("Please send the file.")["label"] == "neutral"
    with pytest.raises(ValueError, match="shape"):
        analyze_email_sentiment(["a"], FixedSentimentModel([1.0, 0.0]))


ANGRY = (
    "This is unacceptable. We have been waiting two weeks for the fix and nobody replies to "
    "our tickets.\n\nTom"
)


def test_suggest_replies_acknowledge_negative_emails_first() -> None:
    llm = FakeLLM()
    replies = suggest_replies(
        ANGRY, llm, n=3, sentiment_model=FixedSentimentModel([0.9, 0.05, 0.05]), sender_name="Bob"
    )
    assert [r.intent for r in replies] == ["ask_info", "schedule", "accept"]
    for reply in replies:
        assert reply.sentiment == "negative" and reply.acknowledged
        body = reply.text.split("\n\n", 1)[1]
        assert re.match(r"I'm sorry", body)
    assert llm.calls[0][1]["recipient_name"] == "Tom" and llm.calls[0][1]["acknowledge"] is True


def test_suggest_replies_orders_intents_and_validates() -> None:
    text = "Could we meet on Thursday to go through the proposal?"
    replies = suggest_replies(text, FakeLLM(), n=2, sentiment_model=None)
    assert [r.intent for r in replies] == ["schedule", "accept"]
    assert not any(r.acknowledged for r in replies)
    assert rank_reply_intents("What is the price? How many seats?", "neutral")[0] == "accept"
    with pytest.raises(ValueError):
        suggest_replies("", FakeLLM())
    with pytest.raises(ValueError):
        suggest_replies("hi", FakeLLM(), n=5)
    text, inserted = ensure_acknowledgement("Hi Tom,\n\nSorry about that. We fixed it.")
    assert not inserted and text.startswith("Hi Tom,")


# -- subjects -------------------------------------------------------------------------------

SUBJECT_CONTEXT = {
    "first_name": "Ada",
    "company": "Acme",
    "product": "hasteCRM",
    "purpose": "renewal",
}


def test_subject_variants_are_distinct_and_follow_their_rules() -> None:
    original = "Following up on our renewal discussion"
    variants = generate_subject_variants(original, SUBJECT_CONTEXT, n=8)
    texts = [v.text.lower() for v in variants]
    assert len(texts) == len(set(texts)) >= 6 and original.lower() not in texts
    by_rule = {v.rule: v.text for v in variants}
    assert len(by_rule["shorter"]) < len(original)
    assert len(by_rule["longer_specific"]) > len(original)
    assert by_rule["personalise_name"].startswith("Ada, ")
    assert "Acme" in by_rule["personalise_company"]
    assert by_rule["question"].endswith("?")
    assert re.search(r"\d", by_rule["specific_number"])
    assert all(len(v.text) <= 78 for v in variants)
    assert generate_subject_variants(original, SUBJECT_CONTEXT, n=2) == variants[:2]


def test_subject_variants_drop_spam_and_shouting() -> None:
    variants = generate_subject_variants("FREE upgrade!!! Act now", SUBJECT_CONTEXT, n=6)
    assert variants
    for variant in variants:
        lower = variant.text.lower()
        assert "!" not in variant.text and "FREE" not in variant.text
        assert not any(re.search(rf"(?<!\w){re.escape(p)}(?!\w)", lower) for p in SPAM_PHRASES)


def test_subject_scorer_is_an_explained_heuristic() -> None:
    scorer = SubjectScorer()
    assert not scorer.is_fitted and "heuristic" in scorer.trained_on
    assert "not fitted" in scorer.trained_on
    spam = scorer.score("FREE upgrade!!! ACT NOW", SUBJECT_CONTEXT)
    good = scorer.score("Ada, 3 ideas for Acme's renewal", SUBJECT_CONTEXT)
    assert good.score > 0.6 > spam.score
    assert any("spam-trigger" in reason for reason in spam.reasons)
    assert any("first name" in reason for reason in good.reasons)
    features = extract_subject_features("Re: Ada, a question?", SUBJECT_CONTEXT)
    assert features.fake_reply and features.has_first_name and features.is_question
    assert scorer.score("", None).score == 0.0


def test_optimize_subject_ranks_variants() -> None:
    result = optimize_subject("FREE upgrade!!! Act now", SUBJECT_CONTEXT, n=4)
    scores = [v.score for v in result.variants]
    assert scores == sorted(scores, reverse=True) and len(scores) == 4
    assert result.best.score >= result.original.score and result.best.score >= scores[0]
    assert result.original.rule == "original" and "heuristic" in result.scorer

    def llm(prompt_name: str, variables: dict[str, Any]) -> str:
        assert prompt_name == "subject_variants" and variables["first_name"] == "Ada"
        return '1. Ada, ready to lock in your rate?\n- "Acme\'s renewal: 2 options"\n'

    with_llm = optimize_subject("Renewal", SUBJECT_CONTEXT, n=20, generate=llm)
    assert {"Ada, ready to lock in your rate?", "Acme's renewal: 2 options"} <= {
        v.text for v in with_llm.variants if v.rule == "llm"
    }
    assert parse_subject_lines("1) A\n2) a\n* B") == ["A", "B"]


def test_subject_scorer_fits_logistic_regression_on_outcomes() -> None:
    rng = np.random.default_rng(0)
    subjects, outcomes = [], []
    for i in range(300):
        personalised = i % 2 == 0
        subject = f"Ada, idea number {i} for you" if personalised else f"IDEA NUMBER {i}!!!"
        subjects.append(subject)
        outcomes.append(int(rng.random() < (0.7 if personalised else 0.2)))
    scorer = SubjectScorer().fit(
        subjects, outcomes, [SUBJECT_CONTEXT] * 300, trained_on="synthetic unit-test outcomes"
    )
    assert scorer.is_fitted and "300" in scorer.trained_on
    assert (
        scorer.score("Ada, a quick idea", SUBJECT_CONTEXT).score
        > scorer.score("A QUICK IDEA!!!", SUBJECT_CONTEXT).score
    )
    with pytest.raises(ValueError, match="need >= 200"):
        SubjectScorer().fit(subjects[:10], outcomes[:10], trained_on="too few")


# -- templates ------------------------------------------------------------------------------

RENEWAL_EMAILS: list[dict[str, Any]] = [
    {
        "id": f"r{i}",
        "purpose": "renewal",
        "tone": "formal",
        "first_name": name,
        "company": company,
        "sender_name": "Bob Stone",
        "subject": f"Your renewal at {company}",
        "body": f"Dear {name},\n\nThe contract for {company} renews on March {i + 3}, 2025. "
        f"The renewal quote is ${i + 10},000 per year.\n\nKind regards,\nBob Stone",
        "sends": 10,
        "replies": 5,
    }
    for i, (name, company) in enumerate([("Ada", "Acme"), ("Grace", "Initech"), ("Lin", "Globex")])
] + [
    {
        "id": f"d{i}",
        "purpose": "renewal",
        "subject": "A discount if you sign for three years",
        "body": f"Hi {name},\n\nSign a three year agreement and we discount the licence fee by "
        "twelve percent with price protection.\n\nCheers,\nSam",
        "first_name": name,
        "sends": 10,
        "replies": 1,
    }
    for i, name in enumerate(["Tom", "Kim"])
]


def test_mine_templates_abstracts_names_and_keeps_support() -> None:
    templates = mine_templates(RENEWAL_EMAILS, n_clusters=2, embed=hashed_embed)
    assert [t.support for t in templates] == [3, 2]
    top = templates[0]
    assert top.purpose == "renewal" and top.tone == "formal"
    assert top.mean_reply_rate == pytest.approx(0.5) and top.rank_score == pytest.approx(1.5)
    assert sorted(top.member_ids) == ["r0", "r1", "r2"] and top.medoid_id in top.member_ids
    for name in ("Ada", "Grace", "Lin", "Acme", "Initech", "Globex", "Bob Stone", "2025", "$"):
        assert name not in top.body and name not in top.subject
    assert top.body.startswith("Dear {first_name},")
    assert "{company}" in top.body and "{date}" in top.body and "{amount}" in top.body
    assert top.body.endswith("{sender_name}") and top.subject == "Your renewal at {company}"
    second = templates[1]
    assert second.tone == "casual" and "Tom" not in second.body and "Kim" not in second.body
    assert second.template_id.startswith("renewal-2-")
    again = mine_templates(RENEWAL_EMAILS, n_clusters=2, embed=hashed_embed)
    assert [t.model_dump() for t in again] == [t.model_dump() for t in templates]
    assert mine_templates([], embed=hashed_embed) == []
    assert len(mine_templates(RENEWAL_EMAILS, n_clusters=2, embed=hashed_embed, min_support=3)) == 1


def test_mine_templates_on_the_seed_corpus_groups_by_purpose() -> None:
    corpus = [e.model_dump() for e in load_seed_corpus()]
    templates = mine_templates(corpus, embed=hashed_embed)
    assert {t.purpose for t in templates} == set(PURPOSES)
    assert sum(t.support for t in templates) == len(corpus)
    keys = [t.rank_score for t in templates]
    assert keys == sorted(keys, reverse=True)


def test_abstract_email_text_handles_dates_amounts_and_legal_names() -> None:
    text = abstract_email_text(
        "Hi Ada,\n\nAcme Corp pays $12,000 a year (5k EUR) from 2025-04-01 or 3rd April."
        "\n\nBest,\nBob Smith",
        {"company": "Acme"},
    )
    assert text == (
        "Hi {first_name},\n\n{company} pays {amount} a year ({amount}) from {date} or {date}."
        "\n\nBest,\n{sender_name}"
    )


# -- corpus and offline-provider helpers (no model) -----------------------------------------


def test_seed_corpus_is_valid_and_balanced() -> None:
    corpus = load_seed_corpus()
    assert 60 <= len(corpus) <= 90
    assert {e.purpose for e in corpus} == set(PURPOSES) and {e.tone for e in corpus} == set(TONES)
    for purpose in PURPOSES:
        assert sum(e.purpose == purpose for e in corpus) >= 6
    for email in corpus:
        assert email.replies <= email.opens <= (email.sends or email.opens)
        names = set(re.findall(r"\{([a-z_]+)\}", email.subject + email.body))
        assert names <= KNOWN_PLACEHOLDERS, email.id
        assert "{first_name}" in email.body and email.body.endswith("{sender_name}")
        assert infer_tone(email.body) == email.tone, email.id
    assert len({e.id for e in corpus}) == len(corpus)


def test_fill_placeholders_never_leaves_braces() -> None:
    text, missing = fill_placeholders(
        "Hi {first_name}, {company}'s plan renews on {date}. Our {industry} customers love "
        "the {product} app ({amount}). {unknown}",
        {"first_name": "Ada", "company": "Acme Analytics"},
    )
    assert "{" not in text and "}" not in text
    assert text.startswith("Hi Ada, Acme Analytics' plan renews soon. Our customers love our app.")
    assert missing == ["industry", "unknown"] or "unknown" in missing


def test_purpose_and_tone_inference() -> None:
    assert normalise_purpose("Renewal request") == "renewal"
    assert normalise_purpose("follow-up") == "follow_up"
    assert normalise_purpose(None) == "intro"
    assert infer_purpose("Your quote", "the price for 30 seats") == "pricing"
    assert infer_tone("Hey there, cheers") == "casual"
    assert infer_tone("Dear Ada, ... Kind regards") == "formal"


def test_email_index_with_an_injected_embedder() -> None:
    corpus = load_seed_corpus()
    index = EmailIndex(corpus, embed=hashed_embed)
    hits = index.search("renewal renews contract quote", k=3, purpose="renewal")
    assert [h.email.purpose for h in hits] == ["renewal"] * 3
    assert hits == index.search("renewal renews contract quote", k=3, purpose="renewal")
    assert index.get(corpus[0].id) == corpus[0] and index.get("nope") is None
    with pytest.raises(ValueError):
        EmailIndex([])


def test_harvest_crm_emails_abstracts_names(isolated_settings: Settings) -> None:
    from haste.db import Activity, Company, Contact, User, session_scope, upgrade_database

    url = isolated_settings.database_url
    upgrade_database(url)
    now = dt.datetime(2025, 5, 1, tzinfo=dt.UTC)
    body = (
        "Hi Ada,\n\nThanks for the call. Acme Analytics could cut the time spent on reporting "
        "by half with our renewal bundle; happy to walk you through it.\n\nBest,\nBob Stone"
    )
    with session_scope(url) as session:
        company = Company(name="Acme Analytics", industry="fintech")
        user = User(email="bob@haste.example", full_name="Bob Stone")
        session.add_all([company, user])
        session.flush()
        contact = Contact(first_name="Ada", last_name="Lovelace", company_id=company.id)
        session.add(contact)
        session.flush()
        session.add_all(
            [
                Activity(
                    contact_id=contact.id,
                    user_id=user.id,
                    type="email",
                    subject="Renewal for Acme Analytics",
                    body=body,
                    occurred_at=now,
                    details={"direction": "outbound", "outcome": "meeting_booked"},
                ),
                Activity(
                    contact_id=contact.id,
                    type="email",
                    subject="No reply",
                    body=body,
                    occurred_at=now,
                    details={"direction": "outbound"},
                ),
                Activity(
                    contact_id=contact.id,
                    type="email",
                    subject="Inbound",
                    body=body,
                    occurred_at=now,
                    details={"direction": "inbound", "outcome": "replied"},
                ),
            ]
        )
    harvested = harvest_crm_emails(url)
    assert len(harvested) == 1
    email = harvested[0]
    assert email.source == "crm" and email.outcome == "meeting_booked"
    assert email.subject == "Renewal for {company}" and email.purpose == "renewal"
    assert email.body.startswith("Hi {first_name},") and email.body.endswith("{sender_name}")
    assert "Acme" not in email.body and "Bob" not in email.body
    assert harvest_crm_emails("sqlite:///" + str(isolated_settings.home / "missing.db")) == []


def test_offline_task_detection_and_prompt_parsing() -> None:
    assert detect_task_from_text("Write a formal email to Ada") == "email_compose"
    assert detect_task_from_text("Suggest 5 alternative subject lines") == "subject_variants"
    assert detect_task_from_text("Suggest 3 replies to the last message from Ada") == "email_reply"
    assert detect_task_from_text("Summarise this conversation") == "summary"
    assert detect_task_from_text("What is 2 + 2?") == "generic"
    request = LLMRequest.from_prompt("hello", metadata={"prompt": "subject_variants@v1"})
    assert detect_task(request) == "subject_variants"
    assert detect_task(LLMRequest.from_prompt("hello", metadata={"task": "reply"})) == "email_reply"

    variables = parse_prompt_variables(
        "Write a formal renewal email to Ada Lovelace at Acme Corp from Bob Stone.\n"
        "Pain point: manual lead routing\nTone: formal\n"
    )
    assert variables["recipient_name"] == "Ada Lovelace" and variables["company"] == "Acme Corp"
    assert variables["sender_name"] == "Bob Stone" and variables["tone"] == "formal"
    assert variables["pain_point"] == "manual lead routing"

    prompt = (
        "Intro\nPersonalisation (use one):\n- fact one\n- fact two\n\n"
        '<example id="seed-x-01">\nSubject: Hello {first_name}\nDear {first_name},\nBody.\n'
        "</example>\nIncoming email:\nCould we talk on Thursday?\nTone: casual"
    )
    examples, rest = extract_example_blocks(prompt)
    assert examples == [
        {"id": "seed-x-01", "subject": "Hello {first_name}", "body": "Dear {first_name},\nBody."}
    ]
    assert "<example" not in rest and parse_list_block(rest, "personali[sz]ation") == [
        "fact one",
        "fact two",
    ]
    head, incoming = split_incoming_block(rest)
    assert incoming == "Could we talk on Thursday?\nTone: casual" and "Incoming email:" in head
    assert truncate_tokens("a b\nc d", 3) == ("a b\nc", True)
    assert truncate_tokens("a b", 3) == ("a b", False)
