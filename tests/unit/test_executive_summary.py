"""Executive summary: trends math, weeks, number reading, the validator and both writers."""

from __future__ import annotations

import datetime as dt
import itertools
import re
from typing import Any

import pytest

from insights.executive_charts import sparkline_svg
from insights.executive_queries import Week, registry, week_ending
from insights.executive_writer import (
    check_summary,
    format_value,
    parse_summary,
    read_numbers,
    write_offline,
    write_summary,
)
from insights.trends import build_trends, tone_of, week_over_week
from textai.llm.config import parse_llm_config

WEEK = ("2026-11-28", "2026-12-04")


# --- trends ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("current", "previous", "ratio", "change", "pct", "direction"),
    [
        (120, 100, False, 20, 20.0, "up"),
        (80, 100, False, -20, -20.0, "down"),
        (103, 100, False, 3, 3.0, "flat"),  # within 5 %
        (105, 100, False, 5, 5.0, "up"),  # the threshold itself is a move
        (7, 0, False, 7, None, "up"),  # from nothing: no percentage
        (0, 0, False, 0, None, "flat"),
        (0, 4, False, -4, -100.0, "down"),
        (0.625, 0.62, True, 0.005, 0.8, "flat"),  # ratios: under 1 percentage point
        (0.65, 0.62, True, 0.03, 4.8, "up"),  # 3 points is a move although 4.8 % < 5 %
        (None, 3, False, None, None, "n/a"),
        (3, None, False, None, None, "n/a"),
    ],
)
def test_week_over_week(
    current: Any, previous: Any, ratio: bool, change: Any, pct: Any, direction: str
) -> None:
    result = week_over_week(current, previous, ratio=ratio)
    assert result["direction"] == direction
    assert result["change_pct"] == pct
    if change is None:
        assert result["change"] is None
    else:
        assert result["change"] == pytest.approx(change)
    if isinstance(current, int) and isinstance(previous, int):
        assert isinstance(result["change"], int)


def test_tone_depends_on_what_is_good() -> None:
    assert tone_of("up", True) == "good"
    assert tone_of("up", False) == "bad"
    assert tone_of("down", False) == "good"
    assert tone_of("flat", True) == "neutral"
    assert tone_of("up", None) == "neutral"


def test_build_trends_keeps_history_and_skips_missing_series() -> None:
    weeks = Week.ending(dt.date(2026, 12, 4)).history(3)
    values = {"ai.calls_week": [4, 0, 9], "ai.cost_week": [1.0, 2.0]}  # cost: wrong length
    trends = build_trends(values, weeks, registry(), names=("ai.calls_week", "ai.cost_week"))
    assert [t["name"] for t in trends] == ["ai.calls_week"]
    calls = trends[0]
    assert (calls["current"], calls["previous"], calls["change"]) == (9, 0, 9)
    assert calls["change_pct"] is None and calls["direction"] == "up"
    assert [p["value"] for p in calls["history"]] == [4, 0, 9]
    assert calls["history"][-1] == {
        "week_start": "2026-11-28",
        "week_end": "2026-12-04",
        "value": 9,
    }


def test_weeks_are_seven_contiguous_days_oldest_first() -> None:
    week = Week.ending(dt.date(2026, 3, 1))
    assert week.start == dt.date(2026, 2, 23)
    assert week.until - week.since == dt.timedelta(days=7)
    assert week.since.tzinfo is dt.UTC
    history = week.history()
    assert len(history) == 8 and history[-1] == week
    for before, after in itertools.pairwise(history):
        assert before.until == after.since


def test_week_ending_refuses_the_future_and_the_distant_past() -> None:
    today = dt.date(2026, 12, 4)
    assert week_ending(None, today=today).end == today
    assert week_ending(dt.date(2026, 1, 1), today=today).start == dt.date(2025, 12, 26)
    with pytest.raises(ValueError, match="in the future"):
        week_ending(dt.date(2026, 12, 5), today=today)
    with pytest.raises(ValueError, match="2000-01-01"):
        week_ending(dt.date(1, 1, 1), today=today)


def test_every_named_query_is_documented_and_shows_its_query() -> None:
    queries = registry()
    assert len(queries) >= 20
    for name, query in queries.items():
        assert re.fullmatch(r"[a-z_]+\.[a-z_]+", name), name  # no digit: citations are clean
        assert query.description and query.unit in ("count", "usd", "ratio", "score")
        assert query.kind in ("flow", "stock")
        text = query.sql()
        assert text.startswith("SELECT") or text.startswith("monitoring."), name
    assert ":week_end" in queries["pipeline.open_value"].sql()
    assert "win_probability" in queries["forecast.expected_value"].sql()


# --- numbers and the validator -----------------------------------------------------------------


def test_read_numbers_normalises_money_suffixes_and_percentages() -> None:
    found = read_numbers("$12,500 and 12.5k and 62.5% and 3 deals and $0.0927")
    values = [(value, pct) for _, value, _, pct in found]
    assert values == [(12500.0, False), (12500.0, False), (62.5, True), (3.0, False),
                      (0.0927, False)]  # fmt: skip
    tolerance = {written: tol for written, _, tol, _ in found}
    assert tolerance["12.5k"] == pytest.approx(50.0, rel=1e-6)
    assert tolerance["$12,500"] == pytest.approx(0.5, rel=1e-4)


def test_format_value_by_unit() -> None:
    assert format_value(12487.33, "usd") == "$12,487"
    assert format_value(12.5, "usd") == "$12.50"
    assert format_value(0.092677, "usd") == "$0.0927"
    assert format_value(0, "usd") == "$0"
    assert format_value(0.6667, "ratio") == "66.7%"
    assert format_value(50.764706, "score") == "50.8"
    assert format_value(1204, "count") == "1,204"
    assert format_value(None, "count") == "n/a"


def figure(name: str, value: Any, unit: str = "count", previous: Any = None) -> dict[str, Any]:
    change = week_over_week(value, previous, ratio=unit == "ratio")
    return {"name": name, "unit": unit, "value": value, "previous": previous, **change}


FIGURES = [
    figure("pipeline.open_value", 12487.33, "usd", 10000.0),
    figure("pipeline.open_deals", 14, "count", 12),
    figure("deals.win_rate_week", 0.625, "ratio", 0.5),
]


def test_check_summary_accepts_cited_numbers_in_any_normal_form() -> None:
    text = (
        "# Week 2026-11-28 to 2026-12-04\n\n## Pipeline\n\n"
        "Open pipeline is $12.5k across 14 deals [pipeline.open_value] [pipeline.open_deals]. "
        "It grew 24.9% from $10,000 [pipeline.open_value]. "
        "The win rate was 62.5%, up 12.5 points [deals.win_rate_week].\n"
        "- Pipeline reviewed for 2026-12-04 [pipeline.open_deals].\n"
    )
    assert check_summary(text, FIGURES, WEEK) == []


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("Open pipeline is $13k [pipeline.open_value].", "'$13k' is not a value"),
        ("Open pipeline is $12,487 across 15 deals [pipeline.open_value] [pipeline.open_deals].",
         "'15' is not a value"),
        ("There are 14 open deals [pipeline.open_value].", "'14' is not a value"),  # wrong cite
        ("Open pipeline is $12,487 [pipeline.open_valu].", "unknown citation [pipeline.open_valu]"),
        ("Open pipeline is $12,487.", "stated without citing a figure"),
        ("On 2026-11-01 pipeline was $12,487 [pipeline.open_value].", "date 2026-11-01"),
        ("## Top 3 deals\n\nPipeline is $12,487 [pipeline.open_value].", "a heading states"),
        ("Pipeline is healthy.", "cites no figure"),
        ("Pipeline ranks 3rd [pipeline.open_value].", "unreadable number"),
    ],
)  # fmt: skip
def test_check_summary_refuses(text: str, problem: str) -> None:
    problems = check_summary(text, FIGURES, WEEK)
    assert any(problem in p for p in problems), problems


def test_parse_summary_splits_sections_sentences_and_citations() -> None:
    sections = parse_summary(
        "# Title\n\n## Pipeline\n\nA is $1 [a.b]. B is 2 [c.d] [a.b].\n\n## AI\n\nNone."
    )
    assert [s["title"] for s in sections] == ["Pipeline", "AI"]
    first = sections[0]["sentences"]
    assert first[0] == {"text": "A is $1.", "citations": ["a.b"]}
    assert first[1] == {"text": "B is 2.", "citations": ["c.d", "a.b"]}


# --- the offline writer ------------------------------------------------------------------------


def report(values: dict[str, Any], previous: dict[str, Any] | None = None) -> dict[str, Any]:
    """A report holding every named query (values default to 0, previous to values)."""
    previous = previous or {}
    figures = []
    for name, query in registry().items():
        value = values.get(name, 0)
        figures.append(
            {
                **figure(name, value, query.unit, previous.get(name, value)),
                "section": query.section,
                "description": query.description,
                "query": query.sql(),
                "period": "2026-11-28 to 2026-12-04",
            }
        )
    return {"week_start": WEEK[0], "week_end": WEEK[1], "figures": figures}


RICH = {
    "pipeline.open_value": 152340.5, "pipeline.open_deals": 31, "pipeline.new_deals_week": 1,
    "pipeline.new_value_week": 8200.0, "deals.won_count_week": 4, "deals.won_value_week": 41000.0,
    "deals.win_rate_week": 0.5714, "forecast.deals_due": 6, "forecast.scored_deals": 5,
    "forecast.expected_value": 30250.75, "forecast.actual_won": 26000.0,
    "forecast.attainment": 0.8595, "churn.high_risk_accounts": 3, "churn.scored_accounts": 120,
    "anomalies.count_week": 2, "anomalies.high_severity_week": 1, "alerts.stream_week": 0,
    "ai.calls_week": 1873, "ai.cost_week": 4.182311, "ai.error_rate_week": 0.0123,
    "ai.predictions_week": 912, "leads.mean_score_week": 47.25, "adoption.accept_rate_week": 0.41,
}  # fmt: skip


@pytest.mark.parametrize(
    "values",
    [
        RICH,
        {},  # an empty CRM: zeros everywhere
        {**RICH, "deals.win_rate_week": None, "forecast.attainment": None,
         "ai.error_rate_week": None, "leads.mean_score_week": None,
         "adoption.accept_rate_week": None, "forecast.scored_deals": 0},
    ],
    ids=["rich", "empty", "undefined"],
)  # fmt: skip
def test_offline_writer_cites_every_number_it_states(values: dict[str, Any]) -> None:
    previous = {name: (v * 0.8 if isinstance(v, float) else v) for name, v in RICH.items()}
    rep = report(values, previous)
    text = write_offline(rep)
    assert check_summary(text, rep["figures"], WEEK) == []
    assert "{" not in text and "n/a" not in text
    cited = {c for s in parse_summary(text) for sentence in s["sentences"]
             for c in sentence["citations"]}  # fmt: skip
    assert cited <= set(registry())
    titles = [s["title"] for s in parse_summary(text)]
    assert titles == ["Pipeline", "Forecast vs actual", "Churn risk", "Anomalies and alerts",
                      "AI usage and adoption"]  # fmt: skip


def test_offline_writer_on_a_rich_week_cites_every_figure() -> None:
    rep = report(RICH, {name: 0 for name in RICH})
    text = write_offline(rep)
    cited = set(re.findall(r"\[([a-z_.]+)\]", text))
    assert cited == set(registry())
    assert "$152,340" in text and "1 new deal worth $8,200 was created" in text
    assert "86.0% of the forecast" in text


# --- the LLM path ------------------------------------------------------------------------------


def hosted_config() -> Any:
    return parse_llm_config(
        {
            "providers": {
                "local": {"kind": "openai_compatible", "model": "m",
                          "base_url": "http://127.0.0.1:9/v1"},
                "offline": {"kind": "offline", "model": "minilm-retrieval"},
            },
            "fallback_chain": ["local", "offline"],
            "default_provider": "local",
        }
    )  # fmt: skip


class FakeGenerate:
    """``generate(prompt, variables)`` answering a fixed text, recording what it was asked."""

    def __init__(self, answer: str | Exception, provider: str = "local") -> None:
        self.answer, self.provider = answer, provider
        self.asked: list[tuple[str, dict[str, Any]]] = []
        self.calls: list[Any] = []

    def __call__(self, prompt: str, variables: dict[str, Any]) -> str:
        self.asked.append((prompt, variables))
        if isinstance(self.answer, Exception):
            raise self.answer
        self.calls.append(type("Completion", (), {"provider": self.provider})())
        return self.answer


GOOD = (
    "## Pipeline\n\nOpen pipeline reached $152.3k across 31 open deals "
    "[pipeline.open_value] [pipeline.open_deals]. Four deals were won for $41,000 "
    "[deals.won_value_week].\n\n## AI usage and adoption\n\nThe platform made 1,873 AI calls "
    "costing $4.18 [ai.calls_week] [ai.cost_week].\n"
)


def test_llm_summary_is_kept_when_every_number_holds() -> None:
    rep = report(RICH)
    generate = FakeGenerate(GOOD)
    result = write_summary(rep, generate, hosted_config())
    assert result["path"] == "llm" and result["fallback_reason"] is None
    assert result["summary"].startswith("## Pipeline")
    prompt, variables = generate.asked[0]
    assert prompt == "executive_summary"
    assert '"name":"pipeline.open_value"' in variables["figures"]
    assert variables["week_start"] == WEEK[0]


@pytest.mark.parametrize(
    ("answer", "reason"),
    [
        (GOOD.replace("$41,000", "$45,000"), "'$45,000' is not a value"),
        (GOOD.replace("[ai.cost_week]", "[ai.spend]"), "unknown citation [ai.spend]"),
        ("Everything went well this week.", "cites no figure"),
    ],
)
def test_llm_summary_is_refused_and_the_templates_write_it(answer: str, reason: str) -> None:
    rep = report(RICH)
    result = write_summary(rep, FakeGenerate(answer), hosted_config())
    assert result["path"] == "offline_template"
    assert reason in result["fallback_reason"]
    assert result["summary"] == write_offline(rep)


def test_llm_failures_and_offline_routes_fall_back_with_a_reason() -> None:
    rep = report(RICH)
    failed = write_summary(rep, FakeGenerate(RuntimeError("budget exceeded")), hosted_config())
    assert "the LLM call failed: RuntimeError: budget exceeded" in failed["fallback_reason"]
    offline = write_summary(rep, FakeGenerate(GOOD, provider="offline"), hosted_config())
    assert "offline model answered" in offline["fallback_reason"]
    not_hosted = parse_llm_config(
        {"providers": {"offline": {"kind": "offline", "model": "minilm-retrieval"}},
         "fallback_chain": ["offline"], "default_provider": "offline"}
    )  # fmt: skip
    generate = FakeGenerate(GOOD)
    skipped = write_summary(rep, generate, not_hosted)
    assert "no hosted LLM provider" in skipped["fallback_reason"] and not generate.asked
    plain = write_summary(rep)
    assert plain["path"] == "offline_template" and plain["fallback_reason"] is None


# --- sparklines and the dashboard template -----------------------------------------------------


def test_sparkline_is_an_inline_svg_with_gaps() -> None:
    svg = sparkline_svg([1, 2, None, 4, 3, 5, 8, 6], "ai.calls_week, last 8 weeks", "good")
    assert svg.startswith("<svg") and svg.rstrip().endswith("</svg>")
    assert 'role="img"' in svg and 'aria-label="ai.calls_week, last 8 weeks"' in svg
    assert "width=" not in svg.split(">", 1)[0]
    assert "#16a34a" in svg  # the "good" colour
    assert sparkline_svg([None] * 8, "empty").startswith("<svg")
    assert sparkline_svg([3], "one week").startswith("<svg")


def test_executive_template_escapes_text_and_links_citations() -> None:
    from serving.dashboard.render import _environment

    rep = report(RICH, {name: 0 for name in RICH})
    rep["figures"][0]["description"] = "<script>alert(1)</script>"
    written = write_summary(rep)
    trends = build_trends(
        {"ai.calls_week": [1, 2, 3, 4, 5, 6, 7, 8]},
        Week.ending(dt.date(2026, 12, 4)).history(),
        registry(),
        names=("ai.calls_week",),
    )
    trends[0]["sparkline"] = sparkline_svg([1, 2, 3, 4, 5, 6, 7, 8], "calls", trends[0]["tone"])
    executive = {**rep, **written, "trends": trends}
    html = _environment().get_template("executive.html").render(data={"executive": executive})
    assert 'id="executive"' in html and "<script>alert" not in html
    assert "&lt;script&gt;" in html
    assert (
        'href="#figure-pipeline-open_value"' in html and 'id="figure-pipeline-open_value"' in html
    )
    assert 'data-metric="ai.calls_week" data-direction="up"' in html
    assert html.count("<svg") == 1
    empty = _environment().get_template("executive.html").render(data={"executive": None})
    assert 'id="executive"' not in empty


def test_prompt_renders_the_figures() -> None:
    from textai.llm.prompts import PromptRegistry

    rendered = PromptRegistry().render(
        "executive_summary",
        {"week_start": "2026-11-28", "week_end": "2026-12-04", "sections": "Pipeline",
         "figures": '[{"name":"pipeline.open_value","value":1}]'},
    )  # fmt: skip
    assert "2026-11-28 to 2026-12-04" in rendered.text
    assert '"name":"pipeline.open_value"' in rendered.text
    assert (rendered.system or "").startswith("You write short")


# --- the route, over a stand-in core (no Ray: the templates write the summary) -----------------


class ExecutiveCore:
    """Admits every call for ``usage``; no TextAI deployment; keeps the audit records."""

    def __init__(self, url: str) -> None:
        from types import SimpleNamespace

        from haste.settings import Settings
        from serving.config import RequestLimits

        self.database_url = url
        self.settings = Settings()
        self.config = SimpleNamespace(limits=RequestLimits(max_body_bytes=4096))
        self.text = None
        self.admitted: list[str] = []
        self.records: list[Any] = []

    def admit(self, headers: Any, permission: str) -> Any:
        import uuid

        from serving.auth import ANONYMOUS
        from serving.gateway import CallContext

        self.admitted.append(permission)
        return CallContext(ANONYMOUS, uuid.uuid4().hex, False)

    async def record(self, records: list[Any]) -> None:
        self.records.extend(records)


def test_route_answers_with_figures_and_refuses_future_weeks(tmp_path: Any) -> None:
    from fastapi.testclient import TestClient

    from haste.db import upgrade_database
    from serving.http import create_api

    url = f"sqlite:///{tmp_path / 'haste.db'}"
    upgrade_database(url)
    core = ExecutiveCore(url)
    client = TestClient(create_api(core))
    path = "/api/ai/insights/executive-summary"
    answer = client.get(path, params={"week_ending": "2026-01-04"})
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert (body["week_start"], body["week_end"]) == ("2025-12-29", "2026-01-04")
    assert body["path"] == "offline_template"
    assert body["fallback_reason"] == "the TextAI deployment is not running"
    assert {f["name"] for f in body["figures"]} == set(registry())
    assert body["summary"].startswith("# Executive summary, 2025-12-29 to 2026-01-04")
    assert core.admitted == ["usage"]
    (record,) = core.records
    assert record.feature == "executive_summary"
    tomorrow = dt.datetime.now(dt.UTC).date() + dt.timedelta(days=1)
    future = client.get(path, params={"week_ending": tomorrow.isoformat()})
    assert future.status_code == 422 and "in the future" in future.json()["detail"]
    assert client.get(path, params={"week_ending": "0001-01-01"}).status_code == 422
    assert client.get(path, params={"week_ending": "soon"}).status_code == 422
