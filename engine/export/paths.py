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

import functools
import os
import re
import stat
from pathlib import Path, PurePosixPath

from engine.safeio import SafeIOError
from engine.scan import key_path  # names that are not UTF-8 are stored escaped (path_key)

_BAD_CHARS = re.compile(r"[\x00-\x1f\x7f\\]")
_DRIVE = re.compile(r"^[A-Za-z]:")


class UnsafePathError(SafeIOError):
    """A catalog path that is not a file inside the session folder; the message is one line."""


def _inside(real: str, real_root: str) -> bool:
    return real == real_root or real.startswith(real_root.rstrip(os.sep) + os.sep)


def as_text(value: object) -> object:
    """A path stored as bytes (a file name that is not valid UTF-8, kept losslessly) as the
    surrogate-escaped text the file system functions take; anything else unchanged."""
    return os.fsdecode(value) if isinstance(value, bytes) else value


def lexical_problem(value: object) -> str | None:
    """Why ``value`` (a path from a catalog) is not a plain relative path; ``None`` when it is."""
    value = as_text(value)
    if not isinstance(value, str):
        return f"is not a path ({type(value).__name__})"
    if value == "":
        return "is empty"
    if _BAD_CHARS.search(value):
        return "holds a NUL, control character or backslash"
    if value.startswith("/") or _DRIVE.match(value):
        return "is absolute"
    if ".." in value.split("/"):
        return "climbs out with '..'"
    return None


def inside_root(root: Path, value: object, what: str = "path") -> Path:
    """``root / value`` when it is inside the session folder ``root`` (symlinks followed),
    else :class:`UnsafePathError`.  ``root`` should be resolved; the returned path keeps the
    catalog's spelling under ``root`` (a link inside the folder stays a link)."""
    value = as_text(value)
    why = lexical_problem(value)
    shown = repr(value)[:200]
    if why is not None:
        raise UnsafePathError(
            f"catalog {what} {shown} {why}: refused, it must be a file inside {root} "
            "(was the catalog edited, or made for another folder?)"
        )
    assert isinstance(value, str)
    fs = key_path(value)  # names that are not UTF-8 are stored escaped (engine.scan.path_key)
    p = Path(root) / PurePosixPath(fs)
    real = _leads_to(_real_root(str(root)), fs)
    if real is not None:
        raise UnsafePathError(
            f"catalog {what} {shown} leads out of the session folder {root} "
            f"(through a symbolic link, to {real}): refused, nothing read or written through it",
            path=p,
        )
    return p


@functools.lru_cache(maxsize=32)
def _real_root(root: str) -> str:
    return os.path.realpath(root)


def _leads_to(real_root: str, value: str) -> str | None:
    """Where the lexically safe ``value`` under ``real_root`` really is, when that is outside;
    ``None`` when it stays inside.  Only the components below the root are looked at (one
    ``lstat`` each); the first link found resolves the rest in full."""
    parts = [part for part in value.split("/") if part not in ("", ".")]
    cur = real_root
    for i, part in enumerate(parts):
        cur = os.path.join(cur, part)
        try:
            st = os.lstat(cur)
        except (OSError, ValueError):
            return None  # nothing there: nothing to follow
        if stat.S_ISLNK(st.st_mode):
            real = os.path.realpath(os.path.join(cur, *parts[i + 1 :]))
            return None if _inside(real, real_root) else real
    return None


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
