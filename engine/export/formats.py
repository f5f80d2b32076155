"""What kind of file a path is, for export purposes."""

from __future__ import annotations

from pathlib import Path

from engine.images import JPEG_EXTENSIONS, RAW_EXTENSIONS

# Proprietary RAW: Lightroom reads metadata for these from a STEM.xmp sidecar only.
PROPRIETARY_RAW = frozenset(RAW_EXTENSIONS - {".dng"})
TIFF_EXTENSIONS = frozenset({".tif", ".tiff"})
HEIF_EXTENSIONS = frozenset({".heic", ".heif", ".hif", ".avif"})
SIDECAR_EXTENSIONS = frozenset({".xmp"})


def kind(path: str | Path) -> str:
    """``raw`` (proprietary RAW), ``jpeg``, ``tiff``, ``dng``, ``heif``, ``xmp`` or ``other``."""
    ext = Path(path).suffix.lower()
    if ext in PROPRIETARY_RAW:
        return "raw"
    if ext in JPEG_EXTENSIONS:
        return "jpeg"
    if ext in TIFF_EXTENSIONS:
        return "tiff"
    if ext == ".dng":
        return "dng"
    if ext in HEIF_EXTENSIONS:
        return "heif"
    if ext in SIDECAR_EXTENSIONS:
        return "xmp"
    return "other"


EMBEDDABLE = frozenset({"jpeg", "tiff", "dng", "heif"})
