"""Image decoding for the GUI: one place that talks to the engine's image loader.

Runs in worker threads (never on the GUI thread).  ``QImage`` objects may be created
and filled off the GUI thread; ``QPixmap`` may not, so the caches hold ``QImage``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PySide6.QtGui import QImage

# Extensions shown before the engine's scan has run (the engine's list wins when present).
_FALLBACK_EXTENSIONS = {
    ".jpg", ".jpeg", ".png", ".tif", ".tiff", ".heic", ".heif", ".webp", ".dng", ".cr2", ".cr3",
    ".nef", ".arw", ".raf", ".orf", ".rw2", ".pef", ".srw",
}
_FALLBACK_RAW = {".dng", ".cr2", ".cr3", ".nef", ".arw", ".raf", ".orf", ".rw2", ".pef", ".srw"}


class DecodeError(Exception):
    """An image that cannot be read; the message is user-facing."""


def image_extensions() -> tuple[set[str], set[str]]:
    """(all image extensions, RAW extensions), lower case with the dot."""
    try:
        from engine.images import IMAGE_EXTENSIONS, RAW_EXTENSIONS
    except ImportError:
        return _FALLBACK_EXTENSIONS, _FALLBACK_RAW
    return {e.lower() for e in IMAGE_EXTENSIONS}, {e.lower() for e in RAW_EXTENSIONS}


def _pillow_decode(path: Path, max_side: int | None) -> np.ndarray:
    from PIL import Image, ImageOps

    with Image.open(path) as im:
        if max_side and im.format == "JPEG":
            im.draft("RGB", (max_side, max_side))
        im = ImageOps.exif_transpose(im)  # type: ignore[assignment]
        im = im.convert("RGB")  # type: ignore[assignment]
        if max_side and max(im.size) > max_side:
            im.thumbnail((max_side, max_side), Image.Resampling.BILINEAR)
        return np.asarray(im)


def decode_rgb(path: Path, max_side: int | None) -> tuple[np.ndarray, tuple[int, int]]:
    """(RGB uint8 array with its long side at most ``max_side`` (None: full size), full (w, h))."""
    path = Path(path)
    if not path.exists():
        raise DecodeError(f"{path.name} is no longer on disk (moved or deleted?)")
    try:
        from engine import images as eimages
    except ImportError:
        eimages = None  # type: ignore[assignment]
    try:
        if eimages is not None and hasattr(eimages, "decode"):
            d = eimages.decode(path, max_side=max_side)
            return d.rgb, (int(d.full_size[0]), int(d.full_size[1]))
        arr = _pillow_decode(path, max_side)
        return arr, (arr.shape[1], arr.shape[0])
    except DecodeError:
        raise
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
