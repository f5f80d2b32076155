"""Navigation: which scene and shot are current, and moving between them by keyboard.

Owns the selection of the scenes list and the grid (through their selection models) and the
grid's filter and sort; tells the viewer when the current shot changes.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QItemSelectionModel, QModelIndex, QObject

from app.item_models import ShotFilter
from app.session import GroupRecord, ShotRecord

if TYPE_CHECKING:
    from app.window import MainWindow


class Navigator(QObject):
    def __init__(self, win: MainWindow):
        super().__init__(win)
        self.w = win
        self.current_key: str | None = None
        win.grid.selectionModel().currentChanged.connect(self._on_current_changed)
        win.group_list.selectionModel().currentChanged.connect(self._on_group_changed)

    # -- scenes --------------------------------------------------------------------------------
    def select_group_row(self, row: int) -> None:
        w = self.w
        if not 0 <= row < w.groups_model.rowCount():
            w.shots_model.set_scope(None)
            return
        idx = w.groups_model.index(row)
        moved = w.group_list.currentIndex() != idx  # then currentChanged calls _on_group_changed
        w.group_list.setCurrentIndex(idx)
        w.group_list.selectionModel().select(idx, QItemSelectionModel.SelectionFlag.ClearAndSelect)
        if not moved:
            self._on_group_changed(idx, QModelIndex())

    def _on_group_changed(self, cur: QModelIndex, _prev: QModelIndex) -> None:
        if not cur.isValid():
            return
        w = self.w
        w.shots_model.set_scope(w.groups_model.group_ids(cur.row()))
        if w.shots_model.rowCount():
            self.select_row(0)
        else:
            self.current_key = None
            w.viewer.show_current()

    def group_of(self, s: ShotRecord) -> GroupRecord | None:
        session = self.w.session
        if session is None:
            return None
        for g in session.groups:
            if s.key in g.keys:
                return g
        return None

    # -- shots -----------------------------------------------------------------------------------
    def select_row(self, row: int) -> None:
        w = self.w
        idx = w.shots_model.index(row)
        w.grid.selectionModel().setCurrentIndex(idx, QItemSelectionModel.SelectionFlag.ClearAndSelect)
        w.grid.scrollTo(idx)

    def select_key(self, key: str) -> bool:
        row = self.w.shots_model.row_of(key)
        if row < 0:
            return False
        self.select_row(row)
        return True

    def _on_current_changed(self, cur: QModelIndex, _prev: QModelIndex) -> None:
        w = self.w
        self.current_key = w.shots_model.key_at(cur.row()) if cur.isValid() else None
        w.viewer.show_current()

    def current_shot(self) -> ShotRecord | None:
        session = self.w.session
        if session is None or self.current_key is None:
            return None
        return session.shots.get(self.current_key)

    def step(self, step: int) -> bool:
        """Next/previous shot in the grid order; past the end of a scene, into the next one."""
        w = self.w
        w.viewer.direction = 1 if step > 0 else -1
        row = w.grid.currentIndex().row()
        nxt = row + step
        if 0 <= nxt < w.shots_model.rowCount():
            self.select_row(nxt)
            return True
        if w.shots_model.scope is not None:
            return self.move_group(1 if step > 0 else -1, at_end=step < 0)
        return False

    def move_group(self, step: int, at_end: bool = False) -> bool:
        w = self.w
        target = w.group_list.currentIndex().row() + step
        while 1 <= target < w.groups_model.rowCount():
            ids = w.groups_model.group_ids(target)
            self.select_group_row(target)
            if w.shots_model.rowCount():
                if at_end:
                    self.select_row(w.shots_model.rowCount() - 1)
                if ids is not None:
                    return True
            target += step
        return False

    def first_or_last(self, last: bool) -> None:
        """Home / End: the first or last shot of what the grid shows."""
        n = self.w.shots_model.rowCount()
        if n:
            self.w.viewer.direction = -1 if last else 1
            self.select_row(n - 1 if last else 0)

    def reveal(self, key: str) -> bool:
        """Make ``key`` current, switching to its scene when the grid shows another one."""
        if self.select_key(key):
            return True
        s = self.w.session.shots.get(key) if self.w.session else None
        g = self.group_of(s) if s is not None else None
        row = self.w.groups_model.row_of(g.id) if g is not None else -1
        if row >= 0:
            self.select_group_row(row)
            return self.select_key(key)
        return False

    def next_undecided(self) -> bool:
        """The next shot without a flag, stars or label, in the grid order and then the scenes after."""
        w = self.w
        row = w.grid.currentIndex().row()
        for r in range(row + 1, w.shots_model.rowCount()):
            s = w.shots_model.record(r)
            if s is not None and not s.decided:
                self.select_row(r)
                return True
        return self.next_undecided_scene() if w.shots_model.scope is not None else False

    def next_undecided_scene(self) -> bool:
        """The next scene with something left to decide, on its first undecided shot."""
        w = self.w
        session = w.session
        if session is None:
            return False
        n = w.groups_model.rowCount()
        start = max(0, w.group_list.currentIndex().row())
        for i in range(1, n):
            row = (start + i) % n
            g = w.groups_model.rows[row]
            if g.id < 0:
                continue
            first = next((k for k in g.keys if not session.shots[k].decided), None)
            if first is not None:
                self.select_group_row(row)
                self.select_key(first)
                return True
        return False

    # -- filter and sort ----------------------------------------------------------------------------
    def apply_filters(self, flt: ShotFilter, sort: str) -> None:
        w = self.w
        key = self.current_key
        w.shots_model.filter = flt
        w.shots_model.sort_mode = sort
        w.shots_model.rebuild()
        if key and self.select_key(key):
            pass
        elif w.shots_model.rowCount():
            self.select_row(0)
        else:
            self.current_key = None
            w.viewer.show_current()

    def reselect(self, key: str | None, gid: Any) -> None:
        """After the scenes changed (a new snapshot, scenes formed during the analysis, the
        final ranks): the same shot stays current, selected and in view, in its scene now if
        the scene it was in is gone (the "Not analysed yet" one, a regrouped one)."""
        w = self.w
        w.groups_model.refresh_layout()
        gone = gid is not None and w.groups_model.row_of(gid) < 0
        w.shots_model.refresh_layout()
        if key and (gone or w.shots_model.row_of(key) < 0) and self.reveal(key):
            pass
        elif gone:
            self.select_group_row(1 if w.groups_model.rowCount() > 1 else 0)
        row = w.shots_model.row_of(key) if key else -1
        if row >= 0 and w.grid.currentIndex().row() != row:
            self.select_row(row)
        elif w.grid.currentIndex().isValid():
            w.grid.scrollTo(w.grid.currentIndex())  # re-sorted: keep it in view
