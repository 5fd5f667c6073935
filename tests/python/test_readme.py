"""The seed README's examples (prwlock 0.4.1), run as written."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import ROOT, child_env

README = Path(os.environ.get("PRWLOCK_SEED_README", ROOT.parent / "shared" / "seed" / "prwlock-0.4.1-README.rst"))


def python_blocks():
    assert README.is_file(), "seed README not found at %s (set PRWLOCK_SEED_README)" % README
    text = README.read_text()
    blocks = []
    for m in re.finditer(r"\.\. code-block:: python\n\n((?:    .*\n|\n)+)", text):
        code = "\n".join(line[4:] for line in m.group(1).splitlines())
        blocks.append(code.strip() + "\n")
    assert len(blocks) == 3, blocks
    return blocks


def run(code: str, tmp_path: Path, timeout: float = 90):
    script = tmp_path / "example.py"
    script.write_text(code)
    return subprocess.run([sys.executable, str(script)], capture_output=True, text=True,
                          env=child_env(), timeout=timeout, cwd=str(tmp_path))


@pytest.mark.parametrize("index", [0, 1, 2])
def test_example_as_written(index, tmp_path):
    code = python_blocks()[index]
    r = run(code, tmp_path)
    assert r.returncode == 0, r.stderr
    assert "Traceback" not in r.stderr and "Error" not in r.stderr, r.stderr
    if index == 2:
        assert r.stdout.splitlines() == ["Reading data", "Writing data"]


@pytest.mark.parametrize("method", ["fork", "spawn", "forkserver"])
def test_pool_example_runs_to_completion(method, tmp_path):
    """The Pool example with its 20 children, waited for, under each start method."""
    code = python_blocks()[1]
    # Only the scaffolding a spawn/forkserver program needs is added; the
    # example's own lines are untouched.
    head, sep, tail = code.partition("r = RWLock()")
    assert sep
    body = "\n".join("    " + line for line in (sep + tail).splitlines())
    program = (
        head
        + "if __name__ == '__main__':\n"
        + "    import multiprocessing; multiprocessing.set_start_method(%r)\n" % method
        + body
        + "\n    pool.close()\n    pool.join()\n"
    )
    r = run(program, tmp_path)
    assert r.returncode == 0, r.stderr
    # Children write to one pipe, so their lines may interleave: count phrases.
    assert r.stdout.count("Releasing lock") == 40, r.stdout[-2000:]
    assert r.stdout.count("Acquiring read lock") == 40
    assert "Traceback" not in r.stderr, r.stderr
