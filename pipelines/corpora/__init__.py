"""Loaders of the text corpora used by the text-AI domain (read in place, never copied)."""
