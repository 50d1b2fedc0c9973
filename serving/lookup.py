"""Where the served lead models find a contact's features.

Two sources, tried in order:

1. the Feast online store (``lead_scoring_v1``: email engagement, website activity, social
   signals, company enrichment) for CRM contacts, scored by the ``lead_scoring_crm`` champion;
2. the lead-profile table written by the pipeline (Leads.csv prospects), scored by the
   ``lead_scoring`` champion.

A contact in neither is unknown (the API answers 404).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import pandas as pd

from features.tabular import MissingFeaturesError
from training.explain import json_value
from training.registry import NoChampionError, load_alias_model
from training.scoring import LeadScore, LeadScorer

if TYPE_CHECKING:
    from feast import FeatureStore

logger = logging.getLogger("ray.serve")


@dataclass(frozen=True)
class ServedModel:
    """A champion loaded for serving."""

    name: str
    version: str
    scorer: LeadScorer

    @property
    def ref(self) -> str:
        """Return ``name@vN`` (how the audit trail names the model)."""
        return f"{self.name}@v{self.version}"

    def score_contact(
        self, records: pd.DataFrame, contact_id: str
    ) -> tuple[pd.DataFrame, LeadScore]:
        """Score one contact's stored row: return the model's input columns and the score."""
        inputs = records[self.scorer.feature_columns]
        return inputs, self.scorer.score(inputs, [contact_id])[0]

    def score_rows(
        self, rows: list[dict[str, Any]], contact_ids: list[str]
    ) -> list[tuple[dict[str, Any], LeadScore]]:
        """Score several stored rows in one vectorised call (dynamic batching, fast path).

        Args:
            rows: One stored row per contact (every stored column; extra ones are ignored).
            contact_ids: The contacts, in the same order.

        Returns:
            Each contact's model inputs (JSON-ready, for the audit trail) and score, in order.

        Raises:
            MissingFeaturesError: When a row lacks a column the model was trained on.
        """
        columns = self.scorer.feature_columns
        missing = sorted({c for row in rows for c in columns if c not in row})
        if missing:
            raise MissingFeaturesError(f"stored rows lack model columns: {missing}")
        values = [[row[column] for column in columns] for row in rows]
        scores = self.scorer.score_rows(values, contact_ids)
        return [
            ({column: json_value(value) for column, value in zip(columns, row, strict=True)}, score)
            for row, score in zip(values, scores, strict=True)
        ]


@dataclass(frozen=True)
class FoundContact:
    """A contact's stored features (every column) and the name of the model that scores them."""

    model_name: str
    row: dict[str, Any]
    source: str


def load_served_model(name: str, alias: str, top_k: int) -> ServedModel | None:
    """Load a champion for serving, or None (logged) when the model has none yet."""
    try:
        model, version = load_alias_model(name, alias)
    except NoChampionError as error:
        logger.warning("not serving %s: %s", name, error)
        return None
    scorer = single_threaded(LeadScorer(model, top_k))
    return ServedModel(name=name, version=str(version.version), scorer=scorer)


def single_threaded(scorer: LeadScorer) -> LeadScorer:
    """Make the scorer's XGBoost booster predict on one thread (returns the scorer).

    A served call scores one lead to a few dozen; XGBoost's default of one OpenMP thread per
    core buys nothing there, and on a busy machine the threads wait for each other: one lead
    took 47 ms (p50) with two threads on this 2-core machine under load, 2.7 ms with one.
    """
    if scorer.booster is not None:
        scorer.booster.booster.set_param({"nthread": 1})
    return scorer


class ContactFeatureLookup:
    """Find a contact's features in the Feast online store, then in the lead-profile table.

    Holds data only: the models live in the champion and challenger deployments
    (:mod:`serving.model_server`), so each found contact names the model that scores it.

    Args:
        profile: The lead-profile table indexed by lower-case contact id (may be empty).
        profile_model: Model scoring profile rows (None: profile lookups disabled).
        store: Materialised Feast store (None: online lookups disabled).
        store_model: Model scoring online-store rows.
        service: Feature service to read.
    """

    def __init__(
        self,
        profile: pd.DataFrame,
        profile_model: str | None,
        store: FeatureStore | None,
        store_model: str | None,
        service: str = "lead_scoring_v1",
    ) -> None:
        self.profile_model = profile_model
        # one dict per contact: a served lookup is a dictionary hit, not a pandas .loc
        self.profile: dict[str, dict[str, Any]] = (
            profile.to_dict("index") if profile_model is not None and len(profile) else {}
        )
        self.store = store if store_model is not None else None
        self.store_model = store_model
        self.service = service

    def __len__(self) -> int:
        """Return how many lead profiles are held in memory."""
        return len(self.profile)

    def find(self, contact_id: str) -> FoundContact | None:
        """Return the contact's features and model, or None when the contact is unknown."""
        return self.find_many([contact_id])[contact_id]

    def find_many(self, contact_ids: list[str]) -> dict[str, FoundContact | None]:
        """Look several contacts up: profile rows first, then ONE online-store read for the rest.

        Lead-profile prospects and CRM contacts are disjoint id sets, so the cheap in-memory
        profile check comes first and only the remaining ids cost a Feast round trip.

        Args:
            contact_ids: Contact ids (profile ids are lower-case).

        Returns:
            Each id's features and model, or None when the contact is unknown.
        """
        found: dict[str, FoundContact | None] = dict.fromkeys(contact_ids)
        rest = []
        for contact_id in dict.fromkeys(contact_ids):
            row = self.profile.get(contact_id)
            if row is not None and self.profile_model is not None:
                found[contact_id] = FoundContact(self.profile_model, row, "lead_profile")
            else:
                rest.append(contact_id)
        if rest and self.store is not None and self.store_model is not None:
            from features.store import missing_entities, online_features

            frame = online_features(self.store, rest, service=self.service)
            missing = set(missing_entities(frame))
            rows = {str(row["contact_id"]): row for row in frame.to_dict("records")}
            for contact_id in rest:
                if contact_id not in missing and contact_id in rows:
                    found[contact_id] = FoundContact(
                        self.store_model, rows[contact_id], "feast_online_store"
                    )
        return found


def feature_snapshot(records: pd.DataFrame) -> dict[str, Any]:
    """Return the first record's input values, JSON-ready (for the audit trail)."""
    row = records.iloc[0]
    return {str(column): json_value(row[column]) for column in records.columns}
