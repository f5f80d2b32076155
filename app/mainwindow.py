"""The main window: groups side list, ranked grid / loupe / compare, inspector, keyboard culling."""

from __future__ import annotations

import contextlib
import functools
import gc
import os
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from PySide6.QtCore import QByteArray, QItemSelectionModel, QModelIndex, Qt, QThread, QTimer, Signal
from PySide6.QtGui import (
    QAction,
    QCloseEvent,
    QDragEnterEvent,
    QDropEvent,
    QFont,
    QKeySequence,
    QShortcut,
    QUndoStack,
)
from PySide6.QtWidgets import (
    QApplication,
    QComboBox,
    QDockWidget,
    QHBoxLayout,
    QLabel,
    QMainWindow,
    QMessageBox,
    QProgressBar,
    QPushButton,
    QSlider,
    QStackedWidget,
    QToolBar,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from app import theme
from app.analysis import AnalysisThread, ListingThread, Progress, SnapshotThread, engine_available
from app.grid import GroupDelegate, GroupList, ShotGrid
from app.imaging import full_size_of
from app.inspector import Inspector
from app.loupe import ComparePane, ImageView, face_boxes
from app.models import GroupListModel, ShotFilter, ShotListModel
from app.session import DecisionWriteError, Mark, Session, SessionError, ShotRecord, Snapshot
from app.settings import AppSettings, SettingsDialog
from app.thumbs import ImageCache
from app.undo import DecisionCommand

LABEL_KEYS = {"6": "Red", "7": "Yellow", "8": "Green", "9": "Blue"}
PREFETCH_AHEAD = 3
PREFETCH_BEHIND = 1


def _fmt_eta(s: float | None) -> str:
    if s is None:
        return ""
    s = int(round(s))
    if s < 60:
        return f"about {s} s left"
    m, s = divmod(s, 60)
    if m < 60:
        return f"about {m} min {s:02d} s left"
    h, m = divmod(m, 60)
    return f"about {h} h {m:02d} min left"


def _preview_side() -> int:
    """Long side of loupe previews: the screen's (sharp when fitted), 1024-2560 px."""
    screen = QApplication.primaryScreen()
    if screen is None:
        return 2048
    size = screen.size() * screen.devicePixelRatio()
    return int(min(2560, max(1024, max(size.width(), size.height()))))


_T = TypeVar("_T", bound=QThread)


def _owned(th: _T) -> _T:
    """A worker thread that deletes itself once finished.  Its signals are queued before
    ``finished``, so their slots run first.  Without this every catalog read left a QThread
    child on the window, holding its session (2,000 records): ~4 MB per folder opened."""
    th.finished.connect(th.deleteLater)
    return th


def settle_heap() -> None:
    """Move every object alive now out of the cyclic collector's sight (``gc.freeze``).

    A full collection walks every tracked object while holding the GIL: with the modules of
    Qt, numpy and the engine plus a 2,000-shot catalog in memory that is 20-40 ms during which
    the window cannot paint.  The app's long-lived objects (modules, widgets, the session's
    records) are frozen after start-up and after each catalog read, so collections only walk
    what is new.  Frozen objects are still freed by reference counting when dropped; only
    garbage in reference cycles among them waits (none in the session records)."""
    gc.freeze()


def _preload_engine() -> None:
    """Import what opening a folder needs now, so that choosing a folder does not wait for it."""
    import sqlite3

    import sqlite_utils
    from PIL import Image, JpegImagePlugin  # noqa: F401

    import engine.catalog
    import engine.images
    import engine.scan  # noqa: F401

    conn = sqlite3.connect(":memory:")
    sqlite_utils.Database(conn)  # its first use loads plugins (~70 ms)
    conn.close()


_WARM_UP_MODULES = (
    "multiprocessing.connection", "multiprocessing.queues", "multiprocessing.synchronize",
    "multiprocessing.popen_spawn_posix", "multiprocessing.resource_tracker",
    "app.engine_process", "engine.pipeline",
)


def _warm_up() -> None:  # a background thread, started once the window is on screen
    """Import what the first folder's decoders and analysis need (all of Pillow's format
    plugins, the HEIF plugin with its native library, multiprocessing's spawn machinery, the
    pipeline, the quality registry with its verified packs): ~0.3 s that otherwise runs in the
    decoder threads or the GUI thread just when the first thumbnails and scores are painted,
    and stalls the window by 60 ms or more."""
    import importlib

    with contextlib.suppress(Exception):  # only an optimisation: failures show up later, in context
        from PIL import Image

        Image.init()
    with contextlib.suppress(Exception):
        import engine.images

        engine.images._register_heif()
    for name in _WARM_UP_MODULES:
        with contextlib.suppress(Exception):  # e.g. no popen_spawn_posix on Windows
            importlib.import_module(name)
    with contextlib.suppress(Exception):  # the explain chart's member weights: the registry
        from engine.quality.registry import available_members  # and the packs' sha256 (~50 ms)

        available_members()


class WelcomePage(QWidget):
    def __init__(self, on_open: Callable[[], None], parent: QWidget | None = None):
        super().__init__(parent)
        lay = QVBoxLayout(self)
        lay.addStretch(2)
        title = QLabel("portrait-culler")
        f = QFont()
        f.setPointSizeF(f.pointSizeF() * 2.2)
        f.setBold(True)
        title.setFont(f)
        title.setAlignment(Qt.AlignmentFlag.AlignCenter)
        lay.addWidget(title)
        sub = QLabel("Open a folder of portrait bursts, or drop it on this window.\n"
                     "Scenes are grouped and ranked best-first; cull with P / X / U, 0-5 stars, 6-9 labels.")
        sub.setAlignment(Qt.AlignmentFlag.AlignCenter)
        sub.setStyleSheet("color: palette(placeholder-text);")
        lay.addWidget(sub)
        btn = QPushButton("Open folder…")
        btn.setMinimumWidth(180)
        btn.clicked.connect(on_open)
        row = QHBoxLayout()
        row.addStretch(1)
        row.addWidget(btn)
        row.addStretch(1)
        lay.addSpacing(12)
        lay.addLayout(row)
        lay.addStretch(3)


class MainWindow(QMainWindow):
    analysis_done = Signal()
    shot_shown = Signal(str)  # loupe finished showing a shot (benchmarks)

    PAGE_WELCOME, PAGE_GRID, PAGE_LOUPE, PAGE_COMPARE = range(4)
    LISTING_DELAY_MS = 150  # after the catalog is shown, before the folder is listed

    def __init__(self, settings: AppSettings | None = None,
                 rank_fn: Callable[..., Any] | None = None, parent: QWidget | None = None):
        super().__init__(parent)
        self.settings = settings or AppSettings()
        self.rank_fn = rank_fn
        self.session: Session | None = None
        self.analysis: AnalysisThread | None = None
        self.listing: ListingThread | None = None
        self.loading: SnapshotThread | None = None
        self.regrouping: Any = None
        self._analyse_after_listing = True
        self.messages: list[tuple[str, str]] = []  # every message shown (tests, logs)
        self._boxes: list[QMessageBox] = []
        self._dirty: set[str] = set()
        self._missing_new: list[str] = []
        self._write_error_shown = False
        self.current_key: str | None = None
        self.compare_keys: list[str] = []
        self.opened_at = 0.0
        self.first_thumb_at: float | None = None
        self.last_summary: Any = None

        self.setWindowTitle("portrait-culler")
        self.setAcceptDrops(True)
        _preload_engine()
        # Worker threads (decoding, listing, the analysis driver) run Python too; a short GIL
        # switch interval keeps the GUI thread from waiting 5 ms at each return into Python.
        sys.setswitchinterval(0.001)
        self.thumbs = ImageCache(320, 256 << 20, parent=self)
        self.previews = ImageCache(_preview_side(), 384 << 20, threads=2, parent=self, max_queue=16)
        self.fulls = ImageCache(None, 600 << 20, threads=1, parent=self, max_queue=4)
        self.thumbs.ready.connect(self._on_thumb_ready)
        self.previews.ready.connect(self._on_preview_ready)
        self.fulls.ready.connect(self._on_full_ready)

        self.shots_model = ShotListModel(self)
        self.groups_model = GroupListModel(self)
        self.undo_stack = QUndoStack(self)

        self._build_ui()
        self._build_actions()
        self._refresh_timer = QTimer(self)
        self._refresh_timer.setInterval(250)
        self._refresh_timer.timeout.connect(self._flush_dirty)
        self._retry_timer = QTimer(self)
        self._retry_timer.setInterval(5000)
        self._retry_timer.timeout.connect(self._retry_writes)
        self._restore_settings()
        settle_heap()
        QTimer.singleShot(0, self._start_warm_up)

    _warm_up_thread: threading.Thread | None = None

    @classmethod
    def _start_warm_up(cls) -> None:
        if MainWindow._warm_up_thread is None:
            th = threading.Thread(target=_warm_up, name="culler-warm-up", daemon=True)
            MainWindow._warm_up_thread = th
            th.start()

    @staticmethod
    def warmed_up() -> bool:
        """True once the background imports are done (benchmarks wait for it, as a user who
        picks a folder a moment after the window appears does)."""
        th = MainWindow._warm_up_thread
        return th is not None and not th.is_alive()

    # ------------------------------------------------------------------ UI
    def _build_ui(self) -> None:
        self.stack = QStackedWidget()
        self.welcome = WelcomePage(self.open_folder_dialog)
        self.grid = ShotGrid(self.shots_model, self.thumbs)
        self.loupe = ImageView()
        self.loupe.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        self.loupe.need_full.connect(lambda k: self._request_full(k))
        self.compare = ComparePane()
        self.compare.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        self.compare.activated.connect(self._on_compare_active)
        self.compare.need_full.connect(self._request_full)
        for page in (self.welcome, self.grid, self.loupe, self.compare):
            self.stack.addWidget(page)
        self.setCentralWidget(self.stack)
        self.grid.selectionModel().currentChanged.connect(self._on_current_changed)
        self.grid.doubleClicked.connect(lambda _i: self.show_loupe())

        # groups dock
        self.group_delegate = GroupDelegate(self.thumbs, lambda: self.session)
        self.group_list = GroupList(self.groups_model, self.group_delegate)
        self.group_list.selectionModel().currentChanged.connect(self._on_group_changed)
        dock = self._dock("Scenes", "scenes", self.group_list, Qt.DockWidgetArea.LeftDockWidgetArea)
        self.groups_dock = dock

        # inspector dock
        self.inspector = Inspector()
        self.inspector.decide.connect(self._on_inspector_decide)
        self.inspector.face_clicked.connect(self._on_face_clicked)
        dock2 = self._dock("Shot", "inspector", self.inspector, Qt.DockWidgetArea.RightDockWidgetArea)
        self.inspector_dock = dock2
        self.resizeDocks([dock, dock2], [250, 340], Qt.Orientation.Horizontal)

        # filter / sort toolbar
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
        self.size_slider.valueChanged.connect(self._on_thumb_size)

        # status bar: counts, progress, ETA, cancel
        sb = self.statusBar()
        self.counts_label = QLabel("")
        sb.addWidget(self.counts_label)
        self.progress_label = QLabel("")
        self.progress = QProgressBar()
        self.progress.setFixedWidth(220)
        self.progress.setTextVisible(True)
        self.eta_label = QLabel("")
        self.cancel_btn = QPushButton("Cancel")
        self.cancel_btn.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self.cancel_btn.clicked.connect(self.cancel_analysis)
        for item in (self.progress_label, self.progress, self.eta_label, self.cancel_btn):
            sb.addPermanentWidget(item)
        self._set_progress_visible(False)
        self.stack.setCurrentIndex(self.PAGE_WELCOME)

    def _act(self, text: str, keys: list[str] | str | None, slot: Callable[[], Any],
             tip: str = "", checkable: bool = False) -> QAction:
        a = QAction(text, self)
        if keys:
            seqs = [QKeySequence(k) for k in ([keys] if isinstance(keys, str) else keys)]
            a.setShortcuts(seqs)
            a.setShortcutContext(Qt.ShortcutContext.WindowShortcut)
        if tip:
            a.setToolTip(tip)
        a.setCheckable(checkable)
        if checkable:
            a.toggled.connect(lambda _on: slot())
        else:
            a.triggered.connect(lambda _c=False: slot())
        self.addAction(a)
        return a

    def _dock(self, title: str, name: str, widget: QWidget, area: Qt.DockWidgetArea) -> QDockWidget:
        dock = QDockWidget(title, self)
        dock.setObjectName(name)  # restoreState() finds docks by name
        dock.setWidget(widget)
        dock.setFeatures(QDockWidget.DockWidgetFeature.DockWidgetMovable)
        self.addDockWidget(area, dock)
        return dock

    def _build_actions(self) -> None:
        mb = self.menuBar()
        m_file = mb.addMenu("&File")
        self.act_open = self._act("&Open folder…", "Ctrl+O", self.open_folder_dialog)
        self.act_reanalyse = self._act("&Re-analyse", "Ctrl+R", self.start_analysis)
        self.act_export = self._act("&Export…", "Ctrl+E", self.export_dialog)
        self.act_settings = self._act("&Settings…", "Ctrl+,", self.settings_dialog)
        self.act_quit = self._act("&Quit", "Ctrl+Q", self.close)
        for a in (self.act_open, self.act_reanalyse, self.act_export, self.act_settings, self.act_quit):
            m_file.addAction(a)

        m_edit = mb.addMenu("&Edit")
        self.act_undo = self.undo_stack.createUndoAction(self, "&Undo")
        self.act_undo.setShortcut(QKeySequence("Ctrl+Z"))
        self.act_redo = self.undo_stack.createRedoAction(self, "&Redo")
        self.act_redo.setShortcuts([QKeySequence("Ctrl+Shift+Z"), QKeySequence("Ctrl+Y")])
        for a in (self.act_undo, self.act_redo):
            a.setShortcutContext(Qt.ShortcutContext.WindowShortcut)
            self.addAction(a)
            m_edit.addAction(a)

        m_cull = mb.addMenu("&Cull")
        self.act_pick = self._act("Pick", "P", lambda: self.set_flag("pick"))
        self.act_reject = self._act("Reject", "X", lambda: self.set_flag("reject"))
        self.act_unflag = self._act("Unflag", "U", lambda: self.set_flag(None))
        for a in (self.act_pick, self.act_reject, self.act_unflag):
            m_cull.addAction(a)
        m_cull.addSeparator()
        m_stars = m_cull.addMenu("Stars")
        for n in range(6):
            m_stars.addAction(self._act(f"{n} star(s)" if n else "No stars", str(n),
                                        functools.partial(self.set_stars, n)))
        m_label = m_cull.addMenu("Colour label")
        for k, lab in LABEL_KEYS.items():
            m_label.addAction(self._act(lab, k, functools.partial(self.toggle_label, lab)))
        m_cull.addSeparator()
        self.act_accept_group = self._act("Accept suggestion for this scene", "A", self.accept_group,
                                          "Pick the best shot of the scene and reject the rest")
        self.act_accept_all = self._act("Accept suggestions for all undecided shots", "Shift+A",
                                        self.accept_all)
        m_cull.addAction(self.act_accept_group)
        m_cull.addAction(self.act_accept_all)
        m_cull.addSeparator()
        self.act_auto = self._act("Auto-advance", "Ctrl+Shift+A", self._on_auto_advance, checkable=True)
        m_cull.addAction(self.act_auto)

        m_view = mb.addMenu("&View")
        self.act_grid = self._act("Grid", ["G", "Esc"], self.show_grid)
        self.act_loupe = self._act("Loupe", ["E", "Return", "Enter", "Space"], self.toggle_loupe)
        self.act_compare = self._act("Compare", "C", self.show_compare,
                                     "Compare the selected shots (2-4), or this shot with the scene's best")
        self.act_faces = self._act("100% on faces", "Z", self.toggle_faces_100)
        self.act_next_group = self._act("Next scene", ["Ctrl+Down", "]"], lambda: self.move_group(1))
        self.act_prev_group = self._act("Previous scene", ["Ctrl+Up", "["], lambda: self.move_group(-1))
        for a in (self.act_grid, self.act_loupe, self.act_compare, self.act_faces,
                  self.act_next_group, self.act_prev_group):
            m_view.addAction(a)

        m_help = mb.addMenu("&Help")
        self.act_keys = self._act("Keyboard shortcuts", ["F1", "?"], self.show_shortcuts)
        m_help.addAction(self.act_keys)

        # arrows in loupe / compare (the grid handles its own)
        for w in (self.loupe, self.compare):
            for key, step in (("Right", 1), ("Left", -1), ("Down", 1), ("Up", -1)):
                sc = QShortcut(QKeySequence(key), w)
                sc.setContext(Qt.ShortcutContext.WidgetWithChildrenShortcut)
                sc.activated.connect(lambda step=step, w=w: self._arrow(w, step))

        tb = self.toolbar
        tb.addAction(self.act_open)
        tb.addAction(self.act_export)
        tb.addSeparator()
        grp_btns = []
        for a in (self.act_grid, self.act_loupe, self.act_compare):
            b = QToolButton()
            b.setDefaultAction(a)
            b.setFocusPolicy(Qt.FocusPolicy.NoFocus)
            tb.addWidget(b)
            grp_btns.append(b)
        tb.addSeparator()
        for tool in (self.flag_filter, self.star_filter, self.label_filter, self.problem_filter,
                     self.sort_combo):
            tb.addWidget(tool)
        tb.addSeparator()
        auto_btn = QToolButton()
        auto_btn.setDefaultAction(self.act_auto)
        auto_btn.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        tb.addWidget(auto_btn)
        spacer = QWidget()
        spacer.setSizePolicy(spacer.sizePolicy().horizontalPolicy().Expanding,
                             spacer.sizePolicy().verticalPolicy().Preferred)
        tb.addWidget(spacer)
        tb.addWidget(self.size_slider)

    def _restore_settings(self) -> None:
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
        size = int(s.get("thumb_size"))
        self.size_slider.setValue(size)
        self.grid.set_thumb_size(size)
        sort = str(s.get("sort"))
        self.sort_combo.setCurrentIndex({"rank": 0, "time": 1, "name": 2}.get(sort, 0))

    def save_settings(self) -> None:
        s = self.settings
        s.set("geometry", self.saveGeometry())
        s.set("window_state", self.saveState())
        s.set("auto_advance", self.act_auto.isChecked())
        s.set("thumb_size", self.size_slider.value())
        s.set("sort", self.shots_model.sort_mode)
        if self.session is not None:
            s.set("last_folder", str(self.session.root))
        s.sync()

    # ------------------------------------------------------------------ messages
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

    # ------------------------------------------------------------------ opening
    def open_folder_dialog(self) -> None:
        from app.import_dialog import ImportDialog

        last = str(self.settings.qs.value("last_folder", "") or "")
        dlg = ImportDialog(last, bool(self.settings.get("recursive")), self)
        if dlg.exec() != ImportDialog.DialogCode.Accepted:
            return
        folder, catalog, recursive = dlg.values()
        self.settings.set("recursive", recursive)
        self.open_folder(folder, catalog, recursive)

    def open_folder(self, folder: Path | str, catalog: Path | str | None = None,
                    recursive: bool | None = None, analyse: bool = True) -> bool:
        """Open ``folder`` (its catalog opens at once; analysis starts when something is new)."""
        if recursive is None:
            recursive = bool(self.settings.get("recursive"))
        self.opened_at = time.monotonic()
        self.first_thumb_at = None
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
        self.session = session
        self._analyse_after_listing = analyse
        self.undo_stack.clear()
        self.shots_model.set_session(session)
        self.groups_model.set_session(session)
        self.setWindowTitle(f"{session.root.name} — portrait-culler")
        self.stack.setCurrentIndex(self.PAGE_GRID)
        self._select_group_row(0)
        self._update_counts()
        self.settings.set("last_folder", str(session.root))
        # the catalog is read, then the folder listed, in worker threads: the window stays live
        self.statusBar().showMessage("Opening the catalog…")
        self._load_async(self._on_first_load)
        self.grid.setFocus()
        return True

    def _load_async(self, then: Callable[[Snapshot], None]) -> None:
        assert self.session is not None
        th = _owned(SnapshotThread(self.session, self))
        self.loading = th
        th.done.connect(functools.partial(self._on_snapshot, th, then))
        th.failed.connect(functools.partial(self._on_snapshot_failed, th))
        th.start()

    def _on_snapshot(self, th: SnapshotThread, then: Callable[[Snapshot], None], snap: Snapshot) -> None:
        th.wait()
        if th is not self.loading:
            return  # a session closed meanwhile
        self.loading = None
        if self.session is not None and th.session is self.session:
            then(snap)
            settle_heap()  # the records just taken in are long-lived

    def _on_snapshot_failed(self, th: SnapshotThread, msg: str) -> None:
        th.wait()
        if th is not self.loading:
            return
        self.loading = None
        self.show_message("Cannot read the catalog", msg)

    def _on_first_load(self, snap: Snapshot) -> None:
        session = self.session
        assert session is not None
        session.apply_snapshot(snap)
        self.shots_model.rebuild()
        self.groups_model.rebuild()
        # culling goes scene by scene: start on the first scene when there are scenes
        self._select_group_row(1 if any(g.id >= 0 for g in session.groups) else 0)
        self._update_counts()
        th = self.listing = _owned(ListingThread(session.root, session.recursive, self))
        th.listed.connect(self._on_listed)
        th.failed.connect(self._on_listing_failed)
        self.statusBar().showMessage("Reading the folder…")
        # a catalog with shots: list once it is on screen (the walk is Python, and while it runs
        # every GIL hand-over of the first paints waits on it; busy() is true meanwhile).  A new
        # folder has nothing to show until it is listed: list now.
        QTimer.singleShot(self.LISTING_DELAY_MS if snap.shots else 0, functools.partial(self._start_listing, th))

    def _start_listing(self, th: ListingThread) -> None:
        if self.listing is th:  # not closed or replaced meanwhile
            th.start()

    def busy(self) -> bool:
        """True while the folder is being listed or analysed."""
        return (self.listing is not None or self.analysis is not None or self.regrouping is not None
                or self.loading is not None)

    def _on_listed(self, listing: dict[str, Any]) -> None:
        if self.sender() is not self.listing or self.session is None:
            return
        self.listing = None
        if self.session.set_listing(listing, reload=False):
            # a folder without a catalog yet: its shots are read (2,000 records) in a worker
            self._load_async(self._on_listing_loaded)
        else:
            self._after_listing()

    def _on_listing_loaded(self, snap: Snapshot) -> None:
        assert self.session is not None
        self.session.apply_snapshot(snap)
        self.shots_model.rebuild()
        self.groups_model.rebuild()
        self._select_group_row(0)
        self._update_counts()
        self._after_listing()

    def _after_listing(self) -> None:
        session = self.session
        assert session is not None
        self.statusBar().clearMessage()
        if not session.shots:
            self.statusBar().showMessage("No photos in this folder"
                                         + ("" if session.recursive else " (sub-folders not included)"), 8000)
        elif self._analyse_after_listing and session.needs_analysis():
            self.start_analysis()

    def _on_listing_failed(self, msg: str) -> None:
        if self.sender() is not self.listing:
            return
        self.listing = None
        self.show_message("Cannot read the folder", msg)

    def close_session(self) -> None:
        for th in (self.listing, self.loading, self.regrouping):
            if th is not None:
                th.wait(30000)
        self.listing = self.loading = self.regrouping = None
        self.cancel_analysis(wait=True)
        if self.session is not None:
            with contextlib.suppress(DecisionWriteError):
                self.session.flush_pending()
            if self.session.pending_writes:
                self.show_message("Decisions not saved",
                                  f"{len(self.session.pending_writes)} decision(s) could not be written to "
                                  f"{self.session.catalog_path}.")
            self.session.close()
        self.session = None
        self.current_key = None
        self.thumbs.clear()
        self.previews.clear()
        self.fulls.clear()
        self.grid.delegate.tiles.clear()
        self.group_delegate.tiles.clear()
        self.shots_model.set_session(None)
        self.groups_model.set_session(None)

    # ------------------------------------------------------------------ analysis
    def start_analysis(self) -> None:
        if self.session is None or self.analysis is not None:
            return
        if self.rank_fn is None and not engine_available():
            self.show_message("Analysis not available",
                              "This build has no analysis engine (engine.pipeline); the photos can be "
                              "culled without ranking.")
            return
        s = self.settings
        members = s.get("members") or None
        device = s.get("device")
        workers = s.get("workers") or None
        self.analysis = _owned(AnalysisThread(
            self.session.root, self.session.catalog_path, self.session.recursive,
            sensitivity=float(s.get("sensitivity")), members=members, workers=workers,
            device=None if device == "auto" else device, rank_fn=self.rank_fn, parent=self,
        ))
        self.analysis.progress.connect(self._on_progress)
        self.analysis.finished_ok.connect(self._on_analysis_done)
        self.analysis.failed.connect(self._on_analysis_failed)
        self.analysis.cancelled.connect(self._on_analysis_cancelled)
        self._set_progress_visible(True)
        self.progress.setRange(0, 0)
        self.progress_label.setText("Scanning…")
        self.eta_label.setText("")
        self._refresh_timer.start()
        self.analysis.start()

    def analysis_running(self) -> bool:
        """True from the start of an analysis until its result has been taken in."""
        return self.analysis is not None

    def cancel_analysis(self, wait: bool = False) -> None:
        a = self.analysis
        if a is None:
            return
        a.cancel()
        self.progress_label.setText("Cancelling…")
        if wait:
            a.wait(60000)
            self.analysis = None
            self._refresh_timer.stop()
            self._set_progress_visible(False)

    def _set_progress_visible(self, on: bool) -> None:
        for w in (self.progress_label, self.progress, self.eta_label, self.cancel_btn):
            w.setVisible(on)

    def _on_progress(self, p: Progress) -> None:
        if self.sender() is not self.analysis:
            return
        if p.phase == "scan":
            self.progress_label.setText("Scanning…")
            self.progress.setRange(0, 0)
        elif p.phase == "analyse":
            self.progress_label.setText("Analysing")
            self.progress.setRange(0, max(1, p.total))
            self.progress.setValue(p.done)
            self.progress.setFormat(f"{p.done} / {p.total}")
            self.eta_label.setText(_fmt_eta(p.eta_s))
            if p.path:
                self._dirty.add(p.path)
        elif p.phase == "group":
            self.progress_label.setText("Grouping scenes and ranking…")
            self.progress.setRange(0, 0)
            self.eta_label.setText("")

    def _flush_dirty(self) -> None:
        if not self._dirty or self.session is None:
            return
        keys, self._dirty = list(self._dirty), set()
        if any(k not in self.session.shots for k in keys):
            # the engine found shots the quick listing did not: take the catalog's view
            if self.loading is None:
                self._reload_async()
            else:
                self._dirty.update(keys)
            return
        changed = self.session.refresh_shots(keys)
        self.shots_model.shots_changed(changed)
        if self.current_key in changed:
            self._show_current()

    def _on_analysis_done(self, summary: Any) -> None:
        if self.sender() is not self.analysis:
            return
        self._refresh_timer.stop()
        self._dirty.clear()
        self.analysis = None
        self.last_summary = summary
        self._set_progress_visible(False)
        n_groups = getattr(summary, "n_groups", None)
        secs = getattr(summary, "seconds", None)
        msg = "Analysis finished"
        if n_groups is not None:
            msg += f": {getattr(summary, 'n_shots', '?')} shots in {n_groups} scenes"
        if secs is not None:
            msg += f" ({secs:.0f} s)"
        skipped = getattr(summary, "skipped", None) or []
        if skipped:
            msg += f"; {len(skipped)} file(s) skipped (see the 'Unreadable files' scene)"
        self.statusBar().showMessage("Analysis finished; loading the ranks…")
        self._load_async(functools.partial(self._after_analysis, msg, None))

    def _after_analysis(self, status: str, message: tuple[str, str] | None, snap: Snapshot) -> None:
        self._reload_keep_selection(snap)
        if self.session is not None and self.shots_model.rowCount() and not self.grid.currentIndex().isValid():
            self._select_group_row(1 if self.groups_model.rowCount() > 1 else 0)
        self.statusBar().showMessage(status, 15000)
        if message is not None:
            self.show_message(*message)
        self.analysis_done.emit()

    def _on_analysis_failed(self, msg: str) -> None:
        if self.sender() is not self.analysis:
            return
        self._refresh_timer.stop()
        self.analysis = None
        self._set_progress_visible(False)
        box = ("Analysis stopped", f"The analysis stopped: {msg}\n\nEverything finished so far is kept in "
               "the catalog; Re-analyse (Ctrl+R) resumes where it stopped.")
        self._load_async(functools.partial(self._after_analysis, "Analysis stopped", box))

    def _on_analysis_cancelled(self) -> None:
        if self.sender() is not self.analysis:
            return
        self._refresh_timer.stop()
        self.analysis = None
        self._set_progress_visible(False)
        self._load_async(functools.partial(
            self._after_analysis, "Analysis cancelled; finished shots are kept (Ctrl+R resumes)", None))

    def _reload_async(self) -> None:
        """Re-read the catalog in a worker (after an analysis), then refresh the views."""
        if self.session is None:
            return
        self._load_async(self._reload_keep_selection)

    def _reload_keep_selection(self, snap: Snapshot | None = None) -> None:
        if self.session is None:
            return
        try:
            if snap is None:
                self.session.reload()
            else:
                self.session.apply_snapshot(snap)
        except Exception as exc:  # sqlite errors while the disk is failing
            self.show_message("Cannot read the catalog", str(exc))
            return
        cur_group = self.group_list.currentIndex().row()
        gid = self.groups_model.rows[cur_group].id if 0 <= cur_group < len(self.groups_model.rows) else None
        key = self.current_key
        self.groups_model.refresh_layout()
        if gid is not None and self.groups_model.row_of(gid) < 0:
            # the scene vanished (pending group after analysis): show the first real scene
            self._select_group_row(1 if self.groups_model.rowCount() > 1 else 0)
        else:
            self.shots_model.refresh_layout()
        if key and self.shots_model.row_of(key) >= 0 and self.grid.currentIndex().row() != self.shots_model.row_of(key):
            self.select_key(key)
        self._update_counts()
        self.group_list.viewport().update()
        self._show_current()

    # ------------------------------------------------------------------ selection
    def _select_group_row(self, row: int) -> None:
        if not 0 <= row < self.groups_model.rowCount():
            self.shots_model.set_scope(None)
            return
        idx = self.groups_model.index(row)
        moved = self.group_list.currentIndex() != idx  # then currentChanged calls _on_group_changed
        self.group_list.setCurrentIndex(idx)
        self.group_list.selectionModel().select(idx, QItemSelectionModel.SelectionFlag.ClearAndSelect)
        if not moved:
            self._on_group_changed(idx, QModelIndex())

    def _on_group_changed(self, cur: QModelIndex, _prev: QModelIndex) -> None:
        if not cur.isValid():
            return
        self.shots_model.set_scope(self.groups_model.group_ids(cur.row()))
        if self.shots_model.rowCount():
            self.select_row(0)
        else:
            self.current_key = None
            self._show_current()

    def select_row(self, row: int) -> None:
        idx = self.shots_model.index(row)
        self.grid.selectionModel().setCurrentIndex(idx, QItemSelectionModel.SelectionFlag.ClearAndSelect)
        self.grid.scrollTo(idx)

    def select_key(self, key: str) -> bool:
        row = self.shots_model.row_of(key)
        if row < 0:
            return False
        self.select_row(row)
        return True

    def _on_current_changed(self, cur: QModelIndex, _prev: QModelIndex) -> None:
        self.current_key = self.shots_model.key_at(cur.row()) if cur.isValid() else None
        self._show_current()

    def current_shot(self) -> ShotRecord | None:
        if self.session is None or self.current_key is None:
            return None
        return self.session.shots.get(self.current_key)

    def _group_of(self, s: ShotRecord) -> Any:
        if self.session is None:
            return None
        for g in self.session.groups:
            if s.key in g.keys:
                return g
        return None

    def _show_current(self) -> None:
        s = self.current_shot()
        if s is None or self.session is None:
            self.inspector.show_shot(None)
            return
        g = self._group_of(s)
        faces = self.session.faces(s.key) if s.hash else []
        scores = self.session.scores(s.key) if s.hash else {}
        best_scores = best_explain = None
        if g is not None and g.best and g.best != s.key:
            best_scores = self.session.scores(g.best)
            best_explain = self.session.explain(g.best)
        self.inspector.show_shot(s, g.title if g else "", len(g.keys) if g else 0, faces, scores, best_scores,
                                 self.session.explain(s.key), best_explain)
        page = self.stack.currentIndex()
        if page == self.PAGE_LOUPE:
            self._show_in_loupe(s, faces)
        self._prefetch()

    def _show_in_loupe(self, s: ShotRecord, faces: list[dict[str, Any]] | None = None) -> None:
        if self.session is None:
            return
        if faces is None:
            faces = self.session.faces(s.key) if s.hash else []
        full = self.fulls.get(s.key)
        img = full or self.previews.get(s.key)
        msg = ""
        if img is None:
            err = self.previews.error(s.key)
            if err:
                msg = err
            else:
                self.previews.request(s.key, s.path)
        size = (full_size_of(img) if img is not None else None) or self.session.full_size(s.key)
        self.loupe.caption = self._caption(s)
        self.loupe.flag = s.mark.flag
        keep = self.loupe.key == s.key
        self.loupe.set_image(s.key, img, size, face_boxes(faces), msg, keep_view=keep, full=full is not None)
        if img is not None:
            self.shot_shown.emit(s.key)

    def _caption(self, s: ShotRecord) -> str:
        parts = [s.name]
        if s.rank is not None:
            parts.append(f"#{s.rank}")
        if s.score is not None:
            parts.append(f"{s.score:.0f}")
        return "  ·  ".join(parts)

    def _prefetch(self) -> None:
        """Decode the next shots of the grid order ahead (loupe and compare move fast)."""
        if self.session is None or self.stack.currentIndex() not in (self.PAGE_LOUPE, self.PAGE_COMPARE):
            return
        row = self.grid.currentIndex().row()
        items = []
        for r in list(range(row + 1, row + 1 + PREFETCH_AHEAD)) + list(range(row - PREFETCH_BEHIND, row)):
            s = self.shots_model.record(r)
            if s is not None and not self.previews.has(s.key):
                items.append((s.key, s.path))
        cur = self.current_shot()
        if cur is not None and not self.previews.has(cur.key):
            items.insert(0, (cur.key, cur.path))
        self.previews.prefetch(items)

    # ------------------------------------------------------------------ cache events
    def _on_thumb_ready(self, key: str) -> None:
        if self.first_thumb_at is None and self.thumbs.has(key):
            self.first_thumb_at = time.monotonic()
        self._check_missing(key, self.thumbs)

    def _on_preview_ready(self, key: str) -> None:
        self._check_missing(key, self.previews)
        page = self.stack.currentIndex()
        if page == self.PAGE_LOUPE and key == self.current_key:
            s = self.current_shot()
            if s is not None:
                self._show_in_loupe(s)
        elif page == self.PAGE_COMPARE and key in self.compare_keys:
            self._fill_compare()

    def _on_full_ready(self, key: str) -> None:
        if self.stack.currentIndex() == self.PAGE_LOUPE and key == self.current_key:
            s = self.current_shot()
            if s is not None:
                self._show_in_loupe(s)
        elif self.stack.currentIndex() == self.PAGE_COMPARE and key in self.compare_keys:
            self._fill_compare()

    def _request_full(self, key: str) -> None:
        s = self.session.shots.get(key) if self.session else None
        if s is not None:
            self.fulls.request(key, s.path)

    def _check_missing(self, key: str, cache: ImageCache) -> None:
        err = cache.error(key)
        if not err or self.session is None or "no longer on disk" not in err:
            return
        if self.session.mark_missing(key):
            self.shots_model.shots_changed([key])
            self.group_list.viewport().update()
            self._missing_new.append(key)
            QTimer.singleShot(300, self._report_missing)

    def _report_missing(self) -> None:
        if not self._missing_new:
            return
        keys, self._missing_new = self._missing_new, []
        names = ", ".join(k.rsplit("/", 1)[-1] for k in keys[:5]) + (" …" if len(keys) > 5 else "")
        self.show_message("Files no longer on disk",
                          f"{len(keys)} file(s) vanished since the folder was opened (moved, renamed or "
                          f"deleted?): {names}.\n\nTheir decisions are kept in the catalog; put the files "
                          "back and reopen the folder to see them again.")
        if self.current_key in keys:
            self._show_current()

    # ------------------------------------------------------------------ views
    def show_grid(self) -> None:
        if self.session is None:
            return
        self.stack.setCurrentIndex(self.PAGE_GRID)
        self.grid.setFocus()
        if self.current_key:
            self.select_key(self.current_key)

    def _fit_previews(self) -> None:
        """Previews are decoded at the loupe's size, so that showing one needs no scaling."""
        dpr = self.devicePixelRatioF()
        size = self.stack.size()
        box = (max(256, round(size.width() * dpr)), max(256, round(size.height() * dpr)))
        old = self.previews.box
        if old is None or abs(old[0] - box[0]) > 8 or abs(old[1] - box[1]) > 8:
            self.previews.set_box(box)

    def resizeEvent(self, event: Any) -> None:
        super().resizeEvent(event)
        if self.stack.currentIndex() == self.PAGE_LOUPE:
            QTimer.singleShot(0, self._refit_loupe)

    def _refit_loupe(self) -> None:
        old = self.previews.box
        self._fit_previews()
        if self.previews.box != old:
            self._show_current()

    def show_loupe(self) -> None:
        if self.session is None or self.current_shot() is None:
            return
        self.stack.setCurrentIndex(self.PAGE_LOUPE)
        self._fit_previews()
        self.loupe.setFocus()
        self._show_current()

    def toggle_loupe(self) -> None:
        if self.stack.currentIndex() == self.PAGE_LOUPE:
            self.show_grid()
        else:
            self.show_loupe()

    def show_compare(self, keys: list[str] | None = None) -> None:
        if self.session is None:
            return
        if keys is None:
            rows = sorted(i.row() for i in self.grid.selectionModel().selectedIndexes())
            keys = [k for k in (self.shots_model.key_at(r) for r in rows) if k][:4]
            if len(keys) < 2:
                s = self.current_shot()
                if s is None:
                    return
                g = self._group_of(s)
                others = [k for k in (g.keys if g else []) if k != s.key]
                keys = [s.key] + others[:1]
                if s.rank is not None and g is not None and g.best and g.best != s.key:
                    keys = [g.best, s.key]
        keys = keys[:4]
        if len(keys) < 2:
            self.statusBar().showMessage("Compare needs two shots: select 2-4 shots (Ctrl+click)", 5000)
            return
        self.compare_keys = keys
        self.compare.set_count(len(keys))
        self.stack.setCurrentIndex(self.PAGE_COMPARE)
        self.compare.setFocus()
        for k in keys:
            s = self.session.shots[k]
            if not self.previews.has(k):
                self.previews.request(k, s.path)
        self._fill_compare(reset=True)
        self.compare.set_active(0)

    def _fill_compare(self, reset: bool = False) -> None:
        if self.session is None:
            return
        for v, k in zip(self.compare.visible_views(), self.compare_keys):
            s = self.session.shots.get(k)
            if s is None:
                continue
            full = self.fulls.get(k)
            img = full or self.previews.get(k)
            size = (full_size_of(img) if img is not None else None) or self.session.full_size(k)
            v.caption = self._caption(s)
            v.flag = s.mark.flag
            fit, zoom = v.fit, v.zoom
            v.set_image(k, img, size, face_boxes(self.session.faces(k)), self.previews.error(k) or "",
                        keep_view=not reset, full=full is not None)
            if not reset:
                v.fit, v.zoom = fit, zoom
            v.update()

    def _on_compare_active(self, i: int) -> None:
        if 0 <= i < len(self.compare_keys):
            k = self.compare_keys[i]
            if k != self.current_key and self.shots_model.row_of(k) >= 0:
                self.current_key = k
                row = self.shots_model.row_of(k)
                self.grid.selectionModel().setCurrentIndex(self.shots_model.index(row),
                                                           QItemSelectionModel.SelectionFlag.NoUpdate)
                self._show_current()

    def toggle_faces_100(self) -> None:
        page = self.stack.currentIndex()
        if page == self.PAGE_GRID:
            self.show_loupe()
            page = self.PAGE_LOUPE
        if page == self.PAGE_LOUPE:
            if self.loupe.fit:
                self.loupe.focus_face(-1, 1.0)
            else:
                self.loupe.set_zoom(True, self.loupe.zoom, emit=False)
        elif page == self.PAGE_COMPARE:
            self.compare.toggle_faces_100()

    def _on_face_clicked(self, idx: int) -> None:
        if self.stack.currentIndex() != self.PAGE_LOUPE:
            self.show_loupe()
        self.loupe.focus_face(idx, 1.0)

    def _arrow(self, widget: QWidget, step: int) -> None:
        if widget is self.compare:
            n = len(self.compare.visible_views())
            if n:
                self.compare.set_active((self.compare.active + step) % n)
            return
        self.step(step)

    def step(self, step: int) -> bool:
        """Next/previous shot in the grid order; past the end of a scene, into the next one."""
        row = self.grid.currentIndex().row()
        n = self.shots_model.rowCount()
        nxt = row + step
        if 0 <= nxt < n:
            self.select_row(nxt)
            return True
        if self.shots_model.scope is not None:
            return self.move_group(1 if step > 0 else -1, at_end=step < 0)
        return False

    def move_group(self, step: int, at_end: bool = False) -> bool:
        row = self.group_list.currentIndex().row()
        target = row + step
        while 1 <= target < self.groups_model.rowCount():
            ids = self.groups_model.group_ids(target)
            self._select_group_row(target)
            if self.shots_model.rowCount():
                if at_end:
                    self.select_row(self.shots_model.rowCount() - 1)
                if ids is not None:
                    return True
            target += step
        return False

    def _on_filters_changed(self, *_a: Any) -> None:
        flags = ("all", "picks", "rejects", "unflagged")[self.flag_filter.currentIndex()]
        stars = self.star_filter.currentIndex()
        label = None if self.label_filter.currentIndex() == 0 else self.label_filter.currentText()
        key = self.current_key
        self.shots_model.filter = ShotFilter(flags, stars, label)
        self.shots_model.sort_mode = ("rank", "time", "name")[self.sort_combo.currentIndex()]
        self.shots_model.rebuild()
        if key and self.select_key(key):
            pass
        elif self.shots_model.rowCount():
            self.select_row(0)
        else:
            self.current_key = None
            self._show_current()
        self.grid.setFocus()

    def _on_problem_filter(self, on: bool) -> None:
        self.groups_model.set_only_problems(on)
        self._select_group_row(1 if on and self.groups_model.rowCount() > 1 else 0)
        self.grid.setFocus()

    def _on_thumb_size(self, v: int) -> None:
        self.grid.set_thumb_size(v)

    def _on_auto_advance(self) -> None:
        self.settings.set("auto_advance", self.act_auto.isChecked())

    # ------------------------------------------------------------------ decisions
    def target_keys(self) -> list[str]:
        """Shots a decision applies to: the grid's selection, else the current shot."""
        page = self.stack.currentIndex()
        if page == self.PAGE_COMPARE:
            i = self.compare.active
            return [self.compare_keys[i]] if 0 <= i < len(self.compare_keys) else []
        if page == self.PAGE_GRID:
            rows = sorted(i.row() for i in self.grid.selectionModel().selectedIndexes())
            keys = [k for k in (self.shots_model.key_at(r) for r in rows) if k]
            if len(keys) > 1:
                return keys
        return [self.current_key] if self.current_key else []

    def _decide(self, text: str, change: Callable[[Mark], Mark], advance: bool = True) -> None:
        if self.session is None:
            return
        keys = self.target_keys()
        before = {k: self.session.shots[k].mark for k in keys if k in self.session.shots}
        after = {k: change(m) for k, m in before.items()}
        before = {k: m for k, m in before.items() if after[k] != m}
        after = {k: after[k] for k in before}
        if after:
            self.undo_stack.push(DecisionCommand(text, before, after, self.apply_marks))
        if advance and self.act_auto.isChecked() and len(keys) == 1:
            if self.stack.currentIndex() == self.PAGE_COMPARE:
                self._arrow(self.compare, 1)
            else:
                self.step(1)

    def set_flag(self, flag: str | None) -> None:
        name = {"pick": "Pick", "reject": "Reject", None: "Unflag"}[flag]
        self._decide(name, lambda m: m._replace(flag=flag))

    def set_stars(self, n: int) -> None:
        self._decide(f"{n} star(s)", lambda m: m._replace(stars=n))

    def toggle_label(self, label: str) -> None:
        keys = self.target_keys()
        if self.session is None or not keys:
            return
        first = self.session.shots[keys[0]].mark.label
        new = None if first == label else label
        self._decide(f"Label {label}" if new else "Remove label", lambda m: m._replace(label=new))

    def _on_inspector_decide(self, what: str) -> None:
        self.set_flag(None if what == "unflag" else what)

    def _suggested(self, s: ShotRecord) -> str | None:
        if s.suggested in ("pick", "reject"):
            return s.suggested
        if s.rank is None:
            return None
        return "pick" if s.rank == 1 else "reject"

    def accept_group(self) -> None:
        s = self.current_shot()
        if s is None or self.session is None:
            return
        g = self._group_of(s)
        if g is None or g.id < 0:
            self.statusBar().showMessage("This shot has no scene yet (analysis pending)", 5000)
            return
        self._accept([self.session.shots[k] for k in g.keys], f"Accept suggestion for {g.title}", False)

    def accept_all(self) -> None:
        if self.session is None:
            return
        shots = [self.session.shots[k] for g in self.session.groups if g.id >= 0 for k in g.keys]
        self._accept(shots, "Accept suggestions for all scenes", True)

    def _accept(self, shots: list[ShotRecord], text: str, only_undecided: bool) -> None:
        before, after = {}, {}
        for s in shots:
            sug = self._suggested(s)
            if sug is None or (only_undecided and s.mark.flag is not None):
                continue
            if s.mark.flag != sug:
                before[s.key] = s.mark
                after[s.key] = s.mark._replace(flag=sug)
        if after:
            self.undo_stack.push(DecisionCommand(text, before, after, self.apply_marks))
        self.statusBar().showMessage(f"{text}: {len(after)} shot(s) changed", 5000)

    def apply_marks(self, changes: dict[str, Mark]) -> None:
        """Write decisions (memory and catalog at once) and refresh what shows them."""
        if self.session is None:
            return
        try:
            self.session.set_marks(changes)
        except DecisionWriteError as exc:
            self._retry_timer.start()
            if not self._write_error_shown:
                self._write_error_shown = True
                self.show_message("Decisions not saved yet", str(exc), QMessageBox.Icon.Critical)
        else:
            if self._write_error_shown and not self.session.pending_writes:
                self._write_error_shown = False
                self._retry_timer.stop()
                self.statusBar().showMessage("All decisions saved to the catalog again", 8000)
        self.shots_model.shots_changed(changes)
        self.group_list.viewport().update()
        self._update_counts()
        s = self.current_shot()
        if s is not None and s.key in changes:
            self.inspector.set_mark(s.mark.flag, s.mark.stars, s.mark.label)
            if self.stack.currentIndex() == self.PAGE_LOUPE:
                self.loupe.flag = s.mark.flag
                self.loupe.update()
        if self.stack.currentIndex() == self.PAGE_COMPARE:
            for v, k in zip(self.compare.visible_views(), self.compare_keys):
                if k in changes:
                    v.flag = self.session.shots[k].mark.flag
                    v.update()

    def _retry_writes(self) -> None:
        if self.session is None or not self.session.pending_writes:
            self._retry_timer.stop()
            return
        try:
            self.session.flush_pending()
        except DecisionWriteError:
            return
        self._retry_timer.stop()
        self._write_error_shown = False
        self._update_counts()
        self.statusBar().showMessage("All decisions saved to the catalog again", 8000)

    def _update_counts(self) -> None:
        if self.session is None:
            self.counts_label.setText("")
            return
        c = self.session.counts()
        pending = len(self.session.pending_writes)
        text = f"{c['total']} shots · {c['pick']} picks · {c['reject']} rejects · {c['unflagged']} to decide"
        if pending:
            text += f" · {pending} NOT SAVED"
        self.counts_label.setText(text)

    # ------------------------------------------------------------------ dialogs
    def export_dialog(self) -> None:
        if self.session is None:
            self.show_message("Nothing to export", "Open a folder first.")
            return
        from app.export_dialog import ExportDialog

        try:
            self.session.flush_pending()
        except DecisionWriteError as exc:
            self.show_message("Cannot export yet", str(exc))
            return
        dlg = ExportDialog(self.session.root, self.session.catalog_path, self.settings, self)
        dlg.exec()

    def regroup(self) -> None:
        """Group and rank again with the current sensitivity and members (no decoding)."""
        if self.session is None or self.busy():
            return
        from app.analysis import RegroupThread

        th = _owned(RegroupThread(self.session.catalog_path, self.settings.get("members") or None,
                                  float(self.settings.get("sensitivity")), self))
        self.regrouping = th
        self.statusBar().showMessage("Grouping scenes again…")
        th.done.connect(self._on_regrouped)
        th.failed.connect(self._on_regroup_failed)
        th.start()

    def _on_regroup_failed(self, msg: str) -> None:
        self._end_regroup()
        self.show_message("Cannot group again", msg)

    def _end_regroup(self) -> None:
        if self.regrouping is not None:
            self.regrouping.wait(10000)
        self.regrouping = None

    def _on_regrouped(self) -> None:
        if self.session is None:
            self._end_regroup()
            return
        self._load_async(self._after_regroup)
        self._end_regroup()

    def _after_regroup(self, snap: Snapshot) -> None:
        self._reload_keep_selection(snap)
        n = sum(1 for g in self.session.groups if g.id >= 0) if self.session else 0
        self.statusBar().showMessage(f"Grouped again: {n} scenes", 8000)

    def show_shortcuts(self) -> None:
        rows = [
            ("P / X / U", "pick / reject / unflag"),
            ("0 – 5", "stars"),
            ("6 / 7 / 8 / 9", "label Red / Yellow / Green / Blue (again: remove)"),
            ("A", "accept the suggestion for this scene (best picked, rest rejected)"),
            ("Shift+A", "accept the suggestions for every undecided shot"),
            ("Ctrl+Z / Ctrl+Shift+Z", "undo / redo"),
            ("Ctrl+Shift+A", "auto-advance after a decision on/off"),
            ("Arrows", "move; past the end of a scene into the next"),
            ("[ / ]", "previous / next scene"),
            ("E, Enter, Space", "loupe on/off"),
            ("G, Esc", "grid"),
            ("C", "compare the selection (2-4) or this shot with the scene's best"),
            ("Z", "100% on the faces / fit"),
            ("Ctrl+O / Ctrl+E", "open a folder / export"),
        ]
        html = "<table cellpadding='3'>" + "".join(
            f"<tr><td><b>{k}</b></td><td>{v}</td></tr>" for k, v in rows) + "</table>"
        self.show_message("Keyboard shortcuts", html, QMessageBox.Icon.Information)

    def settings_dialog(self) -> None:
        dlg = SettingsDialog(self.settings, self)
        before = (self.settings.get("sensitivity"), self.settings.get("members"))
        if dlg.exec() == SettingsDialog.DialogCode.Accepted:
            dlg.save()
            if (self.settings.get("sensitivity"), self.settings.get("members")) != before:
                self.regroup()
            app = QApplication.instance()
            if isinstance(app, QApplication):
                theme.apply(app, str(self.settings.get("theme")))
            self.act_auto.setChecked(bool(self.settings.get("auto_advance")))

    # ------------------------------------------------------------------ drag and drop
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

    # ------------------------------------------------------------------ closing
    def closeEvent(self, event: QCloseEvent) -> None:
        if self.session is not None and self.session.pending_writes:
            try:
                self.session.flush_pending()
            except DecisionWriteError as exc:
                if not os.environ.get("CULLER_GUI_NO_DIALOGS"):
                    ans = QMessageBox.warning(
                        self, "Decisions not saved", f"{exc}\n\nQuit anyway and lose them?",
                        QMessageBox.StandardButton.Cancel | QMessageBox.StandardButton.Discard,
                        QMessageBox.StandardButton.Cancel)
                    if ans != QMessageBox.StandardButton.Discard:
                        event.ignore()
                        return
        self.save_settings()
        self.close_session()
        for c in (self.thumbs, self.previews, self.fulls):
            c.shutdown()
        super().closeEvent(event)
