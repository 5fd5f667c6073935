"""Words for the library's ownership refusals (``EACCES``).

The C library refuses, unless the caller passes ``multiuser=True``, a lock
file that is owned by neither the caller's effective uid nor root, or that
users other than its owner can write: another local user could have planted
it (see README, Permissions). It decides on the descriptor it opened and
returns only ``EACCES``; this module looks at the file again to say which
case it was. That second look only words the message: it is never a check.
"""

from __future__ import annotations

import errno
import os
from typing import Optional, TypeVar, Union

from ._errors import PrwlockError
from ._paths import lock_path

_HINT = "pass multiuser=True if the lock is meant to be shared between users"

E = TypeVar("E", bound=PrwlockError)


def _user(uid: int) -> str:
    try:
        import pwd

        return "%s (uid %d)" % (pwd.getpwuid(uid).pw_name, uid)
    except (ImportError, KeyError):
        return "uid %d" % uid


def why_refused(path: str, unlink: bool = False) -> Optional[str]:
    """Return why the ownership rule refuses *path*, or ``None`` if it does not.

    :param unlink: apply the rule of unlink, which looks at the owner only.
    """
    try:
        st = os.lstat(path)
    except OSError:
        return None
    euid = os.geteuid()
    if st.st_uid not in (euid, 0):
        if unlink:
            return "%s is owned by %s, neither by you nor by root; not removing another user's lock " \
                "(remove it as its owner, or with rm)" % (path, _user(st.st_uid))
        return "%s is owned by %s, neither by you nor by root, so another user could have planted it; %s" % (
            path, _user(st.st_uid), _HINT)
    if st.st_mode & 0o022 and not unlink:
        return "%s has mode %#o: users other than its owner (%s) can write it; %s" % (
            path, st.st_mode & 0o777, _user(st.st_uid), _HINT)
    return None


def explain(exc: E, name: Union[str, bytes], multiuser: bool = False, unlink: bool = False) -> E:
    """Return *exc*, or for an ownership refusal the same exception with a message that says why."""
    if exc.errno != errno.EACCES or multiuser:
        return exc
    why = why_refused(lock_path(name), unlink)
    if why is None:
        return exc
    return type(exc)(exc.errno, why, exc.filename)
