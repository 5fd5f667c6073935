"""The Python participant of ``make demo``: a named lock shared with C and Go.

Usage: pywork.py NAME ROUNDS HOLD_MS
"""
import os
import sys
import time
import warnings

from prwlock import OwnerDiedWarning, RWLock


def main() -> None:
    name, rounds, hold = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]) / 1000
    lock = RWLock(name)
    tag = f"[Py  pid {os.getpid()}]"
    for i in range(rounds):
        write = i % 2 == 1
        t0 = time.monotonic()
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", OwnerDiedWarning)
            (lock.acquire_write if write else lock.acquire_read)()
        note = " (a previous writer died: data may need repair)" if caught else ""
        print(f"{tag} {'write' if write else 'read '} lock after {(time.monotonic() - t0) * 1e3:.1f} ms{note}", flush=True)
        time.sleep(hold)
        lock.release()
        time.sleep(hold / 4)
    lock.close()


if __name__ == "__main__":
    main()
