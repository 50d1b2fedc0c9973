"""Tests on a real two-node Ray cluster (scripts/ray-cluster.sh)."""
