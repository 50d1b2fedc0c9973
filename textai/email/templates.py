"""Email templates mined from successful emails.

:func:`mine_templates` groups emails by purpose, clusters each group on its all-MiniLM-L6-v2
embeddings (agglomerative clustering, cosine distance, average linkage: deterministic), takes
each cluster's medoid (the email most similar to the rest of its cluster) as the template,
abstracts the names, companies, dates and amounts left in it into placeholders
(``{first_name}``, ``{company}``, ``{sender_name}``, ``{date}``, ``{amount}``) and ranks the
templates by mean reply rate x support (cluster size).
"""

from __future__ import annotations

import hashlib
import math
import re
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
from pydantic import BaseModel, Field

from pipelines.corpora.emails import abstract_entities, infer_purpose, infer_tone

Embedder = Callable[[Sequence[str]], np.ndarray]

_MONTHS = (
    r"(?:Jan(?:uary)?|Feb(?:ruary)?|Mar(?:ch)?|Apr(?:il)?|May|June?|July?|Aug(?:ust)?|"
    r"Sep(?:t(?:ember)?)?|Oct(?:ober)?|Nov(?:ember)?|Dec(?:ember)?)"
)
_WEEKDAYS = r"(?:Monday|Tuesday|Wednesday|Thursday|Friday|Saturday|Sunday)"
DATE_PATTERNS: tuple[re.Pattern[str], ...] = (
    re.compile(r"\b\d{4}-\d{2}-\d{2}\b"),
    re.compile(r"\b\d{1,2}/\d{1,2}/\d{2,4}\b"),
    re.compile(rf"\b(?:{_WEEKDAYS},?\s+)?\d{{1,2}}(?:st|nd|rd|th)?\s+{_MONTHS}(?:,?\s+\d{{4}})?\b"),
    re.compile(rf"\b(?:{_WEEKDAYS},?\s+)?{_MONTHS}\s+\d{{1,2}}(?:st|nd|rd|th)?(?:,?\s+\d{{4}})?\b"),
)
AMOUNT_PATTERN = re.compile(
    r"(?:[$€£]\s?\d[\d,]*(?:\.\d+)?(?:\s?(?:[kKmM]\b|million\b|thousand\b))?"
    r"|\b\d[\d,]*(?:\.\d+)?[kKmM]?\s?(?:USD|EUR|GBP|dollars|euros|pounds)\b)"
)
_LEGAL_SUFFIX = r"(?:Inc\.?|Ltd\.?|LLC|GmbH|plc|Corp\.?|Corporation|S\.A\.|AG|BV|Co\.)"
COMPANY_SUFFIX_PATTERN = re.compile(
    rf"\b(?:[A-Z][\w&'-]*\s){{0,2}}[A-Z][\w&'-]*\s{_LEGAL_SUFFIX}(?!\w)"
)
GREETING_PATTERN = re.compile(
    r"^(?P<lead>\s*(?:Dear|Hi|Hello|Hey|Good (?:morning|afternoon))\s+)"
    r"(?P<name>(?:Mr\.?|Ms\.?|Mrs\.?|Dr\.?)?\s?[A-Z][a-zA-Z'-]+(?:\s[A-Z][a-zA-Z'-]+)?)"
    r"(?P<tail>\s*[,!])",
    re.MULTILINE,
)
SIGNOFF_PATTERN = re.compile(
    r"(?P<lead>(?:Kind regards|Best regards|Regards|Best|Cheers|Thanks|Thank you|Sincerely|"
    r"Warm regards|All the best),?\s*\n\s*)(?P<name>[A-Z][a-zA-Z'-]+(?:\s[A-Z][a-zA-Z'-]+)?)"
    r"\s*$"
)


class EmailTemplate(BaseModel):
    """A template mined from a cluster of successful emails.

    Attributes:
        template_id: Stable id (``<purpose>-<n>-<hash of the medoid>``).
        purpose: Purpose shared by the cluster.
        tone: Most common tone in the cluster (the medoid's on a tie).
        subject: The medoid's subject, abstracted.
        body: The medoid's body, abstracted.
        support: Number of emails in the cluster.
        mean_reply_rate: Mean reply rate of the cluster's emails.
        rank_score: ``mean_reply_rate * support`` (the ranking key).
        member_ids: Ids of the cluster's emails.
        medoid_id: Id of the email the template comes from.
    """

    template_id: str
    purpose: str
    tone: str
    subject: str
    body: str
    support: int = Field(ge=1)
    mean_reply_rate: float = Field(ge=0.0, le=1.0)
    rank_score: float = Field(ge=0.0)
    member_ids: list[str]
    medoid_id: str


def abstract_email_text(text: str, entities: Mapping[str, str | None] | None = None) -> str:
    """Abstract names, companies, dates and amounts of a real email into placeholders.

    Known values (``entities``: ``first_name``, ``last_name``, ``company``, ``sender_name``,
    ...) are replaced first; then the name after a greeting (``Hi Ada,``) becomes
    ``{first_name}``, the name under a sign-off becomes ``{sender_name}``, legal company names
    (``Acme Corp``, ``Initech Ltd``) become ``{company}``, dates become ``{date}`` and money
    amounts become ``{amount}``. Existing placeholders are left alone.

    Args:
        text: Subject or body.
        entities: Known entity values by placeholder name.

    Returns:
        The abstracted text.
    """
    result = abstract_entities(text or "", dict(entities or {}))
    result = re.sub(rf"\{{company\}}\s{_LEGAL_SUFFIX}(?!\w)", "{company}", result)
    result = GREETING_PATTERN.sub(
        lambda m: f"{m.group('lead')}{{first_name}}{m.group('tail')}", result, count=1
    )
    result = SIGNOFF_PATTERN.sub(lambda m: f"{m.group('lead')}{{sender_name}}", result)
    result = COMPANY_SUFFIX_PATTERN.sub("{company}", result)
    for pattern in DATE_PATTERNS:
        result = pattern.sub("{date}", result)
    return AMOUNT_PATTERN.sub("{amount}", result)


def _email_reply_rate(email: Mapping[str, Any]) -> float:
    """Return replies per send (per open without sends; 1.0 for a bare successful email)."""
    replies = float(email.get("replies") or 0)
    denominator = float(email.get("sends") or email.get("opens") or 0)
    if denominator > 0:
        return min(1.0, replies / denominator)
    return 1.0 if replies or email.get("outcome") else 0.0


def _entities_of(email: Mapping[str, Any]) -> dict[str, str | None]:
    """Return the entity values an email dict carries (flat keys or a ``recipient`` dict)."""
    recipient = email.get("recipient") if isinstance(email.get("recipient"), Mapping) else {}
    keys = ("first_name", "last_name", "company", "sender_name", "product")
    return {key: email.get(key) or recipient.get(key) for key in keys}


def _cluster_count(size: int, n_clusters: int | None) -> int:
    """Return how many clusters to make for a group of ``size`` emails."""
    if size <= 1:
        return 1
    wanted = n_clusters if n_clusters is not None else round(math.sqrt(size / 2))
    return max(1, min(size, int(wanted)))


def _cluster(vectors: np.ndarray, k: int) -> np.ndarray:
    """Assign cluster labels: agglomerative, cosine distance, average linkage."""
    if k <= 1 or len(vectors) <= 1:
        return np.zeros(len(vectors), dtype=int)
    from sklearn.cluster import AgglomerativeClustering

    model = AgglomerativeClustering(n_clusters=k, metric="cosine", linkage="average")
    return np.asarray(model.fit_predict(vectors), dtype=int)


def mine_templates(
    emails: Sequence[Mapping[str, Any]],
    n_clusters: int | None = None,
    *,
    embed: Embedder | None = None,
    min_support: int = 1,
    top_k: int | None = None,
) -> list[EmailTemplate]:
    """Mine templates from successful emails.

    Args:
        emails: Email dicts with ``subject`` and ``body``; optional ``id``, ``purpose``,
            ``tone`` (inferred when missing), ``sends``/``opens``/``replies``/``outcome`` (for
            the reply rate) and entity values to abstract (``first_name``, ``last_name``,
            ``company``, ``sender_name``, flat or under ``recipient``).
            :class:`~pipelines.corpora.emails.SuccessfulEmail` objects may be passed through
            ``model_dump()``.
        n_clusters: Clusters per purpose (capped at the group size); default
            ``round(sqrt(group size / 2))``.
        embed: Text embedder (defaults to MiniLM ``embed_texts``).
        min_support: Drop templates whose cluster is smaller than this.
        top_k: Return only the best ``top_k`` templates.

    Returns:
        Templates ranked by ``mean_reply_rate * support`` (descending; ties by id).

    Raises:
        ValueError: When an email has no body.
    """
    if not emails:
        return []
    records: list[dict[str, Any]] = []
    for index, email in enumerate(emails):
        body = str(email.get("body") or "").strip()
        if not body:
            raise ValueError(f"email {email.get('id', index)!r} has no body")
        subject = str(email.get("subject") or "").strip()
        entities = _entities_of(email)
        purpose = email.get("purpose") or infer_purpose(subject, body)
        records.append(
            {
                "id": str(email.get("id") or f"email-{index}"),
                "purpose": str(purpose),
                "tone": str(email.get("tone") or infer_tone(body)),
                "subject": abstract_email_text(subject, entities),
                "body": abstract_email_text(body, entities),
                "reply_rate": _email_reply_rate(email),
            }
        )
    if embed is None:
        from features.text_embeddings import embed_texts

        embed = embed_texts
    vectors = np.asarray(embed([f"{r['subject']}\n{r['body']}" for r in records]), dtype=np.float64)
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    vectors = vectors / np.where(norms > 0, norms, 1.0)

    templates: list[EmailTemplate] = []
    for purpose in sorted({r["purpose"] for r in records}):
        members = [i for i, r in enumerate(records) if r["purpose"] == purpose]
        labels = _cluster(vectors[members], _cluster_count(len(members), n_clusters))
        for label in sorted(set(labels.tolist())):
            cluster = [members[i] for i in np.flatnonzero(labels == label)]
            if len(cluster) < min_support:
                continue
            templates.append(_build_template(purpose, cluster, records, vectors))
    templates.sort(key=lambda t: (-t.rank_score, -t.support, t.template_id))
    for rank, template in enumerate(templates, 1):
        prefix = template.template_id.rsplit("-", 1)[-1]
        template.template_id = f"{template.purpose}-{rank}-{prefix}"
    return templates[:top_k] if top_k is not None else templates


def _build_template(
    purpose: str,
    cluster: list[int],
    records: list[dict[str, Any]],
    vectors: np.ndarray,
) -> EmailTemplate:
    """Build the template of one cluster from its medoid."""
    block = vectors[cluster]
    similarity = block @ block.T
    centrality = similarity.sum(axis=1)
    order = sorted(
        range(len(cluster)), key=lambda i: (-round(centrality[i], 9), records[cluster[i]]["id"])
    )
    medoid = records[cluster[order[0]]]
    tones = Counter(records[i]["tone"] for i in cluster)
    top_count = max(tones.values())
    tied = sorted(t for t, c in tones.items() if c == top_count)
    tone = medoid["tone"] if medoid["tone"] in tied else tied[0]
    mean_rate = float(np.mean([records[i]["reply_rate"] for i in cluster]))
    digest = hashlib.sha256(medoid["id"].encode()).hexdigest()[:8]
    return EmailTemplate(
        template_id=f"{purpose}-0-{digest}",
        purpose=purpose,
        tone=tone,
        subject=medoid["subject"],
        body=medoid["body"],
        support=len(cluster),
        mean_reply_rate=round(mean_rate, 4),
        rank_score=round(mean_rate * len(cluster), 4),
        member_ids=sorted(records[i]["id"] for i in cluster),
        medoid_id=medoid["id"],
    )
