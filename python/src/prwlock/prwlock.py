"""Compatibility alias: ``from prwlock.prwlock import RWLock`` (the pre-0.2 path) still works."""

from . import (  # noqa: F401
    RWLock,
    get_pthread_process_shared,
    set_pthread_process_shared,
)

__all__ = ["RWLock", "get_pthread_process_shared", "set_pthread_process_shared"]
