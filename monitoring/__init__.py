"""Monitoring: drift, performance and bias checks over served models."""
