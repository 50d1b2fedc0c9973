"""Executive summary on real databases: figures vs the rows, the dashboard, the flow, the LLM wire.

The CRM is :func:`tests.support.dashboard_seed.seed_dashboard_data` plus
:func:`tests.support.executive_seed.seed_executive_data` (deals, linked win probabilities,
stream alerts, reviews around the current week), on SQLite and on PostgreSQL. The figures are
compared with values worked out by hand and with counts made in Python over every row.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from haste.db import AIInteraction, LeadScore, Prediction, session_scope
from haste.db.models import as_utc
from haste.settings import Settings
from insights.executive import build_report, executive_section, summarize_week
from insights.executive_queries import week_ending
from insights.executive_writer import FEATURE, check_summary, write_offline, write_summary
from insights.trends import TREND_METRICS
from tests.support.dashboard_seed import seed_dashboard_data
from tests.support.executive_seed import seed_executive_data
from tests.support.llm_wire_server import OPENAI_PATH, WIRE_API_KEY, WireServer


@pytest.fixture(params=["sqlite", "postgres"])
def seeded(request: pytest.FixtureRequest, tmp_path: Path) -> tuple[str, dict[str, Any]]:
    url = (
        f"sqlite:///{tmp_path / 'crm.db'}"
        if request.param == "sqlite"
        else request.getfixturevalue("pg_url")
    )
    seed_dashboard_data(url)
    return url, seed_executive_data(url)


def by_name(report: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {figure["name"]: figure for figure in report["figures"]}


def in_week(moment: dt.datetime, since: dt.datetime, until: dt.datetime) -> bool:
    return since <= as_utc(moment) < until


def test_figures_equal_the_rows(seeded: tuple[str, dict[str, Any]]) -> None:
    url, expected = seeded
    figures = by_name(build_report(url))
    for name, value in expected["current"].items():
        assert figures[name]["value"] == pytest.approx(value), name
    for name, value in expected["previous"].items():
        assert figures[name]["previous"] == pytest.approx(value), name
    assert figures["pipeline.open_value"]["direction"] == "down"
    assert figures["pipeline.open_value"]["change_pct"] == pytest.approx(-40.0)

    week = week_ending()
    since, until = week.since, week.until
    with session_scope(url) as session:
        calls = session.scalars(select(AIInteraction)).all()
        week_calls = [c for c in calls if in_week(c.created_at, since, until)]
        predictions = session.scalars(select(Prediction)).all()
        scores = [s.score for s in session.scalars(select(LeadScore))
                  if in_week(s.calculated_at, since, until)]  # fmt: skip
    assert figures["ai.calls_week"]["value"] == len(week_calls) > 0
    cost = sum((c.cost_usd or Decimal(0) for c in week_calls), Decimal(0))
    assert figures["ai.cost_week"]["value"] == pytest.approx(float(cost), abs=1e-6)
    errors = sum(1 for c in week_calls if c.error_message is not None)
    assert figures["ai.error_rate_week"]["value"] == pytest.approx(
        errors / len(week_calls), abs=1e-4
    )
    assert figures["ai.predictions_week"]["value"] == sum(
        1 for p in predictions if in_week(p.created_at, since, until)
    )
    assert figures["leads.mean_score_week"]["value"] == pytest.approx(sum(scores) / len(scores))
    latest: dict[Any, Prediction] = {}
    for p in sorted(predictions, key=lambda p: as_utc(p.created_at)):
        if p.prediction_type == "churn" and as_utc(p.created_at) < until:
            latest[p.entity_id] = p
    high = sum(1 for p in latest.values() if p.prediction_value["risk_band"] == "high")
    assert figures["churn.scored_accounts"]["value"] == len(latest) > 0
    assert figures["churn.high_risk_accounts"]["value"] == high


def test_summary_cites_the_figures_and_the_dashboard_shows_it(
    seeded: tuple[str, dict[str, Any]], tmp_path: Path
) -> None:
    from serving.dashboard.render import render_dashboard

    url, _ = seeded
    section = executive_section(url)
    assert section is not None and section["path"] == "offline_template"
    dates = (section["week_start"], section["week_end"])
    assert check_summary(section["summary"], section["figures"], dates) == []
    assert "$12,100" in section["summary"]  # the forecast: 0.6 x 10,000 + 0.8 x 5,000 + ...
    assert "$5,000 of it was won, 41.3% of the forecast" in section["summary"]
    assert [t["name"] for t in section["trends"]] == list(TREND_METRICS)
    assert all(t["sparkline"].startswith("<svg") for t in section["trends"])

    html = render_dashboard(url, tmp_path / "reports")
    start = html.index('<section class="card" id="executive">')
    card = html[start : html.index("</section>", start)]
    cited = set(re.findall(r'href="#figure-([a-z_-]+)"', card))
    rows = set(re.findall(r'id="figure-([a-z_-]+)"', card))
    assert cited and cited <= rows
    assert card.count('class="trend-row"') == len(TREND_METRICS)
    assert card.count('class="sparkline"') == len(TREND_METRICS)


def test_a_past_week_and_an_empty_database(tmp_path: Path) -> None:
    from haste.db import upgrade_database

    url = f"sqlite:///{tmp_path / 'empty.db'}"
    upgrade_database(url)
    result = summarize_week(url, dt.date(2026, 1, 4))
    assert (result["week_start"], result["week_end"]) == ("2025-12-29", "2026-01-04")
    assert all(f["value"] in (0, 0.0, None) for f in result["figures"])
    assert check_summary(result["summary"], result["figures"], ("2025-12-29", "2026-01-04")) == []
    with pytest.raises(ValueError, match="in the future"):
        build_report(url, dt.datetime.now(dt.UTC).date() + dt.timedelta(days=1))


def test_weekly_flow_publishes_artifacts_and_saves_reports(isolated_settings: Settings) -> None:
    from prefect.artifacts import Artifact
    from prefect.testing.utilities import prefect_test_harness

    from flows.executive_summary import executive_summary
    from haste.db.session import dispose_all_engines

    url = isolated_settings.database_url
    seed_dashboard_data(url)
    expected = seed_executive_data(url)
    try:
        with prefect_test_harness(server_startup_timeout=180):
            result = executive_summary()
            markdown = Artifact.get("executive-summary")
            table = Artifact.get("executive-summary-figures")
    finally:
        dispose_all_engines()
    assert result["path"] == "offline_template"  # configs/llm.yaml: offline by default
    assert "no hosted LLM provider" in result["fallback_reason"]
    figures = by_name(result)
    assert figures["forecast.expected_value"]["value"] == pytest.approx(12_100.0)
    folder = isolated_settings.data_dir / "reports" / "executive" / result["week_end"]
    assert Path(result["reports"]["markdown"]) == folder / "summary.md"
    assert (folder / "summary.md").read_text() == result["summary"]
    saved = json.loads((folder / "summary.json").read_text())
    assert saved["figures"] == json.loads(json.dumps(result["figures"]))
    assert not list(folder.glob("*.tmp"))
    assert markdown is not None and markdown.data == result["summary"]
    assert table is not None
    rows = json.loads(table.data) if isinstance(table.data, str) else table.data
    values = {row["name"]: row["value"] for row in rows}
    assert values["pipeline.open_deals"] == expected["current"]["pipeline.open_deals"]


# --- the hosted path through the LLM service (OpenAI SDK -> local wire server) ------------------


def wire_generate(url: str, wire: WireServer) -> tuple[Callable[..., str], Any, list[Any]]:
    """Return ``generate`` through a real LLMService whose OpenAI provider is the wire server."""
    from textai.llm.budgets import BudgetManager
    from textai.llm.client import LLMClient
    from textai.llm.config import parse_llm_config
    from textai.llm.prompts import PromptRegistry
    from textai.llm.providers import LLMResponse, OpenAIProvider, Provider
    from textai.llm.service import LLMService
    from textai.llm.usage import UsageContext

    class Offline(Provider):
        def __init__(self) -> None:
            self.name, self.model = "offline", "minilm-retrieval"

        def generate(self, request: Any) -> LLMResponse:
            return LLMResponse("offline text", "offline", self.model, 0, 0, 0.5, 0.0)

    config = parse_llm_config(
        {
            "providers": {
                "openai": {"kind": "openai", "model": "gpt-4o-mini", "max_retries": 0,
                           "api_key_env": "HASTE_TEST_WIRE_KEY",
                           "base_url": wire.openai_base_url, "input_price_per_mtok": 0.15,
                           "output_price_per_mtok": 0.60},
                "offline": {"kind": "offline", "model": "minilm-retrieval"},
            },
            "fallback_chain": ["openai", "offline"],
            "default_provider": "openai",
            "retry": {"max_attempts": 1},
            "cache": {"enabled": False},
        }
    )  # fmt: skip
    openai = OpenAIProvider(
        "openai", "gpt-4o-mini", api_key=WIRE_API_KEY, base_url=wire.openai_base_url,
        max_retries=0, input_price_per_mtok=0.15, output_price_per_mtok=0.60,
    )  # fmt: skip
    client = LLMClient(config, providers={"openai": openai, "offline": Offline()})
    service = LLMService(config, client, PromptRegistry(), BudgetManager(url, config), url)
    calls: list[Any] = []

    def generate(prompt: str, variables: dict[str, Any]) -> str:
        completion = service.complete(prompt, variables, usage=UsageContext(None, None, FEATURE))
        calls.append(completion)
        return completion.text

    generate.calls = calls  # type: ignore[attr-defined]
    return generate, config, calls


def test_hosted_answer_is_checked_and_refused_when_it_does_not_cite(
    pg_url: str, wire: WireServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HASTE_TEST_WIRE_KEY", WIRE_API_KEY)  # a keyed provider is "hosted"
    seed_dashboard_data(pg_url)
    seed_executive_data(pg_url)
    report = build_report(pg_url)
    wire.reset()
    generate, config, calls = wire_generate(pg_url, wire)

    echoed = write_summary(report, generate, config)
    sent = json.dumps(wire.get_requests(OPENAI_PATH)[-1].body)
    assert "pipeline.open_value" in sent and "executive summary of the week" in sent
    assert calls[-1].provider == "openai"
    # The wire server echoes the prompt: figures as JSON, numbers without citations.
    assert echoed["path"] == "offline_template"
    assert echoed["fallback_reason"].startswith("the LLM summary was refused")
    assert echoed["summary"] == write_offline(report)
    with session_scope(pg_url) as session:
        rows = session.scalars(select(AIInteraction).where(AIInteraction.feature == FEATURE)).all()
    assert len(rows) == 1 and rows[0].provider == "openai"

    wire.fail_next(1, 500)
    failed = write_summary(report, generate, config)
    assert calls[-1].provider == "offline"
    assert failed["fallback_reason"] == "the hosted providers failed and the offline model answered"
