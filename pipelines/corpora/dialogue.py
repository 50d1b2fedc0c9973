"""Loaders of the conversation evaluation sets, read in place from the shared datasets folder.

* DialogSum (``dialogsum/dialogsum.{dev,test}.jsonl``): spoken-style two-party dialogues in
  ``#Person1#: text`` lines; dev has one reference summary, test has three.
* QMSum Product (``qmsum_meetings/Product/{train,val,test}/*.json``): AMI product-design
  meetings as ``meeting_transcripts`` (speaker/content) with general queries
  ("Summarize the whole meeting.") whose answers are reference summaries, and ``topic_list``
  spans (reference topic segmentation).

Both datasets are for internal evaluation only (DialogSum is CC BY-NC-SA 4.0, see its
PROVENANCE.md).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

DIALOGSUM_SPLITS = ("dev", "test")
QMSUM_SPLITS = ("train", "val", "test")
_WHOLE_MEETING = re.compile(r"\bsummari[sz]e\b.*\b(whole|entire)\b.*\bmeeting\b", re.I)


@dataclass(frozen=True)
class DialogSumExample:
    """One DialogSum dialogue.

    Attributes:
        fname: Dataset id (``test_0`` ...).
        dialogue: ``#Person1#: ...`` lines.
        summaries: Reference summaries (1 on dev, 3 on test).
        topics: Reference topic labels.
    """

    fname: str
    dialogue: str
    summaries: list[str]
    topics: list[str]


@dataclass(frozen=True)
class QMSumMeeting:
    """One QMSum Product meeting.

    Attributes:
        meeting_id: File stem (``ES2004a`` ...).
        transcript: Turns as ``{"speaker", "content"}`` dicts.
        general_queries: ``{"query", "answer"}`` dicts of the general query list.
        topic_spans: ``(topic, [(start_turn, end_turn), ...])`` pairs (inclusive turns).
    """

    meeting_id: str
    transcript: list[dict[str, Any]]
    general_queries: list[dict[str, str]]
    topic_spans: list[tuple[str, list[tuple[int, int]]]] = field(default_factory=list)

    @property
    def summary_references(self) -> list[str]:
        """Return the answers of the "Summarize the whole meeting." style general queries."""
        return [
            item["answer"] for item in self.general_queries if _WHOLE_MEETING.search(item["query"])
        ]


def load_dialogsum(datasets_dir: str | Path, split: str = "test") -> list[DialogSumExample]:
    """Load a DialogSum split.

    Args:
        datasets_dir: The shared datasets folder (holding ``dialogsum/``).
        split: ``dev`` or ``test``.

    Returns:
        Dialogues in file order.

    Raises:
        ValueError: For an unknown split.
        FileNotFoundError: When the file is absent.
    """
    if split not in DIALOGSUM_SPLITS:
        raise ValueError(f"DialogSum split must be one of {DIALOGSUM_SPLITS}, got {split!r}")
    path = Path(datasets_dir) / "dialogsum" / f"dialogsum.{split}.jsonl"
    examples = []
    with path.open(encoding="utf-8") as handle:
        for line in handle:
            if not line.strip():
                continue
            row = json.loads(line)
            if "summary" in row:
                summaries, topics = [row["summary"]], [row.get("topic", "")]
            else:
                keys = sorted(key for key in row if re.fullmatch(r"summary\d+", key))
                summaries = [row[key] for key in keys]
                topics = [row.get(key.replace("summary", "topic"), "") for key in keys]
            examples.append(
                DialogSumExample(
                    fname=row["fname"],
                    dialogue=row["dialogue"],
                    summaries=summaries,
                    topics=topics,
                )
            )
    return examples


def load_qmsum_product(datasets_dir: str | Path, split: str = "test") -> list[QMSumMeeting]:
    """Load the QMSum Product (AMI) meetings of a split.

    Args:
        datasets_dir: The shared datasets folder (holding ``qmsum_meetings/``).
        split: ``train``, ``val`` or ``test``.

    Returns:
        Meetings sorted by id.

    Raises:
        ValueError: For an unknown split.
        FileNotFoundError: When the split folder is absent.
    """
    if split not in QMSUM_SPLITS:
        raise ValueError(f"QMSum split must be one of {QMSUM_SPLITS}, got {split!r}")
    folder = Path(datasets_dir) / "qmsum_meetings" / "Product" / split
    if not folder.is_dir():
        raise FileNotFoundError(f"QMSum Product split folder not found: {folder}")
    meetings = []
    for path in sorted(folder.glob("*.json")):
        data = json.loads(path.read_text(encoding="utf-8"))
        spans = [
            (
                item.get("topic", ""),
                [(int(start), int(end)) for start, end in item.get("relevant_text_span", [])],
            )
            for item in data.get("topic_list", [])
        ]
        meetings.append(
            QMSumMeeting(
                meeting_id=path.stem,
                transcript=list(data["meeting_transcripts"]),
                general_queries=list(data.get("general_query_list", [])),
                topic_spans=spans,
            )
        )
    return meetings
