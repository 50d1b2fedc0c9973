"""Errors shared by the text-AI packages (so none of them imports another for an exception)."""

from __future__ import annotations


class GenerationError(RuntimeError):
    """A text generator (an LLM provider) failed; a caller may fall back to its rules."""
