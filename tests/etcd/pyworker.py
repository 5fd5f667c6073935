"""The Python worker of the cross-language etcd tests.

    python pyworker.py URL SHM SLOT SECONDS

SHM is a file of 64 slots of 8 int64 words, one slot per worker process
(C, Go and Python alike): state (0 none, 1 reading, 2 writing), critical
sections, violations, failed calls, lost holds. Inside each critical
section a worker publishes its state, then looks for a conflicting state
in any other slot, before and after a short sleep. A conflict counts as a
violation only if the worker's hold was still valid at the end (its fence
readable): a hold whose lease was lost proves nothing either way.
"""

from __future__ import annotations

import mmap
import random
import struct
import sys
import time
import warnings

import prwlock

SLOT_WORDS, N_SLOTS = 8, 64
W_STATE, W_OPS, W_VIOL, W_ERRORS, W_LOST = range(5)


def main() -> int:
    url, shm, slot, secs = sys.argv[1], sys.argv[2], int(sys.argv[3]), float(sys.argv[4])
    warnings.simplefilter("ignore", prwlock.OwnerDiedWarning)
    with open(shm, "r+b") as f:
        mem = mmap.mmap(f.fileno(), 8 * SLOT_WORDS * N_SLOTS)

    def get(s: int, w: int) -> int:
        return struct.unpack_from("q", mem, 8 * (s * SLOT_WORDS + w))[0]

    def put(w: int, v: int) -> None:
        struct.pack_into("q", mem, 8 * (slot * SLOT_WORDS + w), v)

    def conflict(write: bool) -> bool:
        for s in range(N_SLOTS):
            if s != slot:
                st = get(s, W_STATE)
                if st == 2 or (write and st != 0):
                    return True
        return False

    lock = prwlock.RWLock(url)
    end = time.monotonic() + secs
    while time.monotonic() < end:
        write = random.randrange(3) == 0
        try:
            ok = lock.acquire_write(timeout=10) if write else lock.acquire_read(timeout=10)
        except prwlock.PrwlockError:
            ok = False
        if not ok:
            put(W_ERRORS, get(slot, W_ERRORS) + 1)
            continue
        put(W_STATE, 2 if write else 1)
        bad = conflict(write)
        time.sleep(0.001)
        bad = bad or conflict(write)
        put(W_STATE, 0)
        try:
            lock.fence()
        except prwlock.HoldLostError:
            put(W_LOST, get(slot, W_LOST) + 1)
        else:
            if bad:
                put(W_VIOL, get(slot, W_VIOL) + 1)
            lock.release()
        put(W_OPS, get(slot, W_OPS) + 1)
    lock.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
