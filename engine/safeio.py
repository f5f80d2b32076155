"""Safe writes: every file portrait-culler writes goes through here.

The rules, for the photographer's files and for our own:

* originals are only ever opened read-only (``open(path, "rb")``);
* a write goes to a temporary file in the destination folder, is flushed and
  fsync'ed, then renamed over (``replace=True``) or linked into place without
  ever replacing anything (``replace=False``), and the folder is fsync'ed: a
  crash at any point leaves either the old file or the new one, plus at worst
  a stray ``.culler-tmp-*`` file that the next run removes;
* every ``OSError`` becomes a :class:`SafeIOError` with a message a
  photographer can act on (full disk, write-protected card, path too long...).

Testing hook: when the environment variable ``CULLER_FAULT_KILL_AT`` is ``N``,
the process SIGKILLs itself at the N-th atomic write, after the temporary file
is complete and before it is renamed into place: the worst moment for a crash.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import os
import secrets
import signal
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO

TMP_PREFIX = ".culler-tmp-"
_CHUNK = 1 << 20

# errno values after which going on writing is pointless (the next write fails the same way).
FATAL_ERRNOS = {errno.ENOSPC, errno.EDQUOT}


class SafeIOError(Exception):
    """A write or read that failed; ``str(exc)`` is a message for the user."""

    def __init__(self, message: str, *, path: Path | None = None, errno_: int | None = None):
        super().__init__(message)
        self.path = path
        self.errno = errno_

    @property
    def fatal(self) -> bool:
        """True when further writes will fail the same way (full disk, quota)."""
        return self.errno in FATAL_ERRNOS


def describe_oserror(exc: OSError, path: Path, action: str = "cannot write") -> SafeIOError:
    """Turn an ``OSError`` into a :class:`SafeIOError` with a clear message."""
    path = Path(path)
    folder = path.parent
    code = exc.errno
    if code in (errno.ENOSPC, errno.EDQUOT):
        msg = f"the disk holding {folder} is full (or over quota); nothing was replaced"
    elif code == errno.EROFS:
        msg = f"{folder} is on a read-only file system (write-protected card?); nothing was written there"
    elif code in (errno.EACCES, errno.EPERM):
        msg = f"no permission to write in {folder}; nothing was written there"
    elif code == errno.ENAMETOOLONG:
        msg = f"path too long for this file system ({len(str(path))} characters): {path}"
    elif code == errno.EXDEV:
        msg = (
            f"{path} would be on another disk than its original: hard links cannot cross disks; "
            "export without --link to copy"
        )
    elif code == errno.EEXIST:
        msg = f"{path} already exists; nothing was overwritten"
    elif code == errno.ENOENT:
        msg = f"{action} {path}: no such file or folder"
    else:
        msg = f"{action} {path}: {exc.strerror or exc}"
    return SafeIOError(msg, path=path, errno_=code)


# -- paths -----------------------------------------------------------------------------------------
def _limits(folder: Path) -> tuple[int, int]:
    probe = folder
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent
    name_max, path_max = 255, 4096
    try:
        name_max = os.pathconf(probe, "PC_NAME_MAX")
        path_max = os.pathconf(probe, "PC_PATH_MAX")
    except (OSError, ValueError, AttributeError):
        if os.name == "nt":  # pragma: no cover - Windows without long-path support
            path_max = 260
    return int(name_max), int(path_max)


def check_path(path: Path) -> None:
    """Refuse a path the file system cannot hold, before anything is written."""
    path = Path(path)
    name_max, path_max = _limits(path.parent)
    too_long = [part for part in path.parts if len(os.fsencode(part)) > name_max]
    if too_long or len(os.fsencode(str(path))) >= path_max:
        detail = (
            f"name of {len(os.fsencode(too_long[0]))} bytes, limit {name_max}"
            if too_long
            else f"{len(os.fsencode(str(path)))} bytes, limit {path_max}"
        )
        raise SafeIOError(
            f"path too long for this file system ({detail}): {path}",
            path=path,
            errno_=errno.ENAMETOOLONG,
        )


def temp_path_for(final: Path) -> Path:
    """A fresh temporary name beside ``final`` (short, so it fits wherever ``final`` fits)."""
    suffix = final.suffix if len(final.suffix) <= 16 else ""
    return final.with_name(f"{TMP_PREFIX}{os.getpid()}-{secrets.token_hex(4)}{suffix}")


def ensure_dir(folder: Path) -> None:
    try:
        check_path(folder / "x")
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise describe_oserror(exc, folder / ".", "cannot create the folder") from exc


def fsync_dir(folder: Path) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass  # some file systems (network, FAT on some kernels) refuse; the rename is still atomic
    finally:
        os.close(fd)


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def clean_stale_temps(folder: Path) -> list[Path]:
    """Remove temporary files left in ``folder`` by a killed run (never those of a live process)."""
    removed: list[Path] = []
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return removed
    for e in entries:
        if not e.name.startswith(TMP_PREFIX):
            continue
        pid_text = e.name[len(TMP_PREFIX) :].split("-", 1)[0]
        if not pid_text.isdigit():
            continue
        pid = int(pid_text)
        if pid == os.getpid() or _pid_alive(pid):
            continue
        try:
            if e.is_file(follow_symlinks=False):
                os.unlink(e.path)
                removed.append(Path(e.path))
        except OSError:
            pass
    return removed


# -- fault injection for the crash tests --------------------------------------------------------
_fault_count = 0


def _fault_point() -> None:
    global _fault_count
    at = os.environ.get("CULLER_FAULT_KILL_AT")
    if not at:
        return
    _fault_count += 1
    if str(_fault_count) == at.strip():
        os.kill(os.getpid(), signal.SIGKILL)


# -- writing ------------------------------------------------------------------------------------------
def publish(tmp: Path, final: Path, *, replace: bool) -> None:
    """Move a complete, fsync'ed temporary file into place.

    ``replace=False`` never overwrites: it hard-links the temporary file to its final name
    (atomic, fails when the name exists), falling back to a checked rename on file systems
    without hard links (FAT/exFAT cards, some network shares).
    """
    _fault_point()
    try:
        if replace:
            os.replace(tmp, final)
        else:
            try:
                os.link(tmp, final)
            except OSError as exc:
                if exc.errno == errno.EEXIST:
                    raise
                if exc.errno not in (errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP, errno.EMLINK, errno.ENOSYS):
                    raise
                if os.path.lexists(final):
                    raise FileExistsError(errno.EEXIST, "File exists", str(final)) from None
                os.rename(tmp, final)
            else:
                os.unlink(tmp)
    except OSError as exc:
        _unlink_quiet(tmp)
        raise describe_oserror(exc, final) from exc
    fsync_dir(final.parent)


def _unlink_quiet(p: Path) -> None:
    with contextlib.suppress(OSError):
        os.unlink(p)


def write_atomic(
    path: Path,
    writer: Callable[[BinaryIO], None],
    *,
    replace: bool,
    mtime_ns: int | None = None,
    mode: int | None = None,
) -> None:
    """Write ``path`` through a temporary file: ``writer(f)`` fills it; then fsync and rename.

    ``replace=False`` refuses (``SafeIOError``, nothing touched) when ``path`` exists.
    """
    path = Path(path)
    check_path(path)
    if not replace and os.path.lexists(path):
        raise SafeIOError(f"{path} already exists; nothing was overwritten", path=path, errno_=errno.EEXIST)
    tmp = temp_path_for(path)
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0), 0o666)
    except OSError as exc:
        raise describe_oserror(exc, path) from exc
    try:
        with os.fdopen(fd, "wb") as f:
            writer(f)
            f.flush()
            os.fsync(f.fileno())
        if mode is not None:
            os.chmod(tmp, mode)
        if mtime_ns is not None:
            os.utime(tmp, ns=(mtime_ns, mtime_ns))
    except OSError as exc:
        _unlink_quiet(tmp)
        raise describe_oserror(exc, path) from exc
    except BaseException:
        _unlink_quiet(tmp)
        raise
    publish(tmp, path, replace=replace)


def write_bytes_atomic(
    path: Path, data: bytes, *, replace: bool, mtime_ns: int | None = None, mode: int | None = None
) -> None:
    def writer(f: BinaryIO) -> None:
        f.write(data)

    write_atomic(path, writer, replace=replace, mtime_ns=mtime_ns, mode=mode)


def copy_atomic(src: Path, dst: Path, *, replace: bool = False, keep_mtime: bool = True) -> None:
    """Copy ``src`` (opened read-only) to ``dst`` through a temporary file."""
    try:
        st = os.stat(src)
        fsrc = open(src, "rb")  # noqa: SIM115 - closed below
    except OSError as exc:
        raise describe_oserror(exc, Path(src), "cannot read") from exc

    def writer(f: BinaryIO) -> None:
        while block := fsrc.read(_CHUNK):
            f.write(block)

    try:
        write_atomic(dst, writer, replace=replace, mtime_ns=st.st_mtime_ns if keep_mtime else None)
    finally:
        fsrc.close()


def link_file(src: Path, dst: Path) -> None:
    """Hard-link ``src`` as ``dst``; never replaces an existing ``dst``."""
    check_path(dst)
    try:
        os.link(src, dst)
    except OSError as exc:
        raise describe_oserror(exc, Path(dst)) from exc
    fsync_dir(Path(dst).parent)


def read_bytes(path: Path, limit: int | None = None) -> bytes:
    """Read a file (read-only); ``limit`` refuses larger files."""
    try:
        with open(path, "rb") as f:
            if limit is not None:
                data = f.read(limit + 1)
                if len(data) > limit:
                    raise SafeIOError(f"{path} is too large ({limit} bytes at most)", path=Path(path))
                return data
            return f.read()
    except OSError as exc:
        raise describe_oserror(exc, Path(path), "cannot read") from exc


def file_digest(path: Path) -> str:
    """BLAKE2b of a file's content, read-only."""
    h = hashlib.blake2b(digest_size=20)
    try:
        with open(path, "rb") as f:
            while block := f.read(_CHUNK):
                h.update(block)
    except OSError as exc:
        raise describe_oserror(exc, Path(path), "cannot read") from exc
    return h.hexdigest()
