"""Distributed execution on Ray: Ray Data, Ray Train and Ray cluster helpers."""
