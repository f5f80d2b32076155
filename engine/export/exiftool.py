"""The optional ``exiftool`` (Debian: ``libimage-exiftool-perl``): embedding XMP in TIFF, DNG
and HEIF, and reading ratings back.

:class:`Exiftool` keeps one exiftool process open (``-stay_open``) for a whole export, which
saves the ~0.3 s Perl start-up per call; a plain path string runs one process per call.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import IO


class ExiftoolError(Exception):
    """exiftool missing or failing; message for the user."""


def find_exiftool() -> str | None:
    """Path of exiftool (``CULLER_EXIFTOOL`` overrides; an empty value disables it)."""
    override = os.environ.get("CULLER_EXIFTOOL")
    if override is not None:
        return override or None
    return shutil.which("exiftool")


class Exiftool:
    """A long-running exiftool; use as a context manager.  Falls back to one process per call
    for arguments it cannot pass through its argument file (newlines in file names)."""

    def __init__(self, exe: str, timeout: float = 120):
        self.exe = exe
        self.timeout = timeout
        self._proc: subprocess.Popen[bytes] | None = None
        self._n = 0
        self._lock = threading.Lock()

    def __enter__(self) -> Exiftool:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        proc, self._proc = self._proc, None
        if proc is None:
            return
        try:
            assert proc.stdin is not None
            proc.stdin.write(b"-stay_open\nFalse\n")
            proc.stdin.close()
            proc.wait(timeout=10)
        except (OSError, subprocess.TimeoutExpired, AssertionError):
            proc.kill()
            proc.wait()

    def _start(self) -> subprocess.Popen[bytes]:
        if self._proc is None or self._proc.poll() is not None:
            try:
                self._proc = subprocess.Popen(
                    [self.exe, "-stay_open", "True", "-@", "-"],
                    stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                    preexec_fn=_die_with_parent(),
                )  # fmt: skip
            except OSError as exc:
                raise ExiftoolError(f"exiftool could not run: {exc}") from exc
        return self._proc

    @staticmethod
    def _read_until(stream: IO[bytes], marker: bytes) -> bytes:
        out = bytearray()
        while True:
            line = stream.readline()
            if not line:
                raise ExiftoolError("exiftool stopped unexpectedly")
            if line.rstrip(b"\r\n") == marker:
                return bytes(out)
            out += line

    def run(self, args: list[str]) -> tuple[int | None, bytes, bytes]:
        """``(exit status or None, stdout, stderr)`` of one exiftool command."""
        if any("\n" in a or "\r" in a for a in args):
            proc = _run(self.exe, args, self.timeout)
            return proc.returncode, proc.stdout, proc.stderr
        with self._lock:
            p = self._start()
            assert p.stdin is not None and p.stdout is not None and p.stderr is not None
            self._n += 1
            marker = f"{{ready{self._n}}}"
            payload = "\n".join([*args, "-echo4", marker, f"-execute{self._n}"]) + "\n"
            timer = threading.Timer(self.timeout, p.kill)
            timer.start()
            try:
                p.stdin.write(payload.encode("utf-8"))
                p.stdin.flush()
                out = self._read_until(p.stdout, marker.encode())
                err = self._read_until(p.stderr, marker.encode())
            except (OSError, ExiftoolError) as exc:
                self._proc = None
                raise ExiftoolError(f"exiftool failed: {exc}") from exc
            finally:
                timer.cancel()
            return None, out, err


ExiftoolLike = str | Exiftool


def _die_with_parent() -> Callable[[], None] | None:
    """For the child: be sent SIGTERM when this thread's process dies (Linux).

    exiftool in ``-stay_open`` mode keeps polling its argument file after end-of-file, so a
    ``culler export`` killed mid-run (SIGKILL, no ``close()``) would otherwise leave it running
    for ever.  The signal follows the *thread* that started it: an export runs in one thread
    (the CLI's, or the GUI's export job) from the first exiftool call to ``close()``."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        import ctypes
        import signal

        prctl = ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None
    parent = os.getpid()

    def child() -> None:  # runs in the forked child, before exec
        prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
        if os.getppid() != parent:  # the parent died before the line above took effect
            os._exit(1)

    return child


def _abs(p: Path) -> str:
    # absolute, so that a file name starting with '-' is never read as an option
    return str(Path(p).absolute())


def _run(exe: str, args: list[str], timeout: float = 120) -> subprocess.CompletedProcess[bytes]:
    try:
        return subprocess.run([exe, *args], capture_output=True, timeout=timeout, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise ExiftoolError(f"exiftool could not run: {exc}") from exc


def _call(exe: ExiftoolLike, args: list[str]) -> tuple[int | None, bytes, bytes]:
    if isinstance(exe, Exiftool):
        return exe.run(args)
    proc = _run(exe, args)
    return proc.returncode, proc.stdout, proc.stderr


def read_rating_label(exe: ExiftoolLike, paths: list[Path]) -> dict[str, tuple[int | None, str | None]]:
    """``{absolute path: (xmp:Rating, xmp:Label)}`` as exiftool reads them."""
    if not paths:
        return {}
    _, stdout, stderr = _call(
        exe, ["-j", "-n", "-charset", "filename=utf8", "-XMP-xmp:Rating", "-XMP-xmp:Label",
              *[_abs(p) for p in paths]],
    )  # fmt: skip
    try:
        rows = json.loads(stdout.decode("utf-8") or "[]")
    except (ValueError, UnicodeDecodeError) as exc:
        raise ExiftoolError(f"exiftool output unreadable: {stderr.decode(errors='replace')}") from exc
    out: dict[str, tuple[int | None, str | None]] = {}
    for r in rows:
        rating = r.get("Rating")
        label = r.get("Label")
        out[str(Path(r["SourceFile"]))] = (
            None if rating is None else int(float(rating)),
            None if label in (None, "") else str(label),
        )
    return out


def write_copy(exe: ExiftoolLike, src: Path, dst: Path, rating: int, label: str | None) -> None:
    """Write ``src`` with XMP rating/label set as the new file ``dst`` (which must not exist)."""
    args = [
        "-q", "-m", "-charset", "filename=utf8",
        f"-XMP-xmp:Rating={rating}",
        f"-XMP-xmp:Label={label or ''}",
        "-o", _abs(dst),
        _abs(src),
    ]  # fmt: skip
    code, _, stderr = _call(exe, args)
    if code not in (0, None) or not Path(dst).exists():
        with contextlib.suppress(OSError):
            Path(dst).unlink()
        msg = stderr.decode("utf-8", errors="replace").strip() or f"exit status {code}"
        raise ExiftoolError(f"exiftool could not write {src.name}: {msg}")
