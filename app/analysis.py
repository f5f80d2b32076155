"""Runs the engine's analysis (:func:`engine.pipeline.rank_folder`) off the GUI thread.

The engine calls ``progress(ProgressEvent)`` from the thread it runs in; the thread re-emits
each event as a Qt signal, which Qt queues to the GUI thread.  Cancelling sets the engine's
``threading.Event``; finished shots stay in the catalog and a later run resumes.
"""

from __future__ import annotations

import dataclasses
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from PySide6.QtCore import QThread, Signal


@dataclasses.dataclass
class Progress:
    phase: str
    done: int
    total: int
    path: str | None
    message: str
    eta_s: float | None


def engine_available() -> bool:
    try:
        from engine.pipeline import rank_folder  # noqa: F401
    except ImportError:
        return False
    return True


class EtaEstimator:
    """Seconds left from the rate of the current phase (analysis dominates)."""

    def __init__(self) -> None:
        self.phase = ""
        self.t0 = 0.0
        self.d0 = 0

    def update(self, phase: str, done: int, total: int, now: float | None = None) -> float | None:
        now = time.monotonic() if now is None else now
        if phase != self.phase:
            self.phase, self.t0, self.d0 = phase, now, done
            return None
        n = done - self.d0
        dt = now - self.t0
        if n <= 0 or dt < 0.5 or total <= 0:
            return None
        return max(0.0, (total - done) * dt / n)


class AnalysisThread(QThread):
    progress = Signal(object)  # Progress
    finished_ok = Signal(object)  # RankSummary
    failed = Signal(str)
    cancelled = Signal()

    def __init__(self, root: Path, catalog: Path, recursive: bool, sensitivity: float = 0.5,
                 members: list[str] | None = None, workers: int | None = None,
                 device: str | None = None, rank_fn: Callable[..., Any] | None = None,
                 parent: Any = None):
        super().__init__(parent)
        self.root, self.catalog, self.recursive = root, catalog, recursive
        self.sensitivity, self.members, self.workers, self.device = sensitivity, members, workers, device
        self.cancel_event = threading.Event()
        self.rank_fn = rank_fn
        self.eta = EtaEstimator()
        self.started_at = 0.0

    def cancel(self) -> None:
        self.cancel_event.set()

    def _options(self) -> dict[str, Any]:
        kw: dict[str, Any] = {"root": self.root, "catalog": self.catalog, "recursive": self.recursive,
                              "workers": self.workers, "sensitivity": self.sensitivity}
        if self.members:
            kw["members"] = self.members
        if self.device:
            kw["device"] = self.device
        return kw

    def _on_event(self, ev: Any) -> None:  # this thread
        phase = str(getattr(ev, "phase", ""))
        done = int(getattr(ev, "done", 0) or 0)
        total = int(getattr(ev, "total", 0) or 0)
        eta = self.eta.update(phase, done, total) if phase == "analyse" else None
        self.progress.emit(Progress(phase, done, total, getattr(ev, "path", None),
                                    str(getattr(ev, "message", "") or ""), eta))

    def run(self) -> None:  # worker thread
        self.started_at = time.monotonic()
        if self.rank_fn is not None:  # in-process (tests, embedding)
            try:
                summary = self.rank_fn(self.root, self.catalog, self._on_event, self.cancel_event)
            except Exception as exc:
                self._fail(type(exc).__name__, str(exc))
                return
            self._finish(summary)
            return
        self._run_process()

    def _run_process(self) -> None:
        import multiprocessing as mp
        import queue as queue_mod
        from types import SimpleNamespace

        from app.engine_process import run_child

        ctx = mp.get_context("spawn")
        q = ctx.Queue()
        cancel = ctx.Event()
        proc = ctx.Process(target=run_child, args=(self._options(), q, cancel), name="culler-analysis")
        proc.start()
        result: tuple[Any, ...] | None = None
        try:
            while result is None:
                if self.cancel_event.is_set() and not cancel.is_set():
                    cancel.set()
                try:
                    msg = q.get(timeout=0.1)
                except queue_mod.Empty:
                    if not proc.is_alive():
                        try:  # the last message may still be in the pipe
                            msg = q.get(timeout=0.5)
                        except queue_mod.Empty:
                            result = ("error", "ProcessError",
                                      f"the analysis process stopped unexpectedly (exit code {proc.exitcode})")
                            break
                    else:
                        continue
                if msg[0] == "progress":
                    _k, phase, done, total, path, message = msg
                    self._on_event(SimpleNamespace(phase=phase, done=done, total=total, path=path,
                                                   message=message))
                else:
                    result = msg
        finally:
            proc.join(timeout=30)
            if proc.is_alive():
                proc.terminate()
                proc.join(5)
        if result[0] == "done":
            self._finish(SimpleNamespace(**result[1]))
        else:
            self._fail(result[1], result[2])

    def _fail(self, kind: str, msg: str) -> None:
        if self.cancel_event.is_set():
            self.cancelled.emit()
        elif kind in ("CatalogError", "PipelineError", "OSError", "PermissionError", "ProcessError"):
            self.failed.emit(msg)
        else:
            self.failed.emit(f"{kind}: {msg}")

    def _finish(self, summary: Any) -> None:
        if self.cancel_event.is_set() or getattr(summary, "cancelled", False):
            self.cancelled.emit()
        else:
            self.finished_ok.emit(summary)


class ListingThread(QThread):
    """Lists the folder (no hashing, no decoding) off the GUI thread."""

    listed = Signal(object)  # dict key -> (primary, raw)
    failed = Signal(str)

    def __init__(self, root: Path, recursive: bool, parent: Any = None):
        super().__init__(parent)
        self.root, self.recursive = root, recursive

    def run(self) -> None:  # worker thread
        from app.pacing import Pacer
        from app.session import quick_listing

        try:
            listing = quick_listing(self.root, self.recursive, Pacer())
        except OSError as exc:
            self.failed.emit(f"The folder {self.root} cannot be read: {exc.strerror or exc}.")
            return
        self.listed.emit(listing)


class RegroupThread(QThread):
    """Re-groups and re-ranks the analysed shots (new grouping sensitivity or members); no image
    is decoded again (:func:`engine.pipeline.regroup`)."""

    done = Signal()
    failed = Signal(str)

    def __init__(self, catalog: Path, members: list[str] | None, sensitivity: float, parent: Any = None):
        super().__init__(parent)
        self.catalog, self.members, self.sensitivity = catalog, members, sensitivity

    def run(self) -> None:  # worker thread
        try:
            from engine.catalog import Catalog
            from engine.pipeline import regroup

            cat = Catalog(self.catalog)
            try:
                regroup(cat, self.members, self.sensitivity)
            finally:
                cat.close()
        except Exception as exc:  # one message for the user
            self.failed.emit(str(exc) or type(exc).__name__)
            return
        self.done.emit()


class SnapshotThread(QThread):
    """Reads the session's catalog into a :class:`app.session.Snapshot` with its own read-only
    connection, so that opening a 2,000-shot catalog never blocks the GUI."""

    done = Signal(object)
    failed = Signal(str)

    def __init__(self, session: Any, parent: Any = None):
        super().__init__(parent)
        self.session = session

    def run(self) -> None:  # worker thread
        import sqlite3

        from app.pacing import Pacer

        try:
            conn = self.session.open_reader()
            try:
                snap = self.session.read_snapshot(conn, Pacer())
            finally:
                conn.close()
        except sqlite3.Error as exc:
            self.failed.emit(f"The catalog {self.session.catalog_path} cannot be read: {exc}")
            return
        self.done.emit(snap)
