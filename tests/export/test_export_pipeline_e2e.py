"""End to end with the real pipeline: rank, decide, export every way but --embed; originals
byte-identical; exiftool reads what the catalog says.  Skipped while engine.pipeline is absent."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest
from export_fixtures import (
    EXIFTOOL,
    exiftool_read,
    hash_tree,
    jpeg_bytes,
    raw_bytes,
    write_heic,
    write_tiff,
)

from engine.catalog import Catalog
from engine.cli import main

pytestmark = pytest.mark.slow


def _pipeline():  # type: ignore[no-untyped-def]
    if importlib.util.find_spec("engine.pipeline") is None:
        pytest.skip("engine.pipeline is not part of this build yet")
    import engine.pipeline as pipeline

    if not hasattr(pipeline, "rank_folder") or not hasattr(pipeline, "RankOptions"):
        pytest.skip("engine.pipeline has no rank_folder/RankOptions yet")
    return pipeline


def test_rank_decide_export_originals_untouched(tmp_path: Path) -> None:
    pipeline = _pipeline()
    root = tmp_path / "shoot"
    root.mkdir()
    for i in range(3):
        (root / f"IMG_{i:04d}.JPG").write_bytes(jpeg_bytes(i, (320, 240)))
    (root / "IMG_0000.CR3").write_bytes(raw_bytes(".cr3", 0))  # pairs with IMG_0000.JPG
    write_heic(root / "IMG_0010.HEIC", 10)
    write_tiff(root / "IMG_0011.tif", 11)
    write_tiff(root / "IMG_0012.dng", 12, dng=True)
    before = hash_tree(root)
    cat_path = tmp_path / "shoot.culler.sqlite"
    pipeline.rank_folder(pipeline.RankOptions(root, catalog=cat_path))
    assert hash_tree(root) == before
    with Catalog(cat_path, root) as cat:
        keys = [s["key"] for s in cat.shots()]
        assert "IMG_0000.JPG" in keys and "IMG_0000.CR3" not in keys
        cat.set_decision("IMG_0000.JPG", flag="pick", stars=4)
        cat.set_decision(keys[-1], flag="reject")
    for argv in (["--xmp", "--suggested"], ["--to", tmp_path / "out", "--suggested"],
                 ["--to", tmp_path / "links", "--link"], ["--format", "json", "-o", tmp_path / "d.json"]):
        assert main(["export", str(root), *map(str, argv)]) == 0, argv
    assert main(["check", str(root)]) == 0
    assert {k: v for k, v in hash_tree(root).items() if not k.endswith(".xmp")} == before
    if EXIFTOOL:
        got = exiftool_read([root / "IMG_0000.xmp", tmp_path / "out" / "IMG_0000.JPG"])
        assert set(got.values()) == {(4, "Green")}
