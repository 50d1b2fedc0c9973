"""Web dashboard of the AI platform: lead scores, predictions, models, monitoring and AI usage.

* :mod:`insights.data` runs framework-free queries and returns plain dicts
  (:func:`~insights.data.build_dashboard`, also served as JSON);
* :mod:`insights.charts` draws matplotlib charts as inline SVG strings;
* :mod:`serving.dashboard.render` renders the single-page HTML with Jinja2 (autoescaped, no
  external assets): :func:`~serving.dashboard.render.render_dashboard`;
* :mod:`serving.dashboard.standalone` is a tiny FastAPI app for local viewing and browser tests.

The gateway exposes ``GET /dashboard`` and ``GET /api/ai/dashboard`` by calling
``render_dashboard(url, reports_dir)`` and ``jsonable(build_dashboard(url, reports_dir))``.
"""
