"""Data minimisation of the AI audit trail: keep only the fields each kind of call needs.

``configs/privacy.yaml`` (``stored_fields:``) lists, per kind of AI call (its
``interaction_type``), the top-level fields of ``input_data`` and ``output_data`` that are
stored; :func:`minimise` drops the others. It is applied in one place,
:meth:`haste.records.InteractionRecord.to_row`, which builds every ``ai_interactions`` row.
Kinds without an entry keep the ``default`` fields (a warning names the kind once per process);
a field dropped from a listed kind is logged once at debug level.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from haste.settings import CONFIG_DIR

logger = logging.getLogger(__name__)

#: The allow-list file.
PRIVACY_FILE: Path = CONFIG_DIR / "privacy.yaml"
#: Every field is kept.
ALL = "*"

_SEEN: set[tuple[str, str]] = set()
_SEEN_LOCK = threading.Lock()


@dataclass(frozen=True)
class StoredFields:
    """What one kind of call stores: field names, or ``None`` for every field."""

    inputs: frozenset[str] | None
    outputs: frozenset[str] | None


def _fields(value: Any, where: str) -> frozenset[str] | None:
    """Parse one allow-list (``"*"`` or a list of names)."""
    if value == ALL:
        return None
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise ValueError(f"{where} must be '*' or a list of field names, got {value!r}")
    return frozenset(value)


@lru_cache(maxsize=4)
def load_stored_fields(path: Path = PRIVACY_FILE) -> dict[str, StoredFields]:
    """Return the allow-lists of ``path`` by kind (``default`` included).

    Raises:
        ValueError: When the file is malformed or has no ``default`` entry.
    """
    import yaml

    document = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    entries = document.get("stored_fields")
    if not isinstance(entries, dict) or "default" not in entries:
        raise ValueError(f"{path}: `stored_fields:` needs a `default` entry")
    return {
        str(kind): StoredFields(
            _fields(entry.get("inputs", []), f"{path}: {kind}.inputs"),
            _fields(entry.get("outputs", []), f"{path}: {kind}.outputs"),
        )
        for kind, entry in entries.items()
    }


def _once(kind: str, what: str) -> bool:
    """Return True the first time (kind, what) is seen in this process."""
    with _SEEN_LOCK:
        if (kind, what) in _SEEN:
            return False
        _SEEN.add((kind, what))
        return True


def _keep(document: Any, allowed: frozenset[str] | None, kind: str, side: str) -> Any:
    """Return ``document`` with only its allowed top-level fields."""
    if allowed is None or not isinstance(document, dict):
        return document
    dropped = sorted(str(name) for name in document if name not in allowed)
    for name in dropped:
        if _once(kind, f"{side}.{name}"):
            logger.debug("ai_interactions: %s field %r of %r not stored", side, name, kind)
    return {name: value for name, value in document.items() if name in allowed}


def minimise(
    kind: str | None,
    input_data: Any,
    output_data: Any,
    path: Path = PRIVACY_FILE,
) -> tuple[Any, Any]:
    """Return ``(input_data, output_data)`` keeping only the fields allowed for ``kind``.

    Args:
        kind: The call's ``interaction_type`` (a gateway feature, or ``llm``).
        input_data: The request document.
        output_data: The response document.
        path: The allow-list file.

    Returns:
        The two documents, minimised (new dicts; the arguments are not changed).
    """
    allow_lists = load_stored_fields(path)
    fields = allow_lists.get(kind or "")
    if fields is None:
        fields = allow_lists["default"]
        if _once(kind or "", "<unlisted>"):
            logger.warning(
                "ai_interactions: no stored_fields entry for %r in %s; storing the default "
                "fields only",
                kind,
                path,
            )
    return (
        _keep(input_data, fields.inputs, kind or "", "input"),
        _keep(output_data, fields.outputs, kind or "", "output"),
    )
