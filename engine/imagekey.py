"""Image-data digests for the analysis cache (issue 10.12).

Analysis is keyed by the content hash of a file, and ``culler export --embed`` rewrites the
metadata of JPEG/TIFF/DNG/HEIF originals in place: the content hash changes while the pixels
do not.  Each analysis therefore also records a digest of the file's *image data* (plus its
EXIF orientation, which changes what the analysis saw); a changed file whose image data and
orientation match an analysed one carries that analysis over instead of being analysed again.

The digests are the ones the export verifies embeds with (``engine.export.jpeg.image_parts``:
every JPEG segment except the XMP one, and ``engine.export.imagedata`` for TIFF/DNG and HEIF),
so "embedding left the image data unchanged" and "the cache may be kept" are one rule.
"""

from __future__ import annotations

import hashlib
import struct
from pathlib import Path

from engine.images import JPEG_EXTENSIONS

_KINDS = {**{e: "jpeg" for e in JPEG_EXTENSIONS}, ".tif": "tiff", ".tiff": "tiff", ".dng": "tiff",
          ".heic": "heif", ".heif": "heif", ".hif": "heif", ".avif": "heif"}  # fmt: skip
MAX_BYTES = 512 << 20  # larger files are hashed in chunks, without an image digest


def image_data_digest(data: bytes, kind: str) -> str | None:
    """Digest of the image data of a file's bytes, or None (unknown kind, unparseable file)."""
    from engine.export.imagedata import ImageDataError, heif_digest, tiff_digest
    from engine.export.jpeg import JpegError, parse

    try:
        if kind == "jpeg":
            # the parts of engine.export.jpeg.image_parts, hashed in place (no copies)
            segments, image_start = parse(data)
            view = memoryview(data)
            h = hashlib.sha256()  # SHA-NI/ARMv8 crypto make it faster than BLAKE2b here
            for a, b in [(sg.start, sg.end) for sg in segments if not sg.is_xmp(data)] + [(image_start, len(data))]:
                h.update((b - a).to_bytes(8, "little"))
                h.update(view[a:b])
            return "jpeg:" + h.hexdigest()
        if kind == "tiff":
            return "tiff:" + tiff_digest(data)
        if kind == "heif":
            return "heif:" + heif_digest(data)
    except (JpegError, ImageDataError, struct.error, IndexError, ValueError):
        return None
    return None


def file_hashes(path: Path) -> tuple[str, str | None]:
    """``(content hash, image-data digest or None)`` of ``path`` from one read.

    The content hash is the one of :func:`engine.scan.file_hash` (BLAKE2b-128 of the bytes)."""
    from engine.scan import file_hash

    kind = _KINDS.get(path.suffix.lower())
    if kind is None or path.stat().st_size > MAX_BYTES:
        return file_hash(path), None
    with open(path, "rb") as f:
        data = f.read()
    return hashlib.blake2b(data, digest_size=16).hexdigest(), image_data_digest(data, kind)


def cache_key(digest: str | None, orientation: int | None) -> str | None:
    """What must match for an analysis to be carried over: image data and orientation."""
    return None if digest is None else f"{digest}|o{orientation or 1}"
