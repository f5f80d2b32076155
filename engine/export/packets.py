"""The XMP packet already embedded in an image file, read without exiftool.

Used by ``culler import`` (decisions made in another tool) and by ``culler export --embed``,
which checks an existing TIFF/DNG/HEIC packet with the hardened parser before exiftool is
asked to rewrite it: a hostile packet is refused in one line, as in a JPEG or a sidecar.
"""

from __future__ import annotations

from pathlib import Path

_JPEG_HEAD = 1 << 20  # the XMP APP1 segment sits before the image data


def embedded_packet(path: Path) -> bytes | None:
    """The XMP packet embedded in an image file (JPEG APP1, TIFF/DNG tag 700, HEIC/HEIF), or
    None.  Raw bytes, not parsed: every caller hands them to :mod:`engine.export.xmp`'s
    hardened parser.  A corrupt container raises what its reader raises."""
    from engine.export.formats import kind

    k = kind(path)
    if k == "jpeg":
        from engine.export import jpeg

        with open(path, "rb") as f:
            data = f.read(_JPEG_HEAD)
        try:
            return jpeg.read_xmp(data, str(path))
        except jpeg.JpegError:
            with open(path, "rb") as f:  # APP segments longer than the head: read it all
                return jpeg.read_xmp(f.read(), str(path))
    if k in ("tiff", "dng"):
        import tifffile

        with tifffile.TiffFile(path) as tif:
            tag = tif.pages.first.tags.get(700)
            if tag is None:
                return None
            v = tag.value
            return bytes(v) if isinstance(v, (bytes, bytearray)) else str(v).encode()
    if k == "heif":
        from engine.images import _register_heif

        _register_heif()
        import pillow_heif

        x = pillow_heif.open_heif(str(path)).info.get("xmp")
        return bytes(x) if x else None
    return None
