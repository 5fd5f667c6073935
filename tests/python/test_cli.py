"""python -m prwlock list | inspect | unlink."""

from __future__ import annotations

import json
import os

import subprocess
import sys
import threading

from conftest import child_env
from prwlock import RWLock


def cli(*args):
    return subprocess.run([sys.executable, "-m", "prwlock", *args], capture_output=True, text=True, env=child_env(), timeout=60)


def test_list_inspect_unlink(lock_name):
    lock = RWLock(lock_name)
    lock.acquire_read()
    r = cli("list")
    assert r.returncode == 0, r.stderr
    assert lock_name in r.stdout and "READERS" in r.stdout
    r = cli("inspect", lock_name)
    assert r.returncode == 0, r.stderr
    assert "readers   1" in r.stdout
    assert str(os.getpid()) in r.stdout and "read" in r.stdout and "holding" in r.stdout
    r = cli("inspect", "--json", lock_name)
    data = json.loads(r.stdout)
    assert data["stats"]["readers"] == 1 and data["holders"][0]["pid"] == os.getpid()
    r = cli("list", "--json")
    assert any(e["name"] == lock_name for e in json.loads(r.stdout))
    lock.release()
    r = cli("unlink", lock_name)
    assert r.returncode == 0 and not os.path.exists(lock.path)
    r = cli("unlink", lock_name)
    assert r.returncode == 1 and "no lock" in r.stderr
    r = cli("inspect", lock_name)
    assert r.returncode == 1
    lock.close()


def test_usage_error():
    r = cli()
    assert r.returncode == 2


def test_inspect_counts_other_processes_in_plain_words(lock_name):
    """The inspector attaches to look; it does not count itself."""
    lock = RWLock(lock_name)
    lock.acquire_write()
    try:
        r = cli("inspect", lock_name)
        assert r.returncode == 0, r.stderr
        assert "1 other process attached" in r.stdout, r.stdout
        assert "thread %d (holding)" % threading.get_native_id() in r.stdout, r.stdout
        assert "0 readers, 0 writers" in r.stdout and "0 dead holders" in r.stdout
        data = json.loads(cli("inspect", "--json", lock_name).stdout)
        assert data["stats"]["attached"] == 1
        (row,) = [e for e in json.loads(cli("list", "--json").stdout) if e["name"] == lock_name]
        assert row["attached"] == 1
    finally:
        lock.release()
        lock.close()
    r = cli("inspect", lock_name)
    assert "no other process attached" in r.stdout, r.stdout
    RWLock.unlink(lock_name)


def test_go_holds_show_as_go_not_as_a_tid():
    from prwlock.__main__ import _thread

    assert _thread(4242) == "4242"
    assert _thread(0x80000001) == "Go#1"
    assert _thread(0x80000000 | 77) == "Go#77"


def test_watch_refreshes_the_holders_table(lock_name):
    """watch redraws inspect's view: a hold taken between refreshes shows up."""
    lock = RWLock(lock_name)
    p = subprocess.Popen([sys.executable, "-m", "prwlock", "watch", lock_name, "-n", "0.2", "--count", "15"],
                         stdout=subprocess.PIPE, text=True, env=child_env())
    try:
        first = []
        for line in p.stdout:
            first.append(line)
            if line.startswith("no holders or waiters"):
                break
        assert any(line.startswith("every 0.2s: prwlock inspect %s" % lock_name) for line in first), first
        lock.acquire_write()
        rest = []
        for line in p.stdout:
            rest.append(line)
            if "write" in line and "holding" in line:
                break
        else:
            raise AssertionError("the write hold never showed: %r" % rest[-12:])
        assert str(os.getpid()) in rest[-1]
        lock.release()
    finally:
        p.stdout.read()
        assert p.wait(30) == 0
        p.stdout.close()
        lock.close()


def test_watch_json_and_bad_interval(lock_name):
    lock = RWLock(lock_name)
    r = cli("watch", lock_name, "-n", "0")
    assert r.returncode == 2 and "interval" in r.stderr
    r = cli("watch", lock_name + "-missing", "--count", "1")
    assert r.returncode == 1 and "no lock" in r.stderr
    r = cli("watch", lock_name, "--count", "1")
    assert r.returncode == 0 and r.stdout.count("prwlock inspect") == 1
    lock.close()
