"""The gateway's routers, one per domain; :func:`serving.http.create_api` includes them all."""
