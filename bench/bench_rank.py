"""Benchmark ``culler rank`` end to end: shots per second, peak RSS, and re-run time.

    python bench/bench_rank.py --shots 200 --size 1800 --runs 3
    python bench/bench_rank.py --shots 60 --size 6000 --runs 3      # 24 MP JPEGs
    python bench/bench_rank.py --shots 40 --size 6000 --raw cr3 --runs 3   # RAW sessions
    python bench/bench_rank.py --shots 40 --size 6000 --raw nef --runs 3

RAW sessions are synthetic containers (engine.rawsynth): a CR3 box tree with a
6000x4000 JPEG in trak1, a 1620x1080 PRVW and a THMB, or a TIFF-based NEF with a
6000x4000 preview SubIFD and a thumbnail, each followed by fake sensor data.

Generates a session of bursts (scikit-image's public-domain photos with known
defects) under bench/out/, then runs ``culler rank`` in a subprocess ``--runs``
times on a fresh catalog and once more on the unchanged folder.  Peak RSS is
the largest sum of the resident memory of culler and its workers, sampled
every 50 ms.  Prints a Markdown table row (medians of the runs).
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from datetime import datetime, timedelta
from pathlib import Path

import numpy as np
from PIL import Image

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from engine import demo  # noqa: E402


def make_session(out: Path, shots: int, size: int, raw: str | None = None) -> None:
    ext = f".{raw}" if raw else ".jpg"
    if out.exists() and len(list(out.glob(f"*{ext}"))) == shots:
        return
    out.mkdir(parents=True, exist_ok=True)
    for f in out.glob(f"*{ext}"):
        f.unlink()
    srcs = list(demo.demo_sources(min(size, 1200)).values())
    plan = demo.burst_plan()
    start = datetime(2026, 6, 1, 10, 0, 0)
    for i in range(shots):
        src = srcs[(i // len(plan)) % len(srcs)]
        d, lv = plan[i % len(plan)]
        img = demo.apply_defect(src, d, lv)
        if max(img.shape[:2]) != size:
            s = size / max(img.shape[:2])
            img = np.asarray(Image.fromarray(img).resize((round(img.shape[1] * s), round(img.shape[0] * s)), Image.Resampling.BICUBIC))
        when = start + timedelta(seconds=i * 0.4 + 20 * (i // len(plan)))
        if raw:
            import os

            from engine import rawsynth

            full = (size, size * 2 // 3)
            path = out / f"IMG_{i:05d}{ext}"
            if raw == "cr3":
                rawsynth.cr3(path, full=full, prvw=(1620, 1080), thmb=(160, 120), image=img)
            else:
                rawsynth.tiff_raw(path, preview=full, thumb=(160, 120), image=img)
            os.utime(path, (when.timestamp(), when.timestamp()))  # no EXIF date: the file time orders bursts
            continue
        demo.save_jpeg(out / f"IMG_{i:05d}.jpg", img, when, quality=92)


def _tree_rss(pid: int) -> int:
    """Resident set size (bytes) of ``pid`` and all its descendants."""
    total = 0
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            parts = stat.read_text().split(") ")[-1].split()
            children.setdefault(int(parts[1]), []).append(int(stat.parent.name))
        except (OSError, ValueError, IndexError):
            continue
    todo = [pid]
    while todo:
        p = todo.pop()
        todo.extend(children.get(p, []))
        try:
            for line in Path(f"/proc/{p}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1]) * 1024
        except OSError:
            pass
    return total


def run_once(session: Path, catalog: Path, workers: int | None) -> tuple[float, int]:
    cmd = [sys.executable, "-m", "engine", "rank", str(session), "--catalog", str(catalog), "-q"]
    if workers:
        cmd += ["-j", str(workers)]
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=REPO, stdout=subprocess.DEVNULL)
    peak = 0
    while proc.poll() is None:
        peak = max(peak, _tree_rss(proc.pid))
        time.sleep(0.05)
    dt = time.perf_counter() - t0
    if proc.returncode != 0:
        raise SystemExit(f"culler rank failed with {proc.returncode}")
    return dt, peak


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--shots", type=int, default=200)
    ap.add_argument("--size", type=int, default=1800, help="long side of the generated JPEGs")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--workers", type=int, default=None)
    ap.add_argument("--raw", choices=["cr3", "nef"], help="synthetic RAW containers with --size previews instead of JPEGs")
    args = ap.parse_args()
    out = REPO / "bench" / "out" / f"session-{args.shots}-{args.size}{'-' + args.raw if args.raw else ''}"
    make_session(out, args.shots, args.size, args.raw)
    times, peaks = [], []
    for i in range(args.runs):
        cat = out.parent / f"{out.name}-{i}.sqlite"
        for f in out.parent.glob(f"{cat.name}*"):
            f.unlink()
        dt, peak = run_once(out, cat, args.workers)
        times.append(dt)
        peaks.append(peak)
        print(f"run {i + 1}: {dt:.1f}s, {args.shots / dt:.2f} shots/s, peak RSS {peak / 2**20:.0f} MiB", file=sys.stderr)
    rerun, _ = run_once(out, out.parent / f"{out.name}-0.sqlite", args.workers)
    med = statistics.median(times)
    if args.raw:
        from engine.images import decode

        per = []
        for f in sorted(out.glob(f"*.{args.raw}")):
            t0 = time.perf_counter()
            d = decode(f, max_side=2000, min_side=1000)  # what analysis decodes
            per.append(time.perf_counter() - t0)
        print(f"preview find + decode at analysis size: median {statistics.median(per) * 1000:.0f} ms per file ({d.preview.label()}, one process)", file=sys.stderr)
    print("| shots | size | shots/s (median) | peak RSS (median) | re-run unchanged | re-run / first |")
    print("| --- | --- | --- | --- | --- | --- |")
    what = f"{args.size} px {args.raw.upper()} preview" if args.raw else f"{args.size} px"
    print(
        f"| {args.shots} | {what} | {args.shots / med:.2f} | {statistics.median(peaks) / 2**20:.0f} MiB "
        f"| {rerun:.2f} s | {rerun / med:.1%} |"
    )


if __name__ == "__main__":
    main()
