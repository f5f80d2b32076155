"""Issue 10: nothing read from a catalog is trusted.  Paths must stay inside the session folder,
symbolic links that leave it are never read through, hostile XML and bad decision rows cost one
line each, and decisions are bound to the content they were made on."""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

import pytest
from export_fixtures import (
    Session,
    build_session,
    exiftool_read,
    jpeg_bytes,
    needs_exiftool,
    rescan,
)

from engine.cli import main


def run(*argv: object) -> int:
    return main([str(a) for a in argv])


def tree(base: Path, skip: Path | None = None) -> dict[str, str]:
    """Every file under ``base`` (links as 'link->target'), except under ``skip``."""
    out = {}
    for dirpath, dirnames, filenames in os.walk(base):
        d = Path(dirpath)
        if skip is not None and (d == skip or skip in d.parents):
            dirnames[:] = []
            continue
        for n in filenames + [x for x in dirnames if (d / x).is_symlink()]:
            if ".culler.sqlite" in n:
                continue  # the catalog (and its WAL) sit beside the folder
            p = d / n
            rel = p.relative_to(base).as_posix()
            out[rel] = f"link->{os.readlink(p)}" if p.is_symlink() else p.read_bytes().hex()[:64] + str(p.stat().st_size)
    return out


def sql(s: Session, statement: str, *params: object) -> None:
    conn = sqlite3.connect(s.catalog_path)
    conn.execute(statement, params)
    conn.commit()
    conn.close()


def outside_victims(tmp_path: Path) -> Path:
    out = tmp_path / "outside"
    out.mkdir()
    (out / "x.jpg").write_bytes(jpeg_bytes(77))
    (out / "secret.xmp").write_text("not for the client\n")
    return out


# -- item 4: catalog paths ------------------------------------------------------------------------
@needs_exiftool
@pytest.mark.parametrize("hostile", ["../outside/x.jpg", "ABS", "linkdir/x.jpg"])
@pytest.mark.parametrize("mode", ["--xmp", "--embed", "--to"])
def test_catalog_paths_must_stay_inside_the_session(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], hostile: str, mode: str
) -> None:
    s = build_session(tmp_path)
    outside = outside_victims(tmp_path)
    (s.root / "linkdir").symlink_to(outside, target_is_directory=True)
    value = str(outside / "x.jpg") if hostile == "ABS" else hostile
    # IMG_0006.jpg (rejected) now claims a file outside the folder
    sql(s, "UPDATE shots SET primary_path = ? WHERE key = 'IMG_0006.jpg'", value)
    sql(s, "UPDATE files SET path = ? WHERE path = 'IMG_0006.jpg'", value)
    sql(s, "UPDATE decisions SET flag = 'pick' WHERE shot = 'IMG_0006.jpg'")
    before = tree(tmp_path, skip=s.root)
    argv = [mode] + ([tmp_path / "copies"] if mode == "--to" else [])
    assert run("export", s.root, *argv) == 1
    err = capsys.readouterr().err
    lines = [ln for ln in err.splitlines() if "IMG_0006" in ln or "x.jpg" in ln]
    assert len(lines) == 1 and "refused" in lines[0], err
    after = tree(tmp_path, skip=s.root)
    if mode == "--to":
        copies = {k: v for k, v in after.items() if k.startswith("copies/")}
        assert copies and not any("x.jpg" in k for k in copies)
        after = {k: v for k, v in after.items() if not k.startswith("copies/")}
    assert after == before  # nothing outside the session folder was written or changed
    # the rest of the export went on
    if mode == "--xmp":
        assert exiftool_read([s.root / "IMG_0002.xmp"])[str((s.root / "IMG_0002.xmp").absolute())] == (-1, "Red")
    # culler check reports it
    assert run("check", s.root) == 1
    out = capsys.readouterr().out
    assert "lead out of the session folder" in out


# -- item 7 (first half): symlinked sidecars and originals ------------------------------------------
def test_to_never_copies_what_a_symlinked_sidecar_points_to(
    session: Session, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    outside = outside_victims(tmp_path)
    (session.root / "IMG_0003.xmp").unlink()
    (session.root / "IMG_0003.xmp").symlink_to(outside / "secret.xmp")
    (session.root / "IMG_0005.xmp").symlink_to(outside / "secret.xmp")  # a darktable-style name too
    out = tmp_path / "for-client"
    assert run("export", session.root, "--to", out, "--no-metadata") == 1
    err = capsys.readouterr().err
    assert "IMG_0003.xmp is a symbolic link leading out of the session folder" in err
    for p in out.rglob("*"):
        if p.is_file():
            assert b"not for the client" not in p.read_bytes(), p
    assert (out / "IMG_0003.ARW").is_file()  # the photo itself is still delivered
    assert run("export", session.root, "--to", tmp_path / "meta") == 1  # with metadata: same refusal
    for p in (tmp_path / "meta").rglob("*"):
        assert not p.is_file() or b"not for the client" not in p.read_bytes(), p


def test_symlinked_original_leaving_the_folder_is_not_read(
    session: Session, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    outside = outside_victims(tmp_path)
    (session.root / "IMG_0006.jpg").unlink()
    (session.root / "IMG_0006.jpg").symlink_to(outside / "x.jpg")
    sql(session, "UPDATE decisions SET flag = 'pick' WHERE shot = 'IMG_0006.jpg'")
    before = tree(outside)
    assert run("export", session.root, "--to", tmp_path / "c") == 1
    assert "leads out of the session folder" in capsys.readouterr().err
    assert not (tmp_path / "c" / "IMG_0006.jpg").exists()
    assert run("export", session.root, "--embed") == 1
    assert tree(outside) == before


# -- item 6: deeply nested XML ----------------------------------------------------------------------
def deep_xmp(levels: int = 1000) -> bytes:
    return (
        b'<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">'
        b'<rdf:Description rdf:about="" xmlns:xmp="http://ns.adobe.com/xap/1.0/" xmp:Rating="2">'
        + b"<a>" * levels + b"</a>" * levels
        + b"</rdf:Description></rdf:RDF></x:xmpmeta>"
    )  # fmt: skip


@needs_exiftool
def test_deeply_nested_xml_is_refused_in_one_line_and_the_export_goes_on(
    session: Session, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from engine.export import jpeg

    root = session.root
    (root / "IMG_0002.xmp").write_bytes(deep_xmp())
    (root / "IMG_0003.xmp").write_bytes(deep_xmp())
    (root / "IMG_0006.jpg").write_bytes(jpeg.with_xmp(jpeg_bytes(6), deep_xmp(), "t"))
    rescan(session, "IMG_0006.jpg")
    deep_before = {n: (root / n).read_bytes() for n in ("IMG_0002.xmp", "IMG_0003.xmp", "IMG_0006.jpg")}
    assert run("export", root, "--xmp") == 1
    err = capsys.readouterr().err
    assert err.count("nested more than 100 levels deep") == 2, err  # IMG_0002.xmp, IMG_0003.xmp
    assert "Traceback" not in err and "RecursionError" not in err
    got = exiftool_read([root / "IMG_0001.xmp", root / "IMG_0004.xmp"])
    assert got[str((root / "IMG_0001.xmp").absolute())] == (3, "Green")
    assert got[str((root / "IMG_0004.xmp").absolute())] == (2, "Yellow")
    assert run("export", root, "--embed") == 1
    err = capsys.readouterr().err
    assert "IMG_0006.jpg: refused: it contains elements nested more than 100 levels deep" in err, err
    assert exiftool_read([root / "IMG_0001.JPG"])[str((root / "IMG_0001.JPG").absolute())] == (3, "Green")
    assert run("export", root, "--to", tmp_path / "c") == 1  # IMG_0003.xmp is carried: refused again
    assert "nested more than 100 levels deep" in capsys.readouterr().err
    assert (tmp_path / "c" / "IMG_0005.HEIC").is_file()
    assert {n: (root / n).read_bytes() for n in deep_before} == deep_before


# -- item 11: one bad decision row -------------------------------------------------------------------
@needs_exiftool
@pytest.mark.parametrize(
    "column,value",
    [("stars", 99), ("stars", "abc"), ("stars", 2.5), ("flag", "maybe"), ("label", "Chartreuse"), ("stars", -3)],
)
def test_one_bad_decision_row_is_skipped_with_one_line(
    session: Session, tmp_path: Path, capsys: pytest.CaptureFixture[str], column: str, value: object
) -> None:
    sql(session, f"UPDATE decisions SET {column} = ? WHERE shot = 'IMG_0002.NEF'", value)
    assert run("export", session.root, "--xmp") == 1
    err = capsys.readouterr().err
    bad = [ln for ln in err.splitlines() if "IMG_0002.NEF" in ln]
    assert len(bad) == 1 and "skipped" in bad[0] and repr(value) in bad[0], err
    assert not (session.root / "IMG_0002.xmp").exists()
    got = exiftool_read([session.root / "IMG_0001.xmp", session.root / "IMG_0006.xmp"])
    assert got[str((session.root / "IMG_0001.xmp").absolute())] == (3, "Green")
    assert got[str((session.root / "IMG_0006.xmp").absolute())] == (-1, "Red")
    out_csv = tmp_path / "d.csv"
    assert run("export", session.root, "--format", "csv", "-o", out_csv) == 1
    assert "IMG_0002.NEF" in capsys.readouterr().err
    rows = out_csv.read_text().splitlines()
    assert len(rows) == 1 + 8 and not any(r.startswith("IMG_0002.NEF") for r in rows)


# -- item 5: decisions bound to content, catalogs bound to their folder ---------------------------------
def _rescan(s: Session, rel: str) -> None:
    """``rescan`` (what `culler rank` stores for a changed file) without deciding again."""
    with s.catalog() as cat:
        before = cat.conn.execute("SELECT hash FROM decisions WHERE shot = ?", (rel,)).fetchone()[0]
    rescan(s, rel)
    sql(s, "UPDATE decisions SET hash = ? WHERE shot = ?", before, rel)


@needs_exiftool
@pytest.mark.parametrize("rescanned", [False, True])
def test_a_replaced_photo_keeps_no_old_decision(
    session: Session, capsys: pytest.CaptureFixture[str], rescanned: bool
) -> None:
    root = session.root
    (root / "IMG_0006.jpg").write_bytes(jpeg_bytes(999))  # another photo under the same name
    if rescanned:
        _rescan(session, "IMG_0006.jpg")
    assert run("export", root, "--xmp") == 1
    err = capsys.readouterr().err
    lines = [ln for ln in err.splitlines() if "IMG_0006" in ln]
    assert len(lines) == 1 and "changed since you decided" in lines[0], err
    assert not (root / "IMG_0006.xmp").exists()
    assert exiftool_read([root / "IMG_0002.xmp"])[str((root / "IMG_0002.xmp").absolute())] == (-1, "Red")
    assert run("check", root) == 1
    assert "1 decision(s) were made on a photo that has since changed" in capsys.readouterr().out
    assert run("export", root, "--xmp", "--include-changed") == 0
    assert "IMG_0006.jpg: the photo changed" in capsys.readouterr().out
    assert exiftool_read([root / "IMG_0006.xmp"])[str((root / "IMG_0006.xmp").absolute())] == (-1, "Red")
    # deciding again binds the decision to the new photo
    with session.catalog() as cat:
        cat.set_decision("IMG_0006.jpg", flag="pick")
    _rescan(session, "IMG_0006.jpg")
    with session.catalog() as cat:
        cat.set_decision("IMG_0006.jpg", flag="pick")
    assert run("export", root, "--xmp") == 0


@needs_exiftool
def test_embed_rebinds_its_own_rewrites(session: Session, capsys: pytest.CaptureFixture[str]) -> None:
    """--embed changes the bytes (not the image data) of the originals: not "another photo"."""
    root = session.root
    assert run("export", root, "--embed") == 0
    capsys.readouterr()
    assert run("export", root, "--embed") == 0
    assert "changed since" not in capsys.readouterr().err
    assert run("export", root, "--xmp") == 0
    assert run("check", root) == 0
    from engine.scan import file_hash

    with session.catalog() as cat:  # the rewritten bytes are recorded as the same photo
        bound = cat.conn.execute("SELECT hash FROM decisions WHERE shot = 'IMG_0006.jpg'").fetchone()[0]
        assert bound != file_hash(root / "IMG_0006.jpg")
        assert file_hash(root / "IMG_0006.jpg") in cat.same_photo_hashes(bound)
    _rescan(session, "IMG_0006.jpg")  # `culler rank` after the embed: still the same photo
    assert run("export", root, "--xmp") == 0


@needs_exiftool
@pytest.mark.parametrize("kill_at", [2, 5])
def test_embed_killed_then_rerun_sees_no_changed_photo(tmp_path: Path, kill_at: int) -> None:
    from export_fixtures import culler_subprocess

    s = build_session(tmp_path)
    r = culler_subprocess("export", s.root, "--embed", env={"CULLER_FAULT_KILL_AT": str(kill_at)})
    assert r.returncode == -9, (r.returncode, r.stderr)
    r = culler_subprocess("export", s.root, "--embed")
    assert r.returncode == 0 and "changed since" not in r.stderr, r.stderr
    assert culler_subprocess("check", s.root).returncode == 0
    from engine.scan import file_hash

    with s.catalog() as cat:  # every rewritten original is known as the photo it was decided on
        for key in ("IMG_0001.JPG", "IMG_0006.jpg", "IMG_0005.HEIC"):
            bound = cat.conn.execute("SELECT hash FROM decisions WHERE shot = ?", (key,)).fetchone()[0]
            assert file_hash(s.root / key) != bound
            assert file_hash(s.root / key) in cat.same_photo_hashes(bound)


def test_catalog_of_another_folder_is_refused_and_relink_moves_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import shutil

    card1 = build_session(tmp_path / "one")
    card2 = build_session(tmp_path / "two")  # same names; two photos differ
    (card2.root / "IMG_0001.JPG").write_bytes(jpeg_bytes(501))
    (card2.root / "IMG_0006.jpg").write_bytes(jpeg_bytes(506))
    before2 = tree(card2.root)
    assert run("export", card2.root, "--catalog", card1.catalog_path, "--xmp") == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and f"was made for {card1.root}" in err[0] and "--relink" in err[0]
    assert tree(card2.root) == before2  # nothing written
    assert run("check", card2.root, "--catalog", card1.catalog_path) == 1
    assert f"was made for {card1.root}" in capsys.readouterr().out
    assert run("rank", card2.root, "--catalog", card1.catalog_path, "-q") != 0
    assert f"was made for {card1.root}" in capsys.readouterr().err
    # the same card moved: --relink moves the catalog with it
    moved = tmp_path / "moved"
    moved.mkdir()
    shutil.move(card1.root, moved / "shoot")
    shutil.move(card1.catalog_path, moved / "shoot.culler.sqlite")
    assert run("export", moved / "shoot", "--xmp") == 2
    capsys.readouterr()
    assert run("export", moved / "shoot", "--xmp", "--relink") == 0
    assert "relinked the catalog" in capsys.readouterr().out
    assert (moved / "shoot" / "IMG_0006.xmp").is_file()
    assert run("check", moved / "shoot") == 0
    # --relink onto another card: names match, content does not: those decisions are held back
    assert run("export", card2.root, "--catalog", moved / "shoot.culler.sqlite", "--xmp", "--relink") == 1
    err = capsys.readouterr().err
    assert "IMG_0001.JPG: the photo changed" in err and "IMG_0006.jpg: the photo changed" in err
    assert not (card2.root / "IMG_0006.xmp").exists() and (card2.root / "IMG_0002.xmp").exists()


def test_old_catalog_gains_the_decision_hash_column(tmp_path: Path) -> None:
    s = build_session(tmp_path)
    conn = sqlite3.connect(s.catalog_path)
    conn.execute("ALTER TABLE decisions DROP COLUMN hash")
    conn.commit()
    conn.close()
    for _ in range(2):  # idempotent
        with s.catalog() as cat:
            cols = [r[1] for r in cat.conn.execute("PRAGMA table_info(decisions)")]
            assert cols.count("hash") == 1
            assert cat.decision("IMG_0002.NEF").flag == "reject"
    with s.catalog() as cat:
        cat.set_decision("IMG_0002.NEF", stars=1)
        row = cat.conn.execute("SELECT d.hash, s.hash FROM decisions d JOIN shots s ON s.key = d.shot "
                               "WHERE d.shot = 'IMG_0002.NEF'").fetchone()
        assert row[0] == row[1] and row[0]


def test_to_never_writes_through_a_folder_link_inside_out(
    session: Session, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    outside = outside_victims(tmp_path)
    out = tmp_path / "for-client"
    out.mkdir()
    (out / "card2").symlink_to(outside, target_is_directory=True)  # planted in the output folder
    before = tree(outside)
    assert run("export", session.root, "--to", out) == 1
    assert "leads out of" in capsys.readouterr().err
    assert tree(outside) == before
    assert (out / "IMG_0001.JPG").is_file()  # the rest is delivered


@needs_exiftool
def test_a_path_stored_as_bytes_is_checked_like_text(session: Session, capsys: pytest.CaptureFixture[str]) -> None:
    """A non-UTF-8 name may be kept as bytes in the catalog: still exported when inside the
    folder, refused when it climbs out; check --json still works."""
    name = b"caf\xe9.jpg"
    (session.root / os.fsdecode(name)).write_bytes(jpeg_bytes(42))
    from engine.scan import file_hash

    h = file_hash(session.root / os.fsdecode(name))
    conn = sqlite3.connect(session.catalog_path)
    conn.execute("INSERT INTO shots(key, primary_path, hash, status) VALUES (?, ?, ?, 'ok')", (name, name, h))
    conn.execute("INSERT INTO decisions(shot, flag, stars, label, hash) VALUES (?, 'reject', 0, NULL, ?)", (name, h))
    conn.execute("INSERT INTO shots(key, primary_path, status) VALUES (?, ?, 'ok')", (b"x", b"../outside/x.jpg"))
    conn.execute("INSERT INTO decisions(shot, flag, stars) VALUES (?, 'pick', 0)", (b"x",))
    conn.commit()
    conn.close()
    assert run("export", session.root, "--xmp") == 1
    err = capsys.readouterr().err
    assert "climbs out" in err and err.count("problem:") == 1, err
    sidecar = session.root / os.fsdecode(b"caf\xe9.xmp")
    plain = session.root.parent / "read-back.xmp"  # exiftool's JSON names files in UTF-8
    plain.write_bytes(sidecar.read_bytes())
    assert exiftool_read([plain])[str(plain.absolute())] == (-1, "Red")
    assert run("check", session.root, "--json") == 1
    assert "lead out of the session folder" in capsys.readouterr().out


@needs_exiftool
def test_deep_xml_already_in_a_dng_or_heic_is_refused_before_exiftool_rewrites_it(
    session: Session, capsys: pytest.CaptureFixture[str]
) -> None:
    """The hardened parser sees the packet already embedded in a DNG (tag 700) or a HEIC
    before exiftool is asked to rewrite it, as it sees a JPEG's: one line, file untouched,
    the rest of the export goes on."""
    import numpy as np
    import pillow_heif
    import tifffile

    root = session.root
    packet = deep_xmp()
    arr = (np.random.default_rng(4).random((40, 56, 3)) * 255).astype(np.uint8)
    tifffile.imwrite(
        root / "IMG_0004.dng", arr, photometric="rgb",
        extratags=[(50706, "B", 4, (1, 4, 0, 0), True), (700, "B", len(packet), packet, True)],
    )  # fmt: skip
    heif = pillow_heif.from_bytes(mode="RGB", size=(56, 40), data=arr.tobytes())
    heif.save(str(root / "IMG_0005.HEIC"), quality=80, xmp=packet)
    rescan(session, "IMG_0004.dng")
    rescan(session, "IMG_0005.HEIC")
    before = {n: (root / n).read_bytes() for n in ("IMG_0004.dng", "IMG_0005.HEIC")}
    assert run("export", root, "--embed") == 1
    err = capsys.readouterr().err
    for n in before:
        assert f"{n}: refused: it contains elements nested more than 100 levels deep" in err, err
    assert "Traceback" not in err
    assert {n: (root / n).read_bytes() for n in before} == before
    assert exiftool_read([root / "IMG_0001.JPG"])[str((root / "IMG_0001.JPG").absolute())] == (3, "Green")
