"""The weekly executive summary and the trends of the dashboard's metrics.

:func:`build_report` runs every named query (:mod:`insights.executive_queries`) over the week
and the 7 weeks before it: the figures (this week's value, the previous week's, the change and
its direction, the SQL that computed it) and the trends with their 8-week history
(:mod:`insights.trends`). :func:`summarize_week` adds the prose
(:func:`insights.executive_writer.write_summary`: a hosted LLM whose every number is checked
against the figures, else the templates).

Callers: the dashboard (:func:`executive_section`, templates only, no LLM call on render), the
gateway (``GET /api/ai/insights/executive-summary``: figures in the gateway's threadpool, prose
in the TextAI deployment), the ``executive-summary`` Prefect flow and ``haste insights
executive-summary`` (:func:`summarize_with_llm_layer`).
"""

from __future__ import annotations

import datetime as dt
import json
import os
from pathlib import Path
from typing import Any

from insights.executive_queries import compute_weeks, registry, week_ending
from insights.executive_writer import FEATURE, GenerateText, write_summary
from insights.trends import build_trends, week_over_week


def build_report(url: str, day: dt.date | None = None) -> dict[str, Any]:
    """Return the week's figures and the trends of the dashboard's metrics.

    Args:
        url: Database URL.
        day: Last day of the week (default: today, UTC).

    Returns:
        ``week_start``, ``week_end`` (ISO dates), ``generated_at``, ``figures`` (``name``,
        ``section``, ``description``, ``value``, ``unit``, ``kind``, ``period``, ``query``,
        ``previous``, ``change``, ``change_pct``, ``direction``) and ``trends``.

    Raises:
        ValueError: When ``day`` is in the future or before 2000-01-01.
    """
    week = week_ending(day)
    weeks = week.history()
    values = compute_weeks(url, weeks)
    queries = registry()
    figures = []
    for name, query in queries.items():
        series = values[name]
        current, previous = series[-1], series[-2]
        period = week.label if query.kind == "flow" else f"at the end of {week.end.isoformat()}"
        figures.append(
            {
                "name": name,
                "section": query.section,
                "description": query.description,
                "value": current,
                "unit": query.unit,
                "kind": query.kind,
                "period": period,
                "query": query.sql(),
                "previous": previous,
                **week_over_week(current, previous, ratio=query.unit == "ratio"),
            }
        )
    return {
        "week_start": week.start.isoformat(),
        "week_end": week.end.isoformat(),
        "generated_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "figures": figures,
        "trends": build_trends(values, weeks, queries),
    }


def summarize_week(
    url: str,
    day: dt.date | None = None,
    generate: GenerateText | None = None,
    llm_config: Any = None,
) -> dict[str, Any]:
    """Return the report of :func:`build_report` with its summary (see ``write_summary``)."""
    report = build_report(url, day)
    return {**report, **write_summary(report, generate, llm_config)}


def executive_section(url: str) -> dict[str, Any] | None:
    """Return the dashboard's executive summary (templates only) and trends with sparklines.

    Args:
        url: Database URL.

    Returns:
        :func:`summarize_week` of the week ending today, each trend with a ``sparkline`` SVG.
    """
    from insights.executive_charts import sparkline_svg

    section = summarize_week(url)
    for trend in section["trends"]:
        values = [point["value"] for point in trend["history"]]
        label = f"{trend['name']}, last {len(values)} weeks"
        trend["sparkline"] = sparkline_svg(values, label, trend["tone"])
    return section


def llm_layer_generate(url: str) -> tuple[GenerateText, Any]:
    """Return ``generate(prompt, variables)`` through the LLM service, and its configuration.

    The calls are billed to the feature ``executive_summary`` without a user (a system job);
    ``generate.calls`` keeps the completions (provider, tokens, cost).
    """
    from textai.llm.service import LLMService
    from textai.llm.usage import UsageContext

    service = LLMService.from_config(url)
    calls: list[Any] = []

    def generate(prompt_name: str, variables: dict[str, Any]) -> str:
        usage = UsageContext(user_id=None, team_id=None, feature=FEATURE)
        completion = service.complete(prompt_name, variables, usage=usage)
        calls.append(completion)
        return completion.text

    generate.calls = calls  # type: ignore[attr-defined]
    return generate, service.config


def summarize_with_llm_layer(url: str, day: dt.date | None = None) -> dict[str, Any]:
    """Return :func:`summarize_week` written through the LLM layer (flow and CLI)."""
    generate, config = llm_layer_generate(url)
    result = summarize_week(url, day, generate, config)
    calls = getattr(generate, "calls", [])
    result["llm"] = (
        {"provider": calls[-1].provider, "model": calls[-1].model, "calls": len(calls)}
        if calls
        else None
    )
    return result


def save_summary(result: dict[str, Any], reports_dir: Path) -> dict[str, Path]:
    """Write the summary (markdown) and the whole answer (JSON) under ``<reports_dir>/executive``.

    Files go to ``executive/<week_end>/summary.md`` and ``summary.json``; each is written to a
    temporary file first and renamed, so a reader never sees half a report.

    Args:
        result: Output of :func:`summarize_week` (or :func:`summarize_with_llm_layer`).
        reports_dir: The platform's reports folder (``settings.data_dir / "reports"``).

    Returns:
        ``markdown`` and ``json`` paths.
    """
    folder = Path(reports_dir) / "executive" / str(result["week_end"])
    folder.mkdir(parents=True, exist_ok=True)
    document = {key: value for key, value in result.items() if key != "sparkline"}
    paths = {"markdown": folder / "summary.md", "json": folder / "summary.json"}
    contents = {
        "markdown": result["summary"],
        "json": json.dumps(document, indent=2, default=str) + "\n",
    }
    for kind, path in paths.items():
        temporary = path.with_suffix(path.suffix + ".tmp")
        temporary.write_text(contents[kind], encoding="utf-8")
        os.replace(temporary, path)
    return paths
