"""The AI insights dashboard: ``GET /dashboard``, ``GET /api/ai/dashboard`` and its reports.

Served by the gateway behind a key of role manager/admin (``?api_key=`` for browsers, kept in
a same-site cookie for the report links) and by :mod:`serving.dashboard.standalone`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Protocol

from fastapi import APIRouter, Depends, Request
from fastapi.responses import FileResponse, HTMLResponse

from insights.data import build_dashboard, jsonable
from insights.monitoring import resolve_report_file
from serving.dashboard.render import render_dashboard
from serving.errors import ERROR_RESPONSES, ApiError

#: Cookie that keeps a browser's dashboard key for the report links (same site).
DASHBOARD_COOKIE = "haste_api_key"

router = APIRouter(tags=["dashboard"], responses=ERROR_RESPONSES)


class DashboardSource(Protocol):
    """What the dashboard routes need: where the data is and how to admit a viewer."""

    database_url: str

    @property
    def reports_dir(self) -> Path:
        """Folder of the drift and bias reports."""
        ...

    def admit_dashboard(
        self, headers: dict[str, str], query_key: str | None, cookie_key: str | None
    ) -> None:
        """Refuse (401/403/429) a viewer that may not see the dashboard."""
        ...


def get_dashboard_source(request: Request) -> DashboardSource:
    """Return the dashboard's data source (the gateway core, or the standalone app's)."""
    return request.app.state.dashboard


def admit_viewer(
    request: Request, source: Annotated[DashboardSource, Depends(get_dashboard_source)]
) -> DashboardSource:
    """Admit a dashboard viewer (key in the header, ``?api_key=`` or the cookie)."""
    source.admit_dashboard(
        dict(request.headers),
        request.query_params.get("api_key"),
        request.cookies.get(DASHBOARD_COOKIE),
    )
    return source


Viewer = Annotated[DashboardSource, Depends(admit_viewer)]


@router.get("/dashboard", response_class=HTMLResponse)
def dashboard(source: Viewer, http: Request) -> HTMLResponse:
    """The AI insights dashboard (scores, predictions, actions, drift, fairness, usage)."""
    page = HTMLResponse(render_dashboard(source.database_url, source.reports_dir))
    if "api_key" in http.query_params:  # keep the key for the report links (same site)
        page.set_cookie(
            DASHBOARD_COOKIE,
            http.query_params["api_key"],
            httponly=True,
            samesite="strict",
            max_age=3600,
        )
    return page


@router.get("/api/ai/dashboard")
def dashboard_data(source: Viewer) -> dict[str, Any]:
    """The dashboard's data as JSON."""
    return jsonable(build_dashboard(source.database_url, source.reports_dir))


@router.get("/dashboard/reports/{path:path}")
def dashboard_report(source: Viewer, path: str) -> FileResponse:
    """Serve a drift/fairness HTML or JSON report linked from the dashboard."""
    file = resolve_report_file(source.reports_dir, path)
    if file is None:
        raise ApiError(404, f"no report {path!r}")
    return FileResponse(file)
