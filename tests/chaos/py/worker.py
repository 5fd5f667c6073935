"""Python worker of the chaos test.

Threads randomly read, write, try, time out and downgrade on the shared
locks through the prwlock package, and run the critical-section checks of
cs.c (loaded as libchaoscs.so: Python has no atomics) inside every hold.
When the supervisor asks, one thread execs a sleeping interpreter while it
holds: the lock must treat the process as dead.

    python worker.py LIBCHAOSCS MEMFILE SLOTBASE NTHREADS SEED LOCKNAME...
"""

from __future__ import annotations

import ctypes
import os
import random
import sys
import threading
import time
import warnings

import prwlock

_tls = threading.local()


def _showwarning(message, category, *args, **kwargs):
    # The binding reports owner-dead as a warning on the acquiring thread.
    if issubclass(category, prwlock.OwnerDiedWarning):
        _tls.told = True
    else:  # pragma: no cover - unexpected warnings still show
        sys.stderr.write("chaos: python worker warning: %s\n" % (message,))


def _exec_sleeper(ms):
    # A new program that knows nothing of the lock replaces the process,
    # holds and all.
    code = "import sys, time; time.sleep(float(sys.argv[1]))"
    try:
        os.execv(sys.executable, [sys.executable, "-I", "-S", "-c", code, "%.3f" % (ms / 1000.0)])
    except OSError as exc:
        sys.stderr.write("chaos: python worker: exec: %r\n" % (exc,))
    os._exit(3)


def main(argv):
    if len(argv) < 6:
        sys.stderr.write(__doc__)
        return 2
    cs = ctypes.CDLL(argv[0])
    vp, i, i64, u64 = ctypes.c_void_p, ctypes.c_int, ctypes.c_int64, ctypes.c_uint64
    sig = {
        "cs_map": (vp, [ctypes.c_char_p]),
        "cs_stop": (i, [vp]),
        "cs_hello": (None, [vp, i]),
        "cs_wait_begin": (i64, [vp, i, i, i]),
        "cs_wait_end": (None, [vp, i, i64, i, i]),
        "cs_write": (None, [vp, i, i, i, u64, i]),
        "cs_read": (None, [vp, i, i, i, i]),
        "cs_downgrading": (None, [vp, i, i]),
        "cs_downgraded": (None, [vp, i, i]),
        "cs_exec_due": (i, [vp, i]),
        "cs_leave": (None, [vp, i]),
        "cs_released": (None, [vp, i, i]),
    }
    for name, (res, args) in sig.items():
        f = getattr(cs, name)
        f.restype, f.argtypes = res, args
    mem = cs.cs_map(argv[1].encode())
    if not mem:
        sys.stderr.write("chaos python worker: cannot map %s\n" % argv[1])
        return 2
    base, nthreads, seed = int(argv[2]), int(argv[3]), int(argv[4])
    locks = [prwlock.RWLock(name, create=False) for name in argv[5:]]
    warnings.simplefilter("always", prwlock.OwnerDiedWarning)
    warnings.showwarning = _showwarning

    def run(slot, rng):
        mem_ = ctypes.c_void_p(mem)
        cs.cs_hello(mem_, slot)
        while not cs.cs_stop(mem_):
            k = rng.randrange(len(locks))
            lk = locks[k]
            op = rng.randrange(100)
            write, down = op >= 45, op >= 85
            sel = rng.randrange(4)
            timeout = None if sel == 0 else 0 if sel == 1 else rng.randint(1, 50) / 1000.0
            n = rng.randrange(200)
            _tls.told = False
            start = cs.cs_wait_begin(mem_, slot, k, int(write))
            try:
                if write:
                    ok = lk.acquire_write(timeout) if timeout != 0 else lk.try_acquire_write()
                else:
                    ok = lk.acquire_read(timeout) if timeout != 0 else lk.try_acquire_read()
            except prwlock.PrwlockError as exc:
                cs.cs_wait_end(mem_, slot, start, 3, exc.errno or 0)
                sys.stderr.write("chaos: python worker: acquire: %r\n" % (exc,))
                continue
            told = _tls.told
            cs.cs_wait_end(mem_, slot, start, 0 if ok and not told else 1 if ok else 2, 0)
            if not ok:
                continue
            if write:
                cs.cs_write(mem_, slot, k, int(told), rng.getrandbits(63) | 1, n)
                if down:
                    cs.cs_downgrading(mem_, slot, k)
                    lk.downgrade()
                    cs.cs_downgraded(mem_, slot, 1)
                    cs.cs_read(mem_, slot, k, 0, n)
            else:
                cs.cs_read(mem_, slot, k, int(told), n)
            ms = cs.cs_exec_due(mem_, slot)
            if ms:
                _exec_sleeper(ms)
            if rng.randrange(200) == 0:
                time.sleep(0.001)
            cs.cs_leave(mem_, slot)
            err = 0
            try:
                lk.release()
            except prwlock.PrwlockError as exc:
                err = exc.errno or -1
            cs.cs_released(mem_, slot, err)

    threads = [
        threading.Thread(target=run, args=(base + t, random.Random(seed * 1000 + t)), daemon=True)
        for t in range(nthreads)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for lk in locks:
        lk.close()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
