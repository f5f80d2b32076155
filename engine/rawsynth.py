"""Synthetic camera RAW containers for tests and benchmarks (no camera file is needed).

Each writer lays out a real container (CR3 box tree, TIFF-based RAW, RAF header)
with the given embedded JPEG previews, the RAW's orientation, and a block of fake
sensor data that no JPEG decoder can read, so a reader that ever touched the
sensor data would fail.
"""

from __future__ import annotations

import io
import struct
from pathlib import Path

import numpy as np

from engine.rawpreview import CANON_UUID, PREVIEW_UUID


def jpeg(
    width: int, height: int, *, seed: int = 0, image: np.ndarray | None = None, quality: int = 85
) -> bytes:
    """A baseline JPEG: ``image`` resized, or a smooth gradient; a white block marks the top-left."""
    from PIL import Image

    if image is not None:
        im = Image.fromarray(image).resize((width, height), Image.Resampling.BILINEAR)
        arr = np.asarray(im).copy()
    else:
        y, x = np.mgrid[0:height, 0:width]
        arr = np.zeros((height, width, 3), np.uint8)
        arr[..., 0] = 180
        arr[..., 1] = (x * 120 // max(1, width - 1) + seed * 7) % 256
        arr[..., 2] = (y * 120 // max(1, height - 1)).astype(np.uint8)
    bw, bh = max(8, width // 10), max(8, height // 10)
    arr[:bh, :bw] = 255
    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, "JPEG", quality=quality)
    return buf.getvalue()


def fake_sensor_data(n: int = 64 * 1024) -> bytes:
    return (np.random.default_rng(1).integers(0, 4096, n // 2, dtype=np.uint16)).tobytes()


# -- ISO-BMFF -------------------------------------------------------------------------------------


Entries = list[tuple[int, int, object]]


def _box(typ: bytes, payload: bytes) -> bytes:
    return struct.pack(">I4s", 8 + len(payload), typ) + payload


def _tiff_ifd0(orientation: int, make: str = "Canon", model: str = "Canon EOS R6") -> bytes:
    return tiff_bytes(
        [
            [
                (271, 2, make.encode() + b"\0"),
                (272, 2, model.encode() + b"\0"),
                (274, 3, [orientation]),
            ]
        ]
    )


def _trak(offset: int, size: int, width: int, height: int) -> bytes:
    stsd = _box(
        b"stsd",
        struct.pack(">II", 0, 1)
        + _box(b"CRAW", b"\0" * 24 + struct.pack(">HH", width, height) + b"\0" * 50),
    )
    stsz = _box(b"stsz", struct.pack(">III", 0, size, 1))
    co64 = _box(b"co64", struct.pack(">IIQ", 0, 1, offset))
    stbl = _box(b"stbl", stsd + stsz + co64)
    return _box(b"trak", _box(b"tkhd", b"\0" * 84) + _box(b"mdia", _box(b"minf", stbl)))


# Exif IFD tags (CR3's CMT2 box)
EXIF_DATETIME_ORIGINAL = 0x9003
EXIF_OFFSET_TIME_ORIGINAL = 0x9011
EXIF_SUBSEC_TIME_ORIGINAL = 0x9291
EXIF_BODY_SERIAL = 0xA431
EXIF_LENS_MODEL = 0xA434


def cr3(
    path: Path,
    *,
    full: tuple[int, int] | None = (2400, 1600),
    prvw: tuple[int, int] | None = (1620, 1080),
    thmb: tuple[int, int] | None = (160, 120),
    orientation: int = 1,
    image: np.ndarray | None = None,
    model: str = "Canon EOS R6",
    exif: dict[int, str] | None = None,
    cmt2: bytes | None = None,
) -> bytes:
    """A CR3 box tree: ftyp, moov (Canon uuid with CMT1 + THMB, trak1 = full JPEG, trak2 = sensor
    data), the preview uuid with PRVW, then mdat.  Writes ``path`` and returns its bytes.
    ``exif`` (Exif IFD tag -> ASCII value, e.g. ``{EXIF_DATETIME_ORIGINAL: "2026:06:01 08:00:00"}``)
    adds a ``CMT2`` box, the Exif IFD as its own TIFF, as Canon writes it; ``cmt2`` gives that
    box's raw bytes instead (a hostile block)."""  # fmt: skip
    full_jpg = jpeg(*full, image=image) if full else b""
    raw = fake_sensor_data()
    canon = (
        CANON_UUID
        + _box(b"CNCV", b"CanonCR3_001/00.09.00/00.00.00")
        + _box(b"CMT1", _tiff_ifd0(orientation, model=model))
    )
    if exif is not None:
        cmt2 = tiff_bytes([[(tag, 2, val.encode() + b"\0") for tag, val in sorted(exif.items())]])
    if cmt2 is not None:
        canon += _box(b"CMT2", cmt2)
    if thmb:
        t = jpeg(*thmb, image=image)
        canon += _box(b"THMB", struct.pack(">IHHIHH", 0, thmb[0], thmb[1], len(t), 1, 0) + t)
    prvw_box = b""
    if prvw:
        p = jpeg(*prvw, image=image)
        prvw_box = _box(
            b"uuid",
            PREVIEW_UUID
            + struct.pack(">II", 0, 1)
            + _box(b"PRVW", struct.pack(">IHHHHI", 0, 1, prvw[0], prvw[1], 1, len(p)) + p),
        )
    ftyp = _box(b"ftyp", b"crx " + struct.pack(">I", 1) + b"crx isom")

    def moov(off_full: int, off_raw: int) -> bytes:
        traks = (_trak(off_full, len(full_jpg), *(full or (0, 0))) if full else b"") + _trak(
            off_raw, len(raw), 6000, 4000
        )
        return _box(b"moov", _box(b"mvhd", b"\0" * 100) + _box(b"uuid", canon) + traks)

    head = len(ftyp) + len(moov(0, 0)) + len(prvw_box) + 8
    data = ftyp + moov(head, head + len(full_jpg)) + prvw_box + _box(b"mdat", full_jpg + raw)
    Path(path).write_bytes(data)
    return data


# -- TIFF ----------------------------------------------------------------------------------------


def tiff_bytes(
    ifds: list[Entries],
    *,
    magic: bytes = b"II*\x00",
    subifds: dict[int, list[Entries]] | None = None,
    tail: bytes = b"",
) -> bytes:
    """A little-endian TIFF of a chain of IFDs.  Entries are (tag, type, value): a list of ints,
    bytes (ASCII/UNDEFINED), or ("data", bytes) for an offset (type LONG) to a blob written after
    the IFDs, with its length in the next entry's ("len", blob) value.  ``subifds[i]`` hangs IFDs
    under chain IFD ``i`` (tag 330).  ``tail`` (sensor data) goes last."""
    subifds = subifds or {}
    blobs: list[bytes] = []

    def layout(
        start: int,
        entries: list[tuple[int, int, object]],
        next_off: int,
        blob_base: int,
        extra: dict[int, int],
    ) -> tuple[bytes, bytes]:
        ents = sorted(
            entries + [(330, 4, [extra[k] for k in sorted(extra)])] if extra else entries,
            key=lambda e: e[0],
        )
        body = struct.pack("<H", len(ents))
        data = b""
        data_at = start + 2 + 12 * len(ents) + 4
        for tag, typ, val in ents:
            if isinstance(val, tuple) and val[0] == "data":
                body += struct.pack("<HHII", tag, 4, 1, blob_base + sum(len(b) for b in blobs))
                blobs.append(val[1])  # type: ignore[arg-type]
                continue
            if isinstance(val, tuple) and val[0] == "len":
                body += struct.pack("<HHII", tag, 4, 1, len(val[1]))  # type: ignore[arg-type]
                continue
            if isinstance(val, bytes):
                raw, count = val, len(val)
                if typ == 7 and tag == 46:  # RW2 JpgFromRaw: the bytes are the value, at an offset
                    body += struct.pack(
                        "<HHII", tag, 7, count, blob_base + sum(len(b) for b in blobs)
                    )
                    blobs.append(val)
                    continue
            else:
                fmt = {3: "H", 4: "I"}[typ]
                ints = list(val)  # type: ignore[call-overload]
                raw, count = struct.pack("<" + fmt * len(ints), *ints), len(ints)
            if len(raw) <= 4:
                body += struct.pack("<HHI", tag, typ, count) + raw.ljust(4, b"\0")
            else:
                body += struct.pack("<HHII", tag, typ, count, data_at + len(data))
                data += raw + (b"\0" if len(raw) % 2 else b"")
        body += struct.pack("<I", next_off)
        return body, data

    def build(blob_base: int, chain_at: list[int] | None) -> tuple[bytes, list[int]]:
        """Lay the IFDs out (sub-IFDs before their parent); sizes never depend on offsets, so a
        first pass finds every position and the second fills in the next-IFD pointers."""
        blobs.clear()
        out = bytearray(magic + struct.pack("<I", chain_at[0] if chain_at else 0))
        pos, starts = 8, []
        for i, entries in enumerate(ifds):
            subs: dict[int, int] = {}
            for k, sub in enumerate(subifds.get(i, [])):
                body, data = layout(pos, sub, 0, blob_base, {})
                subs[k] = pos
                out += body + data
                pos += len(body) + len(data)
            starts.append(pos)
            nxt = chain_at[i + 1] if chain_at and i + 1 < len(ifds) else 0
            body, data = layout(pos, entries, nxt, blob_base, subs)
            out += body + data
            pos += len(body) + len(data)
        return bytes(out), starts

    first, starts = build(0, None)
    final, _ = build(len(first), starts)
    return final + b"".join(blobs) + tail


def tiff_raw(
    path: Path,
    *,
    preview: tuple[int, int] = (2400, 1600),
    thumb: tuple[int, int] = (160, 120),
    orientation: int = 1,
    magic: bytes = b"II*\x00",
    image: np.ndarray | None = None,
    rw2: bool = False,
) -> bytes:
    """A NEF/ARW/CR2/PEF/SRW/DNG-like RAW: IFD0 (orientation, thumbnail as JPEGInterchangeFormat)
    with SubIFD0 = the big preview JPEG and SubIFD1 = uncompressed 16-bit sensor data; RW2-style
    (``rw2=True``, magic ``IIU``) carries the big preview in tag 0x2E (JpgFromRaw) of IFD0."""  # fmt: skip
    big = jpeg(*preview, image=image)
    small = jpeg(*thumb, image=image)
    raw = fake_sensor_data()
    ifd0: Entries = [
        (254, 4, [1]), (256, 3, [thumb[0]]), (257, 3, [thumb[1]]), (259, 3, [6]), (271, 2, b"NIKON CORPORATION\0"),
        (272, 2, b"NIKON Z 6\0"), (274, 3, [orientation]), (513, 4, ("data", small)), (514, 4, ("len", small)),
    ]  # fmt: skip
    if rw2:
        ifd0.append((46, 7, big))
        data = tiff_bytes([ifd0], magic=magic)
    else:
        sub_preview: Entries = [
            (254, 4, [1]),
            (259, 3, [6]),
            (513, 4, ("data", big)),
            (514, 4, ("len", big)),
        ]
        # sensor data sits after everything (tail), at a known offset filled in below
        sub_raw: Entries = [
            (254, 4, [0]),
            (256, 3, [256]),
            (257, 3, [128]),
            (258, 3, [16]),
            (259, 3, [1]),
            (262, 3, [32803]),
            (273, 4, [0]),
            (279, 4, [len(raw)]),
        ]
        probe = tiff_bytes([ifd0], subifds={0: [sub_preview, sub_raw]}, magic=magic)
        sub_raw[6] = (273, 4, [len(probe)])
        data = tiff_bytes([ifd0], subifds={0: [sub_preview, sub_raw]}, magic=magic, tail=raw)
    Path(path).write_bytes(data)
    return data


def raf(
    path: Path, *, preview: tuple[int, int] = (1920, 1280), image: np.ndarray | None = None
) -> bytes:
    """A RAF: the FUJIFILM header with the JPEG's offset and length at 84, then sensor data."""
    j = jpeg(*preview, image=image)
    raw = fake_sensor_data()
    head = bytearray(b"FUJIFILMCCD-RAW 0201FF383501X-T3" + b"\0" * 28)
    head = head.ljust(160, b"\0")
    struct.pack_into(">IIIIII", head, 84, 160, len(j), 160 + len(j), 0, 160 + len(j), len(raw))
    data = bytes(head) + j + raw
    Path(path).write_bytes(data)
    return data


def orf(
    path: Path,
    *,
    preview: tuple[int, int] = (1600, 1200),
    orientation: int = 1,
    image: np.ndarray | None = None,
) -> bytes:
    """An ORF (``IIRO``) whose preview lies where Olympus puts it: IFD0 -> Exif IFD -> MakerNote
    ("OLYMPUS\\0II", offsets from the note's start) -> CameraSettings 0x2020 -> 0x101/0x102."""
    j = jpeg(*preview, image=image)
    cs_at = 12 + 2 + 12 + 4
    jpg_at = cs_at + 2 + 3 * 12 + 4
    note = b"OLYMPUS\0II" + struct.pack("<H", 3)
    note += struct.pack("<H", 1) + struct.pack("<HHII", 0x2020, 13, 1, cs_at) + struct.pack("<I", 0)
    note += (
        struct.pack("<H", 3)
        + struct.pack("<HHII", 0x100, 4, 1, 1)
        + struct.pack("<HHII", 0x101, 4, 1, jpg_at)
    )
    note += struct.pack("<HHII", 0x102, 4, 1, len(j)) + struct.pack("<I", 0) + j
    ifd0_at, exif_at = 8, 8 + 2 + 2 * 12 + 4
    note_at = exif_at + 2 + 12 + 4
    data = b"IIRO" + struct.pack("<I", ifd0_at)
    data += (
        struct.pack("<H", 2)
        + struct.pack("<HHIHH", 274, 3, 1, orientation, 0)
        + struct.pack("<HHII", 34665, 4, 1, exif_at)
        + struct.pack("<I", 0)
    )
    data += (
        struct.pack("<H", 1)
        + struct.pack("<HHII", 37500, 7, len(note), note_at)
        + struct.pack("<I", 0)
    )
    data += note + fake_sensor_data()
    Path(path).write_bytes(data)
    return data
