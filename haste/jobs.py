"""Background AI jobs: submitted, run, finished, read back by their submitter only.

A job that stays ``queued``/``running`` past its time budget (its replica died, or the server
stopped) reads back as ``failed`` with the reason, so a client polling its status URL always
gets an end.
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass
from typing import Any

from sqlalchemy import update

from haste.db.gateway_tables import AIJob
from haste.db.models import as_utc
from haste.db.session import session_scope
from haste.records import without_nul

FINISHED = ("succeeded", "failed")


@dataclass(frozen=True)
class JobView:
    """What the status URL shows of a job."""

    job_id: str
    kind: str
    status: str
    result: dict[str, Any] | None
    error: str | None
    created_at: str
    finished_at: str | None

    def to_dict(self) -> dict[str, Any]:
        """Return the JSON body of the status URL."""
        return dict(self.__dict__)


def submit_job(url: str, scope: str, kind: str, request_id: str | None) -> uuid.UUID:
    """Record a queued job and return its id."""
    with session_scope(url) as session:
        job = AIJob(scope=scope, kind=kind, status="queued", request_id=request_id)
        session.add(job)
        session.flush()
        return job.id


def start_job(url: str, job_id: uuid.UUID) -> None:
    """Mark a job running."""
    _set(url, job_id, status="running")


def finish_job(url: str, job_id: uuid.UUID, result: dict[str, Any]) -> None:
    """Mark a job succeeded with its result."""
    _set(
        url,
        job_id,
        status="succeeded",
        result=without_nul(result),
        finished_at=dt.datetime.now(dt.UTC),
    )


def fail_job(url: str, job_id: uuid.UUID, error: str) -> None:
    """Mark a job failed with what went wrong."""
    _set(
        url, job_id, status="failed", error=without_nul(error), finished_at=dt.datetime.now(dt.UTC)
    )


def _set(url: str, job_id: uuid.UUID, **values: Any) -> None:
    """Update an unfinished job."""
    with session_scope(url) as session:
        session.execute(
            update(AIJob).where(AIJob.id == job_id, AIJob.status.not_in(FINISHED)).values(**values)
        )


def read_job(url: str, job_id: uuid.UUID, scope: str, budget_s: float) -> JobView | None:
    """Return a job as its submitter sees it (``None`` for another caller or no such job).

    Args:
        url: Database URL.
        job_id: The job.
        scope: The reader (API key id or ``anonymous``); other callers' jobs are not shown.
        budget_s: The job's time budget: an unfinished job older than twice this is lost.
    """
    with session_scope(url) as session:
        job = session.get(AIJob, job_id)
        if job is None or job.scope != scope:
            return None
        created = as_utc(job.created_at)
        status, error = job.status, job.error
        if status not in FINISHED and dt.datetime.now(dt.UTC) - created > dt.timedelta(
            seconds=2 * budget_s
        ):
            status, error = "failed", "the job was lost (its server stopped); submit it again"
        return JobView(
            job_id=str(job.id),
            kind=job.kind,
            status=status,
            result=job.result,
            error=error,
            created_at=created.isoformat(),
            finished_at=job.finished_at.isoformat() if job.finished_at else None,
        )
