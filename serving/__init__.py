"""Serving: the Ray Serve application exposing the AI endpoints."""
