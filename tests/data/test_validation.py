"""Great Expectations suites at ingestion: real data passes, realistic corruption is caught."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from pipelines.datasets import load_leads, load_maven_crm, load_telco
from pipelines.validation import (
    DataValidationError,
    ValidationReport,
    suite_names,
    validate_frame,
    validate_or_raise,
)

Mutation = Callable[[pd.DataFrame], None]


@pytest.fixture(scope="module")
def leads(datasets_dir: Path) -> pd.DataFrame:
    return load_leads(datasets_dir)


@pytest.fixture(scope="module")
def telco(datasets_dir: Path) -> pd.DataFrame:
    return load_telco(datasets_dir)


@pytest.fixture(scope="module")
def maven_pipeline(datasets_dir: Path) -> pd.DataFrame:
    return load_maven_crm(datasets_dir).pipeline


def _failures(report: ValidationReport) -> set[tuple[str, tuple[str, ...]]]:
    return {(f.expectation_type, f.columns) for f in report.failed}


def _contacts(n: int = 20) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    company = [uuid.uuid4() for _ in range(3)]
    return pd.DataFrame(
        {
            "id": [uuid.uuid4() for _ in range(n)],
            "company_id": [company[i % 3] for i in range(n)],
            "owner_id": [uuid.uuid4() for _ in range(n)],
            "first_name": [f"First{i}" for i in range(n)],
            "last_name": [f"Last{i}" for i in range(n)],
            "email": [f"person{i}@example{i % 4}.com" for i in range(n)],
            "phone": [f"+1-555-01{i:02d}" for i in range(n)],
            "job_title": "Engineer",
            "lead_source": "web",
            "lifecycle_stage": "lead",
            "gender": rng.choice(["female", "male", "nonbinary"], size=n),
            "ai_consent": rng.random(n) < 0.5,
            "created_at": pd.date_range("2024-01-01", periods=n, freq="h", tz="UTC"),
        }
    )


def _email_events(contacts: pd.DataFrame) -> pd.DataFrame:
    n = 3 * len(contacts)
    return pd.DataFrame(
        {
            "event_id": [uuid.uuid4() for _ in range(n)],
            "contact_id": [contacts["id"].iloc[i % len(contacts)] for i in range(n)],
            "event_type": [("sent", "open", "click", "reply")[i % 4] for i in range(n)],
            "campaign": "spring",
            "occurred_at": pd.date_range("2024-02-01", periods=n, freq="min", tz="UTC"),
        }
    )


# ------------------------------------------------------------------ real data passes


@pytest.mark.parametrize(
    ("fixture", "suite"),
    [("leads", "leads"), ("telco", "telco"), ("maven_pipeline", "maven_pipeline")],
)
def test_real_dataset_passes_its_suite(
    request: pytest.FixtureRequest, fixture: str, suite: str
) -> None:
    frame = request.getfixturevalue(fixture)
    report = validate_or_raise(frame, suite)
    assert report.success, report.to_text()
    assert report.failed == []
    assert report.evaluated == len(report.passed) >= 10
    assert report.row_count == len(frame)
    assert "passed" in report.to_text()


def test_suite_names() -> None:
    assert suite_names() == [
        "crm_contacts",
        "crm_email_events",
        "leads",
        "maven_pipeline",
        "telco",
    ]


def test_unknown_suite_lists_available_suites() -> None:
    with pytest.raises(ValueError, match="Unknown validation suite 'nope'") as excinfo:
        validate_frame(pd.DataFrame({"a": [1]}), "nope")
    for name in suite_names():
        assert name in str(excinfo.value)
    assert not isinstance(excinfo.value, DataValidationError)


# ------------------------------------------------------------------ corruption is caught


def _duplicate_prospect(f: pd.DataFrame) -> None:
    f.loc[10, "Prospect ID"] = f.loc[11, "Prospect ID"]


def _converted_two(f: pd.DataFrame) -> None:
    f.loc[5, "Converted"] = 2


def _negative_visits(f: pd.DataFrame) -> None:
    f.loc[7, "TotalVisits"] = -3.0


def _negative_time(f: pd.DataFrame) -> None:
    f.loc[7, "Total Time Spent on Website"] = -1


def _negative_page_views(f: pd.DataFrame) -> None:
    f.loc[8, "Page Views Per Visit"] = -0.5


def _unknown_origin(f: pd.DataFrame) -> None:
    f.loc[3, "Lead Origin"] = "Carrier Pigeon"


def _null_prospect(f: pd.DataFrame) -> None:
    f.loc[4, "Prospect ID"] = None


def _mostly_missing_visits(f: pd.DataFrame) -> None:
    f.loc[: len(f) // 10, "TotalVisits"] = np.nan


@pytest.mark.parametrize(
    ("mutate", "expected", "sample"),
    [
        (_duplicate_prospect, {("expect_column_values_to_be_unique", ("Prospect ID",))}, None),
        (_converted_two, {("expect_column_values_to_be_in_set", ("Converted",))}, "2"),
        (_negative_visits, {("expect_column_values_to_be_between", ("TotalVisits",))}, "-3.0"),
        (
            _negative_time,
            {("expect_column_values_to_be_between", ("Total Time Spent on Website",))},
            "-1",
        ),
        (
            _negative_page_views,
            {("expect_column_values_to_be_between", ("Page Views Per Visit",))},
            "-0.5",
        ),
        (
            _unknown_origin,
            {("expect_column_values_to_be_in_set", ("Lead Origin",))},
            "'Carrier Pigeon'",
        ),
        (_null_prospect, {("expect_column_values_to_not_be_null", ("Prospect ID",))}, None),
        (
            _mostly_missing_visits,
            {("expect_column_values_to_not_be_null", ("TotalVisits",))},
            None,
        ),
    ],
    ids=lambda v: v.__name__.strip("_") if callable(v) else "",
)
def test_corrupted_leads_fail_on_the_right_expectation(
    leads: pd.DataFrame,
    mutate: Mutation,
    expected: set[tuple[str, tuple[str, ...]]],
    sample: str | None,
) -> None:
    frame = leads.copy()
    mutate(frame)
    report = validate_frame(frame, "leads")
    assert not report.success
    assert _failures(report) == expected, report.to_text()
    text = report.to_text()
    for expectation_type, columns in expected:
        assert expectation_type in text
        assert all(repr(c) in text for c in columns)
    if sample is not None:
        assert f"sample unexpected values: {sample}" in text


def test_leads_tolerate_a_few_more_missing_visits(leads: pd.DataFrame) -> None:
    frame = leads.copy()
    frame.loc[:99, "TotalVisits"] = np.nan  # ~2.6% missing in total, under the 5% allowance
    assert validate_frame(frame, "leads").success


def test_leads_missing_column_and_small_file(leads: pd.DataFrame) -> None:
    frame = leads.drop(columns=["Converted"]).head(50)
    report = validate_frame(frame, "leads")
    failed = {f.expectation_type for f in report.failed}
    assert {"expect_table_columns_to_match_set", "expect_table_row_count_to_be_between"} <= failed
    text = report.to_text()
    assert "missing columns: ['Converted']" in text
    assert "does not exist" in text  # the per-column checks on Converted report the error
    # table-level problems come first
    assert report.failed[0].columns == ()


@pytest.mark.parametrize(
    ("column", "value", "expected_type"),
    [
        ("Churn", 2, "expect_column_values_to_be_in_set"),
        ("tenure", 150, "expect_column_values_to_be_between"),
        ("tenure", -1, "expect_column_values_to_be_between"),
        ("MonthlyCharges", 0.0, "expect_column_values_to_be_between"),
        ("TotalCharges", np.nan, "expect_column_values_to_not_be_null"),
        ("TotalCharges", -10.0, "expect_column_values_to_be_between"),
        ("gender", "Other", "expect_column_values_to_be_in_set"),
        ("SeniorCitizen", 3, "expect_column_values_to_be_in_set"),
        ("Contract", "Three year", "expect_column_values_to_be_in_set"),
    ],
)
def test_corrupted_telco_fails(
    telco: pd.DataFrame, column: str, value: object, expected_type: str
) -> None:
    frame = telco.copy()
    frame.loc[12, column] = value
    report = validate_frame(frame, "telco")
    assert _failures(report) == {(expected_type, (column,))}, report.to_text()


def test_telco_duplicate_customer(telco: pd.DataFrame) -> None:
    frame = pd.concat([telco, telco.iloc[[0]]], ignore_index=True)
    report = validate_frame(frame, "telco")
    assert _failures(report) == {("expect_column_values_to_be_unique", ("customerID",))}
    assert telco.loc[0, "customerID"] in report.to_text()


def _engage_after_close(f: pd.DataFrame) -> None:
    closed = f.index[f["close_date"].notna()][0]
    f.loc[closed, "engage_date"] = f.loc[closed, "close_date"] + pd.Timedelta(days=30)


def _unknown_stage(f: pd.DataFrame) -> None:
    f.loc[1, "deal_stage"] = "Pending"


def _unfixed_product(f: pd.DataFrame) -> None:
    f.loc[f["product"] == "GTX Pro", "product"] = "GTXPro"


def _negative_close_value(f: pd.DataFrame) -> None:
    f.loc[f["close_value"].notna().idxmax(), "close_value"] = -100.0


def _duplicate_opportunity(f: pd.DataFrame) -> None:
    f.loc[2, "opportunity_id"] = f.loc[3, "opportunity_id"]


@pytest.mark.parametrize(
    ("mutate", "expected", "sample"),
    [
        (
            _engage_after_close,
            {
                (
                    "expect_column_pair_values_a_to_be_greater_than_b",
                    ("close_date", "engage_date"),
                )
            },
            "close_date >= engage_date",
        ),
        (
            _unknown_stage,
            {("expect_column_values_to_be_in_set", ("deal_stage",))},
            "'Pending'",
        ),
        (
            _unfixed_product,
            {("expect_column_values_to_be_in_set", ("product",))},
            "'GTXPro'",
        ),
        (
            _negative_close_value,
            {("expect_column_values_to_be_between", ("close_value",))},
            "-100.0",
        ),
        (
            _duplicate_opportunity,
            {("expect_column_values_to_be_unique", ("opportunity_id",))},
            None,
        ),
    ],
    ids=lambda v: v.__name__.strip("_") if callable(v) else "",
)
def test_corrupted_maven_pipeline_fails(
    maven_pipeline: pd.DataFrame,
    mutate: Mutation,
    expected: set[tuple[str, tuple[str, ...]]],
    sample: str | None,
) -> None:
    frame = maven_pipeline.copy()
    mutate(frame)
    report = validate_frame(frame, "maven_pipeline")
    assert _failures(report) == expected, report.to_text()
    if sample is not None:
        assert sample in report.to_text()


def test_engage_after_close_names_both_dates(maven_pipeline: pd.DataFrame) -> None:
    frame = maven_pipeline.copy()
    _engage_after_close(frame)
    failure = validate_frame(frame, "maven_pipeline").failed[0]
    assert failure.unexpected_count == 1
    assert len(failure.sample_rows) == 1
    text = "\n".join(failure.text_lines())
    assert "(close_date='" in text
    assert ", engage_date='" in text


# ------------------------------------------------------------------ error, report files


def test_data_validation_error_is_readable(leads: pd.DataFrame) -> None:
    frame = leads.copy()
    frame.loc[[5, 6], "Converted"] = [2, 7]
    frame.loc[9, "TotalVisits"] = -4.0
    with pytest.raises(DataValidationError) as excinfo:
        validate_or_raise(frame, "leads")
    error = excinfo.value
    assert isinstance(error, ValueError)
    message = str(error)
    assert message == error.report.to_text()
    assert "Validation of 'leads' FAILED: 2 of" in message
    assert "expect_column_values_to_be_in_set on column 'Converted'" in message
    assert "expected: value_set=[0, 1]" in message
    assert "unexpected: 2 of 9,240 non-null values (0.02%)" in message
    assert "sample unexpected values: 2, 7" in message
    assert "at rows: 5, 6" in message
    assert "'TotalVisits'" in message
    assert "-4.0" in message


def test_sample_values_are_capped_at_five(leads: pd.DataFrame) -> None:
    frame = leads.copy()
    frame.loc[:49, "Lead Origin"] = [f"origin {i}" for i in range(50)]
    failure = validate_frame(frame, "leads").failed[0]
    assert failure.unexpected_count == 50
    assert len(failure.sample_values) == 5
    assert len(failure.sample_rows) == 5


def test_report_files(tmp_path: Path, maven_pipeline: pd.DataFrame) -> None:
    frame = maven_pipeline.copy()
    _engage_after_close(frame)
    _unknown_stage(frame)
    report = validate_frame(frame, "maven_pipeline")

    json_path = report.write(tmp_path / "reports" / "maven.json")
    assert json_path.exists()
    data = json.loads(json_path.read_text())
    assert data["dataset"] == "maven_pipeline"
    assert data["success"] is False
    assert data["evaluated"] == report.evaluated
    assert len(data["failed"]) == 2
    pair = next(f for f in data["failed"] if f["columns"] == ["close_date", "engage_date"])
    assert isinstance(pair["sample_values"][0][0], str)  # datetimes serialised
    assert data == report.to_dict()

    html_path = report.write_html(tmp_path / "reports" / "maven.html")
    page = html_path.read_text()
    assert page.startswith("<!DOCTYPE html>")
    assert page.count('<tr class="fail">') == 2
    assert page.count('<tr class="pass">') == report.evaluated - 2
    assert "Pending" in page
    assert "<script" not in page and "http" not in page  # self-contained


# ------------------------------------------------------------------ synthetic CRM suites


def test_synthetic_contacts_and_events_pass() -> None:
    contacts = _contacts()
    events = _email_events(contacts)
    assert validate_or_raise(contacts, "crm_contacts").success
    assert validate_or_raise(events, "crm_email_events").success
    # the UUID -> str conversion happens on a copy
    assert isinstance(contacts["id"].iloc[0], uuid.UUID)
    assert isinstance(events["contact_id"].iloc[0], uuid.UUID)


def test_synthetic_contacts_corruption() -> None:
    contacts = _contacts()
    contacts.loc[3, "id"] = contacts.loc[4, "id"]
    contacts.loc[5, "email"] = "not-an-email"
    contacts.loc[6, "gender"] = "unknown"
    contacts["ai_consent"] = contacts["ai_consent"].astype(object)
    contacts.loc[7, "ai_consent"] = "yes"
    report = validate_frame(contacts, "crm_contacts")
    assert _failures(report) == {
        ("expect_column_values_to_be_unique", ("id",)),
        ("expect_column_values_to_match_regex", ("email",)),
        ("expect_column_values_to_be_in_set", ("gender",)),
        ("expect_column_values_to_be_in_set", ("ai_consent",)),
    }
    text = report.to_text()
    assert str(contacts.loc[3, "id"]) in text
    assert "'not-an-email'" in text
    assert "'unknown'" in text


def test_synthetic_email_events_corruption() -> None:
    events = _email_events(_contacts())
    events.loc[0, "event_id"] = events.loc[1, "event_id"]
    events.loc[2, "event_type"] = "bounce"
    events.loc[3, "contact_id"] = None
    report = validate_frame(events, "crm_email_events")
    assert _failures(report) == {
        ("expect_column_values_to_be_unique", ("event_id",)),
        ("expect_column_values_to_be_in_set", ("event_type",)),
        ("expect_column_values_to_not_be_null", ("contact_id",)),
    }
    assert "'bounce'" in report.to_text()


def test_synthetic_contacts_missing_columns() -> None:
    report = validate_frame(_contacts().drop(columns=["email", "created_at"]), "crm_contacts")
    assert "missing columns: ['created_at', 'email']" in report.to_text()


# ------------------------------------------------------------------ quiet and fast


def test_validation_is_quiet_and_fast(leads: pd.DataFrame, capfd: pytest.CaptureFixture) -> None:
    validate_frame(leads, "leads")  # warm: context, suite and imports cached
    capfd.readouterr()
    start = time.perf_counter()
    report = validate_frame(leads, "leads")
    elapsed = time.perf_counter() - start
    captured = capfd.readouterr()
    assert report.success
    assert "Calculating Metrics" not in captured.err + captured.out
    assert captured.err == "" and captured.out == ""
    assert elapsed < 5.0, f"validating Leads took {elapsed:.1f}s"
