"""CR3 capture time, camera and lens come from the file's CMT1/CMT2 boxes (issue 17 follow-up).

exifread cannot open a CR3 ("File format not recognized"), so before this every CR3 shot fell
back to its file time and grouped by it.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from engine import rawsynth
from engine.metadata import FILE_TIME, read_metadata
from engine.pipeline import identify

EXIF = {
    rawsynth.EXIF_DATETIME_ORIGINAL: "2026:06:01 08:30:15",
    rawsynth.EXIF_SUBSEC_TIME_ORIGINAL: "42",
    rawsynth.EXIF_OFFSET_TIME_ORIGINAL: "+02:00",
    rawsynth.EXIF_BODY_SERIAL: "093022004357",
    rawsynth.EXIF_LENS_MODEL: "RF70-200mm F2.8 L IS USM",
}


def _old_mtime(p: Path) -> None:
    os.utime(p, (1_000_000_000, 1_000_000_000))  # 2001: far from the EXIF time


def test_cr3_capture_time_camera_and_lens_come_from_cmt1_and_cmt2(
    tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    p = tmp_path / "IMG_0001.CR3"
    rawsynth.cr3(p, orientation=6, model="Canon EOS R5", exif=EXIF)
    _old_mtime(p)
    md = read_metadata(p)
    assert md.time_source == "exif" and md.warning is None
    assert md.capture_time == "2026-06-01T08:30:15.420000+02:00"
    assert md.capture_ts == pytest.approx(1780295415.42)  # 06:30:15.42 UTC
    assert (md.subsec, md.utc_offset) == ("42", "+02:00")
    assert (md.make, md.model, md.serial) == ("Canon", "Canon EOS R5", "093022004357")
    assert md.lens == "RF70-200mm F2.8 L IS USM" and md.orientation == 6
    assert md.camera == "Canon|Canon EOS R5|093022004357"  # bodies are told apart by serial
    assert capfd.readouterr().err == ""  # exifread's "File format not recognized" is not printed
    # the worker's store path (local pool and Ray) records it
    out: dict = {}
    identify(p, {"key": p.name}, out)
    assert out["metadata"]["time_source"] == "exif"
    assert out["metadata"]["capture_time"] == md.capture_time and out["metadata"]["serial"] == "093022004357"


def test_cr3_without_cmt2_takes_no_exif_time_but_keeps_the_camera(tmp_path: Path) -> None:
    p = tmp_path / "IMG_0002.CR3"
    rawsynth.cr3(p)  # CMT1 only: make, model, orientation, no date
    _old_mtime(p)
    md = read_metadata(p)
    assert md.time_source == FILE_TIME and md.capture_ts == 1_000_000_000
    assert (md.make, md.model) == ("Canon", "Canon EOS R6") and md.warning is None


def test_cr3_cut_after_its_metadata_keeps_the_exif_time(tmp_path: Path) -> None:
    p = tmp_path / "IMG_0003.CR3"
    data = rawsynth.cr3(p, exif=EXIF)
    p.write_bytes(data[: len(data) - 20_000])  # a failed card copy: the sensor data is cut
    md = read_metadata(p)
    assert md.time_source == "exif" and md.capture_time == "2026-06-01T08:30:15.420000+02:00"


@pytest.mark.parametrize("how", ["cut-in-moov", "hostile-cmt2", "garbage"])
def test_truncated_or_hostile_cr3_falls_back_to_file_time_in_one_line(
    tmp_path: Path, how: str, capfd: pytest.CaptureFixture[str]
) -> None:
    p = tmp_path / f"{how}.CR3"
    if how == "cut-in-moov":
        data = rawsynth.cr3(p, exif=EXIF)
        p.write_bytes(data[: data.index(b"CMT1") + 20])
    elif how == "hostile-cmt2":  # a TIFF header whose IFD offset points far past the block
        rawsynth.cr3(p, cmt2=b"II*\x00\xff\xff\xff\x7f" + b"\xff" * 64)
    else:
        head = rawsynth.cr3(p)[:12]
        p.write_bytes(head + os.urandom(200_000))  # a CR3 ftyp, then noise
    _old_mtime(p)
    md = read_metadata(p)
    assert md.time_source == FILE_TIME and md.capture_ts == 1_000_000_000
    assert md.capture_time == "2001-09-09T01:46:40+00:00"
    assert md.warning and "\n" not in md.warning and md.warning.endswith("; the file time is used")
    if how == "hostile-cmt2":
        assert md.warning.startswith("unreadable CR3 metadata block CMT2")
        assert (md.make, md.model) == ("Canon", "Canon EOS R6")  # CMT1 still counts
    else:
        assert md.warning.startswith("no readable CR3 metadata")
    assert capfd.readouterr().err == ""  # the one line is the warning; nothing else is printed


def test_real_canon_r6_cr3_capture_time_serial_and_lens() -> None:
    corpus = os.environ.get("CULLER_RAW_CORPUS")
    p = Path(corpus or ".") / "Canon-R6-pruned.CR3"
    if not corpus or not p.is_file():
        pytest.skip("set CULLER_RAW_CORPUS to a folder with exiv2's test/data camera files (GPL, not vendored)")
    md = read_metadata(p)
    assert md.time_source == "exif" and md.capture_time == "2021-05-12T12:21:21.920000+02:00"
    assert (md.make, md.model, md.serial) == ("Canon", "Canon EOS R6", "093022004357")
    assert md.lens == "RF70-200mm F2.8 L IS USM" and (md.width, md.height) == (3408, 2272)
