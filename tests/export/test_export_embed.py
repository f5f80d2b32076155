"""Embedding XMP in JPEG (own APP1 writer), TIFF/DNG/HEIC (exiftool): verified and atomic."""

from __future__ import annotations

import io
import subprocess
from pathlib import Path

import numpy as np
import pytest
from export_fixtures import (
    EXIFTOOL,
    exiftool_read,
    jpeg_bytes,
    needs_exiftool,
    write_heic,
    write_tiff,
)
from PIL import Image

from engine.export import embed, jpeg
from engine.export import exiftool as et
from engine.export.imagedata import ImageDataError, heif_digest, image_digest, tiff_digest


def _pixels(p: Path) -> np.ndarray:
    import pillow_heif

    pillow_heif.register_heif_opener()
    with Image.open(p) as im:
        return np.asarray(im.convert("RGB"))


def test_jpeg_insert_and_replace_keep_every_other_byte() -> None:
    src = jpeg_bytes(1)  # JFIF? Pillow writes APP0 + Exif APP1
    out = embed.embedded_jpeg(src, 3, "Green", "a.jpg")
    segs, _ = jpeg.parse(out)
    markers = [s.marker for s in segs]
    xmp_pos = next(i for i, s in enumerate(segs) if s.is_xmp(out))
    assert all(m in (0xE0, 0xE1) for m in markers[:xmp_pos])  # after SOI/APP0/Exif
    assert jpeg.image_parts(src) == jpeg.image_parts(out)
    assert out[len(out) - len(src) + src.index(b"\xff\xda") :] == src[src.index(b"\xff\xda") :]
    again = embed.embedded_jpeg(out, -1, None, "a.jpg")
    assert jpeg.image_parts(again) == jpeg.image_parts(src)
    assert [s.is_xmp(again) for s in jpeg.parse(again)[0]].count(True) == 1
    from engine.export.xmp import read_rating_label

    assert read_rating_label(jpeg.read_xmp(again) or b"") == (-1, None)


def test_jpeg_without_app0(tmp_path: Path) -> None:
    bare = jpeg_bytes(2, exif=False)
    segs, _ = jpeg.parse(bare)
    stripped = bare[:2] + b"".join(bare[s.start : s.end] for s in segs if s.marker != 0xE0) + bare[jpeg.parse(bare)[1] :]
    out = embed.embedded_jpeg(stripped, 1, "Blue", "b.jpg")
    assert jpeg.parse(out)[0][0].is_xmp(out)  # inserted right after SOI
    p = tmp_path / "b.jpg"
    p.write_bytes(out)
    assert np.array_equal(_pixels(p), np.asarray(Image.open(io.BytesIO(stripped)).convert("RGB")))


@pytest.mark.parametrize("bad", [b"", b"\xff\xd8", b"GIF89a", b"\xff\xd8\xff\xe1\x00", b"\xff\xd8\xff\xe1\xff\xff"])
def test_broken_jpeg_refused(bad: bytes) -> None:
    with pytest.raises(embed.EmbedError):
        embed.embedded_jpeg(bad, 1, None, "bad.jpg")


def test_jpeg_verification_failure_leaves_original(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    p = tmp_path / "c.jpg"
    p.write_bytes(jpeg_bytes(3))
    before = p.read_bytes()
    real = jpeg.with_xmp

    def corrupting(data: bytes, packet: bytes, source: str = "JPEG") -> bytes:
        out = bytearray(real(data, packet, source))
        out[-10] ^= 0xFF  # one flipped bit in the entropy-coded data
        return bytes(out)

    monkeypatch.setattr(jpeg, "with_xmp", corrupting)
    with pytest.raises(embed.EmbedError, match="verification failed"):
        embed.embed_in_place(p, "jpeg", 2, "Red", exe=None)
    assert p.read_bytes() == before
    assert sorted(x.name for x in tmp_path.iterdir()) == ["c.jpg"]


@needs_exiftool
def test_jpeg_with_existing_xmp_keeps_other_properties(tmp_path: Path) -> None:
    p = tmp_path / "d.jpg"
    p.write_bytes(jpeg_bytes(4))
    subprocess.run([EXIFTOOL, "-q", "-overwrite_original", "-XMP-dc:Subject=wedding", "-XMP-dc:Creator=Ann",
                    "-XMP-xmp:Rating=1", str(p)], check=True)
    before = p.read_bytes()
    st_mode = p.stat().st_mode
    assert embed.embed_in_place(p, "jpeg", 4, "Purple", exe=EXIFTOOL) is True
    assert jpeg.image_parts(before) == jpeg.image_parts(p.read_bytes())
    out = subprocess.run([EXIFTOOL, "-j", "-XMP-dc:Subject", "-XMP-dc:Creator", str(p)], capture_output=True, check=True)
    assert b'"Subject": "wedding"' in out.stdout and b'"Creator": "Ann"' in out.stdout
    assert exiftool_read([p])[str(p)] == (4, "Purple")
    assert p.stat().st_mode == st_mode
    assert embed.embed_in_place(p, "jpeg", 4, "Purple", exe=EXIFTOOL) is False  # idempotent


@needs_exiftool
@pytest.mark.parametrize("name,kind", [("e.tif", "tiff"), ("e.dng", "dng"), ("e.heic", "heif")])
def test_exiftool_embedding_verified(tmp_path: Path, name: str, kind: str) -> None:
    p = tmp_path / name
    if kind == "heif":
        write_heic(p, 9)
    else:
        write_tiff(p, 9, dng=kind == "dng")
    digest = image_digest(p, kind)
    pixels = _pixels(p) if kind != "dng" else None
    assert EXIFTOOL is not None
    with et.Exiftool(EXIFTOOL) as tool:  # one exiftool process for the whole sequence
        assert embed.embed_in_place(p, kind, 5, "Yellow", exe=tool) is True
        assert exiftool_read([p])[str(p)] == (5, "Yellow")
        assert image_digest(p, kind) == digest
        if pixels is not None:
            assert np.array_equal(_pixels(p), pixels)
        assert embed.embed_in_place(p, kind, 5, "Yellow", exe=tool) is False
        assert embed.embed_in_place(p, kind, -1, None, exe=tool) is True
    assert exiftool_read([p])[str(p)] == (-1, None)
    assert sorted(x.name for x in tmp_path.iterdir()) == [name]


@needs_exiftool
def test_exiftool_odd_file_names(tmp_path: Path) -> None:
    """Names starting with '-' and names with a newline (passed outside the argument file)."""
    assert EXIFTOOL is not None
    with et.Exiftool(EXIFTOOL) as tool:
        for name in ("-n dash.tif", "new\nline.tif", "ünï cödé.tif"):
            p = tmp_path / name
            write_tiff(p, 21)
            assert embed.embed_in_place(p, "tiff", 2, "Blue", exe=tool) is True
            assert et.read_rating_label(tool, [p])[str(p)] == (2, "Blue")


def test_image_digests_see_pixel_changes(tmp_path: Path) -> None:
    a, b = tmp_path / "a.tif", tmp_path / "b.tif"
    write_tiff(a, 1)
    write_tiff(b, 2)
    assert tiff_digest(a.read_bytes()) != tiff_digest(b.read_bytes())
    ha, hb = tmp_path / "a.heic", tmp_path / "b.heic"
    write_heic(ha, 1)
    write_heic(hb, 2)
    assert heif_digest(ha.read_bytes()) != heif_digest(hb.read_bytes())
    for bad in (b"", b"II*\x00\xff\xff\xff\x7f", b"\x00\x00\x00\x08ftyp"):
        with pytest.raises(ImageDataError):
            tiff_digest(bad) if bad.startswith(b"II") or not bad else heif_digest(bad)


@needs_exiftool
def test_exiftool_output_with_other_pixels_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    p = tmp_path / "f.tif"
    write_tiff(p, 11)
    before = p.read_bytes()
    other = tmp_path / "other.tif"
    write_tiff(other, 12)
    real = et.write_copy

    def swapped(exe: str, src: Path, dst: Path, rating: int, label: str | None) -> None:
        real(exe, other, dst, rating, label)  # a writer that changed the image data

    monkeypatch.setattr(et, "write_copy", swapped)
    with pytest.raises(embed.EmbedError, match="image data would change"):
        embed.embed_in_place(p, "tiff", 3, None, exe=EXIFTOOL)
    assert p.read_bytes() == before
    assert sorted(x.name for x in tmp_path.iterdir()) == ["f.tif", "other.tif"]


def test_without_exiftool_tiff_embedding_is_refused_clearly(tmp_path: Path) -> None:
    p = tmp_path / "g.tif"
    write_tiff(p, 13)
    before = p.read_bytes()
    with pytest.raises(embed.EmbedError, match="needs exiftool"):
        embed.embed_in_place(p, "tiff", 3, None, exe=None)
    assert p.read_bytes() == before


@needs_exiftool
@pytest.mark.skipif(not __import__("sys").platform.startswith("linux"), reason="parent-death signal is Linux's")
def test_kept_open_exiftool_dies_with_a_killed_export() -> None:
    # exiftool -stay_open keeps polling after end-of-file: a killed export must not orphan it
    import os
    import signal
    import sys
    import time

    code = (
        "import os, signal, sys\n"
        "from engine.export.exiftool import Exiftool\n"
        f"ex = Exiftool({EXIFTOOL!r})\n"
        "ex.run(['-ver'])\n"
        "print(ex._proc.pid, flush=True)\n"
        "os.kill(os.getpid(), signal.SIGKILL)\n"
    )
    root = Path(__file__).resolve().parents[2]
    r = subprocess.run([sys.executable, "-c", code], cwd=root, capture_output=True, text=True, timeout=60)
    assert r.returncode == -signal.SIGKILL, r.stderr
    pid = int(r.stdout.split()[0])
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return  # gone
        with open(f"/proc/{pid}/stat") as f:  # a zombie waiting for init counts as gone
            if f.read().split(")")[-1].split()[0] == "Z":
                return
        time.sleep(0.05)
    os.kill(pid, signal.SIGKILL)
    raise AssertionError("exiftool outlived the killed export")
