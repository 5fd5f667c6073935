"""Nothing is left in /dev/shm: users that exit, users that are SIGKILLed."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from conftest import child_env, wait_gone

SCRIPT = r"""
import multiprocessing as mp, os, signal, sys, time
from prwlock import RWLock

def hold(lock, ready):
    lock.acquire_read()
    ready.set()
    time.sleep(60)

if __name__ == "__main__":
    method, how = sys.argv[1], sys.argv[2]
    ctx = mp.get_context(method)
    lock = RWLock()
    print(lock.path, flush=True)
    ready = ctx.Event()
    p = ctx.Process(target=hold, args=(lock, ready))
    p.start()
    ready.wait(30)
    if how == "kill-child":
        os.kill(p.pid, signal.SIGKILL)
        p.join()
    elif how == "kill-all":
        # Everyone holding the lock dies: the resource tracker cleans up.
        os.kill(p.pid, signal.SIGKILL)
        os.kill(os.getpid(), signal.SIGKILL)
    elif how == "child-outlives":
        lock.close()
        os.kill(p.pid, signal.SIGKILL)
        p.join()
    else:
        p.kill()
        p.join()
"""


@pytest.mark.parametrize("method", ["fork", "spawn", "forkserver"])
@pytest.mark.parametrize("how", ["exit", "kill-child", "kill-all", "child-outlives"])
def test_anonymous_lock_leaves_nothing(tmp_path, method, how):
    script = tmp_path / "s.py"
    script.write_text(SCRIPT)
    r = subprocess.run([sys.executable, str(script), method, how], capture_output=True, text=True,
                       env=child_env(), timeout=60)
    path = Path(r.stdout.split()[0])
    assert path.name.startswith("prwlock.anon."), r.stdout
    if how != "kill-all":
        assert r.returncode == 0, r.stderr
    left = wait_gone([path], timeout=10)
    assert not left, (how, r.stderr)
    if how in ("exit", "kill-child"):
        # A live user removed it: the tracker had nothing to clean, so no noise.
        assert "leaked" not in r.stderr and "Traceback" not in r.stderr, r.stderr
