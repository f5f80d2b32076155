"""Painting helpers shared by the grid, the scenes list and the loupe: rendered-tile caches with a
per-paint render budget, and the small marks (pills, flags, stars, face icon)."""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QPointF, QRect, QRectF, Qt
from PySide6.QtGui import (
    QColor,
    QFont,
    QFontMetrics,
    QPainter,
    QPainterPath,
    QPalette,
    QPen,
    QPixmap,
)

from app import theme


def _pill(p: QPainter, x: float, y: float, text: str, bg: QColor, fg: QColor, font: QFont,
          right_align: bool = False, fm: QFontMetrics | None = None) -> float:
    """Draw a rounded label at (x, y) (top-left, or top-right when right_align); returns its width."""
    fm = fm or QFontMetrics(font)
    w = fm.horizontalAdvance(text) + 10
    h = fm.height() + 2
    r = QRectF(x - w if right_align else x, y, w, h)
    p.setPen(Qt.PenStyle.NoPen)
    p.setBrush(bg)
    p.drawRoundedRect(r, h / 2, h / 2)
    p.setPen(fg)
    p.setFont(font)
    p.drawText(r, Qt.AlignmentFlag.AlignCenter, text)
    return w


def draw_face_icon(p: QPainter, x: float, y: float, size: float, color: QColor) -> None:
    p.save()
    p.setPen(Qt.PenStyle.NoPen)
    p.setBrush(color)
    p.drawEllipse(QRectF(x + size * 0.3, y, size * 0.4, size * 0.4))
    path = QPainterPath()
    path.moveTo(x + size * 0.08, y + size)
    path.cubicTo(x + size * 0.1, y + size * 0.45, x + size * 0.9, y + size * 0.45, x + size * 0.92, y + size)
    path.closeSubpath()
    p.drawPath(path)
    p.restore()


def draw_flag(p: QPainter, center: QPointF, r: float, flag: str | None) -> None:
    if flag not in ("pick", "reject"):
        return
    p.save()
    p.setRenderHint(QPainter.RenderHint.Antialiasing)
    p.setPen(Qt.PenStyle.NoPen)
    p.setBrush(theme.PICK if flag == "pick" else theme.REJECT)
    p.drawEllipse(center, r, r)
    pen = QPen(QColor(255, 255, 255), max(1.5, r * 0.28))
    pen.setCapStyle(Qt.PenCapStyle.RoundCap)
    p.setPen(pen)
    if flag == "pick":
        p.drawPolyline([QPointF(center.x() - r * 0.45, center.y() + r * 0.02),
                        QPointF(center.x() - r * 0.1, center.y() + r * 0.38),
                        QPointF(center.x() + r * 0.48, center.y() - r * 0.35)])
    else:
        d = r * 0.38
        p.drawLine(QPointF(center.x() - d, center.y() - d), QPointF(center.x() + d, center.y() + d))
        p.drawLine(QPointF(center.x() - d, center.y() + d), QPointF(center.x() + d, center.y() - d))
    p.restore()


def draw_stars(p: QPainter, x: float, y: float, stars: int, font: QFont, color: QColor,
               dim: QColor, fm: QFontMetrics | None = None) -> float:
    """Five star places: the given stars in ``color``, the rest as dim dots (two text runs)."""
    p.setFont(font)
    fm = fm or QFontMetrics(font)
    base = y + fm.ascent()
    on = "★" * stars
    w = fm.horizontalAdvance(on) if on else 0.0
    if on:
        p.setPen(color)
        p.drawText(QPointF(x, base), on)
    if stars < 5:
        p.setPen(dim)
        p.drawText(QPointF(x + w, base), " ·" * (5 - stars))
    return w


def fit_rect(img_w: int, img_h: int, box: QRectF) -> QRectF:
    if img_w <= 0 or img_h <= 0:
        return box
    s = min(box.width() / img_w, box.height() / img_h)
    w, h = img_w * s, img_h * s
    return QRectF(box.x() + (box.width() - w) / 2, box.y() + (box.height() - h) / 2, w, h)


class TileCache:
    """Rendered tiles (``QPixmap``) keyed by item, valid while their signature holds: a
    repaint blits one pixmap instead of replaying ~50 painter calls.  That matters beyond
    the CPU time: every PySide call from a delegate gives up and takes back the GIL, and
    while worker threads run Python (listing a folder, reading the catalog, decoding)
    each take-back waits, so a replayed tile costs far more than its drawing."""

    def __init__(self, budget_bytes: int = 64 << 20):
        self.budget = budget_bytes
        self._d: OrderedDict[Any, tuple[tuple[Any, ...], object, QPixmap, int]] = OrderedDict()
        self._bytes = 0
        self.renders = 0

    def get(self, key: Any, sig: tuple[Any, ...], src: object) -> QPixmap | None:
        hit = self._d.get(key)
        if hit is None or hit[0] != sig or hit[1] is not src:
            return None
        self._d.move_to_end(key)
        return hit[2]

    def put(self, key: Any, sig: tuple[Any, ...], src: object, pm: QPixmap) -> None:
        old = self._d.pop(key, None)
        if old is not None:
            self._bytes -= old[3]
        size = pm.width() * pm.height() * 4
        self._d[key] = (sig, src, pm, size)
        self._bytes += size
        self.renders += 1
        while self._bytes > self.budget and len(self._d) > 1:
            _, dropped = self._d.popitem(last=False)
            self._bytes -= dropped[3]

    def stale(self, key: Any, w: int, h: int) -> QPixmap | None:
        """The last tile rendered for ``key`` whatever changed since, if it has this size."""
        hit = self._d.get(key)
        if hit is None or hit[0][0] != w or hit[0][1] != h:
            return None
        return hit[2]

    def clear(self) -> None:
        self._d.clear()
        self._bytes = 0

    def __len__(self) -> int:
        return len(self._d)


class RenderBudget:
    """At most ``budget_s`` of new tiles per paint of a view (and at least one): the rest show
    their previous rendering (or a plain placeholder) and the view paints again on the next
    turn of the event loop.  Opening a catalog then fills the window over two or three frames
    instead of blocking it for one long one.  ``budget_s=None`` renders everything at once
    (screenshots)."""

    def __init__(self, budget_s: float | None = 0.005):
        self.budget_s = budget_s
        self.deadline = float("inf")
        self.deferred: list[QRect] = []  # tiles left for the next paint
        self.rendered = 0

    def begin(self) -> None:
        self.deferred = []
        self.rendered = 0
        self.deadline = (time.perf_counter() + self.budget_s) if self.budget_s is not None else float("inf")

    def end(self) -> list[QRect]:
        """Ends a paint; returns the rectangles of the tiles that wait for the next one."""
        self.deadline = float("inf")
        return self.deferred

    def allows(self, rect: QRect) -> bool:
        """May the tile at ``rect`` be rendered in this paint?  (Counts it when yes.)"""
        if self.rendered == 0 or time.perf_counter() <= self.deadline:
            self.rendered += 1
            return True
        self.deferred.append(QRect(rect))
        return False


def paint_tile(p: QPainter, r: QRect, dpr: float, tiles: TileCache, budget: RenderBudget, key: Any,
               sig: tuple[Any, ...], src: object, placeholder: QPalette.ColorRole, inset: int, pal: QPalette,
               draw: Callable[[QPainter, QRectF], None]) -> None:
    """Blit the cached tile for ``key`` at ``r``; render it with ``draw`` first when its
    signature changed and the paint's budget allows, else show its previous rendering (or a
    plain placeholder) until the next paint."""
    w, h = r.width(), r.height()
    pm = tiles.get(key, sig, src)
    if pm is None and not budget.allows(r):
        pm = tiles.stale(key, w, h)
        if pm is None:
            p.fillRect(r.adjusted(inset, inset, -inset, -inset), pal.color(placeholder))
            return
    elif pm is None:
        pm = _blank_tile(w, h, dpr)
        tp = QPainter(pm)
        try:
            draw(tp, QRectF(0, 0, w, h))
        finally:
            tp.end()
        tiles.put(key, sig, src, pm)
    p.drawPixmap(r.x(), r.y(), pm)


def _blank_tile(w: int, h: int, dpr: float) -> QPixmap:
    pm = QPixmap(max(1, round(w * dpr)), max(1, round(h * dpr)))
    pm.setDevicePixelRatio(dpr)
    pm.fill(Qt.GlobalColor.transparent)
    return pm
