"""Misuse of the Python API, table-driven: every case gets a precise
exception and nothing crashes. (Basic API behaviour: test_api.py; fork and
pickling channels: test_fork.py and test_sharing.py.)"""

from __future__ import annotations

import errno
import os
import pickle
import random
import uuid

import pytest

import prwlock
from prwlock import InvalidNameError, LockClosedError, LockNotFoundError, LockPermissionError, NotHeldError, PrwlockError, RWLock
from prwlock._lock import _restore

from conftest import SHM


@pytest.fixture
def lock():
    lk = RWLock()
    yield lk
    lk.close()


BAD_NAMES = {
    "empty": "",
    "NUL": "a\0b",
    "NUL in path": "/tmp/a\0b",
    "dot": ".",
    "dotdot": "..",
    "dotdot component": "/tmp/../etc/prwlock-x",
    "leading dotdot": "../prwlock-x",
    "inner dotdot": "a/../prwlock-x",
    "trailing slash": "/tmp/prwlock-dir/",
    "too long": "x" * 256,
    "path too long": "/" + "a/" * 2100,
}


@pytest.mark.parametrize("create", [True, False])
@pytest.mark.parametrize("what", sorted(BAD_NAMES))
def test_bad_names(what, create):
    """Every bad name gets one exception: InvalidNameError, a ValueError and an OSError(EINVAL)."""
    name = BAD_NAMES[what]
    for call in (lambda: RWLock(name, create=create), lambda: RWLock.unlink(name)):
        with pytest.raises(InvalidNameError) as info:
            call()
        assert isinstance(info.value, ValueError) and isinstance(info.value, OSError)
        assert info.value.errno == errno.EINVAL and info.value.filename == name, info.value
    # Nothing was created where the name would have put a lock (other
    # workers create locks in /dev/shm meanwhile, so look only there).
    if "\0" not in name and len(name) < 255:
        where = name if "/" in name else os.path.join(SHM, "prwlock." + name)
        assert not os.path.lexists(where.rstrip("/") or where)


CLOSED_CALLS = {
    "acquire_read": lambda lk: lk.acquire_read(),
    "acquire_read timeout": lambda lk: lk.acquire_read(timeout=0.01),
    "acquire_write": lambda lk: lk.acquire_write(),
    "try_acquire_read": lambda lk: lk.try_acquire_read(),
    "try_acquire_write": lambda lk: lk.try_acquire_write(),
    "release": lambda lk: lk.release(),
    "downgrade": lambda lk: lk.downgrade(),
    "holders": lambda lk: lk.holders(),
    "stats": lambda lk: lk.stats(),
    "owner_died": lambda lk: lk.owner_died,
    "reader_lock": lambda lk: lk.reader_lock().__enter__(),
    "writer_lock": lambda lk: lk.writer_lock(timeout=1).__enter__(),
    "writer_lock forever": lambda lk: lk.writer_lock().__enter__(),
    "reader_lock exit": lambda lk: lk.reader_lock().__exit__(None, None, None),
}


@pytest.mark.parametrize("times", [1, 2])
@pytest.mark.parametrize("call", sorted(CLOSED_CALLS))
def test_closed_handles(call, times):
    lk = RWLock()
    for _ in range(times):
        lk.close()  # idempotent
    assert lk.closed
    with pytest.raises(LockClosedError) as info:
        CLOSED_CALLS[call](lk)
    assert info.value.errno == errno.EBADF


HOLD_CASES = {
    "release without hold": ([], "release"),
    "downgrade without hold": ([], "downgrade"),
    "downgrade from read": (["read"], "downgrade"),
    "downgrade from recursive read": (["read", "read"], "downgrade"),
    "downgrade twice": (["write", "downgrade"], "downgrade"),
    "release twice": (["read", "release"], "release"),
}


@pytest.mark.parametrize("case", sorted(HOLD_CASES))
def test_holds(lock, case):
    setup, op = HOLD_CASES[case]
    steps = {"read": lock.acquire_read, "write": lock.acquire_write, "downgrade": lock.downgrade, "release": lock.release}
    for s in setup:
        steps[s]()
    with pytest.raises(NotHeldError) as info:
        steps[op]()
    assert info.value.errno == errno.EPERM and isinstance(info.value, ValueError)
    while True:
        try:
            lock.release()
        except NotHeldError:
            break
    assert lock.stats().used_slots == 0


def _precise(exc: BaseException) -> bool:
    return isinstance(exc, ValueError) or (isinstance(exc, OSError) and exc.errno not in (None, 0, errno.EIO))


def test_truncated_oversized_and_random_tokens(lock):
    token = lock._token_bytes()
    bad = [token[:n] for n in range(len(token))]
    bad += [token + b"x" * (1 << 20), token * 50, token + b"\n", b" " + token, token.replace(b":", b"::", 1)]
    rng = random.Random(7)
    for _ in range(1000):
        bad.append(bytes(rng.randrange(1, 256) for _ in range(rng.randrange(200))))
        t = bytearray(token)
        for _ in range(rng.randrange(1, 4)):
            t[rng.randrange(len(t))] = rng.randrange(1, 256)
        bad.append(bytes(t))
    for tok in bad + [None, 42, "str", b"\0" + token, token + b"\0x"]:
        other = _restore(tok)  # never fails: the first use attaches
        try:
            path = other.path
        except Exception as exc:  # noqa: BLE001 - checked below
            assert _precise(exc), (tok[:80], exc)
        else:
            # A mutation that still names this very file is fine.
            assert path == lock.path, tok[:80]
        other.close()


@pytest.mark.parametrize("named", [False, True])
def test_pickling_a_closed_lock_fails_in_the_parent(named, lock_name):
    lk = RWLock(lock_name if named else None)
    lk.close()
    with pytest.raises(LockClosedError, match="cannot pickle a closed lock") as info:
        pickle.dumps(lk)
    assert info.value.filename == lk.name
    if named:
        RWLock.unlink(lock_name)


@pytest.mark.parametrize("mode, exc", [(0o1777, ValueError), (-1, ValueError), ("0600", TypeError)])
def test_bad_modes(mode, exc, lock_name):
    with pytest.raises(exc):
        RWLock(lock_name, mode=mode)
    assert not os.path.lexists(os.path.join(SHM, "prwlock." + lock_name))


def test_tampered_pickle(lock):
    data = pickle.dumps(lock)
    token = lock._token_bytes()
    tampered = data.replace(token, token[:-3] + b"zzz")
    assert tampered != data
    other = pickle.loads(tampered)  # never fails: the first use attaches
    with pytest.raises(OSError) as info:
        other.acquire_read()
    assert _precise(info.value)


def test_use_after_unlink(lock_name):
    lk = RWLock(lock_name)
    try:
        RWLock.unlink(lock_name)
        with pytest.raises(LockNotFoundError):
            RWLock.unlink(lock_name)
        with pytest.raises(LockNotFoundError):
            RWLock(lock_name, create=False)
        with pytest.raises(LockNotFoundError):
            pickle.loads(pickle.dumps(lk)).acquire_read()
        # The unlinked lock still works; a new one of the same name is a
        # different lock.
        assert lk.acquire_write(timeout=0)
        with RWLock(lock_name, exclusive=True) as fresh:
            assert fresh.acquire_write(timeout=0)
            fresh.release()
            RWLock.unlink(lock_name)
        lk.release()
    finally:
        lk.close()


def _fds() -> int:
    return len(os.listdir("/proc/self/fd"))


def _own_shm_files() -> int:
    # Only this process's anonymous locks: the other pytest worker creates
    # files in /dev/shm at the same time.
    mine = "prwlock.anon.%d." % os.getpid()
    return sum(1 for n in os.listdir(SHM) if n.startswith(mine))


def test_thousands_of_open_close_cycles(lock_name):
    for _ in range(50):  # warm up
        RWLock(lock_name).close()
    fds0, shm0 = _fds(), _own_shm_files()
    for i in range(2000):
        with RWLock(lock_name) as lk:
            assert lk.acquire_read(timeout=0)
            if i % 2:
                lk.release()
        anon = RWLock()
        assert anon.try_acquire_write()
        anon.close()  # releases the hold with the handle
    assert _fds() <= fds0 + 1
    assert _own_shm_files() == shm0


@pytest.mark.parametrize("mode,expect", [(0o600, "EACCES"), (0o644, "EACCES"), (0o666, "ok")])
def test_other_user_cannot_attach(mode, expect, as_other_user):
    """A process of another user cannot attach to a 0600 (or 0644) lock.

    The child runs as uid 65534 and opens with ``multiuser=True``, so that
    only the file's mode is at play (test_owner.py tests the default
    refusals).
    """
    name = "pytest-%d-asuser-%s" % (os.getpid(), uuid.uuid4().hex[:8])
    lk = RWLock(name, exclusive=True, mode=mode, multiuser=True)
    try:
        code = (
            "import prwlock, sys\n"
            "try:\n"
            "    l = prwlock.RWLock(%r, create=False, multiuser=True)\n"
            "    l.acquire_write(timeout=0); l.release(); l.close(); print('ok')\n"
            "except prwlock.LockPermissionError as e:\n"
            "    print('EACCES' if e.errno == 13 else 'errno %%d' %% e.errno)\n" % name
        )
        out = as_other_user(code)
        assert out.stdout.strip() == expect, out.stderr
        assert lk.stats().used_slots == 0
    finally:
        lk.close()
        RWLock.unlink(name)
