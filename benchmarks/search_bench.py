"""CRM semantic search benchmark: hybrid vs semantic-only vs keyword-only retrieval.

Run from the repository root::

    .venv/bin/python benchmarks/search_bench.py --quick      # ~300 contacts, fewer queries
    .venv/bin/python benchmarks/search_bench.py              # 400 contacts, ~80 queries
    .venv/bin/python benchmarks/search_bench.py --parser     # query understanding only

The corpus is the seeded synthetic CRM (``generate_crm(n_contacts, seed)``) with real public
text attached to its emails (Enron email sentences) and calls/meetings (DialogSum dialogues),
see ``textai/search/documents.py``. The labelled query set (company / contact / deal names,
structured filter queries with exact relevant sets, DialogSum summaries of transcripts,
hand-written paraphrases of emails) comes from ``textai/search/evaluate.py``. The script
prints recall@10 and MRR per method and query kind, the hybrid/keyword and hybrid/semantic
ratios, and p50/p99 search latency (query parsing + embedding + FAISS + BM25 + fusion, one
query at a time, on this machine's CPU). Document embeddings are cached in
``.haste/cache/search_embeddings`` (``--no-cache`` to recompute); ``--json`` writes the numbers.

``--parser`` measures query understanding alone: the per-class accuracy of the rule-based
parser on the labelled query sets ``tests/unit/query_classes.yaml`` (development set) and
``tests/unit/query_classes_held_out.yaml`` (never tuned on), and the median parse time
(:mod:`textai.search.parse_eval`).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from haste.settings import get_settings
from textai.search.evaluate import (
    EVAL_TODAY,
    build_corpus,
    build_query_set,
    evaluate_index,
    format_results,
    summary,
)
from textai.search.index import HybridIndex
from textai.search.parse_eval import class_accuracy

LABELLED_SETS = (
    ("development", Path("tests/unit/query_classes.yaml")),
    ("held-out", Path("tests/unit/query_classes_held_out.yaml")),
)


def parser_report() -> dict:
    """Print and return the parser's per-class accuracy on the labelled query sets."""
    out = {}
    for name, path in LABELLED_SETS:
        report = class_accuracy(path)
        out[name] = report
        print(f"{name} set ({path}): median parse {report['parse_ms_p50']} ms")
        for label, c in [*report["classes"].items(), ("all", report["all"])]:
            print(f"  {label:15s} {c['right']:3d}/{c['total']:<3d} {c['accuracy']:.2f}")
        for query, problems in report["failures"].items():
            print(f"  wrong: {query!r}: {'; '.join(problems)}")
    return out


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--contacts", type=int, default=400, help="synthetic CRM contacts")
    parser.add_argument("--seed", type=int, default=7, help="seed of the CRM and query set")
    parser.add_argument("--quick", action="store_true", help="small corpus, fewer queries")
    parser.add_argument("--no-cache", action="store_true", help="re-embed every document")
    parser.add_argument("--fusion", choices=("rrf", "convex"), default="convex")
    parser.add_argument("--json", type=Path, default=None, help="write the results here")
    parser.add_argument("--parser", action="store_true", help="query understanding only")
    args = parser.parse_args(argv)
    if args.parser:
        out = parser_report()
        if args.json:
            args.json.write_text(json.dumps(out, indent=2))
        return out

    contacts = min(args.contacts, 300) if args.quick else args.contacts
    max_emails, max_transcripts = (120, 80) if args.quick else (200, 150)
    n_names, n_transcripts = (6, 12) if args.quick else (10, 20)
    settings = get_settings()
    cache = None if args.no_cache else settings.home / "cache" / "search_embeddings"

    t0 = time.perf_counter()
    tables, documents = build_corpus(
        contacts,
        args.seed,
        datasets_dir=settings.datasets_dir,
        max_emails=max_emails,
        max_transcripts=max_transcripts,
    )
    queries = build_query_set(
        tables,
        datasets_dir=settings.datasets_dir,
        n_names=n_names,
        n_transcripts=n_transcripts,
        seed=args.seed,
    )
    t1 = time.perf_counter()
    index = HybridIndex(fusion=args.fusion).build(documents, cache_dir=cache)
    t2 = time.perf_counter()
    index.search("warm up the encoder", today=EVAL_TODAY)
    results = evaluate_index(index, queries, today=EVAL_TODAY)
    t3 = time.perf_counter()

    kinds: dict[str, int] = {}
    for q in queries:
        kinds[q.kind] = kinds.get(q.kind, 0) + 1
    by_type: dict[str, int] = {}
    for d in documents:
        by_type[d.entity_type] = by_type.get(d.entity_type, 0) + 1
    print(
        f"corpus: {len(documents)} documents {by_type} from {contacts} contacts (seed "
        f"{args.seed}); {len(queries)} labelled queries {kinds}; today={EVAL_TODAY}"
    )
    print(
        f"time: corpus+queries {t1 - t0:.1f}s, index build {t2 - t1:.1f}s"
        f"{' (embedding cache)' if cache else ''}, evaluation {t3 - t2:.1f}s "
        f"({len(queries) * len(results)} searches)\n"
    )
    print(format_results(results))
    headline = summary(results)
    print()
    for other in ("keyword", "semantic"):
        ratio = headline[f"hybrid/{other}"]
        print(f"hybrid/{other}: recall@10 x{ratio['recall_at_10']}, MRR x{ratio['mrr']}")
    hybrid = results["hybrid"]
    print(
        f"hybrid latency: p50 {hybrid.latency_percentile(50):.1f} ms, "
        f"p99 {hybrid.latency_percentile(99):.1f} ms over {len(hybrid.latencies_ms)} queries"
    )
    out = {
        "contacts": contacts,
        "seed": args.seed,
        "documents": len(documents),
        "queries": len(queries),
        "fusion": args.fusion,
        "metrics": headline,
        "latency_ms": {
            name: {"p50": r.latency_percentile(50), "p99": r.latency_percentile(99)}
            for name, r in results.items()
        },
        "per_kind": {name: r.per_kind for name, r in results.items()},
    }
    if args.json:
        args.json.write_text(json.dumps(out, indent=2))
    return out


if __name__ == "__main__":
    main()
