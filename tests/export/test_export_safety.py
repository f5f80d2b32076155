"""The photographer's files are safe: originals byte-identical, crashes leave old-or-new,
full disks, read-only destinations and over-long paths end in a clear message, and the
catalog survives SIGKILL (verified by ``culler check``)."""

from __future__ import annotations

import errno
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
from export_fixtures import (
    LR_SIDECAR,
    Session,
    add_shot,
    build_session,
    culler_subprocess,
    hash_tree,
    jpeg_bytes,
    needs_exiftool,
)

from engine import safeio
from engine.catalog import Catalog
from engine.cli import main


def run(*argv: object) -> int:
    return main([str(a) for a in argv])


def originals(root: Path) -> dict[str, str]:
    """Hashes of every photo in the session (sidecars are ours to merge, backups ours to write)."""
    return {k: v for k, v in hash_tree(root).items() if not k.lower().endswith((".xmp", ".culler-bak"))}


def temp_files(*roots: Path) -> list[Path]:
    return [p for r in roots for p in r.rglob(f"{safeio.TMP_PREFIX}*")]


def test_every_original_is_byte_identical_after_a_full_session(session: Session, tmp_path: Path) -> None:
    before = originals(session.root)
    assert len(before) == 10
    with Catalog(session.catalog_path, session.root) as cat:  # the culling itself
        cat.set_decision("IMG_0007.tif", flag="pick", stars=2)
        cat.set_decision("IMG_0001.JPG", label="Purple")
        cat.set_decision("IMG_0006.jpg", flag=None)
    modes = [
        ["--xmp"], ["--xmp", "--suggested"], ["--xmp", "--sidecars", "both"],
        ["--to", tmp_path / "copies"], ["--to", tmp_path / "copies", "--suggested"],
        ["--to", tmp_path / "links", "--link"], ["--to", tmp_path / "plain", "--no-metadata"],
        ["--format", "csv", "-o", tmp_path / "d.csv"], ["--format", "json", "-o", tmp_path / "d.json"],
        [],  # default: copies beside the folder
    ]  # fmt: skip
    for argv in modes:
        assert run("export", session.root, *argv) == 0, argv
    assert run("check", session.root) == 0
    assert originals(session.root) == before
    assert (session.root / "IMG_0003.xmp.culler-bak").read_text(encoding="utf-8") == LR_SIDECAR
    assert not temp_files(session.root, tmp_path)


def _reference(tmp_path: Path, argv: list[str]) -> dict[str, str]:
    ref_session = build_session(tmp_path / "ref")
    out = tmp_path / "ref-out"
    args = [a.replace("{OUT}", str(out)) for a in argv]
    assert run("export", ref_session.root, *args) == 0
    return hash_tree(out if "--to" in argv else ref_session.root)


@needs_exiftool
def test_export_killed_at_every_stage_reruns_cleanly(tmp_path: Path) -> None:
    """SIGKILL at the worst moment (temporary file complete, not yet renamed), at growing write
    counts; each time the destination holds only complete files; the last run finishes it."""
    argv = ["--suggested", "--to", "{OUT}"]
    want = _reference(tmp_path, argv)
    s = build_session(tmp_path / "run")
    before = originals(s.root)
    out = tmp_path / "out"
    args = [a.replace("{OUT}", str(out)) for a in argv]
    kills = 0
    for n in (1, 2, 4, 7):
        proc = culler_subprocess("export", s.root, *args, env={"CULLER_FAULT_KILL_AT": str(n)})
        if proc.returncode == -signal.SIGKILL:
            kills += 1
        got = {k: v for k, v in hash_tree(out).items() if safeio.TMP_PREFIX not in k}
        for k, v in got.items():
            assert want[k] == v, f"{k} is not the complete file after a kill at write {n}"
        if proc.returncode == 0:
            assert "temporary file(s) left by an interrupted run" in proc.stdout
    assert kills >= 3
    proc = culler_subprocess("export", s.root, *args)
    assert proc.returncode == 0, proc.stderr
    assert hash_tree(out) == want  # complete, identical to an uninterrupted export, no temp file
    assert originals(s.root) == before


def test_sidecar_merge_killed_leaves_old_or_new(tmp_path: Path) -> None:
    s = build_session(tmp_path)
    side = s.root / "IMG_0003.xmp"
    merged = None
    for n in range(1, 6):
        proc = culler_subprocess("export", s.root, "--xmp", env={"CULLER_FAULT_KILL_AT": str(n)})
        content = side.read_text(encoding="utf-8")
        if content != LR_SIDECAR:
            merged = merged or content
            assert content == merged and 'xmp:Rating="5"' in content
        bak = s.root / "IMG_0003.xmp.culler-bak"
        if bak.exists():
            assert bak.read_text(encoding="utf-8") == LR_SIDECAR
        if proc.returncode == 0:
            break
    proc = culler_subprocess("export", s.root, "--xmp")
    assert proc.returncode == 0, proc.stderr
    assert not temp_files(s.root)
    assert (s.root / "IMG_0003.xmp.culler-bak").read_text(encoding="utf-8") == LR_SIDECAR
    assert not (s.root / "IMG_0003.xmp.culler-bak-2").exists()


def test_export_killed_at_random_times(tmp_path: Path) -> None:
    root = tmp_path / "big"
    root.mkdir()
    cat_path = tmp_path / "big.culler.sqlite"
    with Catalog(cat_path, root) as cat:
        for i in range(60):
            key = f"DSC_{i:04d}.JPG"
            (root / key).write_bytes(jpeg_bytes(i, (320, 240)))
            add_shot(cat, root, key)
            cat.set_decision(key, flag="pick", stars=i % 6)
    before = originals(root)
    ref = tmp_path / "ref"
    assert run("export", root, "--to", ref) == 0
    want = hash_tree(ref)
    out = tmp_path / "out"
    import random

    rng = random.Random(7)
    partial = 0

    def count() -> int:
        return sum(1 for p in out.glob("*") if safeio.TMP_PREFIX not in p.name) if out.exists() else 0

    for _ in range(3):
        target = count() + rng.randint(3, 15)
        proc = subprocess.Popen([sys.executable, "-m", "engine", "export", str(root), "--to", str(out)],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 60
        while proc.poll() is None and count() < target and time.monotonic() < deadline:
            time.sleep(0.002)
        proc.send_signal(signal.SIGKILL)  # at a random point between or inside writes
        proc.wait()
        done = {k: v for k, v in (hash_tree(out) if out.exists() else {}).items() if safeio.TMP_PREFIX not in k}
        for k, v in done.items():
            assert want[k] == v, k
        partial += 0 < len(done) < len(want)
    assert partial >= 1  # at least one kill landed in the middle of the export
    proc2 = culler_subprocess("export", root, "--to", out)
    assert proc2.returncode == 0, proc2.stderr
    assert hash_tree(out) == want
    assert originals(root) == before


def test_full_disk_stops_cleanly(session: Session, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    before_tree = hash_tree(session.root)
    real_fsync = os.fsync
    calls = {"n": 0}

    def fsync(fd: int) -> None:
        import stat

        if stat.S_ISREG(os.fstat(fd).st_mode):
            calls["n"] += 1
            if calls["n"] >= 3:  # two sidecars fit, then the disk is full
                raise OSError(errno.ENOSPC, "No space left on device")
        real_fsync(fd)

    monkeypatch.setattr(safeio.os, "fsync", fsync)
    capsys.readouterr()
    assert run("export", session.root, "--xmp") == 1
    err = capsys.readouterr().err
    assert "is full" in err and "stopped" in err and "Traceback" not in err
    after = hash_tree(session.root)
    assert {k for k in after if k not in before_tree} == {"IMG_0001.xmp", "IMG_0002.xmp"}
    assert all(after[k] == v for k, v in before_tree.items())  # nothing replaced, the LR sidecar intact
    assert not temp_files(session.root)
    monkeypatch.setattr(safeio.os, "fsync", real_fsync)
    assert run("export", session.root, "--xmp") == 0  # space freed: the re-run completes


def test_read_only_card(session: Session, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    """A write-protected card: every write in the folder fails with EROFS."""
    before = hash_tree(session.root)
    real_open = os.open
    root = str(session.root)

    def ro_open(path, flags, *a, **kw):  # type: ignore[no-untyped-def]
        if str(path).startswith(root) and flags & (os.O_WRONLY | os.O_RDWR | os.O_CREAT):
            raise OSError(errno.EROFS, "Read-only file system", str(path))
        return real_open(path, flags, *a, **kw)

    monkeypatch.setattr(safeio.os, "open", ro_open)
    capsys.readouterr()
    assert run("export", session.root, "--xmp") == 1
    err = capsys.readouterr().err
    assert "read-only file system (write-protected card?)" in err and "files, first" in err
    assert hash_tree(session.root) == before


@pytest.mark.skipif(hasattr(os, "geteuid") and os.geteuid() == 0, reason="root ignores folder permissions")
def test_read_only_destination_folder(session: Session, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "ro"
    out.mkdir()
    out.chmod(0o555)
    try:
        assert run("export", session.root, "--to", out) == 1
        assert "no permission to write" in capsys.readouterr().err
        assert list(out.iterdir()) == []
    finally:
        out.chmod(0o755)


def test_over_long_paths(session: Session, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    long_name = tmp_path / ("n" * 300)
    assert run("export", session.root, "--to", long_name) == 1
    assert "path too long" in capsys.readouterr().err
    deep = tmp_path.joinpath(*["d" * 200] * 22)
    assert run("export", session.root, "--to", deep) == 1
    assert "path too long" in capsys.readouterr().err
    assert not (tmp_path / ("d" * 200)).exists()
    with pytest.raises(safeio.SafeIOError, match="too long"):
        safeio.write_bytes_atomic(tmp_path / ("x" * 256), b"data", replace=False)


def test_atomic_write_never_overwrites_without_replace(tmp_path: Path) -> None:
    p = tmp_path / "a.xmp"
    p.write_bytes(b"old")
    with pytest.raises(safeio.SafeIOError, match="already exists"):
        safeio.write_bytes_atomic(p, b"new", replace=False)
    assert p.read_bytes() == b"old"
    safeio.write_bytes_atomic(p, b"new", replace=True)
    assert p.read_bytes() == b"new"
    assert [x.name for x in tmp_path.iterdir()] == ["a.xmp"]
    # a stale temp file of a dead process is cleaned, one of a live process is not
    dead = tmp_path / f"{safeio.TMP_PREFIX}999999-abcd.xmp"
    live = tmp_path / f"{safeio.TMP_PREFIX}{os.getppid()}-abcd.xmp"
    dead.write_bytes(b"x")
    live.write_bytes(b"x")
    assert safeio.clean_stale_temps(tmp_path) == [dead]
    assert live.exists()


# -- the catalog -----------------------------------------------------------------------------------
WRITER = """
import sys, time
from engine.catalog import Catalog
cat = Catalog(sys.argv[1], sys.argv[2])
i = 0
while True:
    i += 1
    key = f"IMG_{i % 50:04d}.JPG"
    cat.upsert_shot({"key": key, "primary_path": key, "status": "pending"})
    cat.set_decision(key, flag=("pick", "reject", None)[i % 3], stars=i % 6,
                     label=(None, "Red", "Green")[i % 3])
    if i == 200:
        print("running", flush=True)
"""


def test_catalog_survives_sigkill_and_check_verifies_it(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    root = tmp_path / "shoot"
    root.mkdir()
    cat_path = tmp_path / "shoot.culler.sqlite"
    Catalog(cat_path, root).close()
    for _ in range(2):
        proc = subprocess.Popen([sys.executable, "-c", WRITER, str(cat_path), str(root)],
                                stdout=subprocess.PIPE, text=True)
        assert proc.stdout is not None
        assert proc.stdout.readline().strip() == "running"
        time.sleep(0.2)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        capsys.readouterr()
        assert run("check", "--catalog", cat_path) == 0
        out = capsys.readouterr().out
        assert "journal wal" in out and "OK" in out
    with Catalog(cat_path, root) as cat:
        decisions = cat.decisions()
        assert len(decisions) == 50
        assert all(d.stars in range(6) for d in decisions.values())


def test_check_reports_problems(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    s = build_session(tmp_path)
    assert run("check", s.root) == 0
    assert "9 shots (9 analysed)" in capsys.readouterr().out
    conn = sqlite3.connect(s.catalog_path)
    conn.execute("UPDATE decisions SET stars = 9 WHERE shot = 'IMG_0001.JPG'")
    conn.commit()
    conn.close()
    (s.root / "IMG_0006.jpg").unlink()
    assert run("check", s.root) == 1
    out = capsys.readouterr().out
    assert "1 decision(s) hold invalid values" in out and "missing from the folder" in out
    garbage = tmp_path / "g.sqlite"
    garbage.write_bytes(b"\x00" * 4096)
    assert run("check", "--catalog", garbage) == 2
    assert "not an SQLite database" in capsys.readouterr().out
    other = tmp_path / "other.sqlite"
    c = sqlite3.connect(other)
    c.execute("CREATE TABLE x (a)")
    c.close()
    assert run("check", "--catalog", other) == 2
    assert "not a portrait-culler catalog" in capsys.readouterr().out
    assert run("check", "--catalog", tmp_path / "none.sqlite") == 2
    assert run("check") == 2
