"""`culler import`: decisions made elsewhere, read from XMP sidecars or embedded XMP (issue 15)."""

from __future__ import annotations

import io
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from engine.catalog import Catalog, Decision
from engine.cli import main

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "export"))
from export_fixtures import build_session  # noqa: E402

LR_FOREIGN = """<?xpacket begin="\ufeff" id="W5M0MpCehiHzreSzNTczkc9d"?>
<x:xmpmeta xmlns:x="adobe:ns:meta/" x:xmptk="Adobe XMP Core 7.0-c000">
 <rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">
  <rdf:Description rdf:about=""
    xmlns:crs="http://ns.adobe.com/camera-raw-settings/1.0/"
    xmlns:photoshop="http://ns.adobe.com/photoshop/1.0/"
    xmlns:xmpMM="http://ns.adobe.com/xap/1.0/mm/"
    xmlns:dc="http://purl.org/dc/elements/1.1/"
    xmlns:pmi="http://prismstandard.org/namespaces/pmi/2.2/"
    crs:Exposure2012="+0.35" crs:WhiteBalance="As Shot" photoshop:DateCreated="2026-06-01T10:00:00">
   <xmp:Rating xmlns:xmp="http://ns.adobe.com/xap/1.0/">{rating}</xmp:Rating>
   <xmp:Label xmlns:xmp="http://ns.adobe.com/xap/1.0/">{label}</xmp:Label>
   <dc:subject><rdf:Bag><rdf:li>wedding</rdf:li><rdf:li>portrait</rdf:li></rdf:Bag></dc:subject>
   <xmpMM:History><rdf:Seq><rdf:li rdf:parseType="Resource"/></rdf:Seq></xmpMM:History>
  </rdf:Description>
 </rdf:RDF>
</x:xmpmeta>
<?xpacket end="w"?>"""

DARKTABLE = """<?xml version="1.0" encoding="UTF-8"?>
<x:xmpmeta xmlns:x="adobe:ns:meta/" x:xmptk="XMP Core 4.4.0-Exiv2">
 <rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">
  <rdf:Description rdf:about="" xmlns:xmp="http://ns.adobe.com/xap/1.0/"
    xmlns:darktable="http://darktable.sf.net/" xmp:Rating="{rating}" darktable:xmp_version="5"
    darktable:history_end="0"/>
 </rdf:RDF>
</x:xmpmeta>"""

BILLION_LAUGHS = """<?xml version="1.0"?>
<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">]>
<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">
<rdf:Description xmlns:xmp="http://ns.adobe.com/xap/1.0/" xmp:Rating="5" xmp:Label="&lol2;"/></rdf:RDF></x:xmpmeta>"""


def _jpeg(seed: int, size: tuple[int, int] = (64, 48)) -> bytes:
    arr = (np.random.default_rng(seed).random((size[1], size[0], 3)) * 255).astype(np.uint8)
    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, "JPEG")
    return buf.getvalue()


def _decisions(path: Path) -> dict[str, tuple[str | None, int, str | None]]:
    with Catalog(path, readonly=True) as cat:
        return {k: (d.flag, d.stars, d.label) for k, d in cat.decisions().items()}


def test_export_then_import_round_trips_the_decisions(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    s = build_session(tmp_path)
    assert main(["export", str(s.root), "--xmp", "--catalog", str(s.catalog_path)]) == 0
    capsys.readouterr()
    fresh = tmp_path / "fresh.sqlite"
    assert main(["import", str(s.root), "--catalog", str(fresh), "-r"]) == 0
    out = capsys.readouterr().out
    want = {k: v for k, v in _decisions(s.catalog_path).items() if v != (None, 0, None)}
    assert _decisions(fresh) == want
    assert f"{len(want)} decision(s) imported from XMP" in out


def test_foreign_sidecars_embedded_xmp_and_hostile_packets(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from engine.export.jpeg import with_xmp
    from engine.export.xmp import new_xmp

    root = tmp_path / "lr"
    root.mkdir()
    for i in range(1, 8):
        (root / f"IMG_{i}.jpg").write_bytes(_jpeg(i))
    (root / "IMG_1.xmp").write_text(
        LR_FOREIGN.format(rating=4, label="Green"), encoding="utf-8"
    )  # Lightroom: pick, 4 stars
    (root / "IMG_2.XMP").write_text(
        LR_FOREIGN.format(rating=-1, label="Red"), encoding="utf-8"
    )  # reject, upper-case name
    (root / "IMG_3.jpg.xmp").write_text(
        DARKTABLE.format(rating=2), encoding="utf-8"
    )  # darktable STEM.EXT.xmp
    (root / "IMG_4.jpg").write_bytes(
        with_xmp(_jpeg(4), new_xmp(5, "Blue"))
    )  # embedded (Photo Mechanic, Bridge)
    (root / "IMG_5.xmp").write_text(
        BILLION_LAUGHS, encoding="utf-8"
    )  # hostile: refused, nothing expanded
    (root / "IMG_6.xmp").write_text("<x:xmpmeta", encoding="utf-8")  # broken
    cat = tmp_path / "lr.sqlite"
    assert main(["import", str(root), "--catalog", str(cat)]) == 0
    out = capsys.readouterr().out
    assert _decisions(cat) == {
        "IMG_1.jpg": ("pick", 4, None), "IMG_2.jpg": ("reject", 0, None),
        "IMG_3.jpg": (None, 2, None), "IMG_4.jpg": (None, 5, "Blue"),
    }  # fmt: skip
    assert (
        "4 decision(s) imported from XMP (1 pick(s), 1 reject(s), 3 starred) of 7 shot(s); 3 without rating or label"
        in out
    )
    assert "2 XMP packet(s) skipped:" in out
    lines = [ln for ln in out.splitlines() if "IMG_5.xmp" in ln or "IMG_6.xmp" in ln]
    assert len(lines) == 2 and "DOCTYPE" in lines[0] + lines[1]
    # decisions already in the catalog win, unless --overwrite
    with Catalog(cat) as c:
        c.set_decisions([Decision("IMG_1.jpg", "reject", 0, None)])
    assert main(["import", str(root), "--catalog", str(cat)]) == 0
    assert "4 kept as already decided" in capsys.readouterr().out
    assert _decisions(cat)["IMG_1.jpg"] == ("reject", 0, None)
    assert main(["import", str(root), "--catalog", str(cat), "--overwrite"]) == 0
    assert _decisions(cat)["IMG_1.jpg"] == ("pick", 4, None)


def test_embedded_xmp_in_tiff_and_heic(tmp_path: Path) -> None:
    import tifffile

    from engine.export.xmp import new_xmp
    from engine.taste.xmpread import read_decision

    t = tmp_path / "a.tif"
    tifffile.imwrite(
        t,
        np.zeros((8, 8, 3), np.uint8),
        photometric="rgb",
        extratags=[(700, "B", 0, new_xmp(3, "Green"), True)],
    )
    found, problems = read_decision([t])
    assert found is not None and (found.rating, found.label) == (3, "Green") and not problems
    pillow_heif = pytest.importorskip("pillow_heif")
    h = tmp_path / "b.heic"
    im = pillow_heif.from_bytes(mode="RGB", size=(16, 16), data=bytes(16 * 16 * 3))
    im.info["xmp"] = new_xmp(-1, "Red")
    im.save(str(h), quality=80)
    found, _ = read_decision([h])
    assert found is not None and (found.rating, found.label) == (-1, "Red")


def test_import_of_a_missing_folder_is_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["import", str(tmp_path / "nope")]) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith("culler import:") and "\n" not in err
