"""Hatchling build hook: put ``libprwlock.so`` inside the wheel, and the Go
sources it is built from inside the sdist.

The library is the Go module of the repository (the directory above this
one in a checkout, ``go/`` in an sdist), built with
``go build -buildmode=c-shared`` and stripped (``-s -w``).
``PRWLOCK_LIBRARY=/path/libprwlock.so`` packages a prebuilt library instead.
Editable installs skip the build: the package then finds the repository's
``build/libprwlock.so``.

The wheel is tagged ``py3-none-<platform>``: the package is ctypes only, so
any CPython 3 can load it, but the library is native code. The platform
tag is ``manylinux_2_<N>_<arch>``, where 2.N is the newest glibc symbol
version the library needs (read with ``objdump -T``), when it links
nothing beyond glibc; otherwise ``linux_<arch>``.
"""

from __future__ import annotations

import glob
import os
import platform
import re
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Any, Dict, List, Optional

from hatchling.builders.hooks.plugin.interface import BuildHookInterface

# What `go build .` of the C library reads: the same set as mk/c.mk's
# C_LIB_SRCS (tests excluded), relative to the module root.
GO_SOURCES = [
    "go.mod", "go.sum", "libprwlock.map",
    "*.go", "*.c", "*.h", "include/*.h",
    "lock/*.go", "lock/*.c", "lock/*.h", "lock/*.s",
]

# Libraries every manylinux platform provides (part of glibc).
GLIBC_LIBS = {
    "libc.so.6", "libpthread.so.0", "libdl.so.2", "libm.so.6", "librt.so.1",
    "ld-linux-x86-64.so.2", "ld-linux-aarch64.so.1",
}

GOARCH_TO_MACHINE = {"amd64": "x86_64", "arm64": "aarch64", "386": "i686", "ppc64le": "ppc64le", "s390x": "s390x"}


def go_root(project_root: str) -> Optional[Path]:
    """The Go module to build: ``go/`` in an unpacked sdist, else the checkout above."""
    here = Path(project_root).resolve()
    for cand in (here / "go", here.parent):
        if (cand / "go.mod").is_file():
            return cand
    return None


def go_source_files(root: Path) -> List[Path]:
    out = set()
    for pattern in GO_SOURCES:
        for p in glob.glob(str(root / pattern)):
            if not p.endswith("_test.go"):
                out.add(Path(p))
    return sorted(out)


def glibc_minimum(lib: Path) -> Optional[str]:
    """The newest GLIBC_x.y symbol version *lib* needs, or None if unknown."""
    try:
        out = subprocess.run(["objdump", "-T", str(lib)], capture_output=True, text=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError):
        return None
    versions = {tuple(int(x) for x in v.split(".")) for v in re.findall(r"\bGLIBC_([0-9]+(?:\.[0-9]+)+)\b", out)}
    if not versions:
        return None
    return "%d.%d" % max(versions)[:2]


def needed_libraries(lib: Path) -> Optional[List[str]]:
    try:
        out = subprocess.run(["objdump", "-p", str(lib)], capture_output=True, text=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError):
        return None
    return re.findall(r"^\s*NEEDED\s+(\S+)", out, re.M)


def platform_tag(lib: Path) -> str:
    goarch = os.environ.get("GOARCH")
    machine = GOARCH_TO_MACHINE.get(goarch, goarch) if goarch else platform.machine()
    needed = needed_libraries(lib)
    glibc = glibc_minimum(lib)
    if needed is not None and glibc and set(needed) <= GLIBC_LIBS:
        major, minor = glibc.split(".")
        return "manylinux_%s_%s_%s" % (major, minor, machine)
    return "linux_%s" % machine


class CustomBuildHook(BuildHookInterface):
    """Build (or copy) the shared library into the wheel; add the Go sources to the sdist."""

    PLUGIN_NAME = "custom"

    def initialize(self, version: str, build_data: Dict[str, Any]) -> None:
        if self.target_name == "sdist":
            self._sdist(build_data)
            return
        if self.target_name != "wheel" or version == "editable":
            return
        self._tmp = tempfile.mkdtemp(prefix="prwlock-build-")
        out = Path(self._tmp) / "libprwlock.so"
        prebuilt = os.environ.get("PRWLOCK_LIBRARY")
        if prebuilt:
            shutil.copyfile(prebuilt, out)
        else:
            self._go_build(out)
        build_data["pure_python"] = False
        build_data["infer_tag"] = False
        build_data["tag"] = "py3-none-" + platform_tag(out)
        build_data["force_include"][str(out)] = "prwlock/libprwlock.so"

    def _sdist(self, build_data: Dict[str, Any]) -> None:
        # An sdist must build on its own: it carries the Go module under go/.
        root = go_root(self.root)
        if root is None or root == Path(self.root).resolve() / "go":
            if root is None:
                raise RuntimeError("prwlock: no go.mod above %s: cannot make a complete sdist" % self.root)
            return  # rebuilding an sdist from an sdist: go/ is already part of it
        for src in go_source_files(root):
            build_data["force_include"][str(src)] = "go/" + src.relative_to(root).as_posix()

    def _go_build(self, out: Path) -> None:
        root = go_root(self.root)
        if root is None:
            raise RuntimeError(
                "prwlock: cannot build libprwlock.so: no go.mod in %s/go or %s; build from a "
                "checkout of the repository or a complete sdist, or set PRWLOCK_LIBRARY to a "
                "prebuilt library" % (self.root, Path(self.root).resolve().parent)
            )
        go = os.environ.get("GO") or shutil.which("go")
        if not go:
            raise RuntimeError("prwlock: 'go' not found; install Go or set PRWLOCK_LIBRARY")
        env = dict(os.environ, CGO_ENABLED="1")
        env.setdefault("GOFLAGS", "-mod=mod")
        # The same export list and SONAME as the Makefile's build (mk/c.mk);
        # -s -w leave out the symbol table and DWARF: the dynamic symbols
        # (the prw_* exports) stay.
        ldflags = "-s -w"
        version_script = root / "libprwlock.map"
        if version_script.is_file():
            ldflags += " -extldflags '-Wl,--version-script=%s -Wl,-soname,libprwlock.so.1'" % version_script
        cmd = [go, "build", "-buildvcs=false", "-buildmode=c-shared", "-trimpath", "-ldflags", ldflags,
               "-o", str(out), "."]
        self.app.display_info("prwlock: %s (in %s)" % (" ".join(cmd), root))
        subprocess.run(cmd, cwd=str(root), env=env, check=True)
        # cgo writes a header next to the library; it stays private.
        out.with_suffix(".h").unlink(missing_ok=True)

    def finalize(self, version: str, build_data: Dict[str, Any], artifact_path: str) -> None:
        tmp = getattr(self, "_tmp", None)
        if tmp:
            shutil.rmtree(tmp, ignore_errors=True)
