"""Content recommendation benchmark: offline replay on the synthetic CRM, OPE on real data.

1. Replay (Li et al. 2011) on sends logged by a uniformly random policy over the synthetic CRM
   (2,000 contacts, seed 42) with hidden per-item x segment rates (:mod:`content.sends`):
   contextual Thompson sampling vs item-level Thompson, ``most_popular``, ``random`` and the
   ``oracle`` (true best item per context), for the click, reply and win rewards, over seeds.
   Arms: the library's email templates (8 items).
2. Off-policy evaluation on UCI Bank Marketing (:mod:`content.offpolicy`): contact channel x
   weekday as arms, job and age group as context, ``y`` as reward; estimated propensities;
   IPS, SNIPS and doubly robust estimates with bootstrap intervals.

Writes ``benchmarks/results/content_recommend.json``::

    .venv/bin/python benchmarks/content_bench.py            # 3 seeds x 40,000 logged sends
    .venv/bin/python benchmarks/content_bench.py --quick    # 2 seeds x 15,000
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
RESULT = ROOT / "benchmarks" / "results" / "content_recommend.json"


def run_replay(n_events: int, seeds: list[int], kind: str) -> dict[str, Any]:
    """Replay every policy on the synthetic CRM's uniformly logged sends."""
    from content.library import library_items
    from content.replay import compare_policies
    from content.segments import contexts_from_frames
    from content.sends import TrueRates
    from pipelines.synthetic import generate_crm

    crm = generate_crm(2000, seed=42)
    contexts = contexts_from_frames(crm.contacts, crm.companies, crm.deals)
    items = tuple(item for item in library_items() if item["kind"] == kind)
    result = compare_policies(
        contexts, TrueRates(items), n_events, seeds, progress=lambda line: print("  " + line)
    )
    return {"arms": [item["name"] for item in items], "kind": kind, **result}


def main() -> None:
    """Run both evaluations, write the JSON and print the ratios vs the baselines."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="2 seeds x 15,000 sends")
    parser.add_argument("--kind", default="email_template", help="arms: items of this kind")
    parser.add_argument("--datasets", default=str(ROOT.parent / "shared" / "datasets"))
    args = parser.parse_args()
    n_events, seeds = (15_000, [0, 1]) if args.quick else (40_000, [0, 1, 2])
    print(f"replay: {len(seeds)} seeds x {n_events:,} uniformly logged sends ({args.kind})")
    replay = run_replay(n_events, seeds, args.kind)
    out: dict[str, Any] = {
        "generated_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "synthetic": replay,
        "policies": replay["policies"],
        "lift": replay["lift"],
        "n_events": n_events,
        "seeds": seeds,
    }
    try:
        from content.offpolicy import evaluate_bank

        print("off-policy evaluation: bank_marketing")
        out["real_data"] = evaluate_bank(args.datasets)
    except FileNotFoundError as error:
        out["real_data"] = {"skipped": f"dataset absent: {error}"}
    RESULT.parent.mkdir(parents=True, exist_ok=True)
    RESULT.write_text(json.dumps(out, indent=2) + "\n")
    print(f"\nper-send reward (mean over seeds, 95% CI), {replay['n_arms']} arms:")
    for policy, rewards in replay["policies"].items():
        cells = "  ".join(
            f"{r} {v['mean']:.4f} [{v['ci95'][0]:.4f}, {v['ci95'][1]:.4f}]"
            for r, v in rewards.items()
        )
        print(f"  {policy:20s} {cells}")
    for baseline, rewards in replay["lift"].items():
        cells = "  ".join(
            f"{r} x{v['mean']:.2f} [{v['ci95'][0]:.2f}, {v['ci95'][1]:.2f}]"
            for r, v in rewards.items()
        )
        print(f"  contextual Thompson {baseline}: {cells}")
    real = out["real_data"]
    if "policies" in real:
        print(f"\nbank_marketing (DR estimate of y per call; logging {real['logging_policy']}):")
        for policy, v in real["policies"].items():
            print(
                f"  {policy:20s} DR {v['dr']['mean']:.4f} {v['dr']['ci95']}  "
                f"SNIPS {v['snips']['mean']:.4f}  ESS {v['effective_sample_size']}"
            )
        for baseline, v in real["lift_dr"].items():
            print(f"  contextual Thompson {baseline}: x{v['mean']:.2f} {v['ci95']}")
    print(f"\nwrote {RESULT.relative_to(ROOT)}")


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    main()
