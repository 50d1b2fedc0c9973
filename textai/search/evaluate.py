"""Labelled query set over the seeded synthetic CRM, retrieval metrics and method comparison.

The corpus is the seeded synthetic CRM (:func:`pipelines.synthetic.generate_crm`) whose emails
and calls/meetings carry real public text (:func:`~textai.search.documents.attach_public_texts`:
Enron email sentences, DialogSum dialogues). Queries and their relevant documents are derived
from the frames, never from the search code:

* ``company`` / ``contact`` / ``deal``: names of records with a unique name ("Summit Canyon
  Analytics", "who is Kenji Scott", "Bright Wave Works growth deal") -> that record;
* ``filter``: structured queries ("deals over 8k in software", "fintech companies in Germany",
  "meetings last week") -> exactly the records satisfying the condition, computed with pandas;
* ``transcript``: a DialogSum reference summary of the dialogue attached to a call or meeting
  (speakers renamed "the rep" / "the customer") -> that call or meeting;
* ``email``: a hand-written paraphrase of one sentence of a real email (:data:`EMAIL_PARAPHRASES`)
  -> the email containing it.

``recall@k`` is ``|relevant in top k| / min(|relevant|, k)`` (so a filter query with 40 matching
deals scores 1.0 when its 10 hits all match) and MRR is the mean of ``1 / rank`` of the first
relevant hit (0 when none is in the ranking). :func:`evaluate_index` compares hybrid,
semantic-only and keyword-only ranking (all with the query parser), plus the two single rankers
on the raw query without the parser.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from textai.search.documents import (
    SearchDocument,
    attach_public_texts,
    documents_from_frames,
    load_dialogues,
    load_email_sentences,
)
from textai.search.embedding import clear_query_cache
from textai.search.hits import hits_doc_ids
from textai.search.index import HybridIndex
from textai.search.query_model import ParsedQuery
from textai.search.time_ranges import quarter_range

#: Reference "today" of the evaluation's relative time phrases (inside the synthetic window).
EVAL_TODAY = dt.date(2026, 5, 15)
#: Methods compared by :func:`evaluate_index`: (name, search mode, use the query parser).
METHODS: tuple[tuple[str, str, bool], ...] = (
    ("hybrid", "hybrid", True),
    ("semantic", "semantic", True),
    ("keyword", "keyword", True),
    ("semantic (no parser)", "semantic", False),
    ("keyword (no parser)", "keyword", False),
)

#: Real email sentences (email-intent / Enron test file) -> a hand-written paraphrase.
EMAIL_PARAPHRASES: dict[str, str] = {
    "Chris Calger wants the financing CP removed, and we have a call scheduled at 200 to see if "
    "we can get to agreement with Delta.": (
        "email about a call to reach agreement with Delta once the financing condition is dropped"
    ),
    "I would like to have a brief (30 minute) meeting about the noise in the political system "
    "about synfuel and reaffirm Jordon's viewpoint on Section 29 credits.": (
        "half-hour sync about political chatter around synthetic fuel tax credits"
    ),
    "Dear Mr. Lay: I would like to meet with you concerning my being the new CFO for Enron.": (
        "candidate asking for a meeting about becoming the chief financial officer"
    ),
    'The theme for the walk this year is "Knock Out Diabetes" and we would like to have you '
    "join us for this great event.": "invitation to join a charity walk fighting diabetes",
    "Sorry for the late notice, I forgot I had a dentist appointment at 3:00, I can meet any "
    "other day this week.": "cancelling because of a forgotten dental visit, free any other day",
    "I would appriciate if you would send to me each week the PGE Position Report.": (
        "please mail me the Pacific Gas and Electric position summary every week"
    ),
    "We need to cancel Michael's appt with Sharon for that Monday.": (
        "Michael's Monday appointment with Sharon has to be called off"
    ),
    "I will also send you a copy of this invoice in the mail and will be glad to send you the "
    "actual evaluation forms completed by the attendees if you would like to have them.": (
        "mailing a copy of the bill and the feedback forms filled out by participants"
    ),
    "Would it be possible to ask some key people from our Credit Dept. to attend this "
    "semiar?": "can important staff from the credit department come to the training session",
    "After you have had the opportunity to review my resume I would like the opportunity to "
    "discuss, in person or by phone teleconference my potential employment opportunities with "
    "your company.": "job seeker wants to talk about working for you after you read their CV",
    "We are organizing a group with RAC to send a few people to this conference at a discount "
    "to full cost.": "arranging discounted conference tickets for a small group of people",
    "We have you scheduled to present to students on 11/15 from 11-2, and on 11/16 to present "
    "a seminar to the finance faculty.": (
        "you are booked to lecture students and give a talk to the finance professors"
    ),
    "What sandwich would you like to have for lunch?": (
        "what kind of sub do you want me to order for the midday meal"
    ),
    "We asked our geophysicists for help and are shooting for a meeting on Thursday to run our "
    "ideas by them.": "Thursday session with the earth science experts to review our ideas",
    "So we don't have problems with Canadian counterparties, I would like to change that to "
    "365/366 accross the board.": (
        "switch the day count convention everywhere to avoid trouble with trading partners in "
        "Canada"
    ),
    "Herman says he has a lot of accounting issues to go over, and I thought it would be best "
    "if we all heard the same thing at the same time, plus, how the heck is this puppy going to "
    "get financed?": "everyone should hear the bookkeeping problems together and how to fund it",
    "I'm under the gun right now, but will you be available on Friday for a chat?": (
        "swamped at the moment, could we talk at the end of the week"
    ),
    "I wanted to discuss the confidentiality agreements, and whether you envision that other "
    "confidentiality agreements may be necessary or required.": (
        "questions about NDAs and whether more non-disclosure contracts will be needed"
    ),
    "Graydon: I was thinking i may come into Austin this weekend to do some sking on lake "
    "austin, let me know if that is good.": "might visit Texas this weekend to go water skiing",
    "We'll meet in the mayor's office at 11:30 and I would be most grateful if I can say "
    "you're on board.": (
        "email asking to meet at city hall late morning, hoping you will support us"
    ),
    "We had to cancel Lucinda's baby shower the night before it because the baby was "
    "early.": "the party for the new baby was called off after a premature delivery",
    "Also, Thursday is my mom's birthday, so I need to remember to shop for her at lunch "
    "tomorrow.": "need to buy a present for my mother during the lunch break",
    "We are in bid week right now, so I have to work late and can not take vacation, so I am "
    "catching a 10 p.m. flight out tomorrow and get to auburn about 2 a.m.": (
        "too busy to take time off, taking a late night plane and landing after midnight"
    ),
    "For some reason, the Delaware bankruptcy docket is one of the few federal dockets that are "
    "not available on the PACER system.": (
        "the insolvency court records in Delaware can't be found in the online filing system"
    ),
    "Thank you so much for the presentation yesterday concerning accounting/financing issues "
    "in power development projects.": (
        "thanks for the talk on funding and bookkeeping questions in power plant projects"
    ),
}


@dataclass(frozen=True)
class LabelledQuery:
    """A query with its relevant documents.

    Attributes:
        query: The query text.
        relevant: Ids of the relevant documents.
        kind: ``company``, ``contact``, ``deal``, ``filter``, ``transcript`` or ``email``.

    """

    query: str
    relevant: frozenset[str]
    kind: str


@dataclass
class MethodResult:
    """Metrics of one retrieval method over a query set.

    Attributes:
        name: Method name.
        recall: Mean recall@k.
        mrr: Mean reciprocal rank.
        latencies_ms: Per-query search latency in milliseconds.
        per_kind: Kind -> ``(recall@k, MRR, n)``.
        per_query: ``(query, recall@k, reciprocal rank)`` for every query.

    """

    name: str
    recall: float
    mrr: float
    latencies_ms: list[float] = field(default_factory=list)
    per_kind: dict[str, tuple[float, float, int]] = field(default_factory=dict)
    per_query: list[tuple[str, float, float]] = field(default_factory=list)

    def latency_percentile(self, q: float) -> float:
        """Return a latency percentile in milliseconds.

        Args:
            q: Percentile in ``[0, 100]``.

        Returns:
            The percentile (0 without measurements).

        """
        return float(np.percentile(self.latencies_ms, q)) if self.latencies_ms else 0.0


# --------------------------------------------------------------------------------------------
# Metrics
# --------------------------------------------------------------------------------------------


def recall_at_k(
    ranked: Sequence[str], relevant: Sequence[str] | frozenset[str], k: int = 10
) -> float:
    """Return recall@k, normalised by ``min(|relevant|, k)``.

    Args:
        ranked: Retrieved document ids, best first.
        relevant: Relevant document ids.
        k: Cut-off.

    Returns:
        A value in ``[0, 1]`` (0 when nothing is relevant).

    Raises:
        ValueError: When ``k < 1``.

    """
    if k < 1:
        raise ValueError(f"k must be positive, got {k}")
    relevant = set(relevant)
    if not relevant:
        return 0.0
    found = len(relevant.intersection(ranked[:k]))
    return found / min(len(relevant), k)


def reciprocal_rank(ranked: Sequence[str], relevant: Sequence[str] | frozenset[str]) -> float:
    """Return ``1 / rank`` of the first relevant document (0 when none is retrieved).

    Args:
        ranked: Retrieved document ids, best first.
        relevant: Relevant document ids.

    Returns:
        The reciprocal rank.

    """
    relevant = set(relevant)
    for rank, doc_id in enumerate(ranked, start=1):
        if doc_id in relevant:
            return 1.0 / rank
    return 0.0


def mean_reciprocal_rank(
    rankings: Sequence[Sequence[str]], relevants: Sequence[Sequence[str] | frozenset[str]]
) -> float:
    """Return the mean reciprocal rank over queries.

    Args:
        rankings: One ranking per query.
        relevants: One set of relevant ids per query.

    Returns:
        MRR (0 for no query).

    Raises:
        ValueError: When the two sequences differ in length.

    """
    if len(rankings) != len(relevants):
        raise ValueError("rankings and relevants must have the same length")
    if not rankings:
        return 0.0
    return float(np.mean([reciprocal_rank(r, s) for r, s in zip(rankings, relevants, strict=True)]))


# --------------------------------------------------------------------------------------------
# Corpus and labelled queries
# --------------------------------------------------------------------------------------------


def default_datasets_dir() -> Path:
    """Return the configured real-datasets folder.

    Returns:
        ``Settings().datasets_dir``.

    """
    from haste.settings import get_settings

    return get_settings().datasets_dir


def build_corpus(
    n_contacts: int = 500,
    seed: int = 7,
    *,
    datasets_dir: Path | None = None,
    max_emails: int | None = 250,
    max_transcripts: int | None = 200,
) -> tuple[dict[str, pd.DataFrame], list[SearchDocument]]:
    """Generate the seeded CRM, attach real email / transcript texts and build documents.

    Args:
        n_contacts: Contacts of the synthetic CRM.
        seed: Seed of the CRM and of the text assignment.
        datasets_dir: Real datasets folder (default: the configured one).
        max_emails: Emails given real text (the others keep their templated body).
        max_transcripts: Calls / meetings given a DialogSum dialogue.

    Returns:
        ``(tables, documents)``.

    """
    from pipelines.synthetic import generate_crm

    crm = generate_crm(n_contacts=n_contacts, seed=seed)
    tables = attach_public_texts(
        crm.tables(),
        datasets_dir or default_datasets_dir(),
        seed,
        max_emails=max_emails,
        max_transcripts=max_transcripts,
        pinned_sentences=list(EMAIL_PARAPHRASES),
    )
    return tables, documents_from_frames(tables)


def _frames(tables: dict[str, pd.DataFrame]) -> dict[str, pd.DataFrame]:
    """Join the frames the ground truth needs (consenting contacts only for people/activities)."""
    companies = tables["companies"].assign(cid=lambda f: f["id"].astype(str))
    contacts = tables["contacts"].assign(pid=lambda f: f["id"].astype(str))
    contacts = contacts[contacts["ai_consent"].astype(bool)]
    every_contact = tables["contacts"].assign(pid=lambda f: f["id"].astype(str))
    company_cols = companies[["cid", "name", "industry", "country", "employee_count"]].rename(
        columns={"name": "company_name"}
    )
    people = contacts.assign(cid=contacts["company_id"].astype(str)).merge(
        company_cols, on="cid", how="left"
    )
    owners = every_contact.assign(cid=every_contact["company_id"].astype(str))[["pid", "cid"]]
    deals = tables["deals"].assign(pid=lambda f: f["contact_id"].astype(str))
    deals = deals.merge(owners, on="pid", how="left").merge(company_cols, on="cid", how="left")
    activities = tables["activities"].assign(pid=lambda f: f["contact_id"].astype(str))
    activities = activities[activities["type"].isin(["email", "call", "meeting"])]
    activities = activities.merge(people[["pid", "industry", "country"]], on="pid", how="inner")
    return {"companies": companies, "people": people, "deals": deals, "activities": activities}


def _ids(prefix: str, ids: pd.Series) -> frozenset[str]:
    """Return document ids ``prefix:<id>``."""
    return frozenset(f"{prefix}:{i}" for i in ids.astype(str))


def _nice(value: float) -> int:
    """Round an amount down to a "nice" number (1, 2, 2.5, 5 x 10^k)."""
    if value <= 0:
        return 0
    power = 10 ** int(np.floor(np.log10(value)))
    return int(max(m for m in (1, 2, 2.5, 5, 10) if m * power <= value) * power)


def _short(amount: int) -> str:
    """Format 8000 as "8k"."""
    return f"{amount // 1000}k" if amount % 1000 == 0 and amount >= 1000 else f"{amount:,}"


def _between(column: pd.Series, low: dt.date, high: dt.date) -> pd.Series:
    """Return whether dates / timestamps fall in ``[low, high]`` (by calendar day)."""
    days = pd.to_datetime(column).dt.normalize()
    return (days >= pd.Timestamp(low)) & (days <= pd.Timestamp(high))


def filter_queries(
    tables: dict[str, pd.DataFrame], today: dt.date = EVAL_TODAY
) -> list[LabelledQuery]:
    """Structured queries with their exact relevant sets, computed with pandas.

    Args:
        tables: CRM frames.
        today: Reference date of relative time phrases.

    Returns:
        The non-empty filter queries.

    """
    f = _frames(tables)
    companies, people, deals, acts = f["companies"], f["people"], f["deals"], f["activities"]
    country_names = {
        "US": "the US", "GB": "the UK", "DE": "Germany", "CA": "Canada", "FR": "France",
        "AU": "Australia", "NL": "the Netherlands", "IN": "India",
    }  # fmt: skip
    out: list[LabelledQuery] = []

    def add(query: str, prefix: str, ids: pd.Series) -> None:
        if len(ids):
            out.append(LabelledQuery(query, _ids(prefix, ids), "filter"))

    industries = deals["industry"].value_counts().index.tolist()
    top = industries[0]
    threshold = _nice(float(deals.loc[deals["industry"] == top, "amount"].quantile(0.7)))
    add(
        f"deals over {_short(threshold)} in {top}",
        "deal",
        deals.loc[(deals["amount"] > threshold) & (deals["industry"] == top), "id"],
    )
    q_start, q_end = quarter_range(today.year, (today.month - 1) // 3 + 1)
    second = industries[1 % len(industries)]
    close = pd.to_datetime(deals["expected_close_date"])
    in_quarter = (close >= pd.Timestamp(q_start)) & (close <= pd.Timestamp(q_end))
    add(
        f"{second} deals closing this quarter",
        "deal",
        deals.loc[in_quarter & (deals["industry"] == second), "id"],
    )
    third = industries[2 % len(industries)]
    add(
        f"won deals in {third}",
        "deal",
        deals.loc[(deals["stage"] == "closed_won") & (deals["industry"] == third), "id"],
    )
    low = _nice(float(deals["amount"].quantile(0.5)))
    high = _nice(float(deals["amount"].quantile(0.8)))
    if high > low:
        add(
            f"deals between {_short(low)} and {_short(high)}",
            "deal",
            deals.loc[deals["amount"].between(low, high), "id"],
        )
    add("open deals", "deal", deals.loc[~deals["stage"].isin(["closed_won", "closed_lost"]), "id"])
    next_month = (today.replace(day=1) + dt.timedelta(days=32)).replace(day=1)
    month_end = (next_month + dt.timedelta(days=32)).replace(day=1) - dt.timedelta(days=1)
    add(
        "deals closing next month",
        "deal",
        deals.loc[_between(deals["expected_close_date"], next_month, month_end), "id"],
    )
    last_month_end = today.replace(day=1) - dt.timedelta(days=1)
    last_month = last_month_end.replace(day=1)
    add(
        "lost deals last month",
        "deal",
        deals.loc[
            (deals["stage"] == "closed_lost")
            & _between(deals["closed_at"].fillna(pd.NaT), last_month, last_month_end),
            "id",
        ],
    )
    cap = _nice(float(deals["amount"].quantile(0.3)))
    add(
        f"deals in {country_names['GB']} under {_short(cap)}",
        "deal",
        deals.loc[(deals["country"] == "GB") & (deals["amount"] < cap), "id"],
    )
    combos = companies.groupby(["industry", "country"]).size().sort_values(ascending=False)
    for (industry, country), _ in combos.iloc[[0, min(3, len(combos) - 1)]].items():
        add(
            f"{industry} companies in {country_names.get(country, country)}",
            "company",
            companies.loc[
                (companies["industry"] == industry) & (companies["country"] == country), "id"
            ],
        )
    add(
        "companies with more than 500 employees",
        "company",
        companies.loc[companies["employee_count"] > 500, "id"],
    )
    add(
        f"small companies in {industries[3 % len(industries)]}",
        "company",
        companies.loc[
            (companies["employee_count"] < 50)
            & (companies["industry"] == industries[3 % len(industries)]),
            "id",
        ],
    )
    add(
        f"marketing qualified leads in {top}",
        "contact",
        people.loc[
            (people["lifecycle_stage"] == "marketing_qualified_lead") & (people["industry"] == top),
            "id",
        ],
    )
    march = (dt.date(today.year, 3, 1), dt.date(today.year, 3, 31))
    add(
        "contacts created in March",
        "contact",
        people.loc[_between(people["created_at"], *march), "id"],
    )
    add(
        "customers in Germany",
        "contact",
        people.loc[(people["lifecycle_stage"] == "customer") & (people["country"] == "DE"), "id"],
    )
    week_start = today - dt.timedelta(days=today.weekday() + 7)
    week_end = week_start + dt.timedelta(days=6)
    meetings = acts[acts["type"] == "meeting"]
    add(
        "meetings last week",
        "transcript",
        meetings.loc[_between(meetings["occurred_at"], week_start, week_end), "id"],
    )
    calls = acts[acts["type"] == "call"]
    april = (dt.date(today.year, 4, 1), dt.date(today.year, 4, 30))
    add("calls in April", "transcript", calls.loc[_between(calls["occurred_at"], *april), "id"])
    emails = acts[acts["type"] == "email"]
    add(
        f"emails from {second} contacts last month",
        "email",
        emails.loc[
            (emails["industry"] == second)
            & _between(emails["occurred_at"], last_month, last_month_end),
            "id",
        ],
    )
    return out


def name_queries(
    tables: dict[str, pd.DataFrame], n: int = 10, seed: int = 0
) -> list[LabelledQuery]:
    """Navigational queries: company, contact and deal names of uniquely named records.

    Args:
        tables: CRM frames.
        n: Queries per entity type (deals: half as many).
        seed: Seed of the sampling.

    Returns:
        The queries.

    """
    rng = np.random.default_rng(seed)
    f = _frames(tables)
    out: list[LabelledQuery] = []
    companies = f["companies"]
    unique = companies[~companies["name"].duplicated(keep=False)]
    picks = unique.iloc[rng.permutation(len(unique))[:n]]
    for i, row in enumerate(picks.itertuples()):
        query = row.name if i % 2 == 0 else row.name.lower()
        out.append(LabelledQuery(query, frozenset({f"company:{row.cid}"}), "company"))
    people = f["people"].assign(full=lambda p: p["first_name"] + " " + p["last_name"])
    unique_people = people[~people["full"].duplicated(keep=False)]
    picks = unique_people.iloc[rng.permutation(len(unique_people))[:n]]
    for i, row in enumerate(picks.itertuples()):
        query = (row.full, f"who is {row.full}", f"{row.full} at {row.company_name}")[i % 3]
        out.append(LabelledQuery(query, frozenset({f"contact:{row.pid}"}), "contact"))
    deals = f["deals"]
    by_name = deals.groupby("name")["id"].apply(list)
    names = by_name.index.to_numpy()[rng.permutation(len(by_name))[: max(1, n // 2)]]
    for name in names:
        company, _, plan = str(name).rpartition(" - ")
        query = f"{company} {plan.lower()} deal" if company else f"{name} deal"
        out.append(LabelledQuery(query, _ids("deal", pd.Series(by_name[name])), "deal"))
    return out


def transcript_queries(
    tables: dict[str, pd.DataFrame], datasets_dir: Path, n: int = 20, seed: int = 0
) -> list[LabelledQuery]:
    """Paraphrase queries for calls / meetings: reference summaries of their dialogues.

    Args:
        tables: CRM frames with ``activities.text_source``.
        datasets_dir: Real datasets folder (DialogSum).
        n: Number of queries.
        seed: Seed of the sampling.

    Returns:
        The queries.

    """
    f = _frames(tables)
    acts = f["activities"]
    if "text_source" not in acts.columns:
        return []
    attached = acts[acts["text_source"].fillna("").str.startswith("dialogsum:")]
    summaries = {d["fname"]: d["summaries"] for d in load_dialogues(datasets_dir)}
    rng = np.random.default_rng(seed)
    picks = attached.iloc[rng.permutation(len(attached))[:n]]
    out = []
    for row in picks.itertuples():
        fname = str(row.text_source).split(":", 1)[1]
        options = summaries.get(fname) or []
        if not options:
            continue
        summary = options[-1] if len(options) > 1 else options[0]
        query = summary.replace("#Person1#", "the rep").replace("#Person2#", "the customer")
        query = " ".join(query.replace("#Person3#", "a colleague").split())
        out.append(LabelledQuery(query, frozenset({f"transcript:{row.id}"}), "transcript"))
    return out


def email_queries(tables: dict[str, pd.DataFrame], datasets_dir: Path) -> list[LabelledQuery]:
    """Paraphrase queries for emails from :data:`EMAIL_PARAPHRASES`.

    Args:
        tables: CRM frames with ``activities.text_source``.
        datasets_dir: Real datasets folder (email-intent set).

    Returns:
        One query per paraphrased sentence that was attached to a consenting contact's email.

    """
    f = _frames(tables)
    acts = f["activities"]
    if "text_source" not in acts.columns:
        return []
    source_of = {" ".join(t.split()).lower(): s for s, t in load_email_sentences(datasets_dir)}
    email_of: dict[str, str] = {}
    for row in acts[acts["type"] == "email"].itertuples():
        for source in str(row.text_source or "").split("|"):
            if source:
                email_of[source] = f"email:{row.id}"
    out = []
    for sentence, paraphrase in EMAIL_PARAPHRASES.items():
        source = source_of.get(" ".join(sentence.split()).lower())
        if source in email_of:
            out.append(LabelledQuery(paraphrase, frozenset({email_of[source]}), "email"))
    return out


def build_query_set(
    tables: dict[str, pd.DataFrame],
    *,
    datasets_dir: Path | None = None,
    today: dt.date = EVAL_TODAY,
    n_names: int = 10,
    n_transcripts: int = 20,
    seed: int = 0,
) -> list[LabelledQuery]:
    """Build the labelled query set of a corpus made by :func:`build_corpus`.

    Args:
        tables: CRM frames with attached public texts.
        datasets_dir: Real datasets folder (default: the configured one).
        today: Reference date of relative time phrases.
        n_names: Company and contact name queries each (deal names: half).
        n_transcripts: Transcript paraphrase queries.
        seed: Seed of the sampling.

    Returns:
        Name, filter, transcript and email queries.

    """
    folder = datasets_dir or default_datasets_dir()
    return [
        *name_queries(tables, n_names, seed),
        *filter_queries(tables, today),
        *transcript_queries(tables, folder, n_transcripts, seed),
        *email_queries(tables, folder),
    ]


# --------------------------------------------------------------------------------------------
# Evaluation
# --------------------------------------------------------------------------------------------


def evaluate_index(
    index: HybridIndex,
    queries: Sequence[LabelledQuery],
    *,
    methods: Sequence[tuple[str, str, bool]] = METHODS,
    k: int = 10,
    today: dt.date = EVAL_TODAY,
    cold: bool = True,
) -> dict[str, MethodResult]:
    """Run every query with every method and compute recall@k, MRR and latency.

    Args:
        index: A built index.
        queries: Labelled queries.
        methods: ``(name, mode, use_parser)`` triples; without the parser the raw query is
            ranked as free text with no filter.
        k: Recall cut-off and number of hits retrieved.
        today: Reference date of relative time phrases.
        cold: Clear the query-embedding cache before each method, so every method's
            latency includes encoding the query.

    Returns:
        Method name -> :class:`MethodResult`.

    """
    results: dict[str, MethodResult] = {}
    for name, mode, use_parser in methods:
        if cold:
            clear_query_cache()
        recalls: list[float] = []
        ranks: list[float] = []
        latencies: list[float] = []
        per_query: list[tuple[str, float, float]] = []
        kinds: dict[str, list[tuple[float, float]]] = {}
        for labelled in queries:
            query: str | ParsedQuery = (
                labelled.query
                if use_parser
                else ParsedQuery(text=labelled.query, raw=labelled.query)
            )
            start = time.perf_counter()
            hits = index.search(query, limit=k, mode=mode, today=today)
            latencies.append((time.perf_counter() - start) * 1000.0)
            ranked = hits_doc_ids(hits)
            recall = recall_at_k(ranked, labelled.relevant, k)
            rr = reciprocal_rank(ranked, labelled.relevant)
            recalls.append(recall)
            ranks.append(rr)
            per_query.append((labelled.query, recall, rr))
            kinds.setdefault(labelled.kind, []).append((recall, rr))
        results[name] = MethodResult(
            name=name,
            recall=float(np.mean(recalls)) if recalls else 0.0,
            mrr=float(np.mean(ranks)) if ranks else 0.0,
            latencies_ms=latencies,
            per_kind={
                kind: (
                    float(np.mean([r for r, _ in v])),
                    float(np.mean([m for _, m in v])),
                    len(v),
                )
                for kind, v in kinds.items()
            },
            per_query=per_query,
        )
    return results


def format_results(results: dict[str, MethodResult], k: int = 10) -> str:
    """Render results as a Markdown table (overall and per query kind).

    Args:
        results: Output of :func:`evaluate_index`.
        k: The recall cut-off used.

    Returns:
        The table text.

    """
    kinds = sorted({kind for r in results.values() for kind in r.per_kind})
    header = f"| method | recall@{k} | MRR | p50 ms | p99 ms | " + " | ".join(
        f"{kind} R/MRR" for kind in kinds
    )
    lines = [header + " |", "|" + "---|" * (5 + len(kinds))]
    for r in results.values():
        cells = [
            r.name,
            f"{r.recall:.3f}",
            f"{r.mrr:.3f}",
            f"{r.latency_percentile(50):.1f}",
            f"{r.latency_percentile(99):.1f}",
        ]
        for kind in kinds:
            recall, mrr, _ = r.per_kind.get(kind, (0.0, 0.0, 0))
            cells.append(f"{recall:.2f}/{mrr:.2f}")
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def summary(results: dict[str, MethodResult]) -> dict[str, Any]:
    """Return headline numbers: per-method recall / MRR and the hybrid ratios.

    Args:
        results: Output of :func:`evaluate_index` (with ``hybrid``, ``semantic``, ``keyword``).

    Returns:
        JSON-ready mapping.

    """
    out: dict[str, Any] = {
        name: {"recall_at_10": round(r.recall, 4), "mrr": round(r.mrr, 4)}
        for name, r in results.items()
    }
    hybrid = results.get("hybrid")
    for other in ("keyword", "semantic"):
        base = results.get(other)
        if hybrid is not None and base is not None:
            out[f"hybrid/{other}"] = {
                "recall_at_10": round(hybrid.recall / base.recall, 4) if base.recall else None,
                "mrr": round(hybrid.mrr / base.mrr, 4) if base.mrr else None,
            }
    return out
