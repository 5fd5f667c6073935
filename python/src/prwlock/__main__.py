"""Command line: ``python -m prwlock list | inspect NAME | watch NAME | unlink NAME``."""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from typing import Any, Dict, List, Optional, Sequence, Tuple

from . import Holder, LockNotFoundError, PrwlockError, RWLock, Stats
from ._paths import PREFIX, SHM_DIR, display_name


def _open(name: str, multiuser: bool = False) -> RWLock:
    # Never create, and by default refuse what another user could have
    # planted (README, Permissions): inspecting attaches to the lock.
    return RWLock(name, create=False, multiuser=multiuser)


#: Owners with this bit set are not threads: the Go package makes them up for
#: its sync.RWMutex-style methods (lock/api.go, syntheticOwnerBit).
GO_OWNER_BIT = 1 << 31


def _thread(tid: int) -> str:
    """A holder's thread as a person reads it: the kernel tid, or Go#N for a Go hold."""
    if tid & GO_OWNER_BIT:
        return "Go#%d" % (tid & ~GO_OWNER_BIT)
    return str(tid)


def _others(attached: int) -> int:
    """Processes attached besides this command, which attaches to look."""
    return max(0, attached - 1)


def _plural(n: int, one: str, many: str) -> str:
    return "%d %s" % (n, one if n == 1 else many)


def _stats_dict(lock: RWLock) -> Dict[str, Any]:
    out = dict(lock.stats()._asdict())
    out["attached"] = _others(out["attached"])
    return out


def cmd_list(args: argparse.Namespace) -> int:
    try:
        entries = sorted(e for e in os.listdir(SHM_DIR) if e.startswith(PREFIX))
    except FileNotFoundError:
        entries = []
    rows: List[Dict[str, Any]] = []
    for entry in entries:
        path = os.path.join(SHM_DIR, entry)
        row: Dict[str, Any] = {"name": display_name(path), "path": path}
        try:
            with _open(path, args.multiuser) as lock:
                row.update(_stats_dict(lock))
        except (PrwlockError, OSError) as exc:
            row["error"] = exc.strerror or str(exc)
        rows.append(row)
    if args.json:
        json.dump(rows, sys.stdout, indent=2)
        sys.stdout.write("\n")
        return 0
    if not rows:
        print("no prwlock locks in %s" % SHM_DIR)
        return 0
    header = ("NAME", "READERS", "WRITER", "WAIT-R", "WAIT-W", "SLOTS", "ATTACHED", "STATE")
    table: List[Sequence[str]] = [header]
    for r in rows:
        if "error" in r:
            table.append((r["name"], "-", "-", "-", "-", "-", "-", "error: " + r["error"]))
            continue
        writer = "%d/%s" % (r["writer_pid"], _thread(r["writer_tid"])) if r["writer_pid"] else "-"
        state = "OWNER DIED" if r["owner_dead"] else "ok"
        table.append(
            (
                r["name"],
                str(r["readers"]),
                writer,
                str(r["waiting_readers"]),
                str(r["waiting_writers"]),
                "%d/%d" % (r["used_slots"], r["capacity"]),
                str(r["attached"]),
                state,
            )
        )
    _print_table(table)
    return 0


def _table_lines(rows: Sequence[Sequence[str]]) -> List[str]:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    return ["  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in rows]


def _print_table(rows: Sequence[Sequence[str]]) -> None:
    for line in _table_lines(rows):
        print(line)


def _age(since: Optional[float], now: float) -> str:
    if since is None:
        return "?"
    secs = max(0.0, now - since)
    if secs < 1:
        return "%dms" % (secs * 1000)
    if secs < 120:
        return "%.1fs" % secs
    return "%dm%02ds" % (secs // 60, secs % 60)


def _snapshot(lock: RWLock) -> Tuple[Stats, List[Holder]]:
    st = lock.stats()
    return st._replace(attached=_others(st.attached)), lock.holders()


def _inspect_lines(name: str, path: str, st: Stats, holders: List[Holder], now: float) -> List[str]:
    """The text of ``inspect``: the lock's state, then its holders and waiters."""
    lines = ["lock      %s (%s)" % (name, path)]
    if st.writer_pid:
        writer = "pid %d thread %s (%s)" % (
            st.writer_pid, _thread(st.writer_tid), "holding" if st.writer_active else "draining readers"
        )
    else:
        writer = "none"
    lines.append("readers   %d" % st.readers)
    lines.append("writer    %s" % writer)
    lines.append("waiting   %s, %s" % (_plural(st.waiting_readers, "reader", "readers"),
                                       _plural(st.waiting_writers, "writer", "writers")))
    attached = _plural(st.attached, "other process", "other processes") if st.attached else "no other process"
    # A remote lock has no slot table: capacity 0 means no limit.
    cap = "%d of %d used" % (st.used_slots, st.capacity) if st.capacity else "%d used (no limit)" % st.used_slots
    lines.append("slots     %s; %s attached" % (cap, attached))
    lines.append("recovered %s; %s" % (_plural(st.recoveries, "dead holder", "dead holders"),
                                       _plural(st.owner_deaths, "writer died", "writers died") + " holding it"))
    if st.owner_dead:
        lines.append("STATE     OWNER DIED: a writer died holding it; data may be inconsistent")
    lines.append("")
    if not holders:
        lines.append("no holders or waiters")
        return lines
    table: List[Sequence[str]] = [("PID", "TID", "MODE", "STATE", "COUNT", "FOR")]
    for h in sorted(holders, key=lambda h: (h.waiting, h.since or 0.0)):
        table.append(
            (
                str(h.pid),
                _thread(h.tid),
                h.mode,
                "waiting" if h.waiting else "holding",
                str(h.count) if h.mode == "read" and not h.waiting else "-",
                _age(h.since, now),
            )
        )
    return lines + _table_lines(table)


def cmd_inspect(args: argparse.Namespace) -> int:
    try:
        lock = _open(args.name, args.multiuser)
    except LockNotFoundError:
        print("prwlock: no lock named %r" % args.name, file=sys.stderr)
        return 1
    with lock:
        st, holders = _snapshot(lock)
        path = lock.path
    if args.json:
        out = {
            "name": args.name,
            "path": path,
            "stats": dict(st._asdict()),
            "holders": [dict(h._asdict()) for h in holders],
        }
        json.dump(out, sys.stdout, indent=2)
        sys.stdout.write("\n")
        return 0
    print("\n".join(_inspect_lines(args.name, path, st, holders, time.monotonic())))
    return 0


#: ANSI: cursor home, clear the screen.
_CLEAR = "\x1b[H\x1b[2J"


def cmd_watch(args: argparse.Namespace) -> int:
    if args.interval <= 0:
        print("prwlock: --interval must be positive", file=sys.stderr)
        return 2
    try:
        lock = _open(args.name, args.multiuser)
    except LockNotFoundError:
        print("prwlock: no lock named %r" % args.name, file=sys.stderr)
        return 1
    # A terminal gets the screen redrawn in place; a pipe gets one block per
    # refresh, separated by a blank line.
    tty = sys.stdout.isatty()
    shown = 0
    try:
        with lock:
            path = lock.path
            while True:
                st, holders = _snapshot(lock)
                head = "every %gs: prwlock inspect %s    %s" % (
                    args.interval, args.name, time.strftime("%Y-%m-%d %H:%M:%S"))
                text = "\n".join([head, ""] + _inspect_lines(args.name, path, st, holders, time.monotonic()))
                sys.stdout.write((_CLEAR if tty else ("\n" if shown else "")) + text + "\n")
                sys.stdout.flush()
                shown += 1
                if args.count and shown >= args.count:
                    return 0
                time.sleep(args.interval)
    except KeyboardInterrupt:
        return 0


def cmd_unlink(args: argparse.Namespace) -> int:
    try:
        RWLock.unlink(args.name)
    except LockNotFoundError:
        print("prwlock: no lock named %r" % args.name, file=sys.stderr)
        return 1
    return 0


_MULTIUSER_HELP = (
    "also attach to locks owned by other users or writable by them "
    "(by default refused: another user could have planted them)"
)


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Run the command line; return the exit status."""
    parser = argparse.ArgumentParser(
        prog="python -m prwlock",
        description="Inspect and manage prwlock locks.",
        epilog="TID is the holder's kernel thread id; holds taken through the Go package's "
        "RWMutex-style methods belong to no thread and show as Go#N. Attached counts do not "
        "include this command, which attaches to the lock to look at it.",
    )
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("list", help="list the locks in %s with their state" % SHM_DIR)
    p.add_argument("--json", action="store_true", help="print JSON")
    p.add_argument("--multiuser", action="store_true", help=_MULTIUSER_HELP)
    p.set_defaults(func=cmd_list)
    p = sub.add_parser("inspect", help="show a lock's holders, waiters and recoveries")
    p.add_argument("name", help="lock name (as given to RWLock) or path")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.add_argument("--multiuser", action="store_true", help=_MULTIUSER_HELP)
    p.set_defaults(func=cmd_inspect)
    p = sub.add_parser("watch", help="show inspect's view of a lock, refreshed until Ctrl-C")
    p.add_argument("name", help="lock name (as given to RWLock) or path")
    p.add_argument("-n", "--interval", type=float, default=1.0, help="seconds between refreshes (default 1)")
    p.add_argument("--count", type=int, default=0, help="stop after this many refreshes (default: never)")
    p.add_argument("--multiuser", action="store_true", help=_MULTIUSER_HELP)
    p.set_defaults(func=cmd_watch)
    p = sub.add_parser("unlink", help="remove a named lock (of your own, or root's)")
    p.add_argument("name", help="lock name (as given to RWLock) or path")
    p.set_defaults(func=cmd_unlink)
    args = parser.parse_args(argv)
    try:
        return int(args.func(args))
    except PrwlockError as exc:
        print("prwlock: %s" % exc, file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
