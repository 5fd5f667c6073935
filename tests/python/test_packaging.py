"""The wheel (with its Go build hook), the library search order and its error."""

from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile

import pytest

from conftest import LIBRARY, ROOT, child_env

PROBE = "import prwlock, prwlock._lib as L; l = prwlock.RWLock(); print(prwlock.__file__); print(L.get().path); l.close()"

ETCD_PROBE = (
    "import prwlock\n"
    "try:\n    prwlock.RWLock('etcd://127.0.0.1:1/x?timeout=300ms')\n"
    "except prwlock.LockUnavailableError:\n    print('unavailable')\n"
)


@pytest.mark.timeout(300)
def test_wheel_contains_the_library(tmp_path):
    out = tmp_path / "dist"
    env = child_env()
    r = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation",
         "--disable-pip-version-check", "-q", "-w", str(out), str(ROOT / "python")],
        capture_output=True, text=True, env=env, timeout=280,
    )
    assert r.returncode == 0, r.stderr[-3000:]
    (wheel,) = out.glob("prwlock-*.whl")
    assert "none-any" not in wheel.name  # a platform wheel: it carries a binary
    with zipfile.ZipFile(wheel) as z:
        names = z.namelist()
        assert "prwlock/libprwlock.so" in names and "prwlock/py.typed" in names
        z.extractall(tmp_path / "site")
    env["PYTHONPATH"] = str(tmp_path / "site")
    r = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True, env=env, timeout=60)
    assert r.returncode == 0, r.stderr
    mod, lib = r.stdout.split()
    assert mod.startswith(str(tmp_path / "site")) and lib == str(tmp_path / "site" / "prwlock" / "libprwlock.so")
    # The wheel's library has the etcd backend: a URL reaches for a server
    # (ENOTCONN here, none listens) instead of ENOSYS.
    r = subprocess.run([sys.executable, "-c", ETCD_PROBE], capture_output=True, text=True, env=env, timeout=60)
    assert r.stdout.strip() == "unavailable", (r.stdout, r.stderr)


def test_env_override(tmp_path):
    custom = tmp_path / "custom-libprwlock.so"
    shutil.copyfile(LIBRARY, custom)
    env = child_env()
    env["PRWLOCK_LIBRARY"] = str(custom)
    r = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True, env=env, timeout=60)
    assert r.returncode == 0, r.stderr
    assert r.stdout.split()[1] == str(custom)


def test_dev_checkout_finds_build_dir():
    r = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True, env=child_env(), timeout=60)
    assert r.returncode == 0, r.stderr
    assert r.stdout.split()[1] == str(LIBRARY)


def test_load_error_lists_every_path(tmp_path):
    pkg = tmp_path / "a" / "b" / "prwlock"
    shutil.copytree(ROOT / "python" / "src" / "prwlock", pkg)
    env = child_env()
    env["PYTHONPATH"] = str(pkg.parent)
    env["PRWLOCK_LIBRARY"] = str(tmp_path / "nope.so")
    code = (
        "import prwlock\n"
        "try:\n    prwlock.RWLock()\n"
        "except prwlock.LibraryLoadError as e:\n    print(e)\n"
    )
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=60)
    assert r.returncode == 0, r.stderr
    for path in (tmp_path / "nope.so", pkg / "libprwlock.so", tmp_path / "build" / "libprwlock.so"):
        assert str(path) in r.stdout, r.stdout
