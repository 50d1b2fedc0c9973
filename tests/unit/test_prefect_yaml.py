"""prefect.yaml: every deployment's entrypoint is a real flow and its schedules are valid."""

from __future__ import annotations

import importlib

import pytest
import yaml
from prefect import Flow
from prefect.client.schemas.schedules import CronSchedule

from haste.settings import PROJECT_ROOT

DEPLOYMENTS = yaml.safe_load((PROJECT_ROOT / "prefect.yaml").read_text())["deployments"]


@pytest.mark.parametrize("deployment", DEPLOYMENTS, ids=lambda d: d["name"])
def test_entrypoint_is_a_flow_with_valid_schedule(deployment: dict) -> None:
    module_path, name = deployment["entrypoint"].rsplit(".", 1)
    module = importlib.import_module(module_path)
    flow = getattr(module, name)
    assert isinstance(flow, Flow)
    parameters = deployment.get("parameters", {})
    assert set(parameters) <= set(flow.parameters.properties)
    assert deployment["schedules"], "every deployment is scheduled"
    for schedule in deployment["schedules"]:
        CronSchedule(cron=schedule["cron"], timezone=schedule["timezone"])


@pytest.mark.parametrize("deployment", DEPLOYMENTS, ids=lambda d: d["name"])
def test_entrypoint_is_a_module_path(deployment: dict) -> None:
    """A worker loads ``flows/x.py:fn`` with ``flows/`` first on ``sys.path``: then
    ``flows/monitoring.py``, ``training.py`` and ``features.py`` shadow the packages of the
    same name and the run crashes (``'monitoring' is not a package``)."""
    assert ":" not in deployment["entrypoint"] and ".py" not in deployment["entrypoint"]
    assert deployment["entrypoint"].startswith("flows.")


def test_every_flow_module_is_deployed() -> None:
    deployed = {d["entrypoint"].rsplit(".", 1)[0] for d in DEPLOYMENTS}
    flow_modules = {
        f"flows.{p.stem}"
        for p in (PROJECT_ROOT / "flows").glob("*.py")
        if p.name != "__init__.py" and not p.name.startswith("demo")  # the demo's own steps
    }
    assert flow_modules <= deployed
