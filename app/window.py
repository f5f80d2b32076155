"""The main window: composes the views (scenes list, grid / loupe / compare, inspector, status
bar) and wires them to the controllers that do the work:

* :class:`app.session_controller.SessionController` opens, lists, analyses and regroups;
* :class:`app.decisions.DecisionController` writes decisions, with undo and retry;
* :class:`app.navigation.Navigator` moves between scenes and shots;
* :class:`app.viewer.Viewer` fills the loupe, compare and inspector from the image caches.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtGui import QAction, QCloseEvent, QDragEnterEvent, QDropEvent
from PySide6.QtWidgets import QMainWindow, QMessageBox, QStackedWidget, QToolButton, QWidget

from app import actions, startup
from app.decisions import DecisionController
from app.facereview import FaceReview
from app.grid import GroupDelegate, GroupList, ShotGrid
from app.inspector import Inspector
from app.item_models import GroupListModel, ShotListModel
from app.loupe import ComparePane, ImageView
from app.navigation import Navigator
from app.session import DecisionWriteError, GroupRecord, Session, SessionError, ShotRecord
from app.session_controller import SessionController
from app.settings import AppSettings
from app.statusbar import StatusArea
from app.taste import TasteController
from app.viewer import Viewer
from app.window_chrome import Chrome
from app.window_culling import Culling


class MainWindow(Chrome, Culling, QMainWindow):
    analysis_done = Signal()
    PAGE_WELCOME, PAGE_GRID, PAGE_LOUPE, PAGE_COMPARE, PAGE_FACES = range(5)
    # made by app.actions.build
    act_open: QAction
    act_reanalyse: QAction
    act_export: QAction
    act_settings: QAction
    act_quit: QAction
    act_undo: QAction
    act_redo: QAction
    act_accept_group: QAction
    act_accept_all: QAction
    keep_actions: dict[str, QAction]  # Cull › Suggest keeping, by strictness
    act_auto: QAction
    act_grid: QAction
    act_loupe: QAction
    act_compare: QAction
    act_faces: QAction
    act_next_group: QAction
    act_prev_group: QAction
    act_keys: QAction
    act_first: QAction
    act_compare4: QAction
    act_faces_review: QAction
    act_focus_map: QAction
    act_peaking: QAction
    act_full: QAction
    act_panels: QAction
    act_loupe_only: QAction
    act_last: QAction
    act_next_undecided: QAction
    act_next_undecided_scene: QAction
    act_taste: QAction
    act_learn_taste: QAction
    auto_btn: QToolButton

    def __init__(self, settings: AppSettings | None = None,
                 rank_fn: Callable[..., Any] | None = None, parent: QWidget | None = None):
        super().__init__(parent)
        self.settings = settings or AppSettings()
        self.messages: list[tuple[str, str]] = []  # every message shown (tests, logs)
        self.auto_confirm = True  # the answer to confirm() when dialogs are off
        self._boxes: list[QMessageBox] = []
        self.opened_at = 0.0
        self.setWindowTitle("portrait-culler")
        self.setAcceptDrops(True)
        startup.preload_engine()
        # Worker threads (decoding, listing, the analysis driver) run Python too; a short GIL
        # switch interval keeps the GUI thread from waiting 5 ms at each return into Python.
        sys.setswitchinterval(0.001)

        self.ctl = SessionController(self.settings, rank_fn, self)
        self.decisions = DecisionController(self)
        self.taste = TasteController(self)
        self.shots_model = ShotListModel(self)
        self.groups_model = GroupListModel(self)
        self._build_views()
        self.viewer = Viewer(self)
        self.grid = ShotGrid(self.shots_model, self.viewer.thumbs)
        self.group_delegate = GroupDelegate(self.viewer.thumbs, lambda: self.session)
        self.group_list = GroupList(self.groups_model, self.group_delegate)
        self.build_chrome()
        self.nav = Navigator(self)
        actions.build(self)
        self._wire()
        self.restore_settings()
        for sig in (self.shots_model.modelReset, self.shots_model.layoutChanged):
            sig.connect(self.update_counts)  # the counts follow what the grid shows
        startup.settle_heap()
        QTimer.singleShot(0, startup.start_warm_up)

    # -- composition ---------------------------------------------------------------------------
    def _build_views(self) -> None:
        self.stack = QStackedWidget()
        self.welcome = startup.WelcomePage(self.open_folder_dialog)
        self.loupe = ImageView()
        self.loupe.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        self.compare = ComparePane()
        self.compare.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        self.faces_view = FaceReview()
        self.faces_view.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        self.inspector = Inspector()
        self.status_area = StatusArea(self)

    def _wire(self) -> None:
        self.faces_view.frame_clicked.connect(self.nav.select_key)
        for page in (self.welcome, self.grid, self.loupe, self.compare, self.faces_view):
            self.stack.addWidget(page)
        self.setCentralWidget(self.stack)
        self.stack.setCurrentIndex(self.PAGE_WELCOME)
        self.grid.doubleClicked.connect(lambda _i: self.show_loupe())
        self.loupe.need_full.connect(self.viewer.request_full)
        self.compare.need_full.connect(self.viewer.request_full)
        self.compare.activated.connect(self._on_compare_active)
        self.inspector.decide.connect(lambda what: self.set_flag(None if what == "unflag" else what))
        self.inspector.face_clicked.connect(self._on_face_clicked)
        self.viewer.missing_found.connect(self._on_missing)
        c = self.ctl
        c.opened.connect(self._on_opened)
        c.opened.connect(lambda _s: self.taste.session_opened())
        c.loaded.connect(self._on_loaded)
        c.progress.connect(self.status_area.show_progress)
        c.analysis_started.connect(self.status_area.analysis_started)
        c.analysis_ended.connect(self._on_analysis_ended)
        c.shots_refreshed.connect(self._on_shots_refreshed)
        c.message.connect(self.show_message)
        c.status.connect(self._on_status)
        d = self.decisions
        d.applied.connect(self._on_decisions_applied)
        d.applied.connect(self.taste.decisions_applied)
        d.write_failed.connect(lambda msg: self.show_message("Decisions not saved yet", msg,
                                                             QMessageBox.Icon.Critical))
        d.saved_again.connect(self._on_saved_again)
        d.undone.connect(self._on_undone)

    # -- short names for the parts (tests and benchmarks use them) ---------------------------------
    @property
    def session(self) -> Session | None:
        return self.ctl.session

    @property
    def current_key(self) -> str | None:
        return self.nav.current_key

    @property
    def last_summary(self) -> Any:
        return self.ctl.last_summary

    @property
    def first_thumb_at(self) -> float | None:
        return self.viewer.first_thumb_at

    @property
    def thumbs(self) -> Any:
        return self.viewer.thumbs

    @property
    def previews(self) -> Any:
        return self.viewer.previews

    @property
    def compare_keys(self) -> list[str]:
        return self.viewer.compare_keys

    @property
    def shot_shown(self) -> Any:
        return self.viewer.shot_shown

    def page(self) -> int:
        return self.stack.currentIndex()

    def current_shot(self) -> ShotRecord | None:
        return self.nav.current_shot()

    def group_of(self, s: ShotRecord) -> GroupRecord | None:
        return self.nav.group_of(s)

    def select_key(self, key: str) -> bool:
        return self.nav.select_key(key)

    def select_group_row(self, row: int) -> None:
        self.nav.select_group_row(row)

    def step(self, step: int) -> bool:
        return self.nav.step(step)

    def busy(self) -> bool:
        return self.ctl.busy()

    def analysis_running(self) -> bool:
        return self.ctl.analysing()

    def start_analysis(self) -> None:
        self.ctl.start_analysis()

    def cancel_analysis(self, wait: bool = False) -> None:
        self.ctl.cancel_analysis(wait)

    def regroup(self) -> None:
        self.ctl.regroup()

    def set_strictness(self, value: str) -> None:
        """Cull › Suggest keeping: the folder's strictness, stored in its catalog; the scenes are
        ranked again off the GUI thread and the suggested picks and rejects follow."""
        if self.session is None:
            self.show_message("No folder open", "Open a folder first.")
        else:
            self.ctl.set_ranking(strictness=value)
        self.show_strictness()

    def show_strictness(self) -> None:
        """Check the Suggest keeping entry of the folder's strictness (none for another value)."""
        r = self.ctl.ranking()
        for value, a in self.keep_actions.items():
            a.setChecked(r is not None and r[1] == value)

    # -- messages ------------------------------------------------------------------------------------
    def show_message(self, title: str, text: str, icon: QMessageBox.Icon = QMessageBox.Icon.Warning) -> None:
        """A clear, non-blocking message box (the UI stays responsive behind it)."""
        self.messages.append((title, text))
        if os.environ.get("CULLER_GUI_NO_DIALOGS"):
            return
        box = QMessageBox(icon, title, text, QMessageBox.StandardButton.Ok, self)
        box.setWindowModality(Qt.WindowModality.WindowModal)
        box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        box.finished.connect(lambda _r, b=box: self._boxes.remove(b) if b in self._boxes else None)
        self._boxes.append(box)
        box.open()

    def _on_status(self, text: str, ms: int) -> None:
        if text:
            self.statusBar().showMessage(text, ms)
        else:
            self.statusBar().clearMessage()

    # -- opening ---------------------------------------------------------------------------------------
    def open_folder(self, folder: Path | str, catalog: Path | str | None = None,
                    recursive: bool | None = None, analyse: bool = True) -> bool:
        """Open ``folder`` (its catalog opens at once; analysis starts when something is new)."""
        if recursive is None:
            recursive = bool(self.settings.get("recursive"))
        self.opened_at = time.monotonic()
        if str(folder).strip() == "":
            self.show_message("Cannot open the folder", "Choose a folder first.")
            return False
        try:
            session = Session.open(Path(folder), Path(catalog) if catalog else None, recursive,
                                   listing=False, load=False)
        except SessionError as exc:
            self.show_message("Cannot open the folder", str(exc))
            return False
        self.close_session()
        self.ctl.open(session, analyse)
        self.grid.setFocus()
        return True

    def _on_opened(self, session: Session) -> None:
        self.decisions.set_session(session)
        self.shots_model.set_session(session)
        self.groups_model.set_session(session)
        self.setWindowTitle(f"{session.root.name} — portrait-culler")
        self.stack.setCurrentIndex(self.PAGE_GRID)
        self.nav.select_group_row(0)
        self.update_counts()
        self.status_area.set_catalog(session)
        self.settings.set("last_folder", str(session.root))
        if session.fallback:
            self.show_message(
                "Decisions saved in your data folder",
                f"The folder's parent, {session.root.parent}, cannot be written, so the catalog of "
                f"this session (decisions, analysis) is kept in {session.catalog_path} instead of "
                f"beside the folder. Choose another catalog in File › Open folder to keep it elsewhere.",
                QMessageBox.Icon.Information)

    def _on_loaded(self, reason: str) -> None:
        session = self.session
        assert session is not None
        if reason in ("first", "listing"):
            self.shots_model.rebuild()
            self.groups_model.rebuild()
            # culling goes scene by scene: start on the first scene when there are scenes
            first = reason == "first" and any(g.id >= 0 for g in session.groups)
            self.nav.select_group_row(1 if first else 0)
            last = self.settings.last_shot(session.root)
            if reason == "first" and last in session.shots:
                self.nav.reveal(last)  # reopening returns to the shot the photographer left
            self.update_counts()
        else:
            self.refresh_views()
        if reason != "progressive":
            self.taste.refresh_status(session)  # which ranking the session shows
        if reason not in ("reload", "progressive"):
            startup.settle_heap()  # the records just taken in are long-lived

    def refresh_views(self) -> None:
        """After a new snapshot: the same scene and shot where they still exist."""
        row = self.group_list.currentIndex().row()
        rows = self.groups_model.rows
        gid = rows[row].id if 0 <= row < len(rows) else None
        self.nav.reselect(self.current_key, gid)
        self.update_counts()
        self.group_list.viewport().update()
        self.viewer.show_current()

    def reload(self) -> None:
        """Read the catalog again now, in the GUI thread (tests, after editing the catalog)."""
        if self.session is not None:
            self.session.reload()
            self.refresh_views()

    def _on_analysis_ended(self, status: str, box: tuple[str, str] | None) -> None:
        if self.session is not None and self.shots_model.rowCount() and not self.grid.currentIndex().isValid():
            self.nav.select_group_row(1 if self.groups_model.rowCount() > 1 else 0)
        self.status_area.analysis_ended()
        self.statusBar().showMessage(status, 15000)
        if box is not None:
            self.show_message(*box)
        self.analysis_done.emit()

    def _on_shots_refreshed(self, keys: list[str]) -> None:
        self.shots_model.shots_changed(keys)
        if self.current_key in keys:
            self.viewer.show_current()

    def _on_missing(self, keys: list[str]) -> None:
        names = ", ".join(k.rsplit("/", 1)[-1] for k in keys[:5]) + (" …" if len(keys) > 5 else "")
        self.show_message("Files no longer on disk",
                          f"{len(keys)} file(s) vanished since the folder was opened (moved, renamed or "
                          f"deleted?): {names}.\n\nTheir decisions are kept in the catalog; put the files "
                          "back and reopen the folder to see them again.")
        if self.current_key in keys:
            self.viewer.show_current()

    def close_session(self) -> None:
        if self.session is not None and self.current_key:
            self.settings.set_last_shot(self.session.root, self.current_key)
        self.decisions.settle()  # a large change still being applied or written
        closed = self.ctl.close()
        if closed is not None and not closed.pending_writes:
            self.taste.offer(closed.catalog_path)  # once: learn from the decisions just made
        self.decisions.set_session(None)
        self.viewer.clear()
        self.grid.delegate.tiles.clear()
        self.group_delegate.tiles.clear()
        self.shots_model.set_session(None)
        self.groups_model.set_session(None)
        self.status_area.set_catalog(None)
        self.taste.refresh_status(None)
        self.nav.current_key = None

    def set_taste_enabled(self, on: bool) -> None:
        """Rank by the learned taste, or by the default ensemble (Settings, Cull menu)."""
        self.taste.set_enabled(on)
        if self.act_taste.isChecked() != self.taste.enabled():
            self.act_taste.blockSignals(True)
            self.act_taste.setChecked(self.taste.enabled())
            self.act_taste.blockSignals(False)

    def update_counts(self) -> None:
        self.status_area.update_counts(self.session, self.shots_model.keys)

    # -- closing --------------------------------------------------------------------------------------
    def dragEnterEvent(self, event: QDragEnterEvent) -> None:
        md = event.mimeData()
        if md.hasUrls() and any(u.isLocalFile() and Path(u.toLocalFile()).is_dir() for u in md.urls()):
            event.acceptProposedAction()

    def dropEvent(self, event: QDropEvent) -> None:
        for u in event.mimeData().urls():
            if u.isLocalFile() and Path(u.toLocalFile()).is_dir():
                event.acceptProposedAction()
                self.open_folder(Path(u.toLocalFile()))
                return

    def closeEvent(self, event: QCloseEvent) -> None:
        self.decisions.settle()
        session = self.session
        if session is not None and session.pending_writes:
            try:
                session.flush_pending()
            except DecisionWriteError as exc:
                if not os.environ.get("CULLER_GUI_NO_DIALOGS"):
                    ans = QMessageBox.warning(
                        self, "Decisions not saved", f"{exc}\n\nQuit anyway and lose them?",
                        QMessageBox.StandardButton.Cancel | QMessageBox.StandardButton.Discard,
                        QMessageBox.StandardButton.Cancel)
                    if ans != QMessageBox.StandardButton.Discard:
                        event.ignore()
                        return
        if self.taste.learning():  # closes once the learning it runs has stored the profile
            self.taste.close_after = True
            self.statusBar().showMessage("Learning your taste; the window closes when it is done…", 0)
            event.ignore()
            return
        if session is not None and not session.pending_writes and self.taste.offer(session.catalog_path, on_quit=True):
            self.taste.close_after = True
            event.ignore()
            return
        self.save_settings()
        self.close_session()
        self.viewer.shutdown()
        super().closeEvent(event)
