"""Image decoding for the GUI: one place that talks to the engine's image loader
(:func:`engine.images.decode`: the formats the engine reads, RAW through its embedded preview;
the loupe's :func:`decode_view`: a RAW's largest embedded preview).

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


def decode_view(path: Path, max_side: int | None) -> tuple[np.ndarray, tuple[int, int], str | None]:
    """What the loupe shows: :func:`decode_rgb`, except that a RAW shows its *largest* embedded
    preview (:func:`engine.images.largest_raw_preview`), never a development of its sensor
    data.  Returns (RGB, full (w, h), a note: "preview too small to judge focus" when the
    largest preview is under 1,000 px, else None)."""
    path = Path(path)
    from engine.images import RAW_EXTENSIONS

    if path.suffix.lower() not in RAW_EXTENSIONS:
        rgb, full = decode_rgb(path, max_side)
        return rgb, full, None
    if not path.exists():
        raise DecodeError(f"{path.name} is no longer on disk (moved or deleted?)")
    from engine.images import largest_raw_preview
    from engine.rawpreview import MIN_JUDGE_SIDE, TOO_SMALL_NOTE

    try:
        d = largest_raw_preview(path, max_side, develop=False)
    except FileNotFoundError as exc:
        raise DecodeError(f"{path.name} is no longer on disk (moved or deleted?)") from exc
    except Exception as exc:  # ImageError, OSError: one message, no traceback
        raise DecodeError(f"cannot read {path.name}: {str(exc) or type(exc).__name__}") from exc
    fw, fh = int(d.full_size[0]), int(d.full_size[1])
    return d.rgb, (fw, fh), TOO_SMALL_NOTE if max(fw, fh) < MIN_JUDGE_SIDE else None


def preview_note_of(img: QImage) -> str | None:
    """The note recorded on a decoded loupe image (see :func:`decode_view`)."""
    return img.text("preview_note") or None


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
