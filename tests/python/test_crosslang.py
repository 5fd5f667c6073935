"""A named lock shared with a C program built against include/prwlock.h."""

from __future__ import annotations

import shutil
import subprocess
import time

import pytest

from conftest import LIBRARY, ROOT
from prwlock import RWLock

HELPER_C = r"""
#include <prwlock.h>
#include <stdio.h>
#include <string.h>
/* helper NAME: reads commands from stdin (r, w, t, u, q), answers with the return code. */
int main(int argc, char **argv) {
  prw_lock *l = NULL;
  int rc = prw_open(argv[1], PRW_CREATE, 0600, &l);
  printf("open %d\n", rc); fflush(stdout);
  if (rc) return 1;
  char cmd[16];
  while (fgets(cmd, sizeof cmd, stdin)) {
    switch (cmd[0]) {
    case 'r': rc = prw_acquire_read(l, -1); break;
    case 'w': rc = prw_acquire_write(l, -1); break;
    case 't': rc = prw_try_acquire_write(l); break;
    case 'u': rc = prw_release(l); break;
    default: prw_close(l); return 0;
    }
    printf("%c %d\n", cmd[0], rc); fflush(stdout);
  }
  prw_close(l);
  return 0;
}
"""


@pytest.fixture(scope="module")
def c_helper(tmp_path_factory):
    gcc = shutil.which("gcc") or shutil.which("cc")
    assert gcc, "a C compiler is needed for the cross-language test"
    d = tmp_path_factory.mktemp("chelper")
    src = d / "helper.c"
    src.write_text(HELPER_C)
    exe = d / "helper"
    subprocess.run(
        [gcc, "-O1", "-I", str(ROOT / "include"), str(src), "-o", str(exe),
         "-L", str(LIBRARY.parent), "-lprwlock", "-Wl,-rpath," + str(LIBRARY.parent)],
        check=True,
    )
    return exe


class Helper:
    def __init__(self, exe, name):
        self.p = subprocess.Popen([str(exe), name], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        assert self.p.stdout.readline().split() == ["open", "0"]

    def send(self, c):
        self.p.stdin.write(c + "\n")
        self.p.stdin.flush()

    def answer(self):
        return self.p.stdout.readline().split()

    def close(self):
        self.send("q")
        self.p.wait(10)
        self.p.stdin.close()
        self.p.stdout.close()


def test_c_and_python_exclude_each_other(c_helper, lock_name):
    lock = RWLock(lock_name)
    c = Helper(c_helper, lock_name)
    try:
        # C holds write: Python is kept out and sees the C holder.
        c.send("w")
        assert c.answer() == ["w", "0"]
        assert lock.try_acquire_read() is False
        (h,) = lock.holders()
        assert h.pid == c.p.pid and h.mode == "write"
        c.send("u")
        assert c.answer() == ["u", "0"]
        # Python holds write: C's try fails, C's blocking read waits for us.
        assert lock.acquire_write(5)
        c.send("t")
        assert c.answer() == ["t", "16"]  # EBUSY
        c.send("r")
        time.sleep(0.2)
        assert any(h.pid == c.p.pid and h.waiting for h in lock.holders())
        lock.release()
        assert c.answer() == ["r", "0"]
        # Readers share across languages.
        assert lock.acquire_read(1)
        lock.release()
        c.send("u")
        assert c.answer() == ["u", "0"]
    finally:
        c.close()
        lock.unlink()
        lock.close()
