"""The window's chrome: docks, the filter toolbar, page switching (grid / loupe / compare),
dialogs and the settings it remembers.  A part of :class:`app.window.MainWindow`."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QByteArray, Qt, QTimer
from PySide6.QtWidgets import (
    QApplication,
    QComboBox,
    QDockWidget,
    QMainWindow,
    QMessageBox,
    QSlider,
    QToolBar,
    QToolButton,
    QWidget,
)

from app import theme
from app.actions import SHORTCUTS
from app.item_models import ShotFilter
from app.session import DecisionWriteError
from app.settings import SettingsDialog

if TYPE_CHECKING:
    from PySide6.QtGui import QAction
    from PySide6.QtWidgets import QStackedWidget

    from app.decisions import DecisionController
    from app.facereview import FaceReview
    from app.grid import GroupList, ShotGrid
    from app.inspector import Inspector
    from app.item_models import GroupListModel, ShotListModel
    from app.loupe import ComparePane, ImageView
    from app.navigation import Navigator
    from app.session import Session, ShotRecord
    from app.session_controller import SessionController
    from app.settings import AppSettings
    from app.statusbar import StatusArea
    from app.taste import TasteController
    from app.viewer import Viewer

    _Base = QMainWindow
else:
    _Base = object


class Chrome(_Base):
    if TYPE_CHECKING:  # what the window provides
        PAGE_WELCOME: int
        PAGE_GRID: int
        PAGE_LOUPE: int
        PAGE_COMPARE: int
        PAGE_FACES: int
        faces_view: FaceReview
        ctl: SessionController
        settings: AppSettings
        stack: QStackedWidget
        grid: ShotGrid
        group_list: GroupList
        inspector: Inspector
        loupe: ImageView
        compare: ComparePane
        shots_model: ShotListModel
        groups_model: GroupListModel
        nav: Navigator
        viewer: Viewer
        decisions: DecisionController
        act_auto: QAction
        status_area: StatusArea
        taste: TasteController
        set_taste_enabled: Callable[[bool], None]
        @property
        def session(self) -> Session | None: ...
        @property
        def current_key(self) -> str | None: ...
        @property
        def compare_keys(self) -> list[str]: ...
        show_message: Callable[..., None]
        regroup: Callable[[], None]

        def page(self) -> int: ...
        def current_shot(self) -> ShotRecord | None: ...
        def open_folder(self, folder: Path | str, catalog: Path | str | None = None,
                        recursive: bool | None = None, analyse: bool = True) -> bool: ...

    def build_chrome(self) -> None:
        self._hidden_panels: list[QWidget] = []  # what Tab (or F) hid, to show again
        self._loupe_only = False
        self._was_full = False  # full screen before F
        self._was_maximized = False  # maximised before F11
        self._docks_fitted = False  # dock widths set once, after the first show
        self.groups_dock = self._dock("Scenes", "scenes", self.group_list, Qt.DockWidgetArea.LeftDockWidgetArea)
        self.inspector_dock = self._dock("Shot", "inspector", self.inspector, Qt.DockWidgetArea.RightDockWidgetArea)
        self.resizeDocks([self.groups_dock, self.inspector_dock], [250, 340], Qt.Orientation.Horizontal)
        tb = QToolBar("View")
        tb.setObjectName("view")
        tb.setMovable(False)
        self.addToolBar(tb)
        self.toolbar = tb
        self.flag_filter = QComboBox()
        self.flag_filter.addItems(["All shots", "Picks", "Rejects", "Unflagged"])
        self.star_filter = QComboBox()
        self.star_filter.addItems(["Any rating", "★ 1+", "★ 2+", "★ 3+", "★ 4+", "★ 5"])
        self.label_filter = QComboBox()
        self.label_filter.addItems(["Any label", "Red", "Yellow", "Green", "Blue", "Purple"])
        self.problem_filter = QToolButton()
        self.problem_filter.setText("⚠ Problem scenes")
        self.problem_filter.setCheckable(True)
        self.problem_filter.setToolTip("Only scenes whose best shot has a warning (eyes closed, soft face, "
                                       "exposure) or a missing file")
        self.sort_combo = QComboBox()
        self.sort_combo.addItems(["Sort: rank", "Sort: time", "Sort: name"])
        for combo in (self.flag_filter, self.star_filter, self.label_filter, self.sort_combo):
            combo.setFocusPolicy(Qt.FocusPolicy.NoFocus)
            combo.currentIndexChanged.connect(self._on_filters_changed)
        self.problem_filter.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self.problem_filter.toggled.connect(self._on_problem_filter)
        self.size_slider = QSlider(Qt.Orientation.Horizontal)
        self.size_slider.setRange(100, 320)
        self.size_slider.setFixedWidth(110)
        self.size_slider.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self.size_slider.setToolTip("Thumbnail size")
        self.size_slider.valueChanged.connect(self.grid.set_thumb_size)

    def _dock(self, title: str, name: str, widget: QWidget, area: Qt.DockWidgetArea) -> QDockWidget:
        dock = QDockWidget(title, self)
        dock.setObjectName(name)  # restoreState() finds docks by name
        dock.setWidget(widget)
        dock.setFeatures(QDockWidget.DockWidgetFeature.DockWidgetMovable)
        self.addDockWidget(area, dock)
        return dock

    # -- filters ------------------------------------------------------------------------------
    def _on_filters_changed(self, *_a: Any) -> None:
        flags = ("all", "picks", "rejects", "unflagged")[self.flag_filter.currentIndex()]
        label = None if self.label_filter.currentIndex() == 0 else self.label_filter.currentText()
        sort = ("rank", "time", "name")[self.sort_combo.currentIndex()]
        self.nav.apply_filters(ShotFilter(flags, self.star_filter.currentIndex(), label), sort)
        self.grid.setFocus()

    def _on_problem_filter(self, on: bool) -> None:
        self.groups_model.set_only_problems(on)
        self.nav.select_group_row(1 if on and self.groups_model.rowCount() > 1 else 0)
        self.grid.setFocus()

    def on_auto_advance(self) -> None:
        on = self.act_auto.isChecked()
        self.settings.set("auto_advance", on)
        self.status_area.set_auto_advance(on)

    # -- pages ----------------------------------------------------------------------------------
    def show_grid(self) -> None:
        self._leave_loupe_only()
        if self.session is None:
            return
        self.stack.setCurrentIndex(self.PAGE_GRID)
        self.grid.setFocus()
        if self.current_key:
            self.nav.select_key(self.current_key)

    def show_loupe(self) -> None:
        if self.session is None or self.current_shot() is None:
            return
        self.stack.setCurrentIndex(self.PAGE_LOUPE)
        self.viewer.reapply = True  # the zoom made in compare (or before) carries over
        self.viewer.fit_previews()
        self.loupe.setFocus()
        self.viewer.show_current()

    def toggle_loupe(self) -> None:
        if self.page() == self.PAGE_LOUPE:
            self.show_grid()
        else:
            self.show_loupe()

    def show_compare(self, keys: list[str] | None = None) -> None:
        if self.session is None:
            return
        keys = (keys if keys is not None else self.viewer.compare_candidates())[:4]
        if len(keys) < 2:
            self.statusBar().showMessage("Compare needs two shots: select 2-4 shots (Ctrl+click)", 5000)
            return
        self.stack.setCurrentIndex(self.PAGE_COMPARE)
        self.compare.setFocus()
        self.viewer.start_compare(keys)

    def _on_compare_active(self, i: int) -> None:
        keys = self.compare_keys
        if 0 <= i < len(keys):
            k = keys[i]
            if k != self.current_key and self.shots_model.row_of(k) >= 0:
                self.nav.select_key(k)

    def arrow(self, widget: QWidget, step: int) -> None:
        if widget is self.compare:
            n = len(self.compare.visible_views())
            if n:
                self.compare.set_active((self.compare.active + step) % n)
            return
        self.nav.step(step)

    def toggle_faces_100(self) -> None:
        page = self.page()
        if page == self.PAGE_GRID:
            self.show_loupe()
            page = self.PAGE_LOUPE
        if page == self.PAGE_LOUPE:
            if self.loupe.fit:
                self.loupe.focus_face(-1, 1.0)
            else:
                self.loupe.set_zoom(True, self.loupe.zoom, emit=False)
            self.viewer.remember(self.loupe.anchor())  # Z resets what carries over
        elif page == self.PAGE_COMPARE:
            self.compare.toggle_faces_100()
            self.viewer.remember(self.compare.anchor())

    def _on_face_clicked(self, idx: int) -> None:
        if self.page() != self.PAGE_LOUPE:
            self.show_loupe()
        self.loupe.focus_face(idx, 1.0)
        self.viewer.remember(self.loupe.anchor())

    def resizeEvent(self, event: Any) -> None:
        super().resizeEvent(event)
        if self.page() == self.PAGE_LOUPE:
            QTimer.singleShot(0, self.viewer.refit)

    # -- screen space ------------------------------------------------------------------------------
    def toggle_full_screen(self) -> None:
        """F11."""
        if self.isFullScreen():
            self.showMaximized() if self._was_maximized else self.showNormal()
        else:
            self._was_maximized = self.isMaximized()
            self.showFullScreen()

    def panels_hidden(self) -> bool:
        return bool(self._hidden_panels)

    def toggle_panels(self, extra: bool = False) -> None:
        """Tab: hide the scenes, the inspector and the toolbar (again: show them); with ``extra``
        the menu and status bars too (loupe-only)."""
        if self._hidden_panels:
            for wdg in self._hidden_panels:
                wdg.show()
            self._hidden_panels = []
            return
        parts: list[QWidget] = [self.groups_dock, self.inspector_dock, self.toolbar]
        if extra:
            parts += [self.menuBar(), self.statusBar()]
        self._hidden_panels = [p for p in parts if p.isVisible()]
        for wdg in self._hidden_panels:
            wdg.hide()

    def loupe_only(self) -> None:
        """F: the loupe alone on the whole screen (again, or Esc: back)."""
        if self._loupe_only:
            self._leave_loupe_only()
            return
        if self.session is None or self.current_shot() is None:
            return
        self.show_loupe()
        if self.panels_hidden():
            self.toggle_panels()
        self.toggle_panels(extra=True)
        self._loupe_only = True
        self._was_full = self.isFullScreen()
        if not self._was_full:
            self.toggle_full_screen()

    def _leave_loupe_only(self) -> None:
        if not self._loupe_only:
            return
        self._loupe_only = False
        if self.panels_hidden():
            self.toggle_panels()
        if self.isFullScreen() and not self._was_full:
            self.toggle_full_screen()

    def show_faces(self) -> None:
        """R: the faces of this scene across its frames (again: back to the grid)."""
        if self.page() == self.PAGE_FACES:
            self.show_grid()
            return
        s = self.current_shot()
        if self.session is None or s is None:
            return
        self.stack.setCurrentIndex(self.PAGE_FACES)
        self.faces_view.setFocus()
        self.viewer.show_current()

    def compare_four(self) -> None:
        """Shift+C: four frames in a 2×2 grid (the selection, else this shot and the next three)."""
        if self.session is None:
            return
        rows = sorted(i.row() for i in self.grid.selectionModel().selectedIndexes())
        keys = [k for k in (self.shots_model.key_at(r) for r in rows) if k]
        if len(keys) < 4:
            row = max(0, self.grid.currentIndex().row())
            keys = [k for k in (self.shots_model.key_at(r) for r in range(row, row + 4)) if k]
            if len(keys) < 4:
                keys = [k for k in (self.shots_model.key_at(r) for r in range(max(0, row - 3), row + 1)) if k]
        self.show_compare(keys[:4])

    # -- dialogs --------------------------------------------------------------------------------
    def open_folder_dialog(self) -> None:
        from app.import_dialog import ImportDialog

        last = str(self.settings.qs.value("last_folder", "") or "")
        dlg = ImportDialog(last, bool(self.settings.get("recursive")), self)
        if dlg.exec() != ImportDialog.DialogCode.Accepted:
            return
        folder, catalog, recursive = dlg.values()
        self.settings.set("recursive", recursive)
        self.open_folder(folder, catalog, recursive)

    def export_dialog(self) -> None:
        if self.session is None:
            self.show_message("Nothing to export", "Open a folder first.")
            return
        from app.export_dialog import ExportDialog

        try:
            self.decisions.flush()
        except DecisionWriteError as exc:
            self.show_message("Cannot export yet", str(exc))
            return
        ExportDialog(self.session.root, self.session.catalog_path, self.settings, self).exec()

    def show_shortcuts(self) -> None:
        html = "<table cellpadding='3'>" + "".join(
            f"<tr><td><b>{k}</b></td><td>{v}</td></tr>" for k, v in SHORTCUTS) + "</table>"
        self.show_message("Keyboard shortcuts", html, QMessageBox.Icon.Information)

    def settings_dialog(self) -> None:
        ranking = self.ctl.ranking()
        dlg = SettingsDialog(self.settings, self, ranking)
        members_before = self.settings.get("members")
        if dlg.exec() == SettingsDialog.DialogCode.Accepted:
            taste_before = self.taste.enabled()
            dlg.save()
            if bool(self.settings.get("taste")) != taste_before:
                self.set_taste_enabled(bool(self.settings.get("taste")))
            chosen = dlg.ranking()
            sens = chosen[0] if chosen and ranking and chosen[0] != ranking[0] else None
            strict = chosen[1] if chosen and ranking and chosen[1] != ranking[1] else None
            if sens is not None or strict is not None:
                # stored in the folder's catalog, then grouped and ranked again off the GUI thread
                self.ctl.set_ranking(sens, strict)
            elif self.settings.get("members") != members_before:
                self.regroup()
            app = QApplication.instance()
            if isinstance(app, QApplication):
                theme.apply(app, str(self.settings.get("theme")))
            self.act_auto.setChecked(bool(self.settings.get("auto_advance")))
            self.status_area.set_auto_advance(self.act_auto.isChecked())

    # -- remembered settings -------------------------------------------------------------------------
    def restore_settings(self) -> None:
        s = self.settings
        geo = s.qs.value("geometry")
        if isinstance(geo, QByteArray | bytes):
            self.restoreGeometry(QByteArray(geo))
        else:
            self.resize(1440, 900)
        state = s.qs.value("window_state")
        if isinstance(state, QByteArray | bytes):
            self.restoreState(QByteArray(state))
        self.act_auto.blockSignals(True)
        self.act_auto.setChecked(bool(s.get("auto_advance")))
        self.act_auto.blockSignals(False)
        self.status_area.set_auto_advance(self.act_auto.isChecked())
        size = int(s.get("thumb_size"))
        self.size_slider.setValue(size)
        self.grid.set_thumb_size(size)
        sort = str(s.get("sort"))
        self.sort_combo.setCurrentIndex({"rank": 0, "time": 1, "name": 2}.get(sort, 0))

    def fit_docks(self, widths: list[int] | None = None) -> None:
        """Dock widths as saved (or the defaults), shrunk to leave the grid / loupe at least
        about 40 % of a small window (1024 px wide and up)."""
        want = widths or self._saved_dock_widths() or [250, 340]
        room = max(0, int(self.width() * 0.6))
        if sum(want) > room:
            k = room / max(1, sum(want))
            want = [max(d.minimumSizeHint().width(), int(x * k))
                    for d, x in zip((self.groups_dock, self.inspector_dock), want)]
        self.resizeDocks([self.groups_dock, self.inspector_dock], want, Qt.Orientation.Horizontal)

    def _saved_dock_widths(self) -> list[int] | None:
        v = self.settings.qs.value("dock_widths")
        try:
            ws = [int(x) for x in (v if isinstance(v, list) else str(v or "").split(","))]
        except ValueError:
            return None
        return ws if len(ws) == 2 and all(w > 0 for w in ws) else None

    def showEvent(self, event: Any) -> None:
        super().showEvent(event)
        if not self._docks_fitted:
            # restoreState() before the first show loses the docks' sizes: set them once shown
            self._docks_fitted = True
            QTimer.singleShot(0, self.fit_docks)

    def save_settings(self) -> None:
        s = self.settings
        s.set("geometry", self.saveGeometry())
        s.set("window_state", self.saveState())
        if self.groups_dock.isVisible() and self.inspector_dock.isVisible():
            s.set("dock_widths", f"{self.groups_dock.width()},{self.inspector_dock.width()}")
        s.set("auto_advance", self.act_auto.isChecked())
        s.set("thumb_size", self.size_slider.value())
        s.set("sort", self.shots_model.sort_mode)
        if self.session is not None:
            s.set("last_folder", str(self.session.root))
        s.sync()
