"""The scoring snapshot: every contact's latest offline features, one row per contact.

Batch scoring reads one flat parquet dataset (``contact_id`` and the model inputs), block by
block. This module builds it from the offline feature store (:mod:`features.store`): for each
contact view (``email_engagement``, ``web_activity``, ``social_signals``,
``company_enrichment``) the contact's latest weekly snapshot at or before ``as_of`` (what
materialisation copies to the online store, so batch and online scores see the same values),
joined on ``contact_id``, plus the on-demand columns of ``lead_engagement_rates`` computed by
the very function Feast runs. Written as ``part-NNNNN.parquet`` files of bounded size, so
readers can stream them.

The snapshot is built in one process from the views' parquet files (the offline store of the
platform holds weekly snapshots of every contact); the scoring itself streams.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from features.definitions import TIMESTAMP_COLUMN, VIEW_SPECS, lead_engagement_rates, offline_path

#: Batch views keyed by contact, in join order.
CONTACT_VIEWS: tuple[str, ...] = tuple(v for v, s in VIEW_SPECS.items() if s.entity == "contact")
ID_COLUMN = "contact_id"
#: Rows per written file and per parquet row group.
ROWS_PER_FILE = 250_000
ROW_GROUP_ROWS = 50_000


@dataclass(frozen=True)
class ScoringSnapshot:
    """A written scoring snapshot.

    Attributes:
        path: Folder of the ``part-*.parquet`` files.
        rows: Contacts.
        columns: Every column (``contact_id`` first).
        snapshot_time: Latest feature snapshot time used.
    """

    path: Path
    rows: int
    columns: list[str]
    snapshot_time: dt.datetime | None


def default_snapshot_dir(data_dir: Path) -> Path:
    """Return the default folder of the scoring snapshot under the data folder."""
    return Path(data_dir) / "features" / "scoring_snapshot"


def latest_contact_features(offline_dir: Path, as_of: dt.datetime | None = None) -> pd.DataFrame:
    """Return each contact's latest features at or before ``as_of`` (default: the latest).

    Args:
        offline_dir: Folder of the offline feature files (``<view>.parquet``).
        as_of: Ignore snapshots after this time (naive means UTC).

    Returns:
        ``contact_id`` (str), ``event_timestamp`` (latest snapshot of the contact) and every
        contact view's columns plus the ``lead_engagement_rates`` columns, sorted by id.

    Raises:
        FileNotFoundError: When a view's offline file is missing.
    """
    cutoff = None
    if as_of is not None:
        cutoff = pd.Timestamp(as_of)
        cutoff = cutoff.tz_localize("UTC") if cutoff.tzinfo is None else cutoff.tz_convert("UTC")
    merged: pd.DataFrame | None = None
    for view in CONTACT_VIEWS:
        path = offline_path(offline_dir, view)
        if not path.exists():
            raise FileNotFoundError(
                f"offline feature file {path} is missing: run the feature pipeline first "
                "(Prefect flow feature-pipeline: `python -m flows.features`)"
            )
        spec = VIEW_SPECS[view]
        frame = pd.read_parquet(path, columns=[ID_COLUMN, TIMESTAMP_COLUMN, *spec.columns])
        stamps = pd.to_datetime(frame[TIMESTAMP_COLUMN], utc=True)
        frame[TIMESTAMP_COLUMN] = stamps
        if cutoff is not None:
            frame = frame[stamps <= cutoff]
        frame[ID_COLUMN] = frame[ID_COLUMN].astype(str)
        latest = frame.sort_values(TIMESTAMP_COLUMN).drop_duplicates(ID_COLUMN, keep="last")
        if merged is None:
            merged = latest
        else:
            latest = latest.drop(columns=[TIMESTAMP_COLUMN])
            merged = merged.merge(latest, on=ID_COLUMN, how="outer", validate="one_to_one")
    assert merged is not None
    rates = lead_engagement_rates(merged)
    merged = pd.concat([merged.reset_index(drop=True), rates.reset_index(drop=True)], axis=1)
    return merged.sort_values(ID_COLUMN, ignore_index=True)


def write_snapshot_frame(
    frame: pd.DataFrame, out_dir: Path, rows_per_file: int = ROWS_PER_FILE
) -> list[Path]:
    """Write a frame as ``part-NNNNN.parquet`` files (old parts in ``out_dir`` are removed)."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    for old in out_dir.glob("part-*.parquet"):
        old.unlink()
    table = pa.Table.from_pandas(frame, preserve_index=False)
    paths = []
    for number, start in enumerate(range(0, max(table.num_rows, 1), rows_per_file)):
        path = out_dir / f"part-{number:05d}.parquet"
        pq.write_table(table.slice(start, rows_per_file), path, row_group_size=ROW_GROUP_ROWS)
        paths.append(path)
    return paths


def write_scoring_snapshot(
    offline_dir: Path, out_dir: Path, as_of: dt.datetime | None = None
) -> ScoringSnapshot:
    """Build (:func:`latest_contact_features`) and write the scoring snapshot.

    Returns:
        Where it went, its rows and columns.
    """
    frame = latest_contact_features(offline_dir, as_of)
    write_snapshot_frame(frame, out_dir)
    latest = frame[TIMESTAMP_COLUMN].max() if len(frame) else None
    return ScoringSnapshot(
        path=Path(out_dir),
        rows=len(frame),
        columns=list(frame.columns),
        snapshot_time=None if latest is None or pd.isna(latest) else latest.to_pydatetime(),
    )
