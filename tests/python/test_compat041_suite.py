"""prwlock 0.4.1's own test suite, run against this package (drop-in guarantee).

The suite comes from the seed's sdist, which `make build` fetches into
build/compat041/ pinned by hash (python/compat041.txt). Its tests run
unchanged in a child pytest, with this package first on the path, except
the ones listed in SKIPPED, which poke at the seed's private pthread and
mmap internals (README, "Drop-in for prwlock 0.4.1").
"""

from __future__ import annotations

import hashlib
import re
import subprocess
import sys
import tarfile

import pytest

from conftest import ROOT, child_env

SDIST = ROOT / "build" / "compat041" / "prwlock-0.4.1.tar.gz"

#: test id -> why it cannot apply to this package.
SKIPPED = {
    "test_prwlock.py::RWLockTestCase::test_deserialization":
        "compares the private _fd attribute (the seed pickles a raw descriptor; we pickle a token)",
    "test_prwlock.py::RWLockTestCase::test_cleanup": "closes the private _fd descriptor by hand",
    "test_prwlock.py::RWLockTestCase::test_wrong_constant":
        "expects a bogus PTHREAD_PROCESS_SHARED to break pthread_rwlockattr_setpshared; no pthread lock here",
    "test_wrwlock.py::RWLockTestCase::test_deserialization": "compares the private _mtag attribute",
}


def _sha256(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_seed_suite_passes(tmp_path):
    if not SDIST.exists():
        pytest.fail("%s is missing: run 'make build' (it fetches prwlock 0.4.1's sdist, pinned by hash)" % SDIST)
    pin = re.search(r"sha256:([0-9a-f]{64})", (ROOT / "python" / "compat041.txt").read_text()).group(1)
    assert _sha256(SDIST) == pin
    with tarfile.open(SDIST) as tar:
        for member in tar.getmembers():
            if re.fullmatch(r"prwlock-0\.4\.1/prwlock/tests/test_\w+\.py", member.name):
                (tmp_path / member.name.rsplit("/", 1)[1]).write_bytes(tar.extractfile(member).read())
    files = sorted(p.name for p in tmp_path.glob("test_*.py"))
    assert files == ["test_prwlock.py", "test_wrwlock.py"]
    args = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-o", "addopts=", "-rA",
            "-W", "ignore::DeprecationWarning"]
    for test_id in SKIPPED:
        args += ["--deselect", test_id]
    p = subprocess.run(args + files, cwd=tmp_path, env=child_env(), capture_output=True, text=True, timeout=280)
    out = p.stdout + p.stderr
    assert p.returncode == 0, out
    passed = set(re.findall(r"^PASSED (\S+)", p.stdout, re.M))
    # Every test of the seed's suite ran, but the skipped ones.
    assert len(passed) == 16 and not passed & set(SKIPPED), out
    assert "test_prwlock.py::RWLockTestCase::test_child_interaction" in passed
