"""Flows: thin Prefect 3 orchestration over the framework-free packages."""
