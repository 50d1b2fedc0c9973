"""Data validation at ingestion with Great Expectations (1.x API).

Every frame that enters the platform (the real datasets from :mod:`pipelines.datasets`, the
synthetic CRM tables) is checked against a named expectation suite before it is used::

    report = validate_or_raise(load_leads(datasets_dir), "leads")

Suites are declared below as plain data (expectation class name + keyword arguments) and
turned into :class:`great_expectations.ExpectationSuite` objects lazily, so importing this
module does not import Great Expectations (a ~4 s import). One ephemeral GX context, one
pandas data source, one dataframe asset and one batch definition are created per process and
reused; each call only builds a batch around the given frame.

The result is a :class:`ValidationReport`: its :meth:`~ValidationReport.to_text` names, per
failed expectation, the expectation type, the column(s), what was expected, how many values
were unexpected (count and percent) and up to five sample unexpected values with their row
labels, so an operator can fix the data without reading GX's JSON.
"""

from __future__ import annotations

import html
import json
import logging
import math
import threading
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import date, datetime
from functools import cache, lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

if TYPE_CHECKING:
    import great_expectations as gx
    from great_expectations.core.batch_definition import BatchDefinition

__all__ = [
    "SAMPLE_SIZE",
    "DataValidationError",
    "ExpectationCheck",
    "FailedExpectation",
    "ValidationReport",
    "feature_view_expectations",
    "register_suite",
    "suite_names",
    "validate_frame",
    "validate_or_raise",
]

#: How many unexpected values (and their row labels) a report keeps per failed expectation.
SAMPLE_SIZE = 5

_RESULT_FORMAT: dict[str, Any] = {
    "result_format": "SUMMARY",
    "partial_unexpected_count": SAMPLE_SIZE,
}
#: Expectation kwargs that are bookkeeping, not "what was expected".
_NON_EXPECTED_KWARGS = frozenset(
    {
        "batch_id",
        "column",
        "column_A",
        "column_B",
        "column_list",
        "result_format",
        "catch_exceptions",
        "include_config",
        "meta",
        "notes",
        "rendered_content",
        "severity",
        "id",
    }
)
_MAX_REPR = 240

# --------------------------------------------------------------------------------------------
# Suite declarations
# --------------------------------------------------------------------------------------------

ExpectationSpec = tuple[str, Mapping[str, Any]]

LEADS_COLUMNS: tuple[str, ...] = (
    "Prospect ID",
    "Lead Number",
    "Lead Origin",
    "Lead Source",
    "Do Not Email",
    "Do Not Call",
    "Converted",
    "TotalVisits",
    "Total Time Spent on Website",
    "Page Views Per Visit",
    "Last Activity",
    "Country",
    "Specialization",
    "How did you hear about X Education",
    "What is your current occupation",
    "What matters most to you in choosing a course",
    "Search",
    "Magazine",
    "Newspaper Article",
    "X Education Forums",
    "Newspaper",
    "Digital Advertisement",
    "Through Recommendations",
    "Receive More Updates About Our Courses",
    "Tags",
    "Lead Quality",
    "Update me on Supply Chain Content",
    "Get updates on DM Content",
    "Lead Profile",
    "City",
    "Asymmetrique Activity Index",
    "Asymmetrique Profile Index",
    "Asymmetrique Activity Score",
    "Asymmetrique Profile Score",
    "I agree to pay the amount through cheque",
    "A free copy of Mastering The Interview",
    "Last Notable Activity",
)
LEAD_ORIGINS: tuple[str, ...] = (
    "Landing Page Submission",
    "API",
    "Lead Add Form",
    "Lead Import",
    "Quick Add Form",
)
TELCO_COLUMNS: tuple[str, ...] = (
    "customerID",
    "gender",
    "SeniorCitizen",
    "Partner",
    "Dependents",
    "tenure",
    "PhoneService",
    "MultipleLines",
    "InternetService",
    "OnlineSecurity",
    "OnlineBackup",
    "DeviceProtection",
    "TechSupport",
    "StreamingTV",
    "StreamingMovies",
    "Contract",
    "PaperlessBilling",
    "PaymentMethod",
    "MonthlyCharges",
    "TotalCharges",
    "Churn",
)
TELCO_CONTRACTS: tuple[str, ...] = ("Month-to-month", "One year", "Two year")
MAVEN_PIPELINE_COLUMNS: tuple[str, ...] = (
    "opportunity_id",
    "sales_agent",
    "product",
    "account",
    "deal_stage",
    "engage_date",
    "close_date",
    "close_value",
)
MAVEN_DEAL_STAGES: tuple[str, ...] = ("Won", "Lost", "Engaging", "Prospecting")
#: products.csv's product names; the pipeline's "GTXPro" typo is fixed by the loader.
MAVEN_PRODUCTS: tuple[str, ...] = (
    "GTX Basic",
    "GTX Pro",
    "MG Special",
    "MG Advanced",
    "GTX Plus Pro",
    "GTX Plus Basic",
    "GTK 500",
)
CRM_CONTACT_COLUMNS: tuple[str, ...] = (
    "id",
    "company_id",
    "owner_id",
    "first_name",
    "last_name",
    "email",
    "phone",
    "job_title",
    "lead_source",
    "lifecycle_stage",
    "gender",
    "ai_consent",
    "created_at",
)
CRM_GENDERS: tuple[str, ...] = ("female", "male", "nonbinary")
CRM_EMAIL_EVENT_COLUMNS: tuple[str, ...] = (
    "event_id",
    "contact_id",
    "event_type",
    "campaign",
    "occurred_at",
)
CRM_EMAIL_EVENT_TYPES: tuple[str, ...] = ("sent", "open", "click", "reply")
#: Deliberately simple: one "@", no whitespace, a dot in the domain.
EMAIL_REGEX = r"^[^@\s]+@[^@\s]+\.[^@\s]+$"

#: Row-count bounds for the real datasets: catch an empty/truncated file or a runaway join.
_REAL_ROW_BOUNDS = {"min_value": 1_000, "max_value": 1_000_000}


def _not_null(column: str, mostly: float | None = None) -> ExpectationSpec:
    kwargs: dict[str, Any] = {"column": column}
    if mostly is not None:
        kwargs["mostly"] = mostly
    return ("ExpectColumnValuesToNotBeNull", kwargs)


def _unique(column: str) -> ExpectationSpec:
    return ("ExpectColumnValuesToBeUnique", {"column": column})


def _in_set(column: str, values: Sequence[Any]) -> ExpectationSpec:
    return ("ExpectColumnValuesToBeInSet", {"column": column, "value_set": list(values)})


def _between(column: str, **bounds: Any) -> ExpectationSpec:
    return ("ExpectColumnValuesToBeBetween", {"column": column, **bounds})


def _columns(columns: Sequence[str], *, exact: bool) -> ExpectationSpec:
    return ("ExpectTableColumnsToMatchSet", {"column_set": list(columns), "exact_match": exact})


def _rows(min_value: int, max_value: int | None = None) -> ExpectationSpec:
    return ("ExpectTableRowCountToBeBetween", {"min_value": min_value, "max_value": max_value})


# GX column-map expectations ignore nulls, so range/set checks pass on missing values; where
# a column must be filled a separate not-null expectation says so. ``mostly`` on the not-null
# checks mirrors the real missingness (TotalVisits / Page Views Per Visit: 137 of 9,240 = 1.5%).
_SUITE_SPECS: dict[str, tuple[ExpectationSpec, ...]] = {
    "leads": (
        _columns(LEADS_COLUMNS, exact=True),
        _rows(**_REAL_ROW_BOUNDS),
        _not_null("Prospect ID"),
        _unique("Prospect ID"),
        _not_null("Lead Number"),
        _unique("Lead Number"),
        _not_null("Converted"),
        _in_set("Converted", (0, 1)),
        _not_null("Lead Origin"),
        _in_set("Lead Origin", LEAD_ORIGINS),
        _not_null("TotalVisits", mostly=0.95),
        _between("TotalVisits", min_value=0),
        _not_null("Total Time Spent on Website"),
        _between("Total Time Spent on Website", min_value=0),
        _not_null("Page Views Per Visit", mostly=0.95),
        _between("Page Views Per Visit", min_value=0),
        _in_set("Do Not Email", ("Yes", "No")),
        _in_set("Do Not Call", ("Yes", "No")),
    ),
    "telco": (
        _columns(TELCO_COLUMNS, exact=True),
        _rows(**_REAL_ROW_BOUNDS),
        _not_null("customerID"),
        _unique("customerID"),
        _not_null("Churn"),
        _in_set("Churn", (0, 1)),
        _not_null("tenure"),
        _between("tenure", min_value=0, max_value=100),
        _not_null("MonthlyCharges"),
        _between("MonthlyCharges", min_value=0, strict_min=True),
        _not_null("TotalCharges"),
        _between("TotalCharges", min_value=0),
        _not_null("gender"),
        _in_set("gender", ("Female", "Male")),
        _not_null("SeniorCitizen"),
        _in_set("SeniorCitizen", (0, 1)),
        _not_null("Contract"),
        _in_set("Contract", TELCO_CONTRACTS),
    ),
    "maven_pipeline": (
        _columns(MAVEN_PIPELINE_COLUMNS, exact=True),
        _rows(**_REAL_ROW_BOUNDS),
        _not_null("opportunity_id"),
        _unique("opportunity_id"),
        _not_null("sales_agent"),
        _not_null("deal_stage"),
        _in_set("deal_stage", MAVEN_DEAL_STAGES),
        _not_null("product"),
        _in_set("product", MAVEN_PRODUCTS),
        # Open deals have no close_value (2,089 rows); closed ones must not be negative.
        _between("close_value", min_value=0),
        # A deal cannot close before it was engaged; open / prospecting deals lack a date.
        (
            "ExpectColumnPairValuesAToBeGreaterThanB",
            {
                "column_A": "close_date",
                "column_B": "engage_date",
                "or_equal": True,
                "ignore_row_if": "either_value_is_missing",
            },
        ),
    ),
    # Synthetic CRM tables (pipelines.synthetic): extra columns are tolerated.
    "crm_contacts": (
        _columns(CRM_CONTACT_COLUMNS, exact=False),
        _rows(min_value=1),
        _not_null("id"),
        _unique("id"),
        ("ExpectColumnValuesToMatchRegex", {"column": "email", "regex": EMAIL_REGEX}),
        _in_set("gender", CRM_GENDERS),
        _not_null("ai_consent"),
        _in_set("ai_consent", (True, False)),
    ),
    "crm_email_events": (
        _columns(CRM_EMAIL_EVENT_COLUMNS, exact=False),
        _rows(min_value=1),
        _not_null("event_id"),
        _unique("event_id"),
        _not_null("contact_id"),
        _not_null("event_type"),
        _in_set("event_type", CRM_EMAIL_EVENT_TYPES),
    ),
}


def register_suite(suite_name: str, expectations: Sequence[ExpectationSpec]) -> None:
    """Add (or replace) a suite defined by code, e.g. one per Feast feature view.

    Args:
        suite_name: The suite's name.
        expectations: ``(GX expectation class name, kwargs)`` pairs.
    """
    _SUITE_SPECS[suite_name] = tuple(expectations)
    _suite.cache_clear()


def feature_view_expectations(
    join_key: str, timestamp: str, columns: Sequence[str], non_negative: Sequence[str]
) -> list[ExpectationSpec]:
    """Return the expectations of a feature-store snapshot table.

    Args:
        join_key: Entity key column.
        timestamp: Snapshot timestamp column.
        columns: Feature columns (the table must hold exactly these plus key and timestamp).
        non_negative: Numeric features that can never be negative (counts, amounts).

    Returns:
        Expectation specs for :func:`register_suite`.
    """
    specs: list[ExpectationSpec] = [
        _columns((join_key, timestamp, *columns), exact=True),
        _rows(min_value=1),
        _not_null(join_key),
        _not_null(timestamp),
        ("ExpectCompoundColumnsToBeUnique", {"column_list": [join_key, timestamp]}),
    ]
    specs += [_between(column, min_value=0) for column in non_negative]
    return specs


def suite_names() -> list[str]:
    """Return the names of the available expectation suites, sorted."""
    return sorted(_SUITE_SPECS)


def _check_suite_name(suite_name: str) -> None:
    if suite_name not in _SUITE_SPECS:
        raise ValueError(
            f"Unknown validation suite {suite_name!r}; available suites: "
            f"{', '.join(suite_names())}."
        )


# --------------------------------------------------------------------------------------------
# Report
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ExpectationCheck:
    """One expectation of a suite: its GX type, the column(s) it looks at, what it expects."""

    expectation_type: str
    columns: tuple[str, ...] = ()
    expected: dict[str, Any] = field(default_factory=dict)

    def describe(self) -> str:
        """Return ``type on column(s) 'a', 'b'`` (or ``on the table``)."""
        if not self.columns:
            where = "on the table"
        elif len(self.columns) == 1:
            where = f"on column {self.columns[0]!r}"
        else:
            where = "on columns " + ", ".join(repr(c) for c in self.columns)
        return f"{self.expectation_type} {where}"

    def expected_text(self) -> str:
        """Return the expected kwargs as ``key=value`` pairs (long values shortened)."""
        parts = [f"{key}={_short(value)}" for key, value in self.expected.items()]
        if self.expectation_type == "expect_column_pair_values_a_to_be_greater_than_b":
            column_a, column_b = (*self.columns, "A", "B")[:2]
            operator = ">=" if self.expected.get("or_equal") else ">"
            parts.insert(0, f"{column_a} {operator} {column_b}")
        return ", ".join(parts) if parts else "(no parameters)"


@dataclass(frozen=True)
class FailedExpectation(ExpectationCheck):
    """A failed expectation with what was observed."""

    unexpected_count: int | None = None
    unexpected_percent: float | None = None
    element_count: int | None = None
    missing_count: int | None = None
    sample_values: list[Any] = field(default_factory=list)
    sample_rows: list[Any] = field(default_factory=list)
    observed_value: Any = None
    details: dict[str, Any] | None = None
    exception: str | None = None

    def _sample_text(self, value: Any) -> str:
        """Format one unexpected value; a column pair's (A, B) values are labelled."""
        if len(self.columns) == 2 and isinstance(value, list | tuple) and len(value) == 2:
            pairs = zip(self.columns, value, strict=True)
            return "(" + ", ".join(f"{col}={_short(item, 60)}" for col, item in pairs) + ")"
        return _short(value, 60)

    def text_lines(self) -> list[str]:
        """Return the human-readable lines describing this failure."""
        lines = [self.describe(), f"expected: {self.expected_text()}"]
        if self.exception:
            lines.append(f"error while evaluating: {self.exception}")
        if self.unexpected_count is not None:
            percent = (
                f"{self.unexpected_percent:.2f}%" if self.unexpected_percent is not None else "?%"
            )
            of = ""
            if self.element_count is not None:
                checked = self.element_count - (self.missing_count or 0)
                of = f" of {checked:,} non-null values"
            lines.append(f"unexpected: {self.unexpected_count:,}{of} ({percent})")
        if self.sample_values:
            samples = ", ".join(self._sample_text(v) for v in self.sample_values)
            lines.append(f"sample unexpected values: {samples}")
        if self.sample_rows:
            lines.append(f"at rows: {', '.join(_short(r, 40) for r in self.sample_rows)}")
        mismatched = (self.details or {}).get("mismatched")
        if isinstance(mismatched, Mapping):
            for key, value in mismatched.items():
                label = {"missing": "missing columns", "unexpected": "unexpected columns"}.get(
                    key, key
                )
                lines.append(f"{label}: {_short(value)}")
        elif self.observed_value is not None:
            lines.append(f"observed: {_short(self.observed_value)}")
        return lines


@dataclass
class ValidationReport:
    """Outcome of validating one frame against one suite."""

    dataset: str
    success: bool
    evaluated: int
    failed: list[FailedExpectation] = field(default_factory=list)
    passed: list[ExpectationCheck] = field(default_factory=list)
    row_count: int | None = None

    def to_text(self) -> str:
        """Return a readable, operator-facing summary of the validation."""
        rows = f", {self.row_count:,} rows" if self.row_count is not None else ""
        if self.success:
            return (
                f"Validation of {self.dataset!r} passed: all {self.evaluated} "
                f"expectations met{rows}."
            )
        lines = [
            f"Validation of {self.dataset!r} FAILED: {len(self.failed)} of {self.evaluated} "
            f"expectations failed{rows}."
        ]
        for number, failure in enumerate(self.failed, start=1):
            first, *rest = failure.text_lines()
            lines.append(f"  {number}. {first}")
            lines.extend(f"     {line}" for line in rest)
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.to_text()

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-serialisable dict of the report."""
        return _jsonable(
            {
                "dataset": self.dataset,
                "success": self.success,
                "evaluated": self.evaluated,
                "row_count": self.row_count,
                "failed": [asdict(f) for f in self.failed],
                "passed": [asdict(p) for p in self.passed],
            }
        )

    def write(self, path: Path | str) -> Path:
        """Write the report as JSON to ``path`` (parents created) and return the path."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(self.to_dict(), indent=2) + "\n", encoding="utf-8")
        return path

    def write_html(self, path: Path | str) -> Path:
        """Write a small self-contained HTML table (failures red, passes green)."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(self.to_html(), encoding="utf-8")
        return path

    def to_html(self) -> str:
        """Return the report as a self-contained HTML page."""
        esc = html.escape
        rows: list[str] = []
        for failure in self.failed:
            observed = "<br>".join(esc(line) for line in failure.text_lines()[2:])
            rows.append(
                '<tr class="fail"><td>FAIL</td>'
                f"<td>{esc(failure.expectation_type)}</td>"
                f"<td>{esc(', '.join(failure.columns))}</td>"
                f"<td>{esc(failure.expected_text())}</td>"
                f"<td>{observed}</td></tr>"
            )
        for check in self.passed:
            rows.append(
                '<tr class="pass"><td>PASS</td>'
                f"<td>{esc(check.expectation_type)}</td>"
                f"<td>{esc(', '.join(check.columns))}</td>"
                f"<td>{esc(check.expected_text())}</td><td></td></tr>"
            )
        status = "passed" if self.success else "FAILED"
        summary = f"{self.evaluated} expectations, {len(self.failed)} failed" + (
            f", {self.row_count:,} rows" if self.row_count is not None else ""
        )
        return (
            "<!DOCTYPE html>\n"
            '<html lang="en"><head><meta charset="utf-8">'
            f"<title>Validation: {esc(self.dataset)}</title>"
            "<style>body{font-family:sans-serif;margin:1.5em}"
            "table{border-collapse:collapse}"
            "th,td{border:1px solid #999;padding:4px 8px;text-align:left;vertical-align:top}"
            "th{background:#eee}tr.pass{background:#d9f2d9}tr.fail{background:#f8d0d0}"
            "h1.pass{color:#1b6e1b}h1.fail{color:#a01515}</style></head><body>"
            f'<h1 class="{"pass" if self.success else "fail"}">'
            f"Validation of {esc(self.dataset)} {status}</h1>"
            f"<p>{esc(summary)}</p>"
            "<table><thead><tr><th>status</th><th>expectation</th><th>column(s)</th>"
            "<th>expected</th><th>observed</th></tr></thead><tbody>"
            + "".join(rows)
            + "</tbody></table></body></html>\n"
        )


class DataValidationError(ValueError):
    """Raised by :func:`validate_or_raise`; ``str()`` is the readable report."""

    def __init__(self, report: ValidationReport) -> None:
        super().__init__(report.to_text())
        self.report = report


# --------------------------------------------------------------------------------------------
# Great Expectations plumbing (created once per process)
# --------------------------------------------------------------------------------------------

_LOCK = threading.RLock()


@lru_cache(maxsize=1)
def _batch_definition() -> BatchDefinition:
    """Create the process-wide ephemeral context with one reusable dataframe batch definition."""
    import great_expectations as gx
    from great_expectations.data_context.types.base import ProgressBarsConfig

    logging.getLogger("great_expectations").setLevel(logging.WARNING)
    context = gx.get_context(mode="ephemeral")
    # GX draws tqdm "Calculating Metrics" bars by default; the context config turns them off.
    context.variables.progress_bars = ProgressBarsConfig(globally=False, metric_calculations=False)
    asset = context.data_sources.add_pandas("haste_ingestion").add_dataframe_asset("frame")
    return asset.add_batch_definition_whole_dataframe("whole_frame")


@cache
def _suite(suite_name: str) -> gx.ExpectationSuite:
    import great_expectations as gx

    expectations = [
        getattr(gx.expectations, class_name)(**kwargs)
        for class_name, kwargs in _SUITE_SPECS[suite_name]
    ]
    return gx.ExpectationSuite(name=suite_name, expectations=expectations)


def _stringify_uuids(frame: pd.DataFrame) -> pd.DataFrame:
    """Return ``frame`` with uuid.UUID values turned into str (on a copy, only if needed)."""
    converted: dict[str, pd.Series] = {}
    for name in frame.select_dtypes(include="object").columns:
        column = frame[name]
        if any(isinstance(value, uuid.UUID) for value in column.to_numpy()):
            converted[name] = column.map(
                lambda value: str(value) if isinstance(value, uuid.UUID) else value
            )
    if not converted:
        return frame
    copy = frame.copy()
    for name, column in converted.items():
        copy[name] = column
    return copy


def validate_frame(frame: pd.DataFrame, suite_name: str) -> ValidationReport:
    """Validate ``frame`` against the named suite and return the report (never raises on data).

    Args:
        frame: The data to check (not modified).
        suite_name: One of :func:`suite_names`.

    Returns:
        The :class:`ValidationReport`.

    Raises:
        ValueError: When ``suite_name`` is unknown (the message lists the available suites).
        TypeError: When ``frame`` is not a pandas DataFrame.

    """
    _check_suite_name(suite_name)
    if not isinstance(frame, pd.DataFrame):
        raise TypeError(f"validate_frame expects a pandas DataFrame, got {type(frame).__name__}")
    data = _stringify_uuids(frame)
    with _LOCK:
        batch = _batch_definition().get_batch(batch_parameters={"dataframe": data})
        result = batch.validate(_suite(suite_name), result_format=_RESULT_FORMAT)
    return _build_report(suite_name, result, row_count=len(frame))


def validate_or_raise(frame: pd.DataFrame, suite_name: str) -> ValidationReport:
    """Validate like :func:`validate_frame` but raise when any expectation fails.

    Raises:
        DataValidationError: When the frame does not meet the suite (``.report`` holds it).
        ValueError: When ``suite_name`` is unknown.

    """
    report = validate_frame(frame, suite_name)
    if not report.success:
        raise DataValidationError(report)
    return report


def _build_report(suite_name: str, result: Any, row_count: int) -> ValidationReport:
    failed: list[FailedExpectation] = []
    passed: list[ExpectationCheck] = []
    for outcome in result.results:
        config = outcome.expectation_config
        kwargs = dict(config.kwargs)
        columns = tuple(
            str(kwargs[key]) for key in ("column", "column_A", "column_B") if kwargs.get(key)
        ) + tuple(str(c) for c in kwargs.get("column_list") or ())
        expected = {
            key: value
            for key, value in kwargs.items()
            if key not in _NON_EXPECTED_KWARGS and value is not None
        }
        exception = _exception_message(outcome.exception_info or {})
        if outcome.success and exception is None:
            passed.append(ExpectationCheck(config.type, columns, expected))
            continue
        details = outcome.result or {}
        failed.append(
            FailedExpectation(
                expectation_type=config.type,
                columns=columns,
                expected=expected,
                unexpected_count=details.get("unexpected_count"),
                unexpected_percent=details.get("unexpected_percent"),
                element_count=details.get("element_count"),
                missing_count=details.get("missing_count"),
                sample_values=list(details.get("partial_unexpected_list") or [])[:SAMPLE_SIZE],
                sample_rows=list(details.get("partial_unexpected_index_list") or [])[:SAMPLE_SIZE],
                observed_value=details.get("observed_value"),
                details=details.get("details"),
                exception=exception,
            )
        )
    # GX returns results in its own order; table-level problems (schema, row count) first.
    failed.sort(key=lambda failure: bool(failure.columns))
    return ValidationReport(
        dataset=suite_name,
        success=not failed,
        evaluated=len(result.results),
        failed=failed,
        passed=passed,
        row_count=row_count,
    )


def _exception_message(info: Mapping[str, Any]) -> str | None:
    """Return the first line of the error GX caught, or None when nothing was raised.

    GX reports either one flat ``{"raised_exception": ..., "exception_message": ...}`` or,
    when metrics failed to resolve (e.g. a missing column), a dict of those per metric.
    """
    infos = [info] if "raised_exception" in info else list(info.values())
    messages: list[str] = []
    for item in infos:
        if isinstance(item, Mapping) and item.get("raised_exception"):
            text = str(item.get("exception_message") or "unknown error").strip()
            first = text.splitlines()[0] if text else "unknown error"
            if first not in messages:
                messages.append(first)
    return "; ".join(messages) if messages else None


def _jsonable(value: Any) -> Any:
    """Convert numpy / pandas / datetime / UUID values to JSON-friendly Python values."""
    if isinstance(value, Mapping):
        return {str(key): _jsonable(item) for key, item in value.items()}
    if isinstance(value, list | tuple | set | frozenset | np.ndarray):
        return [_jsonable(item) for item in value]
    if value is None or value is pd.NaT:
        return None
    if isinstance(value, bool | np.bool_):
        return bool(value)
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, float | np.floating):
        number = float(value)
        return number if math.isfinite(number) else None
    if isinstance(value, int | str):
        return value
    if isinstance(value, np.datetime64):
        value = pd.Timestamp(value)
        if value is pd.NaT:
            return None
    if isinstance(value, pd.Timestamp | datetime | date):
        return value.isoformat()
    return str(value)


def _short(value: Any, limit: int = _MAX_REPR) -> str:
    """Return a compact repr of ``value``, truncated to ``limit`` characters."""
    text = repr(_jsonable(value))
    return text if len(text) <= limit else text[: limit - 1] + "…"
