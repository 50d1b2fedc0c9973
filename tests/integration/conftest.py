"""Conftest of the integration tests: marks them `integration` and owns their shared fixtures.

A fresh PostgreSQL database (per test or per module), the local LLM wire-format server and the
headless Chromium driver.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import OperationalError

from haste.db import dispose_engine, upgrade_database
from tests.support.llm_wire_server import WIRE_API_KEY, WireServer, running_wire_server
from tests.support.markers import mark_folder

ADMIN_URL = os.environ.get(
    "HASTE_TEST_PG_ADMIN_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
)


def _in_ci() -> bool:
    """Return whether the tests run under CI (``CI`` set to anything but a false value)."""
    return os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark every test of this folder `integration` (select with `pytest -m integration`)."""
    mark_folder(items, Path(__file__).parent, pytest.mark.integration)


@pytest.fixture(scope="module")
def admin_engine() -> Iterator[Engine]:
    """AUTOCOMMIT engine on the maintenance database; skip (or fail under CI) if unreachable."""
    engine = create_engine(
        ADMIN_URL, isolation_level="AUTOCOMMIT", connect_args={"connect_timeout": 5}
    )
    try:
        with engine.connect() as connection:
            connection.execute(text("SELECT 1"))
    except OperationalError as exc:
        engine.dispose()
        message = f"PostgreSQL unreachable at {ADMIN_URL}: {exc.orig}"
        if _in_ci():
            pytest.fail(f"{message} (CI is set, so this fails instead of skipping)")
        pytest.skip(message)
    yield engine
    engine.dispose()


@contextmanager
def fresh_database(admin_engine: Engine, prefix: str) -> Iterator[str]:
    """Create a uniquely named database, yield its URL, drop it (even after a failure)."""
    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    with admin_engine.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    url = make_url(ADMIN_URL).set(database=name).render_as_string(hide_password=False)
    try:
        yield url
    finally:
        dispose_engine(url)
        with admin_engine.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.fixture()
def pg_url(admin_engine: Engine) -> Iterator[str]:
    """URL of a fresh, uniquely named database, dropped after the test."""
    with fresh_database(admin_engine, "haste_test") as url:
        yield url


@pytest.fixture(scope="module")
def driver() -> Iterator[Any]:
    """Headless Debian Chromium driven through the system chromedriver (no Selenium Manager)."""
    chromium, chromedriver = Path("/usr/bin/chromium"), Path("/usr/bin/chromedriver")
    missing = [str(p) for p in (chromium, chromedriver) if not p.exists()]
    if missing:
        message = (
            f"{' and '.join(missing)} not found: install them with "
            "`apt-get install -y chromium chromium-driver`"
        )
        if _in_ci():
            pytest.fail(f"{message} (CI is set, so this fails instead of skipping)")
        pytest.skip(message)
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = str(chromium)
    for argument in (
        "--headless=new",
        "--no-sandbox",
        "--disable-dev-shm-usage",
        "--window-size=1400,1000",
        "--disable-gpu",
        "--no-first-run",
        "--hide-scrollbars",
    ):
        options.add_argument(argument)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("SE_OFFLINE", "true")  # never let Selenium Manager reach the network
        browser = webdriver.Chrome(service=Service(str(chromedriver)), options=options)
    browser.set_page_load_timeout(45)
    try:
        yield browser
    finally:
        browser.quit()


@pytest.fixture(scope="module")
def module_pg_url(admin_engine: Engine) -> Iterator[str]:
    """A migrated PostgreSQL database shared by one module's tests, dropped afterwards."""
    with fresh_database(admin_engine, "haste_test_mod") as url:
        upgrade_database(url)
        yield url


@pytest.fixture(scope="module")
def wire() -> Iterator[WireServer]:
    """The local HTTP server speaking the OpenAI and Anthropic wire formats."""
    with running_wire_server(api_key=WIRE_API_KEY) as server:
        yield server
