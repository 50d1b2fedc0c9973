"""Process environment defaults for the embedded services (set before they are imported)."""

from __future__ import annotations

import os

#: Defaults that make the embedded services robust on a small, busy machine (2 cores).
RUNTIME_ENV_DEFAULTS: dict[str, str] = {
    # Prefect's ephemeral API server gets 20 s to start by default: too short under load.
    "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": "180",
    # No usage telemetry from the local tools (there is no internet at run time).
    "DO_NOT_TRACK": "1",
    "RAY_USAGE_STATS_ENABLED": "0",
}


def configure_runtime_env() -> None:
    """Apply :data:`RUNTIME_ENV_DEFAULTS` without overriding values the user already set."""
    for key, value in RUNTIME_ENV_DEFAULTS.items():
        os.environ.setdefault(key, value)
