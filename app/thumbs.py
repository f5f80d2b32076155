"""Decoding off the GUI thread, with bounded LRU caches.

:class:`ImageCache` decodes images in a ``QThreadPool`` (newest request first, so what the user
looks at now wins over what scrolled past), keeps at most ``budget_bytes`` of decoded
``QImage`` in an LRU, and emits :attr:`ImageCache.ready` with the shot key when an image (or
its failure) arrives.  The grid uses one cache for thumbnails, the loupe another for large
previews, prefetching the next shots.
"""

from __future__ import annotations

import contextlib
import os
import sys
import threading
from collections import OrderedDict
from pathlib import Path

import numpy as np
from PySide6.QtCore import QObject, QRunnable, QThreadPool, Signal
from PySide6.QtGui import QImage

from app.imaging import DecodeError, decode_rgb, decode_view, to_qimage


class _Signals(QObject):
    done = Signal(int, str, QImage, str)  # generation, key, image (null on failure), error


def fit_into(arr: np.ndarray, box: tuple[int, int]) -> np.ndarray:
    """Scale ``arr`` down to fit ``box`` (w, h), smoothly, off the GUI thread (Pillow releases the GIL)."""
    h, w = arr.shape[:2]
    s = min(box[0] / w, box[1] / h)
    if s >= 1.0:
        return arr
    from PIL import Image

    size = (max(1, round(w * s)), max(1, round(h * s)))
    return np.asarray(Image.fromarray(arr).resize(size, Image.Resampling.BILINEAR, reducing_gap=2.0))


_thread_state = threading.local()


def _below_the_window(step: int = 4) -> None:
    """Once per decoder thread: run it a little below the GUI thread (Linux schedules threads
    by their own nice value), so that on 2 cores a paint is not queued behind two decoders.
    The analysis child process sits lower still (``app.engine_process``).  Elsewhere a no-op."""
    if getattr(_thread_state, "lowered", False):
        return
    _thread_state.lowered = True
    if sys.platform.startswith("linux"):
        with contextlib.suppress(AttributeError, OSError):
            tid = threading.get_native_id()
            os.setpriority(os.PRIO_PROCESS, tid, os.getpriority(os.PRIO_PROCESS, tid) + step)


class _Job(QRunnable):
    def __init__(self, signals: _Signals, generation: int, key: str, path: Path, max_side: int | None,
                 box: tuple[int, int] | None = None, view: bool = False):
        super().__init__()
        self.setAutoDelete(True)
        self.signals, self.gen, self.key, self.path, self.max_side = signals, generation, key, path, max_side
        self.box = box
        self.view = view

    def run(self) -> None:  # worker thread
        _below_the_window()
        try:
            note = None
            if self.view:  # the loupe: a RAW's largest embedded preview
                arr, (fw, fh), note = decode_view(self.path, self.max_side)
            else:
                arr, (fw, fh) = decode_rgb(self.path, self.max_side)
            if self.box is not None:
                arr = fit_into(arr, self.box)
            img = to_qimage(arr)
            img.setText("full_size", f"{fw}x{fh}")
            if note:
                img.setText("preview_note", note)
            err = ""
        except DecodeError as exc:
            img, err = QImage(), str(exc)
        except Exception as exc:  # never let a worker die silently
            img, err = QImage(), f"cannot read {self.path.name}: {exc}"
        with contextlib.suppress(RuntimeError):  # the cache was deleted while decoding
            self.signals.done.emit(self.gen, self.key, img, err)


class ImageCache(QObject):
    ready = Signal(str)

    def __init__(self, max_side: int | None, budget_bytes: int, threads: int | None = None,
                 parent: QObject | None = None, max_queue: int = 600, view: bool = False):
        super().__init__(parent)
        self.max_side = max_side
        self.view = view  # decode as the loupe shows (a RAW's largest embedded preview)
        self.budget = budget_bytes
        self.pool = QThreadPool(self)
        self.pool.setMaxThreadCount(threads or max(2, min(4, os.cpu_count() or 2)))
        self._sig = _Signals(self)
        self._sig.done.connect(self._on_done)
        self._lru: OrderedDict[str, QImage] = OrderedDict()
        self._bytes = 0
        self._errors: dict[str, str] = {}
        self._wanted: OrderedDict[str, Path] = OrderedDict()  # newest last
        self._inflight: set[str] = set()
        self._gen = 0
        self.max_queue = max_queue
        self.box: tuple[int, int] | None = None  # scale decoded images to fit this (w, h)
        self.hits = 0
        self.misses = 0

    # -- queries ----------------------------------------------------------------------
    def get(self, key: str) -> QImage | None:
        img = self._lru.get(key)
        if img is not None:
            self._lru.move_to_end(key)
            self.hits += 1
        return img

    def has(self, key: str) -> bool:
        return key in self._lru

    def error(self, key: str) -> str | None:
        return self._errors.get(key)

    @property
    def bytes_used(self) -> int:
        return self._bytes

    def __len__(self) -> int:
        return len(self._lru)

    # -- requests ---------------------------------------------------------------------
    def request(self, key: str, path: Path) -> None:
        """Decode ``key`` soon (it moves to the front of the queue)."""
        if key in self._lru or key in self._inflight or key in self._errors:
            return
        self.misses += 1
        self._wanted[key] = path
        self._wanted.move_to_end(key)
        while len(self._wanted) > self.max_queue:
            self._wanted.popitem(last=False)
        self._pump()

    def prefetch(self, items: list[tuple[str, Path]]) -> None:
        """Queue several images; the first of ``items`` is decoded first."""
        for key, path in reversed(items):
            self.request(key, path)

    def forget(self, key: str) -> None:
        img = self._lru.pop(key, None)
        if img is not None:
            self._bytes -= img.sizeInBytes()
        self._errors.pop(key, None)

    def set_box(self, box: tuple[int, int] | None) -> None:
        """Decode to fit ``box`` from now on (the cache is emptied: its images have the old size)."""
        if box != self.box:
            self.box = box
            self.clear()

    def clear(self) -> None:
        self._gen += 1
        self._wanted.clear()
        self._inflight.clear()
        self._lru.clear()
        self._errors.clear()
        self._bytes = 0

    def shutdown(self) -> None:
        self.clear()
        self.pool.clear()
        self.pool.waitForDone(5000)

    def _pump(self) -> None:
        while self._wanted and len(self._inflight) < self.pool.maxThreadCount():
            key, path = self._wanted.popitem(last=True)
            self._inflight.add(key)
            self.pool.start(_Job(self._sig, self._gen, key, path, self.max_side, self.box, self.view))

    def _on_done(self, gen: int, key: str, img: QImage, err: str) -> None:
        if gen != self._gen:
            return
        self._inflight.discard(key)
        if img is None or img.isNull():
            self._errors[key] = err or "cannot decode"
        else:
            old = self._lru.pop(key, None)
            if old is not None:
                self._bytes -= old.sizeInBytes()
            self._lru[key] = img
            self._bytes += img.sizeInBytes()
            while self._bytes > self.budget and len(self._lru) > 1:
                _, dropped = self._lru.popitem(last=False)
                self._bytes -= dropped.sizeInBytes()
        self._pump()
        self.ready.emit(key)
