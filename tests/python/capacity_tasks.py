"""Tasks of test_capacity.py's pools: a light module, so that spawn children import little."""

from __future__ import annotations

import os
import time
from typing import Any, Optional, Tuple

from prwlock import LockFullError, LockNotFoundError

_held: Any = None  # barrier: every task holds read
_go: Any = None  # barrier: the parent has looked; release


def init(held: Any, go: Any) -> None:
    global _held, _go
    _held, _go = held, go


def hold_read_together(lock: Any) -> int:
    """Hold read until every task of the pool holds it, and the parent has looked."""
    with lock.reader_lock():
        _held.wait(timeout=150)
        _go.wait(timeout=150)
    return os.getpid()


def try_read_together(lock: Any) -> Tuple[str, float, Optional[str]]:
    """Try to hold read while every other task tries too; report how it went."""
    t0 = time.monotonic()
    try:
        lock.acquire_read()
    except LockFullError as exc:
        took = time.monotonic() - t0
        _held.wait(timeout=150)
        return "full", took, str(exc)
    took = time.monotonic() - t0
    try:
        _held.wait(timeout=150)
    finally:
        lock.release()
    return "held", took, None


def read_or_error(lock: Any) -> str:
    """Use a lock whose file may be gone; the error comes from this call, in the task."""
    try:
        with lock.reader_lock():
            return "held"
    except LockNotFoundError as exc:
        return type(exc).__name__
