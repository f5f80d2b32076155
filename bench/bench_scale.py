"""Benchmark large sessions (issue 14): first run, re-run on the analysed catalog, peak RSS, grouping alone.

    python bench/bench_scale.py --shots 1000 5000 20000 50000 --first-run-max 5000

For each N it generates N small JPEG shots (160 x 120) under bench/out/scale-N/ in scenes of 20
frames. The scenes are spread over four card folders, one camera each, with EXIF capture times:
frames 0.3 s apart, scenes a minute apart. Each scene has its own random layout and colour, and
each frame adds a small shift and noise. It then measures:

- the first run: ``culler rank DIR -r`` in a subprocess, on a fresh catalog. This is done only
  up to ``--first-run-max`` shots. Above that, the catalog is filled through the Catalog API
  instead (``Catalog.store_batch``) with the real file rows and hashes, the real content
  descriptors of the generated images, EXIF times, and random member scores for every default
  member, so the re-run finds every shot analysed;
- the re-run on the analysed catalog: ``culler rank DIR -r`` again. It scans, plans, regroups
  and re-ranks everything, then prints the summary;
- peak RSS of the main process and of its workers (sum), sampled every 50 ms;
- grouping time alone: ``engine.grouping.group_shots`` on the catalog's descriptors, in
  process, median of ``--group-runs`` runs.

Prints one Markdown table row per N.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from datetime import datetime, timedelta
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

SCENE = 20
CARDS = 4
W, H = 160, 120
START = datetime(2026, 6, 1, 8, 0, 0)


def _when(i: int) -> datetime:
    s = i // SCENE
    return START + timedelta(seconds=60.0 * s + 0.3 * (i % SCENE))


def _path(root: Path, i: int) -> Path:
    return root / f"card{(i // SCENE) % CARDS}" / f"IMG_{i:06d}.jpg"


def _frame(i: int) -> np.ndarray:
    import cv2

    s = i // SCENE
    rng = np.random.default_rng(s)
    base = rng.uniform(0, 255, (6, 8, 3)).astype(np.float32)
    img = cv2.resize(base, (W + 16, H + 16), interpolation=cv2.INTER_CUBIC)
    fr = np.random.default_rng(10_000_000 + i)
    dx, dy = fr.integers(0, 5, 2)
    img = img[dy : dy + H, dx : dx + W] + fr.normal(0, 4, (H, W, 3))
    return np.clip(img, 0, 255).astype(np.uint8)


def make_session(root: Path, n: int) -> None:
    from engine import demo

    done = root / ".complete"
    if done.exists() and done.read_text() == str(n):
        return
    for i in range(n):
        p = _path(root, i)
        card = (i // SCENE) % CARDS
        demo.save_jpeg(p, _frame(i), _when(i), camera=("Bench", f"Body {card}"), quality=90)
    done.write_text(str(n))


def fill_catalog(root: Path, catalog: Path, n: int) -> None:
    """An analysed catalog written through the Catalog API (first runs of this size take too long here)."""
    from engine import ANALYSIS_VERSION
    from engine.catalog import Catalog
    from engine.grouping import embed
    from engine.images import decode
    from engine.quality.registry import default_member_names
    from engine.scan import file_hash

    names = sorted(default_member_names())
    rng = np.random.default_rng(0)
    with Catalog(catalog, root.resolve()) as cat:
        for lo in range(0, n, 1000):
            analyses, files, shots, meta = [], [], [], []
            for i in range(lo, min(n, lo + 1000)):
                p = _path(root, i)
                key = p.relative_to(root).as_posix()
                st = p.stat()
                h = file_hash(p)
                rgb = decode(p).rgb
                scores = {m: (float(q), float(q)) for m, q in zip(names, rng.uniform(0.2, 0.9, len(names)))}
                analysis = {
                    "engine_version": ANALYSIS_VERSION, "width": W, "height": H, "full_width": W, "full_height": H,
                    "embedding": embed(rgb).tobytes(), "n_faces": 0, "members": json.dumps(names),
                    "analysed_at": time.time(), "seconds": 0.0,
                }  # fmt: skip
                analyses.append((h, analysis, [], scores))
                files.append({"path": key, "shot": key, "role": "primary", "size": st.st_size, "mtime_ns": st.st_mtime_ns, "hash": h, "status": "ok", "reason": None})
                shots.append({"key": key, "primary_path": key, "raw_path": None, "hash": h, "status": "ok", "reason": None, "n_faces": 0, "seen_at": time.time()})
                when = _when(i)
                meta.append({"shot": key, "capture_time": when.isoformat(), "capture_ts": when.timestamp(), "time_source": "exif",
                             "make": "Bench", "model": f"Body {(i // SCENE) % CARDS}", "width": W, "height": H})  # fmt: skip
            cat.store_batch(analyses, files, shots, meta)


def _rss(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def _descendants(pid: int) -> list[int]:
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            parts = stat.read_text().split(") ")[-1].split()
            children.setdefault(int(parts[1]), []).append(int(stat.parent.name))
        except (OSError, ValueError, IndexError):
            continue
    out, todo = [], list(children.get(pid, []))
    while todo:
        p = todo.pop()
        out.append(p)
        todo.extend(children.get(p, []))
    return out


def run_culler(root: Path, catalog: Path, workers: int, extra: tuple[str, ...] = ()) -> tuple[float, int, int]:
    """(seconds, peak RSS of the main process, peak RSS of all its workers together)."""
    cmd = [sys.executable, "-m", "engine", "rank", str(root), "-r", "--catalog", str(catalog), "-q", "-j", str(workers), *extra]
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=REPO, stdout=subprocess.DEVNULL)
    main_peak = workers_peak = 0
    while proc.poll() is None:
        main_peak = max(main_peak, _rss(proc.pid))
        workers_peak = max(workers_peak, sum(_rss(p) for p in _descendants(proc.pid)))
        time.sleep(0.05)
    dt = time.perf_counter() - t0
    if proc.returncode != 0:
        raise SystemExit(f"culler rank failed with {proc.returncode}")
    return dt, main_peak, workers_peak


def _same_catalog(a: Path, b: Path) -> bool:
    import sqlite3

    queries = [
        "SELECT key, hash, status, reason, group_id, rank, score, n_faces, suggested, explain FROM shots ORDER BY key",
        "SELECT hash, width, height, embedding, n_faces, members FROM analysis ORDER BY hash",
        "SELECT * FROM scores ORDER BY hash, member", "SELECT * FROM faces ORDER BY hash, idx",
        "SELECT * FROM metadata ORDER BY shot", "SELECT * FROM groups ORDER BY id",
    ]  # fmt: skip
    ca, cb = sqlite3.connect(a), sqlite3.connect(b)
    try:
        return all(ca.execute(q).fetchall() == cb.execute(q).fetchall() for q in queries)
    finally:
        ca.close()
        cb.close()


def grouping_time(catalog: Path, runs: int) -> tuple[float, int]:
    from engine.catalog import Catalog
    from engine.grouping import GroupItem, group_shots

    with Catalog(catalog, readonly=True) as cat:
        rows = cat.conn.execute(
            "SELECT s.key, m.capture_ts, m.time_source, m.make, m.model, m.serial, a.embedding "
            "FROM shots s JOIN analysis a ON a.hash = s.hash LEFT JOIN metadata m ON m.shot = s.key "
            "WHERE s.status = 'ok' ORDER BY s.key"
        ).fetchall()
    items = [GroupItem(r[0], r[1], "|".join(x or "" for x in r[3:6]), r[2] == "exif", np.frombuffer(r[6], np.float32)) for r in rows]
    times, groups = [], 0
    for _ in range(runs):
        t0 = time.perf_counter()
        labels = group_shots(items)
        times.append(time.perf_counter() - t0)
        groups = len(set(labels))
    return statistics.median(times), groups


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--shots", type=int, nargs="+", default=[1000, 5000, 20000])
    ap.add_argument("--first-run-max", type=int, default=5000, help="above this N, fill the catalog through the API")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--group-runs", type=int, default=3)
    ap.add_argument("--ray", action="store_true", help="also time the first run with --ray auto (local Ray instance) and compare catalogs")
    args = ap.parse_args()
    print(f"load before: {Path('/proc/loadavg').read_text().strip()}", file=sys.stderr)
    rows = []
    for n in args.shots:
        root = REPO / "bench" / "out" / f"scale-{n}"
        t0 = time.perf_counter()
        make_session(root, n)
        print(f"N={n}: session ready ({time.perf_counter() - t0:.0f}s)", file=sys.stderr)
        cat = root.parent / f"scale-{n}.sqlite"
        for f in root.parent.glob(f"{cat.name}*"):
            f.unlink()
        if n <= args.first_run_max:
            first, fm, fw = run_culler(root, cat, args.workers)
            first_txt = f"{first:.0f} s ({n / first:.1f}/s), RSS {fm / 2**20:.0f} + {fw / 2**20:.0f} MiB"
            if args.ray:
                rcat = root.parent / f"scale-{n}-ray.sqlite"
                for f in root.parent.glob(f"{rcat.name}*"):
                    f.unlink()
                rt, rm_, rw_ = run_culler(root, rcat, args.workers, ("--ray", "auto"))
                same = _same_catalog(cat, rcat)
                first_txt += f"; Ray: {rt:.0f} s ({n / rt:.1f}/s), RSS {rm_ / 2**20:.0f} + {rw_ / 2**20:.0f} MiB, same catalog: {same}"
        else:
            t0 = time.perf_counter()
            fill_catalog(root, cat, n)
            first_txt = f"(catalog filled through the API in {time.perf_counter() - t0:.0f} s)"
        print(f"N={n}: first {first_txt}", file=sys.stderr)
        rerun, rm, rw = run_culler(root, cat, args.workers)
        print(f"N={n}: re-run {rerun:.1f}s main {rm / 2**20:.0f} MiB workers {rw / 2**20:.0f} MiB", file=sys.stderr)
        g, n_groups = grouping_time(cat, args.group_runs)
        print(f"N={n}: grouping {g:.2f}s, {n_groups} groups (expected {-(-n // SCENE)})", file=sys.stderr)
        rows.append(
            f"| {n} | {first_txt} | {rerun:.1f} s | {rm / 2**20:.0f} MiB | {rw / 2**20:.0f} MiB | {g:.2f} s | {n_groups} / {-(-n // SCENE)} |"
        )
    print(f"load after: {Path('/proc/loadavg').read_text().strip()}", file=sys.stderr)
    print("| shots | first run (time, rate, RSS main + workers) | re-run, analysed catalog | re-run RSS main | re-run RSS workers | grouping alone (median) | groups / scenes |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    print("\n".join(rows))


if __name__ == "__main__":
    main()
