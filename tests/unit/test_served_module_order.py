"""The served tests share one Ray Serve platform that ``test_shutdown_and_faults`` stops last."""

from __future__ import annotations

from pathlib import Path

SERVED = Path(__file__).resolve().parents[1] / "integration" / "served"
LAST = "test_shutdown_and_faults.py"


def test_the_shutdown_module_runs_after_every_other_served_module() -> None:
    modules = sorted(p.name for p in SERVED.glob("test_*.py"))
    assert LAST in modules
    late = [name for name in modules if name > LAST]
    assert not late, f"{late} would run after the platform is stopped: rename them"
