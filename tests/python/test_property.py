"""Hypothesis: random operation sequences by two threads against a model."""

from __future__ import annotations

import queue
import threading
from typing import Dict, List

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from prwlock import DeadlockError, NotHeldError, RWLock

OPS = ["try_read", "try_write", "release", "downgrade", "read0", "write0"]


class Worker:
    """A thread that runs lock operations on request, so that ownership is real."""

    def __init__(self, lock: RWLock) -> None:
        self.lock = lock
        self.inbox: "queue.Queue" = queue.Queue()
        self.outbox: "queue.Queue" = queue.Queue()
        self.thread = threading.Thread(target=self.run, daemon=True)
        self.thread.start()

    def run(self) -> None:
        while True:
            op = self.inbox.get()
            if op is None:
                return
            try:
                fn = {
                    "try_read": self.lock.try_acquire_read,
                    "try_write": self.lock.try_acquire_write,
                    "release": self.lock.release,
                    "downgrade": self.lock.downgrade,
                    "read0": lambda: self.lock.acquire_read(0),
                    "write0": lambda: self.lock.acquire_write(timeout=0),
                }[op]
                self.outbox.put(fn())
            except (DeadlockError, NotHeldError) as exc:
                self.outbox.put(type(exc))

    def do(self, op: str):
        self.inbox.put(op)
        return self.outbox.get(timeout=10)

    def stop(self) -> None:
        self.inbox.put(None)
        self.thread.join(10)


def model_step(state: Dict[int, List], who: int, op: str):
    """state[who] = [mode, count]; mode in (None, 'r', 'w'). Returns the expected result."""
    mine = state[who]
    others = [s for k, s in state.items() if k != who]
    if op in ("try_read", "read0"):
        if mine[0] == "w":
            return DeadlockError
        if mine[0] == "r":
            mine[1] += 1
            return True
        if any(s[0] == "w" for s in others):
            return False
        state[who] = ["r", 1]
        return True
    if op in ("try_write", "write0"):
        if mine[0] is not None:
            return DeadlockError
        if any(s[0] is not None for s in others):
            return False
        state[who] = ["w", 1]
        return True
    if op == "release":
        if mine[0] is None:
            return NotHeldError
        mine[1] -= 1
        if mine[1] == 0:
            state[who] = [None, 0]
        return None
    if op == "downgrade":
        if mine[0] != "w":
            return NotHeldError
        state[who] = ["r", 1]
        return None
    raise AssertionError(op)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.tuples(st.integers(0, 2), st.sampled_from(OPS)), min_size=1, max_size=40))
def test_random_sequences_match_model(steps):
    lock = RWLock()
    workers = [Worker(lock) for _ in range(3)]
    state = {i: [None, 0] for i in range(3)}
    try:
        for who, op in steps:
            expected = model_step(state, who, op)
            got = workers[who].do(op)
            assert got == expected, (who, op, state)
            st_ = lock.stats()
            readers = sum(1 for s in state.values() if s[0] == "r")
            writer = any(s[0] == "w" for s in state.values())
            assert st_.readers == readers and bool(st_.writer_pid) == writer
            held = sorted((h.tid, h.mode, h.count) for h in lock.holders())
            assert len(held) == readers + writer
            counts = sorted(s[1] for s in state.values() if s[0] == "r")
            assert sorted(c for _, m, c in held if m == "read") == counts
    finally:
        for i, w in enumerate(workers):
            while state[i][0] is not None:
                w.do("release")
                model_step(state, i, "release")
            w.stop()
        lock.close()
