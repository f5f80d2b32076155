"""Opening photographs: JPEG, PNG, TIFF, HEIC/HEIF and camera RAW (through the embedded preview).

Analysis never needs 24 MP: JPEGs are decoded with libjpeg's DCT scaling
(Pillow's ``draft``) to the smallest scale that still covers the requested
size, RAW files through their embedded JPEG preview.  EXIF orientation is
applied.  Every failure is an :class:`ImageError` with a short, user-facing
reason; originals are only ever opened for reading.
"""

from __future__ import annotations

import io
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

JPEG_EXTENSIONS = {".jpg", ".jpeg", ".jpe", ".jfif"}
IMAGE_EXTENSIONS = JPEG_EXTENSIONS | {".png", ".tif", ".tiff", ".heic", ".heif", ".hif", ".webp", ".avif"}
RAW_EXTENSIONS = {
    ".cr2", ".cr3", ".crw", ".nef", ".nrw", ".arw", ".srf", ".sr2", ".raf", ".orf", ".rw2",
    ".dng", ".pef", ".srw", ".x3f", ".3fr", ".iiq", ".erf", ".kdc", ".mrw", ".rwl",
}  # fmt: skip
SUPPORTED_EXTENSIONS = IMAGE_EXTENSIONS | RAW_EXTENSIONS

# Photo formats that are recognised but not decoded: listed as skipped, never silently ignored.
UNSUPPORTED_EXTENSIONS = {
    ".jxl": "JPEG XL is not supported yet",
    ".gif": "GIF is not a photo format portrait-culler reads",
    ".bmp": "BMP is not a photo format portrait-culler reads",
    ".psd": "Photoshop documents are not read; export a JPEG or TIFF",
    ".psb": "Photoshop documents are not read; export a JPEG or TIFF",
}

# Anything larger is refused as a decompression bomb (the largest medium-format sensors are ~150 MP).
MAX_PIXELS = 250_000_000
# Smaller images cannot be judged (face detection and the quality members need a few blocks).
MIN_SIDE = 16


class ImageError(Exception):
    """An image that cannot be read; ``str(err)`` is the reason shown to the user."""


@dataclass
class Decoded:
    """A decoded image and how it was obtained."""

    rgb: np.ndarray  # H x W x 3 uint8, orientation applied
    full_size: tuple[int, int]  # (width, height) of the full image, orientation applied
    scale: float  # decoded size / full size
    jpeg_block: float | None  # JPEG block period in pixels of ``rgb`` when it is visible, else None
    source: str  # "jpeg", "png", "tiff", "heif", "raw-preview", ...
    # RAW only: the embedded preview that was decoded (an engine.rawpreview.Preview), when the
    # container was read directly; None for other images and for previews LibRaw produced.
    preview: Any = None


_heif_registered = False


def _register_heif() -> None:
    global _heif_registered
    if not _heif_registered:
        try:
            import pillow_heif

            pillow_heif.register_heif_opener()
        except ImportError:  # pragma: no cover - a dependency
            pass
        _heif_registered = True


def _orient(im, orientation: int | None = None):  # type: ignore[no-untyped-def]
    from PIL import ImageOps

    if orientation is None:
        return ImageOps.exif_transpose(im)
    from PIL import Image

    t = Image.Transpose
    # EXIF orientation -> the transpose that displays it upright (as ImageOps.exif_transpose does)
    op = {2: t.FLIP_LEFT_RIGHT, 3: t.ROTATE_180, 4: t.FLIP_TOP_BOTTOM, 5: t.TRANSPOSE,
          6: t.ROTATE_270, 7: t.TRANSVERSE, 8: t.ROTATE_90}.get(orientation)  # fmt: skip
    return im.transpose(op) if op is not None else im


def _reducible(im):  # type: ignore[no-untyped-def]
    """The image in a mode that ``Image.reduce`` and ``resize`` handle without loss that matters:
    16-bit greyscale (``I;16*``) becomes 32-bit ``I``; bilevel, palette, premultiplied and
    non-RGB colour spaces become L/RGB(A).  ``F`` (32-bit float) and ``I`` stay as they are."""
    m = im.mode
    if m.startswith("I;16"):
        return im.convert("I")
    if m == "1":
        return im.convert("L")
    if m == "P":
        return im.convert("RGBA" if "transparency" in im.info else "RGB")
    if m == "La":
        return _unpremultiply_la(im)
    if m == "RGBa":
        return im.convert("RGBA")
    if m in ("LAB", "HSV", "YCbCr", "CMYK", "RGBX"):
        return im.convert("RGB")
    return im


def _unpremultiply_la(im):  # type: ignore[no-untyped-def]
    """``La`` (premultiplied grey + alpha) cannot be converted directly; un-premultiply by hand."""
    from PIL import Image

    a = np.asarray(im, dtype=np.float32)
    alpha = a[..., 1:2]
    grey = np.where(alpha > 0, a[..., :1] * 255.0 / np.maximum(alpha, 1), 0)
    out = np.concatenate([np.repeat(grey, 3, axis=2), alpha], axis=2)
    return Image.fromarray(np.clip(out + 0.5, 0, 255).astype(np.uint8), "RGBA")


def _to_rgb_array(im, sixteen_bit: bool = False) -> np.ndarray:  # type: ignore[no-untyped-def]
    """H x W x 3 uint8 of any mode ``_reducible`` leaves (``sixteen_bit``: the source was 16-bit)."""
    if im.mode in ("I;16", "I;16B", "I;16L", "I;16N", "I", "F"):
        arr = np.asarray(im, dtype=np.float32)
        finite = arr[np.isfinite(arr)]
        hi = float(finite.max()) if finite.size else 0.0
        if sixteen_bit or im.mode.startswith("I;16"):
            top = 65535.0
        elif im.mode == "F" and hi <= 1.0:
            top = 1.0  # float images are usually 0..1
        elif hi <= 255:
            top = 255.0
        elif hi <= 65535:
            top = 65535.0
        else:
            top = hi
        arr = np.nan_to_num(arr, nan=0.0, posinf=top, neginf=0.0)
        arr = np.clip(arr / top * 255.0 + 0.5, 0, 255).astype(np.uint8)
        return np.repeat(arr[..., None], 3, axis=2)
    if im.mode != "RGB":
        if im.mode in ("RGBA", "LA", "PA") or (im.mode == "P" and "transparency" in im.info):
            from PIL import Image

            im = im.convert("RGBA")
            bg = Image.new("RGB", im.size, (255, 255, 255))
            bg.paste(im, mask=im.getchannel("A"))
            im = bg
        else:
            im = im.convert("RGB")
    return np.asarray(im, dtype=np.uint8).copy()


def _decode_pil(data: bytes | str | os.PathLike[str], max_side: int | None, min_side: int | None, source: str, orientation: int | None = None) -> Decoded:
    from PIL import Image, UnidentifiedImageError

    _register_heif()
    try:
        fp = io.BytesIO(data) if isinstance(data, bytes) else open(data, "rb")  # noqa: SIM115
    except OSError as exc:
        raise ImageError(f"cannot open: {exc.strerror or exc}") from exc
    with fp:
        try:
            with Image.open(fp) as im:
                w, h = im.size
                if min(w, h) < MIN_SIDE:
                    raise ImageError(f"image too small to judge ({w}x{h} pixels; {MIN_SIDE} at least)")
                if w * h > MAX_PIXELS:
                    raise ImageError(f"refused: {w}x{h} pixels looks like a decompression bomb")
                fmt = (im.format or "").lower()
                jpeg_block: float | None = None
                target = min_side or max_side
                if fmt == "jpeg":
                    jpeg_block = 8.0
                    if target and max(w, h) > target:
                        s = target / max(w, h)
                        im.draft("RGB", (max(1, int(w * s + 0.999)), max(1, int(h * s + 0.999))))
                        jpeg_block = 8.0 * im.size[0] / w
                im.load()
                if orientation is None and fmt not in ("jpeg", "tiff", "heif", "png", "mpo"):
                    orientation = 1
                sixteen = im.mode.startswith("I;16")
                im = _reducible(im)
                before = im.size
                im = _orient(im, orientation)
                swapped = before != im.size
                fw, fh = (h, w) if swapped else (w, h)
                if max_side and max(im.size) > max_side:
                    factor = max(im.size) / max_side
                    if factor >= 2:
                        im = im.reduce(int(factor))
                    if max(im.size) > max_side:
                        s = max_side / max(im.size)
                        im = im.resize((max(1, round(im.size[0] * s)), max(1, round(im.size[1] * s))), Image.Resampling.BILINEAR, reducing_gap=2.0)
                    jpeg_block = None
                rgb = _to_rgb_array(im, sixteen)
        except ImageError:
            raise
        except Image.DecompressionBombError as exc:
            raise ImageError(f"refused as a decompression bomb: {exc}") from exc
        except UnidentifiedImageError:
            raise ImageError("not an image Pillow can read (wrong extension or corrupt file)") from None
        except (OSError, SyntaxError, ValueError, EOFError) as exc:
            msg = str(exc)
            if "truncated" in msg:
                raise ImageError("truncated file (image data ends early)") from exc
            raise ImageError(f"corrupt image data: {msg}") from exc
        except MemoryError as exc:
            raise ImageError("image too large to decode") from exc
    if jpeg_block is not None and jpeg_block < 4:
        jpeg_block = None
    return Decoded(rgb, (fw, fh), rgb.shape[1] / max(1, fw), jpeg_block, source)


def decode_raw_preview(path: str | os.PathLike[str], preview: Any, max_side: int | None = None, min_side: int | None = None) -> Decoded:
    """Decode one embedded preview of a RAW file (from :mod:`engine.rawpreview`), upright.

    The RAW's own orientation applies; a preview without one keeps its own EXIF
    orientation.  Only the preview's bytes are read, never the sensor data.
    """
    from engine import rawpreview as rp

    try:
        data = rp.read_bytes(path, preview)
    except rp.RawPreviewError as exc:
        raise ImageError(str(exc)) from exc
    if preview.fmt == "jpeg":
        dec = _decode_pil(data, max_side, min_side, "raw-preview", orientation=preview.orientation)
        dec.preview = preview
        return dec
    from PIL import Image

    arr = np.frombuffer(data, dtype=np.uint8)[: preview.width * preview.height * 3]
    im = Image.fromarray(arr.reshape(preview.height, preview.width, 3))
    im = _orient(im, preview.orientation or 1)
    full = im.size
    if max_side and max(im.size) > max_side:
        im.thumbnail((max_side, max_side), Image.Resampling.BILINEAR)
    rgb = _to_rgb_array(im)
    return Decoded(rgb, full, rgb.shape[1] / full[0], None, "raw-preview", preview)


def _raw_preview(path: Path, max_side: int | None, min_side: int | None) -> Decoded:
    """A RAW through its embedded preview: read from the container itself first (fast, works on
    truncated copies that LibRaw refuses, never touches sensor data), through LibRaw otherwise."""
    from engine import rawpreview as rp

    why = None
    try:
        previews = rp.list_previews(path)
    except rp.RawPreviewError as exc:
        if exc.truncated:  # LibRaw would "develop" the missing sensor data as a black frame
            err = ImageError(str(exc))
            err.truncated = True  # type: ignore[attr-defined]
            raise err from exc
        previews, why = [], str(exc)
    if previews:
        try:
            return decode_raw_preview(path, rp.choose(previews, max_side), max_side, min_side)
        except ImageError as exc:
            why = f"embedded preview unreadable: {exc}"
    try:
        return _libraw_preview(path, max_side, min_side)
    except ImageError as exc:
        if why:
            raise ImageError(f"{exc}; no usable embedded preview ({why})") from exc
        raise


def largest_raw_preview(path: str | os.PathLike[str], max_side: int | None = None, develop: bool = True) -> Decoded:
    """The largest embedded preview of a RAW file, upright (what the GUI's loupe shows).

    ``max_side`` only reduces the decoded pixels; the choice is always the largest
    preview.  ``Decoded.preview`` says which one it was (None when LibRaw made it).
    ``develop=False`` (the GUI) never decodes sensor data: a RAW without any embedded
    preview is an :class:`ImageError` instead of a half-size LibRaw development.
    """
    from engine import rawpreview as rp

    p = Path(path)
    try:
        previews = rp.list_previews(p)
    except rp.RawPreviewError:
        previews = []
    if previews:
        return decode_raw_preview(p, previews[0], max_side, None)
    return _libraw_preview(p, max_side, None, develop)


def preview_record(dec: Decoded) -> dict[str, Any]:
    """The catalog's analysis.preview* columns for a decoded image (all None unless a RAW preview)."""
    if dec.source != "raw-preview":
        return {"preview": None, "preview_width": None, "preview_height": None, "preview_note": None}
    from engine.rawpreview import MIN_JUDGE_SIDE, TOO_SMALL_NOTE

    kind = dec.preview.kind if dec.preview is not None else "libraw"
    w, h = dec.full_size
    return {"preview": kind, "preview_width": w, "preview_height": h, "preview_note": TOO_SMALL_NOTE if max(w, h) < MIN_JUDGE_SIDE else None}


def _libraw_preview(path: Path, max_side: int | None, min_side: int | None, develop: bool = True) -> Decoded:
    try:
        import rawpy
    except ImportError as exc:  # pragma: no cover - a dependency
        raise ImageError("rawpy is not installed, camera RAW files cannot be read") from exc
    try:
        with rawpy.imread(str(path)) as raw:
            flip = int(getattr(raw.sizes, "flip", 0) or 0)
            try:
                thumb = raw.extract_thumb()
            except (rawpy.LibRawNoThumbnailError, rawpy.LibRawUnsupportedThumbnailError):
                thumb = None
            if thumb is not None and thumb.format == rawpy.ThumbFormat.JPEG:
                data = bytes(thumb.data)
                # LibRaw's flip: 0 none, 3 = 180, 5 = 90 CCW, 6 = 90 CW; EXIF inside the preview wins.
                orient = {0: None, 3: 3, 5: 8, 6: 6}.get(flip)
                dec = _decode_pil(data, max_side, min_side, "raw-preview", orientation=orient if orient else None)
                dec.source = "raw-preview"
                return dec
            if thumb is not None and thumb.format == rawpy.ThumbFormat.BITMAP:
                arr = np.asarray(thumb.data, dtype=np.uint8)
            elif not develop:
                raise ImageError("no embedded preview in this RAW file (its sensor data is not developed for viewing)")
            else:
                arr = raw.postprocess(half_size=True, use_camera_wb=True, output_bps=8)
    except ImageError:
        raise
    except Exception as exc:  # rawpy raises many LibRaw* errors
        name = type(exc).__name__
        if "FileUnsupported" in name:
            raise ImageError("not a RAW file LibRaw can read (unsupported or corrupt)") from exc
        if "IO" in name or isinstance(exc, OSError):
            raise ImageError(f"cannot read RAW file: {exc}") from exc
        raise ImageError(f"corrupt RAW file ({name})") from exc
    from PIL import Image

    im = Image.fromarray(arr)
    im = _orient(im, {3: 3, 5: 8, 6: 6}.get(flip, 1))
    full = im.size
    if max_side and max(im.size) > max_side:
        im.thumbnail((max_side, max_side), Image.Resampling.BILINEAR)
    rgb = _to_rgb_array(im)
    return Decoded(rgb, full, rgb.shape[1] / full[0], None, "raw-preview")


_MAGIC: dict[str, tuple[tuple[int, bytes], ...]] = {
    "jpeg": ((0, b"\xff\xd8\xff"),),
    ".png": ((0, b"\x89PNG\r\n\x1a\n"),),
    "tiff": ((0, b"II*\x00"), (0, b"MM\x00*"), (0, b"II+\x00"), (0, b"MM\x00+")),
    "isobmff": ((4, b"ftyp"),),
    ".webp": ((0, b"RIFF"),),
}
_KIND_OF = {**{e: "jpeg" for e in JPEG_EXTENSIONS}, ".png": ".png", ".tif": "tiff", ".tiff": "tiff",
            ".heic": "isobmff", ".heif": "isobmff", ".hif": "isobmff", ".avif": "isobmff", ".webp": ".webp"}  # fmt: skip
_NAMES = {"jpeg": "JPEG", ".png": "PNG", "tiff": "TIFF", "isobmff": "HEIF/AVIF", ".webp": "WebP"}
# RAW headers vary by maker; one that matches no known RAW header is only refused unread when the
# file is also far larger than any camera writes (so a rare RAW is never lost to the sniff).
_RAW_MAGIC = (b"II*\x00", b"MM\x00*", b"IIRO", b"IIRS", b"MMOR", b"IIU\x00", b"FUJIFILM", b"FOVb", b"\x00MRM",
              b"II\x1a\x00\x00\x00HEAPCCDR")  # fmt: skip
RAW_MAX_UNKNOWN = 1 << 30


def sniff(path: str | os.PathLike[str]) -> None:
    """Refuse, from its first bytes, a file whose content is not what its extension says: a 6 GB
    video renamed ``.jpg`` is rejected at once instead of being hashed first."""
    p = Path(path)
    ext = p.suffix.lower()
    try:
        with open(p, "rb") as f:
            head = f.read(32)
            size = os.fstat(f.fileno()).st_size
    except OSError as exc:
        raise ImageError(f"cannot read: {exc.strerror or exc}") from exc
    if not head:
        raise ImageError("empty file (0 bytes)")
    if ext in RAW_EXTENSIONS:
        known = any(head.startswith(m) for m in _RAW_MAGIC) or head[4:8] == b"ftyp"
        if not known and size > RAW_MAX_UNKNOWN:
            raise ImageError(f"not an image: no camera RAW header and {size / 1e9:.1f} GB (not read further)")
        return
    kind = _KIND_OF.get(ext)
    if kind is None:
        return
    if not any(head[off : off + len(m)] == m for off, m in _MAGIC[kind]):
        raise ImageError(f"not an image: its first bytes are no {_NAMES[kind]} header (not read further)")
    if ext == ".webp" and head[8:12] != b"WEBP":
        raise ImageError("not an image: its first bytes are no WebP header (not read further)")


def decode(path: str | os.PathLike[str], max_side: int | None = None, min_side: int | None = None) -> Decoded:
    """Decode ``path`` so that its long side is at most ``max_side``.

    ``min_side`` lets JPEG DCT scaling stop at a coarser scale (long side >=
    ``min_side``) without a further resize, which keeps JPEG block boundaries
    on a known grid.
    """
    p = Path(path)
    try:
        st = p.stat()
    except OSError as exc:
        raise ImageError(f"cannot read: {exc.strerror or exc}") from exc
    if not p.is_file():
        raise ImageError("not a regular file")
    if st.st_size == 0:
        raise ImageError("empty file (0 bytes)")
    if not os.access(p, os.R_OK):
        raise ImageError("permission denied")
    if p.suffix.lower() in RAW_EXTENSIONS:
        if p.suffix.lower() == ".dng":
            try:
                return _raw_preview(p, max_side, min_side)
            except ImageError as exc:
                if getattr(exc, "truncated", False):
                    raise
                try:
                    return _decode_pil(str(p), max_side, min_side, "dng")
                except ImageError:
                    raise exc from None
        return _raw_preview(p, max_side, min_side)
    if p.suffix.lower() == ".avif":
        from PIL import features

        if not features.check("avif"):
            raise ImageError("AVIF: this Pillow was built without an AVIF decoder (libavif)")
    return _decode_pil(str(p), max_side, min_side, p.suffix.lower().lstrip("."))


def open_image(path: str | os.PathLike[str], max_side: int | None = None) -> np.ndarray:
    """RGB uint8 array of ``path`` with orientation applied, long side <= ``max_side``."""
    return decode(path, max_side=max_side).rgb


def load_thumbnail(path: str | os.PathLike[str], max_side: int = 320) -> np.ndarray:
    """A small RGB preview, as fast as possible (embedded previews for RAW, DCT scaling for JPEG)."""
    return decode(path, max_side=max_side).rgb


def encode_jpeg(rgb: np.ndarray, quality: int = 88) -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(rgb).save(buf, "JPEG", quality=quality)
    return buf.getvalue()
