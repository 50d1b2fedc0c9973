"""`dvc repro` reproduces the pipeline from a clean copy of the repository, then is a no-op."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import yaml

from haste.settings import PROJECT_ROOT


def _copy_checkout(destination: Path) -> None:
    """Copy the tracked and untracked-but-not-ignored files (what a fresh clone would hold)."""
    listed = subprocess.run(
        ["git", "ls-files", "-co", "--exclude-standard", "-z"],
        cwd=PROJECT_ROOT,
        check=True,
        capture_output=True,
    ).stdout.decode()
    for relative in filter(None, listed.split("\0")):
        source = PROJECT_ROOT / relative
        if source.is_file():
            target = destination / relative
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target)


def _dvc(args: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ)
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env['PATH']}"
    for key in ("HASTE_DATA_DIR", "HASTE_HOME", "HASTE_DATASETS_DIR"):
        env.pop(key, None)
    return subprocess.run(
        [str(Path(sys.executable).parent / "dvc"), *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )


def test_dvc_repro_from_clean_copy(tmp_path: Path, datasets_dir: Path) -> None:
    repo = tmp_path / "repo"
    _copy_checkout(repo)
    (tmp_path / "shared").mkdir()
    (tmp_path / "shared" / "datasets").symlink_to(datasets_dir)
    subprocess.run(["git", "init", "-q"], cwd=repo, check=True)
    (repo / "dvc.lock").unlink(missing_ok=True)

    first = _dvc(["repro"], repo)
    assert first.returncode == 0, first.stdout[-3000:] + first.stderr[-3000:]
    lock = yaml.safe_load((repo / "dvc.lock").read_text())
    assert set(lock["stages"]) == {"ingest", "validate", "features", "train", "evaluate"}
    metrics = json.loads((repo / "data/reports/lead_scoring/metrics.json").read_text())
    assert metrics["metrics"]["roc_auc"] > 0.86
    assert (repo / "data/reports/validation/leads.html").exists()
    assert (repo / "data/reports/lead_scoring/calibration.png").stat().st_size > 10_000

    status = _dvc(["status"], repo)
    assert status.returncode == 0
    assert "up to date" in status.stdout

    # Changing a training parameter re-runs train and evaluate only.
    config = repo / "configs/models/lead_scoring.yaml"
    config.write_text(config.read_text().replace("n_estimators: 400", "n_estimators: 300"))
    dry = _dvc(["repro", "--dry"], repo)
    assert "Running stage 'train'" in dry.stdout
    assert "Running stage 'ingest'" not in dry.stdout
