"""Issue 10: dead workers, odd names and dates, read-only and locked catalogs, skipped-file reasons."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path

import pytest

from engine import demo
from engine.catalog import Catalog
from engine.pipeline import CRASH_REASON

REPO = Path(__file__).resolve().parents[2]


def _burst(root: Path, n: int = 4, side: int = 320, prefix: str = "B") -> list[Path]:
    root.mkdir(parents=True, exist_ok=True)
    rgb = demo.demo_sources(side)["coffee"]
    out = []
    for i in range(n):
        p = root / f"{prefix}_{i:04d}.jpg"
        demo.save_jpeg(p, demo.noise(rgb, i) if i else rgb, datetime(2026, 1, 1, 12, 0, i))
        out.append(p)
    return out


def _children(pid: int) -> list[int]:
    kids = []
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            stat = Path(f"/proc/{d}/stat").read_text()
        except OSError:
            continue
        if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
            kids.append(int(d))
    return kids


# -- 1. a dead worker ------------------------------------------------------------------------------
def test_worker_killed_by_sigkill_is_detected_and_its_file_retried(tmp_path: Path) -> None:
    """SIGKILL one real pool worker mid-run: the run must not hang, and every file ends analysed."""
    root = tmp_path / "s"
    _burst(root, n=8, side=900)
    cat = tmp_path / "c.sqlite"
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.Popen(
        [sys.executable, "-m", "engine", "rank", str(root), "--catalog", str(cat), "-q", "-j", "2"],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    killed = None
    deadline = time.time() + 90
    while time.time() < deadline and proc.poll() is None and killed is None:
        time.sleep(0.1)
        # the pool's workers are grandchildren or children running engine code (spawn)
        for kid in _children(proc.pid):
            try:
                cmd = Path(f"/proc/{kid}/cmdline").read_bytes()
            except OSError:
                continue
            if b"multiprocessing" in cmd and b"resource_tracker" not in cmd:
                # wait until this worker is really analysing (the first result has landed)
                try:
                    with sqlite3.connect(f"file:{cat}?mode=ro", uri=True, timeout=1) as c:
                        n = c.execute("SELECT count(*) FROM analysis").fetchone()[0]
                except sqlite3.Error:
                    n = 0
                if n >= 1:
                    os.kill(kid, signal.SIGKILL)
                    killed = kid
                    break
    assert killed is not None, "no pool worker seen to kill"
    try:
        out, err = proc.communicate(timeout=120)
    except subprocess.TimeoutExpired:
        proc.kill()
        pytest.fail("culler rank hangs after one of its workers was killed")
    assert proc.returncode == 0, err
    assert "Traceback" not in err
    with Catalog(cat, readonly=True) as c:
        assert len(c.shots("status = 'ok'")) == 8  # the killed worker's file was retried and analysed


def test_file_that_kills_its_worker_every_time_is_skipped_and_run_goes_on(tmp_path: Path) -> None:
    root = tmp_path / "s"
    files = _burst(root, n=5)
    cat = tmp_path / "c.sqlite"
    env = {**os.environ, "PYTHONPATH": str(REPO), "CULLER_FAULT_CRASH_ON": files[2].name}
    cmd = [sys.executable, "-m", "engine", "rank", str(root), "--catalog", str(cat), "-q", "-j", "2"]
    r = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=180)
    assert r.returncode == 0, r.stderr
    assert f"{files[2].name}: {CRASH_REASON}" in r.stdout
    with Catalog(cat, readonly=True) as c:
        assert len(c.shots("status = 'ok'")) == 4
        assert c.shot(files[2].name)["reason"] == CRASH_REASON  # type: ignore[index]
    # a re-run does not retry (nor hang on) the unchanged crashing file
    r2 = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=120)
    assert r2.returncode == 0 and CRASH_REASON in r2.stdout


# -- 2. names that are not UTF-8 ---------------------------------------------------------------------
def test_non_utf8_file_name_is_analysed_shown_and_exported_to_the_right_file(tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    from engine.cli import main as culler
    from engine.scan import display_key, key_path

    root = tmp_path / "card"
    _burst(root, n=2)
    odd = os.fsdecode(b"caf\xe9.jpg")  # Latin-1 e-acute: not UTF-8
    odd2 = os.fsdecode(b"caf\xe8.jpg")  # a second one, that must not collide with the first
    rgb = demo.demo_sources(320)["coffee"]
    demo.save_jpeg(root / odd, rgb, datetime(2026, 1, 1, 12, 0, 5))
    demo.save_jpeg(root / odd2, demo.noise(rgb, 2), datetime(2026, 1, 1, 12, 0, 6))
    cat = tmp_path / "c.sqlite"
    assert culler(["rank", str(root), "--catalog", str(cat), "-q", "-j", "1"]) == 0
    out = capsys.readouterr().out
    assert "4 shot(s)" in out
    with Catalog(cat, readonly=True) as c:
        keys = [r["key"] for r in c.shots("status = 'ok'")]
        assert len(keys) == 4
        odd_keys = [k for k in keys if k.startswith("caf")]
        assert sorted(key_path(k) for k in odd_keys) == sorted([odd, odd2])  # lossless
        assert {display_key(k) for k in odd_keys} == {"caf\\xe9.jpg", "caf\\xe8.jpg"}  # readable
        odd_key = next(k for k in odd_keys if key_path(k) == odd)
    with Catalog(cat) as c:
        c.set_decision(odd_key, flag="pick", stars=4)
    assert culler(["export", str(root), "--catalog", str(cat), "--xmp"]) == 0
    written = sorted(os.listdir(os.fsencode(root)))
    assert b"caf\xe9.xmp" in written and b"caf\xe8.xmp" not in written
    from engine.export.xmp import read_rating_label

    assert read_rating_label((root / os.fsdecode(b"caf\xe9.xmp")).read_bytes())[0] == 4


# -- 3. impossible and out-of-range EXIF dates -------------------------------------------------------
def _jpeg_with_date(path: Path, when: str, offset: str | None) -> None:
    from PIL import Image

    exif = Image.Exif()
    exif[0x010F], exif[0x0110] = "Demo", "Burst 1"
    sub = exif.get_ifd(0x8769)
    sub[0x9003] = when  # DateTimeOriginal
    if offset:
        sub[0x9011] = offset  # OffsetTimeOriginal
    exif[0x8769] = sub
    Image.fromarray(demo.demo_sources(320)["coffee"]).save(path, "JPEG", quality=90, exif=exif.tobytes())


@pytest.mark.parametrize(
    "when,offset",
    [("0001:01:01 00:00:00", "+05:00"), ("9999:12:31 23:59:59", "-05:00"), ("2026:13:01 10:00:00", None),
     ("2026:01:01 10:00:61", None), ("garbage date here!!", None)],
)  # fmt: skip
def test_invalid_exif_dates_fall_back_to_file_time_and_say_so(tmp_path: Path, capsys, when: str, offset: str | None) -> None:  # type: ignore[no-untyped-def]
    from engine.cli import main as culler

    root = tmp_path / "s"
    _burst(root, n=2)
    _jpeg_with_date(root / "odd.jpg", when, offset)
    mtime = 1_767_000_000
    os.utime(root / "odd.jpg", (mtime, mtime))
    cat = tmp_path / "c.sqlite"
    assert culler(["rank", str(root), "--catalog", str(cat), "-q", "-j", "1"]) == 0
    out = capsys.readouterr().out
    assert "3 shot(s)" in out
    assert "1 shot(s) have an impossible or out-of-range EXIF date" in out and "odd.jpg" in out
    with Catalog(cat, readonly=True) as c:
        src, ts = c.conn.execute("SELECT time_source, capture_ts FROM metadata WHERE shot = 'odd.jpg'").fetchone()
    assert src == "file-bad-exif" and ts == pytest.approx(mtime)
    assert culler(["rank", str(root), "--catalog", str(cat), "-q", "-j", "1"]) == 0  # and again, from the cache
    assert "1 shot(s) have an impossible" in capsys.readouterr().out
