"""A local Ray for the scale tests: 2 CPUs, no dashboard, stopped afterwards."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from typing import Any


@contextlib.contextmanager
def local_ray_session() -> Iterator[Any]:
    """Start a local Ray (``ray.init(num_cpus=2, include_dashboard=False)``), yield the module, stop it."""
    import _crashers
    import ray
    import ray.cloudpickle

    # Workers cannot import the tests folder: ship the crashing stage's module by value.
    ray.cloudpickle.register_pickle_by_value(_crashers)
    os.environ.setdefault("RAY_AUTH_MODE", "disabled")
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, configure_logging=False)
    ray.data.DataContext.get_current().enable_progress_bars = False
    try:
        yield ray
    finally:
        ray.shutdown()
