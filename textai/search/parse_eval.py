"""Accuracy of query parsing on labelled query sets, per class (negation, numbers, dates...).

A labelled set is a YAML file (``tests/unit/query_classes.yaml`` and its held-out twin)::

    today: "2026-05-15"
    classes:
      negation:
        vocabulary: {industries: [...]}     # optional: the data's values for this class
        queries:
          - q: fintech deals that aren't closed lost
            filters: [[stage, "!=", closed_lost], [industry, "==", fintech]]
            entities: [deal]                # optional

A query is right when its filters (as a set; numbers as floats, ``in`` lists order-free) and,
where labelled, its entity types are exactly the expected ones.
"""

from __future__ import annotations

import datetime as dt
import json
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from textai.search.query_model import ParsedQuery, QueryVocabulary
from textai.search.query_parser import parse_query

#: ``parser(text, today, vocabulary) -> ParsedQuery``.
Parser = Callable[[str, dt.date, QueryVocabulary], ParsedQuery]


def filter_key(field: str, op: str, value: Any) -> str:
    """Return a comparable form of a filter: numbers as floats, ``in`` lists order-free.

    Args:
        field: Filter field.
        op: Operator.
        value: Value (JSON form: ISO dates, lists).

    Returns:
        A JSON string.

    """

    def plain(v: Any) -> Any:
        return float(v) if isinstance(v, int | float) and not isinstance(v, bool) else v

    if isinstance(value, list | tuple):
        items = [plain(v) for v in value]
        value = sorted(items, key=str) if op in ("in", "not in") else items
    else:
        value = plain(value)
    return json.dumps([field, op, value])


def mismatches(case: Mapping[str, Any], parsed: Mapping[str, Any]) -> list[str]:
    """Return how a parse (``ParsedQuery.to_dict()``) differs from its label.

    Args:
        case: The labelled query (``q``, ``filters``, optional ``entities``).
        parsed: The parse as a dict.

    Returns:
        The differences (empty: right).

    """
    want = {filter_key(*f) for f in case["filters"]}
    got = {filter_key(f["field"], f["op"], f["value"]) for f in parsed["filters"]}
    problems = [f"missing {w}" for w in sorted(want - got)]
    problems += [f"unexpected {g}" for g in sorted(got - want)]
    if "entities" in case and sorted(parsed["entity_types"]) != sorted(case["entities"]):
        problems.append(f"entity types {parsed['entity_types']}")
    return problems


def vocabulary_of(spec: Mapping[str, Any]) -> QueryVocabulary:
    """Return a class's vocabulary: the defaults with the listed values replaced.

    Args:
        spec: ``{"industries": [...], ...}`` (may be empty).

    Returns:
        The vocabulary.

    """
    return QueryVocabulary(**{k: tuple(v) for k, v in spec.items()})


def load_labelled(path: str | Path) -> tuple[dt.date, list[tuple[str, dict, dict]]]:
    """Read a labelled set.

    Args:
        path: The YAML file.

    Returns:
        ``(today, [(class, vocabulary spec, case), ...])``.

    """
    import yaml

    data = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    cases = [
        (name, section.get("vocabulary") or {}, case)
        for name, section in data["classes"].items()
        for case in section["queries"]
    ]
    return dt.date.fromisoformat(str(data["today"])), cases


def class_accuracy(path: str | Path, parser: Parser | None = None) -> dict[str, Any]:
    """Parse every query of a labelled set and report the accuracy per class.

    Args:
        path: The YAML file.
        parser: The parser (default: :func:`~textai.search.query_parser.parse_query`).

    Returns:
        ``{"classes": {name: {"right", "total", "accuracy"}}, "all": {...}, "failures":
        {query: problems}, "parse_ms_p50": float}``.

    """
    today, cases = load_labelled(path)
    parse = parser or (lambda text, day, vocab: parse_query(text, day, vocabulary=vocab))
    counts: dict[str, list[int]] = {}
    failures: dict[str, list[str]] = {}
    timings: list[float] = []
    for name, spec, case in cases:
        vocabulary = vocabulary_of(spec)
        start = time.perf_counter()
        try:
            problems = mismatches(case, parse(case["q"], today, vocabulary).to_dict())
        except ValueError as error:
            problems = [f"error: {error}"]
        timings.append((time.perf_counter() - start) * 1000)
        right_total = counts.setdefault(name, [0, 0])
        right_total[0] += not problems
        right_total[1] += 1
        if problems:
            failures[case["q"]] = problems
    right = sum(r for r, _ in counts.values())
    total = sum(t for _, t in counts.values())
    timings.sort()
    return {
        "classes": {
            name: {"right": r, "total": t, "accuracy": round(r / t, 3)}
            for name, (r, t) in counts.items()
        },
        "all": {"right": right, "total": total, "accuracy": round(right / max(total, 1), 3)},
        "failures": failures,
        "parse_ms_p50": round(timings[len(timings) // 2], 2) if timings else 0.0,
    }
