"""Forecast-ledger benchmark: the Maven CRM history replayed as a ledger, scored against naive.

Real data (``../shared/datasets/maven_crm_sales``, 8,800 opportunities, close dates 2017-03-01
.. 2017-12-31). At each monthly cut-off 2017-04-01 .. 2017-11-01
(:func:`monitoring.ledger_replay.replay_maven_ledger`):

* the models are refitted on deals closed before the cut-off only (the training backtest's
  approach, :func:`training.deal_forecast.forecast_revenue`), then forecast that month's won
  revenue and each open deal's days to close (with a 90 % split-conformal interval) and win
  probability;
* the naive baselines are recorded next to them: last month's actual revenue, the historical
  median days to close by product, the historical win rate.

Every entry goes through the platform's own code on a temporary SQLite database:
:func:`monitoring.ledger.record_forecasts` -> :func:`monitoring.ledger.resolve_ledger` (actuals
from the export, each counted only once known: a month at its end, a deal on its close date;
``as_of`` = the export's last day) -> :func:`monitoring.ledger.ledger_report`. Deals still open
at the end of the export stay pending (right-censored), so later cut-offs resolve mostly the
deals that closed quickly.

Writes ``benchmarks/results/forecast_ledger.json``::

    .venv/bin/python benchmarks/ledger_bench.py
"""

from __future__ import annotations

import datetime as dt
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("OMP_NUM_THREADS", "1")

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

RESULTS = ROOT / "benchmarks" / "results" / "forecast_ledger.json"
COVERAGE = 0.9
NOTES: tuple[str, ...] = (
    "MAPE = mean |forecast - actual| / actual over resolved entries (revenue: one per month; "
    "days to close: one per deal open at the cut-off that closed before 2017-12-31).",
    "Naive baselines: last month's actual revenue; median days to close by product of deals "
    "closed before the cut-off; their win rate (base rate) for the Brier score.",
    "Days-to-close intervals: split conformal (newest 20 % of deals closed before the cut-off "
    "as calibration), nominal 90 %. Deals open at a cut-off are older than the calibration "
    "deals (which closed quickly), so exchangeability is strained: coverage is measured, not "
    "assumed.",
    "Revenue entries carry no interval: 8 monthly residuals cannot support a 90 % conformal bound.",
    "Deals still open on 2017-12-31 stay pending (right-censored).",
)


def _rounded(value: Any, digits: int = 4) -> Any:
    """Round floats (None stays None)."""
    return None if value is None else round(float(value), digits)


def _kind(report: dict[str, Any], kind: str) -> dict[str, Any]:
    """Return one kind's summary, rounded."""
    return {k: _rounded(v) if isinstance(v, float) else v for k, v in report["kinds"][kind].items()}


def run_benchmark() -> dict[str, Any]:
    """Replay, record, resolve and report; return the results document."""
    from haste.db import dispose_engine, upgrade_database
    from haste.settings import Settings
    from monitoring.ledger import ledger_report, record_forecasts, resolve_ledger
    from monitoring.ledger_actuals import MavenActuals
    from monitoring.ledger_replay import replay_maven_ledger
    from pipelines.datasets import load_maven_crm
    from training.deal_data import build_deal_frame, data_end

    start = time.perf_counter()
    frame = build_deal_frame(load_maven_crm(Settings().datasets_dir))
    entries = replay_maven_ledger(frame, coverage=COVERAGE)
    replay_s = time.perf_counter() - start
    with tempfile.TemporaryDirectory() as folder:
        url = f"sqlite:///{Path(folder) / 'ledger.db'}"
        upgrade_database(url)
        try:
            recorded = record_forecasts(url, entries)
            again = record_forecasts(url, entries)
            as_of = data_end(frame) + dt.timedelta(days=1)
            resolved = resolve_ledger(url, MavenActuals(frame), as_of)
            report = ledger_report(url)
        finally:
            dispose_engine(url)
    revenue = _kind(report, "revenue_forecast")
    days = _kind(report, "deal_velocity")
    win = _kind(report, "win_probability")
    periods = [
        {k: _rounded(v) if isinstance(v, float) else v for k, v in m.items()}
        for m in report["months"]
        if m["resolved"]
    ]
    return {
        "dataset": "maven_crm_sales",
        "generated_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "machine": {"python": platform.python_version(), "cpus": os.cpu_count()},
        "entries": recorded,
        "recorded_twice_inserted": again,
        "resolved": resolved.resolved,
        "pending": resolved.pending,
        "mape": revenue["mape"],
        "naive_mape": revenue["naive_mape"],
        "mape_ratio": revenue["mape_ratio"],
        "days_mape": days["mape"],
        "days_naive_mape": days["naive_mape"],
        "days_mae": days["mae"],
        "days_naive_mae": days["naive_mae"],
        "coverage": days["coverage"],
        "nominal_coverage": days["nominal_coverage"],
        "brier": win["brier"],
        "naive_brier": win["naive_brier"],
        "brier_ratio": win["brier_ratio"],
        "kinds": {"revenue_forecast": revenue, "deal_velocity": days, "win_probability": win},
        "per_period": periods,
        "timings_s": {"replay": round(replay_s, 1), "total": round(time.perf_counter() - start, 1)},
        "notes": list(NOTES),
    }


def _ratio(model: float | None, naive: float | None) -> str:
    """Return ``model / naive`` as text."""
    return "n/a" if model is None or not naive else f"{model / naive:.2f}x naive"


def main() -> None:
    """Run the benchmark, write the JSON and print the headline figures."""
    results = run_benchmark()
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    r = results
    print(f"forecast ledger on Maven CRM: {r['entries']} entries, {r['resolved']} resolved")
    print(
        f"revenue MAPE {r['mape']:.3f} vs naive {r['naive_mape']:.3f} "
        f"({_ratio(r['mape'], r['naive_mape'])})"
    )
    print(
        f"days-to-close MAPE {r['days_mape']:.3f} vs naive {r['days_naive_mape']:.3f} "
        f"({_ratio(r['days_mape'], r['days_naive_mape'])}); MAE {r['days_mae']:.1f} d vs "
        f"{r['days_naive_mae']:.1f} d"
    )
    print(f"days interval coverage {r['coverage']:.3f} (nominal {r['nominal_coverage']:.2f})")
    print(
        f"win Brier {r['brier']:.4f} vs naive {r['naive_brier']:.4f} "
        f"({_ratio(r['brier'], r['naive_brier'])})"
    )
    print(f"wrote {RESULTS.relative_to(ROOT)} in {r['timings_s']['total']} s")


if __name__ == "__main__":
    main()
