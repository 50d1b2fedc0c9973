"""The layout rules of docs/architecture.md, checked on the tree itself."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = (
    "haste",
    "pipelines",
    "features",
    "training",
    "textai",
    "insights",
    "monitoring",
    "flows",
    "serving",
)
MAX_LINES = 800


def _modules() -> dict[Path, int]:
    files = [
        path
        for package in PACKAGES
        for path in (ROOT / package).rglob("*.py")
        if "migrations" not in path.parts
    ]
    return {path: len(path.read_text(encoding="utf-8").splitlines()) for path in files}


def test_no_module_is_over_800_lines() -> None:
    big = {str(p.relative_to(ROOT)): n for p, n in _modules().items() if n > MAX_LINES}
    assert not big, f"split these by responsibility: {big}"


def test_serving_is_under_a_third_of_the_code() -> None:
    lines = _modules()
    serving = sum(n for p, n in lines.items() if p.relative_to(ROOT).parts[0] == "serving")
    assert serving / sum(lines.values()) < 1 / 3


def test_import_contracts_are_kept() -> None:
    """The import-linter contracts of pyproject.toml (kernel, domain, flows, no cycles)."""
    linter = shutil.which("lint-imports", path=str(Path(sys.executable).parent))
    if linter is None:
        pytest.skip("import-linter is not installed (pip install -e '.[dev]')")
    result = subprocess.run(
        [linter, "--no-cache"], cwd=ROOT, capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stdout[-3000:]
