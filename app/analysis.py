"""The engine's analysis (:func:`engine.pipeline.rank_folder`), run for the window.

:func:`run_analysis` runs in a :class:`app.workers.Worker`: by default it drives the engine in a
child process (:mod:`app.engine_process`) and relays its messages, typed dataclasses, as
:class:`Progress` to the GUI thread; a ``rank_fn`` (tests, embedding) runs in-process instead.
Cancelling sets the engine's event; finished shots stay in the catalog and a later run resumes.
Errors are classified by type where they are raised (:func:`describe_error`).
"""

from __future__ import annotations

import dataclasses
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any


@dataclasses.dataclass(frozen=True)
class Progress:
    phase: str  # "scan", "analyse", "group", "done"
    done: int
    total: int
    path: str | None
    message: str
    eta_s: float | None


@dataclasses.dataclass(frozen=True)
class AnalysisRequest:
    """What the window asks for; becomes the engine's ``RankOptions`` in the child."""

    root: Path
    catalog: Path
    recursive: bool = False
    sensitivity: float | None = None  # None: the catalog's stored value (``culler rank -s``)
    strictness: str | None = None  # None: the catalog's stored value (``culler rank --keep``)
    members: list[str] | None = None
    workers: int | None = None
    device: str = "auto"


class AnalysisFailed(Exception):
    """The analysis stopped; the message is user-facing (already classified)."""


# -- messages from the child process (picklable) ------------------------------------------------
@dataclasses.dataclass(frozen=True)
class ChildProgress:
    event: Any  # engine.pipeline.ProgressEvent


@dataclasses.dataclass(frozen=True)
class ChildDone:
    summary: Any  # engine.pipeline.RankSummary


@dataclasses.dataclass(frozen=True)
class ChildFailed:
    message: str


def describe_error(exc: BaseException) -> str:
    """One line for the user: the message alone for the errors the engine raises on purpose
    (bad folder, unusable catalog, I/O), the type too for anything unexpected."""
    from engine.catalog import CatalogError
    from engine.pipeline import PipelineError

    msg = str(exc) or type(exc).__name__
    if isinstance(exc, CatalogError | PipelineError | OSError | AnalysisFailed):
        return msg
    return f"{type(exc).__name__}: {msg}"


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


def run_analysis(req: AnalysisRequest, rank_fn: Callable[..., Any] | None = None, *,
                 progress: Callable[[Progress], None], cancel: threading.Event) -> Any:
    """Worker body: the engine's ``RankSummary``, or None when cancelled; raises
    :class:`AnalysisFailed` with a user-facing message."""
    eta = EtaEstimator()

    def relay(ev: Any) -> None:
        e = eta.update(ev.phase, ev.done, ev.total) if ev.phase == "analyse" else None
        progress(Progress(ev.phase, int(ev.done), int(ev.total), ev.path, ev.message or "", e))

    if rank_fn is not None:  # in-process
        try:
            summary = rank_fn(req.root, req.catalog, relay, cancel)
        except Exception as exc:
            if cancel.is_set():
                return None
            raise AnalysisFailed(describe_error(exc)) from exc
    else:
        summary = _run_child(req, relay, cancel)
    if cancel.is_set() or summary is None or summary.cancelled:
        return None
    return summary


def _run_child(req: AnalysisRequest, relay: Callable[[Any], None], cancel: threading.Event) -> Any:
    import multiprocessing as mp
    import queue as queue_mod

    from app.engine_process import run_child

    ctx = mp.get_context("spawn")
    q = ctx.Queue()
    child_cancel = ctx.Event()
    proc = ctx.Process(target=run_child, args=(req, q, child_cancel), name="culler-analysis")
    proc.start()
    try:
        while True:
            if cancel.is_set() and not child_cancel.is_set():
                child_cancel.set()
            try:
                msg = q.get(timeout=0.1)
            except queue_mod.Empty:
                if proc.is_alive():
                    continue
                try:  # the last message may still be in the pipe
                    msg = q.get(timeout=0.5)
                except queue_mod.Empty:
                    raise AnalysisFailed("the analysis process stopped unexpectedly "
                                         f"(exit code {proc.exitcode})") from None
            if isinstance(msg, ChildProgress):
                relay(msg.event)
            elif isinstance(msg, ChildDone):
                return msg.summary
            elif isinstance(msg, ChildFailed):
                if cancel.is_set():
                    return None
                raise AnalysisFailed(msg.message)
    finally:
        proc.join(timeout=30)
        if proc.is_alive():
            proc.terminate()
            proc.join(5)


def list_folder(root: Path, recursive: bool) -> dict[str, tuple[Path, Path | None]]:
    """Worker body: the folder's shots by a fast walk (no hashing, no decoding)."""
    from app.pacing import Pacer
    from app.session import quick_listing

    try:
        return quick_listing(root, recursive, Pacer())
    except OSError as exc:
        raise AnalysisFailed(f"The folder {root} cannot be read: {exc.strerror or exc}.") from None


def regroup_catalog(catalog: Path, members: list[str] | None, sensitivity: float | None = None,
                    strictness: str | None = None) -> None:
    """Worker body: group and rank the analysed shots again (no decoding,
    :func:`engine.pipeline.regroup`).  ``sensitivity`` / ``strictness``: None keeps the
    catalog's stored values; given ones are stored in the catalog by the regroup."""
    from engine.catalog import Catalog
    from engine.pipeline import regroup

    cat = Catalog(catalog)
    try:
        regroup(cat, members, sensitivity, strictness=strictness)
    finally:
        cat.close()


def read_snapshot(session: Any) -> Any:
    """Worker body: the session's catalog as a :class:`app.session.Snapshot`, read through a
    read-only catalog of its own, so that opening 2,000 shots never blocks the GUI."""
    from app.pacing import Pacer

    return session.read_snapshot_async(Pacer())


def provisional_groups(catalog: Path, sensitivity: float | None = None) -> dict[str, int]:
    """Worker body: the scenes of the shots analysed so far ({key: scene number from 1}), by the
    engine's grouping (:func:`engine.grouping.group_shots`) on a read-only catalog, while the
    analysis still runs; the engine's own grouping and ranking replace them at the end.
    ``sensitivity`` None: the catalog's stored value (the one the analysis will group with)."""
    import numpy as np

    from engine.catalog import Catalog
    from engine.grouping import GroupItem, group_shots
    from engine.pipeline import ranking_settings

    cat = Catalog(catalog, readonly=True)
    try:
        rows = [r for r in cat.grouping_rows() if r[7]]
        sensitivity = ranking_settings(cat, sensitivity)[0]
    finally:
        cat.close()
    items = [GroupItem(key=r[0], ts=r[2], exif_time=r[3] == "exif", camera="|".join(x or "" for x in r[4:7]),
                       embedding=np.frombuffer(r[7], dtype=np.float32)) for r in rows]
    return {it.key: g + 1 for it, g in zip(items, group_shots(items, sensitivity))}
