"""Loaders for the real public datasets in ``../shared/datasets`` (read in place, never copied).

Each loader returns a cleaned :class:`pandas.DataFrame` with the quirks documented in the
dataset's ``PROVENANCE.md`` handled: placeholders become missing values, text numbers are
coerced, misspelt keys are reconciled. Leakage columns are *not* dropped here (that is a
modelling decision, see :mod:`features.lead_features`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd


class DatasetNotFoundError(FileNotFoundError):
    """Raised when a real dataset is missing from the shared datasets folder."""


@dataclass(frozen=True)
class MavenCRM:
    """The four tables of the Maven Analytics CRM sales dataset."""

    pipeline: pd.DataFrame
    accounts: pd.DataFrame
    products: pd.DataFrame
    teams: pd.DataFrame


LEADS_FILE = Path("leads_xeducation") / "Leads.csv"
TELCO_FILE = Path("telco_churn") / "WA_Fn-UseC_-Telco-Customer-Churn.csv"
MAVEN_DIR = Path("maven_crm_sales")
BANK_FILE = Path("bank_marketing") / "bank-additional-full.csv"

#: Columns of Leads.csv filled in by the sales team after contact (PROVENANCE.md): leakage.
LEADS_LEAKY_COLUMNS: tuple[str, ...] = (
    "Tags",
    "Lead Quality",
    "Last Activity",
    "Last Notable Activity",
    "Lead Profile",
)
LEADS_ID_COLUMNS: tuple[str, ...] = ("Prospect ID", "Lead Number")
LEADS_TARGET = "Converted"


def resolve_dataset(datasets_dir: Path, relative: Path) -> Path:
    """Return the absolute path of a dataset file, with a clear error when it is absent.

    Args:
        datasets_dir: The shared datasets folder.
        relative: Path of the file inside that folder.

    Returns:
        The existing file's path.

    Raises:
        DatasetNotFoundError: When the file does not exist.

    """
    path = Path(datasets_dir) / relative
    if not path.exists():
        raise DatasetNotFoundError(
            f"Dataset file {path} not found. Real datasets are read from HASTE_DATASETS_DIR "
            f"(currently {datasets_dir}); see ../shared/datasets/INDEX.md."
        )
    return path


def load_leads(datasets_dir: Path) -> pd.DataFrame:
    """Load X Education's Leads.csv with the ``Select`` placeholder turned into NaN.

    Args:
        datasets_dir: The shared datasets folder.

    Returns:
        9,240 leads x 37 columns; ``Converted`` is an int 0/1 target.

    """
    frame = pd.read_csv(resolve_dataset(datasets_dir, LEADS_FILE))
    object_columns = frame.select_dtypes(include="object").columns
    frame[object_columns] = frame[object_columns].replace("Select", np.nan)
    frame[LEADS_TARGET] = frame[LEADS_TARGET].astype(int)
    return frame


def load_telco(datasets_dir: Path) -> pd.DataFrame:
    """Load the IBM Telco churn table with ``TotalCharges`` coerced to numbers.

    Args:
        datasets_dir: The shared datasets folder.

    Returns:
        7,043 customers; ``Churn`` mapped to int 0/1; blank ``TotalCharges`` (tenure 0) -> 0.0.

    """
    frame = pd.read_csv(resolve_dataset(datasets_dir, TELCO_FILE))
    total = pd.to_numeric(frame["TotalCharges"].str.strip(), errors="coerce")
    frame["TotalCharges"] = total.where(total.notna() | (frame["tenure"] != 0), 0.0)
    frame["Churn"] = (frame["Churn"] == "Yes").astype(int)
    return frame


def load_maven_crm(datasets_dir: Path) -> MavenCRM:
    """Load the Maven CRM sales tables with dates parsed and known typos fixed.

    Args:
        datasets_dir: The shared datasets folder.

    Returns:
        The pipeline, accounts, products and sales-team tables.

    """
    base = resolve_dataset(datasets_dir, MAVEN_DIR)
    pipeline = pd.read_csv(
        resolve_dataset(datasets_dir, MAVEN_DIR / "sales_pipeline.csv"),
        parse_dates=["engage_date", "close_date"],
    )
    pipeline["product"] = pipeline["product"].replace({"GTXPro": "GTX Pro"})
    accounts = pd.read_csv(base / "accounts.csv")
    accounts["sector"] = accounts["sector"].replace({"technolgy": "technology"})
    products = pd.read_csv(base / "products.csv")
    teams = pd.read_csv(base / "sales_teams.csv")
    return MavenCRM(pipeline=pipeline, accounts=accounts, products=products, teams=teams)


def load_bank_marketing(datasets_dir: Path) -> pd.DataFrame:
    """Load UCI Bank Marketing (bank-additional-full, ``;``-separated) with a row id and 0/1 target.

    ``duration`` is kept here (it is only known after the call and leaks the target; model
    configs must drop it). ``unknown`` stays a category of its own, as in the source.

    Args:
        datasets_dir: The shared datasets folder.

    Returns:
        41,188 calls; ``y`` mapped to int 0/1; ``call_id`` is the row's position (date order).

    """
    frame = pd.read_csv(resolve_dataset(datasets_dir, BANK_FILE), sep=";")
    frame["y"] = (frame["y"] == "yes").astype(int)
    frame.insert(0, "call_id", [f"call-{i:05d}" for i in range(len(frame))])
    return frame


#: Single-table datasets a training config can name in its ``dataset`` key.
DATASET_LOADERS: dict[str, Callable[[Path], pd.DataFrame]] = {
    "leads": load_leads,
    "telco": load_telco,
    "bank_marketing": load_bank_marketing,
}


def load_dataset(name: str, datasets_dir: Path) -> pd.DataFrame:
    """Load a single-table dataset by name.

    Args:
        name: A key of :data:`DATASET_LOADERS`.
        datasets_dir: The shared datasets folder.

    Returns:
        The cleaned frame.

    Raises:
        KeyError: For an unknown name (the message lists the known ones).

    """
    if name not in DATASET_LOADERS:
        raise KeyError(f"unknown dataset {name!r}; known: {sorted(DATASET_LOADERS)}")
    return DATASET_LOADERS[name](datasets_dir)
