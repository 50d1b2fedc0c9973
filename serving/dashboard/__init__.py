"""Web dashboard of the AI platform: lead scores, predictions, models, monitoring and AI usage.

* :mod:`insights.data` runs framework-free queries and returns plain dicts
  (:func:`~insights.data.build_dashboard`, also served as JSON);
* :mod:`insights.charts` draws matplotlib charts as inline SVG strings;
* :mod:`serving.dashboard.render` renders the single-page HTML with Jinja2 (autoescaped, no
  external assets): :func:`~serving.dashboard.render.render_dashboard`;
* :mod:`serving.dashboard.router` holds the routes, served by the gateway behind its keys;
* :mod:`serving.dashboard.standalone` is a tiny FastAPI app for local viewing and browser tests.

Both serve ``GET /dashboard``, ``GET /api/ai/dashboard`` and the report files through the
same router.
"""
