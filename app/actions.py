"""The window's menus, keyboard shortcuts and toolbar (one table of what each key does)."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import Qt
from PySide6.QtGui import QAction, QActionGroup, QKeySequence, QShortcut
from PySide6.QtWidgets import QSizePolicy, QToolButton, QWidget

if TYPE_CHECKING:
    from app.window import MainWindow

# Cull › Suggest keeping: the strictness presets (engine.quality.suggest; culler rank --keep)
KEEP_PRESETS = [
    ("moments", "Distinct good moments"),
    ("best:1", "The best shot of each scene"),
    ("best:2", "The best 2 of each scene"),
    ("best:3", "The best 3 of each scene"),
    ("margin:5", "Every shot within 5 points of the best"),
    ("margin:10", "Every shot within 10 points of the best"),
]

LABEL_KEYS = {"6": "Red", "7": "Yellow", "8": "Green", "9": "Blue", "V": "Purple"}

SHORTCUTS = [
    ("P / X / U", "pick / reject / unflag"),
    ("0 – 5", "stars"),
    ("6 / 7 / 8 / 9 / V", "label Red / Yellow / Green / Blue / Purple (again: remove)"),
    ("A", "accept the suggestion for this scene (best picked, rest rejected; "
          "shots with stars or a label are never rejected)"),
    ("Shift+A", "accept the suggestions for every undecided shot (asks first)"),
    ("Ctrl+Z / Ctrl+Shift+Z", "undo / redo"),
    ("Ctrl+Shift+A", "auto-advance after a decision on/off"),
    ("Arrows", "move; past the end of a scene into the next"),
    ("Home / End", "first / last shot"),
    ("N / Shift+N", "next undecided shot / next scene with undecided shots"),
    ("[ / ]", "previous / next scene"),
    ("E, Enter, Space", "loupe on/off"),
    ("G, Esc", "grid"),
    ("C", "compare the selection (2-4) or this shot with the scene's best"),
    ("Shift+C", "compare four frames (2×2)"),
    ("Z, click", "100% on the faces (or where clicked) / fit; the zoom carries over to the next frame"),
    ("F11 / Tab / F", "full screen / hide the panels / the loupe alone"),
    ("R", "faces across the burst: each face in every frame, eyes open and eye sharpness"),
    ("M / K", "focus map (where the frame is sharp) / focus peaking, in the loupe"),
    ("Ctrl+O / Ctrl+E", "open a folder / export"),
]


def act(win: MainWindow, text: str, keys: list[str] | str | None, slot: Callable[[], Any],
        tip: str = "", checkable: bool = False) -> QAction:
    a = QAction(text, win)
    if keys:
        a.setShortcuts([QKeySequence(k) for k in ([keys] if isinstance(keys, str) else keys)])
        a.setShortcutContext(Qt.ShortcutContext.WindowShortcut)
    if tip:
        a.setToolTip(tip)
    a.setCheckable(checkable)
    if checkable:
        a.toggled.connect(lambda _on: slot())
    else:
        a.triggered.connect(lambda _c=False: slot())
    win.addAction(a)
    return a


def build(win: MainWindow) -> None:
    """Create ``win.act_*`` and the menus, the loupe/compare arrows and the toolbar."""
    mb = win.menuBar()
    m_file = mb.addMenu("&File")
    win.act_open = act(win, "&Open folder…", "Ctrl+O", win.open_folder_dialog)
    win.act_reanalyse = act(win, "&Re-analyse", "Ctrl+R", win.start_analysis)
    win.act_export = act(win, "&Export…", "Ctrl+E", win.export_dialog)
    win.act_settings = act(win, "&Settings…", "Ctrl+,", win.settings_dialog)
    win.act_quit = act(win, "&Quit", "Ctrl+Q", win.close)
    for a in (win.act_open, win.act_reanalyse, win.act_export, win.act_settings, win.act_quit):
        m_file.addAction(a)

    m_edit = mb.addMenu("&Edit")
    stack = win.decisions.undo_stack
    win.act_undo = stack.createUndoAction(win, "&Undo")
    win.act_undo.setShortcut(QKeySequence("Ctrl+Z"))
    win.act_redo = stack.createRedoAction(win, "&Redo")
    win.act_redo.setShortcuts([QKeySequence("Ctrl+Shift+Z"), QKeySequence("Ctrl+Y")])
    for a in (win.act_undo, win.act_redo):
        a.setShortcutContext(Qt.ShortcutContext.WindowShortcut)
        win.addAction(a)
        m_edit.addAction(a)

    m_cull = mb.addMenu("&Cull")
    for text, key, flag in (("Pick", "P", "pick"), ("Reject", "X", "reject"), ("Unflag", "U", None)):
        m_cull.addAction(act(win, text, key, functools.partial(win.set_flag, flag)))
    m_cull.addSeparator()
    m_stars = m_cull.addMenu("Stars")
    for n in range(6):
        m_stars.addAction(act(win, f"{n} star{'' if n == 1 else 's'}" if n else "No stars", str(n),
                              functools.partial(win.set_stars, n)))
    m_label = m_cull.addMenu("Colour label")
    for k, lab in LABEL_KEYS.items():
        m_label.addAction(act(win, lab, k, functools.partial(win.toggle_label, lab)))
    m_cull.addSeparator()
    win.act_accept_group = act(win, "Accept suggestion for this scene", "A", win.accept_group,
                               "Pick the best shot of the scene and reject the rest")
    win.act_accept_all = act(win, "Accept suggestions for all undecided shots…", "Shift+A", win.accept_all)
    m_cull.addAction(win.act_accept_group)
    m_cull.addAction(win.act_accept_all)
    m_keep = m_cull.addMenu("Suggest keeping")  # the folder's strictness, kept in its catalog
    win.keep_actions = {}
    group = QActionGroup(win)
    for value, text in KEEP_PRESETS:
        a = QAction(text, win)
        a.setCheckable(True)
        a.setData(value)
        a.triggered.connect(lambda _c=False, v=value: win.set_strictness(v))
        group.addAction(a)
        m_keep.addAction(a)
        win.keep_actions[value] = a
    m_keep.addSeparator()
    m_keep.addAction(act(win, "Other… (Settings)", None, win.settings_dialog))
    m_keep.aboutToShow.connect(win.show_strictness)
    m_cull.addSeparator()
    win.act_auto = act(win, "Auto-advance", "Ctrl+Shift+A", win.on_auto_advance, checkable=True)
    m_cull.addAction(win.act_auto)
    m_cull.addSeparator()
    win.act_taste = act(win, "Rank by my taste", None, lambda: win.set_taste_enabled(win.act_taste.isChecked()),
                        "Rank with the taste learned from your decisions (off: the default ensemble)",
                        checkable=True)
    win.act_taste.blockSignals(True)
    win.act_taste.setChecked(win.taste.enabled())
    win.act_taste.blockSignals(False)
    win.act_learn_taste = act(win, "Learn my taste from this session", None, win.taste.learn_now,
                              "Learn how you choose within a burst from this session's decisions")
    m_cull.addAction(win.act_taste)
    m_cull.addAction(win.act_learn_taste)

    m_view = mb.addMenu("&View")
    win.act_grid = act(win, "Grid", ["G", "Esc"], win.show_grid)
    win.act_loupe = act(win, "Loupe", ["E", "Return", "Enter", "Space"], win.toggle_loupe)
    win.act_compare = act(win, "Compare", "C", win.show_compare,
                          "Compare the selected shots (2-4), or this shot with the scene's best")
    win.act_faces = act(win, "100% on faces", "Z", win.toggle_faces_100)
    win.act_next_group = act(win, "Next scene", ["Ctrl+Down", "]"], lambda: win.nav.move_group(1))
    win.act_prev_group = act(win, "Previous scene", ["Ctrl+Up", "["], lambda: win.nav.move_group(-1))
    win.act_first = act(win, "First shot", "Home", lambda: win.nav.first_or_last(False))
    win.act_last = act(win, "Last shot", "End", lambda: win.nav.first_or_last(True))
    win.act_next_undecided = act(win, "Next undecided shot", "N", win.nav.next_undecided)
    win.act_next_undecided_scene = act(win, "Next scene to decide", "Shift+N", win.nav.next_undecided_scene)
    win.act_focus_map = act(win, "Focus map", "M", lambda: win.viewer.toggle_overlay("focus"),
                            "A heat map of local sharpness over the loupe: is focus on the eyes?")
    win.act_peaking = act(win, "Focus peaking", "K", lambda: win.viewer.toggle_overlay("peaking"),
                          "Mark the in-focus edges in the loupe")
    win.act_faces_review = act(win, "Faces across the burst", "R", win.show_faces,
                               "Each face of the scene in every frame, with eyes open and eye sharpness")
    win.act_compare4 = act(win, "Compare four (2×2)", "Shift+C", win.compare_four)
    win.act_full = act(win, "Full screen", "F11", win.toggle_full_screen)
    win.act_panels = act(win, "Hide panels", "Tab", win.toggle_panels)
    win.act_loupe_only = act(win, "Loupe only", "F", win.loupe_only)
    for a in (win.act_faces_review, win.act_focus_map, win.act_peaking, win.act_compare4, win.act_full, win.act_panels,
              win.act_loupe_only):
        m_view.addAction(a)
    m_view.addSeparator()
    for a in (win.act_grid, win.act_loupe, win.act_compare, win.act_faces, win.act_next_group,
              win.act_prev_group, win.act_first, win.act_last, win.act_next_undecided,
              win.act_next_undecided_scene):
        m_view.addAction(a)

    m_help = mb.addMenu("&Help")
    win.act_keys = act(win, "Keyboard shortcuts", ["F1", "?"], win.show_shortcuts)
    m_help.addAction(win.act_keys)

    # arrows in loupe / compare (the grid handles its own)
    for w in (win.loupe, win.compare, win.faces_view):
        for key, step in (("Right", 1), ("Left", -1), ("Down", 1), ("Up", -1)):
            sc = QShortcut(QKeySequence(key), w)
            sc.setContext(Qt.ShortcutContext.WidgetWithChildrenShortcut)
            sc.activated.connect(lambda step=step, w=w: win.arrow(w, step))

    tb = win.toolbar
    tb.addAction(win.act_open)
    tb.addAction(win.act_export)
    tb.addSeparator()
    for a in (win.act_grid, win.act_loupe, win.act_compare):
        tb.addWidget(_button(a))
    tb.addSeparator()
    for tool in (win.flag_filter, win.star_filter, win.label_filter, win.problem_filter, win.sort_combo):
        tb.addWidget(tool)
    tb.addSeparator()
    win.auto_btn = _button(win.act_auto)
    tb.addWidget(win.auto_btn)
    spacer = QWidget()
    spacer.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Preferred)
    tb.addWidget(spacer)
    tb.addWidget(win.size_slider)


def _button(a: QAction) -> QToolButton:
    b = QToolButton()
    b.setDefaultAction(a)
    b.setFocusPolicy(Qt.FocusPolicy.NoFocus)
    return b
