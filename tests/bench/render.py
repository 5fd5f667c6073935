"""Render the benchmark JSON of one directory as Markdown tables and PNG plots.

    build/bench-venv/bin/python tests/bench/render.py DIR

Reads DIR/<section>.json (written by run.py), writes DIR/RESULTS.md (every
table), DIR/*.png, and, when DIR/README.md exists, replaces the block between
its "BEGIN key-table" and "END key-table" markers with the key table.
Measures nothing: re-run it freely after editing this file.
"""

from __future__ import annotations

import json
import os
import re
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

NAMES = {
    "ours": "prwlock (ours)", "glibc": "glibc default", "glibc-pw": "glibc prefer-writer",
    "seed": "prwlock 0.4.1", "fasteners": "fasteners", "filelock": "filelock", "mplock": "multiprocessing.Lock",
    "sync.RWMutex": "sync.RWMutex", "ours-rwmutex-api": "ours, RLock/Lock API",
    "futex": "bare futex word (kernel floor)",
}
COLORS = {"ours": "#1f77b4", "glibc": "#7f7f7f", "glibc-pw": "#bcbd22", "seed": "#d62728",
          "fasteners": "#2ca02c", "filelock": "#9467bd", "mplock": "#8c564b", "futex": "#17becf"}


def load(d, name):
    p = os.path.join(d, name + ".json")
    if not os.path.exists(p):
        return None
    with open(p) as f:
        return json.load(f)


def n(impl):
    return NAMES.get(impl, impl)


def fnum(x, digits=3):
    if x is None:
        return "–"
    if x == 0:
        return "0"
    if abs(x) >= 100:
        return "%.0f" % x
    return "%.*g" % (digits, x)


def fspread(s, scale=1.0):
    if not s:
        return "–"
    return "%s (%s–%s)" % (fnum(s["median"] * scale), fnum(s["min"] * scale), fnum(s["max"] * scale))


def fratio(s):
    if not s:
        return "–"
    return "%s× (%s–%s)" % (fnum(s["median"]), fnum(s["min"]), fnum(s["max"]))


def table(head, rows):
    out = ["| " + " | ".join(head) + " |", "|" + "|".join("---" for _ in head) + "|"]
    out += ["| " + " | ".join(str(c) for c in r) + " |" for r in rows]
    return "\n".join(out)


# ------------------------------------------------------------------ tables


def pairs_md(p):
    rows = []
    order = {"c": 0, "go": 1, "python": 2}
    for r in sorted(p["summary"], key=lambda r: (order[r["lang"]], r["mode"], r["ns"]["median"])):
        extra = fratio(r.get("ratio_glibc_pw")) if "ratio_glibc_pw" in r else ""
        rows.append([r["lang"], n(r["impl"]), r["mode"], fspread(r["ns"]),
                     fratio(r.get("ratio")) + (" vs %s" % n(r["baseline"]) if r.get("baseline") else ""), extra])
    return ("### Uncontended acquire+release pair (ns)\n\nMedian over repetitions (min–max). Ratio: each "
            "repetition's figure over the baseline's in the same repetition. C `crossing` is one call of "
            "`prw_is_anonymous`, answered from the handle in C: the price of a call into the library.\n\n"
            + table(["lang", "implementation", "mode", "ns per pair", "ratio to baseline", "ratio to glibc prefer-writer"], rows))


def check_of(r):
    """The invariant check of a contended row (rows before --check had the counter)."""
    return r.get("check", "counter")


def counter(r):
    """A contended row whose invariant check is the shared reader counter."""
    return check_of(r) == "counter"


def contended_md(ct):
    rows = []
    for r in sorted(ct["summary"], key=lambda r: (r["lang"], counter(r) is False, -r["read_pct"], r["procs"],
                                                  r["impl"])):
        rows.append([r["lang"], "%d/%d%s" % (r["read_pct"], 100 - r["read_pct"], "" if counter(r) else ", readers only read"),
                     r["procs"], n(r["impl"]),
                     fspread(r["ops_per_s"], 1e-3), fratio(r["ratio"]) + " vs " + n(r["baseline"]),
                     fratio(r.get("ratio_pw")), "%.1f%%" % (100 * r["write_share"]), r["violations"]])
    hold = next((r["hold_ns"] for r in ct["summary"] if r.get("hold_ns")), None)
    return ("### Contended throughput (thousand acquire+release pairs per second, all processes)\n\n"
            "Each process loops: pick read or write at the given mix, acquire, check the reader-writer invariant "
            "inside, hold briefly (C: %s ns of work; Python: a few flag writes), release. The check counts each "
            "reader in and out of a shared counter, so every reader writes one cache line that all share; in the "
            "rows marked \"readers only read\" (C, `--check data`) a writer stamps the protected data as it "
            "enters and leaves and a reader only reads it, as the readers of read-mostly data do. `write share` is the "
            "fraction of completed operations that were writes (a lock that starves writers shows a share far "
            "below the mix). `violations` must be 0.\n\n" % (fnum(hold) if hold else "?")
            + table(["lang", "read/write", "procs", "implementation", "kops/s", "ratio",
                     "ratio to glibc prefer-writer", "write share", "violations"], rows))


def starve_md(s):
    rows = []
    for r in sorted(s["summary"], key=lambda r: (r["lang"], r["victim"], r["n"], r["impl"])):
        who = "1 writer vs %d readers" % r["n"] if r["victim"] == "write" else "1 reader vs %d writers" % r["n"]
        if r["timed_out"] and not r.get("p50_ms"):
            res = ["**never within %.1f s**" % (r["limit_ms"] / 1000), "", "", str(r.get("others_during_timeout", ""))]
        else:
            res = [fnum(r.get("p50_ms")), fnum(r.get("p99_ms")), fnum(r.get("max_ms")),
                   "%s / %s" % (r.get("others_during_p50", "–"), r.get("others_during_max", "–"))]
            if r["timed_out"]:
                res[2] += ", then **not within %.1f s**" % (r["limit_ms"] / 1000)
        rows.append([r["lang"], who, n(r["impl"]), r["granted_total"]] + res)
    return ("### Starvation\n\nThe lone waiter retries for the run's duration (2 ms apart); each wait is "
            "bounded by the limit. `others granted` counts the other side's acquisitions during one wait "
            "(median / max).\n\n"
            + table(["lang", "setup", "implementation", "waits done", "p50 ms", "p99 ms", "max ms",
                     "others granted while waiting"], rows))


def handoff_md(h):
    rows = []
    for r in sorted(h["summary"], key=lambda r: (r["lang"], r["waiter"], r["p50_us"])):
        rows.append([r["lang"], r["waiter"], n(r["impl"]), r["n"], fnum(r["p50_us"]), fnum(r["p90_us"]),
                     fnum(r["p99_us"]), fnum(r["max_us"]),
                     ("%s× vs %s" % (fnum(r["ratio_p50"]), n(r["baseline"]))) if "ratio_p50" in r else "–"])
    return ("### Hand-off latency (µs)\n\nA process holds write while another blocks (1 ms to settle), then "
            "releases; the time from just before the release until the waiter runs. The bare futex word "
            "is no rwlock: it only sleeps with FUTEX_WAIT and wakes with FUTEX_WAKE, the floor for any "
            "lock whose waiter sleeps in the kernel.\n\n"
            + table(["lang", "waiter wants", "implementation", "samples", "p50", "p90", "p99", "max",
                     "p50 ratio"], rows))


def recover_md(rc):
    rows = []
    for r in sorted(rc["summary"], key=lambda r: (r["lang"], r["holder"], r["impl"])):
        if r["recovered"] == 0:
            res = "**never within %.1f s**" % (r["limit_ms"] / 1000)
        else:
            res = fspread(r["ms"])
        rows.append([r["lang"], r["holder"], n(r["impl"]), "%d/%d" % (r["recovered"], r["attempts"]), res])
    return ("### Recovery after SIGKILL of the holder (ms)\n\nA holder takes the lock, a second process "
            "waits for write, the holder gets SIGKILL (and is reaped at once); the time until the waiter "
            "holds the lock. Median (min–max).\n\n"
            + table(["lang", "killed holder", "implementation", "recovered", "ms"], rows))


def scale_md(sc):
    raw = sc["raw"]
    ops = [x for x in raw if x["bench"] == "scale" and x["lang"] == "c"]
    rows = []
    for op in ("create+close", "open+close"):
        o = next((x for x in ops if x["impl"] == "ours" and x["op"] == op), None)
        g = next((x for x in ops if x["impl"] == "glibc" and x["op"] == op), None)
        if o and g:
            rows.append([op, fnum(o["ns"] / 1e3), fnum(g["ns"] / 1e3), "%s×" % fnum(o["ns"] / g["ns"])])
    md = ("### Scale\n\nC, µs per operation. Baseline: a /dev/shm file holding a pshared `pthread_rwlock_t` "
          "(open, ftruncate, mmap, init; close the fd). Ours' `open+close` re-opens a lock the process already "
          "has open.\n\n" + table(["operation", "ours µs", "glibc file µs", "ratio"], rows))
    many = [x for x in raw if x["bench"] == "scale-many"]
    if many:
        rows = []
        for x in many:
            rows.append([n(x["impl"]), "%d/%d" % (x["opened"], x["want"]), x["nofile_soft"], fnum(x["open_s"]),
                         fnum(x["close_s"]), fnum(x["rss_kb"] / 1024), fnum(x["rss_kb"] * 1024 / max(1, x["opened"])),
                         x["fds"]])
        md += ("\n\n%d locks open at once in one process, soft RLIMIT_NOFILE = 1024 (each used once):\n\n"
               % many[0]["want"]) + table(["implementation", "opened", "fd limit", "open s", "close s",
                                           "RSS added MiB", "bytes per lock", "fds added"], rows)
    rl = [x for x in raw if x["bench"] == "rss-load"]
    if rl:
        x = sorted(rl, key=lambda x: x["rss_kb_after_first_lock"] - x["rss_kb_base"])[len(rl) // 2]
        md += ("\n\nLoading the library into a C process (dlopen, then the first `prw_create`), median of %d: "
               "RSS +%s MiB after load, +%s MiB after the first lock; threads %d → %d → %d; address space "
               "reserved +%s MiB; dlopen %s ms, first create %s ms."
               % (len(rl), fnum((x["rss_kb_after_load"] - x["rss_kb_base"]) / 1024),
                  fnum((x["rss_kb_after_first_lock"] - x["rss_kb_base"]) / 1024), x["threads_base"],
                  x["threads_after_load"], x["threads_after_first_lock"], fnum(x["vm_kb_added"] / 1024),
                  fnum(x["load_ms"]), fnum(x["first_create_ms"])))
    py = [x for x in raw if x["bench"] == "scale" and x["lang"] == "python"]
    if py:
        rows = [[n(x["impl"]), fnum(x["ns"] / 1e3) if x["ns"] else "–", fnum(x["rss_kb_first_lock"] / 1024)]
                for x in py]
        md += "\n\nPython: one anonymous lock created and closed (µs), and the RSS added by import plus the first lock (MiB):\n\n" + table(
            ["implementation", "create+close µs", "first lock RSS MiB"], rows)
    return md


def kib(b):
    return "%s KiB" % fnum(b / 1024)


def capacity_md(cp):
    sm = cp["summary"]
    mem = [r for r in sm if r["kind"] == "memory"]
    md = "### Capacity\n\n"
    if mem:
        rows = []
        for r in mem:
            if r["state"] == "created":
                what = "created"
            elif r["state"] == "used":
                what = "after %s owner%s, one after another" % (format(r["owners"], ","), "" if r["owners"] == 1 else "s")
            elif r["state"] == "held":
                what = "%s owners holding read at once" % format(r["owners"], ",")
            else:
                what = "%d processes attached, each after a read pair" % r["procs"]
            rows.append([r["capacity"], what, kib(r["touched"]), kib(r["mapped"])])
        md += ("Bytes of /dev/shm per lock (C): touched is what tmpfs allocated for the file (its blocks, as `du` "
               "counts them: a page is allocated when first touched); mapped is the file's size, which every "
               "process maps.\n\n" + table(["capacity", "state", "touched", "mapped"], rows))
    pc = [r for r in sm if r["kind"] == "pair-capacity"]
    if pc:
        rows = [[r["capacity"], fspread(r["ns"]), fratio(r["ratio"])] for r in pc]
        md += ("\n\nC uncontended write pair by capacity, one process, ns (a writer scans the bitmap of used "
               "slots, a word per 64 slots, three times per pair); ratio to the 128-slot lock in the same "
               "repetition:\n\n" + table(["capacity", "ns", "ratio to 128 slots"], rows))
    pa = [r for r in sm if r["kind"] == "pair-attached"]
    if pa:
        rows = [[r["others"], fspread(r["ns"]), fspread(r["alone_ns"]), fratio(r["ratio"])] for r in pa]
        md += ("\n\nC uncontended write pair on a default lock (1,024 slots) that other processes have open "
               "(each did a read pair and stays attached), next to a default lock nobody else has open, in the "
               "same repetition, ns:\n\n" + table(["other processes", "ns", "alone ns", "ratio"], rows))
    ws = [r for r in sm if r["kind"] == "writer-scan"]
    if ws:
        rows = [[r["capacity"], r["used"], fspread(r["ns"]), fratio(r["ratio"])] for r in ws]
        md += ("\n\nThe writer's scans of one write pair (Go `BenchmarkWriterScan`: olderWriter and anyReader on "
               "acquire, handOffReaders on release) with *used* slots in use, ns; ratio to a 128-slot table with "
               "one used slot:\n\n" + table(["capacity", "used slots", "ns", "ratio"], rows))
    return md


# ------------------------------------------------------------------- plots


def fork_md(f):
    sm = f["summary"]
    rows = []
    if sm.get("children"):
        rows.append(["first data-plane call on an inherited handle (try-read + release)",
                     fspread(sm["first_data_us"]) + " µs",
                     "copy loaded by it: %d of %d children" % (sm["copy_loaded_by_data_plane"], sm["children"])])
        rows.append(["first call that needs the engine (`prw_info`: loads the private copy)",
                     fspread(sm["first_engine_ms"]) + " ms",
                     "copy: %s kB RSS, %s threads" % (fnum(sm["copy_rss_kb"]["median"]),
                                                       fnum(sm["copy_threads"]["median"]))])
        rows.append(["second such call", fspread(sm["second_engine_us"]) + " µs", ""])
    for x in sm.get("depth", []):
        what = "nested forks, %s in each generation" % ("a data-plane call" if not x["engine"]
                                                        else "a call that needs the engine")
        res = "%d generations" % x["deepest_ok"]
        res += (", then error %d (%s) at %d" % (x["rc"], "PRW_EFORKED" if x["rc"] == 1024 else "errno",
                                               x["failed_at"])) if x["failed_at"] else " (the cap; no failure)"
        rows.append([what, res, "%.1f s" % x["seconds"]])
    return ("### Children forked without exec\n\nThe parent's uncontended read pair, for scale: %s ns.\n\n"
            % fnum(sm.get("parent_pair_ns")) + table(["what", "figure", "note"], rows))


def stack_md(st):
    rows = [[r["mode"], fspread(r["thread_ns"]), fspread(r["malloc_ns"]), fratio(r["ratio"])]
            for r in st["summary"]]
    return ("### Calls from a stack that is not the thread's own (ns per uncontended pair)\n\n"
            "The same loop on the thread's stack and on a 256 KiB malloc'd stack entered with "
            "`makecontext`/`swapcontext` (what coroutine libraries, Ruby Fibers and some FFI trampolines "
            "do).\n\n" + table(["mode", "thread's stack", "malloc'd stack", "ratio"], rows))


def py_side_md(x, key, title, what):
    rows = []
    for r in sorted(x["summary"], key=lambda r: (r[key], r["impl"] != "ours")):
        rows.append([r[key], n(r["impl"]), fspread(r["ops_per_s"], 1e-3),
                     (fratio(r["ratio"]) + " vs " + n(r["baseline"])) if r["impl"] != r["baseline"] else "",
                     fspread(r["wwait_p99_ms"]), fnum(r["wwait_max_ms"]), "%.1f%%" % (100 * r["write_share"]),
                     r["violations"]])
    return ("### %s\n\n%s Each loops: 90%% read, 10%% write, acquire, check the reader-writer invariant inside, "
            "hold briefly (a few flag writes), release. The writer's wait is timed around every write acquire "
            "(p99 per run, median over runs, min–max). `violations` must be 0.\n\n" % (title, what)
            + table([key, "implementation", "kops/s", "ratio", "writer wait p99 ms", "writer wait max ms",
                     "write share", "violations"], rows))


def pyasync_md(x):
    sm = x["summary"]
    rows = [["uncontended `async with` %s pair" % r["mode"], "%s ns" % fspread(r["ns"]),
             "%s ns" % fspread(r["filelock_ns"]) if r["filelock_ns"] else "–", fratio(r["ratio"])]
            for r in sm if r["kind"] == "pair"]
    for r in sorted((r for r in sm if r["kind"] == "queue"), key=lambda r: (r["n"], r["impl"])):
        rows.append(["%d coroutines queued for read on a write-held lock (%s)" % (r["n"], n(r["impl"])),
                     "threads +%d, RSS +%s MiB, drained in %s ms" % (r["threads_added"], fnum(r["rss_kb_added"] / 1024),
                                                                    fnum(r["drain_ns"] / 1e6)), "", ""])
    for r in sorted((r for r in sm if r["kind"] == "cancel"), key=lambda r: (r["n"], r["impl"])):
        left = "" if r["left_queued"] is None else ", %d left queued" % r["left_queued"]
        rows.append(["%d queued writers cancelled (%s)" % (r["n"], n(r["impl"])),
                     "%s ms for all%s" % (fnum(r["cancel_ns"] / 1e6), left), "", ""])
    return ("### asyncio (`AsyncRWLock`) against filelock's `AsyncReadWriteLock`\n\nOne task, one process. "
            "Queued coroutines: threads the process gained and RSS added while they wait, then the time from the "
            "holder's release until every one has held and released the lock.\n\n"
            + table(["what", "ours", "filelock", "ratio"], rows))


def pyasync_rows(x):
    rows = []
    for r in x["summary"]:
        if r["kind"] == "pair" and r["ratio"]:
            rows.append(["Python asyncio uncontended %s pair (`async with`)" % r["mode"], "%s ns" % fnum(r["ns"]["median"]),
                         "filelock AsyncReadWriteLock: %s ns" % fnum(r["filelock_ns"]["median"]), fratio(r["ratio"]),
                         "report", ""])
    q = [r for r in x["summary"] if r["kind"] == "queue" and r["impl"] == "ours"]
    if q:
        r = max(q, key=lambda r: r["n"])
        rows.append(["Python asyncio: %d coroutines queued on a write-held lock" % r["n"],
                     "+%d thread, +%s MiB, drained in %s ms" % (r["threads_added"], fnum(r["rss_kb_added"] / 1024),
                                                              fnum(r["drain_ns"] / 1e6)),
                     "", "", "no thread per waiter", "met" if r["threads_added"] <= 1 else "missed"])
    c = [r for r in x["summary"] if r["kind"] == "cancel" and r["impl"] == "ours"]
    if c:
        r = max(c, key=lambda r: r["n"])
        rows.append(["Python asyncio: %d queued waiters cancelled" % r["n"],
                     "%s ms, %d left queued" % (fnum(r["cancel_ns"] / 1e6), r["left_queued"]), "", "",
                     "nothing left", "met" if r["left_queued"] == 0 else "missed"])
    return rows


def plot_python_contended(t, pr, path):
    parts = [(x, key, label) for x, key, label in ((t, "threads", "threads of one process"),
                                                   (pr, "procs", "processes")) if x]
    fig, axes = plt.subplots(2, len(parts), figsize=(5.5 * len(parts), 7), squeeze=False)
    for col, (x, key, label) in enumerate(parts):
        ks = sorted({r[key] for r in x["summary"]})
        impls = [i for i in ("ours", "seed") if any(r["impl"] == i for r in x["summary"])]
        w = 0.8 / len(impls)
        for row, (field, scale, ylabel) in enumerate((("ops_per_s", 1e-3, "kops/s (all %s)" % key),
                                                       ("wwait_p99_ms", 1.0, "writer wait p99, ms (log)"))):
            ax = axes[row][col]
            for k, impl in enumerate(impls):
                ys, lo, hi = [], [], []
                for kk in ks:
                    r = next((r for r in x["summary"] if r["impl"] == impl and r[key] == kk), None)
                    sp = r[field] if r else None
                    ys.append(sp["median"] * scale if sp else 0)
                    lo.append((sp["median"] - sp["min"]) * scale if sp else 0)
                    hi.append((sp["max"] - sp["median"]) * scale if sp else 0)
                ax.bar([j + (k - (len(impls) - 1) / 2) * w for j in range(len(ks))], ys, w, yerr=[lo, hi],
                       label=n(impl), color=COLORS.get(impl), capsize=2)
            ax.set_xticks(range(len(ks)))
            ax.set_xticklabels(["%d %s" % (kk, key) for kk in ks])
            if row == 1:
                ax.set_yscale("log")
            ax.set_ylabel(ylabel)
            ax.set_title("Python 90/10, %s" % label, fontsize=10)
            ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def py_side_rows(x, key, what):
    ours = sorted((r for r in x["summary"] if r["impl"] == "ours" and r["ratio"]), key=lambda r: r[key])
    seed = {r[key]: r for r in x["summary"] if r["impl"] == "seed"}
    if not ours:
        return []
    meds = [r["ratio"]["median"] for r in ours]

    def p99(r):
        if not r or not r.get("wwait_p99_ms"):
            return "–"
        ms = r["wwait_p99_ms"]["median"]
        return "%s µs" % fnum(ms * 1e3) if ms < 1 else "%s ms" % fnum(ms)

    return [["Python %s, 90/10: %s" % (what, ",".join(str(r[key]) for r in ours)),
             " / ".join("%s k/s" % fnum(r["ops_per_s"]["median"] / 1e3) for r in ours),
             "prwlock 0.4.1: " + " / ".join("%s k/s" % fnum(seed[r[key]]["ops_per_s"]["median"] / 1e3)
                                            for r in ours if r[key] in seed),
             " / ".join("%s×" % fnum(m) for m in meds), "≥ 1×", "met" if min(meds) >= 1 else "missed"],
            ["Python %s, 90/10: %s, writer wait p99" % (what, ",".join(str(r[key]) for r in ours)),
             " / ".join(p99(r) for r in ours),
             "prwlock 0.4.1: " + " / ".join(p99(seed.get(r[key])) for r in ours), "", "report", ""]]


def plot_pairs(p, path):
    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    for ax, lang in zip(axes, ("c", "python")):
        rows = [r for r in p["summary"] if r["lang"] == lang and r["mode"] in ("read", "write")]
        impls = sorted({r["impl"] for r in rows}, key=lambda i: next(r["ns"]["median"] for r in rows if r["impl"] == i))
        w = 0.38
        for k, mode in enumerate(("read", "write")):
            ys, lo, hi = [], [], []
            for i in impls:
                r = next((r for r in rows if r["impl"] == i and r["mode"] == mode), None)
                ys.append(r["ns"]["median"] if r else 0)
                lo.append(r["ns"]["median"] - r["ns"]["min"] if r else 0)
                hi.append(r["ns"]["max"] - r["ns"]["median"] if r else 0)
            xs = [j + (k - 0.5) * w for j in range(len(impls))]
            ax.bar(xs, ys, w, yerr=[lo, hi], label=mode + " pair", color=["#1f77b4", "#ff7f0e"][k], capsize=2)
        ax.set_xticks(range(len(impls)))
        ax.set_xticklabels([n(i) for i in impls], rotation=20, ha="right", fontsize=8)
        ax.set_yscale("log")
        ax.set_ylabel("ns per acquire+release (log)")
        ax.set_title("Uncontended pair, from %s" % ("C" if lang == "c" else "Python"))
        ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def plot_contended(ct, path):
    langs = [l for l in ("c", "python") if any(r["lang"] == l for r in ct["summary"])]
    fig, axes = plt.subplots(1, len(langs), figsize=(6 * len(langs), 4.2), squeeze=False)
    for ax, lang in zip(axes[0], langs):
        rows = [r for r in ct["summary"] if r["lang"] == lang and counter(r)]
        configs = sorted({(r["read_pct"], r["procs"]) for r in rows}, key=lambda c: (-c[0], c[1]))
        impls = [i for i in ("ours", "glibc", "glibc-pw", "seed", "fasteners") if any(r["impl"] == i for r in rows)]
        w = 0.8 / len(impls)
        for k, impl in enumerate(impls):
            ys, lo, hi = [], [], []
            for c in configs:
                r = next((r for r in rows if r["impl"] == impl and (r["read_pct"], r["procs"]) == c), None)
                s = r["ratio"] if r else None
                ys.append(s["median"] if s else 0)
                lo.append(s["median"] - s["min"] if s else 0)
                hi.append(s["max"] - s["median"] if s else 0)
            ax.bar([j + (k - (len(impls) - 1) / 2) * w for j in range(len(configs))], ys, w, yerr=[lo, hi],
                   label=n(impl), color=COLORS.get(impl), capsize=2)
        ax.axhline(1.0, color="k", lw=0.6)
        ax.set_xticks(range(len(configs)))
        ax.set_xticklabels(["%d/%d\n%dp" % (c[0], 100 - c[0], c[1]) for c in configs], fontsize=8)
        ax.set_yscale("log")
        base = rows[0]["baseline"]
        ax.set_ylabel("throughput / %s (log)" % n(base))
        ax.set_title("Contended throughput, %s (read/write mix, processes)" % ("C" if lang == "c" else "Python"))
        ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def plot_starve(s, path):
    combos = [(l, v) for l in ("c", "python") for v in ("write", "read")
              if any(r["lang"] == l and r["victim"] == v for r in s["summary"])]
    fig, axes = plt.subplots(1, len(combos), figsize=(4.6 * len(combos), 4), squeeze=False)
    for ax, (lang, victim) in zip(axes[0], combos):
        rows = [r for r in s["summary"] if r["lang"] == lang and r["victim"] == victim]
        ns = sorted({r["n"] for r in rows})
        impls = [i for i in ("ours", "glibc", "glibc-pw", "seed", "fasteners") if any(r["impl"] == i for r in rows)]
        w = 0.8 / len(impls)
        top = max([r["limit_ms"] for r in rows])
        for k, impl in enumerate(impls):
            for j, nn in enumerate(ns):
                r = next((r for r in rows if r["impl"] == impl and r["n"] == nn), None)
                if not r:
                    continue
                x = j + (k - (len(impls) - 1) / 2) * w
                if r.get("p99_ms") is None:
                    ax.bar(x, top, w, color=COLORS.get(impl), hatch="//", alpha=0.5)
                    ax.text(x, top, "never", rotation=90, ha="center", va="top", fontsize=7)
                else:
                    ax.bar(x, r["p99_ms"], w, color=COLORS.get(impl), label=n(impl) if j == 0 else None)
                    if r["timed_out"]:
                        ax.text(x, r["p99_ms"], "then\nnever", ha="center", va="bottom", fontsize=6)
        ax.set_xticks(range(len(ns)))
        ax.set_xticklabels(["N=%d" % x for x in ns])
        ax.set_yscale("log")
        ax.set_ylabel("p99 wait, ms (log)")
        ax.set_title("%s: 1 %s vs N %s" % ("C" if lang == "c" else "Python",
                                           "writer" if victim == "write" else "reader",
                                           "readers" if victim == "write" else "writers"), fontsize=10)
        ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def plot_latency(h, rc, path):
    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    ax = axes[0]
    rows = [r for r in h["summary"] if r["waiter"] == "write"]
    labels = ["%s\n(%s)" % (n(r["impl"]), "C" if r["lang"] == "c" else "Py") for r in rows]
    ax.bar(range(len(rows)), [r["p50_us"] for r in rows], color=[COLORS.get(r["impl"]) for r in rows],
           yerr=[[0] * len(rows), [r["p90_us"] - r["p50_us"] for r in rows]], capsize=2)
    ax.set_xticks(range(len(rows)))
    ax.set_xticklabels(labels, fontsize=7, rotation=20, ha="right")
    ax.set_yscale("log")
    ax.set_ylabel("µs, p50 (bar) to p90 (whisker), log")
    ax.set_title("Hand-off: release -> waiting writer runs")
    ax = axes[1]
    rows = [r for r in rc["summary"]]
    xs = range(len(rows))
    top = max(r["limit_ms"] for r in rows)
    for x, r in zip(xs, rows):
        if r["ms"]:
            ax.bar(x, r["ms"]["median"], color=COLORS.get(r["impl"]),
                   yerr=[[r["ms"]["median"] - r["ms"]["min"]], [r["ms"]["max"] - r["ms"]["median"]]], capsize=2)
        else:
            ax.bar(x, top, color=COLORS.get(r["impl"]), hatch="//", alpha=0.4)
            ax.text(x, top, "never", rotation=90, ha="center", va="top", fontsize=7)
    ax.axhline(20, color="r", lw=0.6, ls="--")
    ax.set_xticks(list(xs))
    ax.set_xticklabels(["%s %s\n%s" % ("C" if r["lang"] == "c" else "Py", n(r["impl"]), r["holder"]) for r in rows],
                       fontsize=6, rotation=30, ha="right")
    ax.set_yscale("log")
    ax.set_ylabel("ms until a waiter holds it (log)")
    ax.set_title("Recovery after SIGKILL of the holder (goal: 20 ms)")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def etcd_md(e):
    rows = []
    for r in e["summary"]:
        if r["bench"] == "etcd-pair":
            rows.append(["uncontended %s pair (µs)" % r["mode"], fspread(r["us"]), fspread(r["recipe"]), fratio(r["ratio"])])
        else:
            rows.append(["contended %d%% reads, %s workers (pairs/s)" % (r["read_pct"], e["meta"]["config"]["etcd_workers"]),
                         fspread(r["ops_per_s"]), fspread(r["recipe"]), fratio(r["ratio"])])
    out = "### etcd backend, loopback 3-member cluster\n\n" + table(
        ["what", "ours", "etcd recipe RWMutex", "ratio"], rows)
    cost = [x for x in e["raw"] if x.get("bench") == "rss-load"]
    if cost:
        crow = []
        for v in ("local", "etcd"):
            xs = [x for x in cost if x["variant"] == v]
            if xs:
                med = lambda k: sorted(x[k] for x in xs)[len(xs) // 2]
                crow.append([v, "%.1f MB" % (xs[0]["size"] / 1e6), "%s ms" % fnum(med("load_ms") + med("first_create_ms")),
                             "%s MB" % fnum((med("rss_kb_after_first_lock") - med("rss_kb_base")) / 1024)])
        out += "\n\nWhat the backend costs a process that loads the library and creates a local lock:\n\n" + table(
            ["library", "size", "load + first lock", "RSS added"], crow)
    return out


# ---------------------------------------------------------------- key table


def capacity_rows(cp):
    rows = []
    sm = cp["summary"]
    mem = {(r["capacity"], r["state"], r["owners"]): r for r in sm if r["kind"] == "memory"}
    d, old = mem.get((1024, "used", 1011)), mem.get((128, "used", 1011))
    held = mem.get((1024, "held", 1000))
    if d and old:
        rows.append(["/dev/shm per default lock (1,024 slots): touched after 1,011 owners one after another"
                     "%s; mapped" % (" (and while 1,000 hold at once)" if held else ""),
                     "%s%s; %s" % (kib(d["touched"]), " (%s)" % kib(held["touched"]) if held else "", kib(d["mapped"])),
                     "128 slots: %s; %s" % (kib(old["touched"]), kib(old["mapped"])),
                     "%s×; %s×" % (fnum(d["touched"] / old["touched"]), fnum(d["mapped"] / old["mapped"])),
                     "report", ""])
    pc = {r["capacity"]: r for r in sm if r["kind"] == "pair-capacity"}
    if 1024 in pc and 128 in pc and pc[1024]["ratio"]:
        rows.append(["C uncontended write pair, default lock (1,024 slots)", "%s ns" % fnum(pc[1024]["ns"]["median"]),
                     "128 slots: %s ns" % fnum(pc[128]["ns"]["median"]), fratio(pc[1024]["ratio"]), "report", ""])
    for r in sm:
        if r["kind"] == "pair-attached" and r["ratio"]:
            rows.append(["C uncontended write pair, %s other processes attached" % format(r["others"], ","),
                         "%s ns" % fnum(r["ns"]["median"]), "none: %s ns" % fnum(r["alone_ns"]["median"]),
                         fratio(r["ratio"]), "report", ""])
    ws = {(r["capacity"], r["used"]): r for r in sm if r["kind"] == "writer-scan"}
    if (1024, 1) in ws and (128, 1) in ws and ws[(1024, 1)]["ratio"]:
        rows.append(["writer's scans per write pair, default lock (1,024 slots), 1 used slot",
                     "%s ns" % fnum(ws[(1024, 1)]["ns"]["median"]),
                     "128 slots: %s ns" % fnum(ws[(128, 1)]["ns"]["median"]), fratio(ws[(1024, 1)]["ratio"]),
                     "report", ""])
    picks = [k for k in ((4096, 10), (4096, 1000), (4096, 4096)) if k in ws]
    if picks and (128, 1) in ws:
        rows.append(["writer's scans per write pair, 4,096-slot lock, %s used slots"
                     % " / ".join(format(k[1], ",") for k in picks),
                     " / ".join("%s µs" % fnum(ws[k]["ns"]["median"] / 1e3) for k in picks),
                     "128 slots, 1 used: %s ns" % fnum(ws[(128, 1)]["ns"]["median"]),
                     " / ".join("%s×" % fnum(ws[k]["ratio"]["median"]) for k in picks if ws[k]["ratio"]),
                     "report", ""])
    return rows


def key_table(d):
    p, ct, s, h, rc, et = (load(d, x) for x in ("pairs", "contended", "starve", "handoff", "recover", "etcd"))
    rows = []

    def pair(lang, impl, mode):
        return next((r for r in p["summary"] if (r["lang"], r["impl"], r["mode"]) == (lang, impl, mode)), None) if p else None

    for mode in ("read", "write"):
        r = pair("python", "ours", mode)
        if r and r.get("ratio"):
            goal = "≤ 0.35×" if mode == "read" else "–"
            met = ("met" if r["ratio"]["median"] <= 0.35 else "missed") if mode == "read" else ""
            rows.append(["Python uncontended %s pair" % mode, "%s ns" % fnum(r["ns"]["median"]),
                         "prwlock 0.4.1: %s ns" % fnum(pair("python", "seed", mode)["ns"]["median"]),
                         fratio(r["ratio"]), goal, met])
    for mode in ("read", "write"):
        r = pair("c", "ours", mode)
        if r and r.get("ratio"):
            rows.append(["C uncontended %s pair" % mode, "%s ns" % fnum(r["ns"]["median"]),
                         "glibc: %s ns" % fnum(pair("c", "glibc", mode)["ns"]["median"]), fratio(r["ratio"]),
                         "≤ 3×", "met" if r["ratio"]["median"] <= 3 else "missed"])
    for mode in ("read", "write"):
        r = pair("go", "ours-rwmutex-api", mode)
        b = pair("go", "sync.RWMutex", mode)
        if r and b and r.get("ratio"):
            rows.append(["Go %s pair" % ("RLock/RUnlock" if mode == "read" else "Lock/Unlock"),
                         "%s ns" % fnum(r["ns"]["median"]), "sync.RWMutex: %s ns" % fnum(b["ns"]["median"]),
                         fratio(r["ratio"]), "≤ 4×", "met" if r["ratio"]["median"] <= 4 else "missed"])
    if ct:
        rs = [r for r in ct["summary"] if r["lang"] == "c" and r["impl"] == "ours" and r["read_pct"] == 90 and counter(r)]
        if rs and all(r.get("ratio_pw") for r in rs):
            meds = [r["ratio_pw"]["median"] for r in rs]
            rows.append(["C contended 90/10, %s procs, vs prefer-writer" % ",".join(str(r["procs"]) for r in rs),
                         " / ".join("%s k/s" % fnum(r["ops_per_s"]["median"] / 1e3) for r in rs),
                         n("glibc-pw"), " / ".join("%s×" % fnum(m) for m in meds), "≥ 1×",
                         "met" if min(meds) >= 1 else "missed"])
        for lang, base in (("c", "glibc"), ("python", "seed")):
            rs = [r for r in ct["summary"] if r["lang"] == lang and r["impl"] == "ours" and r["read_pct"] == 90 and counter(r)]
            if rs and all(r["ratio"] for r in rs):
                meds = [r["ratio"]["median"] for r in rs]
                rows.append(["%s contended 90/10, %s procs" % ("C" if lang == "c" else "Python",
                                                                ",".join(str(r["procs"]) for r in rs)),
                             " / ".join("%s k/s" % fnum(r["ops_per_s"]["median"] / 1e3) for r in rs),
                             n(base), " / ".join("%s×" % fnum(m) for m in meds), "≥ 1×",
                             "met" if min(meds) >= 1 else "missed"])
        # The write-heavier mixes and the readers that only read have no goal;
        # shown so that the key table hides no weakness.
        for mix, chk in ((90, "data"), (50, "counter"), (10, "counter")):
            rs = [r for r in ct["summary"] if r["lang"] == "c" and r["impl"] == "ours" and r["read_pct"] == mix
                  and check_of(r) == chk]
            if rs and all(r["ratio"] and r.get("ratio_pw") for r in rs):
                rows.append(["C contended %d%% reads%s, %s procs" % (mix, ", readers only read" if chk == "data" else "",
                                                                     ",".join(str(r["procs"]) for r in rs)),
                             " / ".join("%s k/s" % fnum(r["ops_per_s"]["median"] / 1e3) for r in rs),
                             "%s (prefer-writer)" % n("glibc"),
                             "%s (%s)" % (" / ".join("%s×" % fnum(r["ratio"]["median"]) for r in rs),
                                          " / ".join("%s×" % fnum(r["ratio_pw"]["median"]) for r in rs)),
                             "report", ""])
    if s:
        rs = [r for r in s["summary"] if r["impl"] == "ours"]
        if rs:
            worst = max((r.get("p99_ms") or float("inf")) for r in rs)
            never = [r for r in s["summary"] if r["timed_out"] and r["impl"] != "ours"]
            rows.append(["writer/reader wait p99, worst of %d setups" % len(rs), "%s ms" % fnum(worst),
                         "never within the limit: %s" % (", ".join(sorted({"%s (%s)" % (n(r["impl"]), "1 %s vs %d" % (r["victim"], r["n"])) for r in never})) or "none"),
                         "", "bounded", "met" if all(not r["timed_out"] for r in rs) else "missed"])
    if h:
        r = next((r for r in h["summary"] if (r["lang"], r["impl"], r["waiter"]) == ("c", "ours", "write")), None)
        g = next((r for r in h["summary"] if (r["lang"], r["impl"], r["waiter"]) == ("c", "glibc", "write")), None)
        f = next((r for r in h["summary"] if (r["lang"], r["impl"], r["waiter"]) == ("c", "futex", "write")), None)
        if r and g:
            ratio = r["p50_us"] / g["p50_us"]
            floor = ("; bare futex word (kernel floor): %s µs, ours %s× of it"
                     % (fnum(f["p50_us"]), fnum(r["p50_us"] / f["p50_us"]))) if f else ""
            rows.append(["C hand-off to a waiting writer, p50", "%s µs" % fnum(r["p50_us"]),
                         "glibc: %s µs%s" % (fnum(g["p50_us"]), floor), "%s×" % fnum(ratio), "≤ 0.8×",
                         "met" if ratio <= 0.8 else "missed"])
    if rc:
        for lang in ("c", "python"):
            for holder in ("read", "write"):
                r = next((r for r in rc["summary"] if (r["lang"], r["impl"], r["holder"]) == (lang, "ours", holder)), None)
                if not r or not r["ms"]:
                    continue
                others = [x for x in rc["summary"] if x["lang"] == lang and x["holder"] == holder and x["impl"] != "ours"]
                oth = "; ".join("%s: %s" % (n(x["impl"]), ("%s ms" % fnum(x["ms"]["median"])) if x["ms"] else "never")
                                for x in others)
                rows.append(["%s recovery, SIGKILLed %s holder" % ("C" if lang == "c" else "Python", holder),
                             "%s ms" % fnum(r["ms"]["median"]), oth, "", "≤ 20 ms",
                             "met" if r["ms"]["median"] <= 20 else "missed"])
    pt, pp = load(d, "pythreads"), load(d, "pyprocs")
    if pt:
        rows += py_side_rows(pt, "threads", "threads of one process")
    if pp:
        rows += py_side_rows(pp, "procs", "processes")
    pa = load(d, "pyasync")
    if pa:
        rows += pyasync_rows(pa)
    cp = load(d, "capacity")
    if cp:
        rows += capacity_rows(cp)
    fk, sk = load(d, "fork"), load(d, "stack")
    if fk and fk["summary"].get("children"):
        sm = fk["summary"]
        rows.append(["C child forked without exec: first call on an inherited handle",
                     "%s µs" % fnum(sm["first_data_us"]["median"]),
                     "parent's pair: %s ns" % fnum(sm["parent_pair_ns"]), "", "works, no load",
                     "met" if sm["copy_loaded_by_data_plane"] == 0 else "missed"])
        rows.append(["C child: first call that needs the engine (loads the copy)",
                     "%s ms" % fnum(sm["first_engine_ms"]["median"]),
                     "copy: %s kB, %s threads" % (fnum(sm["copy_rss_kb"]["median"]), fnum(sm["copy_threads"]["median"])),
                     "", "report", ""])
        for x in sm.get("depth", []):
            rows.append(["C nested forks, %s" % ("data plane only" if not x["engine"] else "engine in each"),
                         "%d generations" % x["deepest_ok"],
                         "then PRW_EFORKED" if x["failed_at"] and x["rc"] == 1024 else
                         ("then error %d" % x["rc"] if x["failed_at"] else "no failure up to the cap"),
                         "", "report", ""])
    if sk:
        for r in sk["summary"]:
            rows.append(["C %s pair on a malloc'd (makecontext) stack" % r["mode"],
                         "%s ns" % fnum(r["malloc_ns"]["median"]),
                         "thread's stack: %s ns" % fnum(r["thread_ns"]["median"]), fratio(r["ratio"]), "≤ 2×",
                         "met" if r["ratio"]["median"] <= 2 else "missed"])
    if et:
        for r in et["summary"]:
            if not r.get("ratio"):
                continue
            if r["bench"] == "etcd-pair":
                rows.append(["etcd (3 members) uncontended %s pair" % r["mode"], "%s ms" % fnum(r["us"]["median"] / 1e3),
                             "etcd recipe RWMutex: %s ms" % fnum(r["recipe"]["median"] / 1e3), fratio(r["ratio"]), "report", ""])
            else:
                rows.append(["etcd (3 members) contended %d/%d, %s workers" % (r["read_pct"], 100 - r["read_pct"],
                                                                            et["meta"]["config"]["etcd_workers"]),
                             "%s /s" % fnum(r["ops_per_s"]["median"]),
                             "etcd recipe RWMutex: %s /s" % fnum(r["recipe"]["median"]), fratio(r["ratio"]), "report", ""])
    return table(["what", "ours (median)", "baseline, same run", "ratio (min–max)", "goal", ""], rows)


SECTIONS = ("pairs", "contended", "starve", "handoff", "recover", "scale", "capacity", "fork", "stack", "etcd",
            "pythreads", "pyprocs", "pyasync")


def main():
    d = sys.argv[1] if len(sys.argv) > 1 else "docs/bench"
    parts = []
    meta = None
    for name, fn in (("pairs", pairs_md), ("contended", contended_md), ("starve", starve_md),
                     ("handoff", handoff_md), ("recover", recover_md), ("scale", scale_md),
                     ("capacity", capacity_md), ("fork", fork_md), ("stack", stack_md), ("etcd", etcd_md),
                     ("pythreads", lambda x: py_side_md(
                         x, "threads", "Python threads of one process (thousand pairs per second, all threads)",
                         "N threads of one process share one lock; thread 0 is the main thread (its waits are "
                         "sliced, for Ctrl-C).")),
                     ("pyprocs", lambda x: py_side_md(
                         x, "procs", "Python processes (thousand pairs per second, all processes)",
                         "N forked processes share one lock.")),
                     ("pyasync", pyasync_md)):
        x = load(d, name)
        if x:
            meta = meta or x["meta"]
            parts.append(fn(x) + "\n\n_Section run: %s, commit %s%s, %s s, load average %.2f → %.2f._"
                         % (x["meta"]["date"], x["meta"]["commit"], " (dirty)" if x["meta"]["dirty"] else "",
                            x["meta"]["seconds"], x["meta"]["loadavg_start"][0], x["meta"]["loadavg_end"][0]))
    if not meta:
        sys.exit("no results in %s" % d)
    plots = []
    if load(d, "pairs"):
        plot_pairs(load(d, "pairs"), os.path.join(d, "pairs.png"))
        plots.append("pairs.png")
    if load(d, "contended"):
        plot_contended(load(d, "contended"), os.path.join(d, "contended.png"))
        plots.append("contended.png")
    if load(d, "starve"):
        plot_starve(load(d, "starve"), os.path.join(d, "starvation.png"))
        plots.append("starvation.png")
    if load(d, "pythreads") or load(d, "pyprocs"):
        plot_python_contended(load(d, "pythreads"), load(d, "pyprocs"), os.path.join(d, "python-contended.png"))
        plots.append("python-contended.png")
    if load(d, "handoff") and load(d, "recover"):
        plot_latency(load(d, "handoff"), load(d, "recover"), os.path.join(d, "latency.png"))
        plots.append("latency.png")
    m = meta["machine"]
    head = ("# Benchmark results\n\nGenerated by `tests/bench/render.py` from the JSON files beside this one; "
            "do not edit by hand. Machine: %s CPUs, Linux %s, glibc %s, Python %s, %s. Baselines: %s.%s\n\n"
            % (m["cpus"], m["kernel"], m["glibc"], m["python"], m["go"],
               ", ".join("%s %s" % kv for kv in meta["baselines"].items()),
               " **Quick run: few repetitions, indicative only.**" if meta["quick"] else ""))
    key = key_table(d)
    body = head + "## Key figures\n\n" + key + "\n\n" + "\n\n".join("![%s](%s)" % (p, p) for p in plots) + \
        "\n\n## All tables\n\n" + "\n\n".join(parts) + "\n"
    with open(os.path.join(d, "RESULTS.md"), "w") as f:
        f.write(body)
    readme = os.path.join(d, "README.md")
    if os.path.exists(readme):
        with open(readme) as f:
            txt = f.read()
        runs = sorted({(x["meta"]["date"], x["meta"]["commit"]) for x in (load(d, n) for n in SECTIONS) if x})
        src = ("the run of %s (commit %s)" % runs[0] if len(runs) == 1 else
               "the runs of " + ", ".join("%s (commit %s)" % r for r in runs))
        new = re.sub(r"(<!-- BEGIN key-table -->\n).*?(<!-- END key-table -->)",
                     lambda mm: mm.group(1) + key + "\n\n_From %s._\n" % src + mm.group(2),
                     txt, flags=re.S)
        if new != txt:
            with open(readme, "w") as f:
                f.write(new)
    print("rendered %s: RESULTS.md, %s" % (d, ", ".join(plots)))


if __name__ == "__main__":
    main()
