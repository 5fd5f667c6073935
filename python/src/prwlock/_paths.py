"""Where named locks live: the package's one spelling of it.

A bare name (no ``/``) names the file ``/dev/shm/prwlock.<name>``, as the C
library decides (``prw_open``); a name containing ``/`` is the file's path.
The test suite checks these against the library's own answer (``prw_name``).
"""

from __future__ import annotations

import os
from typing import Optional, Union

SHM_DIR = "/dev/shm"
PREFIX = "prwlock."


def lock_path(name: Union[str, bytes]) -> str:
    """Return the file of the lock called *name*."""
    name = os.fsdecode(name)
    return name if "/" in name else os.path.join(SHM_DIR, PREFIX + name)


def display_name(path: str) -> str:
    """The name a user would pass for the file at *path*: the bare name if it has one."""
    base = os.path.basename(path)
    if os.path.dirname(path) == SHM_DIR and base.startswith(PREFIX):
        return base[len(PREFIX):]
    return path


def shm_name(path: str) -> Optional[str]:
    """The POSIX shared-memory name (``/<file>``) of a file directly in ``/dev/shm``, else None."""
    if os.path.dirname(path) == SHM_DIR and os.path.basename(path):
        return "/" + os.path.basename(path)
    return None
