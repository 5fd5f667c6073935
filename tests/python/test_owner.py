"""The ownership check: a lock file another user could have planted, or can
write, is refused with :class:`LockPermissionError` (a PermissionError,
``EACCES``) unless the caller passes ``multiuser=True``; pickles carry that
opt-in, for a file of the same owner only. Cases that need a second user
run a child as uid 65534 (the ``as_other_user`` fixture)."""

from __future__ import annotations

import errno
import os
import pickle
import subprocess
import sys
import uuid

import pytest

from prwlock import LockPermissionError, RWLock
from prwlock._lock import _restore

from conftest import SHM, child_env


def _name(tag: str) -> str:
    return "pytest-%d-%s-%s" % (os.getpid(), tag, uuid.uuid4().hex[:8])


def _refused(name: str, exc: BaseException, *words: str) -> None:
    assert isinstance(exc, LockPermissionError) and isinstance(exc, PermissionError)
    assert exc.errno == errno.EACCES
    msg = str(exc)
    for w in (str(SHM / ("prwlock." + name)) if "/" not in name else name, "multiuser=True") + words:
        assert w in msg, msg


def _squat(as_other_user, name: str, mode: int, multiuser: bool) -> bytes:
    """Have uid 65534 create *name*; return the pickle of its lock."""
    code = (
        "import pickle, prwlock\n"
        "l = prwlock.RWLock(%r, exclusive=True, mode=%#o, multiuser=%r)\n"
        "print(pickle.dumps(l).hex())\n"
        "l.close()\n" % (name, mode, multiuser)
    )
    out = as_other_user(code)
    assert out.returncode == 0, out.stderr
    return bytes.fromhex(out.stdout.strip())


def _token_without_optin(pickled: bytes) -> bytes:
    lk = pickle.loads(pickled)
    try:
        tok = lk._token_bytes()
    finally:
        lk.close()
    head, sep, rest = tok.partition(b":multiuser=")
    assert sep, tok
    return head + b":" + rest.split(b":", 1)[1]


def test_squatted_name_is_refused(as_other_user):
    """The issue's scenario: uid 65534 creates a 0666 lock in /dev/shm first."""
    name = _name("squat")
    path = SHM / ("prwlock." + name)
    try:
        pickled = _squat(as_other_user, name, 0o666, True)
        st = os.stat(path)
        assert st.st_uid == 65534 and st.st_mode & 0o777 == 0o666
        before = path.read_bytes()
        for kw in ({}, {"create": False}, {"exclusive": False, "mode": 0o600}):
            with pytest.raises(LockPermissionError) as ei:
                RWLock(name, **kw)
            _refused(name, ei.value, "uid 65534")
        with pytest.raises(LockPermissionError) as ei:
            RWLock.unlink(name)
        assert ei.value.errno == errno.EACCES and "another user's lock" in str(ei.value)
        assert path.read_bytes() == before  # refused: not even attached
        # The squatter's pickle carries its opt-in; without it, it is refused.
        assert b"multiuser=65534:" in pickled
        by_pickle = pickle.loads(pickled)
        with pytest.raises(LockPermissionError):
            _restore(_token_without_optin(pickled), name)
        # With the opt-in: the same lock.
        with RWLock(name, multiuser=True) as lk:
            assert lk.acquire_write(timeout=0)
            st = by_pickle.stats()
            assert st.writer_pid == os.getpid() and st.writer_active
            lk.release()
            again = pickle.loads(pickle.dumps(lk))
            assert again.try_acquire_read()
            again.release()
            again.close()
        by_pickle.close()
    finally:
        if path.exists():
            os.unlink(path)


def test_pickle_of_other_users_default_lock_is_refused(as_other_user):
    name = _name("squat0600")
    path = SHM / ("prwlock." + name)
    try:
        pickled = _squat(as_other_user, name, 0o600, False)
        assert b"multiuser" not in pickled
        with pytest.raises(LockPermissionError) as ei:
            pickle.loads(pickled)
        assert ei.value.errno == errno.EACCES
    finally:
        if path.exists():
            os.unlink(path)


@pytest.mark.parametrize(
    "case,mode,why",
    [("owner mismatch", 0o600, "uid 65534"), ("group-writable", 0o620, "mode 0o620"),
     ("world-writable", 0o602, "mode 0o602")],
    ids=["owner-mismatch", "group-writable", "world-writable"],
)
def test_each_reason(case, mode, why, tmp_path):
    path = str(tmp_path / "lock")
    RWLock(path, exclusive=True, mode=mode, multiuser=True).close()
    if case == "owner mismatch":
        if os.geteuid() != 0:
            pytest.skip("needs root to give a file to another user")
        os.chown(path, 65534, 65534)
    for kw in ({}, {"create": False}):
        with pytest.raises(LockPermissionError) as ei:
            RWLock(path, **kw)
        _refused(path, ei.value, why)
    with RWLock(path, multiuser=True) as lk:
        with RWLock(path, multiuser=True) as twin:
            assert lk.acquire_write(timeout=0)
            assert twin.stats().writer_active
            lk.release()
        # Still refused without the opt-in while this process has it mapped.
        with pytest.raises(LockPermissionError):
            RWLock(path)
        # A pickle carries the opt-in, to a fresh interpreter too.
        out = subprocess.run(
            [sys.executable, "-c", "import pickle, sys; l = pickle.loads(sys.stdin.buffer.read());"
             " print(l.try_acquire_write()); l.release(); l.close()"],
            input=pickle.dumps(lk), env=child_env(), capture_output=True, timeout=60,
        )
        assert out.stdout.strip() == b"True", out.stderr
    if case == "owner mismatch":
        with pytest.raises(LockPermissionError):
            RWLock.unlink(path)
        os.unlink(path)
    else:
        RWLock.unlink(path)  # one's own lock: its mode does not matter


def test_cli_inspect_refuses_without_multiuser(tmp_path):
    path = str(tmp_path / "lock")
    RWLock(path, exclusive=True, mode=0o660, multiuser=True).close()
    cli = [sys.executable, "-m", "prwlock", "inspect", path]
    r = subprocess.run(cli, env=child_env(), capture_output=True, text=True, timeout=60)
    assert r.returncode == 1 and "multiuser" in r.stderr and "mode 0o660" in r.stderr, r.stderr
    r = subprocess.run(cli + ["--multiuser"], env=child_env(), capture_output=True, text=True, timeout=60)
    assert r.returncode == 0 and "readers   0" in r.stdout, r.stderr
    RWLock.unlink(path)


def test_mode_writable_by_others_needs_multiuser(lock_name):
    for mode in (0o660, 0o620, 0o606, 0o666):
        with pytest.raises(ValueError, match="multiuser=True"):
            RWLock(lock_name, mode=mode)
        assert not (SHM / ("prwlock." + lock_name)).exists()
    with pytest.raises(ValueError, match="named locks"):
        RWLock(multiuser=True)
