"""Errors of workflow automation, each mapped to one HTTP status by the routes."""

from __future__ import annotations


class WorkflowError(Exception):
    """Base class: a message for the caller."""


class WorkflowNotFoundError(WorkflowError):
    """No such workflow or review item (404)."""


class WorkflowConflictError(WorkflowError):
    """The change conflicts with stored state: a name taken, a decided review (409)."""


class WorkflowInvalidError(WorkflowError, ValueError):
    """The definition is valid alone but not with the others, e.g. a cycle (422)."""
