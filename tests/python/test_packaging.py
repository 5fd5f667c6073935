"""The wheel (with its Go build hook), the library search order and its error."""

from __future__ import annotations

import platform
import re
import shutil
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

import pytest

from conftest import LIBRARY, ROOT, child_env

PROBE = "import prwlock, prwlock._lib as L; l = prwlock.RWLock(); print(prwlock.__file__); print(L.get().path); l.close()"


def build_wheel(source, out, env) -> "Path":
    r = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation",
         "--disable-pip-version-check", "-q", "-w", str(out), str(source)],
        capture_output=True, text=True, env=env, timeout=280,
    )
    assert r.returncode == 0, r.stderr[-3000:]
    (wheel,) = out.glob("prwlock-*.whl")
    return wheel


def glibc_needed(lib) -> str:
    out = subprocess.run(["objdump", "-T", str(lib)], capture_output=True, text=True, check=True).stdout
    return "%d_%d" % max(tuple(int(x) for x in v.split(".")) for v in re.findall(r"GLIBC_([0-9.]+[0-9])", out))[:2]


def check_wheel(wheel, site, env):
    # Any CPython 3 (ctypes only), one platform: the newest glibc the library needs.
    with zipfile.ZipFile(wheel) as z:
        names = z.namelist()
        assert "prwlock/libprwlock.so" in names and "prwlock/py.typed" in names
        assert "prwlock-1.0.0.dist-info/licenses/LICENSE" in names
        z.extractall(site)
    lib = site / "prwlock" / "libprwlock.so"
    want = "prwlock-1.0.0-py3-none-manylinux_%s_%s.whl" % (glibc_needed(lib), platform.machine())
    assert wheel.name == want
    sections = subprocess.run(["objdump", "-h", str(lib)], capture_output=True, text=True, check=True).stdout
    assert ".symtab" not in sections and ".debug_info" not in sections, "library not stripped"
    env["PYTHONPATH"] = str(site)
    r = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True, env=env, timeout=60)
    assert r.returncode == 0, r.stderr
    mod, path = r.stdout.split()
    assert mod.startswith(str(site)) and path == str(lib)


@pytest.mark.timeout(300)
def test_wheel_contains_the_library(tmp_path):
    env = child_env()
    wheel = build_wheel(ROOT / "python", tmp_path / "dist", env)
    check_wheel(wheel, tmp_path / "site", env)


@pytest.mark.timeout(400)
def test_sdist_is_complete(tmp_path):
    """The sdist carries the Go module and builds a working wheel with no checkout around it."""
    env = child_env()
    r = subprocess.run([sys.executable, "-m", "hatchling", "build", "-t", "sdist", "-d", str(tmp_path)],
                       capture_output=True, text=True, env=env, timeout=120, cwd=str(ROOT / "python"))
    assert r.returncode == 0, r.stderr[-3000:]
    (sdist,) = tmp_path.glob("prwlock-*.tar.gz")
    with tarfile.open(sdist) as t:
        names = set(t.getnames())
        t.extractall(tmp_path / "src")
    top = "prwlock-1.0.0/"
    for need in ("LICENSE", "go/go.mod", "go/go.sum", "go/export.go", "go/shim.c", "go/include/prwlock.h",
                 "go/libprwlock.map", "go/lock/layout.go", "src/prwlock/_lock.py"):
        assert top + need in names, need
    assert not [n for n in names if n.endswith("_test.go")]
    wheel = build_wheel(tmp_path / "src" / "prwlock-1.0.0", tmp_path / "dist", env)
    check_wheel(wheel, tmp_path / "site", env)


def test_license_copy_is_current():
    assert (ROOT / "python" / "LICENSE").read_bytes() == (ROOT / "LICENSE").read_bytes()


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
