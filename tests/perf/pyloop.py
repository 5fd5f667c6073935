"""A fixed number of uncontended operations, for instruction counting.

    valgrind --tool=callgrind --callgrind-out-file=/dev/null \\
        .venv/bin/python tests/perf/pyloop.py KIND N

Run it for two values of N and divide the difference of the instruction
counts by the difference of N: that is the cost of one iteration without
the start-up (tests/perf/count.sh does this). KIND: none (empty loop), read,
write (acquire_X(); release()), try (try_acquire_read(); release()), with (with reader_lock(): pass), version
(two prw_version calls), isa (two prw_is_anonymous calls), raw (the
fast path's two ctypes calls without the RWLock methods).
PRWLOCK_ROOT selects the checkout whose python/src is imported.
"""

import os
import sys

root = os.environ.get("PRWLOCK_ROOT") or os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..")
sys.path.insert(0, os.path.join(root, "python", "src"))
import prwlock  # noqa: E402
from prwlock import _lib  # noqa: E402

kind, n = sys.argv[1], int(sys.argv[2])
lock = prwlock.RWLock()
lib = _lib.get()
ptr = lock._ptr
if kind == "none":
    for _ in range(n):
        pass
elif kind == "read":
    a, r = lock.acquire_read, lock.release
    for _ in range(n):
        a()
        r()
elif kind == "write":
    a, r = lock.acquire_write, lock.release
    for _ in range(n):
        a()
        r()
elif kind == "try":
    a, r = lock.try_acquire_read, lock.release
    for _ in range(n):
        a()
        r()
elif kind == "with":
    g = lock.reader_lock()
    for _ in range(n):
        with g:
            pass
elif kind == "raw":  # the fast path's two ctypes calls, no wrapper
    t, r, arg = lib.held_try_acquire_read, lib.held_release, lock._arg
    for _ in range(n):
        t(arg)
        r(arg)
elif kind == "version":
    v = lib.cdll.prw_version
    for _ in range(n):
        v()
        v()
elif kind == "isa":
    f = lib.is_anonymous
    for _ in range(n):
        f(ptr)
        f(ptr)
else:
    sys.exit("unknown kind " + kind)
lock.close()
