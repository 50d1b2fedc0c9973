"""Content intelligence: the content library, its performance, recommendations and templates.

Framework-free (no FastAPI, Ray or Prefect): the gateway, the flows and the CLI call into it.
"""
