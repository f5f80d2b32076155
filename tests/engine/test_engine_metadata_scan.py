"""EXIF metadata and folder scanning (pairs, loops, hidden and unsupported files)."""

from __future__ import annotations

import os
from datetime import datetime
from pathlib import Path

import numpy as np
from PIL import Image

from engine.demo import save_jpeg
from engine.metadata import parse_exif_time, read_metadata
from engine.scan import scan_folder


def _img() -> np.ndarray:
    return np.full((40, 60, 3), 128, np.uint8)


def test_exif_time_with_subseconds_and_camera(tmp_path: Path) -> None:
    p = tmp_path / "a.jpg"
    save_jpeg(p, _img(), datetime(2026, 5, 4, 10, 11, 12, 340000), camera=("Canon", "EOS R5"))
    md = read_metadata(p)
    assert md.time_source == "exif"
    assert md.capture_time is not None and md.capture_time.startswith("2026-05-04T10:11:12.34")
    assert md.make == "Canon" and md.model == "EOS R5"


def test_offset_is_honoured() -> None:
    t = parse_exif_time("2026:05:04 10:11:12", "5", "+02:00")
    assert t is not None and t.utcoffset() is not None
    assert t.isoformat() == "2026-05-04T10:11:12.500000+02:00"


def test_no_exif_falls_back_to_file_time(tmp_path: Path) -> None:
    p = tmp_path / "b.png"
    Image.fromarray(_img()).save(p)
    os.utime(p, (1_700_000_000, 1_700_000_000))
    md = read_metadata(p)
    assert md.time_source == "file"
    assert md.capture_ts == 1_700_000_000


def test_broken_exif_block_is_not_fatal(tmp_path: Path) -> None:
    p = tmp_path / "c.jpg"
    save_jpeg(p, _img(), datetime(2026, 1, 1))
    data = bytearray(p.read_bytes())
    i = data.find(b"Exif\x00\x00")
    data[i + 6 : i + 40] = b"\xff" * 34  # smash the TIFF header and first IFD
    p.write_bytes(bytes(data))
    md = read_metadata(p)
    assert md.time_source == "file"  # fell back, with or without a warning
    assert md.capture_ts is not None


def test_scan_pairs_raw_and_jpeg_and_reports_problems(tmp_path: Path) -> None:
    (tmp_path / "IMG_0001.CR3").write_bytes(b"raw")
    save_jpeg(tmp_path / "IMG_0001.JPG", _img(), None)
    save_jpeg(tmp_path / "IMG_0002.jpg", _img(), None)
    (tmp_path / "IMG_0003.NEF").write_bytes(b"raw")
    (tmp_path / "notes.txt").write_text("ignored")
    (tmp_path / ".hidden.jpg").write_bytes(b"ignored")
    sub = tmp_path / "card2"
    sub.mkdir()
    save_jpeg(sub / "IMG_0001.JPG", _img(), None)  # same name on another card: a different shot
    (sub / "loop").symlink_to(tmp_path, target_is_directory=True)
    (tmp_path / "dangling.jpg").symlink_to(tmp_path / "missing.jpg")

    flat = scan_folder(tmp_path)
    keys = [s.key for s in flat.shots]
    assert keys == ["IMG_0001.JPG", "IMG_0002.jpg", "IMG_0003.NEF"]
    pair = flat.shots[0]
    assert pair.raw is not None and pair.raw.name == "IMG_0001.CR3"
    assert ("dangling.jpg", "broken symlink") in flat.skipped

    rec = scan_folder(tmp_path, recursive=True)
    assert "card2/IMG_0001.JPG" in [s.key for s in rec.shots]
    assert any("symlink loop" in r for _, r in rec.skipped)
