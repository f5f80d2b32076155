"""The window's culling commands: decisions on the shots in view (flags, stars, labels, the
engine's suggestions), written through :class:`app.decisions.DecisionController`.  A part of
:class:`app.window.MainWindow`."""

from __future__ import annotations

import dataclasses
import os
from typing import TYPE_CHECKING, Any

from PySide6.QtWidgets import QMainWindow, QMessageBox

from app.decisions import AcceptPlan, accepted, plan_accept_all
from app.statusbar import plural

if TYPE_CHECKING:
    from collections.abc import Callable

    from PySide6.QtGui import QAction

    from app.decisions import DecisionController
    from app.grid import GroupList, ShotGrid
    from app.item_models import ShotListModel
    from app.loupe import ComparePane
    from app.navigation import Navigator
    from app.session import GroupRecord, Session, ShotRecord
    from app.viewer import Viewer

    _Base = QMainWindow
else:
    _Base = object


class Culling(_Base):
    if TYPE_CHECKING:  # what the window provides
        PAGE_GRID: int
        PAGE_COMPARE: int
        grid: ShotGrid
        group_list: GroupList
        compare: ComparePane
        shots_model: ShotListModel
        nav: Navigator
        viewer: Viewer
        decisions: DecisionController
        act_auto: QAction
        messages: list[tuple[str, str]]
        auto_confirm: bool
        arrow: Callable[..., None]

        @property
        def session(self) -> Session | None: ...
        @property
        def current_key(self) -> str | None: ...
        @property
        def compare_keys(self) -> list[str]: ...
        def page(self) -> int: ...
        def current_shot(self) -> ShotRecord | None: ...
        def group_of(self, s: ShotRecord) -> GroupRecord | None: ...
        def update_counts(self) -> None: ...
        def show_message(self, title: str, text: str, icon: QMessageBox.Icon = ...) -> None: ...

    def confirm(self, title: str, text: str) -> bool:
        """Ask before a change of many shots (undoable, but easy to press by mistake).  With
        dialogs off (tests) the question is recorded and answered by :attr:`auto_confirm`."""
        self.messages.append((title, text))
        if os.environ.get("CULLER_GUI_NO_DIALOGS"):
            return self.auto_confirm
        ans = QMessageBox.question(self, title, text, QMessageBox.StandardButton.Ok
                                   | QMessageBox.StandardButton.Cancel, QMessageBox.StandardButton.Ok)
        return ans == QMessageBox.StandardButton.Ok

    # -- decisions -----------------------------------------------------------------------------------
    def target_keys(self) -> list[str]:
        """Shots a decision applies to: the grid's selection, else the current shot."""
        page = self.page()
        if page == self.PAGE_COMPARE:
            i, keys = self.compare.active, self.compare_keys
            return [keys[i]] if 0 <= i < len(keys) else []
        if page == self.PAGE_GRID:
            rows = sorted(i.row() for i in self.grid.selectionModel().selectedIndexes())
            keys = [k for k in (self.shots_model.key_at(r) for r in rows) if k]
            if len(keys) > 1:
                return keys
        return [self.current_key] if self.current_key else []

    def _decide(self, text: str, **change: Any) -> None:
        keys = self.target_keys()
        self.decisions.change(text, keys, lambda d: dataclasses.replace(d, **change))
        if self.act_auto.isChecked() and len(keys) == 1:
            if self.page() == self.PAGE_COMPARE:
                self.arrow(self.compare, 1)
            else:
                self.nav.step(1)

    def set_flag(self, flag: str | None) -> None:
        self._decide({"pick": "Pick", "reject": "Reject", None: "Unflag"}[flag], flag=flag)

    def set_stars(self, n: int) -> None:
        self._decide(f"{n} star{'' if n == 1 else 's'}", stars=n)

    def toggle_label(self, label: str) -> None:
        keys = self.target_keys()
        if self.session is None or not keys:
            return
        new = None if self.session.shots[keys[0]].decision.label == label else label
        self._decide(f"Label {label}" if new else "Remove label", label=new)

    def accept_group(self) -> None:
        s = self.current_shot()
        if s is None or self.session is None:
            return
        g = self.group_of(s)
        if g is None or g.id < 0:
            self.statusBar().showMessage("This shot has no scene yet (analysis pending)", 5000)
            return
        text = f"Accept suggestion for {g.title}"
        n = self.decisions.push(text, accepted((self.session.shots[k] for k in g.keys), False))
        self.statusBar().showMessage(f"{text}: {plural(n, 'shot')} changed", 5000)

    def accept_all(self) -> None:
        session = self.session
        if session is None:
            return
        if len(session.shots) >= self.decisions.LARGE:  # worked out in a worker: no freeze
            self.decisions.plan_in_background(session, self._accept_all_planned)
            return
        self._accept_all_planned(plan_accept_all(session))

    def _accept_all_planned(self, plan: AcceptPlan) -> None:
        session = self.session
        if session is None or plan.session is not session:
            return
        text = "Accept suggestions for all scenes"
        if not plan.after:
            self.statusBar().showMessage(f"{text}: no undecided shot", 5000)
            return
        picks, left, after = plan.picks, plan.left, plan.after
        question = (f"Accept the suggestions for {plural(len(after), 'undecided shot')}: "
                    f"{plural(picks, 'pick')} and {plural(len(after) - picks, 'reject')}?\n\n"
                    f"{plural(left, 'shot')} with a flag, stars or a colour label "
                    f"{'is' if left == 1 else 'are'} left as they are. Undo (Ctrl+Z) takes it back.")
        if not self.confirm("Accept all suggestions", question):
            return
        n = self.decisions.push_plan(text, plan)
        self.statusBar().showMessage(f"{text}: {plural(n, 'shot')} changed", 5000)

    def _on_decisions_applied(self, changes: dict[str, Any]) -> None:
        self.shots_model.shots_changed(changes)
        self.group_list.viewport().update()
        self.update_counts()
        self.viewer.decisions_changed(set(changes))

    def _on_saved_again(self) -> None:
        self.update_counts()
        self.statusBar().showMessage("All decisions saved to the catalog again", 8000)

    def _on_undone(self, keys: list[str]) -> None:
        """Undo moves to the shot it changed back (the first, for a change of many)."""
        if keys and self.current_key not in keys and len(keys) == 1:
            self.nav.reveal(keys[0])

