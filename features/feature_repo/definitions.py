"""Module-level Feast objects for the ``feast`` CLI (``feast plan`` / ``feast apply``).

The CLI imports every Python file of this folder and registers the Feast objects it finds at
module level; they all come from :func:`features.definitions.build_definitions`, reading the
offline files under ``settings.data_dir / "features" / "feast"`` (written by the
``feature-pipeline`` flow). Python code should use :mod:`features.store` instead.
"""

from __future__ import annotations

from features.definitions import build_definitions
from features.store import default_offline_dir
from haste.settings import get_settings

DEFINITIONS = build_definitions(default_offline_dir(get_settings()))

# Entities
contact = DEFINITIONS.entities["contact"]
company = DEFINITIONS.entities["company"]
account = DEFINITIONS.entities["account"]
deal = DEFINITIONS.entities["deal"]

# Batch feature views (their FileSources are registered with them)
email_engagement = DEFINITIONS.views["email_engagement"]
web_activity = DEFINITIONS.views["web_activity"]
social_signals = DEFINITIONS.views["social_signals"]
company_enrichment = DEFINITIONS.views["company_enrichment"]
company_firmographics = DEFINITIONS.views["company_firmographics"]
account_health = DEFINITIONS.views["account_health"]
deal_activity = DEFINITIONS.views["deal_activity"]

# On-demand feature views
lead_engagement_rates = DEFINITIONS.on_demand["lead_engagement_rates"]
deal_pace = DEFINITIONS.on_demand["deal_pace"]

# Feature services
lead_scoring_v1 = DEFINITIONS.services["lead_scoring_v1"]
churn_v1 = DEFINITIONS.services["churn_v1"]
deal_velocity_v1 = DEFINITIONS.services["deal_velocity_v1"]
