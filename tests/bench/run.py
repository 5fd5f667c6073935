"""Run the prwlock benchmark suite and write its results as JSON.

    build/bench-venv/bin/python tests/bench/run.py [--quick] [--out DIR] [--only SECTION,...]

Sections: pairs, contended, starve, handoff, recover, scale, capacity, fork, stack, etcd, pythreads,
pyprocs, pyasync. Each writes
DIR/<section>.json: the run's metadata, every raw measurement, and a summary
in which each figure sits next to a baseline measured in the same run.
tests/bench/render.py turns those files into Markdown tables and PNG plots.

Programs it drives (built by mk/bench.mk): build/bench/bench (C),
build/bench/bench_fork (C: fork children and foreign stacks),
build/bench/rss_load (C), build/bench/bench_go (Go), build/bench/lock.test
(the engine's test binary, for BenchmarkWriterScan), and
tests/bench/py/bench_py.py (Python; one implementation per process, since
this project's package and prwlock 0.4.1 share the import name).

Every shared file made during the run carries the run's tag in its name;
whatever is left in /dev/shm with that tag is removed at exit, also after a
failure or Ctrl-C.
"""

from __future__ import annotations

import argparse
import datetime
import glob
import json
import os
import platform
import signal
import statistics
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BUILD = os.path.join(ROOT, "build")
BENCH_C = os.path.join(BUILD, "bench", "bench")
BENCH_FORK = os.path.join(BUILD, "bench", "bench_fork")
RSS_LOAD = os.path.join(BUILD, "bench", "rss_load")
BENCH_GO = os.path.join(BUILD, "bench", "bench_go")
LOCK_TEST = os.path.join(BUILD, "bench", "lock.test")
BENCH_ETCD = os.path.join(BUILD, "bench", "bench_etcd")
BENCH_PY = os.path.join(ROOT, "tests", "bench", "py", "bench_py.py")
LIB = os.path.join(BUILD, "libprwlock.so")
TAG = "r%d" % os.getpid()

# Sizes of the full and the quick suite.
FULL = dict(
    pair_reps=7, pair_ms=100, py_pair_reps=7, py_pair_ms=150,
    c_procs=[2, 4, 8], c_mixes=[90, 50, 10], c_reps=3, c_ms=500, c_hold=500, c_data_mixes=[90],
    py_procs=[2, 4, 8], py_mixes=[90, 50, 10], py_reps=3, py_ms=500, py_hold=20,
    starve_n=[2, 4, 8], starve_victims=["write", "read"], starve_ms=1000, starve_limit_ms=2500,
    c_starve_hold=4000, py_starve_hold=20, py_starve_impls=["ours", "seed", "fasteners"],
    handoff_n=200, py_handoff_n=100, py_handoff_poll_n=30,
    recover_reps=7, never_limit_ms=2500, py_recover_impls=["ours", "fasteners", "filelock", "seed"],
    scale_iters=2000, scale_many=10000, py_scale_iters=300, rss_runs=3,
    cap_reps=9, cap_ms=50, cap_procs=[10, 1000], scan_time="200ms", scan_count=3,
    fork_children=20, fork_depth_cap=1000, fork_copy_depth_cap=400, stack_reps=7, stack_n=200000,
    etcd_reps=3, etcd_ms=2000, etcd_workers=4, etcd_cost_runs=9,
    pyt_threads=[2, 8, 32], pyp_procs=[2, 4, 8], pyc_reps=3, pyc_ms=1000,
    async_reps=3, async_ms=300, async_n=[100, 1000], async_filelock_n=100,
)
QUICK = dict(
    pair_reps=2, pair_ms=30, py_pair_reps=1, py_pair_ms=50,
    c_procs=[4], c_mixes=[90, 10], c_reps=1, c_ms=200, c_hold=500, c_data_mixes=[90],
    py_procs=[4], py_mixes=[90], py_reps=1, py_ms=300, py_hold=20,
    starve_n=[4], starve_victims=["write"], starve_ms=300, starve_limit_ms=800,
    c_starve_hold=4000, py_starve_hold=20, py_starve_impls=["ours", "seed"],
    handoff_n=50, py_handoff_n=30, py_handoff_poll_n=10,
    recover_reps=1, never_limit_ms=500, py_recover_impls=["ours", "fasteners", "seed"],
    scale_iters=200, scale_many=10000, py_scale_iters=50, rss_runs=1,
    cap_reps=1, cap_ms=30, cap_procs=[10, 100], scan_time="50ms", scan_count=1,
    fork_children=5, fork_depth_cap=100, fork_copy_depth_cap=20, stack_reps=2, stack_n=50000,
    etcd_reps=1, etcd_ms=500, etcd_workers=4, etcd_cost_runs=1,
    pyt_threads=[2, 8, 32], pyp_procs=[2, 4, 8], pyc_reps=1, pyc_ms=300,
    async_reps=1, async_ms=100, async_n=[100, 1000], async_filelock_n=100,
)

C_IMPLS = ["ours", "glibc", "glibc-pw"]
PY_PAIR_IMPLS = ["ours", "seed", "fasteners", "filelock", "mplock"]
PY_MIX_IMPLS = ["ours", "seed", "fasteners"]


def log(msg: str) -> None:
    sys.stderr.write(msg + "\n")
    sys.stderr.flush()


def cleanup_shm() -> None:
    for p in glob.glob("/dev/shm/*bench-%s-*" % TAG):
        try:
            os.unlink(p)
        except OSError:
            pass


def _on_signal(sig, frame):
    cleanup_shm()
    signal.signal(sig, signal.SIG_DFL)
    os.kill(os.getpid(), sig)


def env_for(lang: str, impl: str = "") -> dict:
    env = dict(os.environ, BENCH_TAG=TAG, PRWLOCK_LIBRARY=LIB)
    env.pop("PYTHONPATH", None)
    if lang == "python" and impl == "ours":
        env["PYTHONPATH"] = os.path.join(ROOT, "python", "src")
    return env


def run_json(cmd: list, env: dict, timeout: float = 120) -> list:
    """Run one benchmark program; its stderr (progress) passes through."""
    try:
        p = subprocess.run(cmd, env=env, stdout=subprocess.PIPE, stderr=None, timeout=timeout, text=True)
    except subprocess.TimeoutExpired:
        log("  ! timed out: %s" % " ".join(cmd))
        return []
    if p.returncode != 0:
        log("  ! exit %d: %s" % (p.returncode, " ".join(cmd)))
    res = []
    for line in p.stdout.splitlines():
        line = line.strip()
        if line.startswith("{"):
            res.append(json.loads(line))
    return res


def py(impl: str, *args, timeout: float = 120) -> list:
    return run_json([sys.executable, BENCH_PY, args[0], "--impl", impl] + [str(a) for a in args[1:]],
                    env_for("python", impl), timeout)


def c(*args, timeout: float = 120) -> list:
    return run_json([BENCH_C] + [str(a) for a in args], env_for("c"), timeout)


# ------------------------------------------------------------- statistics


def pct(xs: list, q: float) -> float:
    """Nearest-rank percentile of a non-empty list."""
    s = sorted(xs)
    k = max(0, min(len(s) - 1, int(round(q / 100 * len(s) + 0.5)) - 1))
    return s[k]


def spread(xs: list) -> dict:
    return {"median": statistics.median(xs), "min": min(xs), "max": max(xs), "n": len(xs)}


# ----------------------------------------------------------------- sections


def sec_pairs(cfg) -> dict:
    raw = []
    log("[pairs] C: ours vs glibc default and prefer-writer (%d reps)" % cfg["pair_reps"])
    raw += c("pairs", "--reps", cfg["pair_reps"], "--ms", cfg["pair_ms"])
    log("[pairs] Go: lock/ API vs sync.RWMutex")
    raw += run_json([BENCH_GO, "-reps", str(cfg["pair_reps"]), "-ms", str(cfg["pair_ms"])], env_for("go"))
    log("[pairs] Python: ours, prwlock 0.4.1, fasteners, filelock, multiprocessing.Lock (%d reps)"
        % cfg["py_pair_reps"])
    for r in range(cfg["py_pair_reps"]):
        for impl in PY_PAIR_IMPLS:
            raw += py(impl, "pairs", "--rep", r, "--ms", cfg["py_pair_ms"])
        log("  python pairs: rep %d/%d done" % (r + 1, cfg["py_pair_reps"]))
    baselines = {"c": "glibc", "go": "sync.RWMutex", "python": "seed"}
    summary = []
    keys = sorted({(x["lang"], x["impl"], x["mode"]) for x in raw})
    for lang, impl, mode in keys:
        xs = [x for x in raw if (x["lang"], x["impl"], x["mode"]) == (lang, impl, mode)]
        row = {"lang": lang, "impl": impl, "mode": mode, "ns": spread([x["ns"] for x in xs])}
        base = baselines[lang]
        # An explicit owner's pair (read-as, write-as) is compared with glibc's of that mode.
        bmode = {"crossing": "read", "read-as": "read", "write-as": "write"}.get(mode, mode)
        by_rep = {x["rep"]: x["ns"] for x in raw if (x["lang"], x["impl"], x["mode"]) == (lang, base, bmode)}
        ratios = [x["ns"] / by_rep[x["rep"]] for x in xs if x["rep"] in by_rep and by_rep[x["rep"]] > 0]
        if ratios:
            row["ratio"] = spread(ratios)
            row["baseline"] = base
        if lang == "c" and impl == "ours" and mode != "crossing":
            pw = {x["rep"]: x["ns"] for x in raw if (x["lang"], x["impl"], x["mode"]) == ("c", "glibc-pw", bmode)}
            rr = [x["ns"] / pw[x["rep"]] for x in xs if x["rep"] in pw]
            if rr:
                row["ratio_glibc_pw"] = spread(rr)
        summary.append(row)
    return {"raw": raw, "summary": summary}


def sec_contended(cfg) -> dict:
    raw = []
    log("[contended] C: %s processes x %s%% reads, %d reps of %d ms"
        % (cfg["c_procs"], cfg["c_mixes"], cfg["c_reps"], cfg["c_ms"]))
    for r in range(cfg["c_reps"]):
        for n in cfg["c_procs"]:
            for mix in cfg["c_mixes"]:
                for impl in C_IMPLS:
                    raw += c("contended", "--impl", impl, "--procs", n, "--read-pct", mix, "--ms", cfg["c_ms"],
                             "--hold", cfg["c_hold"], "--rep", r)
                log("  c contended: rep %d, %d procs, %d%% reads done" % (r + 1, n, mix))
            # The same with readers that only read the protected data (no
            # shared counter written by every reader): see --check in bench.c.
            for mix in cfg["c_data_mixes"]:
                for impl in C_IMPLS:
                    raw += c("contended", "--impl", impl, "--procs", n, "--read-pct", mix, "--ms", cfg["c_ms"],
                             "--hold", cfg["c_hold"], "--rep", r, "--check", "data")
                log("  c contended: rep %d, %d procs, %d%% reads, readers only read, done" % (r + 1, n, mix))
    log("[contended] Python: %s processes x %s%% reads, %d reps of %d ms"
        % (cfg["py_procs"], cfg["py_mixes"], cfg["py_reps"], cfg["py_ms"]))
    for r in range(cfg["py_reps"]):
        for n in cfg["py_procs"]:
            for mix in cfg["py_mixes"]:
                for impl in PY_MIX_IMPLS:
                    raw += py(impl, "contended", "--procs", n, "--read-pct", mix, "--ms", cfg["py_ms"],
                              "--hold", cfg["py_hold"], "--rep", r)
                log("  python contended: rep %d, %d procs, %d%% reads done" % (r + 1, n, mix))
    baselines = {"c": "glibc", "python": "seed"}
    summary = []

    def key(x):
        return x["lang"], x["impl"], x["procs"], x["read_pct"], x.get("check", "counter")

    for lang, impl, n, mix, check in sorted({key(x) for x in raw}):
        xs = [x for x in raw if key(x) == (lang, impl, n, mix, check)]
        base = {x["rep"]: x["ops_per_s"] for x in raw if key(x) == (lang, baselines[lang], n, mix, check)}
        ratios = [x["ops_per_s"] / base[x["rep"]] for x in xs if base.get(x["rep"])]
        # The goal compares C with glibc's prefer-writer rwlock, the
        # fair one: each repetition against its own.
        pw = {x["rep"]: x["ops_per_s"] for x in raw if key(x) == (lang, "glibc-pw", n, mix, check)}
        ratios_pw = [x["ops_per_s"] / pw[x["rep"]] for x in xs if pw.get(x["rep"])]
        wshare = [x["writes"] / max(1, x["reads"] + x["writes"]) for x in xs]
        summary.append({
            "lang": lang, "impl": impl, "procs": n, "read_pct": mix, "check": check, "baseline": baselines[lang],
            "ops_per_s": spread([x["ops_per_s"] for x in xs]),
            "ratio": spread(ratios) if ratios else None,
            "ratio_pw": spread(ratios_pw) if ratios_pw and lang == "c" else None,
            "write_share": statistics.median(wshare),
            "violations": sum(x["violations"] for x in xs),
            "hold_ns": xs[0].get("hold_ns"),
        })
    return {"raw": raw, "summary": summary}


def starve_row(x, limit_ms) -> dict:
    w = [v for v in x["waits_ns"]]
    ok = w[:-1] if x["timed_out"] else w
    row = {"lang": x["lang"], "impl": x["impl"], "victim": x["victim"], "n": x["n"], "limit_ms": limit_ms,
           "timed_out": x["timed_out"], "attempts": len(w), "granted_total": len(ok),
           "others_ops": x["others_ops"]}
    if ok:
        row.update({"p50_ms": pct(ok, 50) / 1e6, "p99_ms": pct(ok, 99) / 1e6, "max_ms": max(ok) / 1e6,
                    "others_during_p50": pct(x["granted"][:len(ok)], 50),
                    "others_during_max": max(x["granted"][:len(ok)])})
    if x["timed_out"]:
        row["others_during_timeout"] = x["granted"][-1]
    return row


def py_side_by_side(raw: list, key: str) -> list:
    """Summary rows of pythreads/pyprocs: ours and the seed per count, ratios rep by rep."""
    summary = []
    for impl, k in sorted({(x["impl"], x[key]) for x in raw}):
        xs = [x for x in raw if (x["impl"], x[key]) == (impl, k)]
        base = {x["rep"]: x["ops_per_s"] for x in raw if (x["impl"], x[key]) == ("seed", k)}
        ratios = [x["ops_per_s"] / base[x["rep"]] for x in xs if base.get(x["rep"])]
        p99 = [x["wwait_p99_ns"] / 1e6 for x in xs if x.get("wwait_p99_ns") is not None]
        summary.append({
            "impl": impl, key: k, "read_pct": xs[0]["read_pct"], "baseline": "seed",
            "ops_per_s": spread([x["ops_per_s"] for x in xs]),
            "ratio": spread(ratios) if ratios else None,
            "wwait_p99_ms": spread(p99) if p99 else None,
            "wwait_max_ms": max(x.get("wwait_max_ns", 0) for x in xs) / 1e6,
            "write_share": statistics.median(x["writes"] / max(1, x["reads"] + x["writes"]) for x in xs),
            "violations": sum(x["violations"] for x in xs),
        })
    return summary


def sec_pythreads(cfg) -> dict:
    raw = []
    log("[pythreads] Python: %s threads of one process, 90/10, ours vs prwlock 0.4.1, %d reps of %d ms"
        % (cfg["pyt_threads"], cfg["pyc_reps"], cfg["pyc_ms"]))
    for r in range(cfg["pyc_reps"]):
        for n in cfg["pyt_threads"]:
            for impl in ("ours", "seed"):
                raw += py(impl, "threads", "--threads", n, "--read-pct", 90, "--ms", cfg["pyc_ms"],
                          "--hold", cfg["py_hold"], "--rep", r)
            log("  python threads: rep %d, %d threads done" % (r + 1, n))
    return {"raw": raw, "summary": py_side_by_side(raw, "threads")}


def sec_pyprocs(cfg) -> dict:
    raw = []
    log("[pyprocs] Python: %s processes, 90/10, ours vs prwlock 0.4.1, writer waits timed, %d reps of %d ms"
        % (cfg["pyp_procs"], cfg["pyc_reps"], cfg["pyc_ms"]))
    for r in range(cfg["pyc_reps"]):
        for n in cfg["pyp_procs"]:
            for impl in ("ours", "seed"):
                raw += py(impl, "contended", "--procs", n, "--read-pct", 90, "--ms", cfg["pyc_ms"],
                          "--hold", cfg["py_hold"], "--rep", r)
            log("  python processes: rep %d, %d processes done" % (r + 1, n))
    return {"raw": raw, "summary": py_side_by_side(raw, "procs")}


def sec_pyasync(cfg) -> dict:
    bench = os.path.join(ROOT, "tests", "bench", "py", "bench_async.py")

    def run(impl, *args, timeout=300):
        return run_json([sys.executable, bench, args[0], "--impl", impl] + [str(a) for a in args[1:]],
                        env_for("python", impl), timeout)

    raw = []
    log("[pyasync] uncontended async pair: AsyncRWLock vs filelock's AsyncReadWriteLock, %d reps" % cfg["async_reps"])
    for r in range(cfg["async_reps"]):
        for impl in ("ours", "filelock"):
            raw += run(impl, "pair", "--ms", cfg["async_ms"], "--rep", r)
    log("[pyasync] %s coroutines queued on a write-held lock, then %s cancelled (filelock: %d; its waits are slow)"
        % (cfg["async_n"], cfg["async_n"], cfg["async_filelock_n"]))
    for n in cfg["async_n"]:
        raw += run("ours", "queue", "--n", n)
        raw += run("ours", "cancel", "--n", n)
    raw += run("filelock", "queue", "--n", cfg["async_filelock_n"], timeout=600)
    for n in cfg["async_n"]:
        raw += run("filelock", "cancel", "--n", n, timeout=600)
    summary = []
    for mode in ("read", "write"):
        xs = {impl: {x["rep"]: x["ns"] for x in raw if x["bench"] == "async-pair" and x["mode"] == mode
                     and x["impl"] == impl} for impl in ("ours", "filelock")}
        if xs["ours"]:
            ratios = [xs["ours"][r] / xs["filelock"][r] for r in xs["ours"] if xs["filelock"].get(r)]
            summary.append({"kind": "pair", "mode": mode, "ns": spread(list(xs["ours"].values())),
                            "filelock_ns": spread(list(xs["filelock"].values())) if xs["filelock"] else None,
                            "ratio": spread(ratios) if ratios else None})
    summary += [dict(x, kind=x["bench"][6:]) for x in raw if x["bench"] in ("async-queue", "async-cancel")]
    return {"raw": raw, "summary": summary}


def sec_starve(cfg) -> dict:
    raw = []
    lim = cfg["starve_limit_ms"]
    for victim in cfg["starve_victims"]:
        other = "readers" if victim == "write" else "writers"
        for n in cfg["starve_n"]:
            log("[starve] C: 1 %s vs %d back-to-back %s, %d ms, limit %d ms"
                % ("writer" if victim == "write" else "reader", n, other, cfg["starve_ms"], lim))
            for impl in C_IMPLS:
                raw += c("starve", "--impl", impl, "--victim", victim, "--n", n, "--ms", cfg["starve_ms"],
                         "--limit-ms", lim, "--hold", cfg["c_starve_hold"], timeout=lim / 1000 + 60)
            log("[starve] Python: same, %s" % ", ".join(cfg["py_starve_impls"]))
            for impl in cfg["py_starve_impls"]:
                raw += py(impl, "starve", "--victim", victim, "--n", n, "--ms", cfg["starve_ms"],
                          "--limit-ms", lim, "--hold", cfg["py_starve_hold"], timeout=lim / 1000 + 60)
    return {"raw": raw, "summary": [starve_row(x, lim) for x in raw]}


def lat_row(x) -> dict:
    w = x["lat_ns"]
    return {"lang": x["lang"], "impl": x["impl"], "waiter": x["waiter"], "n": len(w),
            "p50_us": pct(w, 50) / 1e3, "p90_us": pct(w, 90) / 1e3, "p99_us": pct(w, 99) / 1e3,
            "max_us": max(w) / 1e3}


def sec_handoff(cfg) -> dict:
    raw = []
    log("[handoff] C: release -> waiter running in another process, %d samples each" % cfg["handoff_n"])
    for waiter in ("write", "read"):
        for impl in C_IMPLS:
            raw += c("handoff", "--impl", impl, "--waiter", waiter, "--n", cfg["handoff_n"])
    # The kernel's floor: the same hand-off over a bare futex word, which does
    # nothing but FUTEX_WAIT and FUTEX_WAKE. No lock that lets its waiter
    # sleep in the kernel can beat it.
    raw += c("handoff", "--impl", "futex", "--waiter", "write", "--n", cfg["handoff_n"])
    log("[handoff] Python: ours, prwlock 0.4.1, fasteners, filelock")
    for impl in ("ours", "seed", "fasteners", "filelock"):
        n = cfg["py_handoff_n"] if impl in ("ours", "seed") else cfg["py_handoff_poll_n"]
        raw += py(impl, "handoff", "--waiter", "write", "--n", n)
    summary = [lat_row(x) for x in raw]
    for row in summary:
        base = [b for b in summary if b["lang"] == row["lang"] and b["waiter"] == row["waiter"]
                and b["impl"] == ("glibc" if row["lang"] == "c" else "seed")]
        if base:
            row["ratio_p50"] = row["p50_us"] / base[0]["p50_us"]
            row["baseline"] = base[0]["impl"]
    return {"raw": raw, "summary": summary}


def sec_recover(cfg) -> dict:
    raw = []
    lim = cfg["never_limit_ms"]
    for holder in ("read", "write"):
        log("[recover] C: SIGKILL of a %s holder -> a waiting writer gets the lock (%d reps)"
            % (holder, cfg["recover_reps"]))
        for r in range(cfg["recover_reps"]):
            raw += c("recover", "--impl", "ours", "--holder", holder, "--limit-ms", 5000, "--rep", r)
        for impl in ("glibc", "glibc-pw"):
            raw += c("recover", "--impl", impl, "--holder", holder, "--limit-ms", lim, timeout=lim / 1000 + 30)
        log("[recover] Python: %s" % ", ".join(cfg["py_recover_impls"]))
        for impl in cfg["py_recover_impls"]:
            if impl == "seed":
                raw += py(impl, "recover", "--holder", holder, "--limit-ms", lim, timeout=lim / 1000 + 30)
                continue
            for r in range(cfg["recover_reps"]):
                raw += py(impl, "recover", "--holder", holder, "--limit-ms", 5000, "--rep", r)
    summary = []
    for lang, impl, holder in sorted({(x["lang"], x["impl"], x["holder"]) for x in raw}):
        xs = [x for x in raw if (x["lang"], x["impl"], x["holder"]) == (lang, impl, holder)]
        ok = [x["ns"] / 1e6 for x in xs if x["recovered"]]
        summary.append({"lang": lang, "impl": impl, "holder": holder, "attempts": len(xs), "recovered": len(ok),
                        "limit_ms": max(x["limit_ms"] for x in xs),
                        "ms": spread(ok) if ok else None})
    return {"raw": raw, "summary": summary}


def sec_scale(cfg) -> dict:
    raw = []
    log("[scale] C: create/open/close, %d locks at once with RLIMIT_NOFILE soft limit 1024" % cfg["scale_many"])
    raw += c("scale", "--iters", cfg["scale_iters"], "--many", cfg["scale_many"])
    log("[scale] RSS added by loading the library")
    for _ in range(cfg["rss_runs"]):
        raw += run_json([RSS_LOAD, LIB], env_for("c"))
    log("[scale] Python: lock creation and first-lock memory")
    for impl in ("ours", "seed", "fasteners", "filelock", "mplock"):
        raw += py(impl, "scale", "--iters", cfg["py_scale_iters"])
    return {"raw": raw, "summary": raw}


def writer_scan(cfg) -> list:
    """BenchmarkWriterScan of the engine's test binary, as JSON rows."""
    import re
    import tempfile

    with tempfile.TemporaryDirectory(prefix="prwlock-bench-") as tmp:
        # Its own temporary directory: the binary fails a run that finds
        # files of other test runs appearing in the shared one.
        env = dict(env_for("go"), TMPDIR=tmp)
        try:
            p = subprocess.run([LOCK_TEST, "-test.run", "^$", "-test.bench", "^BenchmarkWriterScan$",
                                "-test.benchtime", cfg["scan_time"], "-test.count", str(cfg["scan_count"])],
                               env=env, stdout=subprocess.PIPE, stderr=None, timeout=300, text=True)
        except subprocess.TimeoutExpired:
            log("  ! timed out: %s" % LOCK_TEST)
            return []
    rows, seen = [], {}
    for line in p.stdout.splitlines():
        m = re.match(r"BenchmarkWriterScan/capacity=(\d+)/used=(\d+)(?:-\d+)?\s+\d+\s+([\d.]+) ns/op", line)
        if m:
            key = (int(m.group(1)), int(m.group(2)))
            seen[key] = seen.get(key, -1) + 1
            rows.append({"bench": "writer-scan", "lang": "go", "impl": "ours", "capacity": key[0], "used": key[1],
                         "rep": seen[key], "ns": float(m.group(3))})
    return rows


def sec_capacity(cfg) -> dict:
    raw = []
    log("[capacity] C: memory per lock by capacity and use; write pair by capacity and with %s other processes "
        "attached (%d reps)" % (cfg["cap_procs"], cfg["cap_reps"]))
    raw += c("capacity", "--reps", cfg["cap_reps"], "--ms", cfg["cap_ms"],
             "--procs", ",".join(str(n) for n in cfg["cap_procs"]), timeout=600)
    log("[capacity] Go: the writer's scans of one write pair by used slots (BenchmarkWriterScan)")
    raw += writer_scan(cfg)
    summary = []
    mem = [x for x in raw if x["bench"] == "capacity-memory"]
    summary += [dict(x, kind="memory") for x in mem]
    pairs = [x for x in raw if x["bench"] == "capacity-pair"]
    # By capacity: ratio to the 128-slot lock (the old default), rep by rep.
    base = {x["rep"]: x["ns"] for x in pairs if x["set"] == "capacity" and x["capacity"] == 128}
    for cap in sorted({x["capacity"] for x in pairs if x["set"] == "capacity"}):
        xs = [x for x in pairs if x["set"] == "capacity" and x["capacity"] == cap]
        ratios = [x["ns"] / base[x["rep"]] for x in xs if base.get(x["rep"])]
        summary.append({"kind": "pair-capacity", "capacity": cap, "ns": spread([x["ns"] for x in xs]),
                        "ratio": spread(ratios) if ratios else None, "baseline": "128 slots"})
    # Attached processes: ratio to the same default lock shape with nobody else.
    for st in sorted({x["set"] for x in pairs if x["set"].startswith("attached-")}, key=lambda v: int(v[9:])):
        xs = [x for x in pairs if x["set"] == st and x["procs"] > 1]
        alone = {x["rep"]: x["ns"] for x in pairs if x["set"] == st and x["procs"] == 1}
        ratios = [x["ns"] / alone[x["rep"]] for x in xs if alone.get(x["rep"])]
        summary.append({"kind": "pair-attached", "others": int(st[9:]), "ns": spread([x["ns"] for x in xs]),
                        "alone_ns": spread(list(alone.values())) if alone else None,
                        "ratio": spread(ratios) if ratios else None, "baseline": "no other process"})
    scans = [x for x in raw if x["bench"] == "writer-scan"]
    sbase = {x["rep"]: x["ns"] for x in scans if (x["capacity"], x["used"]) == (128, 1)}
    for cap, used in sorted({(x["capacity"], x["used"]) for x in scans}):
        xs = [x for x in scans if (x["capacity"], x["used"]) == (cap, used)]
        ratios = [x["ns"] / sbase[x["rep"]] for x in xs if sbase.get(x["rep"])]
        summary.append({"kind": "writer-scan", "capacity": cap, "used": used, "ns": spread([x["ns"] for x in xs]),
                        "ratio": spread(ratios) if ratios else None, "baseline": "128 slots, 1 used"})
    return {"raw": raw, "summary": summary}


def sec_fork(cfg) -> dict:
    log("[fork] C: %d children forked without exec: first data-plane call on an inherited handle, "
        "first call that needs the engine (loads the private copy)" % cfg["fork_children"])
    raw = run_json([BENCH_FORK, "fork", "--children", str(cfg["fork_children"])], env_for("c"))
    log("[fork] C: nested forks, data plane only (up to %d generations) and with a call that needs the "
        "engine in each (up to %d)" % (cfg["fork_depth_cap"], cfg["fork_copy_depth_cap"]))
    raw += run_json([BENCH_FORK, "fork-depth", "--engine", "0", "--cap", str(cfg["fork_depth_cap"])],
                    env_for("c"), timeout=300)
    raw += run_json([BENCH_FORK, "fork-depth", "--engine", "1", "--cap", str(cfg["fork_copy_depth_cap"])],
                    env_for("c"), timeout=300)
    kids = [x for x in raw if x.get("what") == "child" and x["rc"] == 0]
    parent = next((x["ns"] for x in raw if x.get("what") == "parent_pair"), None)
    summary = {"children": len(kids), "parent_pair_ns": parent}
    if kids:
        summary.update({
            "first_data_us": spread([x["first_data_ns"] / 1e3 for x in kids]),
            "first_engine_ms": spread([x["first_engine_ns"] / 1e6 for x in kids]),
            "second_engine_us": spread([x["second_engine_ns"] / 1e3 for x in kids]),
            "copy_rss_kb": spread([x["rss_copy_kb"] for x in kids]),
            "copy_threads": spread([x["threads_copy"] for x in kids]),
            "copy_loaded_by_data_plane": sum(x["copy_after_data"] for x in kids),
        })
    summary["depth"] = [x for x in raw if x.get("bench") == "fork_depth"]
    return {"raw": raw, "summary": summary}


def sec_stack(cfg) -> dict:
    log("[stack] C: uncontended pair on the thread's stack and on a malloc'd (makecontext) stack, %d reps"
        % cfg["stack_reps"])
    raw = run_json([BENCH_FORK, "stack", "--reps", str(cfg["stack_reps"]), "--n", str(cfg["stack_n"])], env_for("c"))
    summary = []
    for mode in ("read", "write"):
        own = {x["rep"]: x["ns"] for x in raw if x["mode"] == mode and x["where"] == "thread"}
        co = {x["rep"]: x["ns"] for x in raw if x["mode"] == mode and x["where"] == "malloc"}
        reps = sorted(set(own) & set(co))
        if reps:
            summary.append({"mode": mode, "thread_ns": spread([own[r] for r in reps]),
                            "malloc_ns": spread([co[r] for r in reps]),
                            "ratio": spread([co[r] / own[r] for r in reps])})
    return {"raw": raw, "summary": summary}


def sec_etcd(cfg) -> dict:
    log("[etcd] ours vs etcd's recipe RWMutex on a loopback 3-member cluster (%d reps of %d ms)"
        % (cfg["etcd_reps"], cfg["etcd_ms"]))
    raw = run_json([BENCH_ETCD, "-reps", str(cfg["etcd_reps"]), "-ms", str(cfg["etcd_ms"]),
                    "-workers", str(cfg["etcd_workers"])], env_for("go"), timeout=600)
    # The etcd backend's cost to a process that loads the library: the
    # library with the backend against the local-only one.
    etcd_lib = os.path.join(BUILD, "etcd", "libprwlock.so")
    if os.path.exists(etcd_lib):
        for _ in range(cfg["etcd_cost_runs"]):  # interleaved: both see the same load
            for variant, lib in (("local", LIB), ("etcd", etcd_lib)):
                for x in run_json([RSS_LOAD, lib], env_for("c")):
                    raw.append(dict(x, variant=variant, size=os.path.getsize(lib)))
    summary = []
    for bench, key, field in (("etcd-pair", "mode", "us"), ("etcd-contended", "read_pct", "ops_per_s")):
        for k in sorted({x[key] for x in raw if x["bench"] == bench}):
            xs = {impl: {x["rep"]: x[field] for x in raw if x["bench"] == bench and x[key] == k and x["impl"] == impl}
                  for impl in ("ours", "recipe")}
            if not xs["ours"]:
                continue
            ratios = [xs["ours"][r] / xs["recipe"][r] for r in xs["ours"] if xs["recipe"].get(r)]
            summary.append({"bench": bench, key: k, field: spread(list(xs["ours"].values())),
                            "recipe": spread(list(xs["recipe"].values())) if xs["recipe"] else None,
                            "ratio": spread(ratios) if ratios else None})
    return {"raw": raw, "summary": summary}


SECTIONS = {"pairs": sec_pairs, "contended": sec_contended, "starve": sec_starve, "handoff": sec_handoff,
            "recover": sec_recover, "scale": sec_scale, "capacity": sec_capacity, "fork": sec_fork,
            "stack": sec_stack, "etcd": sec_etcd, "pythreads": sec_pythreads, "pyprocs": sec_pyprocs,
            "pyasync": sec_pyasync}


def meta(quick: bool) -> dict:
    def cmd(*a):
        try:
            return subprocess.run(a, capture_output=True, text=True, cwd=ROOT, timeout=30).stdout.strip()
        except Exception:
            return ""

    def pkg(name):
        try:
            from importlib.metadata import version

            return version(name)
        except Exception:
            return None

    return {
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "commit": cmd("git", "rev-parse", "--short", "HEAD"),
        "dirty": bool(cmd("git", "status", "--porcelain", "--untracked-files=no")),
        "quick": quick,
        "machine": {"cpus": os.cpu_count(), "kernel": platform.release(), "python": platform.python_version(),
                    "glibc": platform.libc_ver()[1], "go": cmd("go", "env", "GOVERSION")},
        "baselines": {"prwlock": pkg("prwlock"), "fasteners": pkg("fasteners"), "filelock": pkg("filelock"),
                      "matplotlib": pkg("matplotlib")},
        "loadavg_start": os.getloadavg(),
        # Other anonymous lock files present: the first prw_create of a
        # process sweeps them, which the scale figures include.
        "foreign_anon_files": len(glob.glob("/dev/shm/prwlock.anon.*")),
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="the < 1 minute smoke suite")
    ap.add_argument("--out", default=os.path.join(ROOT, "docs", "bench"))
    ap.add_argument("--only", default="", help="comma-separated sections")
    a = ap.parse_args()
    cfg = QUICK if a.quick else FULL
    for exe in (BENCH_C, BENCH_FORK, BENCH_GO, RSS_LOAD, LIB, LOCK_TEST, BENCH_ETCD):
        if not os.path.exists(exe):
            log("missing %s: run `make bench` (it builds everything)" % exe)
            return 2
    os.makedirs(a.out, exist_ok=True)
    signal.signal(signal.SIGTERM, _on_signal)
    signal.signal(signal.SIGINT, _on_signal)
    m = meta(a.quick)
    names = [s for s in a.only.split(",") if s] or list(SECTIONS)
    t_all = time.monotonic()
    try:
        for name in names:
            t0 = time.monotonic()
            res = SECTIONS[name](cfg)
            res["meta"] = dict(m, section=name, config=cfg, seconds=round(time.monotonic() - t0, 1),
                               loadavg_end=os.getloadavg())
            tmp = os.path.join(a.out, name + ".json.tmp")
            with open(tmp, "w") as f:
                json.dump(res, f, indent=1)
            os.replace(tmp, os.path.join(a.out, name + ".json"))
            log("[%s] done in %.1f s -> %s" % (name, time.monotonic() - t0, os.path.join(a.out, name + ".json")))
    finally:
        cleanup_shm()
    log("all sections done in %.1f s" % (time.monotonic() - t_all))
    return 0


if __name__ == "__main__":
    sys.exit(main())
