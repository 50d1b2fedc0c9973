"""Process environment for the embedded services, and the one place that quiets them.

:func:`configure_runtime_env` runs before any platform command imports Prefect, MLflow, Ray,
Great Expectations or Hugging Face code: it sets defaults that suit a small offline machine
(telemetry off, offline model hubs, longer start-up timeouts) and filters third-party
deprecation warnings, in this process and in the Ray workers it starts (``PYTHONWARNINGS``).
Our own warnings and every error still show.
"""

from __future__ import annotations

import importlib
import os
import warnings
from typing import Any

#: Defaults that make the embedded services robust on a small, busy, offline machine.
RUNTIME_ENV_DEFAULTS: dict[str, str] = {
    # Prefect's ephemeral API server gets 20 s to start by default: too short under load.
    "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": "180",
    # No usage telemetry from the local tools (there is no internet at run time).
    "DO_NOT_TRACK": "1",
    "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
    "RAY_USAGE_STATS_ENABLED": "0",
    "MLFLOW_DISABLE_TELEMETRY": "true",
    "GX_ANALYTICS_ENABLED": "false",
    "HF_HUB_DISABLE_TELEMETRY": "1",
    "HF_HUB_OFFLINE": "1",
    "TRANSFORMERS_OFFLINE": "1",
    "TOKENIZERS_PARALLELISM": "false",
    # Deprecation chatter of third-party packages, also in Ray workers and subprocesses.
    "PYTHONWARNINGS": "ignore::DeprecationWarning,ignore::FutureWarning,"
    "ignore::PendingDeprecationWarning",
}

#: Environment for a quiet console (``haste demo``): Prefect keeps sending every log line to
#: its API (the UI shows them) but prints only warnings.
QUIET_CONSOLE_ENV: dict[str, str] = {
    "PREFECT_LOGGING_HANDLERS_CONSOLE_LEVEL": "WARNING",
    "MLFLOW_LOGGING_LEVEL": "ERROR",
}

#: Third-party loggers that narrate routine work at INFO.
NOISY_LOGGERS: tuple[str, ...] = (
    "alembic",
    "great_expectations",
    "mlflow",
    "urllib3",
    "httpx",
    "ray",
    "filelock",
    "sentence_transformers",
    "lightning",
    "pytorch_lightning",
    "lightning.pytorch",
    "feast",
    "evidently",
    "numexpr",
)

#: Warning categories silenced when they come from third-party code.
_THIRD_PARTY_CATEGORIES: tuple[type[Warning], ...] = (
    DeprecationWarning,
    PendingDeprecationWarning,
    FutureWarning,
)

#: Third-party modules whose UserWarnings are known noise (no action for the user).
_NOISY_USER_WARNING_MODULES = (
    r"(great_expectations|mlflow|feast|ray|pydantic|sqlalchemy|lightning|pytorch_lightning"
    r"|torch|sklearn|shap|xgboost|evidently|prefect|opacus|fairlearn)(\..*)?"
)


def configure_runtime_env() -> None:
    """Apply :data:`RUNTIME_ENV_DEFAULTS` (user values win) and filter third-party warnings."""
    for key, value in RUNTIME_ENV_DEFAULTS.items():
        os.environ.setdefault(key, value)
    filter_third_party_warnings()


def filter_third_party_warnings() -> None:
    """Ignore deprecation warnings and known-noise UserWarnings of third-party packages."""
    for category in _THIRD_PARTY_CATEGORIES:
        warnings.filterwarnings("ignore", category=category)
    warnings.filterwarnings("ignore", category=UserWarning, module=_NOISY_USER_WARNING_MODULES)


def quiet_console() -> None:
    """Keep the console to progress and results (:data:`QUIET_CONSOLE_ENV`).

    The CLI's callback already sets :data:`NOISY_LOGGERS` to WARNING for every command.
    """
    for key, value in QUIET_CONSOLE_ENV.items():
        os.environ.setdefault(key, value)


def import_quietly(name: str) -> Any:
    """Import a module that pulls in the heavy libraries, without their deprecation chatter.

    Some libraries add their own warning filters when imported (Feast turns deprecation
    warnings back on), so filters alone cannot keep an import quiet: the warnings raised during
    the import are caught, deprecations dropped, and anything else shown as usual.

    Args:
        name: Module to import, e.g. ``flows.demo``.

    Returns:
        The module.
    """
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        module = importlib.import_module(name)
    filter_third_party_warnings()
    for warning in caught:
        if not issubclass(warning.category, _THIRD_PARTY_CATEGORIES):
            warnings.warn_explicit(
                warning.message, warning.category, warning.filename, warning.lineno
            )
    return module


def torch_device() -> str:
    """Return where the text models run: ``cuda`` when a GPU is visible, else ``cpu``.

    ``HASTE_TORCH_DEVICE`` (``auto``, ``cpu`` or ``cuda``) overrides the choice; ``auto`` is the
    default, so a Ray worker or KubeRay pod given ``num_gpus`` uses its GPU and a CPU machine is
    unchanged.

    Raises:
        ValueError: For another value, or ``cuda`` asked on a machine without a GPU.
    """
    wanted = os.environ.get("HASTE_TORCH_DEVICE", "auto").strip().lower()
    if wanted not in {"auto", "cpu", "cuda"}:
        raise ValueError(f"HASTE_TORCH_DEVICE must be auto, cpu or cuda, not {wanted!r}")
    if wanted == "cpu":
        return "cpu"
    import torch

    available = torch.cuda.is_available()
    if wanted == "cuda" and not available:
        raise ValueError("HASTE_TORCH_DEVICE=cuda but torch sees no GPU")
    return "cuda" if available else "cpu"
