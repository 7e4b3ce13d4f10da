"""Errors a user can cause and fix, and how the ``rlnn`` command words them.

Library code in ``experiments/`` raises :class:`UsageError` (a ``ValueError``) for a bad flag,
file, id or setting; only the command line (:mod:`experiments.cli`) turns it into the one line
``rlnn: error: ...`` and exit code 2, so the same functions stay usable from Python and tests.
"""

from __future__ import annotations

import errno

from agents.safety import shown


class UsageError(ValueError):
    """Something the user can fix; the message is one line saying what is wrong and what to do."""


def describe_os_error(exc: OSError) -> str:
    """One line for an ``OSError`` (a full disk, a folder that cannot be written): what failed,
    on which file, and what to do, instead of a traceback."""
    where = f" {shown(str(exc.filename), 120)}" if exc.filename is not None else ""
    reason = exc.strerror or str(exc) or type(exc).__name__
    if exc.errno == errno.ENOSPC:
        return f"no space left on the device writing{where}: free some space"
    if exc.errno == errno.EDQUOT:
        return f"disk quota exceeded writing{where}: free some space"
    if exc.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        return f"cannot write{where} ({reason}): choose a folder you can write to"
    return f"{reason}:{where}" if where else reason


def escaped(text: str, limit: int = 160) -> str:
    """``text`` (e.g. an exception's message) escaped and cut like :func:`agents.safety.shown`,
    without the quotes, for the middle of a sentence."""
    quoted = shown(str(text), limit + 2)
    return quoted[1:] if quoted.endswith("…") else quoted[1:-1]
