"""`make docs`: the API reference builds from the docstrings, warnings as errors."""

from __future__ import annotations

import subprocess
import sys

import pytest

from conftest import ROOT

sphinx = pytest.importorskip("sphinx", reason="sphinx is pinned in python/requirements-test.txt (CPython 3.11+)")


@pytest.mark.slow
def test_api_reference_builds(tmp_path):
    out = tmp_path / "html"
    p = subprocess.run(
        [sys.executable, "-m", "sphinx", "-b", "html", "-W", "--keep-going", "-q", str(ROOT / "docs" / "python"), str(out)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert p.returncode == 0, p.stdout + p.stderr
    api = (out / "api.html").read_text()
    # Every public name of the package is documented.
    import prwlock

    for name in prwlock.__all__:
        if name.startswith("_") or name == "PTHREAD_PROCESS_SHARED":
            continue
        assert "prwlock.%s" % name in api, name
    for method in ("acquire_read", "writer_lock", "holders", "downgrade"):
        assert method in api, method
