"""Chaos on both sides of an etcd lock (make test-etcd-chaos; not in make test).

For PRWLOCK_ETCD_CHAOS_SECONDS (60) seconds, C, Go and Python workers take
one lock on a loopback 3-member cluster, checking exclusion inside every
critical section (see pyworker.py), while a supervisor SIGKILLs a random
worker every 1.5-4 s and starts a new one in its slot, and SIGKILLs a random
etcd member every 3-6 s and restarts it 1-3 s later (one at a time, so the
cluster keeps its quorum). Then it checks: no violation, progress in every
language, and the lock is free again within the TTL once the kills stop.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import time
import warnings

import prwlock
from conftest import Cluster, read_slots, worker_cmd

SECONDS = float(os.environ.get("PRWLOCK_ETCD_CHAOS_SECONDS", "60"))
TTL = 3
LANGS = ["c", "go", "py", "c", "go", "py"]


def test_chaos(shm):
    seed = int(os.environ.get("PRWLOCK_ETCD_CHAOS_SEED", str(int(time.time()))))
    rnd = random.Random(seed)
    cluster = Cluster(3)
    procs = {}
    try:
        url = cluster.url("chaos", "ttl=%d" % TTL, "timeout=2s")
        t_end = time.monotonic() + SECONDS

        def start(slot):
            left = max(1.0, t_end - time.monotonic())
            procs[slot] = subprocess.Popen(worker_cmd(LANGS[slot], url, shm, slot, left))

        for i in range(len(LANGS)):
            start(i)
        kills = member_kills = 0
        next_worker_kill = time.monotonic() + rnd.uniform(1.5, 4)
        next_member_kill = time.monotonic() + rnd.uniform(3, 6)
        down = None  # (member, restart time)
        while time.monotonic() < t_end - 1:
            now = time.monotonic()
            if now >= next_worker_kill:
                slot = rnd.randrange(len(LANGS))
                p = procs[slot]
                if p.poll() is None:
                    p.kill()
                    kills += 1
                p.wait()
                # The dead worker's slot may say it was inside: it no longer
                # is (its hold ends with its lease, or already ended).
                with open(shm, "r+b") as f:
                    f.seek(64 * slot)
                    f.write(b"\0" * 8)
                start(slot)
                next_worker_kill = now + rnd.uniform(1.5, 4)
            if down is None and now >= next_member_kill:
                m = rnd.randrange(3)
                assert cluster.command("kill %d" % m) == "ok"
                member_kills += 1
                down = (m, now + rnd.uniform(1, 3))
            if down is not None and now >= down[1]:
                assert cluster.command("restart %d" % down[0]) == "ok"
                down = None
                next_member_kill = time.monotonic() + rnd.uniform(3, 6)
            time.sleep(0.05)
        if down is not None:
            assert cluster.command("restart %d" % down[0]) == "ok"
        for p in procs.values():
            p.wait(timeout=60)
        slots = read_slots(shm, len(LANGS))
        ops = {}
        for lang, s in zip(LANGS, slots):
            ops[lang] = ops.get(lang, 0) + s[1]
        viol, errors, lost = (sum(s[k] for s in slots) for k in (2, 3, 4))
        # The lock is free again within the TTL of the last killed holder.
        lock = prwlock.RWLock(url)
        t0 = time.monotonic()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", prwlock.OwnerDiedWarning)
            assert lock.acquire_write(timeout=3 * TTL + 10)
        free_after = time.monotonic() - t0
        lock.release()
        lock.close()
        print(
            "\nchaos seed %d, %.0f s: critical sections %s; %d worker kills, %d member kills; "
            "violations %d, failed acquires %d, lost holds %d; free again after %.2f s"
            % (seed, SECONDS, ops, kills, member_kills, viol, errors, lost, free_after)
        )
        assert viol == 0
        assert all(n > 0 for n in ops.values()), ops
    finally:
        for p in procs.values():
            if p.poll() is None:
                p.send_signal(signal.SIGKILL)
                p.wait()
        cluster.close()
