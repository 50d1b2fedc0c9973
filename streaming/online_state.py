"""The Feast side of the stream: base features of a contact, and the updated ones written back.

A contact's first streamed event starts from its materialised batch features (the latest
weekly snapshot in the online store); after each batch the updated columns are written back
with :meth:`feast.FeatureStore.write_to_online_store`, into the same feature views, so the API's
``POST /api/ai/lead-score`` and every other online reader see the streamed features at once.
"""

from __future__ import annotations

import datetime as dt
import logging
import math
import threading
import time
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import pandas as pd

from features.definitions import VIEW_SPECS
from streaming.feature_updates import STATIC_VIEWS, STREAM_VIEWS

if TYPE_CHECKING:
    from feast import FeatureStore

logger = logging.getLogger("haste.streaming")

#: Contacts written per online-store call (short calls keep the consumer's latency low).
FLUSH_CHUNK = 64


def clean_value(value: Any) -> Any:
    """Return a JSON-ready value (NaN -> None, numpy scalars -> Python)."""
    if value is None:
        return None
    if hasattr(value, "item"):
        value = value.item()
    if isinstance(value, float) and math.isnan(value):
        return None
    return value


def read_base_features(store: FeatureStore, contact_ids: Sequence[str]) -> dict[str, dict]:
    """Return the materialised batch-view columns of contacts found in the online store.

    Args:
        store: The materialised feature store.
        contact_ids: Contacts to read.

    Returns:
        Contact id -> state columns; contacts without any online value are left out.
    """
    if not contact_ids:
        return {}
    refs = [
        f"{view}:{column}"
        for view in (*STREAM_VIEWS, *STATIC_VIEWS)
        for column in VIEW_SPECS[view].columns
    ]
    response = store.get_online_features(
        features=refs, entity_rows=[{"contact_id": str(c)} for c in contact_ids]
    ).to_dict()
    columns = [ref.split(":", 1)[1] for ref in refs]
    found = {}
    for i, contact_id in enumerate(response["contact_id"]):
        row = {column: clean_value(response[column][i]) for column in columns}
        if any(value is not None for value in row.values()):
            found[str(contact_id)] = row
    return found


def write_stream_features(
    store: FeatureStore,
    states: Mapping[str, Mapping[str, Any]],
    now: dt.datetime | None = None,
    views: Mapping[str, Iterable[str]] | None = None,
) -> int:
    """Write contacts' updated stream-view columns to the online store (one call per view).

    Args:
        store: The feature store.
        states: Contact id -> state columns.
        now: Timestamp of the written rows (default: now, UTC).
        views: Contact id -> the views its events changed (default: every stream view).

    Returns:
        Rows written.
    """
    if not states:
        return 0
    stamp = pd.Timestamp(now or dt.datetime.now(dt.UTC))
    written = 0
    for view in STREAM_VIEWS:
        ids = [c for c in states if views is None or view in views.get(c, ())]
        if not ids:
            continue
        written += len(ids)
        columns = VIEW_SPECS[view].columns
        frame = pd.DataFrame({column: [states[c].get(column) for c in ids] for column in columns})
        for column, kind in columns.items():
            if str(kind) == "Int64":
                frame[column] = frame[column].fillna(0).astype("int64")
            elif str(kind) == "Float64":
                frame[column] = frame[column].astype("float64")
        frame.insert(0, "contact_id", ids)
        frame["event_timestamp"] = stamp
        store.write_to_online_store(feature_view_name=view, df=frame)
    return written


class OnlineWriter:
    """Write updated features to the online store off the consumer's path, coalesced.

    The database state is the source of truth (committed with the event); the online store
    follows within ``interval_s``. A contact updated several times between two flushes is
    written once, with its latest values; only the views its events changed are written.

    Args:
        store: The feature store.
        interval_s: Time between two flushes.
    """

    def __init__(self, store: FeatureStore, interval_s: float = 0.25) -> None:
        self.store = store
        self.interval_s = interval_s
        self._pending: dict[str, tuple[Mapping[str, Any], set[str]]] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="online-writer", daemon=True)
        self.written = 0

    def start(self) -> OnlineWriter:
        """Start the flushing thread."""
        self._thread.start()
        return self

    def submit(self, touched: Mapping[str, tuple[Mapping[str, Any], set[str]]]) -> None:
        """Queue contacts' latest features and the views they changed."""
        with self._lock:
            for contact_id, (features, views) in touched.items():
                previous = self._pending.get(contact_id)
                self._pending[contact_id] = (features, views | (previous[1] if previous else set()))

    def flush(self) -> int:
        """Write what is queued now; on failure it is queued again (unless newer came)."""
        with self._lock:
            pending, self._pending = self._pending, {}
        if not pending:
            return 0
        try:
            written = 0
            items = list(pending.items())
            for start in range(0, len(items), FLUSH_CHUNK):
                chunk = dict(items[start : start + FLUSH_CHUNK])
                written += write_stream_features(
                    self.store,
                    {c: features for c, (features, _) in chunk.items()},
                    views={c: views for c, (_, views) in chunk.items()},
                )
                time.sleep(0)  # let the consumer's threads run between chunks (the GIL)
        except Exception:
            logger.warning("online store write of %d contacts failed", len(pending), exc_info=True)
            with self._lock:
                for contact_id, item in pending.items():
                    self._pending.setdefault(contact_id, item)
            return 0
        self.written += written
        return written

    def _run(self) -> None:
        while not self._stop.wait(self.interval_s):
            self.flush()

    def close(self) -> None:
        """Stop the thread and flush what is left."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=10)
        self.flush()
