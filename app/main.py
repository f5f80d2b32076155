"""Entry point of the desktop app (``culler gui``)."""

from __future__ import annotations

import contextlib
import sys
import time
from pathlib import Path


def _wait(app: object, cond: object, timeout_s: float) -> bool:
    from PySide6.QtCore import QEventLoop
    from PySide6.QtWidgets import QApplication

    assert isinstance(app, QApplication)
    t0 = time.monotonic()
    while not cond():  # type: ignore[operator]
        if time.monotonic() - t0 > timeout_s:
            return False
        app.processEvents(QEventLoop.ProcessEventsFlag.AllEvents, 50)
        time.sleep(0.01)
    return True


def visible_thumbnails_loaded(window: object) -> bool:
    """True when every tile in the grid's viewport has its thumbnail (or its error)."""
    from PySide6.QtCore import QPoint

    from app.window import MainWindow

    assert isinstance(window, MainWindow)
    grid, model = window.grid, window.shots_model
    vp = grid.viewport().rect()
    n = model.rowCount()
    if n == 0:
        return True
    first = grid.indexAt(vp.topLeft() + QPoint(4, 4)).row()
    first = max(0, first)
    # rows are laid out in reading order: scan from the first visible one until a tile is below
    for row in range(first, n):
        rect = grid.visualRect(model.index(row))
        if rect.top() > vp.bottom():
            break
        if not rect.intersects(vp):
            continue
        key = model.key_at(row)
        if key and not (window.thumbs.has(key) or window.thumbs.error(key)):
            return False
    return True


def run_gui(folder: Path | None = None, catalog: Path | None = None, recursive: bool = False,
            screenshot: Path | None = None, size: tuple[int, int] = (1440, 900)) -> int:
    from PySide6.QtCore import QCoreApplication, QTimer
    from PySide6.QtGui import QGuiApplication
    from PySide6.QtWidgets import QApplication

    from app import theme
    from app.settings import APP, ORG, AppSettings
    from app.window import MainWindow

    QCoreApplication.setOrganizationName(ORG)
    QCoreApplication.setApplicationName(APP)
    app = QApplication.instance() or QApplication([sys.argv[0]])
    assert isinstance(app, QApplication)
    settings = AppSettings()
    theme.apply(app, str(settings.get("theme")))
    with contextlib.suppress(AttributeError):  # Qt < 6.5 has no colorSchemeChanged
        # follow the system when it switches between light and dark
        QGuiApplication.styleHints().colorSchemeChanged.connect(
            lambda _s: theme.apply(app, str(settings.get("theme"))))
    icon = Path(__file__).resolve().parent.parent / "resources" / "icons" / "portrait-culler.svg"
    if icon.exists():
        from PySide6.QtGui import QIcon

        app.setWindowIcon(QIcon(str(icon)))

    win = MainWindow(settings)
    if screenshot is not None:
        win.resize(*size)
    win.show()

    if screenshot is None:
        if folder is not None:
            QTimer.singleShot(0, lambda: win.open_folder(folder, catalog, recursive))
        return int(app.exec())

    # --screenshot: open, wait for the analysis, save the window, exit
    if folder is None:
        print("culler gui: --screenshot needs a FOLDER", file=sys.stderr)
        return 2
    _wait(app, lambda: win.isVisible(), 5)
    if not win.open_folder(folder, catalog, recursive):
        for title, text in win.messages:
            print(f"culler gui: {title}: {text}", file=sys.stderr)
        win.close()
        return 1
    _wait(app, lambda: not win.busy(), 24 * 3600)
    if win.groups_model.rowCount() > 1:
        win.select_group_row(1)
    _wait(app, lambda: visible_thumbnails_loaded(win), 60)
    win.grid.delegate.budget.budget_s = win.group_delegate.budget.budget_s = None  # every tile in the grab
    _wait(app, lambda: False, 0.3)  # let the last repaints land
    screenshot.parent.mkdir(parents=True, exist_ok=True)
    ok = win.grab().save(str(screenshot))
    for title, text in win.messages:
        print(f"culler gui: {title}: {text}", file=sys.stderr)
    win.close()
    if not ok:
        print(f"culler gui: cannot write {screenshot}", file=sys.stderr)
        return 1
    print(f"screenshot written to {screenshot}")
    return 0
