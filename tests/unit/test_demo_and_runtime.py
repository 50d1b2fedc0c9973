"""The demo's report, the runtime's quieting, corpus samples and the trained-model finder."""

from __future__ import annotations

import datetime as dt
import io
import warnings
from pathlib import Path

import httpx
import pandas as pd
import pytest
from rich.console import Console

from flows.demo_report import DemoReport, ModelRow
from haste.runtime import filter_third_party_warnings
from training.next_actions import Activity, plan_next_actions
from training.text.corpora import sample_corpus
from training.text.registry import (
    TEXT_MODEL_FILES,
    TextModelsNotTrainedError,
    trained_text_model_paths,
)

NOW = dt.datetime(2026, 11, 27, 12, tzinfo=dt.UTC)


def _report() -> tuple[DemoReport, io.StringIO]:
    out = io.StringIO()
    return DemoReport(Console(file=out, width=140, force_terminal=False), 3), out


def test_demo_report_prints_one_line_per_step_with_duration() -> None:
    report, out = _report()
    with report.step("first step") as step:
        step.detail = "did it"
    with report.step("second step"):
        pass
    lines = [line for line in out.getvalue().splitlines() if line.strip()]
    assert len(lines) == 2
    assert "1/3 first step" in lines[0] and " s  did it" in lines[0]
    assert "2/3 second step" in lines[1]


def test_demo_report_says_which_step_failed() -> None:
    report, out = _report()
    with pytest.raises(RuntimeError), report.step("broken step"):
        raise RuntimeError("boom")
    assert "broken step" in out.getvalue() and "failed after" in out.getvalue()
    assert report.steps == []


def test_demo_summary_lists_models_calls_and_where_to_look() -> None:
    report, out = _report()
    report.models.append(ModelRow("churn", "1", "ROC AUC 0.8400", "baseline 0.8300", "Telco"))
    transport = httpx.MockTransport(
        lambda request: httpx.Response(404, json={"detail": "contact x not found"})
    )
    with httpx.Client(transport=transport, base_url="http://api") as client:
        report.call(client, "POST", "/api/ai/lead-score", json={})
    report.notes.append("demo mode note")
    report.print_summary({"MLflow UI": "mlflow ui"})
    text = out.getvalue()
    for expected in ("churn", "ROC AUC 0.8400", "404", "contact x not found", "mlflow ui"):
        assert expected in text
    assert "demo mode note" in text and "Demo finished in" in text


def test_third_party_deprecations_are_filtered_even_after_a_reset() -> None:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("once", DeprecationWarning)  # what some libraries do on import
        filter_third_party_warnings()
        warnings.warn("old API", DeprecationWarning, stacklevel=1)
        warnings.warn("ours", RuntimeWarning, stacklevel=1)
    assert [str(w.message) for w in caught] == ["ours"]


def test_sample_corpus_is_seeded_stratified_and_bounded() -> None:
    frame = pd.DataFrame(
        {"text": [f"t{i}" for i in range(1000)], "label": [i % 4 == 0 for i in range(1000)]}
    )
    sample = sample_corpus(frame, 200, seed=1)
    assert len(sample) == 200
    assert sample["label"].mean() == pytest.approx(0.25, abs=0.01)
    assert sample.equals(sample_corpus(frame, 200, seed=1))
    assert list(sample.index) == sorted(sample.index)
    assert sample_corpus(frame, None) is frame and sample_corpus(frame, 5000) is frame
    with pytest.raises(ValueError):
        sample_corpus(frame, 0)


def test_trained_text_models_are_found_never_trained(isolated_settings) -> None:
    with pytest.raises(TextModelsNotTrainedError, match="haste train-text"):
        trained_text_model_paths(isolated_settings)
    folder = Path(isolated_settings.home) / "models" / "text"
    folder.mkdir(parents=True)
    for filename in TEXT_MODEL_FILES.values():
        (folder / filename).write_bytes(b"x")
    assert set(trained_text_model_paths(isolated_settings)) == set(TEXT_MODEL_FILES)


def test_plan_merges_rules_with_the_model_and_names_the_model() -> None:
    scored = {
        "score": 82,
        "contributions": [{"feature": "Email Replies 30d", "value": 0, "impact": -0.9}],
        "model_name": "lead_scoring_crm",
        "model_version": "3",
    }
    plan = plan_next_actions([Activity("email", NOW, "outbound", True)], NOW, "proposal", scored)
    assert plan.lead_score == 82 and plan.model_ref == "lead_scoring_crm@v3"
    assert plan.actions and plan.actions == sorted(plan.actions, key=lambda a: -a["priority"])
    rules_only = plan_next_actions([], NOW, None, None)
    assert rules_only.model_ref == "rules" and rules_only.lead_score is None
    assert {a["source"] for a in rules_only.actions} == {"rule"}


def test_trust_step_summaries_say_what_came_back() -> None:
    from flows.demo_trust import describe_ab, describe_gaming, describe_what_if

    change = {"text": "website visits: 2 -> 3"}
    what_if = {
        "current_score": 41,
        "band": "warm",
        "already_in_target": False,
        "counterfactuals": [{"score": 77, "changes": [change]}, {"score": 75, "changes": []}],
    }
    assert describe_what_if(what_if) == "41 -> 77: website visits: 2 -> 3 (+1)"
    assert "no feasible change" in describe_what_if({**what_if, "counterfactuals": []})
    assert describe_what_if({**what_if, "already_in_target": True, "band": "hot"}).startswith(
        "already hot"
    )
    flagged = {
        "flagged": True,
        "flag_kinds": ["burst"],
        "score_with": 80,
        "score_without": 52,
        "suspicious_events": 14,
        "events_in_window": 30,
    }
    assert describe_gaming(flagged) == "flagged burst: score 80 -> 52 without 14 events"
    assert describe_gaming({**flagged, "flagged": False}) == "not flagged (30 events in window)"
    ab = {
        "reports": [
            {
                "model": "lead_scoring",
                "variants": {"champion": {"exposures": 3}, "challenger": {"exposures": 2}},
                "decision": {"label": "keep collecting"},
            }
        ]
    }
    assert describe_ab(ab) == "lead_scoring: 5 exposures, keep collecting"
    assert describe_ab({"reports": []}) == "no exposures recorded yet"


def test_torch_device_follows_the_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    import torch

    from haste.runtime import torch_device

    monkeypatch.setenv("HASTE_TORCH_DEVICE", "cpu")
    assert torch_device() == "cpu"
    monkeypatch.setenv("HASTE_TORCH_DEVICE", "auto")
    assert torch_device() == ("cuda" if torch.cuda.is_available() else "cpu")
    monkeypatch.setenv("HASTE_TORCH_DEVICE", "tpu")
    with pytest.raises(ValueError, match="auto, cpu or cuda"):
        torch_device()
    if not torch.cuda.is_available():
        monkeypatch.setenv("HASTE_TORCH_DEVICE", "cuda")
        with pytest.raises(ValueError, match="no GPU"):
            torch_device()
