"""Deal data of the Maven CRM: enrichment, the deal frame, time-ordered splits, cut-offs."""

from __future__ import annotations

from typing import Any

import pandas as pd

from pipelines.datasets import MavenCRM

DAYS_MODEL_NAME = "deal_velocity"


WIN_MODEL_NAME = "win_probability"


DATASET_NAME = "maven_crm_sales"


ID_COLUMN = "opportunity_id"


CLOSED_STAGES = ("Won", "Lost")


OPEN_STAGES = ("Engaging", "Prospecting")


#: Columns that are only known once a deal closes: targets / evaluation data, never inputs.
OUTCOME_COLUMNS: tuple[str, ...] = (
    "deal_stage",
    "close_date",
    "close_value",
    "days_to_close",
    "is_won",
    "is_closed",
)


#: Model inputs, all known when the deal is engaged (the same list for both models).
FEATURE_COLUMNS: tuple[str, ...] = (
    "sales_agent",
    "manager",
    "regional_office",
    "product",
    "series",
    "sales_price",
    "engage_month_of_quarter",
    "engage_day",
    "engage_weekday",
    "days_to_quarter_end",
)


#: Derived from ``engage_date`` by :func:`enrich_deals`.
DATE_FEATURES: tuple[str, ...] = (
    "engage_month",
    "engage_month_of_quarter",
    "engage_day",
    "engage_weekday",
    "days_to_quarter_end",
)


#: Account attributes: in the frame, deliberately not inputs. ``account`` is blank for 1,425 of
#: the 2,089 open deals and never for a closed one, so a model using them sends every open deal
#: without an account down an arbitrary "missing" branch (measured: mean win probability 0.81 vs
#: 0.64 for open deals with an account). Without them held-out MAE is 35.4 vs 35.2 days and ROC
#: AUC 0.537 vs 0.523, so nothing is lost.
ACCOUNT_COLUMNS: tuple[str, ...] = (
    "account",
    "sector",
    "revenue",
    "employees",
    "year_established",
    "office_location",
)


#: Columns in the frame that are deliberately not inputs (id, raw date, window-confounded month).
NON_INPUT_COLUMNS: tuple[str, ...] = (ID_COLUMN, "engage_date", "engage_month", *ACCOUNT_COLUMNS)


DAYS_PARAMS: dict[str, Any] = {
    "n_estimators": 150,
    "max_depth": 4,
    "learning_rate": 0.08,
    "subsample": 0.9,
    "random_state": 42,
}


WIN_PARAMS: dict[str, Any] = {
    "n_estimators": 150,
    "max_depth": 3,
    "learning_rate": 0.05,
    "subsample": 0.9,
    "random_state": 42,
}


#: First day of each backtest month: the forecast of each is made with data before that day.
BACKTEST_CUTOFFS: tuple[str, ...] = tuple(
    str(day.date()) for day in pd.date_range("2017-04-01", "2017-11-01", freq="MS")
)


TEST_FRACTION = 0.2


#: Target coverage of the days-to-close and revenue-forecast intervals (and of the win
#: probability's conformal sets).
INTERVAL_COVERAGE = 0.9


#: Share of the (time-ordered) training deals, the latest ones, that calibrates the intervals and
#: the win probability; the models behind them are fitted on the earlier rows only.
CALIBRATION_FRACTION = 0.25


AUDIT_COLUMN = "regional_office"


def enrich_deals(
    deals: pd.DataFrame,
    accounts: pd.DataFrame | None = None,
    products: pd.DataFrame | None = None,
    teams: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """Join pipeline rows with their account, product and team, and add engage-date features.

    Args:
        deals: Rows with (some of) the ``sales_pipeline.csv`` columns.
        accounts: ``accounts.csv`` (sector, revenue, employees, year_established, location).
        products: ``products.csv`` (series, sales_price).
        teams: ``sales_teams.csv`` (manager, regional_office).

    Returns:
        The rows, in the same order, with the lookup and date columns added (a lookup that is
        not given, or a column already present, is left as is).

    """
    out = deals.copy()
    joins = (
        (
            accounts,
            "account",
            ["sector", "revenue", "employees", "year_established", "office_location"],
        ),
        (products, "product", ["series", "sales_price"]),
        (teams, "sales_agent", ["manager", "regional_office"]),
    )
    for table, key, columns in joins:
        wanted = [column for column in columns if column not in out.columns]
        if table is None or key not in out.columns or not wanted:
            continue
        lookup = table.drop_duplicates(key).set_index(key)[wanted]
        joined = lookup.reindex(out[key].to_numpy())
        for column in wanted:
            out[column] = joined[column].to_numpy()
    engage = pd.to_datetime(out["engage_date"]) if "engage_date" in out else None
    if engage is not None:
        out["engage_date"] = engage
        quarter_end = engage.dt.to_period("Q").dt.end_time.dt.normalize()
        out["engage_month"] = engage.dt.month.astype(float)
        out["engage_month_of_quarter"] = ((engage.dt.month - 1) % 3 + 1).astype(float)
        out["engage_day"] = engage.dt.day.astype(float)
        out["engage_weekday"] = engage.dt.weekday.astype(float)
        out["days_to_quarter_end"] = (quarter_end - engage).dt.days.astype(float)
    for column in ("sales_price", "revenue", "employees", "year_established"):
        if column in out:
            out[column] = pd.to_numeric(out[column], errors="coerce").astype(float)
    return out


def build_deal_frame(maven: MavenCRM) -> pd.DataFrame:
    """Return one row per opportunity with its inputs and (for closed deals) its outcomes.

    Inputs are the deal's agent/product/account, their lookups (account sector, revenue,
    employees, year established, office location; product series and list price; team manager and
    regional office) and engage-date features. Outcomes: ``days_to_close`` (close - engage, in
    days) and ``is_won`` (1.0 Won / 0.0 Lost), both NaN for open deals. ``deal_stage``,
    ``close_date`` and ``close_value`` are kept for evaluation but never used as inputs: they leak
    the outcome (:data:`OUTCOME_COLUMNS`).

    Args:
        maven: The four Maven CRM tables (:func:`pipelines.datasets.load_maven_crm`).

    Returns:
        8,800 rows (for the full export), in file order.

    """
    frame = enrich_deals(maven.pipeline, maven.accounts, maven.products, maven.teams)
    closed = frame["deal_stage"].isin(CLOSED_STAGES)
    frame["is_closed"] = closed
    frame["days_to_close"] = (frame["close_date"] - frame["engage_date"]).dt.days.where(closed)
    frame["days_to_close"] = frame["days_to_close"].astype(float)
    frame["is_won"] = (frame["deal_stage"] == "Won").astype(float).where(closed)
    return frame


def closed_deals(frame: pd.DataFrame) -> pd.DataFrame:
    """Return the Won/Lost deals sorted by engage date (then id, for a stable order)."""
    closed = frame[frame["deal_stage"].isin(CLOSED_STAGES)]
    return closed.sort_values(["engage_date", ID_COLUMN], kind="mergesort")


def time_ordered_split(
    frame: pd.DataFrame, test_fraction: float = TEST_FRACTION
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Split the closed deals by engage date: the latest ``test_fraction`` is held out.

    Time-ordered rather than stratified: the models are used on deals engaged *after* the ones
    they learnt from, and a random split would let them interpolate patterns of the very weeks
    they are scored on. Caveat: the latest engaged deals that are already closed are biased
    towards short cycles (the export ends on 2017-12-31, longer ones are still open), so the
    held-out MAE is not the MAE over all future deals; model and baseline see the same rows.

    Args:
        frame: The deal frame (:func:`build_deal_frame`).
        test_fraction: Share of closed deals held out.

    Returns:
        (train, test) closed deals; every test deal was engaged on or after every train deal.

    """
    closed = closed_deals(frame)
    n_train = round(len(closed) * (1 - test_fraction))
    return closed.iloc[:n_train], closed.iloc[n_train:]


def training_rows_for_cutoff(frame: pd.DataFrame, cutoff: pd.Timestamp | str) -> pd.DataFrame:
    """Return the deals a model may learn from at ``cutoff``: closed strictly before it."""
    cutoff = pd.Timestamp(cutoff)
    closed = closed_deals(frame)
    return closed[closed["close_date"] < cutoff]


def open_at_cutoff(frame: pd.DataFrame, cutoff: pd.Timestamp | str) -> pd.DataFrame:
    """Return the deals open at ``cutoff``: engaged before it and not closed before it.

    Prospecting deals have no engage date, so they are never "engaged before" a cutoff and are
    left out (they cannot be placed in a month either).
    """
    cutoff = pd.Timestamp(cutoff)
    engaged = frame["engage_date"] < cutoff
    still_open = frame["close_date"].isna() | (frame["close_date"] >= cutoff)
    return frame[engaged & still_open]


def won_revenue_by_month(frame: pd.DataFrame) -> pd.Series:
    """Return actual won revenue (sum of ``close_value`` of Won deals) by close month."""
    won = frame[frame["deal_stage"] == "Won"]
    return won.groupby(won["close_date"].dt.to_period("M"))["close_value"].sum()


def data_end(frame: pd.DataFrame) -> pd.Timestamp:
    """Return the last date seen in the export (latest engage or close date)."""
    return pd.Timestamp(max(frame["engage_date"].max(), frame["close_date"].max()))
