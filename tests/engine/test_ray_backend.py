"""``culler rank --ray`` (issue 14): a Ray Data run gives the same catalog as the local run, and resumes."""

from __future__ import annotations

import re
import sqlite3
import subprocess
import sys
import threading
import time
from datetime import datetime, timedelta
from pathlib import Path

import numpy as np
import pytest

from engine import demo, pipeline
from engine.pipeline import ProgressEvent, RankOptions, rank_folder
from engine.report import ProgressBar

ray = pytest.importorskip("ray", reason="the cluster extra (Ray) is not installed")

COMPARED = {
    "shots": "SELECT key, primary_path, raw_path, hash, status, reason, group_id, rank, score, n_faces, suggested, explain FROM shots ORDER BY key",
    "files": "SELECT * FROM files ORDER BY path",
    "metadata": "SELECT * FROM metadata ORDER BY shot",
    # analysed_at and seconds are wall-clock facts of the run
    "analysis": "SELECT hash, engine_version, width, height, full_width, full_height, embedding, n_faces, members FROM analysis ORDER BY hash",
    "faces": "SELECT * FROM faces ORDER BY hash, idx",
    "scores": "SELECT * FROM scores ORDER BY hash, member",
    "groups": "SELECT * FROM groups ORDER BY id",
}


def _dump(path: Path) -> dict[str, list[tuple]]:
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        return {k: conn.execute(q).fetchall() for k, q in COMPARED.items()}
    finally:
        conn.close()


@pytest.fixture(scope="module")
def session(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Four scenes of 9 small frames on two cards and two cameras, one unreadable file."""
    root = tmp_path_factory.mktemp("ray") / "shoot"
    src = demo.demo_sources(240)
    for s, name in enumerate(["astronaut", "coffee", "chelsea", "astronaut"]):
        rgb = np.roll(src[name], 60, axis=1) if s == 3 else src[name]
        demo.write_burst(root / f"card{s % 2}", rgb, f"S{s}", datetime(2026, 1, 1, 10) + timedelta(seconds=60 * s),
                         plan=demo.burst_plan()[:9], camera=("Demo", f"Cam{s % 2}"))  # fmt: skip
    (root / "card0" / "broken.jpg").write_bytes(b"\xff\xd8 not a jpeg")
    return root


@pytest.fixture(scope="module")
def thousand(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """1,000 shots of 24 x 16 pixels (16 is the smallest side analysis accepts) in 50 scenes of 20
    frames, on two cards and two cameras with EXIF times: the bench's generator, at test size."""
    import cv2

    root = tmp_path_factory.mktemp("ray1000") / "shoot"
    w, h = 24, 16
    for i in range(1000):
        s = i // 20
        base = np.random.default_rng(s).uniform(0, 255, (3, 4, 3)).astype(np.float32)
        img = cv2.resize(base, (w + 4, h + 4), interpolation=cv2.INTER_CUBIC)
        fr = np.random.default_rng(10_000_000 + i)
        dx, dy = fr.integers(0, 3, 2)
        img = np.clip(img[dy : dy + h, dx : dx + w] + fr.normal(0, 4, (h, w, 3)), 0, 255).astype(np.uint8)
        when = datetime(2026, 6, 1, 8) + timedelta(seconds=60.0 * s + 0.3 * (i % 20))
        demo.save_jpeg(root / f"card{s % 2}" / f"IMG_{i:05d}.jpg", img, when, camera=("Bench", f"Body {s % 2}"), quality=90)
    return root


@pytest.fixture(scope="module")
def local_ray(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    """One local 2-CPU Ray instance for the module (the backend joins it instead of starting its own).
    Its session files (sockets, logs, spilled objects) live under pytest's tmp dir; it is shut down
    at the end and leaves no Ray process behind."""
    temp = tmp_path_factory.mktemp("r")  # short: Ray's socket paths must fit in 107 bytes
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, _temp_dir=str(temp))
    assert ray.cluster_resources().get("CPU") == 2
    yield temp
    ray.shutdown()
    assert not ray.is_initialized()
    assert any(temp.glob("session_*/logs")), "Ray did not use the test's temp dir"
    for _ in range(100):  # shutdown signals Ray's processes; give them up to 10 s to exit
        alive = [p.parent.name for p in Path("/proc").glob("[0-9]*/cmdline") if str(temp).encode() in _reads(p)]
        if not alive:
            break
        time.sleep(0.1)
    assert not alive, f"Ray processes left running: {alive}"


def _reads(p: Path) -> bytes:
    try:
        return p.read_bytes()
    except OSError:
        return b""


def test_ray_run_of_1000_shots_matches_the_local_run(thousand: Path, tmp_path: Path, local_ray) -> None:  # type: ignore[no-untyped-def]
    local = rank_folder(RankOptions(thousand, catalog=tmp_path / "local.sqlite", recursive=True, workers=2))
    assert local.n_shots == 1000 and local.analysed == 1000 and local.n_groups == 50 and not local.skipped
    on_ray = rank_folder(RankOptions(thousand, catalog=tmp_path / "ray.sqlite", recursive=True, workers=2, ray="auto"))
    assert on_ray.n_shots == 1000 and on_ray.analysed == 1000 and on_ray.n_groups == 50 and not on_ray.skipped
    assert ray.is_initialized()  # the run joined the module's instance and left it running
    ours, theirs = _dump(tmp_path / "ray.sqlite"), _dump(tmp_path / "local.sqlite")
    assert len(ours["shots"]) == 1000 and len(ours["scores"]) >= 1000
    for table in COMPARED:
        assert ours[table] == theirs[table], table


def test_ray_run_matches_the_local_run_and_resumes(session: Path, tmp_path: Path, local_ray, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:  # type: ignore[no-untyped-def]
    local = rank_folder(RankOptions(session, catalog=tmp_path / "local.sqlite", recursive=True, workers=2))
    assert local.n_shots == 36 and local.n_groups == 4 and len(local.skipped) == 1

    # a first run stopped after 10 stored shots (one local worker, so it stops there) ...
    cancel = threading.Event()

    def stop_after_10(ev: ProgressEvent) -> None:
        if ev.phase == "analyse" and ev.path and ev.done >= 10:
            cancel.set()

    cat = tmp_path / "ray.sqlite"
    monkeypatch.setattr(pipeline, "WRITE_BATCH", 2)
    first = rank_folder(RankOptions(session, catalog=cat, recursive=True, workers=1), stop_after_10, cancel)
    assert first.cancelled and first.analysed + len(first.skipped) < 20
    # ... is resumed on Ray: only what was not stored is analysed, and the catalog is the local run's
    monkeypatch.setattr(pipeline, "WRITE_BATCH", 64)
    opts = RankOptions(session, catalog=cat, recursive=True, workers=2, ray="auto")
    bar = ProgressBar()
    second = rank_folder(opts, bar.update)
    bar.close()
    drawn = capsys.readouterr().err
    assert re.search(r"analysing \[[#.]+\] \d+/37 +\d+\.\d/s +ETA +\d+s", drawn), drawn[-300:]  # rate and ETA
    assert not second.cancelled and second.analysed == 36 - first.analysed and second.reused == first.analysed
    assert _dump(cat) == _dump(tmp_path / "local.sqlite")
    # a copy under a new name is hashed on Ray and not analysed again
    (session / "card1" / "copy.jpg").write_bytes((session / "card0" / "S0_0001.jpg").read_bytes())
    third = rank_folder(opts)
    assert third.analysed == 0 and third.n_shots == 37


def test_default_path_never_imports_ray() -> None:
    code = (
        "import sys, engine.cli, engine.pipeline, engine.report, engine.commands.rank; "
        "from engine.cli import main; print('ray' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
