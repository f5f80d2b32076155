"""Opening images: formats, orientation, reduced decoding, and every kind of bad input."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from engine.images import ImageError, decode, load_thumbnail, open_image


def _rgb(w: int = 320, h: int = 200) -> np.ndarray:
    y, x = np.mgrid[0:h, 0:w]
    return np.stack([(x * 255 // w), (y * 255 // h), ((x + y) % 256)], axis=2).astype(np.uint8)


@pytest.mark.parametrize("ext,fmt", [(".jpg", "JPEG"), (".png", "PNG"), (".tif", "TIFF"), (".heic", "HEIF")])
def test_formats_open_as_rgb(tmp_path: Path, ext: str, fmt: str) -> None:
    if fmt == "HEIF":
        pillow_heif = pytest.importorskip("pillow_heif")
        pillow_heif.register_heif_opener()
    p = tmp_path / f"a{ext}"
    Image.fromarray(_rgb()).save(p, fmt)
    img = open_image(p)
    assert img.shape == (200, 320, 3) and img.dtype == np.uint8
    assert abs(int(img[100, 160, 0]) - 127) < 12  # content survives


def test_exif_orientation_is_applied(tmp_path: Path) -> None:
    p = tmp_path / "rot.jpg"
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 CW for display
    Image.fromarray(_rgb(320, 200)).save(p, "JPEG", exif=exif.tobytes())
    d = decode(p)
    assert d.rgb.shape[:2] == (320, 200)
    assert d.full_size == (200, 320)


def test_jpeg_is_dct_scaled_not_fully_decoded(tmp_path: Path) -> None:
    p = tmp_path / "big.jpg"
    Image.fromarray(_rgb(4000, 3000)).save(p, "JPEG", quality=85)
    d = decode(p, max_side=2000, min_side=1000)
    assert d.rgb.shape[:2] == (750, 1000)  # libjpeg decoded at 1/4 scale: 12 MP never materialised
    assert d.full_size == (4000, 3000)
    assert d.jpeg_block is None  # 2-pixel blocks: too small to measure
    p2 = tmp_path / "mid.jpg"
    Image.fromarray(_rgb(2400, 1600)).save(p2, "JPEG", quality=85)
    d2 = decode(p2, max_side=2000, min_side=1000)
    assert d2.rgb.shape[:2] == (800, 1200) and d2.jpeg_block == pytest.approx(4.0)
    t = load_thumbnail(p, 320)
    assert max(t.shape[:2]) <= 320


def test_png_with_alpha_and_16bit_tiff(tmp_path: Path) -> None:
    a = np.zeros((50, 60, 4), np.uint8)
    a[..., 0] = 200
    a[..., 3] = 128
    Image.fromarray(a, "RGBA").save(tmp_path / "a.png")
    assert open_image(tmp_path / "a.png").shape == (50, 60, 3)
    Image.fromarray((np.arange(50 * 60).reshape(50, 60) * 20).astype(np.uint16)).save(tmp_path / "b.tif")
    assert open_image(tmp_path / "b.tif").shape == (50, 60, 3)


def test_raw_extension_without_raw_data_is_a_clear_error(tmp_path: Path) -> None:
    p = tmp_path / "IMG_0001.CR3"
    p.write_bytes(b"not really a raw file" * 100)
    with pytest.raises(ImageError, match="RAW|raw"):
        decode(p)


def test_dng_falls_back_to_its_tiff_image(tmp_path: Path) -> None:
    p = tmp_path / "a.dng"
    Image.fromarray(_rgb()).save(p, "TIFF")
    assert open_image(p).shape == (200, 320, 3)


@pytest.mark.parametrize(
    "name,make,reason",
    [
        ("zero.jpg", lambda p: p.write_bytes(b""), "empty"),
        ("text.jpg", lambda p: p.write_text("hello, I am not a photo\n" * 20), "not an image"),
        ("folder.jpg", lambda p: p.mkdir(), "not a regular file"),
    ],
)
def test_bad_files_raise_image_error(tmp_path: Path, name: str, make, reason: str) -> None:  # type: ignore[no-untyped-def]
    p = tmp_path / name
    make(p)
    with pytest.raises(ImageError, match=reason):
        decode(p)


def test_truncated_jpeg(tmp_path: Path) -> None:
    buf = io.BytesIO()
    Image.fromarray(_rgb(800, 600)).save(buf, "JPEG")
    p = tmp_path / "trunc.jpg"
    p.write_bytes(buf.getvalue()[: len(buf.getvalue()) // 2])
    with pytest.raises(ImageError, match="truncated"):
        decode(p)


def test_decompression_bomb_is_refused(tmp_path: Path) -> None:
    p = tmp_path / "bomb.png"
    Image.new("1", (20000, 20000)).save(p)  # 400 MP in a few kB
    assert p.stat().st_size < 1_000_000
    with pytest.raises(ImageError, match="decompression bomb"):
        decode(p)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ImageError, match="cannot read"):
        decode(tmp_path / "nope.jpg")


def _write_dng(path: Path, orientation: int = 1) -> None:
    """A real DNG that LibRaw opens: a Bayer raw in a SubIFD, an RGB preview in IFD0."""
    import tifffile

    cfa = (np.random.default_rng(0).random((192, 256)) * 4000 + 500).astype(np.uint16)
    preview = np.zeros((96, 128, 3), np.uint8)
    preview[..., 0] = 200
    preview[:10, :20] = 255  # a white mark in the top-left corner of the sensor's view
    dng = [
        (50706, "B", 4, (1, 4, 0, 0)), (50707, "B", 4, (1, 1, 0, 0)), (50708, "s", 0, "Test Cam"),
        (50721, "2i", 9, (1, 1, 0, 1, 0, 1, 0, 1, 1, 1, 0, 1, 0, 1, 0, 1, 1, 1)), (50778, "H", 1, 21),
        (274, "H", 1, orientation), (271, "s", 0, "TestMake"), (272, "s", 0, "Test Cam"),
    ]  # fmt: skip
    with tifffile.TiffWriter(path) as tif:
        tif.write(preview, photometric="rgb", subfiletype=1, subifds=1, extratags=dng)
        tif.write(cfa, photometric=32803, subfiletype=0, compression=None,
                  extratags=[(33421, "H", 2, (2, 2)), (33422, "B", 4, (0, 1, 1, 2)), (50714, "H", 1, 0), (50717, "H", 1, 4095)])  # fmt: skip


@pytest.mark.parametrize("orientation,white_at", [(1, (0, 0)), (6, (0, -1)), (3, (-1, -1)), (8, (-1, 0))])
def test_raw_is_read_through_its_embedded_preview_upright(tmp_path: Path, orientation: int, white_at: tuple[int, int]) -> None:
    pytest.importorskip("rawpy")
    p = tmp_path / f"IMG_{orientation}.dng"
    _write_dng(p, orientation)
    d = decode(p)
    assert d.source == "raw-preview"
    assert d.rgb.shape == ((96, 128, 3) if orientation in (1, 3) else (128, 96, 3))
    assert tuple(d.rgb[white_at]) == (255, 255, 255)
    assert tuple(d.rgb[d.rgb.shape[0] // 2, d.rgb.shape[1] // 2]) == (200, 0, 0)


def test_raw_only_and_raw_jpeg_pairs_rank_as_shots(tmp_path: Path) -> None:
    pytest.importorskip("rawpy")
    from engine.catalog import Catalog
    from engine.pipeline import RankOptions, rank_folder

    root = tmp_path / "card"
    root.mkdir()
    _write_dng(root / "A.dng")
    _write_dng(root / "B.dng", 6)
    _write_dng(root / "C.DNG")
    Image.fromarray(_rgb(128, 96)).save(root / "C.JPG", "JPEG")
    s = rank_folder(RankOptions(root, catalog=tmp_path / "c.sqlite", workers=1))
    assert s.n_shots == 3 and not s.skipped
    with Catalog(tmp_path / "c.sqlite", readonly=True) as cat:
        pair = cat.shot("C.JPG")
        assert pair is not None and pair["raw_path"] == "C.DNG"
        assert [f["path"] for f in cat.files_of("C.JPG")] == ["C.DNG", "C.JPG"]


def _gradient(w: int, h: int) -> np.ndarray:
    return np.tile(np.linspace(0.0, 1.0, w, dtype=np.float32), (h, 1))


@pytest.mark.parametrize(
    "mode,ext",
    [("I;16", ".png"), ("I;16", ".tif"), ("F", ".tif"), ("I", ".tif"), ("1", ".png"), ("P", ".png"),
     ("CMYK", ".tif"), ("LAB", ".tif"), ("LA", ".png"), ("RGBA", ".tif")],
)  # fmt: skip
def test_every_mode_decodes_at_reduced_size(tmp_path: Path, mode: str, ext: str) -> None:
    """Issue 10.8: large 16-bit / float / bilevel / palette / CMYK / Lab images (film scans...)
    are decoded through the reduce path, their tones kept (a left-to-right ramp stays one)."""
    from PIL import Image

    w, h = 4200, 600  # > 2 x max_side: the reduce path
    g = _gradient(w, h)
    if mode == "I;16":
        im = Image.fromarray((g * 65535).astype(np.uint16))  # I;16
        assert im.mode == "I;16"
    elif mode == "F":
        im = Image.fromarray(g, "F")
    elif mode == "I":
        im = Image.fromarray((g * 65535).astype(np.int32), "I")
    elif mode in ("1", "P", "CMYK", "LAB", "LA", "RGBA"):
        rgb = np.repeat((g * 255).astype(np.uint8)[..., None], 3, axis=2)
        im = Image.fromarray(rgb, "RGB")
        im = im.convert("L").convert("1", dither=Image.Dither.FLOYDSTEINBERG) if mode == "1" else im.convert(mode)
    p = tmp_path / f"scan{ext}"
    im.save(p)
    with Image.open(p) as check:
        assert check.mode == mode or (mode == "I;16" and check.mode.startswith("I;16")), check.mode
    dec = decode(p, max_side=2000)
    assert dec.full_size == (w, h)
    assert max(dec.rgb.shape[:2]) <= 2000 and dec.rgb.dtype == np.uint8 and dec.rgb.shape[2] == 3
    left, right = dec.rgb[:, : dec.rgb.shape[1] // 10].mean(), dec.rgb[:, -dec.rgb.shape[1] // 10 :].mean()
    assert left < 60 and right > 190, (left, right)
