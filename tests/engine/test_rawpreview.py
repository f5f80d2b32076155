"""Embedded RAW previews read from the container itself (issue 17), on synthetic containers.

Real camera files (the exiv2 project's test/data, GPL: referenced, never vendored) are used
only when CULLER_RAW_CORPUS names a folder holding them; nothing is fetched at test time.
"""

from __future__ import annotations

import os
import random
import sqlite3
import struct
from pathlib import Path

import numpy as np
import pytest

from engine import rawpreview as rp
from engine import rawsynth
from engine.images import ImageError, decode, largest_raw_preview, preview_record

WHITE = (255, 255, 255)


def _white_corner(rgb: np.ndarray) -> tuple[int, int]:
    h, w = rgb.shape[:2]
    corners = {
        (0, 0): rgb[2, 2],
        (0, -1): rgb[2, w - 3],
        (-1, 0): rgb[h - 3, 2],
        (-1, -1): rgb[h - 3, w - 3],
    }
    hits = [k for k, v in corners.items() if min(int(c) for c in v) > 235]
    assert len(hits) == 1, hits
    return hits[0]


# EXIF orientation -> where the stored top-left corner is seen once upright
UPRIGHT = {1: (0, 0), 3: (-1, -1), 6: (0, -1), 8: (-1, 0)}


def _one_line(exc: BaseException) -> str:
    msg = str(exc)
    assert msg and "\n" not in msg and len(msg) < 300, msg
    return msg


@pytest.fixture
def no_libraw(monkeypatch: pytest.MonkeyPatch) -> None:
    """LibRaw must not be needed (nor called) when the container has a usable preview."""
    rawpy = pytest.importorskip("rawpy")

    def refuse(*_a: object, **_k: object) -> None:
        raise AssertionError("LibRaw was called")

    monkeypatch.setattr(rawpy, "imread", refuse)


@pytest.mark.parametrize("orientation", [1, 6, 3, 8])
def test_cr3_box_tree_previews_found_upright_and_full_size_chosen(
    tmp_path: Path, orientation: int, no_libraw: None
) -> None:
    p = tmp_path / "IMG_0001.CR3"
    rawsynth.cr3(p, full=(2400, 1600), prvw=(1620, 1080), thmb=(160, 120), orientation=orientation)
    found = rp.list_previews(p)
    assert [(v.kind, v.width, v.height) for v in found] == [
        ("cr3:trak1", 2400, 1600),
        ("cr3:PRVW", 1620, 1080),
        ("cr3:THMB", 160, 120),
    ]
    assert {v.orientation for v in found} == {orientation}
    d = decode(p, max_side=2000, min_side=1000)
    assert d.source == "raw-preview" and d.preview.kind == "cr3:trak1"
    assert d.full_size == ((2400, 1600) if orientation in (1, 3) else (1600, 2400))
    assert _white_corner(d.rgb) == UPRIGHT[orientation]
    rec = preview_record(d)
    assert rec == {
        "preview": "cr3:trak1",
        "preview_width": d.full_size[0],
        "preview_height": d.full_size[1],
        "preview_note": None,
    }
    # a thumbnail-sized request takes the smallest preview that covers it; the loupe the largest
    assert decode(p, max_side=300).preview.kind == "cr3:PRVW"
    big = largest_raw_preview(p)
    assert big.preview.kind == "cr3:trak1" and max(big.rgb.shape[:2]) == 2400


def test_cr3_metadata_blocks_are_tiffs_exifread_reads(tmp_path: Path) -> None:
    import io

    import exifread

    p = tmp_path / "IMG_0002.CR3"
    rawsynth.cr3(p, orientation=8)
    blocks = rp.cr3_metadata_blocks(p)
    assert set(blocks) == {"CMT1"}
    tags = exifread.process_file(io.BytesIO(blocks["CMT1"]), details=False)
    assert str(tags["Image Model"]) == "Canon EOS R6" and tags["Image Orientation"].values == [8]
    assert rp.cr3_metadata_blocks(tmp_path / "missing.CR3") == {}


def test_truncated_cr3_ranks_from_its_prvw(tmp_path: Path, no_libraw: None) -> None:
    data = rawsynth.cr3(tmp_path / "full.CR3", orientation=6)
    cut = tmp_path / "cut.CR3"
    cut.write_bytes(data[: len(data) - 100_000])  # a failed card copy: mdat cut short
    d = decode(cut, max_side=2000, min_side=1000)
    assert d.preview.kind == "cr3:PRVW" and d.full_size == (1080, 1620)
    assert _white_corner(d.rgb) == UPRIGHT[6]
    assert preview_record(d)["preview_note"] is None


def test_cr3_with_only_a_thumbnail_is_marked_too_small_to_judge_focus(
    tmp_path: Path, no_libraw: None
) -> None:
    p = tmp_path / "thumb.CR3"
    rawsynth.cr3(p, full=None, prvw=None, thmb=(160, 120))
    d = decode(p, max_side=2000, min_side=1000)
    assert d.full_size == (160, 120)
    assert preview_record(d)["preview_note"] == "preview too small to judge focus"


@pytest.mark.parametrize("ext", [".NEF", ".CR2", ".ARW", ".PEF", ".SRW", ".DNG"])
@pytest.mark.parametrize("orientation", [1, 6, 8])
def test_tiff_raw_preview_ifd_found_upright(
    tmp_path: Path, ext: str, orientation: int, no_libraw: None
) -> None:
    p = tmp_path / f"DSC_0001{ext}"
    rawsynth.tiff_raw(p, preview=(1800, 1200), thumb=(160, 120), orientation=orientation)
    found = rp.list_previews(p)
    assert [(v.kind, v.width, v.height) for v in found] == [
        ("tiff:ifd0.subifd0", 1800, 1200),
        ("tiff:ifd0", 160, 120),
    ]
    d = decode(p, max_side=2000, min_side=1000)
    assert d.preview.kind == "tiff:ifd0.subifd0"
    assert d.rgb.shape[:2] == ((1200, 1800) if orientation == 1 else (1800, 1200))
    assert _white_corner(d.rgb) == UPRIGHT[orientation]


@pytest.mark.parametrize(
    "ext,magic,rw2,kind",
    [(".RW2", b"IIU\x00", True, "rw2:JpgFromRaw"), (".ORF", b"IIRO", False, "orf:ifd0.subifd0")],
)
def test_rw2_and_orf_magics(
    tmp_path: Path, ext: str, magic: bytes, rw2: bool, kind: str, no_libraw: None
) -> None:
    p = tmp_path / f"P100{ext}"
    rawsynth.tiff_raw(p, preview=(1600, 1200), orientation=6, magic=magic, rw2=rw2)
    d = decode(p, max_side=2000, min_side=1000)
    assert d.preview.kind == kind and d.full_size == (1200, 1600)
    assert _white_corner(d.rgb) == UPRIGHT[6]


def test_orf_preview_in_the_olympus_maker_note(tmp_path: Path, no_libraw: None) -> None:
    p = tmp_path / "P1010001.ORF"
    data = rawsynth.orf(p, preview=(1600, 1200), orientation=8)
    found = rp.list_previews(p)
    assert [(v.kind, v.width, v.height, v.orientation) for v in found] == [
        ("orf:makernote.PreviewImage", 1600, 1200, 8)
    ]
    d = decode(p, max_side=2000, min_side=1000)
    assert d.full_size == (1200, 1600) and _white_corner(d.rgb) == UPRIGHT[8]
    cut = tmp_path / "cut.ORF"
    cut.write_bytes(data[: found[0].offset + 100])
    with pytest.raises(ImageError, match="truncated") as ei:
        decode(cut)
    _one_line(ei.value)


def test_raf_header_preview(tmp_path: Path, no_libraw: None) -> None:
    p = tmp_path / "DSCF0001.RAF"
    data = rawsynth.raf(p, preview=(1920, 1280))
    d = decode(p, max_side=2000, min_side=1000)
    assert d.preview.kind == "raf:jpeg" and d.full_size == (1920, 1280)
    cut = tmp_path / "cut.RAF"
    cut.write_bytes(data[:30_000])
    with pytest.raises(ImageError, match="truncated") as ei:
        decode(cut)
    _one_line(ei.value)


def test_truncated_tiff_raw(tmp_path: Path, no_libraw: None) -> None:
    data = rawsynth.tiff_raw(tmp_path / "full.NEF", preview=(1800, 1200))
    big = rp.list_previews(tmp_path / "full.NEF")[0]
    # cut in the sensor data (after the previews): still ranks from the full preview
    a = tmp_path / "a.NEF"
    a.write_bytes(data[: len(data) - 1000])
    assert decode(a, max_side=2000, min_side=1000).preview.kind == "tiff:ifd0.subifd0"
    # cut inside the preview itself: refused as truncated, in one line, LibRaw not asked
    b = tmp_path / "b.NEF"
    b.write_bytes(data[: big.offset + big.length // 2])
    with pytest.raises(ImageError, match="truncated") as ei:
        decode(b)
    _one_line(ei.value)


def _hostile(tmp_path: Path) -> dict[str, bytes]:
    nef = rawsynth.tiff_raw(tmp_path / "h.NEF", preview=(1100, 800))
    cr3 = rawsynth.cr3(tmp_path / "h.CR3", full=(1100, 800))
    loop = bytearray(
        b"II*\x00"
        + struct.pack("<I", 8)
        + struct.pack("<H", 1)
        + struct.pack("<HHII", 330, 4, 1, 8)
        + struct.pack("<I", 8)
    )
    many = b"II*\x00" + struct.pack("<I", 8) + struct.pack("<H", 65535) + b"\0" * 200
    huge_jpeg = bytearray(
        b"II*\x00"
        + struct.pack("<I", 8)
        + struct.pack("<H", 2)
        + struct.pack("<HHII", 513, 4, 1, 40)
        + struct.pack("<HHII", 514, 4, 1, 0xFFFFFFF0)
        + b"\0\0\0\0"
        + b"\xff\xd8\xff\xc0" * 10
    )
    big_box = cr3[:24] + struct.pack(">I4s", 0xFFFFFF00, b"moov") + cr3[32:200]
    huge64 = cr3[:24] + struct.pack(">I4sQ", 1, b"moov", 2**63) + cr3[40:200]
    lossless = bytearray(
        b"II*\x00"
        + struct.pack("<I", 8)
        + struct.pack("<H", 2)
        + struct.pack("<HHII", 513, 4, 1, 38)
        + struct.pack("<HHII", 514, 4, 1, 200)
        + b"\0\0\0\0"
    )
    lossless += (
        b"\xff\xd8\xff\xc3\x00\x11\x08\x0f\xa0\x17\x70" + b"\x00" * 189
    )  # SOF3: sensor data, 6000x4000
    return {
        "loop.NEF": bytes(loop), "many.NEF": many, "huge_jpeg.ARW": bytes(huge_jpeg), "big_box.CR3": big_box,
        "huge64.CR3": huge64, "lossless.DNG": bytes(lossless), "short.CR3": cr3[:40], "short.NEF": nef[:12],
        "notraw.RAF": b"FUJIFILM<tiff:MaH" + b"\0" * 100,
    }  # fmt: skip


def test_hostile_containers_are_refused_in_one_line(tmp_path: Path) -> None:
    for name, data in _hostile(tmp_path).items():
        p = tmp_path / name
        p.write_bytes(data)
        with pytest.raises(rp.RawPreviewError) as ei:
            rp.list_previews(p)
        _one_line(ei.value)
        with pytest.raises(ImageError) as ei2:
            decode(p)
        _one_line(ei2.value)


def test_fuzzed_containers_never_escape_or_overreach(tmp_path: Path) -> None:
    rng = random.Random(17)
    seeds = {
        "f.CR3": rawsynth.cr3(
            tmp_path / "s.CR3", full=(640, 480), prvw=(320, 240), thmb=(160, 120)
        ),
        "f.NEF": rawsynth.tiff_raw(tmp_path / "s.NEF", preview=(640, 480)),
        "f.RW2": rawsynth.tiff_raw(
            tmp_path / "s.RW2", preview=(640, 480), magic=b"IIU\x00", rw2=True
        ),
        "f.RAF": rawsynth.raf(tmp_path / "s.RAF", preview=(640, 480)),
        "f.ORF": rawsynth.orf(tmp_path / "s.ORF", preview=(640, 480)),
    }
    outcomes = {"found": 0, "refused": 0}
    for name, seed in seeds.items():
        for i in range(120):
            data = bytearray(seed)
            for _ in range(rng.randint(1, 8)):
                pos = rng.randrange(min(len(data), 600))
                data[pos] = rng.randrange(256)
            if i % 10 == 0:
                data = data[: rng.randrange(8, len(data))]
            p = tmp_path / f"{i}{name}"
            p.write_bytes(bytes(data))
            try:
                found = rp.list_previews(p)
            except rp.RawPreviewError as exc:
                _one_line(exc)
                outcomes["refused"] += 1
                p.unlink()
                continue
            outcomes["found"] += bool(found)
            for v in found:
                assert v.offset >= 0 and v.offset + v.length <= len(data)
                assert 0 < v.width <= 65535 and 0 < v.height <= 65535
            p.unlink()
    assert outcomes["found"] > 50 and outcomes["refused"] > 20, outcomes


def test_catalog_records_the_preview_and_small_ones_stay_listed(
    tmp_path: Path, no_libraw: None
) -> None:
    from engine.catalog import Catalog
    from engine.pipeline import RankOptions, rank_folder

    root = tmp_path / "card"
    root.mkdir()
    rawsynth.cr3(root / "A.CR3", full=(1600, 1200), prvw=(800, 600), orientation=6)
    rawsynth.tiff_raw(root / "B.NEF", preview=(1200, 900))
    rawsynth.cr3(root / "C.CR3", full=None, prvw=None, thmb=(160, 120))
    s = rank_folder(RankOptions(root, catalog=tmp_path / "c.sqlite", workers=1))
    assert s.n_shots == 3 and not s.skipped
    with Catalog(tmp_path / "c.sqlite", readonly=True) as cat:
        pv = cat.previews()
        assert pv["A.CR3"] == {"preview": "cr3:trak1", "width": 1200, "height": 1600, "note": None}
        assert pv["B.NEF"] == {
            "preview": "tiff:ifd0.subifd0",
            "width": 1200,
            "height": 900,
            "note": None,
        }
        assert (
            pv["C.CR3"]["note"] == "preview too small to judge focus"
            and pv["C.CR3"]["width"] == 160
        )
        c = cat.shot("C.CR3")
        assert (
            c is not None
            and c["status"] == "ok"
            and c["group_id"] is not None
            and c["rank"] is not None
        )


def test_old_catalog_gains_the_preview_columns(tmp_path: Path) -> None:
    from engine.catalog import Catalog

    p = tmp_path / "old.sqlite"
    con = sqlite3.connect(p)
    con.execute("CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT)")  # a catalog of schema 1
    con.execute("INSERT INTO meta VALUES ('schema_version', '1')")
    con.execute("CREATE TABLE analysis (hash TEXT PRIMARY KEY, engine_version TEXT, width INTEGER)")
    con.execute("INSERT INTO analysis VALUES ('h', '1', 10)")
    con.commit()
    con.close()
    with Catalog(p) as cat:
        cols = {r[1] for r in cat.conn.execute("PRAGMA table_info(analysis)")}
        assert {"preview", "preview_width", "preview_height", "preview_note"} <= cols
        assert cat.conn.execute("SELECT width FROM analysis WHERE hash='h'").fetchone() == (10,)
    with Catalog(p) as cat:  # idempotent
        assert cat.previews() == {}


CORPUS = os.environ.get("CULLER_RAW_CORPUS")


def _corpus(name: str) -> Path:
    if not CORPUS:
        pytest.skip(
            "set CULLER_RAW_CORPUS to a folder with exiv2's test/data camera files (GPL, not vendored)"
        )
    p = Path(CORPUS) / name
    if not p.is_file():
        pytest.skip(f"{name} is not in CULLER_RAW_CORPUS={CORPUS}")
    return p


def test_real_canon_r6_cr3_that_libraw_refuses_ranks_from_prvw(no_libraw: None) -> None:
    p = _corpus("Canon-R6-pruned.CR3")
    d = decode(p, max_side=2000, min_side=1000)
    assert d.preview.kind == "cr3:PRVW" and d.full_size == (1620, 1080)
    assert preview_record(d)["preview_note"] is None


def test_real_cr3_metadata_blocks_give_the_capture_time() -> None:
    import io

    import exifread

    blocks = rp.cr3_metadata_blocks(_corpus("Canon-R6-pruned.CR3"))
    tags = exifread.process_file(io.BytesIO(blocks["CMT2"]), details=False)
    assert str(tags["Image DateTimeOriginal"]) == "2021:05:12 12:21:21"


def test_real_pruned_dng_is_refused_as_truncated() -> None:
    p = _corpus("IMG_1361.dng")
    with pytest.raises(ImageError, match="truncated") as ei:
        decode(p)
    _one_line(ei.value)


@pytest.mark.parametrize(
    "name", ["issue_1791_new.raf", "issue_1791_old.raf", "issue_857_poc.raf", "issue_839_poc.rw2"]
)
def test_real_fuzz_files_refused_in_one_line(name: str) -> None:
    p = _corpus(name)
    with pytest.raises(ImageError) as ei:
        decode(p)
    _one_line(ei.value)
