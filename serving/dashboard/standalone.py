"""A tiny FastAPI app serving the dashboard, for local viewing and the browser tests.

Run it with ``python -m serving.dashboard.standalone`` (configured database and reports
folder, http://127.0.0.1:8050/dashboard) or build it with :func:`create_app`. The gateway
(:mod:`serving.app`) exposes the same two paths behind its API-key check.

Routes:

* ``GET /dashboard``: the HTML page (:func:`serving.dashboard.render.render_dashboard`);
* ``GET /api/ai/dashboard``: the data as JSON (Decimals as strings, :func:`~serving.dashboard.
  data.jsonable`);
* ``GET /dashboard/reports/{path}``: the HTML/JSON drift and bias reports the page links to.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI, HTTPException
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse

from insights.data import (
    REPORTS_URL_PREFIX,
    build_dashboard,
    jsonable,
    resolve_report_file,
)
from serving.dashboard.render import render_dashboard


def create_app(database_url: str, reports_dir: Path | str) -> FastAPI:
    """Return the standalone dashboard app.

    Args:
        database_url: CRM database URL (migrated).
        reports_dir: Reports folder of the monitoring and bias-audit flows.

    Returns:
        A FastAPI app with ``GET /dashboard``, ``GET /api/ai/dashboard`` and the report files.
    """
    app = FastAPI(title="hasteCRM AI dashboard", docs_url=None, redoc_url=None)

    @app.get("/dashboard", response_class=HTMLResponse)
    def dashboard_page() -> HTMLResponse:
        """Render the dashboard page."""
        return HTMLResponse(render_dashboard(database_url, reports_dir))

    @app.get("/api/ai/dashboard")
    def dashboard_data() -> JSONResponse:
        """Return the dashboard data as JSON."""
        return JSONResponse(jsonable(build_dashboard(database_url, reports_dir)))

    @app.get(REPORTS_URL_PREFIX + "/{relative:path}")
    def report_file(relative: str) -> FileResponse:
        """Serve a drift or bias report written under the reports folder."""
        path = resolve_report_file(reports_dir, relative)
        if path is None:
            raise HTTPException(status_code=404, detail="report not found")
        return FileResponse(path)

    return app


def main(argv: list[str] | None = None) -> None:
    """Serve the dashboard of the configured database with uvicorn."""
    import argparse

    import uvicorn

    from haste.settings import get_settings

    settings = get_settings()
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database-url", default=settings.database_url)
    parser.add_argument("--reports-dir", default=str(settings.data_dir / "reports"))
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8050)
    args = parser.parse_args(argv)
    uvicorn.run(create_app(args.database_url, args.reports_dir), host=args.host, port=args.port)


if __name__ == "__main__":
    main()
