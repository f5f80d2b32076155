"""The decision controller: undo/redo, batched writes to the catalog, retry after a failure.

Every decision (a flag, stars, a colour label, an accepted suggestion for many shots) is one
:class:`DecisionCommand` on a ``QUndoStack``; it writes the catalog, both ways, in one
transaction however many shots it touches.  When a write fails (disk full, catalog locked) the
decisions stay applied in memory, queued in the session, and retried every few seconds.

A change of a few shots is applied and written at once.  A change of many (accept-all or its
undo on 50,000 shots) must not freeze the window: it is applied in memory in slices of
:attr:`DecisionController.SLICE` shots, one slice per turn of the event loop (the views refresh
after each), and written by a :class:`app.workers.Worker` on its own catalog connection, in one
transaction, pacing its Python between blocks of rows (:mod:`app.pacing`).  Changes keep their
order: while a large one is being applied, the next ones queue behind it; while a write is in
flight, later decisions wait in ``pending_writes`` for the next background write (never a
second writer on the GUI thread, which would wait on the catalog's lock).
"""

from __future__ import annotations

import dataclasses
import gc
import itertools
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

from PySide6.QtCore import QObject, QTimer, Signal
from PySide6.QtGui import QUndoCommand, QUndoStack

from app.pacing import Pacer, no_pace
from app.session import DecisionWriteError, Session, ShotRecord, freezing
from app.workers import Worker
from engine.catalog import Decision


class DecisionCommand(QUndoCommand):
    """Set the decisions of some shots; ``apply(changes, undoing)`` writes them (memory +
    catalog) and refreshes the views.  Errors are handled by ``apply`` (never abort the stack)."""

    def __init__(self, text: str, before: dict[str, Decision], after: dict[str, Decision],
                 apply: Callable[[dict[str, Decision], bool], None]):
        super().__init__(text)
        self.before = before
        self.after = after
        self.apply = apply

    def redo(self) -> None:
        self.apply(self.after, False)

    def undo(self) -> None:
        self.apply(self.before, True)


def suggestion(s: ShotRecord) -> str | None:
    """The engine's suggestion for a shot (the best of its scene picked, the rest rejected)."""
    if s.suggested in ("pick", "reject"):
        return s.suggested
    if s.rank is None:
        return None
    return "pick" if s.rank == 1 else "reject"


def accepted(shots: Iterable[ShotRecord], only_undecided: bool,
             pace: Callable[[], None] = no_pace) -> dict[str, Decision]:
    """The new decisions when the suggestions are accepted.  A shot with stars or a colour label
    counts as looked at: it is never rejected, and with ``only_undecided`` (Shift+A) never
    touched; a flagged shot is left alone by Shift+A too.  ``pace``: called once per shot."""
    out: dict[str, Decision] = {}
    for s in shots:
        pace()
        sug = suggestion(s)
        d = s.decision
        if sug is None or (only_undecided and s.decided):
            continue
        if sug == "reject" and (d.stars or d.label):
            continue
        if d.flag != sug:
            out[s.key] = dataclasses.replace(d, flag=sug)
    return out


@dataclasses.dataclass
class AcceptPlan:
    """Accept-all worked out on a given state of the session (``version``): the change, and
    the figures the confirmation shows."""

    session: Session
    version: int
    before: dict[str, Decision]
    after: dict[str, Decision]
    picks: int
    left: int  # shots with a flag, stars or a colour label, left as they are
    shots: int


def plan_accept_all(session: Session, pace: Callable[[], None] = no_pace) -> AcceptPlan:
    """Accept-all (Shift+A) on every scene; in a worker for a large session (``pace``: a
    :class:`Pacer`), since it reads every shot and makes a decision for most."""
    version = session.version
    shots = session.shots
    pace = freezing(pace)  # 50,000 new decisions: see app.session.freezing

    def scenes() -> Iterable[ShotRecord]:
        for g in list(session.groups):
            if g.id >= 0:
                for k in g.keys:
                    pace()
                    yield shots[k]

    listed = list(scenes())
    # paced too: unpaced, making 50,000 decisions (~0.1 s of Python) stretched the window's
    # paints meanwhile to 35-45 ms (see app.pacing)
    after = accepted(listed, True, pace)
    before: dict[str, Decision] = {}
    for k in after:
        pace()
        before[k] = shots[k].decision
    picks = sum(1 for d in after.values() if d.flag == "pick")
    return AcceptPlan(session, version, before, after, picks, sum(1 for s in listed if s.decided), len(listed))


def write_decisions(catalog_path: Path, decisions: list[Decision], block: int = 1000) -> list[Decision]:
    """Worker thread: write ``decisions`` in one transaction on a connection of its own, pacing
    between blocks of rows so that the GUI thread gets the GIL (returns what it wrote)."""
    from engine.catalog import Catalog

    pace = Pacer()
    cat = Catalog(catalog_path)
    try:
        with cat.transaction():
            for i in range(0, len(decisions), block):
                cat.set_decisions(decisions[i:i + block])
                pace()
    finally:
        cat.close()
    return decisions


class DecisionController(QObject):
    # object, not dict / list: PySide converts those to Qt containers and back on every emit
    # (15 ms for the 50,000 keys of an undone accept-all, 3 ms per 2,500-shot slice)
    applied = Signal(object)  # {key: Decision} just applied (memory and, unless failed, catalog)
    undone = Signal(object)  # [key] whose decisions an undo just restored
    write_failed = Signal(str)  # once, until writing works again
    saved_again = Signal()
    RETRY_MS = 5000
    LARGE = 1000  # a change of this many shots or more is sliced and written in the background
    SLICE = 2500  # shots applied in memory per turn of the event loop

    def __init__(self, parent: QObject | None = None):
        super().__init__(parent)
        self.session: Session | None = None
        self.undo_stack = QUndoStack(self)
        self._failing = False
        self._retry = QTimer(self)
        self._retry.setInterval(self.RETRY_MS)
        self._retry.timeout.connect(self.retry)
        # changes waiting to be applied in memory: (the change, its items not applied yet, undoing);
        # iterated, never copied: 50,000 new tuples at once set off a full garbage collection
        self._queue: deque[tuple[dict[str, Decision], Iterator[tuple[str, Decision]], bool]] = deque()
        # a finished write: the entries of pending_writes it wrote are dropped, a slice a turn
        self._reconcile: tuple[Session, Iterator[tuple[str, Decision]]] | None = None
        self._pump = QTimer(self)
        self._pump.setInterval(0)
        self._pump.timeout.connect(self._apply_slice)
        self._writer: Worker | None = None
        self._planner: Worker | None = None
        self._write_again = False

    def set_session(self, session: Session | None) -> None:
        self.settle()
        self.session = session
        self.undo_stack.clear()
        self._retry.stop()
        self._failing = False

    @staticmethod
    def _freeze() -> None:
        """Before a large change: the session's records (and whatever else lives now) go out of
        the garbage collector's sight (as after each catalog read).  A full collection, set off by
        any large allocation in any thread and holding the GIL, then takes a few milliseconds
        instead of 100-200 ms at 50,000 shots (``gc.freeze``, meant for long-lived objects)."""
        gc.freeze()

    def busy(self) -> bool:
        """A large change is still being applied or written."""
        return (bool(self._queue) or self._writer is not None or self._planner is not None
                or self._reconcile is not None)

    def change(self, text: str, keys: list[str], fn: Callable[[Decision], Decision]) -> int:
        """Apply ``fn`` to the decisions of ``keys`` as one undo step; returns how many changed."""
        if self.session is None:
            return 0
        self._drain()  # fn applies to the decisions as they will be
        before = {k: self.session.shots[k].decision for k in keys if k in self.session.shots}
        return self.push(text, {k: fn(d) for k, d in before.items()})

    def push(self, text: str, after: dict[str, Decision]) -> int:
        if self.session is None:
            return 0
        self._drain()  # "before" is read from memory: every earlier change must be in it
        shots = self.session.shots
        after = {k: d for k, d in after.items() if k in shots and shots[k].decision != d}
        if after:
            before = {k: shots[k].decision for k in after}
            self.undo_stack.push(DecisionCommand(text, before, after, self._apply))
        return len(after)

    def plan_in_background(self, session: Session, done: Callable[[AcceptPlan], None]) -> bool:
        """Work accept-all out in a worker; ``done(plan)`` in the GUI thread (False: one is running)."""
        if self._planner is not None:
            return False
        self._freeze()
        w = Worker(plan_accept_all, session, pace=Pacer(), parent=self)
        self._planner = w
        w.returned.connect(done)
        w.errored.connect(lambda exc: self.write_failed.emit(f"Accepting the suggestions failed: {exc}"))
        w.finished.connect(self._planner_finished)
        w.start()
        return True

    def _planner_finished(self) -> None:
        self._planner = None

    def push_plan(self, text: str, plan: AcceptPlan) -> int:
        """Push a plan worked out on the current state of the session without going through
        every shot again (a plan made on an older state goes through :meth:`push`)."""
        self._drain()
        session = self.session
        if session is None or plan.session is not session:
            return 0
        if plan.version != session.version:
            return self.push(text, plan.after)
        if plan.after:
            self.undo_stack.push(DecisionCommand(text, plan.before, plan.after, self._apply))
        return len(plan.after)

    def _apply(self, changes: dict[str, Decision], undoing: bool) -> None:
        if self.session is None:
            return
        if self._queue or len(changes) >= self.LARGE:
            self._freeze()
            self._queue.append((changes, iter(changes.items()), undoing))
            self._pump.start()
            return
        if self._writer is not None:  # a background write is in flight: join the next one
            self.session.set_decisions(changes, write=False)
            self._write_again = True
        else:
            try:
                self.session.set_decisions(changes)
            except DecisionWriteError as exc:
                self._failed(str(exc))
            else:
                if self._failing and not self.session.pending_writes:
                    self._saved()
        self.applied.emit(changes)
        if undoing:
            self.undone.emit(list(changes))

    def _apply_slice(self) -> None:
        """One slice of the oldest queued change, in memory (the write starts after the last), or
        of a finished write's bookkeeping."""
        if not self._queue:
            self._reconcile_slice()
            return
        if self.session is None:
            self._queue.clear()
            return
        changes, items, undoing = self._queue[0]
        part = dict(itertools.islice(items, self.SLICE))
        last = len(part) < self.SLICE
        if last:
            self._queue.popleft()
        if part:
            self.session.set_decisions(part, write=False)
            self.applied.emit(part)
        if last and undoing:
            self.undone.emit(list(changes))
        if not self._queue:
            self._write_in_background()
            if self._reconcile is None:
                self._pump.stop()

    def _reconcile_slice(self) -> None:
        if self._reconcile is None:
            self._pump.stop()
            return
        session, items = self._reconcile
        pending = session.pending_writes
        chunk = list(itertools.islice(items, 4 * self.SLICE))
        for key, m in chunk:
            if pending.get(key) is m:
                del pending[key]
        if len(chunk) == 4 * self.SLICE:
            return
        self._reconcile = None
        self._pump.stop()
        if session is self.session and self._failing and not pending:
            self._saved()
        if self._write_again and not self._failing:
            self._write_in_background()

    def _drain(self) -> None:
        while self._queue:
            self._apply_slice()

    def _drain_reconcile(self) -> None:
        while self._reconcile is not None:
            self._reconcile_slice()

    def _write_in_background(self) -> None:
        session = self.session
        if session is None or not session.pending_writes:
            return
        if self._writer is not None or self._reconcile is not None:
            self._write_again = True
            return
        todo = dict(session.pending_writes)
        w = Worker(write_decisions, session.catalog_path, list(todo.values()), parent=self)
        self._writer = w
        self._write_again = False
        w.returned.connect(lambda _out, s=session, todo=todo: self._written(s, todo))
        w.errored.connect(lambda exc, s=session: self._write_error(s, exc))
        w.finished.connect(self._writer_finished)
        w.start()

    def _written(self, session: Session, todo: dict[str, Decision]) -> None:
        self._reconcile = (session, iter(todo.items()))
        self._pump.start()

    def _write_error(self, session: Session, exc: BaseException) -> None:
        if session is not self.session:
            return
        self._write_again = False
        n = len(session.pending_writes)
        self._failed(f"{n} decision(s) could not be saved to the catalog {session.catalog_path} ({exc}). "
                     "They are kept in memory and saved as soon as writing works again.")

    def _writer_finished(self) -> None:
        self._writer = None
        if self._write_again and not self._failing and self._reconcile is None:
            self._write_in_background()

    def settle(self) -> None:
        """Apply every queued change in memory now and wait for the write in flight (before
        the session closes or is exported: afterwards ``pending_writes`` holds what is left)."""
        self._drain()
        for w in (self._planner, self._writer):
            if w is not None:
                w.wait()
        self._drain_reconcile()

    def _failed(self, message: str) -> None:
        self._retry.start()
        if not self._failing:
            self._failing = True
            self.write_failed.emit(message)

    def retry(self) -> None:
        if self.session is None or not self.session.pending_writes:
            self._retry.stop()
            return
        if self._writer is not None:
            return
        if len(self.session.pending_writes) >= self.LARGE:
            self._write_in_background()  # _written clears the failure when it works
            return
        try:
            self.session.flush_pending()
        except DecisionWriteError:
            return
        self._saved()

    def _saved(self) -> None:
        self._retry.stop()
        self._failing = False
        self.saved_again.emit()

    def flush(self) -> None:
        """Write what is queued now; :class:`DecisionWriteError` when it still fails."""
        self.settle()
        if self.session is not None:
            self.session.flush_pending()
