"""Light and dark palettes that follow the system colour scheme (Qt >= 6.5)."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtGui import QColor, QGuiApplication, QPalette
from PySide6.QtWidgets import QApplication

ACCENT = QColor(64, 156, 255)
PICK = QColor(46, 184, 92)
REJECT = QColor(229, 72, 77)
GOLD = QColor(244, 182, 38)
WARN = QColor(245, 130, 32)
LABEL_COLORS = {
    "Red": QColor(229, 72, 77),
    "Yellow": QColor(240, 200, 40),
    "Green": QColor(46, 184, 92),
    "Blue": QColor(64, 120, 240),
    "Purple": QColor(150, 90, 210),
}


def system_prefers_dark() -> bool | None:
    """True/False when the platform tells, None when it does not."""
    try:
        scheme = QGuiApplication.styleHints().colorScheme()
    except AttributeError:  # Qt < 6.5
        return None
    if scheme == Qt.ColorScheme.Dark:
        return True
    if scheme == Qt.ColorScheme.Light:
        return False
    return None


def resolve(mode: str) -> str:
    """'system' / 'light' / 'dark' -> 'light' or 'dark' (dark when the system does not say:
    photo viewers are easier on the eye in a neutral dark surround)."""
    if mode in ("light", "dark"):
        return mode
    pref = system_prefers_dark()
    return "light" if pref is False else "dark"


def _dark() -> QPalette:
    p = QPalette()
    c = QColor
    roles = QPalette.ColorRole
    p.setColor(roles.Window, c(38, 39, 42))
    p.setColor(roles.WindowText, c(222, 224, 228))
    p.setColor(roles.Base, c(28, 29, 31))
    p.setColor(roles.AlternateBase, c(44, 45, 49))
    p.setColor(roles.ToolTipBase, c(50, 52, 56))
    p.setColor(roles.ToolTipText, c(230, 230, 230))
    p.setColor(roles.Text, c(222, 224, 228))
    p.setColor(roles.Button, c(50, 52, 56))
    p.setColor(roles.ButtonText, c(222, 224, 228))
    p.setColor(roles.BrightText, c(255, 90, 90))
    p.setColor(roles.Highlight, ACCENT)
    p.setColor(roles.HighlightedText, c(255, 255, 255))
    p.setColor(roles.Link, ACCENT.lighter(120))
    p.setColor(roles.PlaceholderText, c(130, 132, 138))
    p.setColor(roles.Mid, c(60, 62, 66))
    p.setColor(roles.Dark, c(20, 20, 22))
    p.setColor(roles.Light, c(70, 72, 78))
    for role in (roles.Text, roles.WindowText, roles.ButtonText):
        p.setColor(QPalette.ColorGroup.Disabled, role, c(110, 112, 118))
    return p


def _light() -> QPalette:
    p = QPalette()
    c = QColor
    roles = QPalette.ColorRole
    p.setColor(roles.Window, c(240, 241, 243))
    p.setColor(roles.WindowText, c(30, 31, 34))
    p.setColor(roles.Base, c(252, 252, 253))
    p.setColor(roles.AlternateBase, c(233, 235, 238))
    p.setColor(roles.ToolTipBase, c(255, 255, 240))
    p.setColor(roles.ToolTipText, c(20, 20, 20))
    p.setColor(roles.Text, c(30, 31, 34))
    p.setColor(roles.Button, c(232, 233, 236))
    p.setColor(roles.ButtonText, c(30, 31, 34))
    p.setColor(roles.Highlight, ACCENT.darker(110))
    p.setColor(roles.HighlightedText, c(255, 255, 255))
    p.setColor(roles.PlaceholderText, c(130, 132, 138))
    p.setColor(roles.Mid, c(200, 202, 206))
    p.setColor(roles.Dark, c(160, 162, 166))
    p.setColor(roles.Light, c(255, 255, 255))
    return p


# bumped by every apply(): views that cache rendered tiles key them on it
GENERATION = 0


def apply(app: QApplication, mode: str = "system") -> str:
    """Apply the Fusion style with the palette for ``mode``; returns 'light' or 'dark'."""
    global GENERATION
    GENERATION += 1
    app.setStyle("Fusion")
    which = resolve(mode)
    app.setPalette(_dark() if which == "dark" else _light())
    app.setProperty("culler_theme", which)
    return which


def is_dark(app: QApplication | None = None) -> bool:
    app = app or QApplication.instance()  # type: ignore[assignment]
    return bool(app and app.property("culler_theme") == "dark")
