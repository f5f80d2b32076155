"""``culler export`` modes on the mixed CR3/NEF/ARW/DNG/JPEG/HEIC/TIFF session, read back with
exiftool; collisions; --suggested; CSV/JSON; mapping options."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest
from export_fixtures import (
    EXPECTED_XMP,
    LR_SIDECAR,
    Session,
    add_shot,
    build_session,
    exiftool_read,
    hash_tree,
    jpeg_bytes,
    needs_exiftool,
    raw_bytes,
    rescan,
)

from engine.catalog import Catalog
from engine.cli import main


def run(*argv: object) -> int:
    return main([str(a) for a in argv])


@needs_exiftool
def test_xmp_sidecars_read_by_exiftool(session: Session, capsys: pytest.CaptureFixture[str]) -> None:
    assert run("export", session.root, "--xmp") == 0
    paths = [session.root / k for k in EXPECTED_XMP]
    got = exiftool_read(paths)
    for rel, want in EXPECTED_XMP.items():
        assert got[str(session.root / rel)] == want, rel
    # the RAW+JPEG pair has one sidecar, named after the stem; the undecided have none
    assert not (session.root / "IMG_0007.xmp").exists() and not (session.root / "IMG_0008.xmp").exists()
    # the Lightroom sidecar was merged and its previous content kept
    assert (session.root / "IMG_0003.xmp.culler-bak").read_text(encoding="utf-8") == LR_SIDECAR
    merged = (session.root / "IMG_0003.xmp").read_bytes()
    assert b"crs:Exposure2012" in merged and b"converted from image/x-sony-arw" in merged
    before = hash_tree(session.root)
    capsys.readouterr()
    assert run("export", session.root, "--xmp") == 0  # idempotent
    assert "0 file(s) written, 7 already up to date" in capsys.readouterr().out
    assert hash_tree(session.root) == before


@needs_exiftool
def test_suggested_never_overrides_decisions(session: Session) -> None:
    assert run("export", session.root, "--xmp", "--suggested") == 0
    got = exiftool_read([session.root / "IMG_0007.xmp", session.root / "IMG_0008.xmp",
                         session.root / "IMG_0004.xmp", session.root / "IMG_0002.xmp"])
    assert got[str(session.root / "IMG_0007.xmp")] == (0, "Green")  # suggested pick
    assert got[str(session.root / "IMG_0008.xmp")] == (-1, "Red")  # suggested reject
    assert got[str(session.root / "IMG_0004.xmp")] == (2, "Yellow")  # user: stars + label, suggestion 'reject' ignored
    assert got[str(session.root / "IMG_0002.xmp")] == (-1, "Red")
    with Catalog(session.catalog_path) as cat:  # the suggestion is not written into the catalog
        assert cat.decision("IMG_0007.tif").flag is None


@needs_exiftool
def test_darktable_names(session: Session) -> None:
    assert run("export", session.root, "--xmp", "--sidecars", "darktable") == 0
    files = [session.root / n for n in ("IMG_0001.CR3.xmp", "IMG_0001.JPG.xmp", "IMG_0002.NEF.xmp",
                                        "IMG_0005.HEIC.xmp")]
    got = exiftool_read(files)
    assert [got[str(f)] for f in files] == [(3, "Green"), (3, "Green"), (-1, "Red"), (0, "Green")]
    assert not (session.root / "IMG_0001.xmp").exists()


@needs_exiftool
def test_copy_picks_for_fresh_import(session: Session, tmp_path: Path) -> None:
    out = tmp_path / "picks"
    assert run("export", session.root, "--suggested", "--to", out) == 0
    names = sorted(p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file())
    assert names == sorted([
        "IMG_0001.JPG", "IMG_0001.CR3", "IMG_0001.xmp",  # pair + new sidecar for the RAW
        "IMG_0003.ARW", "IMG_0003.xmp",  # RAW + its Lightroom sidecar, merged
        "IMG_0005.HEIC", "IMG_0007.tif",  # embedded
        "card2/IMG_0001.JPG",  # the other card keeps its folder: no collision
    ])  # fmt: skip
    assert (out / "IMG_0001.CR3").read_bytes() == (session.root / "IMG_0001.CR3").read_bytes()
    got = exiftool_read([out / n for n in ("IMG_0001.JPG", "IMG_0001.xmp", "IMG_0003.xmp", "IMG_0005.HEIC",
                                           "IMG_0007.tif", "card2/IMG_0001.JPG")])
    assert got[str(out / "IMG_0001.JPG")] == (3, "Green")
    assert got[str(out / "IMG_0001.xmp")] == (3, "Green")
    assert got[str(out / "IMG_0003.xmp")] == (5, "Green")
    assert got[str(out / "IMG_0005.HEIC")] == (0, "Green")
    assert got[str(out / "IMG_0007.tif")] == (0, "Green")
    assert got[str(out / "card2/IMG_0001.JPG")] == (1, "Green")
    assert b"crs:Exposure2012" in (out / "IMG_0003.xmp").read_bytes()
    assert (out / "IMG_0003.ARW").stat().st_mtime_ns == (session.root / "IMG_0003.ARW").stat().st_mtime_ns
    before = hash_tree(out)
    assert run("export", session.root, "--suggested", "--to", out) == 0
    assert hash_tree(out) == before
    # a changed decision updates the copies in place, nothing else moves
    with Catalog(session.catalog_path) as cat:
        cat.set_decision("IMG_0001.JPG", stars=5)
    assert run("export", session.root, "--suggested", "--to", out) == 0
    got = exiftool_read([out / "IMG_0001.JPG", out / "IMG_0001.xmp"])
    assert set(got.values()) == {(5, "Green")}


def test_link_and_no_metadata(session: Session, tmp_path: Path) -> None:
    out = tmp_path / "links"
    assert run("export", session.root, "--to", out, "--link") == 0
    assert (out / "IMG_0001.JPG").stat().st_ino == (session.root / "IMG_0001.JPG").stat().st_ino
    assert (out / "IMG_0001.CR3").stat().st_ino == (session.root / "IMG_0001.CR3").stat().st_ino
    assert (out / "IMG_0001.xmp").is_file()  # a new sidecar, not a link
    assert run("export", session.root, "--to", out, "--link") == 0
    plain = tmp_path / "plain"
    assert run("export", session.root, "--to", plain, "--no-metadata") == 0
    for p in plain.rglob("*"):
        if p.is_file() and p.suffix.lower() != ".xmp":
            assert p.read_bytes() == (session.root / p.relative_to(plain)).read_bytes()
    assert (plain / "IMG_0003.xmp").read_text(encoding="utf-8") == LR_SIDECAR  # carried as it was
    assert not (plain / "IMG_0001.xmp").exists()


def test_default_mode_copies_beside_the_folder(session: Session) -> None:
    assert run("export", session.root) == 0
    assert (session.root.parent / "shoot-picks" / "IMG_0001.JPG").is_file()


def test_two_cards_same_names_into_one_folder(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    a, b = build_session(tmp_path / "a"), build_session(tmp_path / "b")
    (b.root / "IMG_0001.JPG").write_bytes(jpeg_bytes(555))  # same name, another photo
    rescan(b, "IMG_0001.JPG")
    out = tmp_path / "out"
    assert run("export", a.root, "--to", out) == 0
    first = hash_tree(out)
    capsys.readouterr()
    assert run("export", b.root, "--to", out) == 1
    err = capsys.readouterr().err
    assert "IMG_0001.JPG already exists and is a different file" in err and "nothing overwritten" in err
    after = hash_tree(out)
    assert all(after[k] == v for k, v in first.items())  # nothing of the first card overwritten


def test_sidecar_name_collisions(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    root = tmp_path / "s"
    root.mkdir()
    (root / "IMG_0001.CR3").write_bytes(raw_bytes(".cr3", 1))
    (root / "IMG_0001.NEF").write_bytes(raw_bytes(".nef", 2))  # two cameras, one stem
    (root / "IMG_0002.ARW").write_bytes(raw_bytes(".arw", 3))
    (root / "IMG_0002.JPG").write_bytes(jpeg_bytes(4))  # not paired in this catalog
    cat_path = tmp_path / "s.culler.sqlite"
    with Catalog(cat_path, root) as cat:
        for k in ("IMG_0001.CR3", "IMG_0001.NEF", "IMG_0002.ARW"):
            add_shot(cat, root, k, raw=k)
        add_shot(cat, root, "IMG_0002.JPG")
        cat.set_decision("IMG_0001.CR3", flag="pick")
        cat.set_decision("IMG_0001.NEF", flag="reject")
        cat.set_decision("IMG_0002.ARW", stars=4)
        cat.set_decision("IMG_0002.JPG", stars=1)
    (root / "IMG_0001.xmp").write_bytes(b"precious")  # must not be touched
    capsys.readouterr()
    assert run("export", root, "--xmp") == 1
    err = capsys.readouterr().err
    assert "IMG_0001.CR3: its sidecar IMG_0001.xmp would also be the sidecar of IMG_0001.NEF" in err
    assert "IMG_0002.JPG: its sidecar IMG_0002.xmp would also be the sidecar of IMG_0002.ARW" in err
    assert (root / "IMG_0001.xmp").read_bytes() == b"precious"
    from engine.export.xmp import read_rating_label

    assert read_rating_label((root / "IMG_0002.xmp").read_bytes()) == (4, None)  # the RAW keeps the name
    assert run("export", root, "--xmp", "--sidecars", "darktable") == 0
    assert read_rating_label((root / "IMG_0001.CR3.xmp").read_bytes()) == (0, "Green")
    assert read_rating_label((root / "IMG_0001.NEF.xmp").read_bytes()) == (-1, "Red")


def test_existing_sidecar_with_other_case_is_merged(session: Session) -> None:
    (session.root / "IMG_0002.XMP").write_text(LR_SIDECAR, encoding="utf-8")
    assert run("export", session.root, "--xmp") == 0
    assert sorted(p.name for p in session.root.glob("IMG_0002.*")) == [
        "IMG_0002.NEF", "IMG_0002.XMP", "IMG_0002.XMP.culler-bak"
    ]
    from engine.export.xmp import read_rating_label

    assert read_rating_label((session.root / "IMG_0002.XMP").read_bytes()) == (-1, "Red")


def test_hostile_sidecar_in_session_refused(session: Session, capsys: pytest.CaptureFixture[str]) -> None:
    evil = b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]><x>&e;</x>'
    (session.root / "IMG_0002.xmp").write_bytes(evil)
    capsys.readouterr()
    assert run("export", session.root, "--xmp") == 1
    err = capsys.readouterr().err
    assert "IMG_0002.xmp: refused: it contains a DOCTYPE declaration" in err
    assert (session.root / "IMG_0002.xmp").read_bytes() == evil
    assert (session.root / "IMG_0001.xmp").is_file()  # the others were written


@needs_exiftool
def test_mapping_options_and_file(session: Session, tmp_path: Path) -> None:
    m = tmp_path / "lr-de.toml"
    m.write_text('[labels]\nGreen = "Grün"\nRed = "Rot"\nYellow = "Gelb"\n', encoding="utf-8")
    assert run("export", session.root, "--xmp", "--mapping", m, "--reject-label", "none", "--pick-rating", "1") == 0
    got = exiftool_read([session.root / "IMG_0001.xmp", session.root / "IMG_0002.xmp", session.root / "IMG_0004.xmp"])
    assert got[str(session.root / "IMG_0001.xmp")] == (1, "Grün")
    assert got[str(session.root / "IMG_0002.xmp")] == (-1, None)
    assert got[str(session.root / "IMG_0004.xmp")] == (2, "Gelb")


@pytest.mark.parametrize("argv,msg", [
    (["--xmp", "--pick-rating", "7"], "rating must be -1..5"),
    (["--xmp", "--mapping", "/nonexistent.toml"], "cannot read the mapping file"),
    (["--xmp", "--link"], "--link goes with --to"),
    (["--xmp", "-o", "x.csv"], "-o/--output goes with --format"),
    (["--xmp", "--catalog", "/nonexistent.sqlite"], "no catalog at"),
])  # fmt: skip
def test_bad_input_one_clear_message(session: Session, capsys: pytest.CaptureFixture[str], argv: list[str], msg: str) -> None:
    assert run("export", session.root, *argv) == 2
    err = capsys.readouterr().err
    assert msg in err and "Traceback" not in err


def test_not_a_catalog(session: Session, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "bad.sqlite"
    bad.write_bytes(b"not a database at all" * 100)
    assert run("export", session.root, "--xmp", "--catalog", bad) == 2
    assert "not a usable catalog" in capsys.readouterr().err


def test_decisions_csv_and_json(session: Session, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "d.csv"
    assert run("export", session.root, "--format", "csv", "-o", out, "--suggested") == 0
    rows = list(csv.DictReader(io.StringIO(out.read_text(encoding="utf-8"))))
    by = {r["key"]: r for r in rows}
    assert len(rows) == 9
    assert by["IMG_0001.JPG"]["files"] == "IMG_0001.JPG;IMG_0001.CR3"
    assert (by["IMG_0001.JPG"]["flag"], by["IMG_0001.JPG"]["xmp_rating"], by["IMG_0001.JPG"]["xmp_label"]) == ("pick", "3", "Green")
    assert (by["IMG_0007.tif"]["flag"], by["IMG_0007.tif"]["source"]) == ("pick", "suggested")
    capsys.readouterr()
    assert run("export", session.root, "--format", "json") == 0
    doc = json.loads(capsys.readouterr().out)
    shots = {s["key"]: s for s in doc["shots"]}
    assert shots["IMG_0002.NEF"]["xmp_rating"] == -1 and shots["IMG_0008.NEF"]["flag"] is None
    assert shots["IMG_0008.NEF"]["source"] == "none"
    # -o never overwrites a photo by mistake
    target = session.root / "IMG_0006.jpg"
    before = target.read_bytes()
    assert run("export", session.root, "--format", "csv", "-o", target) == 1
    assert target.read_bytes() == before


@needs_exiftool
def test_embed_in_place_mixed_session(session: Session) -> None:
    from engine.export.imagedata import image_digest
    from engine.export.jpeg import image_parts

    r = session.root
    digests = {n: image_digest(r / n, k) for n, k in [("IMG_0004.dng", "dng"), ("IMG_0005.HEIC", "heif"),
                                                        ("IMG_0007.tif", "tiff")]}
    jpeg_parts = image_parts((r / "IMG_0006.jpg").read_bytes())
    raw_before = (r / "IMG_0002.NEF").read_bytes()
    assert run("export", r, "--embed", "--suggested") == 0
    got = exiftool_read([r / n for n in ("IMG_0001.JPG", "IMG_0004.dng", "IMG_0005.HEIC", "IMG_0006.jpg",
                                         "IMG_0007.tif", "IMG_0002.xmp", "IMG_0001.xmp")])
    assert got == {
        str(r / "IMG_0001.JPG"): (3, "Green"), str(r / "IMG_0004.dng"): (2, "Yellow"),
        str(r / "IMG_0005.HEIC"): (0, "Green"), str(r / "IMG_0006.jpg"): (-1, "Red"),
        str(r / "IMG_0007.tif"): (0, "Green"), str(r / "IMG_0002.xmp"): (-1, "Red"),
        str(r / "IMG_0001.xmp"): (3, "Green"),
    }  # fmt: skip
    assert {n: image_digest(r / n, k) for n, k in [("IMG_0004.dng", "dng"), ("IMG_0005.HEIC", "heif"),
                                                    ("IMG_0007.tif", "tiff")]} == digests
    assert image_parts((r / "IMG_0006.jpg").read_bytes()) == jpeg_parts
    assert (r / "IMG_0002.NEF").read_bytes() == raw_before  # RAW never embedded into
    before = hash_tree(r)
    assert run("export", r, "--embed", "--suggested") == 0
    assert hash_tree(r) == before  # idempotent


def test_embed_without_exiftool(session: Session, monkeypatch: pytest.MonkeyPatch,
                                capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("CULLER_EXIFTOOL", "")
    tiff_before = (session.root / "IMG_0004.dng").read_bytes()
    capsys.readouterr()
    assert run("export", session.root, "--embed") == 1
    err = capsys.readouterr().err
    assert "needs exiftool" in err and "Traceback" not in err
    assert (session.root / "IMG_0004.dng").read_bytes() == tiff_before
    from engine.export.jpeg import read_xmp

    assert read_xmp((session.root / "IMG_0006.jpg").read_bytes()) is not None  # JPEG done by culler itself
