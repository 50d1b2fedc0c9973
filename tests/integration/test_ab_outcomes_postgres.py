"""The outcome A/B report on PostgreSQL: same seeded CRM, same exact counts as on SQLite.

PostgreSQL returns timezone-aware timestamps where SQLite returns naive ones, and compares
``uuid`` columns natively: the report must count the same either way.
"""

from __future__ import annotations

from haste.db import upgrade_database
from tests.support.ab_seed import NOW, seed_ab_crm
from training.ab_outcomes import build_ab_report, load_ab_config


def test_report_counts_match_on_postgres(pg_url: str) -> None:
    upgrade_database(pg_url)
    seed_ab_crm(pg_url)
    reports = {r["model"]: r for r in build_ab_report(pg_url, load_ab_config(), now=NOW)}
    assert sorted(reports) == ["lead_scoring", "lead_scoring_crm"]
    lead = reports["lead_scoring"]
    champion, challenger = lead["variants"]["champion"], lead["variants"]["challenger"]
    assert (champion["exposures"], champion["open"], champion["closed"]) == (355, 50, 305)
    assert champion["conversions"] == 62
    assert (challenger["exposures"], challenger["open"], challenger["closed"]) == (330, 30, 300)
    assert challenger["conversions"] == 90
    assert lead["crossovers"] == 5 and lead["decision"]["action"] == "promote challenger"
    crm = reports["lead_scoring_crm"]["variants"]
    assert (crm["champion"]["conversions"], crm["challenger"]["conversions"]) == (4, 8)
