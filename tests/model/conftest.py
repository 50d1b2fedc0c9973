"""Conftest of the model tests: marks every test here `model` and owns the folder's fixtures."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from haste.settings import get_settings
from tests.support.markers import mark_folder


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark every test of this folder `model` (select with `pytest -m model`)."""
    mark_folder(items, Path(__file__).parent, pytest.mark.model)


@pytest.fixture(scope="package", autouse=True)
def isolated_model_home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """Give the model tests their own home and data folder, never the configured ``.haste/``.

    Package-scoped, so the environment is restored once the last model test has run and tests
    of other folders never see this home. Text models trained on first use
    (``ensure_text_models``) are shared by the model modules of one run. The machine-wide
    embedding cache (``~/.cache/haste/embeddings``, ``HASTE_EMBEDDING_CACHE``) is still shared,
    so each corpus is embedded once per machine.
    """
    home = tmp_path_factory.mktemp("model-home")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("HASTE_HOME", str(home / "state"))
        patch.setenv("HASTE_DATA_DIR", str(home / "data"))
        for key in (
            "HASTE_DATABASE_URL",
            "HASTE_MLFLOW_TRACKING_URI",
            "HASTE_MLFLOW_ARTIFACT_ROOT",
        ):
            patch.delenv(key, raising=False)
        get_settings.cache_clear()
        yield home
    get_settings.cache_clear()
