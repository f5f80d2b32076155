"""Undoable decisions (QUndoStack): every command writes the catalog at once, both ways."""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtGui import QUndoCommand

from app.session import Mark


class DecisionCommand(QUndoCommand):
    """Set the marks of some shots; ``apply(changes)`` writes them (memory + catalog) and
    refreshes the views.  Errors are handled by ``apply`` (they never abort the stack)."""

    def __init__(self, text: str, before: dict[str, Mark], after: dict[str, Mark],
                 apply: Callable[[dict[str, Mark]], None]):
        super().__init__(text)
        self.before = before
        self.after = after
        self.apply = apply

    def redo(self) -> None:
        self.apply(self.after)

    def undo(self) -> None:
        self.apply(self.before)
