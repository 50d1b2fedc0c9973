"""Pipelines: dataset loaders, synthetic CRM generator, validation and pipeline stages."""
