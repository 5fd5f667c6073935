"""The ctypes table for ``libprwlock.so`` and its loader.

The library works in a child forked without exec by itself: its data plane
(acquire, release, waits) is C, and what needs its Go engine there runs in
a private copy the library loads on its own. Handles stay valid across
fork, so this module loads the library once per process tree and never
again.

Loading starts Go's threads, and Python 3.12+ warns on every ``fork()`` of a
multi-threaded process. So nothing is loaded at import time, only on first
real use.
"""

from __future__ import annotations

import ctypes
import os
import threading
from pathlib import Path
from typing import Any, List, Optional, Tuple

from ._errors import LibraryLoadError

LIBRARY_ENV = "PRWLOCK_LIBRARY"
LIBRARY_NAME = "libprwlock.so"

#: ``prw_open`` flags.
PRW_CREATE = 1
PRW_EXCL = 2
PRW_MULTIUSER = 4

#: ``PRW_DEFAULT_CAPACITY`` and ``PRW_MAX_CAPACITY``.
DEFAULT_CAPACITY = 1024
MAX_CAPACITY = 4096

#: ``prw_holder_t.mode`` values.
MODE_READ = 1
MODE_WRITE = 2


class InfoStruct(ctypes.Structure):
    """``prw_info_t``."""

    _fields_ = [
        ("readers", ctypes.c_uint32),
        ("writer_pid", ctypes.c_uint32),
        ("writer_tid", ctypes.c_uint32),
        ("writer_active", ctypes.c_uint32),
        ("waiting_readers", ctypes.c_uint32),
        ("waiting_writers", ctypes.c_uint32),
        ("capacity", ctypes.c_uint32),
        ("used_slots", ctypes.c_uint32),
        ("attached", ctypes.c_uint32),
        ("owner_dead", ctypes.c_uint32),
        ("recoveries", ctypes.c_uint64),
        ("owner_deaths", ctypes.c_uint64),
    ]


class HolderStruct(ctypes.Structure):
    """``prw_holder_t``."""

    _fields_ = [
        ("pid", ctypes.c_uint32),
        ("tid", ctypes.c_uint32),
        ("mode", ctypes.c_int32),
        ("waiting", ctypes.c_int32),
        ("count", ctypes.c_uint32),
        ("reserved", ctypes.c_uint32),
        ("since_ns", ctypes.c_int64),
    ]


class HolderExStruct(ctypes.Structure):
    """``prw_holder_ex_t``."""

    _fields_ = [
        ("h", HolderStruct),
        ("owner", ctypes.c_uint64),
        ("fence", ctypes.c_uint64),
        ("host", ctypes.c_char * 256),
    ]


_P = ctypes.c_void_p
_PP = ctypes.POINTER(ctypes.c_void_p)
_SZP = ctypes.POINTER(ctypes.c_size_t)
_I = ctypes.c_int
_I64 = ctypes.c_int64
_U64 = ctypes.c_uint64

# name: (restype, argtypes)
_SIGNATURES = {
    "prw_create": (_I, [_PP]),
    "prw_create_ex": (_I, [ctypes.c_uint, _PP]),
    "prw_open": (_I, [ctypes.c_char_p, _I, ctypes.c_uint, _PP]),
    "prw_open_ex": (_I, [ctypes.c_char_p, _I, ctypes.c_uint, ctypes.c_uint, _PP]),
    "prw_capacity": (_I, [_P, ctypes.POINTER(ctypes.c_uint32)]),
    "prw_close": (_I, [_P]),
    "prw_unlink": (_I, [ctypes.c_char_p]),
    "prw_acquire_read": (_I, [_P, _I64]),
    "prw_acquire_write": (_I, [_P, _I64]),
    "prw_acquire_slice": (_I, [_P, _I, _I64, _I64]),
    "prw_cancel": (_I, [_P]),
    "prw_try_acquire_read": (_I, [_P]),
    "prw_try_acquire_write": (_I, [_P]),
    "prw_release": (_I, [_P]),
    "prw_release_unrepaired": (_I, [_P]),
    "prw_downgrade": (_I, [_P]),
    "prw_fence": (_I, [_P, ctypes.POINTER(ctypes.c_uint64)]),
    "prw_serialize": (_I, [_P, ctypes.c_char_p, _SZP]),
    "prw_deserialize": (_I, [ctypes.c_char_p, _PP]),
    "prw_name": (_I, [_P, ctypes.c_char_p, _SZP]),
    "prw_is_anonymous": (_I, [_P]),
    "prw_info": (_I, [_P, ctypes.POINTER(InfoStruct)]),
    "prw_holders_ex": (_I, [_P, ctypes.POINTER(HolderExStruct), ctypes.c_size_t, _SZP]),
    "prw_strerror": (ctypes.c_char_p, [_I]),
    # Explicit owners (asyncio tasks): holds that belong to an owner number.
    "prw_try_acquire_read_as": (_I, [_P, _U64]),
    "prw_try_acquire_write_as": (_I, [_P, _U64]),
    "prw_acquire_slice_as": (_I, [_P, _U64, _I, _I64, _I64]),
    "prw_cancel_as": (_I, [_P, _U64]),
    "prw_release_as": (_I, [_P, _U64]),
    "prw_release_unrepaired_as": (_I, [_P, _U64]),
    "prw_downgrade_as": (_I, [_P, _U64]),
    "prw_version": (ctypes.c_char_p, []),
}

#: Entry points that never wait, used by the uncontended fast paths. Each
#: ctypes call costs far more than the call into the library (see
#: tests/perf/), so they are bound for the cheapest call ctypes can make:
#:
#: * GIL kept (PyDLL flags): dropping and retaking it costs 35-45 ns per
#:   call. Holding it through a call that cannot block (a try-acquire, a
#:   release) costs other threads nothing they would notice; every call that
#:   may wait goes through the CDLL binding, which drops the GIL.
#: * No restype: ctypes then turns the C int result into a Python int
#:   directly. With restype c_int, CPython <= 3.11 searches its format
#:   table on every call (~250 instructions).
#: * No argtypes: the caller passes the handle as a prebuilt argument object
#:   (:func:`handle_arg`), which ctypes copies as it is. Converting the
#:   handle each call (c_void_p argtype) costs 40-80 ns more.
#:
#: Together about 40% less per call than the CDLL binding with argtypes.
_NEVER_WAIT = ("prw_try_acquire_read", "prw_try_acquire_write", "prw_release")


def _held_function_type(ct: Any = ctypes) -> Any:
    """A function pointer type: cdecl, GIL kept, int result, unchecked arguments.

    Built from ctypes internals (``_CFuncPtr``, ``_FUNCFLAG_PYTHONAPI``), the
    pieces ``CFUNCTYPE`` and ``PyDLL`` are made of; ``None`` when *ct* (the
    ctypes module) lacks them, and :class:`Library` then uses the public,
    slightly slower ``PyDLL`` binding with ``restype = c_int``
    (tests/python/test_lib.py runs both).
    """
    try:
        # A type that defines no _restype_ returns the C int as is.
        class _HeldFunction(ct._CFuncPtr):  # type: ignore[misc]
            _flags_ = ct._FUNCFLAG_CDECL | ct._FUNCFLAG_PYTHONAPI

        return _HeldFunction
    except (AttributeError, TypeError):
        return None


_HeldFunction = _held_function_type()


def handle_arg(handle: ctypes.c_void_p) -> Any:
    """The prebuilt argument for a :data:`_NEVER_WAIT` binding: *handle* as a pointer."""
    return ctypes.c_void_p.from_param(handle.value)


class Library:
    """The loaded ``libprwlock.so`` with its ctypes table.

    The attributes are the C functions without their ``prw_`` prefix.
    """

    def __init__(self, cdll: ctypes.CDLL, path: str, generation: int, held_type: Any = _HeldFunction) -> None:
        self.cdll = cdll
        self.path = path
        self.generation = generation
        self.pid = os.getpid()
        for name, (restype, argtypes) in _SIGNATURES.items():
            fn = getattr(cdll, name)
            fn.restype = restype
            fn.argtypes = argtypes
            setattr(self, name[4:], fn)
        # The same loaded copy (no new dlopen), called with the GIL held.
        pydll = ctypes.PyDLL(path, handle=cdll._handle)
        for name in _NEVER_WAIT:
            if held_type is not None:
                fn = held_type((name, pydll))
            else:
                fn = getattr(pydll, name)
                fn.restype = _I
            setattr(self, "held_" + name[4:], fn)
        self.version: str = self.version_fn()

    def version_fn(self) -> str:
        raw = self.cdll.prw_version()
        return raw.decode() if raw else "unknown"

    # The following are declared for type checkers; __init__ sets them.
    create: Any
    create_ex: Any
    open: Any
    open_ex: Any
    capacity: Any
    close: Any
    unlink: Any
    acquire_read: Any
    acquire_write: Any
    try_acquire_read: Any
    try_acquire_write: Any
    acquire_slice: Any
    cancel: Any
    release: Any
    release_unrepaired: Any
    downgrade: Any
    fence: Any
    serialize: Any
    deserialize: Any
    name: Any
    is_anonymous: Any
    info: Any
    holders_ex: Any
    strerror: Any
    try_acquire_read_as: Any
    try_acquire_write_as: Any
    acquire_slice_as: Any
    cancel_as: Any
    release_as: Any
    release_unrepaired_as: Any
    downgrade_as: Any
    # GIL-holding bindings of the calls that never wait (see _NEVER_WAIT);
    # pass them handle_arg(handle), nothing else.
    held_try_acquire_read: Any
    held_try_acquire_write: Any
    held_release: Any

    def read_string(self, fn: Any, first: Any) -> Tuple[int, str]:
        """Call a ``(first, char *buf, size_t *len)`` function, growing the buffer on ERANGE."""
        size = ctypes.c_size_t(256)
        for _ in range(8):
            buf = ctypes.create_string_buffer(size.value)
            err = fn(first, buf, ctypes.byref(size))
            if err == 34:  # ERANGE: size now holds what is needed
                size = ctypes.c_size_t(max(size.value, len(buf) * 2))
                continue
            if err:
                return err, ""
            return 0, buf.value.decode("utf-8", "surrogateescape")
        return 34, ""


class _State:
    """Per-process loader state."""

    def __init__(self) -> None:
        self.mutex = threading.Lock()
        self.lib: Optional[Library] = None
        # 1 once loaded. Lock objects compare it with the generation of
        # their handle (a closed lock sets its own to -1).
        self.generation = 0


_state = _State()


def candidate_paths() -> List[str]:
    """Return the paths tried, in order: ``$PRWLOCK_LIBRARY``, the package, the repo's build/."""
    paths: List[str] = []
    env = os.environ.get(LIBRARY_ENV)
    if env:
        paths.append(env)
    here = Path(__file__).resolve().parent
    paths.append(str(here / LIBRARY_NAME))
    # A development checkout: python/src/prwlock/_lib.py -> <repo>/build/.
    if len(here.parents) >= 3:
        paths.append(str(here.parents[2] / "build" / LIBRARY_NAME))
    return paths


def _find() -> str:
    tried: List[str] = []
    for path in candidate_paths():
        try:
            os.close(os.open(path, os.O_RDONLY | os.O_CLOEXEC))
        except OSError as exc:
            tried.append("  %s: %s" % (path, exc.strerror or exc))
            continue
        return path
    raise LibraryLoadError(
        "cannot find %s; tried, in order:\n%s\n(set %s to the library's path, "
        "or run 'make build' in a checkout)" % (LIBRARY_NAME, "\n".join(tried), LIBRARY_ENV)
    )


def _load_locked() -> Library:
    path = _find()
    try:
        cdll = ctypes.CDLL(path)
    except OSError as exc:
        raise LibraryLoadError(
            "cannot load %s (from %s): %s; paths tried: %s" % (LIBRARY_NAME, path, exc, ", ".join(candidate_paths()))
        ) from None
    _state.generation = 1
    _state.lib = Library(cdll, path, _state.generation)
    return _state.lib


def get() -> Library:
    """Return the library, loading it on first use."""
    lib = _state.lib
    if lib is not None:
        return lib
    with _state.mutex:
        if _state.lib is None:
            _load_locked()
        assert _state.lib is not None
        return _state.lib


def current_generation() -> int:
    """1 once the library is loaded, 0 before."""
    return _state.generation


def loaded() -> Optional[Library]:
    """The library if it is loaded, without loading it."""
    return _state.lib


def _before_fork() -> None:
    # Never fork in the middle of a load.
    _state.mutex.acquire()


def _after_fork_parent() -> None:
    _state.mutex.release()


def _after_fork_child() -> None:
    # The thread that held the mutex in the parent is the one that forked
    # (we took it in _before_fork), but use a fresh one anyway. The library
    # stays loaded: its handles are valid in the child.
    _state.mutex = threading.Lock()
    for hook in list(_child_hooks):
        try:
            hook()
        except Exception:  # pragma: no cover - never break a fork
            pass


_child_hooks: List[Any] = []


def on_fork_child(hook: Any) -> None:
    """Run *hook* in every fork child made through :func:`os.fork`."""
    _child_hooks.append(hook)


os.register_at_fork(
    before=_before_fork, after_in_parent=_after_fork_parent, after_in_child=_after_fork_child
)

__all__ = [
    "HolderStruct",
    "InfoStruct",
    "Library",
    "MODE_READ",
    "MODE_WRITE",
    "PRW_CREATE",
    "PRW_EXCL",
    "PRW_MULTIUSER",
    "candidate_paths",
    "current_generation",
    "get",
    "loaded",
    "on_fork_child",
]
