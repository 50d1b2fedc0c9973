"""Ray connection and code shipping shared by the Ray Train and Ray tuning jobs."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from types import ModuleType


@contextlib.contextmanager
def connected_ray(address: str | None) -> Iterator[None]:
    """Use the Ray of this process, or connect for the block and disconnect afterwards.

    Args:
        address: Cluster to connect to when Ray is not initialised yet (None: the
            ``RAY_ADDRESS`` environment variable, else a local Ray started for the block).
    """
    import ray

    if ray.is_initialized():
        yield
        return
    ray.init(address=address, include_dashboard=False, log_to_driver=False)
    try:
        yield
    finally:
        ray.shutdown()


@contextlib.contextmanager
def code_shipped_by_value(*modules: ModuleType) -> Iterator[None]:
    """Pickle these modules' functions by value for the block.

    Ray workers then run them without importing the modules: a node of a cluster need not have
    this repository's newest ``distributed`` package installed, only the libraries it uses.
    """
    from ray import cloudpickle

    for module in modules:
        cloudpickle.register_pickle_by_value(module)
    try:
        yield
    finally:
        for module in modules:
            cloudpickle.unregister_pickle_by_value(module)


@contextlib.contextmanager
def quiet_ray_data() -> Iterator[None]:
    """Turn Ray Data's progress bars off for the block (workers inherit the driver's context)."""
    from ray.data import DataContext

    context = DataContext.get_current()
    previous = context.enable_progress_bars
    context.enable_progress_bars = False
    try:
        yield
    finally:
        context.enable_progress_bars = previous
