"""Fixtures for the prwlock Python tests."""

from __future__ import annotations

import multiprocessing
import os
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Callable, Iterator, List, Set

import pytest

ROOT = Path(__file__).resolve().parents[2]
LIBRARY = ROOT / "build" / "libprwlock.so"
SHM = Path("/dev/shm")
START_METHODS = ["fork", "spawn", "forkserver"]

sys.path.insert(0, str(Path(__file__).resolve().parent))


def pytest_configure(config: pytest.Config) -> None:
    if not LIBRARY.exists():
        raise pytest.UsageError("build/libprwlock.so is missing: run 'make build' first")


def shm_prwlock_files() -> Set[str]:
    return {p.name for p in SHM.glob("prwlock.*")}


@pytest.fixture(scope="session", autouse=True)
def no_leftovers_in_session() -> Iterator[None]:
    """Fail the session if files appear in /dev/shm that nobody removes.

    Files from other suites running at the same time are ignored by looking
    only at names that carry this session's marker or at anonymous locks
    created by this test process's pid.
    """
    yield
    pid = os.getpid()
    mine = [
        SHM / n
        for n in shm_prwlock_files()
        if n.startswith("prwlock.anon.%d." % pid) or n.startswith("prwlock.pytest-%d-" % pid)
    ]
    # Let interpreter-exit style cleanup (finalizers of dead lock objects) run.
    import gc

    gc.collect()
    left = wait_gone(mine, timeout=5.0)
    # A file whose every user was SIGKILLed (a test kills the last process
    # that had it open) is an orphan: the resource tracker unlinks it when
    # this process exits, and the suite-level leftovers check, which runs
    # after that, proves it. A file still mapped by a live process is a
    # handle this session forgot to close: that fails here.
    held = {str(p): users for p in left for users in [mapped_by(p)] if users}
    assert not held, "still open at the end of the test session (path: pids): %s" % held


def mapped_by(path: Path) -> List[int]:
    """The pids of the live processes that map *path*."""
    pids = []
    for d in Path("/proc").iterdir():
        if not d.name.isdigit():
            continue
        try:
            maps = (d / "maps").read_text()
        except OSError:
            continue
        if str(path) in maps:
            pids.append(int(d.name))
    return pids


@pytest.fixture
def lock_name(request: pytest.FixtureRequest) -> Iterator[str]:
    """A unique bare lock name, unlinked (if it still exists) after the test."""
    name = "pytest-%d-%s" % (os.getpid(), uuid.uuid4().hex[:12])
    yield name
    path = SHM / ("prwlock." + name)
    if path.exists():
        from prwlock import RWLock

        RWLock.unlink(name)


@pytest.fixture(params=START_METHODS)
def ctx(request: pytest.FixtureRequest) -> multiprocessing.context.BaseContext:
    """A multiprocessing context for each start method."""
    return multiprocessing.get_context(request.param)


def child_env() -> dict:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(
        [str(ROOT / "python" / "src"), str(Path(__file__).resolve().parent)]
        + ([env["PYTHONPATH"]] if env.get("PYTHONPATH") else [])
    )
    env.pop("PRWLOCK_LIBRARY", None)
    return env


def run_python(code: str, timeout: float = 60, **kw) -> subprocess.CompletedProcess:
    """Run *code* in a fresh interpreter with the dev package importable."""
    return subprocess.run(
        [sys.executable, "-c", code],
        env=kw.pop("env", child_env()),
        capture_output=True,
        text=True,
        timeout=timeout,
        **kw,
    )


def wait_gone(paths: List[Path], timeout: float = 5.0) -> List[Path]:
    """Wait until none of *paths* exists; return those still there."""
    deadline = time.monotonic() + timeout
    while True:
        left = [p for p in paths if p.exists()]
        if not left or time.monotonic() > deadline:
            return left
        time.sleep(0.02)


OTHER_UID = 65534
SETPRIV = "/usr/bin/setpriv"


@pytest.fixture(scope="session")
def as_other_user() -> Iterator[Callable[..., subprocess.CompletedProcess]]:
    """A function that runs Python code as uid 65534, with no groups.

    The repository may live under a directory that user cannot enter, so the
    package and the library are copied into a fresh 0755 directory under
    /tmp, removed at the end of the session; the child runs the venv's base
    interpreter. Skips the test when not root, without setpriv, or when that
    user cannot run the interpreter.
    """
    if os.geteuid() != 0:
        pytest.skip("needs root to run a child as another user")
    if not os.access(SETPRIV, os.X_OK):
        pytest.skip("needs %s" % SETPRIV)
    d = tempfile.mkdtemp(prefix="prwlock-asuser-")
    try:
        shutil.copytree(ROOT / "python" / "src" / "prwlock", os.path.join(d, "prwlock"),
                        ignore=shutil.ignore_patterns("__pycache__"))
        lib = shutil.copyfile(LIBRARY, os.path.join(d, "libprwlock.so"))
        for top, dirs, files in os.walk(d):
            os.chmod(top, 0o755)
            for f in files:
                os.chmod(os.path.join(top, f), 0o644)
        python = os.path.realpath(sys.executable)
        env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": d, "PRWLOCK_LIBRARY": lib, "PYTHONDONTWRITEBYTECODE": "1"}
        argv = [SETPRIV, "--reuid=%d" % OTHER_UID, "--regid=%d" % OTHER_UID, "--clear-groups", python, "-c"]

        def run(code: str, timeout: float = 60) -> subprocess.CompletedProcess:
            return subprocess.run(argv + [code], env=env, cwd=d, capture_output=True, text=True, timeout=timeout)

        probe = run("import prwlock; prwlock.library_version()")
        if probe.returncode != 0:
            pytest.skip("uid %d cannot run %s: %s" % (OTHER_UID, python, probe.stderr.strip()[-300:]))
        yield run
    finally:
        shutil.rmtree(d, ignore_errors=True)
