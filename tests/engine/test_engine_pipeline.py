"""End to end: bursts with known defects -> groups and ranks; caching, resume, bad input, CLI."""

from __future__ import annotations

import contextlib
import csv
import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from datetime import datetime, timedelta
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from engine import demo
from engine.catalog import Catalog
from engine.cli import main as culler
from engine.pipeline import RankOptions, rank_folder

REPO = Path(__file__).resolve().parents[2]


def _check_ranks(cat_path: Path, frames: list[demo.BurstFrame], prefix: str = "") -> list[str]:
    with Catalog(cat_path, readonly=True) as cat:
        rank = {r["key"]: r["rank"] for r in cat.shots("status = 'ok'")}
        gid = {r["key"]: r["group_id"] for r in cat.shots("status = 'ok'")}
    names = [prefix + f.name for f in frames]
    problems = []
    if len({gid[n] for n in names}) != 1:
        problems.append("burst split over several groups")
    clean = [prefix + f.name for f in frames if f.defect == "clean"][0]
    if rank[clean] != 1:
        problems.append(f"clean frame ranked {rank[clean]}")
    for d in demo.DEFECTS:
        rs = [rank[prefix + f.name] for f in sorted(frames, key=lambda f: f.level) if f.defect == d]
        if rs != sorted(rs):
            problems.append(f"{d}: levels 1..3 ranked {rs}")
    return problems


@pytest.fixture(scope="module")
def astronaut_session(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[demo.BurstFrame]]:
    root = tmp_path_factory.mktemp("astro") / "shoot"
    rgb = demo.demo_sources(1200)["astronaut"]
    frames = demo.write_burst(root, rgb, "IMG", datetime(2026, 3, 1, 12, 0, 0))
    return root, frames


def test_clean_shot_first_and_milder_defects_outrank_stronger(astronaut_session, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    root, frames = astronaut_session
    summary = rank_folder(RankOptions(root, catalog=tmp_path / "c.sqlite", workers=2))
    assert summary.n_shots == 19 and summary.n_groups == 1 and not summary.skipped
    assert summary.n_faces >= 19  # the astronaut's face, on every frame
    assert _check_ranks(summary.catalog_path, frames) == []


def test_piq23_portraits_rank_clean_first(piq23_examples: list[Path], tmp_path: Path) -> None:
    """Real portraits (every 7th example of ../shared, one burst each, seconds apart)."""
    root = tmp_path / "piq"
    chosen = piq23_examples[::7]
    bursts = {}
    for i, p in enumerate(chosen):
        rgb = np.asarray(Image.open(p).convert("RGB"))
        bursts[p.name] = demo.write_burst(root, rgb, f"P{i}", datetime(2026, 3, 1, 12, 0, 0) + timedelta(seconds=12 * i), shuffle_seed=i)
    summary = rank_folder(RankOptions(root, catalog=tmp_path / "c.sqlite", workers=2))
    assert summary.n_groups == len(chosen)
    problems = {name: pr for name, frames in bursts.items() if (pr := _check_ranks(summary.catalog_path, frames))}
    assert problems == {}


def test_rerun_uses_cache_and_rank_files(astronaut_session, tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    root, frames = astronaut_session
    cat = tmp_path / "c.sqlite"
    out = tmp_path / "ranks.csv"
    assert culler(["rank", str(root), "--catalog", str(cat), "-o", str(out), "-q", "-j", "2"]) == 0
    first = capsys.readouterr().out
    assert "1 group(s), 19 shot(s)" in first
    t0 = time.perf_counter()
    assert culler(["rank", str(root), "--catalog", str(cat), "-o", str(tmp_path / "ranks.json"), "-q"]) == 0
    again = time.perf_counter() - t0
    assert "0 analysed" in capsys.readouterr().out and again < 5
    rows = list(csv.DictReader(out.open()))
    assert len(rows) == 19
    assert list(rows[0])[:5] == ["file", "group", "rank", "score", "faces"]
    for member in ("sharpness", "noise", "exposure", "face_sharpness", "eyes_open"):
        assert member in rows[0]
    best = min(rows, key=lambda r: int(r["rank"]))
    clean = [f.name for f in frames if f.defect == "clean"][0]
    assert best["file"] == clean and float(best["score"]) == max(float(r["score"]) for r in rows)
    data = json.loads((tmp_path / "ranks.json").read_text())
    assert len(data["shots"]) == 19 and data["shots"][0]["rank"] == 1


def test_changed_file_is_reanalysed(tmp_path: Path) -> None:
    root = tmp_path / "s"
    rgb = demo.demo_sources(400)["coffee"]
    demo.write_burst(root, rgb, "C", datetime(2026, 1, 1), plan=demo.burst_plan(["noise"]))
    cat = tmp_path / "c.sqlite"
    s1 = rank_folder(RankOptions(root, catalog=cat, workers=1))
    assert s1.analysed == 4
    demo.save_jpeg(root / "C_0002.jpg", demo.defocus(rgb, 2), datetime(2026, 1, 1))
    s2 = rank_folder(RankOptions(root, catalog=cat, workers=1))
    assert (s2.analysed, s2.reused) == (1, 3)


def test_members_that_decline_do_not_force_reanalysis(tmp_path: Path) -> None:
    """PNGs have no JPEG grid and no faces: members decline, and a re-run still reuses everything."""
    root = tmp_path / "png"
    root.mkdir()
    for i, (d, lv) in enumerate(demo.burst_plan(["defocus"])):
        Image.fromarray(demo.apply_defect(demo.demo_sources(400)["coffee"], d, lv)).save(root / f"c{i}.png")
    cat = tmp_path / "c.sqlite"
    assert rank_folder(RankOptions(root, catalog=cat, workers=1)).analysed == 4
    with Catalog(cat, readonly=True) as c:
        assert c.conn.execute("SELECT count(*) FROM scores WHERE member = 'jpeg_artefacts'").fetchone()[0] == 0
    again = rank_folder(RankOptions(root, catalog=cat, workers=1))
    assert (again.analysed, again.reused) == (0, 4)


def test_bad_inputs_are_skipped_with_reasons(tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    root = tmp_path / "bad"
    root.mkdir()
    rgb = demo.demo_sources(300)["chelsea"]
    demo.save_jpeg(root / "good.jpg", rgb, datetime(2026, 1, 1))
    data = (root / "good.jpg").read_bytes()
    (root / "truncated.jpg").write_bytes(data[: len(data) // 3])
    (root / "empty.jpg").write_bytes(b"")
    (root / "text.jpg").write_text("not an image")
    Image.new("1", (20000, 20000)).save(root / "bomb.png")
    broken = bytearray(data)
    i = broken.find(b"Exif\x00\x00")
    broken[i + 6 : i + 30] = b"\x00" * 24
    (root / "broken_exif.jpg").write_bytes(bytes(broken))
    (root / "loop").symlink_to(root, target_is_directory=True)
    code = culler(["rank", str(root), "--catalog", str(tmp_path / "c.sqlite"), "-q", "-r", "-j", "1"])
    out = capsys.readouterr().out
    assert code == 0
    for name, why in [
        ("truncated.jpg", "truncated"), ("empty.jpg", "empty"), ("text.jpg", "not an image"),
        ("bomb.png", "decompression bomb"), ("loop", "symlink loop"),
    ]:  # fmt: skip
        assert any(name in line and why in line for line in out.splitlines()), (name, out)
    assert "Traceback" not in out
    assert "2 shot(s)" in out  # good.jpg and the one with a broken EXIF block
    with Catalog(tmp_path / "c.sqlite", readonly=True) as cat:
        skipped = {r["key"]: r["reason"] for r in cat.shots("status = 'skipped'")}
    assert set(skipped) >= {"truncated.jpg", "empty.jpg", "text.jpg", "bomb.png"}


def test_empty_and_missing_folders_exit_nonzero(tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    (tmp_path / "empty").mkdir()
    assert culler(["rank", str(tmp_path / "empty"), "-q"]) == 1
    assert "0 shot(s)" in capsys.readouterr().out
    assert culler(["rank", str(tmp_path / "missing"), "-q"]) == 1
    assert "no such folder" in capsys.readouterr().err
    assert culler(["rank", str(tmp_path / "empty"), "--device", "cdua"]) == 2
    assert "unknown device 'cdua'" in capsys.readouterr().err


def test_newer_catalog_is_refused(tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    (tmp_path / "s").mkdir()
    cat = tmp_path / "c.sqlite"
    Catalog(cat).set_meta("schema_version", "99")
    assert culler(["rank", str(tmp_path / "s"), "--catalog", str(cat), "-q"]) == 1
    assert "newer portrait-culler" in capsys.readouterr().err


def test_sigkill_mid_run_resumes_without_redoing_work(tmp_path: Path) -> None:
    root = tmp_path / "k"
    rgb = demo.demo_sources(800)["astronaut"]
    # Four bursts (76 shots): results are written in batches (64 results or 1 s), so on a fast
    # machine a single 19-shot burst can land in one batch before the run can be killed.
    for b in range(4):
        demo.write_burst(root, rgb, f"K{b}", datetime(2026, 1, 1, 10, b))
    n = len(list(root.glob("*.jpg")))
    cat = tmp_path / "c.sqlite"
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.Popen([sys.executable, "-m", "engine", "rank", str(root), "--catalog", str(cat), "-q", "-j", "1"], env=env)
    deadline = time.time() + 120
    done = 0
    while time.time() < deadline and proc.poll() is None:
        time.sleep(0.2)
        try:
            with sqlite3.connect(f"file:{cat}?mode=ro", uri=True, timeout=1) as c:
                done = c.execute("SELECT count(*) FROM analysis").fetchone()[0]
        except sqlite3.Error:
            continue
        if done >= 5:
            break
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert 5 <= done < n, f"run finished before it could be killed ({done} analysed)"
    with Catalog(cat) as c:
        assert c.integrity_check() == []
        finished = c.conn.execute("SELECT count(*) FROM analysis").fetchone()[0]
    s = rank_folder(RankOptions(root, catalog=cat, workers=1))
    assert s.n_shots == n
    assert s.analysed == n - finished  # nothing finished was redone


def test_engine_imports_neither_qt_nor_torch() -> None:
    code = (
        "import sys, importlib, pkgutil, engine\n"
        "for m in pkgutil.walk_packages(engine.__path__, 'engine.'):\n"
        "    if not m.name.endswith('__main__'):\n"
        "        importlib.import_module(m.name)\n"
        "bad = sorted(k for k in sys.modules if k.split('.')[0] in ('PySide6', 'torch', 'timm', 'app', 'training'))\n"
        "assert not bad, bad\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=REPO)


def test_help_explains_every_command(capsys) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(SystemExit):
        culler(["--help"])
    top = capsys.readouterr().out
    from engine.commands import discover

    for name in ("rank", "demo", "export", "gui"):
        assert name in top
    for cmd in discover():
        with contextlib.suppress(SystemExit):
            culler([cmd.name, "--help"])
        assert "usage: culler" in capsys.readouterr().out


def test_the_demo_scene_without_people_ranks_its_clean_frame_first(tmp_path: Path) -> None:
    """The demo's cat (scikit-image's chelsea), written as the demo writes it: the detector finds
    a "face" in a couple of its frames, which must not make the face-less frames lose their own
    group comparison (the README's first command says the clean frame leads every group)."""
    rgb = demo.demo_sources(1200)["chelsea"]
    root = tmp_path / "cat"
    frames = demo.write_burst(root, rgb, "IMG_3", datetime(2026, 11, 28, 14, 0, 20), shuffle_seed=2)
    summary = rank_folder(RankOptions(root, catalog=tmp_path / "c.sqlite", workers=2))
    assert summary.n_groups == 1
    clean = [f.name for f in frames if f.defect == "clean"][0]
    with Catalog(summary.catalog_path, readonly=True) as cat:
        assert cat.shot(clean)["rank"] == 1
