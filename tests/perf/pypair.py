"""Uncontended pair cost of the Python binding, and per-call ctypes costs.

    .venv/bin/python tests/perf/pypair.py [--quick]

PRWLOCK_ROOT (with PRWLOCK_LIBRARY) selects another checkout to measure.

Prints the median (and min) ns over several timeit repeats for:
  read pair       lock.acquire_read(); lock.release()
  write pair      lock.acquire_write(); lock.release()
  with reader     with lock.reader_lock(): pass
  raw calls       lib.try_acquire_read(ptr); lib.release(ptr) (no wrapper),
                  through the CDLL binding and the GIL-holding one
  prw_version     a pure C function through ctypes (the ctypes floor)
  is_anonymous    one Go call through ctypes (crossing + handle lookup)
"""

import statistics
import sys
import timeit

_root = __import__("os").environ.get("PRWLOCK_ROOT") or __import__("os").path.join(
    __import__("os").path.dirname(__file__), "..", ".."
)
sys.path.insert(0, __import__("os").path.join(_root, "python", "src"))

import prwlock  # noqa: E402
from prwlock import _lib  # noqa: E402

quick = "--quick" in sys.argv
N = 100_000 if quick else 300_000
R = 5 if quick else 9

lock = prwlock.RWLock()
lib = _lib.get()
ptr = lock._ptr
ns = {"lock": lock, "lib": lib, "ptr": ptr, "ver": lib.cdll.prw_version}
cases = [
    ("read pair", "lock.acquire_read(); lock.release()"),
    ("write pair", "lock.acquire_write(); lock.release()"),
    ("try_acquire_read pair", "lock.try_acquire_read(); lock.release()"),
    ("with reader_lock()", "with rl: pass"),
    ("raw CDLL try_read+release", "tr(ptr); rel(ptr)"),
    ("raw held try_read+release", "htr(arg); hrel(arg)"),
    ("prw_version (pure C)", "ver()"),
    ("prw_is_anonymous (1 Go)", "isa(ptr)"),
]
ns.update(rl=lock.reader_lock(), tr=lib.try_acquire_read, rel=lib.release, isa=lib.is_anonymous)
ns.update(arg=ptr.value, htr=getattr(lib, "held_try_acquire_read", None), hrel=getattr(lib, "held_release", None))
if ns["htr"] is None:  # before the GIL-holding bindings existed
    cases = [c for c in cases if not c[0].startswith("raw held")]
for name, stmt in cases:
    t = timeit.Timer(stmt, globals=ns)
    t.timeit(N // 10)
    r = [x / N * 1e9 for x in t.repeat(R, N)]
    print("%-26s median %7.1f ns  min %7.1f" % (name, statistics.median(r), min(r)), flush=True)
lock.close()
