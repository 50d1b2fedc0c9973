"""Tuning benchmark: the XGBoost candidate vs the spec's baseline, before and after Optuna.

For each table the generic training code (:func:`training.train.fit_models` +
:func:`training.train.evaluate_models`) runs twice on the same split: once with the config's
hand-set hyper-parameters (``tune.enabled: false``) and once tuned to the table's size
(:mod:`training.tuning`, the training rows only). The baseline (the spec's
GradientBoostingClassifier) is fitted on the same split both times. Reported per table: held-out
ROC AUC of the candidate (what the registration gate sees, after calibration) and of the
baseline, their ratio, the baseline gate's verdict, the CV scores and the tuning time.

Tables:

* ``crm_demo``: the demo's synthetic CRM (2,000 contacts, seed 42, ``configs/pipeline.yaml``),
  lead table of consenting contacts, config ``lead_scoring_crm``;
* ``crm_large``: the same generator at 10,000 contacts (seed 42), same config;
* ``leads``: X Education's Leads.csv (real), config ``lead_scoring``;
* ``telco``: IBM Telco churn (real), config ``churn``.

Writes ``benchmarks/results/tuning.json``::

    .venv/bin/python benchmarks/tuning_bench.py [table ...]
"""

from __future__ import annotations

import datetime as dt
import json
import os
import platform
import sys
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("OMP_NUM_THREADS", "2")

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

OUT = ROOT / "benchmarks" / "results" / "tuning.json"
TABLES = ("crm_demo", "crm_large", "leads", "telco")
#: Tuning budget for the tables whose configs do not enable it (same defaults as the CRM's).
BENCH_TUNE = {"enabled": True, "n_trials": 30, "min_trials": 8, "timeout_s": 120, "cv_folds": 5}


def load_table(name: str) -> tuple[Any, str]:
    """Return the feature table and config name of a benchmark table."""

    from haste.settings import get_settings
    from pipelines.datasets import load_dataset

    if name.startswith("crm_"):
        from features.extractors import build_lead_table
        from pipelines.consent import consenting_crm
        from pipelines.stages import load_pipeline_params
        from pipelines.synthetic import generate_crm

        synthetic = load_pipeline_params()["ingest"]["synthetic"]
        contacts = int(synthetic["n_contacts"]) if name == "crm_demo" else 10_000
        crm = generate_crm(
            n_contacts=contacts,
            seed=int(synthetic["seed"]),
            start=str(synthetic["start"]),
            days=int(synthetic["days"]),
        )
        return build_lead_table(consenting_crm(crm)), "lead_scoring_crm"
    config_name = {"leads": "lead_scoring", "telco": "churn"}[name]
    from training.config import load_training_config

    config = load_training_config(config_name)
    frame = load_dataset(config.dataset, get_settings().datasets_dir)
    dropped = set(config.features.leaky_columns) | set(config.features.drop_columns)
    return frame[[c for c in frame.columns if c not in dropped]], config_name


def run_once(frame: Any, config: Any) -> dict[str, Any]:
    """Fit, evaluate and gate one config; return the figures."""
    from training.registry import baseline_gate
    from training.train import evaluate_models, fit_models

    started = time.perf_counter()
    fitted = fit_models(frame, config)
    outcome = evaluate_models(fitted)
    metric = config.registry.primary_metric
    verdict = baseline_gate(
        outcome.metrics, outcome.baseline_metrics, metric, config.registry.baseline_tolerance
    )
    raw = fitted.model.predict_proba(fitted.test.features)[:, 1]
    from sklearn.metrics import roc_auc_score

    return {
        "candidate_roc_auc": round(outcome.metrics["roc_auc"], 4),
        "candidate_raw_roc_auc": round(float(roc_auc_score(fitted.test.labels, raw)), 4),
        "baseline_roc_auc": round(outcome.baseline_metrics["roc_auc"], 4),
        "ratio_vs_baseline": round(
            outcome.metrics["roc_auc"] / outcome.baseline_metrics["roc_auc"], 4
        ),
        "gate": "passed" if verdict.passed else "refused",
        "tuning": fitted.tuning.summary() if fitted.tuning else None,
        "fit_s": round(fitted.fit_seconds, 1),
        "total_s": round(time.perf_counter() - started, 1),
    }


def bench_table(name: str) -> dict[str, Any]:
    """Run a table before and after tuning on the same split."""
    from training.config import load_training_config

    frame, config_name = load_table(name)
    config = load_training_config(config_name)
    tune = config.tune if config.tune.enabled else config.tune.model_copy(update=BENCH_TUNE)
    before = run_once(
        frame, config.model_copy(update={"tune": tune.model_copy(update={"enabled": False})})
    )
    after = run_once(frame, config.model_copy(update={"tune": tune}))
    return {
        "config": config_name,
        "rows": len(frame),
        "tune_enabled_in_config": config.tune.enabled,
        "before": before,
        "after": after,
    }


def main(tables: list[str]) -> dict[str, Any]:
    """Run the benchmark and write the results file."""
    import logging

    logging.basicConfig(level=logging.WARNING)
    results = {}
    for name in tables:
        results[name] = bench_table(name)
        before, after = results[name]["before"], results[name]["after"]
        print(
            f"{name:10s} rows {results[name]['rows']:6d}  "
            f"baseline {after['baseline_roc_auc']:.4f}  "
            f"candidate {before['candidate_roc_auc']:.4f} (x{before['ratio_vs_baseline']:.4f}, "
            f"{before['gate']}) -> tuned {after['candidate_roc_auc']:.4f} "
            f"(x{after['ratio_vs_baseline']:.4f}, {after['gate']}); "
            f"tuning {after['tuning']['seconds'] if after['tuning'] else 0:.1f}s",
            flush=True,
        )
    previous = json.loads(OUT.read_text(encoding="utf-8")) if OUT.exists() else {}
    payload = {
        "generated": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
        "tables": {**previous.get("tables", {}), **results},
    }
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(payload, indent=2) + "\n", encoding="utf-8")
    print(f"wrote {OUT.relative_to(ROOT)}")
    return payload


if __name__ == "__main__":
    main(sys.argv[1:] or list(TABLES))
