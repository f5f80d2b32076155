"""Fixtures for the export tests: a session folder mixing CR3/NEF/ARW/DNG/JPEG/HEIC/TIFF,
generated here (proprietary RAW as files with their extension and an embedded JPEG preview),
and a catalog built directly through engine.catalog."""

from __future__ import annotations

import hashlib
import io
import json
import os
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from engine.catalog import Catalog

EXIFTOOL = shutil.which("exiftool")
needs_exiftool = pytest.mark.skipif(
    EXIFTOOL is None, reason="exiftool missing (Debian: apt install libimage-exiftool-perl)"
)

LR_SIDECAR = """<x:xmpmeta xmlns:x="adobe:ns:meta/" x:xmptk="Adobe XMP Core 7.0-c000 1.000000, 0000/00/00-00:00:00        ">
 <rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">
  <rdf:Description rdf:about=""
    xmlns:xmp="http://ns.adobe.com/xap/1.0/"
    xmlns:tiff="http://ns.adobe.com/tiff/1.0/"
    xmlns:exif="http://ns.adobe.com/exif/1.0/"
    xmlns:aux="http://ns.adobe.com/exif/1.0/aux/"
    xmlns:photoshop="http://ns.adobe.com/photoshop/1.0/"
    xmlns:xmpMM="http://ns.adobe.com/xap/1.0/mm/"
    xmlns:stEvt="http://ns.adobe.com/xap/1.0/sType/ResourceEvent#"
    xmlns:dc="http://purl.org/dc/elements/1.1/"
    xmlns:crs="http://ns.adobe.com/camera-raw-settings/1.0/"
    xmlns:lr="http://ns.adobe.com/lightroom/1.0/"
   xmp:ModifyDate="2026-11-20T10:11:12+01:00"
   xmp:Rating="4"
   xmp:Label="Blue"
   tiff:Make="Sony"
   tiff:Model="ILCE-7M4"
   exif:ExposureTime="1/200"
   aux:Lens="FE 85mm F1.8"
   photoshop:DateCreated="2026-11-20T10:11:12.34"
   xmpMM:DocumentID="xmp.did:0b4b1f5e-aaaa-4c1e-9c33-1234567890ab"
   crs:Version="16.0"
   crs:WhiteBalance="As Shot"
   crs:Exposure2012="+0.35"
   crs:Texture="-12"
   crs:HasSettings="True">
   <xmpMM:History>
    <rdf:Seq>
     <rdf:li
      stEvt:action="saved"
      stEvt:instanceID="xmp.iid:11111111-2222-3333-4444-555555555555"
      stEvt:when="2026-11-20T10:20:00+01:00"
      stEvt:softwareAgent="Adobe Photoshop Lightroom Classic 13.0 (Macintosh)"
      stEvt:changed="/metadata"/>
     <rdf:li
      stEvt:action="derived"
      stEvt:parameters="converted from image/x-sony-arw to image/dng"/>
    </rdf:Seq>
   </xmpMM:History>
   <dc:subject>
    <rdf:Bag>
     <rdf:li>portrait &amp; people</rdf:li>
     <rdf:li>studio</rdf:li>
    </rdf:Bag>
   </dc:subject>
   <lr:hierarchicalSubject>
    <rdf:Bag>
     <rdf:li>clients|Ana &lt;B&gt;</rdf:li>
    </rdf:Bag>
   </lr:hierarchicalSubject>
   <crs:ToneCurvePV2012>
    <rdf:Seq>
     <rdf:li>0, 0</rdf:li>
     <rdf:li>255, 255</rdf:li>
    </rdf:Seq>
   </crs:ToneCurvePV2012>
  </rdf:Description>
 </rdf:RDF>
</x:xmpmeta>
"""


def jpeg_bytes(seed: int, size: tuple[int, int] = (96, 64), exif: bool = True) -> bytes:
    rng = np.random.default_rng(seed)
    arr = (rng.random((size[1], size[0], 3)) * 255).astype(np.uint8)
    im = Image.fromarray(arr)
    buf = io.BytesIO()
    kw = {}
    if exif:
        ex = Image.Exif()
        ex[0x010F] = "TestCam"  # Make
        ex[0x0110] = f"Model {seed}"
        kw["exif"] = ex.tobytes()
    im.save(buf, "JPEG", quality=85, **kw)
    return buf.getvalue()


def raw_bytes(ext: str, seed: int) -> bytes:
    """A stand-in for a proprietary RAW: a plausible header, an embedded JPEG preview, noise."""
    head = {
        ".cr3": b"\x00\x00\x00\x18ftypcrx \x00\x00\x00\x01crx isom",
        ".nef": b"MM\x00*\x00\x00\x00\x08",
        ".arw": b"II*\x00\x08\x00\x00\x00",
    }.get(ext.lower(), b"RAW\x00")
    rng = np.random.default_rng(seed + 1000)
    return head + jpeg_bytes(seed, (64, 48)) + rng.bytes(4096)


def write_tiff(path: Path, seed: int, dng: bool = False) -> None:
    import tifffile

    rng = np.random.default_rng(seed)
    arr = (rng.random((40, 56, 3)) * 255).astype(np.uint8)
    extra = [(50706, "B", 4, (1, 4, 0, 0), True), (50708, "s", 0, "Test Cam", True)] if dng else []
    tifffile.imwrite(path, arr, photometric="rgb", extratags=extra)


def write_heic(path: Path, seed: int) -> None:
    import pillow_heif

    rng = np.random.default_rng(seed)
    arr = (rng.random((48, 64, 3)) * 255).astype(np.uint8)
    heif = pillow_heif.from_bytes(mode="RGB", size=(64, 48), data=arr.tobytes())
    heif.save(str(path), quality=80)


@dataclass
class Session:
    root: Path
    catalog_path: Path
    keys: dict[str, str] = field(default_factory=dict)  # short name -> shot key

    def catalog(self) -> Catalog:
        return Catalog(self.catalog_path, self.root)

    def originals(self) -> list[Path]:
        return sorted(p for p in self.root.rglob("*") if p.is_file() and p.suffix.lower() != ".xmp"
                      and ".culler" not in p.name)


def blake(p: Path) -> str:
    return hashlib.blake2b(p.read_bytes(), digest_size=20).hexdigest()


def hash_tree(root: Path) -> dict[str, str]:
    return {p.relative_to(root).as_posix(): blake(p) for p in sorted(root.rglob("*")) if p.is_file()}


def add_shot(
    cat: Catalog, root: Path, key: str, companions: list[str] = (), raw: str | None = None,  # type: ignore[assignment]
    group: int | None = None, rank: int | None = None, suggested: str | None = None,
) -> None:
    from engine.scan import file_hash  # the scanner's content hash, as `culler rank` stores it

    for rel, role in [(key, "primary"), *[(c, "companion") for c in companions]]:
        p = root / rel
        st = p.stat()
        cat.upsert_file({"path": rel, "shot": key, "role": role, "size": st.st_size,
                         "mtime_ns": st.st_mtime_ns, "hash": file_hash(p), "status": "ok", "reason": None})
    h = file_hash(root / key)
    cat.store_analysis(h, {"engine_version": "1", "n_faces": 0, "analysed_at": 0.0}, [], {})
    cat.upsert_shot({"key": key, "primary_path": key, "raw_path": raw, "hash": h, "status": "ok",
                     "reason": None, "group_id": group, "rank": rank, "score": None, "n_faces": 0,
                     "suggested": suggested, "seen_at": 0.0})


def rescan(s: Session, rel: str) -> None:
    """What `culler rank` stores for a changed file: its new size, mtime and content hash."""
    import sqlite3

    from engine.scan import file_hash

    p = s.root / rel
    st = p.stat()
    h = file_hash(p)
    conn = sqlite3.connect(s.catalog_path)
    conn.execute("UPDATE files SET size = ?, mtime_ns = ?, hash = ? WHERE path = ?", (st.st_size, st.st_mtime_ns, h, rel))
    conn.execute("UPDATE shots SET hash = ? WHERE key = ?", (h, rel))
    conn.execute("UPDATE decisions SET hash = ? WHERE shot = ?", (h, rel))  # decided on the new photo
    conn.commit()
    conn.close()


def build_session(base: Path) -> Session:
    """The mixed folder of the issue's "done when", with a catalog and decisions.

    shots (key: decision / suggestion):
      pair    IMG_0001.JPG (+ IMG_0001.CR3): pick, 3 stars
      nef     IMG_0002.NEF: reject
      arw     IMG_0003.ARW (+ Lightroom sidecar IMG_0003.xmp): pick, 5 stars
      dng     IMG_0004.dng: label Yellow, 2 stars
      heic    IMG_0005.HEIC: pick
      jpeg    IMG_0006.jpg: reject
      tiff    IMG_0007.tif: undecided, suggested pick
      nef2    IMG_0008.NEF: undecided, suggested reject
      card2   card2/IMG_0001.JPG: pick (same name as the pair's JPEG, another card)
    """
    root = base / "shoot"
    (root / "card2").mkdir(parents=True)
    (root / "IMG_0001.JPG").write_bytes(jpeg_bytes(1))
    (root / "IMG_0001.CR3").write_bytes(raw_bytes(".cr3", 1))
    (root / "IMG_0002.NEF").write_bytes(raw_bytes(".nef", 2))
    (root / "IMG_0003.ARW").write_bytes(raw_bytes(".arw", 3))
    (root / "IMG_0003.xmp").write_text(LR_SIDECAR, encoding="utf-8")
    write_tiff(root / "IMG_0004.dng", 4, dng=True)
    write_heic(root / "IMG_0005.HEIC", 5)
    (root / "IMG_0006.jpg").write_bytes(jpeg_bytes(6))
    write_tiff(root / "IMG_0007.tif", 7)
    (root / "IMG_0008.NEF").write_bytes(raw_bytes(".nef", 8))
    (root / "card2" / "IMG_0001.JPG").write_bytes(jpeg_bytes(101))
    cat_path = base / "shoot.culler.sqlite"
    s = Session(root, cat_path)
    with Catalog(cat_path, root) as cat:
        add_shot(cat, root, "IMG_0001.JPG", ["IMG_0001.CR3"], raw="IMG_0001.CR3", group=1, rank=1, suggested="pick")
        add_shot(cat, root, "IMG_0002.NEF", raw="IMG_0002.NEF", group=1, rank=2, suggested="reject")
        add_shot(cat, root, "IMG_0003.ARW", raw="IMG_0003.ARW", group=2, rank=1, suggested="pick")
        add_shot(cat, root, "IMG_0004.dng", raw="IMG_0004.dng", group=2, rank=2, suggested="reject")
        add_shot(cat, root, "IMG_0005.HEIC", group=3, rank=1, suggested="pick")
        add_shot(cat, root, "IMG_0006.jpg", group=3, rank=2, suggested="reject")
        add_shot(cat, root, "IMG_0007.tif", group=4, rank=1, suggested="pick")
        add_shot(cat, root, "IMG_0008.NEF", raw="IMG_0008.NEF", group=4, rank=2, suggested="reject")
        add_shot(cat, root, "card2/IMG_0001.JPG", group=5, rank=1, suggested="pick")
        cat.write_groups(
            [
                {"key": k, "group_id": g, "rank": r, "score": 50.0, "suggested": sg}
                for k, g, r, sg in [
                    ("IMG_0001.JPG", 1, 1, "pick"), ("IMG_0002.NEF", 1, 2, "reject"),
                    ("IMG_0003.ARW", 2, 1, "pick"), ("IMG_0004.dng", 2, 2, "reject"),
                    ("IMG_0005.HEIC", 3, 1, "pick"), ("IMG_0006.jpg", 3, 2, "reject"),
                    ("IMG_0007.tif", 4, 1, "pick"), ("IMG_0008.NEF", 4, 2, "reject"),
                    ("card2/IMG_0001.JPG", 5, 1, "pick"),
                ]
            ],
            [{"id": i, "n_shots": 2, "best": None, "start_time": None} for i in range(1, 6)],
        )  # fmt: skip
        cat.set_decision("IMG_0001.JPG", flag="pick", stars=3)
        cat.set_decision("IMG_0002.NEF", flag="reject")
        cat.set_decision("IMG_0003.ARW", flag="pick", stars=5)
        cat.set_decision("IMG_0004.dng", stars=2, label="Yellow")
        cat.set_decision("IMG_0005.HEIC", flag="pick")
        cat.set_decision("IMG_0006.jpg", flag="reject")
        cat.set_decision("card2/IMG_0001.JPG", flag="pick", stars=1)
    return s


# What exiftool must read after `--xmp` with the default mapping (path of the file read).
EXPECTED_XMP = {
    "IMG_0001.xmp": (3, "Green"),
    "IMG_0002.xmp": (-1, "Red"),
    "IMG_0003.xmp": (5, "Green"),  # the sidecar had 4/Blue from Lightroom; the pick decides
    "IMG_0004.xmp": (2, "Yellow"),
    "IMG_0005.xmp": (0, "Green"),
    "IMG_0006.xmp": (-1, "Red"),
    "card2/IMG_0001.xmp": (1, "Green"),
}


def exiftool_read(paths: list[Path]) -> dict[str, tuple[int | None, str | None]]:
    """(Rating, Label) as exiftool reads them, by absolute path."""
    assert EXIFTOOL is not None
    out = subprocess.run(
        [EXIFTOOL, "-j", "-n", "-XMP-xmp:Rating", "-XMP-xmp:Label", *[str(p.absolute()) for p in paths]],
        capture_output=True, check=False,
    )  # fmt: skip
    rows = json.loads(out.stdout or b"[]")
    res = {}
    for r in rows:
        rating = r.get("Rating")
        res[r["SourceFile"]] = (None if rating is None else int(rating), r.get("Label") or None)
    return res


@pytest.fixture()
def session(tmp_path: Path) -> Session:
    return build_session(tmp_path)


def culler_subprocess(*argv: str, env: dict[str, str] | None = None, timeout: float = 120):
    import sys

    e = dict(os.environ)
    if env:
        e.update(env)
    return subprocess.run([sys.executable, "-m", "engine", *map(str, argv)], capture_output=True,
                          text=True, env=e, timeout=timeout, check=False)
