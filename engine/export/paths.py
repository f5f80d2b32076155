"""Paths read from a catalog are not trusted: each one must name a file inside the session folder.

A catalog is an SQLite file anyone can edit, copy from another machine, or damage.  Every path
the export (and ``culler check``) reads from it goes through :func:`inside_root` first:

* it must be a relative, ``/``-separated path: no absolute path, drive letter, backslash,
  NUL or control character, and no ``..`` component;
* ``root / path`` with every symlink followed (``os.path.realpath``) must still be inside the
  real session folder: a link (of the file or of any folder above it) that leaves the folder
  is refused, so nothing is ever read, copied or written through it.

A refused path gives one line (:class:`UnsafePathError`, a :class:`SafeIOError`) and the shot
is skipped; the rest of the export goes on.
"""

from __future__ import annotations

import os
import re
from pathlib import Path, PurePosixPath

from engine.safeio import SafeIOError
from engine.scan import key_path  # names that are not UTF-8 are stored escaped (path_key)

_BAD_CHARS = re.compile(r"[\x00-\x1f\x7f\\]")
_DRIVE = re.compile(r"^[A-Za-z]:")


class UnsafePathError(SafeIOError):
    """A catalog path that is not a file inside the session folder; the message is one line."""


def _inside(real: str, real_root: str) -> bool:
    return real == real_root or real.startswith(real_root.rstrip(os.sep) + os.sep)


def lexical_problem(value: object) -> str | None:
    """Why ``value`` (a path from a catalog) is not a plain relative path; ``None`` when it is."""
    if not isinstance(value, str):
        return f"is not a path ({type(value).__name__})"
    if value == "":
        return "is empty"
    if _BAD_CHARS.search(value):
        return "holds a NUL, control character or backslash"
    if value.startswith("/") or _DRIVE.match(value):
        return "is absolute"
    if any(part == ".." for part in PurePosixPath(value).parts):
        return "climbs out with '..'"
    return None


def inside_root(root: Path, value: object, what: str = "path") -> Path:
    """``root / value`` when it is inside the session folder ``root`` (symlinks followed),
    else :class:`UnsafePathError`.  ``root`` should be resolved; the returned path keeps the
    catalog's spelling under ``root`` (a link inside the folder stays a link)."""
    why = lexical_problem(value)
    shown = repr(value)[:200]
    if why is not None:
        raise UnsafePathError(
            f"catalog {what} {shown} {why}: refused, it must be a file inside {root} "
            "(was the catalog edited, or made for another folder?)"
        )
    assert isinstance(value, str)
    p = Path(root) / PurePosixPath(key_path(value))
    real_root = os.path.realpath(root)
    real = os.path.realpath(p)
    if not _inside(real, real_root):
        raise UnsafePathError(
            f"catalog {what} {shown} leads out of the session folder {root} "
            f"(through a symbolic link, to {real}): refused, nothing read or written through it",
            path=p,
        )
    return p


def link_leaves(root: Path, path: Path) -> bool:
    """True when ``path`` (a file beside a catalogued one: a sidecar) resolves outside ``root``."""
    return not _inside(os.path.realpath(path), os.path.realpath(root))


def path_problems(root: Path, values: list[tuple[str, object]], limit: int = 5) -> tuple[int, list[str]]:
    """``(count, first messages)`` of the catalog paths ``(what, value)`` that leave ``root``."""
    n = 0
    first: list[str] = []
    for what, value in values:
        if value is None:
            continue
        try:
            inside_root(root, value, what)
        except UnsafePathError as exc:
            n += 1
            if len(first) < limit:
                first.append(str(exc))
    return n, first
