"""Placeholder router (filled by issue 17's work)."""

from __future__ import annotations

from fastapi import APIRouter

from serving.errors import ERROR_RESPONSES
from serving.idempotency import IdempotentRoute

router = APIRouter(route_class=IdempotentRoute, responses=ERROR_RESPONSES)
