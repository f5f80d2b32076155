"""Work around a PySide6 reference-counting bug on Python 3.11.

PySide6 6.12 (shiboken6 6.12) returns ``None`` from void methods and takes ``None`` back from
Python overrides without counting the reference, as if ``None`` were immortal, which it is only
from Python 3.12 on.  On Python 3.11 every ``QPainter.setPen(...)`` then drops one reference to
``None``, and after a few thousand repaints the interpreter dies with "none_dealloc: deallocating
None" (the same holds for ``True`` and ``False``).  :func:`guard_none` makes these singletons
effectively immortal on 3.11 (what 3.12 does): it adds 2**40 references to each, which no
session can use up.  It is a no-op on Python >= 3.12.
"""

from __future__ import annotations

import ctypes
import sys

_done = False


def guard_none() -> None:
    global _done
    if _done or sys.version_info >= (3, 12):
        return
    # None, True and False are returned by the 3.12-style Py_RETURN_* macros without a reference
    for obj in (None, True, False, Ellipsis, NotImplemented):
        ctypes.c_ssize_t.from_address(id(obj)).value += 1 << 40
    _done = True
