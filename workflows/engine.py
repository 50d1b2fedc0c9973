"""Run enabled workflows on trigger occurrences: match, check conditions, act or hold for review.

For each occurrence (a CRM event, a band crossing, a schedule slot, a model output past a
threshold, a field set by another workflow) every enabled workflow whose trigger matches is
checked against the contact's fields at that moment (:mod:`workflows.context`). A firing is
one ``workflow_runs`` row (unique per workflow, occurrence and contact, so a replayed event
never fires twice), one ``workflow_actions`` row per action and one audit record
(``ai_interactions``, feature ``workflow``).

Actions run in their ``after`` order. An action whose risk class needs review
(``configs/workflows.yaml``), or any action of a bulk pass (more contacts than
``bulk_threshold``), waits in the review queue; actions after it wait too (``blocked``) and
run once it is approved, or are ``skipped`` if it is rejected or fails.
"""

from __future__ import annotations

import datetime as dt
import logging
import uuid
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

from sqlalchemy import select, tuple_
from sqlalchemy.orm import Session

from haste.db.models import Contact, as_utc, utcnow
from haste.db.session import session_scope
from haste.db.workflow_tables import (
    ReviewItem,
    Workflow,
    WorkflowAction,
    WorkflowRun,
    WorkflowVersion,
)
from haste.records import InteractionRecord
from workflows.actions import ActionContext, ActionFailedError, execute_action
from workflows.conditions import conditions_hold
from workflows.config import WorkflowConfig, workflow_config
from workflows.context import ContextBuilder, load_frames
from workflows.definition import (
    PredictionTrigger,
    ScheduleTrigger,
    WorkflowDefinition,
    parse_definition,
)
from workflows.store import enabled_workflows
from workflows.triggers import Occurrence, prediction_passes, schedule_slot, trigger_matches

logger = logging.getLogger(__name__)

#: Chained ``field_updated`` passes followed at most (cycles are refused on save; a guard).
MAX_CHAIN = 5
_HOLDING = frozenset({"pending_review", "blocked"})
_BROKEN = frozenset({"failed", "rejected", "skipped"})
#: Fields of the context copied into a review item (what the manager sees).
REVIEW_CONTEXT_FIELDS = (
    "score.lead_score",
    "score.band",
    "contact.days_since_last_contacted",
    "deal.stage",
    "deal.amount",
    "company.industry",
)


@dataclass
class EngineReport:
    """What one call of :func:`run_occurrences` did."""

    occurrences: int = 0
    runs: int = 0
    actions_done: int = 0
    pending_review: int = 0
    failed: int = 0
    duplicates: int = 0

    def to_dict(self) -> dict[str, int]:
        """Return the counts."""
        return asdict(self)


@dataclass
class _Firing:
    workflow: Workflow
    definition: WorkflowDefinition
    occurrence: Occurrence
    context: dict[str, Any]


def _match(
    workflows: Sequence[tuple[Workflow, WorkflowDefinition]],
    occurrences: Sequence[Occurrence],
    builder: ContextBuilder,
) -> list[_Firing]:
    """Return the (workflow, occurrence) pairs whose trigger and conditions hold."""
    firings = []
    for occurrence in occurrences:
        if not builder.known(occurrence.contact_id):
            continue
        context: dict[str, Any] | None = None
        for row, definition in workflows:
            if occurrence.workflow_id not in (None, row.id):
                continue
            if not trigger_matches(definition.trigger, occurrence):
                continue
            context = context or builder.context(occurrence.contact_id, occurrence.at)
            trigger = definition.trigger
            if isinstance(trigger, PredictionTrigger) and not prediction_passes(trigger, context):
                continue
            if conditions_hold(definition.conditions, context):
                firings.append(_Firing(row, definition, occurrence, context))
    return firings


def _existing_runs(
    session: Session, firings: Sequence[_Firing]
) -> set[tuple[uuid.UUID, str, uuid.UUID]]:
    """Return the (workflow, occurrence key, contact) triples already run."""
    keys = {(f.workflow.id, f.occurrence.key, f.occurrence.contact_id) for f in firings}
    found: set[tuple[uuid.UUID, str, uuid.UUID]] = set()
    ordered = list(keys)
    for start in range(0, len(ordered), 500):
        chunk = ordered[start : start + 500]
        rows = session.execute(
            select(
                WorkflowRun.workflow_id, WorkflowRun.occurrence_key, WorkflowRun.contact_id
            ).where(
                tuple_(
                    WorkflowRun.workflow_id, WorkflowRun.occurrence_key, WorkflowRun.contact_id
                ).in_(chunk)
            )
        ).all()
        found.update((a, b, c) for a, b, c in rows)
    return found


def run_occurrences(
    url: str,
    occurrences: Sequence[Occurrence],
    *,
    config: WorkflowConfig | None = None,
    now: dt.datetime | None = None,
) -> EngineReport:
    """Fire every enabled workflow that matches ``occurrences`` (and the workflows they chain).

    Args:
        url: Database URL.
        occurrences: What happened.
        config: Risk classes and limits (default: ``configs/workflows.yaml``).
        now: Execution time (default: now).

    Returns:
        Counts of runs, actions done, actions held for review, failures and duplicates.
    """
    config = config or workflow_config()
    report = EngineReport(occurrences=len(occurrences))
    pending = list(occurrences)
    for _ in range(MAX_CHAIN):
        if not pending:
            break
        pending = _run_pass(url, pending, config, now or utcnow(), report)
    return report


def _run_pass(
    url: str,
    occurrences: Sequence[Occurrence],
    config: WorkflowConfig,
    now: dt.datetime,
    report: EngineReport,
) -> list[Occurrence]:
    """Run one pass; return the ``field_updated`` occurrences its actions produced."""
    with session_scope(url) as session:
        workflows = enabled_workflows(session)
    if not workflows:
        return []
    contact_ids = sorted({o.contact_id for o in occurrences})
    builder = ContextBuilder(load_frames(url, contact_ids))
    firings = _match(workflows, occurrences, builder)
    if not firings:
        return []
    produced: list[Occurrence] = []
    with session_scope(url) as session:
        done = _existing_runs(session, firings)
        fresh = [
            f
            for f in firings
            if (f.workflow.id, f.occurrence.key, f.occurrence.contact_id) not in done
        ]
        report.duplicates += len(firings) - len(fresh)
        per_workflow = Counter(f.workflow.id for f in fresh)
        for firing in fresh:
            bulk = per_workflow[firing.workflow.id] > config.bulk_threshold
            produced.extend(_fire(session, firing, builder, config, bulk, now, report))
    return produced


def _fire(
    session: Session,
    firing: _Firing,
    builder: ContextBuilder,
    config: WorkflowConfig,
    bulk: bool,
    now: dt.datetime,
    report: EngineReport,
) -> list[Occurrence]:
    """Record one run and carry out (or hold) its actions."""
    occurrence = firing.occurrence
    trigger = occurrence.to_dict()
    trigger["bulk"] = bulk
    trigger["context"] = {k: firing.context.get(k) for k in REVIEW_CONTEXT_FIELDS}
    run = WorkflowRun(
        id=uuid.uuid4(),
        workflow_id=firing.workflow.id,
        version=firing.workflow.version,
        occurrence_key=occurrence.key,
        contact_id=occurrence.contact_id,
        trigger=trigger,
        status="done",
        created_at=now,
    )
    session.add(run)
    session.flush()  # no ORM relationship orders the inserts: the run first
    for action in firing.definition.action_order():
        session.add(
            WorkflowAction(
                id=uuid.uuid4(),
                run_id=run.id,
                action_id=action.id,
                action_type=action.type,
                params=dict(action.params),
                risk=config.risk_of(action.type),
                status="new",
                created_at=now,
            )
        )
    session.flush()
    report.runs += 1
    owner = builder.owner(occurrence.contact_id)
    produced = advance_run(
        session,
        run,
        firing.definition,
        owner,
        firing.workflow.name,
        config,
        now,
        report,
    )
    statuses = {a.action_id: a.status for a in _actions(session, run.id)}
    session.add(
        InteractionRecord(
            interaction_type="workflow_run",
            input_data={
                "workflow_id": str(firing.workflow.id),
                "workflow": firing.workflow.name,
                "version": firing.workflow.version,
                "trigger": trigger,
            },
            output_data={
                "run_id": str(run.id),
                "status": run.status,
                "actions": [{"action": k, "status": v} for k, v in statuses.items()],
            },
            model_used=f"workflow:{firing.workflow.name}@v{firing.workflow.version}",
            feature="workflow",
            provider="workflow_engine",
            team_id=owner[1],
            request_id=f"run-{run.id}",
        ).to_row()
    )
    return produced


def _actions(session: Session, run_id: uuid.UUID) -> list[WorkflowAction]:
    return list(session.scalars(select(WorkflowAction).where(WorkflowAction.run_id == run_id)))


def advance_run(
    session: Session,
    run: WorkflowRun,
    definition: WorkflowDefinition,
    owner: tuple[uuid.UUID | None, uuid.UUID | None, str],
    workflow_name: str,
    config: WorkflowConfig,
    now: dt.datetime,
    report: EngineReport | None = None,
    inputs: Mapping[str, Any] | None = None,
) -> list[Occurrence]:
    """Move a run's waiting actions on: run, hold for review, keep blocked or skip.

    Called when a workflow fires and again after each review decision.
    """
    report = report or EngineReport()
    records = {a.action_id: a for a in _actions(session, run.id)}
    produced: list[Occurrence] = []
    bulk = bool(run.trigger.get("bulk"))
    owner_id, team_id, name = owner
    for action in definition.action_order():
        record = records.get(action.id)
        if record is None or record.status not in {"new", "blocked"}:
            continue
        before = [records[p].status for p in action.after if p in records]
        if any(status in _BROKEN for status in before):
            record.status = "skipped"
            continue
        if any(status != "done" for status in before):
            record.status = "blocked"
            continue
        if config.needs_review(action.type, bulk=bulk):
            record.status = "pending_review"
            report.pending_review += 1
            session.add(
                ReviewItem(
                    id=uuid.uuid4(),
                    feature="workflow",
                    action_record_id=record.id,
                    contact_id=run.contact_id,
                    team_id=team_id,
                    summary=_summary(workflow_name, action.type, action.params, name),
                    payload={
                        "workflow_id": str(run.workflow_id),
                        "workflow": workflow_name,
                        "version": run.version,
                        "run_id": str(run.id),
                        "action_id": action.id,
                        "action_type": action.type,
                        "params": dict(action.params),
                        "contact": name,
                        "bulk": bulk,
                        "context": run.trigger.get("context", {}),
                    },
                    risk="bulk"
                    if bulk and record.risk not in config.review_required
                    else record.risk,
                    status="pending",
                    requested_at=now,
                )
            )
            continue
        produced.extend(
            execute_record(session, run, record, workflow_name, owner_id, now, report, inputs)
        )
    session.flush()
    run.status = _run_status([r.status for r in records.values()])
    return produced


def execute_record(
    session: Session,
    run: WorkflowRun,
    record: WorkflowAction,
    workflow_name: str,
    owner_id: uuid.UUID | None,
    now: dt.datetime,
    report: EngineReport,
    inputs: Mapping[str, Any] | None,
) -> list[Occurrence]:
    """Carry out one action in a savepoint; a failure is recorded, not raised."""
    ctx = ActionContext(
        run.workflow_id, workflow_name, run.id, run.contact_id, owner_id, now, inputs or {}
    )
    try:
        with session.begin_nested():
            outcome = execute_action(session, record.action_type, record.params, ctx)
    except ActionFailedError as error:
        record.status, record.error = "failed", str(error)
        report.failed += 1
        logger.warning("workflow %s action %s failed: %s", workflow_name, record.action_id, error)
        return []
    record.status, record.result, record.executed_at = "done", _jsonable(outcome.result), now
    report.actions_done += 1
    if outcome.updated_field is None:
        return []
    return [
        Occurrence(
            key=f"field:{record.id}",
            kind="field_updated",
            contact_id=run.contact_id,
            at=now,
            field=outcome.updated_field,
        )
    ]


def _jsonable(value: Any) -> Any:
    """Return ``value`` with non-JSON leaves (UUIDs, dates, decimals) as text."""
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if value is None or isinstance(value, bool | int | float | str):
        return value
    return str(value)


def _run_status(statuses: Sequence[str]) -> str:
    """Return a run's status from its actions'."""
    if any(s in _HOLDING for s in statuses):
        return "pending_review"
    if any(s == "failed" for s in statuses):
        return "failed"
    if any(s == "rejected" for s in statuses):
        return "partly_rejected"
    return "done"


def _summary(workflow: str, action_type: str, params: Mapping[str, Any], contact: str) -> str:
    """Return the one-line description of a held action."""
    detail = {
        "send_email": lambda: f"send a {params.get('purpose')} email to {contact}",
        "enrol_sequence": lambda: f"enrol {contact} in sequence {params.get('sequence')}",
        "update_field": lambda: (
            f"set {params.get('field')} = {params.get('value')!r} for {contact}"
        ),
        "notify_webhook": lambda: f"POST {contact}'s run to {params.get('url')}",
        "request_review": lambda: f"review {contact}: {params.get('reason')}",
        "create_task": lambda: f"create task {params.get('title')!r} for {contact}'s owner",
    }[action_type]()
    return f"Workflow {workflow!r}: {detail}"[:500]


def load_run_definition(session: Session, run: WorkflowRun) -> WorkflowDefinition:
    """Return the definition version a run was fired with."""
    version = session.get(WorkflowVersion, (run.workflow_id, run.version))
    if version is None:  # pragma: no cover - versions are never deleted without their runs
        raise LookupError(f"workflow {run.workflow_id} has no version {run.version}")
    return parse_definition(version.definition)


def run_scheduled(
    url: str, *, now: dt.datetime | None = None, config: WorkflowConfig | None = None
) -> EngineReport:
    """Fire the schedule and prediction-threshold workflows that are due, for every contact.

    A schedule workflow runs once per slot (:func:`workflows.triggers.schedule_slot`); a
    prediction-threshold workflow fires once per contact and version while the model output
    is past its threshold.
    """
    now = now or utcnow()
    occurrences: list[Occurrence] = []
    with session_scope(url) as session:
        workflows = enabled_workflows(session)
        contact_ids = list(session.scalars(select(Contact.id).where(Contact.ai_consent.is_(True))))
        for row, definition in workflows:
            trigger = definition.trigger
            if isinstance(trigger, ScheduleTrigger):
                slot = schedule_slot(trigger, now)
                if row.last_scheduled_at is not None and as_utc(row.last_scheduled_at) >= slot:
                    continue
                key = f"schedule:{slot.isoformat()}"
                occurrences += [
                    Occurrence(key, "schedule", c, now, workflow_id=row.id) for c in contact_ids
                ]
                row.last_scheduled_at = now
            elif isinstance(trigger, PredictionTrigger):
                key = f"threshold:{trigger.model}:v{row.version}"
                occurrences += [
                    Occurrence(key, "prediction_threshold", c, now, workflow_id=row.id)
                    for c in contact_ids
                ]
    return run_occurrences(url, occurrences, config=config, now=now)
