"""Content routes over a stand-in core and a seeded SQLite CRM; the dashboard section."""

from __future__ import annotations

import uuid
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from fastapi.testclient import TestClient

from haste.settings import Settings
from serving.auth import ANONYMOUS
from serving.config import RequestLimits
from serving.errors import ApiError
from serving.gateway import CallContext
from serving.http import create_api

KEY = "hk_test"


class StubCore:
    """Admits ``X-API-Key: hk_test``; consent is 'held' for every stored contact."""

    def __init__(self, url: str, tmp_path: Path) -> None:
        self.database_url = url
        self.reports_dir = tmp_path / "reports"
        self.settings = Settings()
        self.config = SimpleNamespace(limits=RequestLimits(max_body_bytes=4096))
        self.admitted: list[str] = []
        self.recorded: list[Any] = []

    def admit(self, headers: Any, permission: str) -> CallContext:
        if headers.get("x-api-key") != KEY:
            raise ApiError(401, "missing API key: send it in the X-API-Key header")
        self.admitted.append(permission)
        return CallContext(ANONYMOUS, uuid.uuid4().hex, False)

    def require_consent(self, context: Any, feature: str, contact_id: uuid.UUID) -> bool:
        from haste.db import Contact, session_scope

        with session_scope(self.database_url) as session:
            return session.get(Contact, contact_id) is not None

    async def record(self, records: list[Any]) -> None:
        self.recorded.extend(records)


@pytest.fixture(scope="module")
def seeded(tmp_path_factory: pytest.TempPathFactory) -> str:
    from content.library import seed_library
    from content.sends import store_synthetic_sends
    from haste.db import dispose_engine, upgrade_database
    from pipelines.crm_store import store_crm
    from pipelines.synthetic import generate_crm

    url = f"sqlite:///{tmp_path_factory.mktemp('content') / 'haste.db'}"
    upgrade_database(url)
    store_crm(generate_crm(n_contacts=200, seed=3, start="2026-01-01", days=60), url)
    assert seed_library(url) > 20
    assert seed_library(url) == 0  # idempotent
    assert store_synthetic_sends(url, n=3000)["sends"] == 3000
    assert store_synthetic_sends(url, n=3000)["sends"] == 0
    yield url
    dispose_engine(url)


@pytest.fixture()
def core(seeded: str, tmp_path: Path) -> StubCore:
    return StubCore(seeded, tmp_path)


@pytest.fixture()
def client(core: StubCore) -> TestClient:
    return TestClient(create_api(core), headers={"X-API-Key": KEY})


def _a_contact(url: str) -> str:
    from sqlalchemy import select

    from haste.db import ContentSend, session_scope

    with session_scope(url) as session:
        return str(session.scalar(select(ContentSend.contact_id).limit(1)))


def test_performance_per_item_and_segment(client: TestClient, core: StubCore) -> None:
    answer = client.get(
        "/api/ai/content/performance",
        params={"segment": "seniority", "metric": "click", "kind": "email_template"},
    )
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert core.admitted == ["usage"]
    assert body["metric"] == "click" and body["n_sends"] > 500
    assert {i["kind"] for i in body["items"]} == {"email_template"}
    means = [i["posterior_mean"] for i in body["items"]]
    assert means == sorted(means, reverse=True)
    for item in body["items"]:
        assert item["ci95"][0] <= item["posterior_mean"] <= item["ci95"][1]
    assert sum(1 for i in body["items"] if i["vs_leader"].get("leader")) == 1
    assert {c["segment"] for c in body["segments"]["cells"]} <= {
        "individual", "manager", "director", "executive", "unknown"
    }  # fmt: skip


def test_performance_rejects_bad_parameters(client: TestClient) -> None:
    assert client.get("/api/ai/content/performance", params={"metric": "views"}).status_code == 422
    assert client.get("/api/ai/content/performance", params={"segment": "x"}).status_code == 422
    assert client.get("/api/ai/content/performance", params={"min_sends": -1}).status_code == 422


def test_min_sends_hides_thin_items(client: TestClient) -> None:
    body = client.get("/api/ai/content/performance", params={"min_sends": 100_000}).json()
    assert body["items"] == [] and body["n_sends"] > 0


def test_recommend_for_a_contact(client: TestClient, core: StubCore, seeded: str) -> None:
    contact = _a_contact(seeded)
    answer = client.post(
        "/api/ai/content/recommend", json={"contact_id": contact, "kind": "email_template", "n": 4}
    )
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert core.admitted == ["predict"]
    assert body["contact_id"] == contact and len(body["items"]) == 4
    assert set(body["segment"]) == {"industry", "seniority", "stage"}
    shares = [i["prob_best"] for i in body["items"]]
    assert shares == sorted(shares, reverse=True)
    assert all(i["kind"] == "email_template" and i["why"] for i in body["items"])
    assert [r.feature for r in core.recorded] == ["content_recommend"]


def test_recommend_for_a_deal_uses_its_stage(client: TestClient, seeded: str) -> None:
    from sqlalchemy import select

    from haste.db import Deal, session_scope

    with session_scope(seeded) as session:
        deal = session.scalars(select(Deal).where(Deal.contact_id.is_not(None))).first()
        deal_id, stage = str(deal.id), deal.stage
    body = client.post("/api/ai/content/recommend", json={"deal_id": deal_id}).json()
    assert body["deal_id"] == deal_id and body["segment"]["stage"] == stage


def test_recommend_errors(client: TestClient) -> None:
    missing = client.post("/api/ai/content/recommend", json={"n": 3})
    assert missing.status_code == 422 and "contact_id or deal_id" in missing.text
    unknown = client.post("/api/ai/content/recommend", json={"contact_id": str(uuid.uuid4())})
    assert unknown.status_code == 404
    no_deal = client.post("/api/ai/content/recommend", json={"deal_id": str(uuid.uuid4())})
    assert no_deal.status_code == 404
    too_many = client.post(
        "/api/ai/content/recommend", json={"contact_id": str(uuid.uuid4()), "n": 11}
    )
    assert too_many.status_code == 422


def test_recommend_without_a_library_is_503(db_url: str, tmp_path: Path) -> None:
    from pipelines.crm_store import store_crm
    from pipelines.synthetic import generate_crm

    store_crm(generate_crm(n_contacts=5, seed=1, start="2026-01-01", days=30), db_url)
    client = TestClient(create_api(StubCore(db_url, tmp_path)), headers={"X-API-Key": KEY})
    contact = _contact_of(db_url)
    answer = client.post("/api/ai/content/recommend", json={"contact_id": contact})
    assert answer.status_code == 503 and "haste content seed" in answer.text


def _contact_of(url: str) -> str:
    from sqlalchemy import select

    from haste.db import Contact, session_scope

    with session_scope(url) as session:
        return str(session.scalar(select(Contact.id).limit(1)))


def test_dashboard_section(seeded: str, db_url: str) -> None:
    from insights.content_overview import content_overview

    assert content_overview(db_url) is None  # no sends yet
    section = content_overview(seeded)
    assert section is not None and section["n_sends"] == 3000
    assert 0 < section["funnel"]["reply"] < section["funnel"]["open"] < 1
    assert len(section["items"]) == 10
    for chart in section["charts"].values():
        assert chart.startswith("<svg") and 'class="chart"' in chart
    assert section["segment"]["name"] == "seniority" and section["segment"]["rows"]


def test_dashboard_template_renders_the_section(seeded: str) -> None:
    from jinja2 import Environment, FileSystemLoader

    from insights.content_overview import content_overview

    root = Path(__file__).resolve().parents[2] / "serving" / "dashboard" / "templates"
    env = Environment(loader=FileSystemLoader(root), autoescape=True)
    env.filters["pct"] = lambda v: "—" if v is None else f"{100 * float(v):.1f}%"
    html = env.get_template("content.html").render(data={"content": content_overview(seeded)})
    assert 'id="content"' in html and "<svg" in html and "Content performance" in html
    assert 'id="content"' not in env.get_template("content.html").render(data={"content": None})
