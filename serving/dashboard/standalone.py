"""A tiny FastAPI app serving the dashboard, for local viewing and the browser tests.

Run it with ``python -m serving.dashboard.standalone`` (configured database and reports
folder, http://127.0.0.1:8050/dashboard) or build it with :func:`create_app`. The gateway
(:mod:`serving.app`) serves the same router (:mod:`serving.dashboard.router`) behind its
API-key check.

Routes:

* ``GET /dashboard``: the HTML page (:func:`serving.dashboard.render.render_dashboard`);
* ``GET /api/ai/dashboard``: the data as JSON (Decimals as strings, :func:`~serving.dashboard.
  data.jsonable`);
* ``GET /dashboard/reports/{path}``: the HTML/JSON drift and bias reports the page links to;
* ``GET /dashboard/live``: the live feed of score changes (server-sent events,
  :mod:`serving.dashboard.live`).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from fastapi import FastAPI

from serving.dashboard import live
from serving.dashboard.router import router
from serving.errors import install_error_handlers


@dataclass(frozen=True)
class LocalDashboard:
    """The standalone app's dashboard source: a database and a reports folder, no keys."""

    database_url: str
    reports_dir: Path

    def admit_dashboard(
        self, headers: dict[str, str], query_key: str | None, cookie_key: str | None
    ) -> None:
        """Admit every viewer: the standalone app is for local viewing only."""


def create_app(database_url: str, reports_dir: Path | str) -> FastAPI:
    """Return the standalone dashboard app (the gateway's dashboard router, no API keys).

    Args:
        database_url: CRM database URL (migrated).
        reports_dir: Reports folder of the monitoring and bias-audit flows.

    Returns:
        A FastAPI app with ``GET /dashboard``, ``GET /api/ai/dashboard``, the report files and
        the live feed ``GET /dashboard/live``.
    """
    app = FastAPI(title="hasteCRM AI dashboard", docs_url=None, redoc_url=None)
    app.state.dashboard = LocalDashboard(database_url, Path(reports_dir))
    install_error_handlers(app)
    app.include_router(router)
    app.include_router(live.router)
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
