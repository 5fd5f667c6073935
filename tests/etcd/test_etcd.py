"""The etcd backend from C, Go and Python: one lock, three languages."""

from __future__ import annotations

import multiprocessing
import os
import pickle
import signal
import socket
import subprocess
import sys
import textwrap
import threading
import warnings

import pytest

import prwlock
from conftest import read_slots, tool, worker_cmd


def test_exclusion_across_languages(cluster, shm):
    """Two C, two Go and two Python processes hammer one etcd lock; no critical sections overlap."""
    url = cluster.url("cross")
    langs = ["c", "go", "py", "c", "go", "py"]
    procs = [subprocess.Popen(worker_cmd(lang, url, shm, i, 4)) for i, lang in enumerate(langs)]
    for p in procs:
        assert p.wait(timeout=90) == 0
    slots = read_slots(shm, len(langs))
    ops = {lang: 0 for lang in langs}
    for lang, s in zip(langs, slots):
        ops[lang] += s[1]
    total = [sum(s[k] for s in slots) for k in range(5)]
    print("sections per language %s; violations %d, failed calls %d, lost holds %d" % (ops, total[2], total[3], total[4]))
    assert total[2] == 0, "critical sections overlapped"
    assert all(n > 0 for n in ops.values()), ops
    # A lost hold (TTL 10 s) would be a bug; an acquire that timed out after
    # 10 s is the machine's load (etcd fsyncs every write), tolerated if rare.
    assert total[4] == 0, "lost holds"
    assert total[3] <= max(2, sum(ops.values()) // 20), "failed acquires: %d" % total[3]


def test_c_api(cluster):
    out = subprocess.run([tool("cworker"), "api", cluster.url("capi")], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "api ok"


def _child_fence(url):
    lock = prwlock.RWLock(url)
    with lock.writer_lock(timeout=20):
        return lock.fence()


def test_python_api(cluster):
    url = cluster.url("pyapi")
    lock = prwlock.RWLock(url)
    assert lock.remote and not lock.anonymous
    assert lock.path == url and lock.name == url
    with pytest.raises(prwlock.NotHeldError):
        lock.fence()
    lock.acquire_write()
    f1 = lock.fence()
    got = []
    t = threading.Thread(target=lambda: got.append(lock.try_acquire_read()))
    t.start()
    t.join()
    assert got == [False]  # another thread is another owner: busy
    with pytest.raises(prwlock.DeadlockError):
        lock.acquire_read()
    st = lock.stats()
    assert st.writer_active and st.writer_pid == os.getpid()
    (h,) = lock.holders()
    assert h.pid == os.getpid() and h.mode == "write" and not h.waiting
    # The host and the fence of a remote holder (prw_holders_ex).
    assert h.host == socket.gethostname() and h.fence == f1 and h.owner == threading.get_native_id()
    lock.downgrade()
    assert lock.fence() == f1
    lock.release()
    # Pickles carry the URL: a spawn child takes the lock after us, with a
    # larger fence.
    assert pickle.loads(pickle.dumps(lock)).remote
    ctx = multiprocessing.get_context("spawn")
    with ctx.Pool(1) as pool:
        f2 = pool.apply(_child_fence, (url,))
        lock2 = pool.apply(pickle.loads, (pickle.dumps(lock),))
        assert lock2.path == url
    assert f2 > f1
    with lock.reader_lock(timeout=5):
        assert lock.fence() > f2 or lock.fence() > f1
    lock.close()
    local = prwlock.RWLock()
    with local.reader_lock():
        with pytest.raises(prwlock.PrwlockError) as exc:
            local.fence()
        assert exc.value.errno == 95  # ENOTSUP
    local.close()


HOLD_PY = textwrap.dedent(
    """
    import sys, warnings, prwlock
    warnings.simplefilter("ignore")
    lock = prwlock.RWLock(sys.argv[1])
    lock.acquire_write()
    print("held", lock.fence(), flush=True)
    for line in sys.stdin:
        try:
            print("fence 0", lock.fence(), flush=True)
        except prwlock.HoldLostError as exc:
            print("fence %d 0" % exc.errno, flush=True)
    """
)


@pytest.mark.parametrize("lang", ["c", "py"])
def test_stopped_holder_learns_it_lost(cluster, lang):
    """A holder stopped past its TTL loses the lock; woken, its next call says so, and its fence is stale."""
    url = cluster.url("stop")  # ours: the default TTL; the holder's: 1 s
    short = url + "?ttl=1"
    cmd = [tool("cworker"), "hold", short] if lang == "c" else [sys.executable, "-c", HOLD_PY, short]
    with subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True) as p:
        _stopped_holder(p, url)


def _stopped_holder(p, url):
    try:
        old = int(p.stdout.readline().split()[1])
        p.send_signal(signal.SIGSTOP)
        lock = prwlock.RWLock(url)
        with warnings.catch_warnings(record=True) as w:
            warnings.simplefilter("always")
            assert lock.acquire_write(timeout=20)
        assert any(issubclass(x.category, prwlock.OwnerDiedWarning) for x in w)
        assert lock.fence() > old
        p.send_signal(signal.SIGCONT)
        p.stdin.write("fence\n")
        p.stdin.flush()
        words = p.stdout.readline().split()
        assert words[:2] == ["fence", "131"], words  # ENOTRECOVERABLE
        lock.release_unrepaired()
        lock.close()
    finally:
        p.send_signal(signal.SIGCONT)
        p.kill()
        p.wait()


def test_build_without_backend(cluster, tmp_path):
    """The default (local-only) library refuses URLs with ENOSYS, clearly."""
    lib = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))), "build", "libprwlock.so")
    code = "import prwlock\ntry:\n    prwlock.RWLock(%r)\nexcept prwlock.PrwlockError as e:\n    print(e.errno, e.strerror)\n"
    out = subprocess.run(
        [sys.executable, "-c", code % cluster.url("nobackend")],
        env=dict(os.environ, PRWLOCK_LIBRARY=lib),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.stdout.startswith("38 "), out  # ENOSYS
    assert "etcd backend" in out.stdout


def test_readme_example(cluster, tmp_path):
    """README's "Across machines" Python example, as written, against this cluster.

    It is fenced as ``py`` so that tests/python (which has no etcd) leaves it to us.
    """
    import re

    readme = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))), "README.md")
    with open(readme) as f:
        text = f.read()
    section = text[text.index("## Across machines"):]
    section = section[: section.index("\n## ", 1)]
    (code,) = re.findall(r"^```py\n(.*?)^```", section, re.M | re.S)
    script = tmp_path / "example.py"
    script.write_text(code)
    out = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=60,
                         env=dict(os.environ, PRWLOCK_DEMO_URL=cluster.url("readme")))
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith("read under fence ") and "'job-1': 'done'" in out.stdout, out.stdout


_inherited = None


def _fork_child_fence():
    # The lock object came with the fork: the child's first call binds it
    # to the child's own copy of the library, and a session of its own.
    with _inherited.writer_lock(timeout=20):
        return _inherited.fence()


def test_fork_child(cluster):
    """A child forked without exec uses an inherited remote lock; it never inherits the parent's hold."""
    global _inherited
    url = cluster.url("fork")
    _inherited = lock = prwlock.RWLock(url)
    lock.acquire_write()
    f1 = lock.fence()
    lock.release()
    ctx = multiprocessing.get_context("fork")
    with ctx.Pool(1) as pool:
        f2 = pool.apply(_fork_child_fence)
    assert f2 > f1
    with lock.writer_lock(timeout=10):
        assert lock.fence() > f2
    lock.close()
