"""Schemathesis against the served gateway: every operation, every check, no 5xx.

The CLI of the pinned schemathesis (dev extra) runs over ``/openapi.json`` of the platform
served by this package's fixtures, with a fixed seed and bounded examples and time: coverage,
fuzzing and stateful phases, all checks (server errors, schema conformance of every answer,
documented statuses, valid data accepted, invalid data refused). Real ids of deals and
accounts are supplied so those operations get past 404.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import pandas as pd

from haste.settings import Settings
from pipelines.stages import PipelinePaths

#: Examples per operation (coverage and fuzzing phases) and the wall-clock budget of the whole
#: run: the stateful phase (following the links of the schema) runs in what is left of it,
#: then schemathesis stops and reports.
MAX_EXAMPLES = 8
MAX_TIME_S = 150


def write_config(path: Path, settings: Settings, api_key: str) -> None:
    """Write the run's ``schemathesis.toml``: auth header, real ids, refusal statuses."""
    churn = pd.read_parquet(PipelinePaths(settings.data_dir).features("churn"))
    account = str(churn["customerID"].iloc[0])
    path.write_text(
        f"""
headers = {{ "X-API-Key" = "{api_key}" }}

[phases.stateful]
max-steps = 6

[checks]
max_response_time = 30  # the gateway's interactive time budget (limits.interactive_budget_s)

[checks.negative_data_rejection]
# 413: a schema-violating body may also be over the gateway's size limit.
expected-statuses = [400, 401, 403, 404, 405, 406, 409, 413, 415, 422, 428, 429]

[[operations]]
# A schema-valid event may still be refused: an occurred_at ahead of the server's clock (the
# schema cannot say "not in the future") is a 422 naming the field.
include-path = "/api/ai/events"
checks.positive_data_acceptance.expected-statuses = ["2xx", 401, 403, 404, 422]

[[operations]]
# Workflow definitions have rules the schema cannot state (an operator that fits the field's
# type, the parameters of each action type, no cycle with the enabled workflows, a name not
# taken): a schema-valid body may be a 422 or a 409 naming the problem. A rejection needs a
# reason, and a dry run's window must be ordered and not too large.
include-path-regex = "^/api/ai/(workflows|reviews)"
checks.positive_data_acceptance.expected-statuses = ["2xx", 401, 403, 404, 409, 422]

[[operations]]
# An upload's bytes decide: random bytes are refused (415 unsupported, 422 empty/malformed);
# bytes that sniff as audio need a speech-to-text provider (503 without OPENAI_API_KEY).
include-path = "/api/ai/conversation/transcribe"
checks.positive_data_acceptance.expected-statuses = ["2xx", 401, 403, 404, 413, 415, 422, 503]

[[operations]]
# Content: a template's slots the contact lacks, a brief whose draft does not validate, a
# recommendation with neither contact nor deal are 422s naming the problem; 503 until the
# library is seeded. A conversation id of another key (or none) is a 404; a full one a 409.
include-path-regex = "^/api/ai/(content|search/chat)"
checks.positive_data_acceptance.expected-statuses = ["2xx", 401, 403, 404, 409, 422, 503]

[[operations]]
# A week_ending in the future is a 422 naming the date (the schema cannot say "not after
# today").
include-path = "/api/ai/insights/executive-summary"
checks.positive_data_acceptance.expected-statuses = ["2xx", 401, 403, 404, 422]

[[operations]]
include-path = "/api/ai/predictions/account/{{account_id}}/churn-risk"
parameters = {{ account_id = "{account}" }}
""",
        encoding="utf-8",
    )


def _pause_fuzzed_webhooks(settings: Settings, key: str) -> None:
    """Deactivate the webhooks the fuzzer registered (random hosts) for the later tests."""
    from sqlalchemy import update

    from haste.api_keys import hash_api_key
    from haste.db.models import APIKey
    from haste.db.session import session_scope
    from haste.db.stream_tables import Webhook

    with session_scope(settings.database_url) as session:
        key_id = session.query(APIKey.id).filter(APIKey.key_hash == hash_api_key(key)).scalar()
        session.execute(update(Webhook).where(Webhook.scope == str(key_id)).values(active=False))


def _remove_fuzzed_workflows(settings: Settings, key: str) -> None:
    """Delete the workflows the fuzzer stored (random triggers and actions) for later tests."""
    from sqlalchemy import delete

    from haste.api_keys import hash_api_key
    from haste.db.models import APIKey
    from haste.db.session import session_scope
    from haste.db.workflow_tables import Workflow

    with session_scope(settings.database_url) as session:
        key_id = session.query(APIKey.id).filter(APIKey.key_hash == hash_api_key(key)).scalar()
        session.execute(delete(Workflow).where(Workflow.created_by == str(key_id)))


def test_schemathesis_finds_no_server_error_and_no_schema_violation(
    api: httpx.Client, platform: tuple[Settings, list[dict[str, Any]]], tmp_path: Path
) -> None:
    settings, _ = platform
    from tests.support.platform import new_key

    key = new_key(settings, "admin", rate_limit=100_000)  # fuzzing is not rate limited
    config = tmp_path / "schemathesis.toml"
    write_config(config, settings, key)
    st = shutil.which("st", path=str(Path(sys.executable).parent)) or "st"
    command = [
        st,
        "--config-file",
        str(config),
        "run",
        f"{api.base_url}/openapi.json",
        "--checks",
        "all",
        "--max-examples",
        str(MAX_EXAMPLES),
        "--max-time",
        str(MAX_TIME_S),
        "--seed",
        "20261204",
        "--continue-on-failure",
        "--request-timeout",
        "60",
        "--exclude-path-regex",
        "^/dashboard/(reports|live)",  # files, an endless SSE stream: the dashboard tests
        "--no-color",
    ]
    run = subprocess.run(  # in tmp_path: schemathesis keeps its cache in the working folder
        command, capture_output=True, text=True, timeout=MAX_TIME_S + 120, cwd=tmp_path
    )
    _pause_fuzzed_webhooks(settings, key)  # the platform is shared: no hooks to random hosts
    _remove_fuzzed_workflows(settings, key)  # nor workflows acting on every event
    report = run.stdout[-6000:] + run.stderr[-2000:]
    assert run.returncode == 0, report
    assert "Tested:" in run.stdout, report
