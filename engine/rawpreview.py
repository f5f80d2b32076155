"""Embedded previews read straight from camera RAW containers, without LibRaw.

A RAW file carries one or more developed previews beside its sensor data: the
camera's own JPEG, usually full-size, which is what Photo Mechanic and every
viewer show.  This module finds them by reading only the container's index
structures and never touches the sensor data:

* CR3 (ISO-BMFF): ``THMB`` in Canon's ``moov/uuid`` box, ``PRVW`` in the
  preview ``uuid`` box, and the full-size JPEG that the first ``trak`` points at
  in ``mdat`` (found through ``stco``/``co64`` + ``stsz`` and kept only when the
  bytes there really are a baseline JPEG); orientation from the ``CMT1`` TIFF.
* TIFF-based RAW (CR2, NEF, ARW, DNG, ORF, RW2, PEF, SRW, ...): every IFD of the
  IFD0 chain, its SubIFDs and the Exif IFD: ``JPEGInterchangeFormat`` (the
  ``PreviewImage``/``JpgFromRaw`` of exiftool), JPEG-compressed strips, RW2's
  ``JpgFromRaw`` tag (0x2E), and 8-bit uncompressed RGB reduced-resolution
  images (DNG previews); orientation from IFD0.
* RAF: the JPEG offset and length of the header.

Why hand-written: ``tifffile`` (the maintained TIFF reader) refuses the ORF
(``IIRO``/``IIRS``) and RW2 (``IIU``) magics and does not expose
``JPEGInterchangeFormat`` previews or RW2's ``JpgFromRaw`` as pages, and no
maintained library reads CR3's box tree or RAF's header for previews
(exifread reads tags but not CR3/RAF previews).  What is parsed is small: tag
tables and box headers, each offset checked against the file and its parent
box, every loop bounded, every candidate JPEG verified by walking its markers
to a baseline/progressive SOF (lossless JPEG, SOF3, is sensor data and is
never taken).  A hostile file costs at most a few hundred small reads and ends
in one :class:`RawPreviewError` line.
"""

from __future__ import annotations

import contextlib
import os
import struct
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

# Below this long side a preview is too small to judge focus (the shot is still listed and grouped).
MIN_JUDGE_SIDE = 1000
TOO_SMALL_NOTE = "preview too small to judge focus"

_MAX_IFDS = 64
_MAX_ENTRIES = 4096
_MAX_BOXES = 4096
_MAX_DEPTH = 8
_MAX_JPEG_MARKERS = 512
_MAX_PREVIEW_BYTES = 256 * 2**20

CANON_UUID = bytes.fromhex("85c0b687820f11e08111f4ce462b6a48")
PREVIEW_UUID = bytes.fromhex("eaf42b5e1c984b88b9fbb7dc406e4d16")


class RawPreviewError(Exception):
    """No usable preview in a RAW container; ``str(err)`` is one user-facing line.

    ``truncated`` is True when the container itself points at previews past the end of
    the file (a copy cut short): nothing else in it (sensor data included) is trusted then.
    """

    def __init__(self, message: str, truncated: bool = False):
        super().__init__(message)
        self.truncated = truncated


@dataclass(frozen=True)
class Preview:
    """One embedded preview: where it lies in the file and what it is."""

    kind: str  # e.g. "cr3:PRVW", "cr3:trak1", "tiff:ifd0.subifd1", "rw2:JpgFromRaw", "raf:jpeg"
    offset: int
    length: int
    width: int  # as stored (before orientation)
    height: int
    fmt: str = "jpeg"  # "jpeg" or "rgb8" (uncompressed 8-bit RGB strips)
    orientation: int | None = None  # the RAW's own EXIF orientation (1-8), None when it has none

    @property
    def long_side(self) -> int:
        return max(self.width, self.height)

    def label(self) -> str:
        return f"{self.kind} {self.width}x{self.height}"


class _File:
    """Bounded random reads on an open file."""

    def __init__(self, fp: BinaryIO, size: int):
        self.fp = fp
        self.size = size
        self.reads = 0
        self.beyond = 0  # previews that the container places past the end of the file

    def read(self, off: int, n: int) -> bytes:
        if off < 0 or n < 0 or off + n > self.size:
            raise RawPreviewError(
                f"offset {off}+{n} lies outside the file ({self.size} bytes): truncated or corrupt"
            )
        self.reads += 1
        if self.reads > 20000:
            raise RawPreviewError("refused: the container's index is too large or loops")
        self.fp.seek(off)
        data = self.fp.read(n)
        if len(data) != n:
            raise RawPreviewError("file ends early (truncated)")
        return data


# -- JPEG ---------------------------------------------------------------------------------------


def jpeg_size(f: _File, off: int, length: int) -> tuple[int, int] | None:
    """(width, height) of a baseline/progressive JPEG at ``off`` of ``length`` bytes, else None.

    Walks the marker segments to the first SOF; None for lossless JPEG (sensor
    data), for a stream that leaves the file or ``length``, or for anything that is not a JPEG.
    """
    end = off + length
    if length < 64 or end > f.size:
        return None
    if f.read(off, 2) != b"\xff\xd8":
        return None
    pos = off + 2
    for _ in range(_MAX_JPEG_MARKERS):
        if pos + 4 > end:
            return None
        head = f.read(pos, 4)
        if head[0] != 0xFF:
            return None
        marker = head[1]
        if marker == 0xFF:  # fill byte
            pos += 1
            continue
        if marker in (0x01,) or 0xD0 <= marker <= 0xD7:
            pos += 2
            continue
        seg = struct.unpack(">H", head[2:])[0]
        if seg < 2 or pos + 2 + seg > end:
            return None
        if marker in (0xC0, 0xC1, 0xC2):
            if seg < 8:
                return None
            sof = f.read(pos + 4, 5)
            h, w = struct.unpack(">HH", sof[1:5])
            return (w, h) if w > 0 and h > 0 else None
        if 0xC3 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC):
            return None  # lossless / hierarchical / arithmetic: raw sensor data or exotic
        if marker in (0xD9, 0xDA):
            return None  # end of image or scan before any frame header
        pos += 2 + seg
    return None


# -- TIFF ---------------------------------------------------------------------------------------

_TYPE_SIZE = {1: 1, 2: 1, 3: 2, 4: 4, 5: 8, 6: 1, 7: 1, 8: 2, 9: 4, 10: 8, 11: 4, 12: 8, 13: 4}


class _Tiff:
    def __init__(self, f: _File, base: int, end: int, what: str):
        self.f, self.base, self.end, self.what = f, base, end, what
        head = f.read(base, 8)
        if head[:2] == b"II":
            self.bo = "<"
        elif head[:2] == b"MM":
            self.bo = ">"
        else:
            raise RawPreviewError(f"not a {what} file (no TIFF header)")
        magic = struct.unpack(self.bo + "H", head[2:4])[0]
        if magic not in (42, 0x4F52, 0x5352, 0x55):  # TIFF, ORF (IIRO/IIRS), RW2 (IIU)
            raise RawPreviewError(f"not a {what} file (TIFF magic {magic:#x})")
        self.magic = magic
        self.ifd0 = struct.unpack(self.bo + "I", head[4:8])[0]

    def ifd(self, off: int) -> tuple[dict[int, tuple[int, int, int]], int]:
        """{tag: (type, count, value_or_offset_field_position)} and the next IFD's offset."""
        a = self.base + off
        if off < 8 or a + 2 > self.end:
            raise RawPreviewError(f"IFD offset {off} lies outside the file: truncated or corrupt")
        n = struct.unpack(self.bo + "H", self.f.read(a, 2))[0]
        if n == 0 or n > _MAX_ENTRIES or a + 2 + 12 * n + 4 > self.end:
            raise RawPreviewError(
                f"IFD at {off} has {n} entries that do not fit the file: truncated or corrupt"
            )
        raw = self.f.read(a + 2, 12 * n + 4)
        tags = {}
        for i in range(n):
            tag, typ, count = struct.unpack(self.bo + "HHI", raw[12 * i : 12 * i + 8])
            tags[tag] = (typ, count, a + 2 + 12 * i + 8)
        return tags, struct.unpack(self.bo + "I", raw[-4:])[0]

    def values(self, entry: tuple[int, int, int], limit: int = 64) -> list[int]:
        typ, count, field = entry
        size = _TYPE_SIZE.get(typ)
        if size is None or typ not in (1, 3, 4, 7, 13) or count == 0:
            return []
        count = min(count, limit)
        nbytes = size * count
        if nbytes <= 4:
            pos = field
        else:
            pos = self.base + struct.unpack(self.bo + "I", self.f.read(field, 4))[0]
            if pos + nbytes > self.end:
                return []
        fmt = {1: "B", 7: "B", 3: "H", 4: "I", 13: "I"}[typ]
        return list(struct.unpack(self.bo + fmt * count, self.f.read(pos, nbytes)))

    def one(self, tags: dict[int, tuple[int, int, int]], tag: int) -> int | None:
        if tag not in tags:
            return None
        v = self.values(tags[tag], 1)
        return v[0] if v else None


def _tiff_candidates(t: _Tiff, prefix: str) -> tuple[list[Preview], int | None]:
    out: list[Preview] = []
    f = t.f
    seen: set[int] = set()
    orientation: int | None = None

    def jpeg(kind: str, off: int, length: int) -> None:
        if length <= 0 or length > _MAX_PREVIEW_BYTES:
            return
        if off + length > t.end:
            f.beyond += 1
            return
        wh = jpeg_size(f, off, length)
        if wh:
            out.append(Preview(kind, off, length, wh[0], wh[1]))

    def visit(off: int, name: str, depth: int) -> None:
        if off in seen or len(seen) >= _MAX_IFDS or depth > 3:
            return
        seen.add(off)
        tags, _next = t.ifd(off)
        if 513 in tags and 514 in tags:
            o, n = t.one(tags, 513), t.one(tags, 514)
            if o is not None and n is not None:
                jpeg(name, t.base + o, n)
        comp = t.one(tags, 259)
        offs, counts = (
            t.values(tags.get(273, (0, 0, 0)), 4096),
            t.values(tags.get(279, (0, 0, 0)), 4096),
        )
        if offs and len(offs) == len(counts):
            contiguous = all(offs[i] + counts[i] == offs[i + 1] for i in range(len(offs) - 1))
            start, total = t.base + offs[0], sum(counts)
            if comp in (6, 7) and contiguous:
                jpeg(name, start, total)
            elif comp == 1 and contiguous and start + total <= t.end:
                w, h = t.one(tags, 256), t.one(tags, 257)
                bps = t.values(tags.get(258, (0, 0, 0)), 4)
                spp, photo, sub = t.one(tags, 277), t.one(tags, 262), t.one(tags, 254)
                planar = t.one(tags, 284) or 1
                if (
                    w and h and spp == 3 and photo == 2 and bps and all(b == 8 for b in bps)
                    and sub is not None and sub & 1 and planar == 1 and total >= w * h * 3
                ):  # fmt: skip
                    out.append(Preview(name, start, w * h * 3, w, h, fmt="rgb8"))
        if 46 in tags and tags[46][0] in (1, 7):  # RW2 JpgFromRaw, stored inline as UNDEFINED bytes
            typ, count, field = tags[46]
            if count > 4:
                jpeg(
                    f"{prefix}:JpgFromRaw",
                    t.base + struct.unpack(t.bo + "I", f.read(field, 4))[0],
                    count,
                )
        for k, sub_off in enumerate(t.values(tags[330], 16) if 330 in tags else []):
            try:
                visit(sub_off, f"{name}.subifd{k}", depth + 1)
            except RawPreviewError:
                continue  # one broken SubIFD does not hide the others
        if 34665 in tags:
            exif = t.one(tags, 34665)
            if exif:
                with contextlib.suppress(RawPreviewError):
                    visit(exif, f"{name}.exif", depth + 1)
        if 37500 in tags:  # MakerNote: Olympus keeps the ORF's preview there
            with contextlib.suppress(RawPreviewError):
                _olympus_preview(t, tags[37500], jpeg)

    off = t.ifd0
    for i in range(_MAX_IFDS):
        if off == 0 or off in seen:
            break
        try:
            tags, nxt = t.ifd(off)
        except RawPreviewError:
            if i == 0:
                raise
            break  # a later IFD broken (a truncated copy): keep what was found before it
        if i == 0:
            o = t.one(tags, 274)
            orientation = o if o is not None and 1 <= o <= 8 else None
        visit(off, f"{prefix}:ifd{i}", 0)
        off = nxt
    return out, orientation


def _olympus_preview(
    t: _Tiff, entry: tuple[int, int, int], jpeg: Callable[[str, int, int], None]
) -> None:
    """ORF: CameraSettings (0x2020) of the Olympus maker note holds PreviewImageStart/Length."""
    typ, count, field = entry
    if typ not in (1, 7) or count < 16:
        return
    mn = t.base + struct.unpack(t.bo + "I", t.f.read(field, 4))[0]
    if mn + 16 > t.end:
        return
    head = t.f.read(mn, 12)
    sub = _Tiff.__new__(_Tiff)
    sub.f, sub.end, sub.what, sub.magic = t.f, t.end, "Olympus maker note", 0
    if head.startswith(b"OLYMPUS\0") and head[8:10] in (b"II", b"MM"):
        # new style: offsets from the maker note's start, its own byte order, IFD at +12
        sub.base, sub.bo, first = mn, ("<" if head[8:10] == b"II" else ">"), 12
    elif head.startswith(b"OLYMP\0"):
        sub.base, sub.bo, first = (
            t.base,
            t.bo,
            mn - t.base + 8,
        )  # old style: offsets from the TIFF header
    else:
        return
    tags, _ = sub.ifd(first)
    if 0x2020 not in tags:
        return
    cs = struct.unpack(sub.bo + "I", sub.f.read(tags[0x2020][2], 4))[0]
    cst, _ = sub.ifd(cs)
    start, length = sub.one(cst, 0x101), sub.one(cst, 0x102)
    if start and length:
        jpeg("orf:makernote.PreviewImage", sub.base + start, length)


def _tiff_previews(f: _File, kind: str) -> list[Preview]:
    t = _Tiff(f, 0, f.size, kind.upper())
    prefix = {0x55: "rw2", 0x4F52: "orf", 0x5352: "orf"}.get(t.magic, "tiff")
    found, orientation = _tiff_candidates(t, prefix)
    return [_with_orientation(p, orientation) for p in found]


def _with_orientation(p: Preview, orientation: int | None) -> Preview:
    return Preview(p.kind, p.offset, p.length, p.width, p.height, p.fmt, orientation)


# -- ISO-BMFF (CR3) -----------------------------------------------------------------------------


def _boxes(f: _File, start: int, end: int) -> list[tuple[bytes, int, int, int]]:
    """(type, box start, payload start, box end) of the boxes in [start, end), sizes checked."""
    out: list[tuple[bytes, int, int, int]] = []
    pos = start
    while pos + 8 <= end:
        if len(out) >= _MAX_BOXES:
            raise RawPreviewError("refused: too many boxes (corrupt container)")
        size, typ = struct.unpack(">I4s", f.read(pos, 8))
        head = 8
        if size == 1:
            if pos + 16 > end:
                raise RawPreviewError("box header leaves its parent: truncated or corrupt")
            size = struct.unpack(">Q", f.read(pos + 8, 8))[0]
            head = 16
        elif size == 0:
            size = end - pos
        if size < head or pos + size > end:
            # The last box of a truncated copy runs past the end: keep the boxes before it.
            if pos + size > end and size >= head:
                out.append((typ, pos, pos + head, -1))
                return out
            raise RawPreviewError(f"box {typ!r} has an impossible size {size}: corrupt")
        out.append((typ, pos, pos + head, pos + size))
        pos += size
    return out


def _children(
    f: _File, box: tuple[bytes, int, int, int], skip: int = 0
) -> list[tuple[bytes, int, int, int]]:
    _typ, _s, payload, end = box
    if end < 0:
        return []
    return _boxes(f, payload + skip, end)


def _cr3_previews(f: _File) -> list[Preview]:
    top = _boxes(f, 0, f.size)
    if not top or top[0][0] != b"ftyp":
        raise RawPreviewError("not a CR3 file (no ftyp box)")
    brand = f.read(top[0][2], 4) if top[0][3] > 0 and top[0][3] - top[0][2] >= 4 else b""
    if brand != b"crx ":
        raise RawPreviewError(f"not a CR3 file (brand {brand!r})")
    out: list[Preview] = []
    orientation: int | None = None
    moov = next((b for b in top if b[0] == b"moov"), None)
    traks: list[tuple[bytes, int, int, int]] = []
    if moov is not None:
        for b in _children(f, moov):
            if b[0] == b"uuid" and b[3] > 0 and f.read(b[2], 16) == CANON_UUID:
                for c in _children(f, b, 16):
                    if c[0] == b"CMT1" and c[3] > 0:
                        try:
                            t = _Tiff(f, c[2], c[3], "CR3 CMT1")
                            tags, _ = t.ifd(t.ifd0)
                            o = t.one(tags, 274)
                            orientation = o if o is not None and 1 <= o <= 8 else None
                        except RawPreviewError:
                            pass
                    elif c[0] == b"THMB" and c[3] > 0:
                        _cr3_thumb(f, c, "cr3:THMB", out)
            elif b[0] == b"trak":
                traks.append(b)
    for b in top:
        if (
            b[0] == b"uuid"
            and b[3] != -1
            and b[3] - b[2] >= 16
            and f.read(b[2], 16) == PREVIEW_UUID
        ):
            # 16 bytes of uuid, then 8 bytes (a version and a count), then the PRVW box
            for c in _boxes(f, b[2] + 24, b[3]):
                if c[0] == b"PRVW" and c[3] > 0:
                    _cr3_thumb(f, c, "cr3:PRVW", out)
    for i, trak in enumerate(traks, start=1):
        try:
            span = _trak_first_sample(f, trak)
        except RawPreviewError:
            continue
        if span is not None:
            off, length = span
            if 0 < length <= _MAX_PREVIEW_BYTES and off + length > f.size:
                f.beyond += 1
            elif 0 < length <= _MAX_PREVIEW_BYTES:
                wh = jpeg_size(f, off, length)
                if wh:
                    out.append(Preview(f"cr3:trak{i}", off, length, wh[0], wh[1]))
    return [_with_orientation(p, orientation) for p in out]


def _cr3_thumb(f: _File, box: tuple[bytes, int, int, int], kind: str, out: list[Preview]) -> None:
    """THMB/PRVW: a small header (width, height, JPEG length) then the JPEG itself."""
    _t, _s, payload, end = box
    if end - payload < 16:
        return
    # THMB: version(1) flags(3) w(2) h(2) len(4) ?(4); PRVW: ?(4) ?(2) w(2) h(2) ?(2) len(4)
    head = f.read(payload, 16)
    for jpeg_at, len_at in ((payload + 16, 8), (payload + 16, 12)):
        n = struct.unpack(">I", head[len_at : len_at + 4])[0]
        if 0 < n <= end - jpeg_at:
            wh = jpeg_size(f, jpeg_at, n)
            if wh:
                out.append(Preview(kind, jpeg_at, n, wh[0], wh[1]))
                return


def _trak_first_sample(f: _File, trak: tuple[bytes, int, int, int]) -> tuple[int, int] | None:
    def find(
        box: tuple[bytes, int, int, int], path: list[bytes]
    ) -> tuple[bytes, int, int, int] | None:
        for c in _children(f, box):
            if c[0] == path[0]:
                return c if len(path) == 1 else find(c, path[1:])
        return None

    stbl = find(trak, [b"mdia", b"minf", b"stbl"])
    if stbl is None:
        return None
    offset = size = None
    for c in _children(f, stbl):
        if c[3] < 0 or c[3] - c[2] < 12:
            continue
        if c[0] == b"stsz":
            sample_size, count = struct.unpack(">II", f.read(c[2] + 4, 8))
            size = sample_size or (
                struct.unpack(">I", f.read(c[2] + 12, 4))[0]
                if count and c[3] - c[2] >= 16
                else None
            )
        elif c[0] == b"co64" and c[3] - c[2] >= 16:
            offset = struct.unpack(">Q", f.read(c[2] + 8, 8))[0]
        elif c[0] == b"stco":
            offset = struct.unpack(">I", f.read(c[2] + 8, 4))[0]
    if offset is None or not size:
        return None
    return offset, size


# -- RAF ----------------------------------------------------------------------------------------


def _raf_previews(f: _File) -> list[Preview]:
    if f.size < 108 or f.read(0, 16) != b"FUJIFILMCCD-RAW ":
        raise RawPreviewError("not a RAF file (no FUJIFILM header)")
    off, length = struct.unpack(">II", f.read(84, 8))
    if off + length > f.size:
        raise RawPreviewError(
            f"RAF preview at {off}+{length} lies outside the file ({f.size} bytes): truncated",
            truncated=True,
        )
    wh = jpeg_size(f, off, length)
    return [Preview("raf:jpeg", off, length, wh[0], wh[1])] if wh else []


# -- public -------------------------------------------------------------------------------------

_PARSERS: dict[str, Callable[[_File], list[Preview]]] = {
    "cr3": _cr3_previews,
    "raf": _raf_previews,
}


def _sniff(head: bytes) -> str | None:
    if head[4:8] == b"ftyp":
        return "cr3"
    if head.startswith(b"FUJIFILM"):
        return "raf"
    if head[:2] in (b"II", b"MM"):
        return "tiff"
    return None


def list_previews(path: str | os.PathLike[str]) -> list[Preview]:
    """Every usable embedded preview of ``path``, largest first (never empty).

    Raises :class:`RawPreviewError` (one line) when there is none or the container is corrupt.
    """
    p = Path(path)
    try:
        with open(p, "rb") as fp:
            size = os.fstat(fp.fileno()).st_size
            f = _File(fp, size)
            if size < 16:
                raise RawPreviewError("file too short to be a RAW container")
            kind = _sniff(f.read(0, 16))
            if kind is None:
                raise RawPreviewError(
                    "not a RAW container this reader knows (CR3, TIFF-based, RAF)"
                )
            found = (
                _PARSERS[kind](f)
                if kind in _PARSERS
                else _tiff_previews(f, p.suffix.lstrip(".") or "TIFF")
            )
            if not found and f.beyond:
                raise RawPreviewError(
                    f"truncated file: its embedded preview lies past the end of the file ({size} bytes)",
                    truncated=True,
                )
            if not found:
                raise RawPreviewError(f"no embedded preview found in this {kind.upper()} container")
    except OSError as exc:
        raise RawPreviewError(f"cannot read: {exc.strerror or exc}") from exc
    except (struct.error, ValueError, OverflowError, IndexError, KeyError) as exc:
        raise RawPreviewError(f"corrupt RAW container ({exc})") from exc
    uniq: dict[tuple[int, int], Preview] = {}
    for pv in found:
        uniq.setdefault((pv.offset, pv.length), pv)
    return sorted(uniq.values(), key=lambda pv: (-pv.width * pv.height, pv.kind))


def choose(previews: list[Preview], want_side: int | None) -> Preview:
    """The preview to decode for a long side of ``want_side`` (None: the largest).

    The smallest preview whose long side reaches ``want_side`` (a 1620 px PRVW is
    not used when a full-size JPEG is there and 2,000 px are wanted), else the largest.
    """
    if not previews:
        raise RawPreviewError("no embedded preview found")
    if want_side:
        enough = [p for p in previews if p.long_side >= want_side]
        if enough:
            return min(enough, key=lambda p: (p.width * p.height, p.kind))
    return previews[0]


def read_bytes(path: str | os.PathLike[str], preview: Preview) -> bytes:
    """The stored bytes of ``preview`` (a JPEG stream, or packed RGB for ``fmt == "rgb8"``)."""
    try:
        with open(path, "rb") as fp:
            size = os.fstat(fp.fileno()).st_size
            return _File(fp, size).read(preview.offset, preview.length)
    except OSError as exc:
        raise RawPreviewError(f"cannot read: {exc.strerror or exc}") from exc


def cr3_metadata_blocks(path: str | os.PathLike[str]) -> dict[str, bytes]:
    """A CR3's metadata TIFFs (``CMT1`` = IFD0 with make/model/orientation, ``CMT2`` = the Exif
    IFD with DateTimeOriginal, ``CMT3`` = Canon maker note, ``CMT4`` = GPS), each a complete
    little TIFF that exifread reads (``exifread.process_file(io.BytesIO(block))``).  exifread
    cannot open CR3 itself.  {} when the file is not a readable CR3."""
    out: dict[str, bytes] = {}
    try:
        with open(path, "rb") as fp:
            f = _File(fp, os.fstat(fp.fileno()).st_size)
            top = _boxes(f, 0, f.size)
            if not top or top[0][0] != b"ftyp":
                return {}
            for b in (b for b in top if b[0] == b"moov"):
                for u in _children(f, b):
                    if u[0] == b"uuid" and u[3] > 0 and f.read(u[2], 16) == CANON_UUID:
                        for c in _children(f, u, 16):
                            name = c[0].decode("latin-1")
                            if name in ("CMT1", "CMT2", "CMT3", "CMT4") and c[3] > 0 and c[3] - c[2] <= 1 << 20:
                                out[name] = f.read(c[2], c[3] - c[2])
    except (OSError, RawPreviewError, struct.error, ValueError):
        return {}
    return out


def largest_preview(path: str | os.PathLike[str]) -> tuple[Preview, bytes]:
    """The largest embedded preview of a RAW file and its bytes (what a loupe shows).

    Decode it with :func:`engine.images.decode_raw_preview` (orientation applied).
    """
    pv = choose(list_previews(path), None)
    return pv, read_bytes(path, pv)
