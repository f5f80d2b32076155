"""Generated sessions for the GUI tests and benchmark: bursts of a public-domain portrait
(scikit-image's astronaut) with known defects, and a catalog filled the way the engine fills it."""

from __future__ import annotations

import json
import math
import time
from datetime import datetime, timedelta
from pathlib import Path

import numpy as np


class StallMeter:
    """Largest gap between ticks of a 5 ms timer: how long the event loop was blocked.  Counted
    from start() (a call made right after it that blocks is a stall too) up to stop()."""

    def __init__(self) -> None:
        from PySide6.QtCore import QTimer

        self.timer = QTimer()
        self.timer.setInterval(5)
        self.timer.timeout.connect(self._tick)
        self.last = self.worst = 0.0

    def _tick(self) -> None:
        now = time.perf_counter()
        self.worst = max(self.worst, now - self.last)
        self.last = now

    def start(self) -> None:
        self.last, self.worst = time.perf_counter(), 0.0
        self.timer.start()

    def stop(self) -> float:
        self.timer.stop()
        self._tick()
        return self.worst


def show_window(qtbot, w, size: tuple[int, int] = (1280, 800)):  # type: ignore[no-untyped-def]
    """Show ``w`` the way a user sees it: sized, exposed and the active window (keyboard
    shortcuts only reach the active window on a real display; offscreen, every window is)."""
    qtbot.addWidget(w)
    w.resize(*size)
    w.show()
    qtbot.waitExposed(w)
    w.activateWindow()
    w.raise_()
    qtbot.waitUntil(w.isActiveWindow, timeout=5000)
    return w


def check_screenshot_command(folder: Path, tmp_path: Path, timeout: float = 120) -> None:
    """``culler gui FOLDER --screenshot OUT.png`` writes a non-blank 1440x900 window, and a
    missing folder is one clear message with exit status 1."""
    import os
    import subprocess
    import sys

    from PIL import Image

    out = tmp_path / "shot.png"
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen", XDG_CONFIG_HOME=str(tmp_path / "cfg"))
    root = Path(__file__).resolve().parents[2]
    r = subprocess.run([sys.executable, "-m", "engine", "gui", str(folder), "--screenshot", str(out)],
                       cwd=root, env=env, capture_output=True, text=True, timeout=timeout)
    assert r.returncode == 0, r.stdout + r.stderr
    with Image.open(out) as im:
        assert im.size == (1440, 900)
        assert len(np.unique(np.asarray(im.convert("L").resize((64, 40))))) > 20  # not a blank window
    bad = subprocess.run([sys.executable, "-m", "engine", "gui", str(tmp_path / "missing"), "--screenshot",
                          str(out)], cwd=root, env=env, capture_output=True, text=True, timeout=120)
    assert bad.returncode == 1 and "does not exist" in bad.stderr and "Traceback" not in bad.stderr


def portrait(max_side: int = 480) -> np.ndarray:
    from PIL import Image
    from skimage import data

    img = Image.fromarray(data.astronaut())
    s = max_side / max(img.size)
    img = img.resize((round(img.size[0] * s), round(img.size[1] * s)), Image.Resampling.LANCZOS)
    return np.asarray(img.convert("RGB"))


def make_session(out: Path, n_bursts: int = 3, per_burst: int = 4, max_side: int = 480,
                 plan: list[tuple[str, int]] | None = None) -> list[str]:
    """JPEG bursts with EXIF times, 30 s apart; returns the file names written."""
    from engine.demo import write_burst

    rgb = portrait(max_side)
    plan = plan or [("clean", 0), ("defocus", 2), ("under", 2), ("motion", 1), ("noise", 2),
                    ("over", 2), ("jpeg", 2), ("defocus", 3)][:per_burst]
    names = []
    start = datetime(2026, 11, 28, 14, 0, 0)
    for b in range(n_bursts):
        frames = write_burst(out, rgb, f"B{b + 1}", start + timedelta(seconds=30 * b), plan=plan,
                             shuffle_seed=b)
        names += [f.name for f in frames]
    return names


_SAME_FILE: dict[tuple[int, int, int], tuple[bytes, float | None, str | None]] = {}


def _embedding_and_time(p: Path) -> tuple[bytes, float | None, str | None]:
    """The engine's grouping descriptor of a (small, draft-decoded) copy, and the EXIF time;
    remembered per inode (bench_gui.py's 50,000 shots are hard links to 12 files)."""
    st = p.stat()
    ident = (st.st_dev, st.st_ino, st.st_mtime_ns)
    if st.st_nlink > 1 and ident in _SAME_FILE:
        return _SAME_FILE[ident]
    out = _read_embedding_and_time(p)
    if st.st_nlink > 1:
        _SAME_FILE[ident] = out
    return out


def _read_embedding_and_time(p: Path) -> tuple[bytes, float | None, str | None]:
    from PIL import Image

    from engine.grouping import embed

    with Image.open(p) as im:
        im.draft("RGB", (160, 160))
        exif = im.getexif().get_ifd(0x8769)
        rgb = np.asarray(im.convert("RGB"))
    when = exif.get(0x9003)
    if not when:
        return embed(rgb).tobytes(), None, None
    t = datetime.strptime(str(when), "%Y:%m:%d %H:%M:%S")
    return embed(rgb).tobytes(), t.timestamp(), t.isoformat()


def fill_catalog(root: Path, catalog_path: Path, per_group: int, progress=None, cancel=None,
                 delay: float = 0.0):  # type: ignore[no-untyped-def]
    """A catalog as the engine writes it (files, shots, metadata, analysis with the grouping
    embedding, faces, scores, groups numbered from 1), through the :class:`engine.catalog.Catalog`
    API, with made-up but consistent scores, shot by shot with the engine's ``ProgressEvent``:
    stands in for the engine where the real pipeline is not the thing under test (fast,
    deterministic); :func:`engine.pipeline.regroup` works on what it writes.  Frame ``i`` of a
    group ranks ``i + 1``; the 4th frame of a group has its eyes closed.  Returns the engine's
    ``RankSummary``."""
    from engine.catalog import Catalog
    from engine.images import encode_jpeg
    from engine.pipeline import ProgressEvent, RankSummary

    t0 = time.monotonic()
    files = sorted(p for p in root.iterdir() if p.suffix.lower() == ".jpg")
    crop = encode_jpeg(np.full((64, 64, 3), 128, np.uint8))
    cat = Catalog(catalog_path, root)
    summary = RankSummary(Path(catalog_path))
    emit = progress or (lambda ev: None)
    emit(ProgressEvent("scan", 0, len(files)))
    for i, p in enumerate(files):
        key = p.name
        cat.upsert_file({"path": key, "shot": key, "role": "primary", "size": p.stat().st_size,
                         "mtime_ns": p.stat().st_mtime_ns, "hash": f"h{i:05d}", "status": "ok",
                         "reason": None})
        if cat.shot(key) is None:
            cat.upsert_shot({"key": key, "primary_path": key, "raw_path": None, "hash": f"h{i:05d}",
                             "status": "pending", "reason": None, "seen_at": time.time()})
    rows = []
    for i, p in enumerate(files):
        if cancel is not None and cancel.is_set():
            cat.close()
            summary.cancelled = True
            return summary
        key = p.name
        h = f"h{i:05d}"
        j = i % per_group
        q1 = 0.9 * 0.88 ** j
        q2 = 0.8 * 0.95 ** j
        if not cat.has_analysis(h, "test"):
            if delay:
                time.sleep(delay)
            emb, ts, iso = _embedding_and_time(p)
            cat.upsert_metadata(key, {"capture_ts": ts, "capture_time": iso,
                                      "time_source": "exif" if ts is not None else "file",
                                      "width": 480, "height": 480})
            cat.store_analysis(h, {"engine_version": "test", "width": 480, "height": 480,
                                   "full_width": 480, "full_height": 480, "n_faces": 1, "embedding": emb,
                                   "analysed_at": time.time(), "seconds": 0.1},
                               [{"x": 0.35, "y": 0.1, "w": 0.25, "h": 0.3, "det_score": 0.99,
                                 "landmarks": json.dumps([[0.4, 0.2]] * 5),
                                 "signals": {"eye_sharpness": 10.0 * q1,
                                             "eyes_open": 0.1 if j == 3 else 0.95,
                                             "face_exposure": 0.5, "face_size": 0.3, "yaw": 2.0,
                                             "pitch": 1.0, "roll": 0.0},
                                 "crop": crop}],
                               {"face_sharpness": (10 * q1, q1), "exposure": (0.5, q2)})
            cat.upsert_shot({"key": key, "status": "ok", "n_faces": 1})
            summary.analysed += 1
        else:
            summary.reused += 1
        emit(ProgressEvent("analyse", i + 1, len(files), path=key))
        score = 100 * math.exp((math.log(q1) + math.log(q2)) / 2)
        explain = {"face_sharpness": {"quality": q1, "weight": 1.0, "contribution": math.log(q1) / 2},
                   "exposure": {"quality": q2, "weight": 1.0, "contribution": math.log(q2) / 2}}
        rows.append({"key": key, "group_id": i // per_group + 1, "rank": j + 1, "score": score,
                     "suggested": "pick" if j == 0 else "reject", "explain": json.dumps(explain)})
    emit(ProgressEvent("group", 0, len(files)))
    groups = [{"id": g + 1, "n_shots": min(per_group, len(files) - g * per_group),
               "best": files[g * per_group].name, "start_time": None}
              for g in range(math.ceil(len(files) / per_group))]
    cat.write_groups(rows, groups)
    cat.close()
    emit(ProgressEvent("done", len(files), len(files)))
    summary.n_shots, summary.n_groups, summary.n_faces = len(files), len(groups), len(files)
    summary.seconds = time.monotonic() - t0
    return summary


def fake_rank(per_group: int, delay: float = 0.0):  # type: ignore[no-untyped-def]
    """A ``rank_fn`` for :class:`app.window.MainWindow` built on :func:`fill_catalog`."""

    def rank(root, catalog, progress, cancel):  # type: ignore[no-untyped-def]
        return fill_catalog(Path(root), Path(catalog), per_group, progress, cancel, delay)

    return rank


def fill_catalog_batched(root: Path, catalog_path: Path, per_group: int) -> int:
    """:func:`fill_catalog`'s catalog (same rows, same made-up scores) written through the
    engine's batched store (:meth:`engine.catalog.Catalog.store_batch`, one transaction per 5,000
    shots): 20,000 shots in a few seconds, for the tests and benchmarks of large sessions.
    Returns the number of shots."""
    from engine.catalog import Catalog
    from engine.images import encode_jpeg

    files = sorted(p for p in root.iterdir() if p.suffix.lower() == ".jpg")
    crop = encode_jpeg(np.full((64, 64, 3), 128, np.uint8))
    cat = Catalog(catalog_path, root)
    rows = []
    try:
        for start in range(0, len(files), 5000):
            analyses, file_rows, shot_rows, meta_rows = [], [], [], []
            for i in range(start, min(start + 5000, len(files))):
                p = files[i]
                key, h, j = p.name, f"h{i:05d}", i % per_group
                q1, q2 = 0.9 * 0.88 ** j, 0.8 * 0.95 ** j
                st = p.stat()
                emb, ts, iso = _embedding_and_time(p)
                file_rows.append({"path": key, "shot": key, "role": "primary", "size": st.st_size,
                                  "mtime_ns": st.st_mtime_ns, "hash": h, "status": "ok", "reason": None})
                shot_rows.append({"key": key, "primary_path": key, "raw_path": None, "hash": h, "status": "ok",
                                  "reason": None, "seen_at": time.time(), "n_faces": 1})
                meta_rows.append({"shot": key, "capture_ts": ts, "capture_time": iso,
                                  "time_source": "exif" if ts is not None else "file", "width": 480, "height": 480})
                analyses.append((h, {"engine_version": "test", "width": 480, "height": 480, "full_width": 480,
                                     "full_height": 480, "n_faces": 1, "embedding": emb,
                                     "analysed_at": time.time(), "seconds": 0.1},
                                 [{"x": 0.35, "y": 0.1, "w": 0.25, "h": 0.3, "det_score": 0.99,
                                   "landmarks": json.dumps([[0.4, 0.2]] * 5),
                                   "signals": {"eye_sharpness": 10.0 * q1, "eyes_open": 0.1 if j == 3 else 0.95,
                                               "face_exposure": 0.5, "face_size": 0.3, "yaw": 2.0,
                                               "pitch": 1.0, "roll": 0.0},
                                   "crop": crop}],
                                 {"face_sharpness": (10 * q1, q1), "exposure": (0.5, q2)}, None))
                score = 100 * math.exp((math.log(q1) + math.log(q2)) / 2)
                explain = {"face_sharpness": {"quality": q1, "weight": 1.0, "contribution": math.log(q1) / 2},
                           "exposure": {"quality": q2, "weight": 1.0, "contribution": math.log(q2) / 2}}
                rows.append({"key": key, "group_id": i // per_group + 1, "rank": j + 1, "score": score,
                             "suggested": "pick" if j == 0 else "reject", "explain": json.dumps(explain)})
            cat.store_batch(analyses, shots=shot_rows, files=file_rows, metadata=meta_rows)
        groups = [{"id": g + 1, "n_shots": min(per_group, len(files) - g * per_group),
                   "best": files[g * per_group].name, "start_time": None}
                  for g in range(math.ceil(len(files) / per_group))]
        cat.write_groups(rows, groups)
    finally:
        cat.close()
    return len(files)


def make_eyes_session(out: Path, max_side: int = 480) -> dict[str, str]:
    """Two hand-held bursts of the astronaut (:mod:`engine.demo_bursts`), 30 s apart, for the
    real engine: ``A`` -- open eyes in every frame but one, half-closed there; ``B`` -- the
    same eyes in every frame (half-closed throughout: a squint, not a blink; mirrored, so it
    is a scene of its own).  Returns file
    name -> what the frame shows (``open``, ``half-closed``, ``squint``)."""
    from engine import demo, demo_bursts
    from engine.faces import FaceDetector

    rgb = portrait(max_side)
    p = demo_bursts.detect_portrait("astronaut", rgb, FaceDetector())
    assert p is not None
    half = demo_bursts.shut_eyes(rgb, p.face, 0.6)
    assert half is not None
    rng = np.random.default_rng(3)
    start = datetime(2026, 11, 28, 15, 0, 0)
    truth: dict[str, str] = {}
    for b, (prefix, frames, labels) in enumerate(
            (("A", [rgb, rgb, half, rgb], ["open", "open", "half-closed", "open"]),
             ("B", [np.ascontiguousarray(half[:, ::-1])] * 4, ["squint"] * 4))):
        for i, (img, lab) in enumerate(zip(frames, labels)):
            name = f"{prefix}_{i + 1:04d}.jpg"
            t = start + timedelta(seconds=30 * b + 0.25 * i)
            demo.save_jpeg(out / name, demo_bursts.handheld(img, rng), t)
            truth[name] = lab
    return truth
