"""The decision controller: undo/redo, batched writes to the catalog, retry after a failure.

Every decision (a flag, stars, a colour label, an accepted suggestion for many shots) is one
:class:`DecisionCommand` on a ``QUndoStack``; it writes the catalog at once, both ways, in one
transaction however many shots it touches.  When a write fails (disk full, catalog locked) the
decisions stay applied in memory, queued in the session, and retried every few seconds.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable

from PySide6.QtCore import QObject, QTimer, Signal
from PySide6.QtGui import QUndoCommand, QUndoStack

from app.session import DecisionWriteError, Session, ShotRecord
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


def accepted(shots: Iterable[ShotRecord], only_undecided: bool) -> dict[str, Decision]:
    """The new decisions when the suggestions are accepted.  A shot with stars or a colour label
    counts as looked at: it is never rejected, and with ``only_undecided`` (Shift+A) never
    touched; a flagged shot is left alone by Shift+A too."""
    out: dict[str, Decision] = {}
    for s in shots:
        sug = suggestion(s)
        d = s.decision
        if sug is None or (only_undecided and s.decided):
            continue
        if sug == "reject" and (d.stars or d.label):
            continue
        if d.flag != sug:
            out[s.key] = dataclasses.replace(d, flag=sug)
    return out


class DecisionController(QObject):
    applied = Signal(dict)  # {key: Decision} just applied (memory and, unless failed, catalog)
    undone = Signal(list)  # keys whose decisions an undo just restored
    write_failed = Signal(str)  # once, until writing works again
    saved_again = Signal()
    RETRY_MS = 5000

    def __init__(self, parent: QObject | None = None):
        super().__init__(parent)
        self.session: Session | None = None
        self.undo_stack = QUndoStack(self)
        self._failing = False
        self._retry = QTimer(self)
        self._retry.setInterval(self.RETRY_MS)
        self._retry.timeout.connect(self.retry)

    def set_session(self, session: Session | None) -> None:
        self.session = session
        self.undo_stack.clear()
        self._retry.stop()
        self._failing = False

    def change(self, text: str, keys: list[str], fn: Callable[[Decision], Decision]) -> int:
        """Apply ``fn`` to the decisions of ``keys`` as one undo step; returns how many changed."""
        if self.session is None:
            return 0
        before = {k: self.session.shots[k].decision for k in keys if k in self.session.shots}
        return self.push(text, {k: fn(d) for k, d in before.items()})

    def push(self, text: str, after: dict[str, Decision]) -> int:
        if self.session is None:
            return 0
        shots = self.session.shots
        after = {k: d for k, d in after.items() if k in shots and shots[k].decision != d}
        if after:
            before = {k: shots[k].decision for k in after}
            self.undo_stack.push(DecisionCommand(text, before, after, self._apply))
        return len(after)

    def _apply(self, changes: dict[str, Decision], undoing: bool) -> None:
        if self.session is None:
            return
        try:
            self.session.set_decisions(changes)
        except DecisionWriteError as exc:
            self._retry.start()
            if not self._failing:
                self._failing = True
                self.write_failed.emit(str(exc))
        else:
            if self._failing and not self.session.pending_writes:
                self._saved()
        self.applied.emit(changes)
        if undoing:
            self.undone.emit(list(changes))

    def retry(self) -> None:
        if self.session is None or not self.session.pending_writes:
            self._retry.stop()
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
        if self.session is not None:
            self.session.flush_pending()
