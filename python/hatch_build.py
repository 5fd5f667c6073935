"""Hatchling build hook: put ``libprwlock.so`` inside the wheel.

The library is the Go module one directory up (the repository root), built
with ``go build -buildmode=c-shared``. ``PRWLOCK_LIBRARY=/path/libprwlock.so``
uses a prebuilt library instead. Editable installs skip the build: the
package then finds the repository's ``build/libprwlock.so``.

The wheel's library includes the etcd backend (locks named ``etcd://...``,
Go build tag ``prwlock_etcd``); ``PRWLOCK_ETCD=0`` builds it without, for a
smaller library that loads faster (README, Across machines).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Any, Dict

from hatchling.builders.hooks.plugin.interface import BuildHookInterface


class CustomBuildHook(BuildHookInterface):
    """Build (or copy) the shared library and add it to the wheel."""

    PLUGIN_NAME = "custom"

    def initialize(self, version: str, build_data: Dict[str, Any]) -> None:
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
        build_data["infer_tag"] = True
        build_data["force_include"][str(out)] = "prwlock/libprwlock.so"

    def _go_build(self, out: Path) -> None:
        root = Path(self.root).resolve().parent
        if not (root / "go.mod").is_file():
            raise RuntimeError(
                "prwlock: cannot build libprwlock.so: no go.mod in %s; build from a "
                "checkout of the repository, or set PRWLOCK_LIBRARY to a prebuilt "
                "library" % root
            )
        go = os.environ.get("GO") or shutil.which("go")
        if not go:
            raise RuntimeError("prwlock: 'go' not found; install Go or set PRWLOCK_LIBRARY")
        env = dict(os.environ, CGO_ENABLED="1")
        env.setdefault("GOFLAGS", "-mod=mod")
        cmd = [go, "build", "-buildvcs=false", "-buildmode=c-shared", "-trimpath"]
        if os.environ.get("PRWLOCK_ETCD", "1") != "0":
            cmd += ["-tags", "prwlock_etcd"]
        # The same export list and SONAME as the Makefile's build (mk/c.mk).
        version_script = root / "libprwlock.map"
        if version_script.is_file():
            cmd += [
                "-ldflags",
                "-extldflags '-Wl,--version-script=%s -Wl,-soname,libprwlock.so.1'" % version_script,
            ]
        cmd += ["-o", str(out), "."]
        self.app.display_info("prwlock: %s (in %s)" % (" ".join(cmd), root))
        subprocess.run(cmd, cwd=str(root), env=env, check=True)
        # cgo writes a header next to the library; it stays private.
        out.with_suffix(".h").unlink(missing_ok=True)

    def finalize(self, version: str, build_data: Dict[str, Any], artifact_path: str) -> None:
        tmp = getattr(self, "_tmp", None)
        if tmp:
            shutil.rmtree(tmp, ignore_errors=True)
