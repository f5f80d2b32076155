"""The session controller: open, reopen, list, analyse and regroup one folder.

A small state machine that owns every worker it starts (:class:`app.workers.Worker`)::

    IDLE -open-> OPENING -catalog read-> LISTING -listed-> ANALYSING -done/failed/cancelled-> IDLE
                                                 \\-nothing new-> IDLE
    IDLE -regroup-> REGROUPING -> IDLE          IDLE -analyse-> ANALYSING

The catalog is read into a :class:`app.session.Snapshot` by a worker of its own; the snapshot is
taken into the session here and :attr:`loaded` says why (``"first"``, ``"listing"``,
``"analysis"``, ``"regroup"``, ``"reload"``, ``"progressive"``), so the window only refreshes views.
No Qt widget is touched here; the window shows what the signals say.
"""

from __future__ import annotations

import contextlib
import enum
from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QObject, QTimer, Signal

from app.analysis import (
    AnalysisRequest,
    Progress,
    describe_error,
    list_folder,
    provisional_groups,
    read_snapshot,
    regroup_catalog,
    run_analysis,
)
from app.session import DecisionWriteError, Session, Snapshot
from app.settings import AppSettings
from app.workers import Worker


class State(enum.Enum):
    IDLE = "idle"
    OPENING = "opening"
    LISTING = "listing"
    ANALYSING = "analysing"
    REGROUPING = "regrouping"


class SessionController(QObject):
    opened = Signal(object)  # the new Session (nothing read yet)
    loaded = Signal(str)  # a snapshot was taken in; why
    progress = Signal(object)  # app.analysis.Progress
    analysis_started = Signal()
    analysis_ended = Signal(str, object)  # status line, (title, text) of a message or None
    shots_refreshed = Signal(list)  # keys re-read while the analysis runs
    message = Signal(str, str)  # title, text
    status = Signal(str, int)  # status-bar text, timeout ms (0: until replaced)
    state_changed = Signal(object)  # State
    ranking_changed = Signal()  # regrouped: the sensitivity / strictness shown may have changed

    LISTING_DELAY_MS = 150  # after the catalog is shown, before the folder is listed
    REFRESH_MS = 250
    PROGRESSIVE_MS = 2000  # scenes formed from the shots analysed so far, at most this often

    def __init__(self, settings: AppSettings, rank_fn: Callable[..., Any] | None = None,
                 parent: QObject | None = None):
        super().__init__(parent)
        self.settings = settings
        self.rank_fn = rank_fn
        self.session: Session | None = None
        self.state = State.IDLE
        self.last_summary: Any = None
        self._workers: dict[str, Worker] = {}  # "load", "list", "analyse", "regroup"
        self._analyse_after_listing = True
        self._dirty: set[str] = set()
        self._refresh = QTimer(self)
        self._refresh.setInterval(self.REFRESH_MS)
        self._refresh.timeout.connect(self._flush_dirty)
        self._progressive = QTimer(self)
        self._progressive.timeout.connect(self._form_groups)
        self._analysed_since = 0  # shots analysed since the scenes were last formed
        self._wanted: dict[str, Any] = {}  # set_ranking's values not grouped with yet
        self._last_form_s = 0.0

    # -- state ------------------------------------------------------------------------------
    def _set_state(self, st: State) -> None:
        if st is not self.state:
            self.state = st
            self.state_changed.emit(st)

    def busy(self) -> bool:
        """True while the folder is being opened, listed, analysed or regrouped, or read."""
        return self.state is not State.IDLE or bool(self._workers)

    def analysing(self) -> bool:
        return "analyse" in self._workers

    def _start(self, slot: str, fn: Callable[..., Any], *args: Any,
               on_return: Callable[[Any], None], on_error: Callable[[BaseException], None],
               on_yield: Callable[[Any], None] | None = None, start: bool = True) -> Worker:
        """Start a worker in ``slot``; its results reach the callbacks only while it still
        owns the slot (a closed or replaced session's late results are dropped)."""
        w = Worker(fn, *args, parent=self)
        self._workers[slot] = w

        def mine() -> bool:
            return self._workers.get(slot) is w

        def returned(v: Any) -> None:
            if mine():
                w.wait()
                del self._workers[slot]
                on_return(v)

        def errored(e: BaseException) -> None:
            if mine():
                w.wait()
                del self._workers[slot]
                on_error(e)

        w.returned.connect(returned)
        w.errored.connect(errored)
        if on_yield is not None:
            w.yielded.connect(lambda v: on_yield(v) if mine() else None)
        if start:
            w.start()
        return w

    # -- opening ------------------------------------------------------------------------------
    def open(self, session: Session, analyse: bool = True) -> None:
        self.close()
        self.session = session
        self.last_summary = None
        self._wanted = {}
        self._analyse_after_listing = analyse
        self._set_state(State.OPENING)
        self.opened.emit(session)
        self.status.emit("Opening the catalog…", 0)
        self.load("first")

    def load(self, reason: str, then: Callable[[], None] | None = None) -> None:
        """Read the catalog in a worker, take the snapshot in, emit :attr:`loaded`."""
        session = self.session
        assert session is not None

        def done(snap: Snapshot) -> None:
            if self.session is not session:
                return
            session.apply_snapshot(snap)
            self.loaded.emit(reason)
            if then is not None:
                then()
            elif reason == "first":
                self._list_soon(bool(snap.shots))

        def failed(exc: BaseException) -> None:
            self.message.emit("Cannot read the catalog", str(exc))
            if reason == "first":
                self._list_soon(False)

        self._start("load", read_snapshot, session, on_return=done, on_error=failed)

    def _list_soon(self, have_shots: bool) -> None:
        session = self.session
        assert session is not None
        self._set_state(State.LISTING)
        self.status.emit("Reading the folder…", 0)
        w = self._start("list", list_folder, session.root, session.recursive,
                        on_return=self._on_listed, on_error=self._on_listing_failed, start=False)
        # a catalog with shots: list once it is on screen (the walk is Python, and while it
        # runs every GIL hand-over of the first paints waits on it).  A new folder has nothing
        # to show until it is listed: list now.
        QTimer.singleShot(self.LISTING_DELAY_MS if have_shots else 0,
                          lambda: w.start() if self._workers.get("list") is w else None)

    def _on_listed(self, listing: dict[str, Any]) -> None:
        assert self.session is not None
        if self.session.set_listing(listing, reload=False):
            self.load("listing", self._after_listing)  # a folder without a catalog yet
        else:
            self._after_listing()

    def _on_listing_failed(self, exc: BaseException) -> None:
        self._set_state(State.IDLE)
        self.message.emit("Cannot read the folder", str(exc))

    def _after_listing(self) -> None:
        session = self.session
        assert session is not None
        self._set_state(State.IDLE)
        self.status.emit("", 0)
        if not session.shots:
            self.status.emit("No photos in this folder"
                             + ("" if session.recursive else " (sub-folders not included)"), 8000)
        elif self._analyse_after_listing and session.needs_analysis():
            self.start_analysis()

    # -- analysis -------------------------------------------------------------------------------
    def start_analysis(self) -> None:
        if self.session is None or self.analysing() or self.state is State.REGROUPING:
            return
        s = self.settings
        device = str(s.get("device") or "auto")
        # sensitivity and strictness: the catalog's own (culler rank -s / --keep), or what
        # set_ranking stored there
        req = AnalysisRequest(self.session.root, self.session.catalog_path, self.session.recursive,
                              members=s.get("members") or None, workers=s.get("workers") or None,
                              device=device)
        self._set_state(State.ANALYSING)
        self._start("analyse", run_analysis, req, self.rank_fn, on_return=self._on_analysis_done,
                    on_error=self._on_analysis_failed, on_yield=self._on_progress)
        self._refresh.start()
        self._progressive.start(self.PROGRESSIVE_MS)
        self._analysed_since = 0
        self.analysis_started.emit()

    def cancel_analysis(self, wait: bool = False) -> None:
        w = self._workers.get("analyse")
        if w is None:
            return
        w.cancel()
        if wait:
            w.wait(60000)
            del self._workers["analyse"]
            self._refresh.stop()
            self._set_state(State.IDLE)

    def _on_progress(self, p: Progress) -> None:
        if p.phase == "analyse" and p.path:
            self._dirty.add(p.path)
            self._analysed_since += 1
        elif p.phase in ("group", "done"):
            self._progressive.stop()  # the engine's own grouping follows
        self.progress.emit(p)

    def _form_groups(self) -> None:
        """Scenes from the shots analysed so far, so culling can go scene by scene at once."""
        import time

        if (self.session is None or not self.analysing() or "groups" in self._workers
                or self._analysed_since == 0):
            return
        self._flush_dirty()  # the shots' own state first
        self._analysed_since = 0
        session = self.session
        t0 = time.monotonic()

        def done(groups: dict[str, int]) -> None:
            self._last_form_s = time.monotonic() - t0
            # a big session: form them less often (never more than ~1/4 of the time)
            self._progressive.setInterval(max(self.PROGRESSIVE_MS, int(self._last_form_s * 4000)))
            if self.session is session and self.analysing() and session.apply_provisional_groups(groups):
                self.loaded.emit("progressive")

        self._start("groups", provisional_groups, session.catalog_path, None,
                    on_return=done, on_error=lambda _e: None)

    def _flush_dirty(self) -> None:
        if not self._dirty or self.session is None:
            return
        keys, self._dirty = list(self._dirty), set()
        if any(k not in self.session.shots for k in keys):
            # the engine found shots the quick listing did not: take the catalog's view
            if "load" not in self._workers:
                self.load("reload", lambda: None)
            else:
                self._dirty.update(keys)
            return
        self.shots_refreshed.emit(self.session.refresh_shots(keys))

    def _end_analysis(self, status: str, box: tuple[str, str] | None) -> None:
        self._refresh.stop()
        self._progressive.stop()
        self._dirty.clear()
        self.status.emit("Analysis finished; loading the ranks…" if box is None else status, 0)

        def then() -> None:
            self._set_state(State.IDLE)
            self.analysis_ended.emit(status, box)
            self._regroup_if_changed()

        self.load("analysis", then)

    def _on_analysis_done(self, summary: Any) -> None:
        if summary is None:
            self._end_analysis("Analysis cancelled; finished shots are kept (Ctrl+R resumes)", None)
            return
        self.last_summary = summary
        n = summary.n_shots
        msg = f"Analysis finished: {n} shot{'' if n == 1 else 's'} in {summary.n_groups} scenes" \
              f" ({summary.seconds:.0f} s)"
        if summary.skipped:
            msg += f"; {len(summary.skipped)} file(s) skipped (see the 'Unreadable files' scene)"
        self._end_analysis(msg, None)

    def _on_analysis_failed(self, exc: BaseException) -> None:
        box = ("Analysis stopped", f"The analysis stopped: {describe_error(exc)}\n\nEverything finished "
               "so far is kept in the catalog; Re-analyse (Ctrl+R) resumes where it stopped.")
        self._end_analysis("Analysis stopped", box)

    # -- regrouping -------------------------------------------------------------------------------
    def ranking(self) -> tuple[float, str] | None:
        """The open folder's grouping sensitivity and strictness, as its catalog stores them
        (:func:`engine.pipeline.ranking_settings`: what ``culler rank`` uses too); None
        without a folder."""
        if self.session is None:
            return None
        from engine.pipeline import ranking_settings

        sens, strict = ranking_settings(self.session.catalog)
        return sens, str(strict)

    def set_ranking(self, sensitivity: float | None = None, strictness: str | None = None) -> bool:
        """Store a new sensitivity and/or strictness in the folder's catalog (``culler rank``
        then uses them too) and group and rank again off the GUI thread; while the folder is
        busy, once it is done.  False (and a message) for a bad value or an unwritable catalog."""
        if self.session is None:
            return False
        from engine.quality.suggest import Strictness

        try:
            strict = str(Strictness.parse(strictness)) if strictness is not None else None
        except ValueError as exc:
            self.message.emit("Cannot change the suggestions", str(exc))
            return False
        wanted = dict(self._wanted)
        if sensitivity is not None:
            wanted["sensitivity"] = float(min(1.0, max(0.0, sensitivity)))
        if strict is not None:
            wanted["strictness"] = strict
        try:  # stored at once: an analysis running now groups with them at its end
            cat = self.session.catalog
            with cat.transaction():
                if "sensitivity" in wanted:
                    cat.set_meta("sensitivity", repr(wanted["sensitivity"]))
                if "strictness" in wanted:
                    cat.set_meta("strictness", wanted["strictness"])
        except Exception as exc:
            self.message.emit("Cannot change the suggestions", describe_error(exc))
            return False
        self._wanted = wanted
        if not self.busy():
            self.regroup()
        return True

    def _regroup_if_changed(self) -> None:
        """After an analysis or a regroup: group again with what :meth:`set_ranking` asked for
        while it ran (the run may have grouped with the values it started with)."""
        if self._wanted and self.session is not None and not self.busy():
            self.regroup()

    def regroup(self) -> None:
        """Group and rank again with the catalog's sensitivity and strictness (or those just
        asked for by :meth:`set_ranking`) and the current members (no decoding)."""
        if self.session is None or self.busy():
            return
        self._set_state(State.REGROUPING)
        self.status.emit("Grouping scenes again…", 0)
        catalog = self.session.catalog_path
        wanted, self._wanted = self._wanted, {}
        self._start("regroup", regroup_catalog, catalog, self.settings.get("members") or None,
                    wanted.get("sensitivity"), wanted.get("strictness"), on_return=self._on_regrouped,
                    on_error=self._on_regroup_failed)

    def _on_regrouped(self, _none: Any) -> None:
        def then() -> None:
            self._set_state(State.IDLE)
            n = sum(1 for g in self.session.groups if g.id >= 0) if self.session else 0
            self.status.emit(f"Grouped again: {n} scene{'' if n == 1 else 's'}", 8000)
            self.ranking_changed.emit()
            self._regroup_if_changed()

        self.load("regroup", then)

    def _on_regroup_failed(self, exc: BaseException) -> None:
        self._set_state(State.IDLE)
        self.message.emit("Cannot group again", describe_error(exc))

    # -- closing ------------------------------------------------------------------------------------
    def close(self) -> Session | None:
        """Stop every worker, flush the decisions, close the catalog; returns the closed session."""
        self._progressive.stop()
        for slot in ("list", "load", "regroup", "groups"):
            w = self._workers.pop(slot, None)
            if w is not None and w.isRunning():
                w.wait(30000)
        self.cancel_analysis(wait=True)
        self._workers.clear()
        self._refresh.stop()
        self._dirty.clear()
        self._set_state(State.IDLE)
        session, self.session = self.session, None
        if session is not None:
            with contextlib.suppress(DecisionWriteError):
                session.flush_pending()
            if session.pending_writes:
                self.message.emit("Decisions not saved",
                                  f"{len(session.pending_writes)} decision(s) could not be written to "
                                  f"{session.catalog_path}.")
            session.close()
        return session

