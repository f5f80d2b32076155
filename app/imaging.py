"""Image decoding for the GUI: one place that talks to the engine's image loader
(:func:`engine.images.decode`: the formats the engine reads, RAW through its embedded preview).

Runs in worker threads (never on the GUI thread).  ``QImage`` objects may be created
and filled off the GUI thread; ``QPixmap`` may not, so the caches hold ``QImage``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PySide6.QtGui import QImage


class DecodeError(Exception):
    """An image that cannot be read; the message is user-facing."""


def decode_rgb(path: Path, max_side: int | None) -> tuple[np.ndarray, tuple[int, int]]:
    """(RGB uint8 array with its long side at most ``max_side`` (None: full size), full (w, h))."""
    path = Path(path)
    if not path.exists():
        raise DecodeError(f"{path.name} is no longer on disk (moved or deleted?)")
    from engine.images import decode

    try:
        d = decode(path, max_side=max_side)
        return d.rgb, (int(d.full_size[0]), int(d.full_size[1]))
    except FileNotFoundError as exc:
        raise DecodeError(f"{path.name} is no longer on disk (moved or deleted?)") from exc
    except Exception as exc:  # ImageError, OSError, decoder errors: one message, no traceback
        reason = str(exc) or type(exc).__name__
        raise DecodeError(f"cannot read {path.name}: {reason}") from exc


def full_size_of(img: QImage) -> tuple[int, int] | None:
    """The full-resolution size recorded on a decoded preview (see :mod:`app.thumbs`)."""
    t = img.text("full_size")
    if not t or "x" not in t:
        return None
    w, h = t.split("x", 1)
    return int(w), int(h)


def to_qimage(arr: np.ndarray) -> QImage:
    """A QImage that owns its pixels (safe to pass between threads)."""
    arr = np.ascontiguousarray(arr)
    if arr.ndim == 2:
        arr = np.ascontiguousarray(np.stack([arr] * 3, axis=-1))
    if arr.shape[2] == 4:
        arr = np.ascontiguousarray(arr[..., :3])
    h, w = arr.shape[:2]
    img = QImage(arr.data, w, h, 3 * w, QImage.Format.Format_RGB888)
    return img.copy()


def qimage_from_jpeg(blob: bytes | None) -> QImage:
    img = QImage()
    if blob:
        img.loadFromData(bytes(blob))
    return img
