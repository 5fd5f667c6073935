"""The documentation's Python snippets and prwlock 0.4.1-style programs, run as written.

``compat041/`` holds programs written the way prwlock 0.4.1's documentation
taught: the bare constructor, a lock handed to Pool workers, the context
managers. The README snippets are read from README.md and python/README.md
at test time, so a snippet that stops working fails here.
"""

from __future__ import annotations

import fcntl
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import List, Tuple

import pytest

from conftest import ROOT, START_METHODS, child_env

COMPAT = Path(__file__).resolve().parent / "compat041"
READMES = [ROOT / "README.md", ROOT / "python" / "README.md"]
# The snippets share the lock name "jobs" with the C snippet (see
# tests/consumer/run_readme.sh): its file is removed after them unless it
# existed before.
JOBS = Path("/dev/shm/prwlock.jobs")


def run(args: List[str], cwd: Path, timeout: float = 90) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable] + args, capture_output=True, text=True,
                          env=child_env(), timeout=timeout, cwd=str(cwd))


def readme_snippets() -> List[Tuple[str, str]]:
    out = []
    for readme in READMES:
        blocks = re.findall(r"^```python\n(.*?)^```", readme.read_text(), re.M | re.S)
        assert blocks, "no Python snippet in %s" % readme
        out += [("%s #%d" % (readme.relative_to(ROOT), i + 1), b) for i, b in enumerate(blocks)]
    return out


@pytest.mark.timeout(180)
def test_readme_snippets_as_written(tmp_path):
    # One test for all snippets: they share a lock name, so they must not run
    # side by side (pytest-xdist), nor beside another checkout's run of them
    # on this machine (the flock on /dev/shm, which the C snippet's test
    # takes too).
    fd = os.open("/dev/shm", os.O_RDONLY)
    fcntl.flock(fd, fcntl.LOCK_EX)
    existed = JOBS.exists()
    try:
        for where, code in readme_snippets():
            script = tmp_path / "snippet.py"
            script.write_text(code)
            r = run([str(script)], tmp_path)
            assert r.returncode == 0, "%s failed:\n%s\n%s" % (where, code, r.stderr)
            assert "Traceback" not in r.stderr, (where, r.stderr)
    finally:
        if not existed and JOBS.exists():
            JOBS.unlink()
        os.close(fd)


def test_compat_create(tmp_path):
    r = run([str(COMPAT / "create.py")], tmp_path)
    assert r.returncode == 0, r.stderr
    assert r.stdout.split() == ["RWLock"]


def test_compat_context_managers(tmp_path):
    r = run([str(COMPAT / "context.py")], tmp_path)
    assert r.returncode == 0, r.stderr
    assert r.stdout.splitlines() == ["inside the reader lock", "inside the writer lock"]
    assert not r.stderr, r.stderr


@pytest.mark.timeout(120)
@pytest.mark.parametrize("method", START_METHODS)
def test_compat_pool(method, tmp_path):
    """The lock, pickled into 10 Pool workers, under every start method (0.4.1: fork only)."""
    r = run([str(COMPAT / "pool.py"), method], tmp_path, timeout=110)
    assert r.returncode == 0, r.stderr
    assert "Traceback" not in r.stderr, r.stderr
    # Workers write to one pipe, so their lines may interleave: count phrases.
    assert r.stdout.count("got the read lock") == 20, r.stdout[-2000:]
    assert r.stdout.count("giving it back") == 20
    assert r.stdout.splitlines()[-1] == "rounds 20"
