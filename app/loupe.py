"""The loupe: one shot large with zoom and pan; and compare, 2-4 shots with synchronised views.

Zoom is in screen pixels per *full-resolution* pixel, so "100%" means what photographers mean
even while only a reduced preview is decoded; when a view needs more detail than the preview
holds it asks for the full image (:attr:`ImageView.need_full`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from PySide6.QtCore import QPointF, QRectF, QSize, Qt, Signal
from PySide6.QtGui import (
    QColor,
    QFont,
    QImage,
    QMouseEvent,
    QPainter,
    QPaintEvent,
    QPen,
    QResizeEvent,
    QWheelEvent,
)
from PySide6.QtWidgets import QGridLayout, QSizePolicy, QWidget

from app import theme
from app.tiles import draw_flag


@dataclass(frozen=True)
class ViewAnchor:
    """A zoom and a position that carry over to the next frame of a burst: the view centre
    relative to the main (largest) face, in face sizes, so that the eyes stay in view while the
    subject moves a little between frames; relative to the image when there is no face."""

    fit: bool = True
    zoom: float = 1.0
    dx: float = 0.0
    dy: float = 0.0
    on_face: bool = True


FIT = ViewAnchor()


class ImageView(QWidget):
    zoomed = Signal(bool, float)  # fit, zoom (screen px per full-res px)
    panned = Signal(float, float)  # delta in full-res pixels
    need_full = Signal(str)  # key whose full-resolution image is needed
    clicked = Signal()

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        self.setMinimumSize(120, 90)
        self.key: str | None = None
        self.pix: QImage | None = None  # drawn as is (no QPixmap conversion on the GUI thread)
        self.full_w = self.full_h = 0
        self.fit = True
        self.zoom = 1.0
        self.cx = self.cy = 0.5  # view centre, relative to the image
        self.faces: list[tuple[float, float, float, float]] = []  # relative boxes
        self.message = ""
        self.caption = ""
        self.flag: str | None = None
        self.active = False
        self.full_loaded = False
        self._drag: QPointF | None = None
        self._press: QPointF | None = None
        self._fit_cache: tuple[QSize, QImage] | None = None
        self.font_caption = QFont()
        self.font_caption.setBold(True)
        self.overlay: QImage | None = None  # focus map / peaking, covering the whole image
        self.overlay_name = ""  # shown in the caption ("focus map", "peaking", "focus map…")

    # -- content ------------------------------------------------------------------
    def set_image(self, key: str | None, img: QImage | None, full_size: tuple[int, int] | None = None,
                  faces: list[tuple[float, float, float, float]] | None = None, message: str = "",
                  keep_view: bool = False, full: bool = False) -> None:
        same = key == self.key
        self.key = key
        self.pix = img if img is not None and not img.isNull() else None
        self._fit_cache = None
        self.full_loaded = full
        if self.pix is not None:
            fw, fh = full_size or (self.pix.width(), self.pix.height())
            # orientation: the decoded image is upright; catalog sizes may be sensor-oriented
            if (fw > fh) != (self.pix.width() > self.pix.height()) and self.pix.width() != self.pix.height():
                fw, fh = fh, fw
            self.full_w, self.full_h = max(fw, self.pix.width()), max(fh, self.pix.height())
        self.faces = faces or []
        self.message = message
        if not (same or keep_view):
            self.fit, self.cx, self.cy = True, 0.5, 0.5
        self._check_detail()
        self.update()

    @property
    def preview_scale(self) -> float:
        """Loaded pixels per full-resolution pixel."""
        if self.pix is None or not self.full_w:
            return 1.0
        return self.pix.width() / self.full_w

    def fit_zoom(self) -> float:
        if self.pix is None or not self.full_w:
            return 1.0
        return min(self.width() / self.full_w, self.height() / self.full_h)

    def effective_zoom(self) -> float:
        return self.fit_zoom() if self.fit else self.zoom

    # -- view state -------------------------------------------------------------------
    def set_zoom(self, fit: bool, zoom: float, emit: bool = True) -> None:
        self.fit = fit
        if not fit:
            self.zoom = max(0.02, min(8.0, zoom))
        self._check_detail()
        self.update()
        if emit:
            self.zoomed.emit(self.fit, self.zoom)

    def pan_by(self, dx_full: float, dy_full: float, emit: bool = True) -> None:
        if not self.full_w:
            return
        self.cx = min(1.0, max(0.0, self.cx + dx_full / self.full_w))
        self.cy = min(1.0, max(0.0, self.cy + dy_full / self.full_h))
        self.update()
        if emit:
            self.panned.emit(dx_full, dy_full)

    def center_on(self, rx: float, ry: float) -> None:
        self.cx, self.cy = min(1.0, max(0.0, rx)), min(1.0, max(0.0, ry))
        self.update()

    def focus_face(self, idx: int = -1, zoom: float = 1.0) -> bool:
        """Centre on a face (the largest when idx < 0) at ``zoom`` (1.0 = 100%)."""
        if not self.faces:
            self.center_on(0.5, 0.5)
            self.set_zoom(False, zoom, emit=False)
            return False
        if idx < 0 or idx >= len(self.faces):
            idx = max(range(len(self.faces)), key=lambda i: self.faces[i][2] * self.faces[i][3])
        x, y, w, h = self.faces[idx]
        self.center_on(x + w / 2, y + h / 2)
        self.set_zoom(False, zoom, emit=False)
        return True

    def main_face(self) -> tuple[float, float, float, float] | None:
        if not self.faces:
            return None
        return max(self.faces, key=lambda f: f[2] * f[3])

    def anchor(self) -> ViewAnchor:
        """This view's zoom and position, to apply to another frame (:meth:`apply_anchor`)."""
        if self.fit:
            return FIT
        f = self.main_face()
        if f is None:
            return ViewAnchor(False, self.zoom, self.cx, self.cy, on_face=False)
        x, y, w, h = f
        return ViewAnchor(False, self.zoom, (self.cx - x - w / 2) / max(w, 1e-6), (self.cy - y - h / 2) / max(h, 1e-6))

    def apply_anchor(self, a: ViewAnchor) -> None:
        """Take another frame's zoom and face-relative position (no signal)."""
        if a.fit:
            self.set_zoom(True, self.zoom, emit=False)
            return
        f = self.main_face()
        if f is None or not a.on_face:
            self.center_on(a.dx if not a.on_face else 0.5, a.dy if not a.on_face else 0.5)
        else:
            x, y, w, h = f
            self.center_on(x + w / 2 + a.dx * w, y + h / 2 + a.dy * h)
        self.set_zoom(False, a.zoom, emit=False)

    def _check_detail(self) -> None:
        if self.key and self.pix is not None and not self.full_loaded and not self.fit \
                and self.zoom > self.preview_scale * 1.05:
            self.need_full.emit(self.key)

    # -- geometry -----------------------------------------------------------------------
    def image_rect(self) -> QRectF:
        """Where the whole image lies, in widget coordinates."""
        z = self.effective_zoom()
        w, h = self.full_w * z, self.full_h * z
        if self.fit:
            return QRectF((self.width() - w) / 2, (self.height() - h) / 2, w, h)
        # clamp so the image does not drift away when smaller than the view
        x = self.width() / 2 - self.cx * w if w > self.width() else (self.width() - w) / 2
        y = self.height() / 2 - self.cy * h if h > self.height() else (self.height() - h) / 2
        return QRectF(x, y, w, h)

    # -- painting --------------------------------------------------------------------------
    def paintEvent(self, event: QPaintEvent) -> None:
        p = QPainter(self)
        dark = theme.is_dark()
        p.fillRect(self.rect(), QColor(24, 24, 26) if dark else QColor(200, 201, 204))
        if self.pix is None:
            p.setPen(QColor(200, 200, 200) if dark else QColor(60, 60, 60))
            f = QFont()
            f.setPointSizeF(f.pointSizeF() * 1.2)
            p.setFont(f)
            p.drawText(self.rect().adjusted(20, 20, -20, -20), Qt.AlignmentFlag.AlignCenter
                       | Qt.TextFlag.TextWordWrap, self.message or "Loading…")
        else:
            r = self.image_rect()
            p.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform, self.effective_zoom() < self.preview_scale * 1.5)
            if self.fit and abs(self.pix.width() - r.width()) <= 1.5 and abs(self.pix.height() - r.height()) <= 1.5:
                p.drawImage(QPointF(round(r.x()), round(r.y())), self.pix)  # prescaled by the decoder
            elif self.fit:
                size = QSize(round(r.width()), round(r.height()))
                if self._fit_cache is None or self._fit_cache[0] != size:
                    scaled = self.pix.scaled(size, Qt.AspectRatioMode.IgnoreAspectRatio,
                                             Qt.TransformationMode.SmoothTransformation)
                    self._fit_cache = (size, scaled)
                p.drawImage(r.topLeft(), self._fit_cache[1])
            else:
                # draw only the visible part of the source
                vis = r.intersected(QRectF(self.rect()))
                sx = self.pix.width() / r.width()
                src = QRectF((vis.x() - r.x()) * sx, (vis.y() - r.y()) * sx, vis.width() * sx, vis.height() * sx)
                p.drawImage(vis, self.pix, src)
            if self.overlay is not None and not self.overlay.isNull():
                p.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform, True)
                vis = r.intersected(QRectF(self.rect()))
                ox, oy = self.overlay.width() / r.width(), self.overlay.height() / r.height()
                p.drawImage(vis, self.overlay, QRectF((vis.x() - r.x()) * ox, (vis.y() - r.y()) * oy,
                                                      vis.width() * ox, vis.height() * oy))
            if self.faces:
                p.setRenderHint(QPainter.RenderHint.Antialiasing)
                pen = QPen(QColor(255, 255, 255, 110), 1.2)
                p.setPen(pen)
                p.setBrush(Qt.BrushStyle.NoBrush)
                for x, y, w, h in self.faces:
                    p.drawRect(QRectF(r.x() + x * r.width(), r.y() + y * r.height(),
                                      w * r.width(), h * r.height()))
        # caption and zoom
        p.setRenderHint(QPainter.RenderHint.Antialiasing)
        if self.caption or self.pix is not None:
            zoom_txt = "Fit" if self.fit else f"{self.zoom * 100:.0f}%"
            text = f"{self.caption}   {zoom_txt}".strip()
            if self.overlay_name:
                text += f"   ·   {self.overlay_name}"
            p.setFont(self.font_caption)
            fm = p.fontMetrics()
            box = QRectF(8, 8, fm.horizontalAdvance(text) + 16 + (22 if self.flag else 0), fm.height() + 8)
            p.setPen(Qt.PenStyle.NoPen)
            p.setBrush(QColor(0, 0, 0, 150))
            p.drawRoundedRect(box, 6, 6)
            p.setPen(QColor(240, 240, 240))
            p.drawText(box.adjusted(8, 0, 0, 0), Qt.AlignmentFlag.AlignVCenter | Qt.AlignmentFlag.AlignLeft, text)
            if self.flag:
                draw_flag(p, QPointF(box.right() - 14, box.center().y()), 8, self.flag)
        if self.active:
            p.setPen(QPen(theme.ACCENT, 3))
            p.setBrush(Qt.BrushStyle.NoBrush)
            p.drawRect(QRectF(self.rect()).adjusted(1.5, 1.5, -1.5, -1.5))
        p.end()

    def resizeEvent(self, event: QResizeEvent) -> None:
        self._fit_cache = None
        super().resizeEvent(event)

    # -- interaction -----------------------------------------------------------------------------
    def mousePressEvent(self, event: QMouseEvent) -> None:
        self.clicked.emit()
        if event.button() == Qt.MouseButton.LeftButton:
            self._press = event.position()
            self._drag = event.position() if not self.fit else None
        super().mousePressEvent(event)

    def mouseMoveEvent(self, event: QMouseEvent) -> None:
        if self._drag is not None:
            d = event.position() - self._drag
            self._drag = event.position()
            z = self.effective_zoom()
            self.pan_by(-d.x() / z, -d.y() / z)

    def mouseReleaseEvent(self, event: QMouseEvent) -> None:
        press, self._press, self._drag = self._press, None, None
        if press is None or event.button() != Qt.MouseButton.LeftButton:
            return
        moved = event.position() - press
        if abs(moved.x()) + abs(moved.y()) <= 4:  # a click, not a drag: zoom there / back to fit
            self.click_zoom(event.position())

    def click_zoom(self, pos: QPointF) -> None:
        """Click to zoom: 100% centred where clicked, or back to fit."""
        if self.pix is None:
            return
        if self.fit:
            r = self.image_rect()
            self.center_on((pos.x() - r.x()) / r.width(), (pos.y() - r.y()) / r.height())
            self.set_zoom(False, 1.0)
            self.panned.emit(0.0, 0.0)
        else:
            self.set_zoom(True, self.zoom)

    def wheelEvent(self, event: QWheelEvent) -> None:
        if self.pix is None:
            return
        step = event.angleDelta().y() / 120.0
        z0 = self.effective_zoom()
        z1 = max(self.fit_zoom(), min(8.0, z0 * (1.25 ** step)))
        if abs(z1 - self.fit_zoom()) < 1e-6:
            self.set_zoom(True, z1)
        else:
            self.set_zoom(False, z1)


class ComparePane(QWidget):
    """Two to four :class:`ImageView` side by side; zoom and pan are synchronised."""

    activated = Signal(int)
    need_full = Signal(str)
    view_changed = Signal()  # a zoom or pan made by the user

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.views: list[ImageView] = []
        self.layout_ = QGridLayout(self)
        self.layout_.setContentsMargins(0, 0, 0, 0)
        self.layout_.setSpacing(3)
        self.active = 0
        self._syncing = False

    def set_count(self, n: int) -> list[ImageView]:
        while len(self.views) < n:
            v = ImageView(self)
            i = len(self.views)
            v.zoomed.connect(lambda fit, z, i=i: self._sync_zoom(i, fit, z))
            v.panned.connect(lambda dx, dy, i=i: self._sync_pan(i, dx, dy))
            v.clicked.connect(lambda i=i: self.set_active(i))
            v.need_full.connect(self.need_full)
            self.views.append(v)
        for i, v in enumerate(self.views):
            self.layout_.removeWidget(v)
            v.setVisible(i < n)
        cols = 2 if n in (2, 4) else 3
        cols = min(cols, n)
        for i in range(n):
            self.layout_.addWidget(self.views[i], i // cols, i % cols)
        self.set_active(min(self.active, n - 1))
        return self.views[:n]

    def visible_views(self) -> list[ImageView]:
        return [v for v in self.views if v.isVisible()]

    def set_active(self, i: int) -> None:
        self.active = i
        for j, v in enumerate(self.views):
            v.active = j == i
            v.update()
        self.activated.emit(i)

    def _sync(self, src: int, apply: Callable[[Any], None]) -> None:
        """Apply a zoom or pan made in view ``src`` to every other visible view (no echo)."""
        if self._syncing:
            return
        self._syncing = True
        try:
            for j, v in enumerate(self.visible_views()):
                if j != src:
                    apply(v)
        finally:
            self._syncing = False
        self.view_changed.emit()

    def _sync_zoom(self, src: int, fit: bool, zoom: float) -> None:
        self._sync(src, lambda v: v.set_zoom(fit, zoom, emit=False))

    def _sync_pan(self, src: int, dx: float, dy: float) -> None:
        """The other shots follow at the same place relative to their own main face."""
        views = self.visible_views()
        if 0 <= src < len(views):
            a = views[src].anchor()
            self._sync(src, lambda v: v.apply_anchor(a))

    def anchor(self) -> ViewAnchor:
        views = self.visible_views()
        return views[self.active].anchor() if 0 <= self.active < len(views) else FIT

    def apply_anchor(self, a: ViewAnchor) -> None:
        for v in self.visible_views():
            v.apply_anchor(a)

    def toggle_faces_100(self) -> None:
        """100% on each shot's own main face (bursts move a little between frames), or back to fit."""
        views = self.visible_views()
        if not views:
            return
        if all(not v.fit for v in views):
            for v in views:
                v.set_zoom(True, v.zoom, emit=False)
        else:
            for v in views:
                v.focus_face(-1, 1.0)


def face_boxes(faces: list[dict[str, Any]]) -> list[tuple[float, float, float, float]]:
    out = []
    for f in faces:
        try:
            out.append((float(f["x"]), float(f["y"]), float(f["w"]), float(f["h"])))
        except (KeyError, TypeError, ValueError):
            continue
    return out
