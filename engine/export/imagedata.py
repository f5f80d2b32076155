"""Digests of the *image data* of TIFF/DNG and HEIF files, independent of where metadata
writers move it: used to prove that embedding XMP left the pixels' bytes unchanged.

* TIFF/DNG: every IFD of the chain and every SubIFD (DNG keeps the raw data there) is walked;
  the bytes referenced by StripOffsets/StripByteCounts, TileOffsets/TileByteCounts and
  JPEGInterchangeFormat/-Length are hashed in IFD order.
* HEIF/HEIC/AVIF: the ``meta`` box's ``iinf`` and ``iloc`` give every item and its extents;
  the bytes of every item except metadata items (Exif, XMP/mime, uri) are hashed by item id.
"""

from __future__ import annotations

import hashlib
import struct
from pathlib import Path

from engine.export.jpeg import verify_same_image
from engine.safeio import read_bytes


class ImageDataError(Exception):
    """Unreadable structure; message for the user."""


# -- TIFF ------------------------------------------------------------------------------------------
_TYPE_SIZES = {1: 1, 2: 1, 3: 2, 4: 4, 5: 8, 6: 1, 7: 1, 8: 2, 9: 4, 10: 8, 11: 4, 12: 8, 13: 4}
_OFFSET_TAGS = {273: 279, 324: 325, 513: 514}  # offsets tag -> byte counts tag
_SUBIFDS = 330
_MAX_IFDS = 256


def tiff_digest(data: bytes, source: str = "TIFF") -> str:
    if data[:4] == b"II*\x00":
        e = "<"
    elif data[:4] == b"MM\x00*":
        e = ">"
    elif data[:4] in (b"II+\x00", b"MM\x00+"):
        raise ImageDataError(f"{source}: BigTIFF is not supported for embedding; left untouched")
    else:
        raise ImageDataError(f"{source}: not a TIFF/DNG file")
    n = len(data)

    def u(fmt: str, off: int) -> int:
        if off < 0 or off + struct.calcsize(fmt) > n:
            raise ImageDataError(f"{source}: corrupt TIFF structure (offset {off})")
        return int(struct.unpack(e + fmt, data[off : off + struct.calcsize(fmt)])[0])

    def values(typ: int, count: int, field_pos: int) -> list[int]:
        size = _TYPE_SIZES.get(typ)
        if size is None or typ not in (3, 4, 13):
            return []
        if count > 1_000_000:
            raise ImageDataError(f"{source}: corrupt TIFF structure (count {count})")
        fmt = {3: "H", 4: "I", 13: "I"}[typ]
        base = u("I", field_pos) if size * count > 4 else field_pos
        return [u(fmt, base + i * size) for i in range(count)]

    h = hashlib.blake2b(digest_size=20)
    queue = [u("I", 4)]
    seen: set[int] = set()
    while queue:
        ifd = queue.pop(0)
        if ifd == 0 or ifd in seen:
            continue
        seen.add(ifd)
        if len(seen) > _MAX_IFDS:
            raise ImageDataError(f"{source}: too many IFDs")
        count = u("H", ifd)
        tags: dict[int, list[int]] = {}
        for k in range(count):
            entry = ifd + 2 + 12 * k
            tag, typ, cnt = u("H", entry), u("H", entry + 2), u("I", entry + 4)
            if tag in _OFFSET_TAGS or tag in _OFFSET_TAGS.values() or tag == _SUBIFDS:
                tags[tag] = values(typ, cnt, entry + 8)
        for off_tag, len_tag in _OFFSET_TAGS.items():
            offs, lens = tags.get(off_tag, []), tags.get(len_tag, [])
            h.update(struct.pack("<HI", off_tag, len(offs)))
            for off, ln in zip(offs, lens):
                if off + ln > n:
                    raise ImageDataError(f"{source}: image data beyond the end of the file")
                h.update(data[off : off + ln])
        queue.extend(tags.get(_SUBIFDS, []))
        queue.append(u("I", ifd + 2 + 12 * count))
    return h.hexdigest()


# -- HEIF ------------------------------------------------------------------------------------------
_META_ITEM_TYPES = {b"Exif", b"mime", b"uri "}


def _boxes(data: bytes, start: int, end: int, source: str) -> list[tuple[bytes, int, int]]:
    """``(type, payload_start, box_end)`` of the boxes in ``data[start:end]``."""
    out = []
    pos = start
    while pos + 8 <= end:
        size, typ = struct.unpack(">I4s", data[pos : pos + 8])
        header = 8
        if size == 1:
            if pos + 16 > end:
                raise ImageDataError(f"{source}: corrupt box")
            (size,) = struct.unpack(">Q", data[pos + 8 : pos + 16])
            header = 16
        elif size == 0:
            size = end - pos
        if size < header or pos + size > end:
            raise ImageDataError(f"{source}: corrupt box {typ!r}")
        out.append((typ, pos + header, pos + size))
        pos += size
    return out


def heif_digest(data: bytes, source: str = "HEIF") -> str:
    top = _boxes(data, 0, len(data), source)
    meta = [b for b in top if b[0] == b"meta"]
    if not meta:
        raise ImageDataError(f"{source}: not a HEIF file (no meta box)")
    _, mstart, mend = meta[0]
    children = {t: (s, e) for t, s, e in _boxes(data, mstart + 4, mend, source)}
    if b"iinf" not in children or b"iloc" not in children:
        raise ImageDataError(f"{source}: HEIF without item info/locations")

    def rd(fmt: str, off: int) -> int:
        if off + struct.calcsize(fmt) > len(data):
            raise ImageDataError(f"{source}: corrupt HEIF structure")
        return int(struct.unpack(">" + fmt, data[off : off + struct.calcsize(fmt)])[0])

    def rdn(size: int, off: int) -> int:
        return 0 if size == 0 else rd({4: "I", 8: "Q", 2: "H", 1: "B"}[size], off)

    # item types
    s, e = children[b"iinf"]
    version = data[s]
    entries_at = s + 4 + (2 if version == 0 else 4)
    types: dict[int, bytes] = {}
    for typ, ps, _pe in _boxes(data, entries_at, e, source):
        if typ != b"infe":
            continue
        v = data[ps]
        if v < 2:
            continue
        if v == 2:
            item_id, pos = rd("H", ps + 4), ps + 6
        else:
            item_id, pos = rd("I", ps + 4), ps + 8
        types[item_id] = data[pos + 2 : pos + 6]
    # locations
    s, e = children[b"iloc"]
    version = data[s]
    b1, b2 = data[s + 4], data[s + 5]
    off_size, len_size, base_size = b1 >> 4, b1 & 15, b2 >> 4
    idx_size = (b2 & 15) if version in (1, 2) else 0
    pos = s + 6
    if version < 2:
        count, pos = rd("H", pos), pos + 2
    else:
        count, pos = rd("I", pos), pos + 4
    idat = children.get(b"idat")
    items: dict[int, bytes] = {}
    for _ in range(count):
        if version < 2:
            item_id, pos = rd("H", pos), pos + 2
        else:
            item_id, pos = rd("I", pos), pos + 4
        method = 0
        if version in (1, 2):
            method, pos = rd("H", pos) & 15, pos + 2
        pos += 2  # data_reference_index
        base, pos = rdn(base_size, pos), pos + base_size
        n_ext, pos = rd("H", pos), pos + 2
        chunks = []
        for _ in range(n_ext):
            pos += idx_size
            off, pos = rdn(off_size, pos), pos + off_size
            ln, pos = rdn(len_size, pos), pos + len_size
            if method == 0:
                a = base + off
            elif method == 1 and idat is not None:
                a = idat[0] + base + off
            else:
                chunks.append(b"method%d" % method)
                continue
            b = a + ln if ln else len(data)
            if b > len(data):
                raise ImageDataError(f"{source}: item data beyond the end of the file")
            chunks.append(data[a:b])
        items[item_id] = b"".join(chunks)
    h = hashlib.blake2b(digest_size=20)
    for item_id in sorted(items):
        typ = types.get(item_id, b"????")
        if typ in _META_ITEM_TYPES:
            continue
        h.update(struct.pack(">I", item_id) + typ)
        h.update(hashlib.blake2b(items[item_id], digest_size=20).digest())
    return h.hexdigest()


# -- dispatch --------------------------------------------------------------------------------------
def image_digest(path: Path, kind: str) -> str:
    data = read_bytes(path)
    if kind in ("tiff", "dng"):
        return tiff_digest(data, str(path))
    if kind == "heif":
        return heif_digest(data, str(path))
    raise ImageDataError(f"{path}: no image-data digest for {kind}")


def verify_same_image_data(before: Path, after: Path, kind: str) -> None:
    """Raise :class:`ImageDataError` unless both files hold the same image data bytes."""
    if kind == "jpeg":
        from engine.export.jpeg import JpegError

        try:
            verify_same_image(read_bytes(before), read_bytes(after), str(before))
        except JpegError as exc:
            raise ImageDataError(str(exc)) from None
        return
    if image_digest(before, kind) != image_digest(after, kind):
        raise ImageDataError(f"{before}: verification failed, image data would change; left untouched")
