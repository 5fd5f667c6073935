"""The Python side of the prwlock benchmark suite (driven by tests/bench/run.py).

One implementation per process: this project's package and PyPI's
prwlock 0.4.1 are both imported as ``prwlock``, so the driver runs this
script with ``PYTHONPATH`` pointing at ``python/src`` for "ours" and without
it for "seed". Each subcommand prints one JSON object per result on stdout
and progress on stderr. Worker processes are forked (the seed's usage: its
lock can only be shared by inheritance) and make their own lock objects
after the fork where the library needs it (fasteners, filelock).

Implementations: ours, seed (prwlock 0.4.1), fasteners
(InterProcessReaderWriterLock), filelock (ReadWriteLock, SQLite-based),
mplock (multiprocessing.Lock, a mutex: the reference for pairs only).
"""

from __future__ import annotations

import argparse
import ctypes
import json
import multiprocessing as mp
import os
import signal
import sys
import tempfile
import time

mono = time.monotonic_ns
FORK = mp.get_context("fork")


def out(obj: dict) -> None:
    sys.stdout.write(json.dumps(obj) + "\n")
    sys.stdout.flush()


def progress(msg: str) -> None:
    sys.stderr.write("  " + msg + "\n")
    sys.stderr.flush()


# --------------------------------------------------------------- adapters


class Adapter:
    """rd/wr block; rd_t/wr_t take a timeout in seconds and return a bool."""

    def rd(self) -> None: ...
    def wr(self) -> None: ...
    def rel_rd(self) -> None: ...
    def rel_wr(self) -> None: ...
    def rd_t(self, t: float) -> bool: ...
    def wr_t(self, t: float) -> bool: ...
    def close(self) -> None: ...


class Ours(Adapter):
    def __init__(self, spec):
        import prwlock

        assert prwlock.__version__ != "0.4.1", "PYTHONPATH must put python/src first"
        self.lk = prwlock.RWLock(spec)
        self.rd = self.lk.acquire_read
        self.wr = self.lk.acquire_write
        self.rel_rd = self.rel_wr = self.lk.release

    def rd_t(self, t):
        return self.lk.acquire_read(timeout=t)

    def wr_t(self, t):
        return self.lk.acquire_write(timeout=t)

    def close(self):
        self.lk.close()


class Seed(Adapter):
    # prwlock 0.4.1's own timeouts come from the wall clock at whole-second
    # resolution (a 1 s timeout can return after 50 ms), so timed waits are
    # a poll of the try form here; the starvation benchmark instead blocks
    # and lets a watchdog end the run (see cmd_starve).
    def __init__(self, spec):
        self.lk = spec  # inherited through fork
        self.rd = self.lk.acquire_read
        self.wr = self.lk.acquire_write
        self.rel_rd = self.rel_wr = self.lk.release

    def _poll(self, f, t):
        deadline = time.monotonic() + t
        while not f():
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.001)
        return True

    def rd_t(self, t):
        return self._poll(self.lk.try_acquire_read, t)

    def wr_t(self, t):
        return self._poll(self.lk.try_acquire_write, t)

    def close(self):
        pass


class Fasteners(Adapter):
    def __init__(self, spec):
        import fasteners

        self.lk = fasteners.InterProcessReaderWriterLock(spec)
        self.rd = self.lk.acquire_read_lock
        self.wr = self.lk.acquire_write_lock
        self.rel_rd = self.lk.release_read_lock
        self.rel_wr = self.lk.release_write_lock

    def rd_t(self, t):
        return self.lk.acquire_read_lock(timeout=t)

    def wr_t(self, t):
        return self.lk.acquire_write_lock(timeout=t)


class FileLockRW(Adapter):
    def __init__(self, spec):
        import filelock

        self.Timeout = filelock.Timeout
        self.lk = filelock.ReadWriteLock(spec, is_singleton=False)
        self.rel_rd = self.rel_wr = self.lk.release

    def rd(self):
        self.lk.acquire_read()

    def wr(self):
        self.lk.acquire_write()

    def rd_t(self, t):
        try:
            self.lk.acquire_read(timeout=t)
            return True
        except self.Timeout:
            return False

    def wr_t(self, t):
        try:
            self.lk.acquire_write(timeout=t)
            return True
        except self.Timeout:
            return False

    def close(self):
        self.lk.close()


class MPLock(Adapter):
    def __init__(self, spec):
        self.lk = spec
        self.rd = self.wr = self.lk.acquire
        self.rel_rd = self.rel_wr = self.lk.release


ADAPTERS = {"ours": Ours, "seed": Seed, "fasteners": Fasteners, "filelock": FileLockRW, "mplock": MPLock}


class Spec:
    """What the coordinator makes before forking, and how to clean it up."""

    def __init__(self, impl: str, tag: str):
        self.impl = impl
        self.tmpdir = tempfile.mkdtemp(prefix="prwlock-bench-")
        self.name = None
        if impl == "ours":
            self.name = "bench-%s-py-%d-%d" % (tag, os.getpid(), mono() % 1000000)
            self.value = self.name
        elif impl == "seed":
            import prwlock

            assert prwlock.__version__ == "0.4.1", prwlock.__version__
            self.value = prwlock.RWLock()
        elif impl == "fasteners":
            self.value = os.path.join(self.tmpdir, "fasteners.lock")
        elif impl == "filelock":
            self.value = os.path.join(self.tmpdir, "filelock.db")
        elif impl == "mplock":
            self.value = FORK.Lock()
        else:
            raise SystemExit("unknown impl " + impl)

    def open(self) -> Adapter:
        return ADAPTERS[self.impl](self.value)

    def cleanup(self) -> None:
        if self.name:
            try:
                import prwlock

                prwlock.RWLock.unlink(self.name)
            except Exception:
                pass
        for f in os.listdir(self.tmpdir):
            try:
                os.unlink(os.path.join(self.tmpdir, f))
            except OSError:
                pass
        try:
            os.rmdir(self.tmpdir)
        except OSError:
            pass


# ------------------------------------------------------------------ helpers


def time_it(f, seconds: float) -> float:
    """ns per call of f(n) (n iterations) over about *seconds*."""
    n = 100
    f(n)
    while True:
        t0 = mono()
        f(n)
        dt = mono() - t0
        if dt >= seconds * 1e9 / 4:
            want = max(n, int(n * seconds * 1e9 / max(dt, 1)))
            t0 = mono()
            f(want)
            return (mono() - t0) / want
        n *= 4


def start_workers(target, args_list):
    procs = [FORK.Process(target=target, args=a, daemon=True) for a in args_list]
    for p in procs:
        p.start()
    return procs


def reap(procs, timeout: float = 10.0) -> int:
    """Join workers; kill (SIGKILL) any still stuck after *timeout*. Returns how many were killed."""
    killed = 0
    deadline = time.monotonic() + timeout
    for p in procs:
        p.join(max(0.0, deadline - time.monotonic()))
        if p.is_alive():
            os.kill(p.pid, signal.SIGKILL)
            p.join()
            killed += 1
    return killed


def wait_flag(arr, idx, value, timeout=30.0):
    deadline = time.monotonic() + timeout
    while arr[idx] < value:
        if time.monotonic() > deadline:
            raise SystemExit("workers not ready after %.0f s" % timeout)
        time.sleep(0.0005)


# control array layout
READY, GO, STOP, WIN, STAMP, PHASE, SEQ, GOT, RES_NS, RES_OK, ERR = range(11)
BASE = 16  # per-worker slots start here: [reads, writes, violations, inside]
SLOT = 4


def hold(n: int) -> None:
    for _ in range(n):
        pass


# ------------------------------------------------------------------ pairs


def cmd_pairs(a) -> None:
    spec = Spec(a.impl, a.tag)
    try:
        lk = spec.open()

        def rpair(n, rd=lk.rd, rel=lk.rel_rd):
            for _ in range(n):
                rd()
                rel()

        def wpair(n, wr=lk.wr, rel=lk.rel_wr):
            for _ in range(n):
                wr()
                rel()

        for mode, f in (("read", rpair), ("write", wpair)):
            ns = time_it(f, a.ms / 1000)
            out({"bench": "pair", "lang": "python", "impl": a.impl, "mode": mode, "rep": a.rep, "ns": ns})
        lk.close()
    finally:
        spec.cleanup()


# -------------------------------------------------------------- contended


def mix_worker(spec, ctl, idx, read_pct, hold_n):
    lk = spec.open()
    # Warm up: the first call in a fork child may load a private library copy.
    lk.rd()
    lk.rel_rd()
    base = BASE + SLOT * idx
    nprocs = ctl[ERR + 1]
    _ready_add(ctl)
    while not ctl[GO]:
        time.sleep(0.0002)
    rng = (idx + 1) * 2654435761 & 0xFFFFFFFF
    nr = nw = viol = 0
    wwaits = []
    rd, wr, rel_rd, rel_wr = lk.rd, lk.wr, lk.rel_rd, lk.rel_wr
    while not ctl[STOP]:
        rng = (rng * 1664525 + 1013904223) & 0xFFFFFFFF
        if (rng >> 16) % 100 < read_pct:
            rd()
            ctl[base + 3] = 1
            if ctl[WIN]:
                viol += 1
            hold(hold_n)
            ctl[base + 3] = 0
            rel_rd()
            nr += 1
        else:
            t0 = mono()
            wr()
            wwaits.append(mono() - t0)
            if ctl[WIN]:
                viol += 1
            ctl[WIN] = 1
            for j in range(nprocs):
                if ctl[BASE + SLOT * j + 3]:
                    viol += 1
            hold(hold_n)
            ctl[WIN] = 0
            rel_wr()
            nw += 1
    ctl[base] = nr
    ctl[base + 1] = nw
    ctl[base + 2] = viol
    with open(os.path.join(spec.tmpdir, "wwaits-%d.json" % idx), "w") as f:
        json.dump(wwaits, f)
    lk.close()


_ready_lock = None


def _ready_add(ctl) -> None:
    with _ready_lock:
        ctl[READY] += 1


def new_ctl(nworkers: int):
    global _ready_lock
    _ready_lock = FORK.Lock()
    ctl = FORK.RawArray(ctypes.c_int64, BASE + SLOT * max(nworkers, 1) + 8)
    ctl[ERR + 1] = nworkers
    return ctl


def cmd_contended(a) -> None:
    spec = Spec(a.impl, a.tag)
    try:
        ctl = new_ctl(a.procs)
        own = spec.open() if a.impl == "ours" else None  # creates the named lock
        procs = start_workers(mix_worker, [(spec, ctl, i, a.read_pct, a.hold) for i in range(a.procs)])
        wait_flag(ctl, READY, a.procs)
        t0 = mono()
        ctl[GO] = 1
        time.sleep(a.ms / 1000)
        ctl[STOP] = 1
        t1 = mono()
        killed = reap(procs, 20.0)
        reads = sum(ctl[BASE + SLOT * i] for i in range(a.procs))
        writes = sum(ctl[BASE + SLOT * i + 1] for i in range(a.procs))
        viol = sum(ctl[BASE + SLOT * i + 2] for i in range(a.procs))
        per = [ctl[BASE + SLOT * i] + ctl[BASE + SLOT * i + 1] for i in range(a.procs)]
        secs = (t1 - t0) / 1e9
        wwaits = []
        for i in range(a.procs):
            try:
                with open(os.path.join(spec.tmpdir, "wwaits-%d.json" % i)) as f:
                    wwaits += json.load(f)
            except (OSError, ValueError):
                pass
        row = {"bench": "contended", "lang": "python", "impl": a.impl, "procs": a.procs, "read_pct": a.read_pct,
               "rep": a.rep, "secs": secs, "reads": reads, "writes": writes, "ops_per_s": (reads + writes) / secs,
               "min_proc_ops": min(per), "max_proc_ops": max(per), "violations": viol, "killed": killed}
        row.update(wait_summary(wwaits))
        out(row)
        if own:
            own.close()
    finally:
        spec.cleanup()


# ---------------------------------------------------------------- threads


def thread_mix(lk, shared, idx, nthreads, read_pct, hold_n, wwaits, counts):
    """One thread of cmd_threads: the loop of mix_worker, on a list, timing each write wait."""
    rng = (idx + 1) * 2654435761 & 0xFFFFFFFF
    nr = nw = viol = 0
    rd, wr, rel_rd, rel_wr = lk.rd, lk.wr, lk.rel_rd, lk.rel_wr
    inside = BASE + idx
    while not shared[STOP]:
        rng = (rng * 1664525 + 1013904223) & 0xFFFFFFFF
        if (rng >> 16) % 100 < read_pct:
            rd()
            shared[inside] = 1
            if shared[WIN]:
                viol += 1
            hold(hold_n)
            shared[inside] = 0
            rel_rd()
            nr += 1
        else:
            t0 = mono()
            wr()
            wwaits.append(mono() - t0)
            if shared[WIN]:
                viol += 1
            shared[WIN] = 1
            for j in range(BASE, BASE + nthreads):
                if shared[j]:
                    viol += 1
            hold(hold_n)
            shared[WIN] = 0
            rel_wr()
            nw += 1
    counts[idx] = (nr, nw, viol)


def wait_summary(waits) -> dict:
    """p50/p99/max of write waits in ns (nearest rank), and how many."""
    if not waits:
        return {"writes_timed": 0}
    s = sorted(waits)

    def q(p):
        return s[max(0, min(len(s) - 1, int(round(p / 100 * len(s) + 0.5)) - 1))]

    return {"writes_timed": len(s), "wwait_p50_ns": q(50), "wwait_p99_ns": q(99), "wwait_max_ns": s[-1]}


def cmd_threads(a) -> None:
    """N threads of one process on one lock, 90/10 by default, invariant checked inside."""
    import threading

    spec = Spec(a.impl, a.tag)
    try:
        lk = spec.open()
        lk.rd()
        lk.rel_rd()
        shared = [0] * (BASE + a.threads)
        counts = [None] * a.threads
        wwaits = [[] for _ in range(a.threads)]
        # Thread 0 is the main thread, as in most programs: its waits are
        # the sliced ones (it must run signal handlers).
        ths = [threading.Thread(target=thread_mix, daemon=True,
                                args=(lk, shared, i, a.threads, a.read_pct, a.hold, wwaits[i], counts))
               for i in range(1, a.threads)]
        for t in ths:
            t.start()
        stopper = threading.Timer(a.ms / 1000, shared.__setitem__, (STOP, 1))
        t0 = mono()
        stopper.start()
        thread_mix(lk, shared, 0, a.threads, a.read_pct, a.hold, wwaits[0], counts)
        t1 = mono()
        stopper.join()
        for t in ths:
            t.join(30)
        done = [c for c in counts if c is not None]
        reads = sum(c[0] for c in done)
        writes = sum(c[1] for c in done)
        secs = (t1 - t0) / 1e9
        per = [c[0] + c[1] for c in done]
        row = {"bench": "threads", "lang": "python", "impl": a.impl, "threads": a.threads, "read_pct": a.read_pct,
               "rep": a.rep, "secs": secs, "reads": reads, "writes": writes, "ops_per_s": (reads + writes) / secs,
               "min_thread_ops": min(per) if per else 0, "max_thread_ops": max(per) if per else 0,
               "violations": sum(c[2] for c in done), "stuck": a.threads - len(done)}
        row.update(wait_summary([w for ws in wwaits for w in ws]))
        out(row)
        lk.close()
    finally:
        spec.cleanup()


# ------------------------------------------------------------- starvation


def spin_worker(spec, ctl, idx, write, hold_n):
    lk = spec.open()
    lk.rd()
    lk.rel_rd()
    base = BASE + SLOT * idx
    _ready_add(ctl)
    while not ctl[GO]:
        time.sleep(0.0002)
    acq, rel = (lk.wr, lk.rel_wr) if write else (lk.rd, lk.rel_rd)
    k = base + (1 if write else 0)
    n = 0
    while not ctl[STOP]:
        acq()
        n += 1
        ctl[k] = n  # counted at acquisition
        hold(hold_n)
        rel()
    lk.close()


def cmd_starve(a) -> None:
    spec = Spec(a.impl, a.tag)
    try:
        ctl = new_ctl(a.n)
        victim_write = a.victim == "write"
        lk = spec.open()
        procs = start_workers(spin_worker, [(spec, ctl, i, not victim_write, a.hold) for i in range(a.n)])
        wait_flag(ctl, READY, a.n)
        ctl[GO] = 1
        time.sleep(0.05)
        k = 0 if victim_write else 1

        def others():
            return sum(ctl[BASE + SLOT * i + k] for i in range(a.n))

        acq, rel = (lk.wr_t, lk.rel_wr) if victim_write else (lk.rd_t, lk.rel_rd)
        if a.impl == "seed":
            # A real blocked waiter, not a poll: a watchdog stops the others
            # at the limit, which lets the waiter in; a wait that long is
            # reported as "not within the limit".
            import threading

            block = lk.wr if victim_write else lk.rd

            def acq(limit_s):
                t = threading.Timer(limit_s, lambda: ctl.__setitem__(STOP, 1))
                t.start()
                t0 = time.monotonic()
                block()
                t.cancel()
                return time.monotonic() - t0 < limit_s

        waits, granted, timed_out = [], [], False
        end = mono() + a.ms * 1e6
        while mono() < end and len(waits) < 4000:
            g0 = others()
            t0 = mono()
            ok = acq(a.limit_ms / 1000)
            t1 = mono()
            g1 = others()
            waits.append(t1 - t0)
            granted.append(g1 - g0)
            if not ok:
                timed_out = True
                break
            rel()
            time.sleep(a.gap_us / 1e6)
        ctl[STOP] = 1
        total = others()
        killed = reap(procs, 5.0)
        out({"bench": "starve", "lang": "python", "impl": a.impl, "victim": a.victim, "n": a.n,
             "limit_ms": a.limit_ms, "timed_out": timed_out, "others_ops": total, "waits_ns": waits,
             "granted": granted, "killed": killed})
        lk.close()
    finally:
        spec.cleanup()


# --------------------------------------------------------------- hand-off


def handoff_worker(spec, ctl, write):
    lk = spec.open()
    lk.rd()
    lk.rel_rd()
    _ready_add(ctl)
    acq, rel = (lk.wr, lk.rel_wr) if write else (lk.rd, lk.rel_rd)
    seq = 1
    while True:
        while ctl[PHASE] != seq:
            if ctl[STOP]:
                lk.close()
                return
            time.sleep(0)
        ctl[GO] = seq
        acq()
        t1 = mono()
        ctl[BASE + (seq - 1)] = t1 - ctl[STAMP]
        rel()
        ctl[SEQ] = seq
        seq += 1


def cmd_handoff(a) -> None:
    spec = Spec(a.impl, a.tag)
    try:
        global _ready_lock
        _ready_lock = FORK.Lock()
        ctl = FORK.RawArray(ctypes.c_int64, BASE + a.n + 8)
        lk = spec.open()
        procs = start_workers(handoff_worker, [(spec, ctl, a.waiter == "write")])
        wait_flag(ctl, READY, 1)
        for seq in range(1, a.n + 1):
            lk.wr()
            ctl[PHASE] = seq
            while ctl[GO] != seq:
                time.sleep(0)
            time.sleep(a.settle_us / 1e6)
            ctl[STAMP] = mono()
            lk.rel_wr()
            deadline = time.monotonic() + 10
            while ctl[SEQ] != seq:
                if time.monotonic() > deadline:
                    raise SystemExit("hand-off: the waiter never ran")
                time.sleep(0)
        ctl[STOP] = 1
        reap(procs, 5.0)
        out({"bench": "handoff", "lang": "python", "impl": a.impl, "waiter": a.waiter,
             "lat_ns": [ctl[BASE + i] for i in range(a.n)]})
        lk.close()
    finally:
        spec.cleanup()


# --------------------------------------------------------------- recovery


def hold_worker(spec, ctl, write):
    lk = spec.open()
    (lk.wr if write else lk.rd)()
    _ready_add(ctl)
    while True:
        time.sleep(3600)


def recover_wait_worker(spec, ctl, limit_ms):
    import warnings

    warnings.simplefilter("ignore")  # ours warns OwnerDiedWarning: expected here
    lk = spec.open()
    _ready_add(ctl)
    ok = lk.wr_t(limit_ms / 1000)
    ctl[RES_NS] = mono()
    ctl[RES_OK] = 1 if ok else 2
    if ok:
        lk.rel_wr()


def cmd_recover(a) -> None:
    spec = Spec(a.impl, a.tag)
    try:
        ctl = new_ctl(2)
        own = spec.open() if a.impl == "ours" else None
        holder = start_workers(hold_worker, [(spec, ctl, a.holder == "write")])[0]
        wait_flag(ctl, READY, 1)
        waiter = start_workers(recover_wait_worker, [(spec, ctl, a.limit_ms)])[0]
        wait_flag(ctl, READY, 2)
        time.sleep(0.05)  # the waiter is blocked (or polling) by now
        t0 = mono()
        os.kill(holder.pid, signal.SIGKILL)
        holder.join()  # reaped at once, as a supervisor would
        killed = reap([waiter], a.limit_ms / 1000 + 5)
        ok = ctl[RES_OK] == 1
        out({"bench": "recover", "lang": "python", "impl": a.impl, "holder": a.holder, "rep": a.rep,
             "limit_ms": a.limit_ms, "recovered": ok, "ns": ctl[RES_NS] - t0 if ok else -1, "killed": killed})
        if own:
            own.close()
    finally:
        spec.cleanup()


# ---------------------------------------------------------------- scale


def cmd_scale(a) -> None:
    """create+close cost and the memory of the first lock (import + load)."""

    def rss_kb():
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
        return -1

    r0 = rss_kb()
    spec = Spec(a.impl, a.tag)
    try:
        lk = spec.open()
        r1 = rss_kb()
        lk.close()
        ns = None
        if a.impl in ("ours", "seed"):
            if a.impl == "ours":
                import prwlock

                def mk():
                    prwlock.RWLock().close()
            else:
                import prwlock

                def mk():
                    prwlock.RWLock()  # freed by refcounting

            mk()
            t0 = mono()
            for _ in range(a.iters):
                mk()
            ns = (mono() - t0) / a.iters
        out({"bench": "scale", "lang": "python", "impl": a.impl, "op": "create+close", "ns": ns,
             "rss_kb_first_lock": r1 - r0})
    finally:
        spec.cleanup()


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("cmd")
    p.add_argument("--impl", required=True)
    p.add_argument("--tag", default=os.environ.get("BENCH_TAG", "p%d" % os.getpid()))
    p.add_argument("--rep", type=int, default=0)
    p.add_argument("--ms", type=float, default=200)
    p.add_argument("--procs", type=int, default=2)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--read-pct", type=int, default=90)
    p.add_argument("--hold", type=int, default=20)
    p.add_argument("--n", type=int, default=4)
    p.add_argument("--victim", default="write")
    p.add_argument("--waiter", default="write")
    p.add_argument("--holder", default="write")
    p.add_argument("--limit-ms", type=float, default=2000)
    p.add_argument("--gap-us", type=float, default=2000)
    p.add_argument("--settle-us", type=float, default=1000)
    p.add_argument("--iters", type=int, default=300)
    a = p.parse_args()
    cmds = {"pairs": cmd_pairs, "contended": cmd_contended, "threads": cmd_threads, "starve": cmd_starve, "handoff": cmd_handoff,
            "recover": cmd_recover, "scale": cmd_scale}
    cmds[a.cmd](a)


if __name__ == "__main__":
    main()
