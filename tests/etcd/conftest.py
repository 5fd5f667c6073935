"""Fixtures of the etcd tests: a loopback etcd cluster run by etcdrun.

They run with PRWLOCK_LIBRARY pointing at the library built with the etcd
backend and PRWLOCK_ETCD_TOOLS at the directory of etcdrun, goworker and
cworker (see mk/etcd.mk: make test-etcd).
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from typing import Iterator, List

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
TOOLS = os.environ.get("PRWLOCK_ETCD_TOOLS", "")


def tool(name: str) -> str:
    path = os.path.join(TOOLS, name)
    if not os.path.exists(path):
        pytest.fail("%s not built: run these tests through `make test-etcd`" % path)
    return path


class Cluster:
    """A running etcdrun and the commands it takes."""

    def __init__(self, members: int) -> None:
        self.proc = subprocess.Popen(
            [tool("etcdrun"), "-members", str(members)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        line = self.proc.stdout.readline().split()
        if len(line) != 2 or line[0] != "endpoints":
            self.proc.kill()
            raise RuntimeError("etcdrun did not start: %r" % (line,))
        self.endpoints: List[str] = line[1].split(",")
        self.seq = 0

    def url(self, name: str, *opts: str) -> str:
        self.seq += 1
        u = "etcd://%s/%s-%d-%d" % (",".join(self.endpoints), name, os.getpid(), self.seq)
        return u + ("?" + "&".join(opts) if opts else "")

    def command(self, cmd: str) -> str:
        self.proc.stdin.write(cmd + "\n")
        self.proc.stdin.flush()
        return self.proc.stdout.readline().strip()

    def close(self) -> None:
        self.proc.stdin.close()
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:  # pragma: no cover
            self.proc.kill()
            self.proc.wait()
        self.proc.stdout.close()


@pytest.fixture(scope="module")
def cluster() -> Iterator[Cluster]:
    c = Cluster(1)
    yield c
    c.close()


@pytest.fixture
def shm() -> Iterator[str]:
    fd, path = tempfile.mkstemp(prefix="prwlock-etcd-shm-")
    os.write(fd, b"\0" * 4096)
    os.close(fd)
    yield path
    os.unlink(path)


def read_slots(path: str, n: int) -> List[List[int]]:
    import struct

    with open(path, "rb") as f:
        data = f.read(4096)
    return [list(struct.unpack_from("8q", data, 64 * i)) for i in range(n)]


def worker_cmd(lang: str, url: str, shm: str, slot: int, secs: float) -> List[str]:
    if lang == "c":
        return [tool("cworker"), "hammer", url, shm, str(slot), str(secs)]
    if lang == "go":
        return [tool("goworker"), url, shm, str(slot), str(secs)]
    return [sys.executable, os.path.join(HERE, "pyworker.py"), url, shm, str(slot), str(secs)]
