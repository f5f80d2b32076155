"""Loupe overlays: the focus map (a heat map of local sharpness) and focus peaking, computed off
the GUI thread by the engine (:mod:`engine.focusmap`) and cached per shot."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable
from pathlib import Path

import numpy as np
from PySide6.QtCore import QObject, Signal
from PySide6.QtGui import QImage

from app.workers import Worker

MODES = ("focus", "peaking")
OVERLAY_SIDE = 1024  # computed on a preview of this long side (fast; the map is coarse anyway)

# sharpness 0 -> transparent blue, 0.5 -> green/yellow, 1 -> opaque red
_STOPS = np.array([[0.0, 40, 70, 200, 0], [0.35, 40, 160, 230, 70], [0.6, 80, 220, 80, 110],
                   [0.8, 250, 220, 40, 140], [1.0, 240, 40, 30, 165]], dtype=np.float32)


def heat_rgba(rel: np.ndarray) -> np.ndarray:
    """(rows, cols) in 0..1 -> (rows, cols, 4) uint8 RGBA."""
    x = np.clip(rel, 0.0, 1.0).astype(np.float32)
    out = np.empty((*x.shape, 4), np.float32)
    for c in range(4):
        out[..., c] = np.interp(x, _STOPS[:, 0], _STOPS[:, c + 1])
    return out.astype(np.uint8)


def _rgba_qimage(a: np.ndarray) -> QImage:
    a = np.ascontiguousarray(a)
    h, w = a.shape[:2]
    return QImage(a.data, w, h, 4 * w, QImage.Format.Format_RGBA8888).copy()


def compute(path: Path, mode: str) -> QImage:
    """Worker body: the overlay image of one shot (covers the whole photograph)."""
    from app.imaging import decode_rgb
    from engine.focusmap import focus_map, peaking_mask

    rgb, _full = decode_rgb(path, OVERLAY_SIDE)
    if mode == "focus":
        return _rgba_qimage(heat_rgba(focus_map(rgb).relative))
    mask = peaking_mask(rgb)
    a = np.zeros((*mask.shape, 4), np.uint8)
    a[mask] = (255, 40, 200, 255)  # magenta edges: visible on skin, foliage and sky
    return _rgba_qimage(a)


class OverlayCache(QObject):
    """Overlays by (key, mode); one computed at a time, the newest request first."""

    ready = Signal(str, str)  # key, mode

    def __init__(self, parent: QObject | None = None, size: int = 24):
        super().__init__(parent)
        self._lru: OrderedDict[tuple[str, str], QImage] = OrderedDict()
        self._size = size
        self._job: Worker | None = None
        self._wanted: tuple[str, str, Path] | None = None
        self.errors: dict[tuple[str, str], str] = {}

    def get(self, key: str, mode: str) -> QImage | None:
        img = self._lru.get((key, mode))
        if img is not None:
            self._lru.move_to_end((key, mode))
        return img

    def request(self, key: str, mode: str, path: Path) -> None:
        if (key, mode) in self._lru or (key, mode) in self.errors:
            return
        self._wanted = (key, mode, path)
        self._pump()

    def _pump(self) -> None:
        if self._job is not None or self._wanted is None:
            return
        key, mode, path = self._wanted
        self._wanted = None
        job = self._job = Worker(compute, path, mode, parent=self)
        job.returned.connect(self._done(job, key, mode, lambda img: self._put(key, mode, img)))
        job.errored.connect(self._done(job, key, mode, lambda e: self.errors.__setitem__((key, mode), str(e))))
        job.start()

    def _done(self, job: Worker, key: str, mode: str, then: Callable[[object], None]) -> Callable[[object], None]:
        def slot(v: object) -> None:
            job.wait()
            if self._job is job:
                self._job = None
            then(v)
            self.ready.emit(key, mode)
            self._pump()

        return slot

    def _put(self, key: str, mode: str, img: object) -> None:
        assert isinstance(img, QImage)
        self._lru[(key, mode)] = img
        while len(self._lru) > self._size:
            self._lru.popitem(last=False)

    def shutdown(self) -> None:
        self._wanted = None
        if self._job is not None:
            self._job.wait(10000)
            self._job = None

    def clear(self) -> None:
        self._lru.clear()
        self.errors.clear()
        self._wanted = None
