"""Lead scores in dynamic batches: one lookup, one model call per variant, one transaction.

The gateway's :class:`serving.batching.GreedyBatcher` hands :meth:`LeadScoreBatch.score` every
lead-score request that queued while the previous batch ran. Champion scores are computed in
the gateway replica itself (:meth:`serving.core.GatewayCore.local_model`: the champion lead
models are loaded there too), so a champion-only batch is one worker-thread call: look-ups,
scoring and the batch's single write transaction (:func:`haste.bulk_records.insert_scoring_batch`).
Challenger scores go to the ``ChallengerModels`` deployment, where ``@serve.batch`` merges the
calls of several gateway replicas.
"""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass, field
from typing import Any

from haste.bulk_records import insert_scoring_batch
from haste.records import InteractionRecord, contact_consents, recorded_outputs
from serving.core import GatewayCore
from serving.errors import ApiError
from serving.gateway import CallContext
from serving.lookup import FoundContact
from serving.metrics import count_cache
from serving.model_server import ModelUnavailableError, score_lead_rows
from serving.score_cache import score_key


@dataclass
class ScoreJob:
    """One lead-score request waiting in a batch, and what the batch found for it."""

    contact_id: uuid.UUID
    include_explanation: bool
    context: CallContext
    found: FoundContact | None = None
    result: dict[str, Any] | ApiError | None = None
    inputs: dict[str, Any] | None = None  # audit inputs of a freshly scored job
    records: list[InteractionRecord] = field(default_factory=list)  # refusals, cache hits

    @property
    def identity(self) -> tuple[uuid.UUID | None, str]:
        """Return the request's key in the audit trail: (API key id, request id)."""
        return self.context.principal.api_key_id, self.context.request_id


def refuse_job(job: ScoreJob, status: int, message: str) -> ApiError:
    """Return the error of a refused lead-score job and queue its audit record."""
    job.records.append(
        job.context.refusal("lead_score", {"contact_id": str(job.contact_id)}, status, message)
    )
    return ApiError(status, message)


class LeadScoreBatch:
    """Scores batches of lead-score jobs for one gateway replica.

    Args:
        core: The replica's core (lookups, variants, cache, database).
    """

    def __init__(self, core: GatewayCore) -> None:
        self.core = core

    def prepare(self, jobs: list[ScoreJob]) -> dict[tuple[str, str], list[ScoreJob]]:
        """Answer recorded requests and cache hits, check consent, find features; group the rest.

        Returns:
            ``(model name, variant) -> jobs`` still to be scored.
        """
        core = self.core
        url = core.database_url
        done = recorded_outputs(  # only a client's id can be a retry
            url, [job.identity for job in jobs if job.context.client_request_id]
        )
        for job in jobs:  # recorded by a replica that died before answering: same answer
            if job.identity in done and "score" in done[job.identity]:
                job.result = {**done[job.identity], "replayed": True}
        jobs = [job for job in jobs if job.result is None]
        consents = contact_consents(url, [j.contact_id for j in jobs])
        lookups = core.lookup.find_many(
            [str(j.contact_id) for j in jobs if consents.get(j.contact_id) is not False]
        )
        pending: dict[tuple[str, str], list[ScoreJob]] = {}
        for job in jobs:
            key = str(job.contact_id)
            if consents.get(job.contact_id) is False:
                job.result = refuse_job(
                    job, 403, f"contact {key} has not consented to AI processing"
                )
                continue
            job.found = lookups[key]
            if job.found is None:
                job.result = refuse_job(
                    job,
                    404,
                    f"contact {key} not found in the online feature store or lead profiles",
                )
                continue
            name = job.found.model_name
            variant = core.variant(name, key)
            cached = core.cache.get(score_key(name, core.version(name, variant), key))
            if core.settings.gateway_cache != "off":
                count_cache(name, cached is not None)
            if cached is not None:
                # The cache key holds the version, not the variant: a challenger promoted to
                # champion keeps its cached scores, answered under the variant of today.
                cached = {**cached, "variant": variant}
                job.result = {**cached, "cached": True}
                job.records.append(
                    job.context.interaction(
                        "lead_score",
                        {"contact_id": key, "cached": True, "variant": variant},
                        cached,
                        f"{name}@v{cached['model_version']}",
                        variant=variant,
                        provider="xgboost",
                    )
                )
                continue
            pending.setdefault((name, variant), []).append(job)
        return pending

    def score_local(
        self, pending: dict[tuple[str, str], list[ScoreJob]]
    ) -> dict[tuple[str, str], list[ScoreJob]]:
        """Score the groups this replica holds the model of; return the others."""
        remote = {}
        for (name, variant), group in pending.items():
            model = self.core.local_model(name, variant)
            if model is None:
                remote[(name, variant)] = group
                continue
            rows = [job.found.row for job in group]
            payloads = score_lead_rows(model, rows, [str(job.contact_id) for job in group])
            self.accept(variant, group, payloads)
        return remote

    def prepare_local(self, jobs: list[ScoreJob]) -> dict[tuple[str, str], list[ScoreJob]]:
        """Prepare the batch and score what this replica can; finish it when nothing is left.

        Returns:
            The groups still to be scored by a model deployment (then call :meth:`finish`).
        """
        remote = self.score_local(self.prepare(jobs))
        if not remote:
            self.finish(jobs)
        return remote

    async def score_group(self, name: str, variant: str, jobs: list[ScoreJob]) -> None:
        """Score one model variant's jobs in one call to its model deployment."""
        handle = self.core.variants[variant]
        try:
            payloads = await handle.score_leads.remote(
                name, [job.found.row for job in jobs], [str(job.contact_id) for job in jobs]
            )
        except ModelUnavailableError as error:
            for job in jobs:
                job.result = refuse_job(job, 503, str(error))
            return
        self.accept(variant, jobs, payloads)

    def accept(self, variant: str, jobs: list[ScoreJob], payloads: list[dict[str, Any]]) -> None:
        """Attach each job's scored payload and the audit inputs it is recorded with."""
        for job, payload in zip(jobs, payloads, strict=True):
            features = payload.pop("features")
            payload["variant"] = variant
            job.result = payload
            job.inputs = {
                "contact_id": payload["contact_id"],
                "feature_source": job.found.source,
                "variant": variant,
                "features": features,
            }

    def finish(self, jobs: list[ScoreJob]) -> None:
        """Cache fresh scores; write scores, predictions and audit records in one transaction."""
        fresh: list[tuple[dict[str, Any], str]] = []
        interactions: list[InteractionRecord] = []
        for job in jobs:
            interactions.extend(job.records)
            if job.inputs is None:  # refused or answered from the cache
                continue
            payload = job.result
            name, version = payload["model_name"], payload["model_version"]
            self.core.cache.set(score_key(name, version, payload["contact_id"]), payload)
            fresh.append((payload, version))
            interactions.append(
                job.context.interaction(
                    "lead_score",
                    job.inputs,
                    payload,
                    f"{name}@v{version}",
                    variant=payload["variant"],
                    provider="xgboost",
                )
            )
        insert_scoring_batch(self.core.database_url, fresh, interactions)

    async def score(self, jobs: list[ScoreJob]) -> list[dict[str, Any] | ApiError]:
        """Score a batch of lead-score requests.

        One replay query, one consent query and one feature lookup for the batch; champion
        scores computed here, one call per other variant to its model deployment
        (concurrently); one database transaction for every record. A batch this replica
        scores entirely is one worker-thread call (a batch of one, an idle replica's, runs on
        the event loop: at concurrency 1 the hop to a thread and back cost more than the work).
        """
        if len(jobs) == 1:  # idle replica: the loop has nothing else to do, skip the thread hop
            remote = self.prepare_local(jobs)
        else:
            remote = await asyncio.to_thread(self.prepare_local, jobs)
        if remote:
            await asyncio.gather(*(self.score_group(*key, group) for key, group in remote.items()))
            await asyncio.to_thread(self.finish, jobs)
        return [job.result for job in jobs]
