"""Benchmark of the culling app on a generated 2,000-shot session (not a test).

    QT_QPA_PLATFORM=offscreen python bench/bench_gui.py [--shots 2000] [--runs 5] [--out docs/bench-gui.md]

Measures, on the offscreen platform (or the one QT_QPA_PLATFORM names, e.g. xcb under xvfb-run):
  * first thumbnail on screen after choosing a folder: a fresh folder (no catalog yet, the
    analysis starting in the background) and a folder whose catalog exists (reopen);
  * the longest stall of the GUI event loop while the thumbnails load;
  * the longest stall during a whole analysis by the real engine (--analyse shots) while the
    user steps through the shots;
  * the time to show the next shot in the loupe when it was prefetched (step + repaint);
  * the longest stall around each culling interaction on the analysed catalog (decisions, undo,
    scenes, filters, sorts, accept-all on 2,000 shots, thumbnail size, loupe);
  * peak memory (VmHWM) after every thumbnail of the session was decoded and 200 loupe steps.

The session: JPEGs of 2400x1600 (12 variants of three public-domain scikit-image photographs,
with EXIF times); the analysed catalog is filled the way the engine fills it (tests/app/gen.py,
through the engine's batched store),
so that the figures are about the GUI, not the models.  Figures are medians over --runs.

Large sessions (``--shots 50000``) without writing tens of GB: each shot is a hard link to one of
the 12 variant files (written once, about 1 MB each), so the folder holds 50,000 real, distinct
directory entries of full-size JPEGs in 12 MB of disk.  Nothing in the app knows: the scanner sees
regular files, the catalog has one row per shot (gen.py gives each its own hash), thumbnails and
previews are decoded from the file on every request exactly as for copies (the caches are keyed by
shot, not by inode).  Only gen.py's made-up analysis reuses the grouping descriptor of a file
already read (same inode, same bytes).  ``--culling-only`` skips what does not depend on the size
of the catalog but takes long at 50,000 shots (the fresh-folder runs, the whole analysis, the
loupe runs, the scroll through every thumbnail) and measures the reopen and the culling
interactions; ``--scroll-pages N`` scrolls through the first N screens only.
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ["CULLER_GUI_NO_DIALOGS"] = "1"
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests" / "app"))


def make_folder(folder: Path, n: int) -> None:
    import io
    from datetime import datetime, timedelta

    import numpy as np
    from PIL import Image
    from skimage import data

    from engine.demo import save_jpeg

    folder.mkdir(parents=True, exist_ok=True)
    variants = []
    rng = np.random.default_rng(0)
    for name in ("astronaut", "coffee", "chelsea"):
        base = Image.fromarray(getattr(data, name)()).convert("RGB").resize((2400, 1600), Image.Resampling.BICUBIC)
        arr = np.asarray(base).astype(np.float32)
        for _ in range(4):
            gain = rng.uniform(0.7, 1.2)
            noisy = np.clip(arr * gain + rng.normal(0, 4, arr.shape), 0, 255).astype(np.uint8)
            variants.append(noisy)
    start = datetime(2026, 11, 28, 10, 0, 0)
    blobs = []
    for i, v in enumerate(variants):
        p = folder / f"_v{i}.jpg"
        save_jpeg(p, v, start, quality=90)
        blobs.append(p.read_bytes())
        p.unlink()
    # one file per variant; every shot is a hard link to one of them (copies where the file
    # system has no hard links): 50,000 shots take 12 MB, not 45 GB
    masters = []
    for i, b in enumerate(blobs):
        m = folder.parent / f"{folder.name}-variant{i}.jpg"
        m.write_bytes(b)
        masters.append(m)
    for i in range(n):
        dst = folder / f"IMG_{i + 1:05d}.jpg"
        src = masters[(i // 10) % len(masters)]
        try:
            os.link(src, dst)
        except OSError:
            shutil.copyfile(src, dst)
    del io, timedelta


def vmhwm_mb() -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def spin(app, cond, timeout: float) -> bool:  # type: ignore[no-untyped-def]
    t0 = time.perf_counter()
    while not cond():
        if time.perf_counter() - t0 > timeout:
            return False
        app.processEvents()
        time.sleep(0.001)
    return True


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--shots", type=int, default=2000)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--out", type=Path, default=ROOT / "docs" / "bench-gui.md")
    ap.add_argument("--work", type=Path, default=None, help="folder for the generated session (kept)")
    ap.add_argument("--engine", choices=("real", "standin"), default="real",
                    help="analysis running during the fresh-folder runs: the real engine.pipeline "
                    "(cancelled after the measurement) or tests/app/gen.py's stand-in")
    ap.add_argument("--analyse", type=int, default=200,
                    help="shots analysed to the end by the real engine while stepping through them (0: skip)")
    ap.add_argument("--catalog", choices=("standin", "rank"), default="standin",
                    help="the analysed catalog the reopen, loupe and culling figures use: written by "
                    "tests/app/gen.py through the Catalog API (fast), or by `culler rank` (the real engine)")
    ap.add_argument("--culling-only", action="store_true",
                    help="measure the reopen and the culling interactions only (for --shots 50000)")
    ap.add_argument("--scroll-pages", type=int, default=0,
                    help="scroll through the first N screens of thumbnails only (0: all of them)")
    args = ap.parse_args()
    if args.culling_only:
        args.analyse = 0

    import gen
    from PySide6.QtCore import QSettings
    from PySide6.QtWidgets import QApplication

    import app as _app  # noqa: F401  (Qt work-arounds)
    from app import startup, theme
    from app.main import visible_thumbnails_loaded
    from app.settings import AppSettings
    from app.window import MainWindow

    work = args.work or Path(tempfile.mkdtemp(prefix="bench-gui-"))
    folder = work / "session"
    t0 = time.perf_counter()
    if not (folder.is_dir() and len(list(folder.glob("*.jpg"))) == args.shots):
        shutil.rmtree(folder, ignore_errors=True)
        make_folder(folder, args.shots)
    print(f"session: {args.shots} JPEGs 2400x1600 in {folder} ({time.perf_counter() - t0:.0f} s)", flush=True)

    qapp = QApplication.instance() or QApplication([])
    theme.apply(qapp, "dark")
    settings = AppSettings(QSettings(str(work / "settings.ini"), QSettings.Format.IniFormat))
    settings.set("auto_advance", False)

    def window(rank_fn):  # type: ignore[no-untyped-def]
        w = MainWindow(settings, rank_fn=rank_fn)
        w.resize(1440, 900)
        w.show()
        spin(qapp, lambda: w.isVisible(), 5)
        spin(qapp, startup.warmed_up, 10)  # a user picks a folder a moment after the window shows
        for _ in range(20):
            qapp.processEvents()
        return w

    # a rank_fn standing in for the engine: writes the catalog shot by shot, slowly, from
    # another thread (the real pipeline also competes for the two cores)
    fresh_first, fresh_all, fresh_stall = [], [], []
    for r in range(0 if args.culling_only else args.runs):
        cat = folder.parent / f"{folder.name}.culler.sqlite"
        for p in (cat, Path(str(cat) + "-wal"), Path(str(cat) + "-shm")):
            p.unlink(missing_ok=True)
        w = window(None if args.engine == "real" else gen.fake_rank(10, delay=0.002))
        meter = gen.StallMeter()
        meter.start()
        t0 = time.perf_counter()
        w.open_folder(folder)
        spin(qapp, lambda w=w: w.first_thumb_at is not None, 30)
        qapp.processEvents()
        w.grid.viewport().repaint()
        fresh_first.append(time.perf_counter() - t0)
        spin(qapp, lambda w=w: visible_thumbnails_loaded(w), 60)
        w.grid.viewport().repaint()
        fresh_all.append(time.perf_counter() - t0)
        fresh_stall.append(meter.stop())
        w.cancel_analysis(wait=True)
        if w.messages:
            print("messages:", w.messages)
        w.close()
        print(f"fresh run {r}: first {fresh_first[-1] * 1000:.0f} ms, screenful {fresh_all[-1] * 1000:.0f} ms, "
              f"worst stall {fresh_stall[-1] * 1000:.0f} ms", flush=True)

    # a whole analysis with the real engine, on the first --analyse shots, while the user steps
    # through them every 0.4 s: the longest stall from choosing the folder to the final ranks
    full_stall, full_s, full_n = float("nan"), float("nan"), 0
    if args.engine == "real" and args.analyse > 0:
        sub = work / f"first{args.analyse}"
        if not (sub.is_dir() and len(list(sub.glob("*.jpg"))) == args.analyse):
            shutil.rmtree(sub, ignore_errors=True)
            sub.mkdir(parents=True)
            for p in sorted(folder.glob("*.jpg"))[: args.analyse]:
                try:
                    os.link(p, sub / p.name)
                except OSError:
                    shutil.copy(p, sub / p.name)
        sub_cat = sub.parent / f"{sub.name}.culler.sqlite"
        for p in (sub_cat, Path(str(sub_cat) + "-wal"), Path(str(sub_cat) + "-shm")):
            p.unlink(missing_ok=True)
        w = window(None)
        meter = gen.StallMeter()
        meter.start()
        t0 = time.perf_counter()
        w.open_folder(sub)
        spin(qapp, lambda w=w: w.analysis_running(), 30)
        while w.analysis_running() and time.perf_counter() - t0 < 1800:
            spin(qapp, lambda: False, 0.4)
            w.step(1)
        spin(qapp, lambda w=w: not w.busy(), 120)
        full_s = time.perf_counter() - t0
        spin(qapp, lambda: False, 0.5)
        full_stall = meter.stop()
        full_n = int(getattr(w.last_summary, "analysed", 0) or 0)
        w.close()
        print(f"full analysis of {args.analyse} shots: {full_s:.1f} s, worst stall {full_stall * 1000:.0f} ms",
              flush=True)

    cat = folder.parent / f"{folder.name}.culler.sqlite"
    for p in (cat, Path(str(cat) + "-wal"), Path(str(cat) + "-shm")):
        p.unlink(missing_ok=True)
    t0 = time.perf_counter()
    if args.catalog == "rank":
        import subprocess

        r = subprocess.run([sys.executable, "-m", "engine", "rank", str(folder), "--catalog", str(cat)],
                           cwd=ROOT, capture_output=True, text=True)
        if r.returncode != 0:
            print(r.stdout + r.stderr, file=sys.stderr)
            return 1
    else:
        gen.fill_catalog_batched(folder, cat, 10)
    print(f"catalog of {args.shots} analysed shots written by {'culler rank' if args.catalog == 'rank' else 'gen.py (batched store)'} "
          f"({time.perf_counter() - t0:.0f} s)", flush=True)

    reopen_call, reopen_open, reopen_first, reopen_stall = [], [], [], []
    for r in range(args.runs):
        w = window(gen.fake_rank(10))
        meter = gen.StallMeter()
        meter.start()
        t0 = time.perf_counter()
        w.open_folder(folder)
        reopen_call.append(time.perf_counter() - t0)
        spin(qapp, lambda w=w: w.groups_model.rowCount() > 1, 30)
        reopen_open.append(time.perf_counter() - t0)
        spin(qapp, lambda w=w: w.first_thumb_at is not None, 30)
        qapp.processEvents()
        w.grid.viewport().repaint()
        reopen_first.append(time.perf_counter() - t0)
        spin(qapp, lambda w=w: visible_thumbnails_loaded(w), 60)
        reopen_stall.append(meter.stop())
        spin(qapp, lambda w=w: not w.busy(), 60)
        assert w.last_summary is None, "reopening an analysed folder must not re-analyse"
        if r < args.runs - 1:
            w.close()
        print(f"reopen run {r}: open_folder() {reopen_call[-1] * 1000:.0f} ms, scenes shown "
              f"{reopen_open[-1] * 1000:.0f} ms, first {reopen_first[-1] * 1000:.0f} ms, "
              f"worst stall {reopen_stall[-1] * 1000:.0f} ms", flush=True)

    first_open, fast, refined, steps, miss = float("nan"), [], 0, [], 0
    if not args.culling_only:
        # loupe: the first open on this window (grid thumbnails on screen, no preview decoded yet)
        w.select_group_row(0)
        spin(qapp, lambda: visible_thumbnails_loaded(w), 30)
        t0 = time.perf_counter()
        w.show_loupe()
        spin(qapp, lambda: w.loupe.pix is not None, 10)
        first_open = time.perf_counter() - t0
        # loupe: stepping at 8 frames/s through shots whose preview is not decoded yet (the grid's
        # thumbnails of the shots ahead are requested as a user scrolling the grid would have them):
        # time from the key to the first pixels, and how often the preview arrived before the next key
        w.previews.clear()
        for _ in range(min(48, w.shots_model.rowCount() - 2)):
            row = w.grid.currentIndex().row()
            nxt = w.shots_model.key_at(row + 1)
            if nxt is None:
                break
            t0 = time.perf_counter()
            w.step(1)
            spin(qapp, lambda nxt=nxt: w.loupe.key == nxt and w.loupe.pix is not None, 2)
            fast.append(time.perf_counter() - t0)
            spin(qapp, lambda: False, max(0.0, 0.125 - (time.perf_counter() - t0)))
            refined += w.previews.has(nxt)
        # loupe: next shot when prefetched
        w.show_loupe()
        for _ in range(200):
            row = w.grid.currentIndex().row()
            nxt = w.shots_model.key_at(row + 1)
            if nxt is None:
                break
            if not spin(qapp, lambda nxt=nxt: w.previews.has(nxt), 10):
                miss += 1
            t0 = time.perf_counter()
            w.step(1)
            w.loupe.repaint()
            steps.append(time.perf_counter() - t0)
            assert w.loupe.key == nxt and w.loupe.pix is not None
    # culling interactions on the analysed catalog: the longest stall around each (the call
    # itself included), medians over --runs repetitions
    w.show_grid()
    w.select_group_row(1)
    spin(qapp, lambda: visible_thumbnails_loaded(w), 30)
    interactions = [
        ("pick (P) / 3 stars / undo", lambda: (w.set_flag("pick"), w.set_stars(3),
                                                w.decisions.undo_stack.undo())),
        ("next shot / next scene", lambda: (w.step(1), w.nav.move_group(1))),
        (f"show every scene ({args.shots:,} tiles)", lambda: w.select_group_row(0)),
        ("filter: picks, then all", lambda: (w.flag_filter.setCurrentIndex(1), w.flag_filter.setCurrentIndex(0))),
        ("sort by time, then rank", lambda: (w.sort_combo.setCurrentIndex(1), w.sort_combo.setCurrentIndex(0))),
        (f"accept every scene's suggestion ({args.shots:,} decisions)", w.accept_all),
        ("undo that", w.decisions.undo_stack.undo),
        ("only problem scenes, then all", lambda: (w._on_problem_filter(True), w._on_problem_filter(False))),
        ("thumbnail size 240 px, then 180 px", lambda: (w.grid.set_thumb_size(240), w.grid.set_thumb_size(180))),
        ("loupe, then grid", lambda: (w.show_loupe(), w.show_grid())),
    ]
    inter: dict[str, list[float]] = {name: [] for name, _ in interactions}
    for _ in range(args.runs):
        for name, fn in interactions:
            meter = gen.StallMeter()
            meter.start()
            fn()
            # a large change is applied in slices and written by a worker: until it is done
            busy = getattr(w.decisions, "busy", lambda: False)
            spin(qapp, lambda busy=busy: not busy(), 120)
            spin(qapp, lambda: False, 0.4)
            inter[name].append(meter.stop())
        w.select_group_row(1)
        spin(qapp, lambda: False, 0.3)
    for name, xs in inter.items():
        print(f"{name}: longest stall of each run {', '.join(f'{x * 1000:.0f}' for x in xs)} ms", flush=True)
    # every thumbnail once: scroll the grid from top to bottom
    w.show_grid()
    w.select_group_row(0)
    meter = gen.StallMeter()
    meter.start()
    t0 = time.perf_counter()
    sb = w.grid.verticalScrollBar()
    pos = 0
    pages = 0
    while pos <= sb.maximum() and not (args.scroll_pages and pages >= args.scroll_pages):
        pages += 1
        sb.setValue(pos)
        qapp.processEvents()
        spin(qapp, lambda: visible_thumbnails_loaded(w), 30)
        pos += max(1, sb.pageStep())
    scroll_s = time.perf_counter() - t0
    scroll_stall = meter.stop()
    thumbs_mb = w.thumbs.bytes_used / 2**20
    peak = vmhwm_mb()
    w.close()

    def ms(xs: list[float]) -> str:
        return f"{statistics.median(xs) * 1000:.0f} ms" if xs else "not run"

    def mx(xs: list[float]) -> str:
        return f"{max(xs) * 1000:.0f} ms" if xs else "not run"

    p95 = sorted(steps)[int(len(steps) * 0.95) - 1] if steps else float("nan")
    scrolled = f"{pages} screens" if args.scroll_pages else f"all {args.shots} thumbnails"
    lines = [
        "# GUI benchmark",
        "",
        f"Command: `QT_QPA_PLATFORM={qapp.platformName()} {'xvfb-run -a ' if qapp.platformName() == 'xcb' else ''}"
        f"python bench/bench_gui.py --shots {args.shots} --runs {args.runs}"
        f"{' --culling-only' if args.culling_only else ''}"
        f"{f' --scroll-pages {args.scroll_pages}' if args.scroll_pages else ''}`",
        "",
        f"Machine: {platform.machine()}, {os.cpu_count()} CPU cores, Python {platform.python_version()}, "
        f"Qt platform {qapp.platformName()}.  Session: {args.shots} JPEGs of 2400x1600 (about "
        f"{sum(p.stat().st_size for p in folder.glob('*.jpg')) / args.shots / 1e6:.1f} MB each, hard links "
        f"to 12 files).  "
        f"Medians of {args.runs} runs.",
        "",
        "| measure | result | target |",
        "| --- | --- | --- |",
        f"| fresh folder: choose it -> first thumbnail painted (analysis starting in the background) | "
        f"{ms(fresh_first)} | < 1 s |",
        f"| fresh folder: -> every thumbnail of the first screen painted | {ms(fresh_all)} | |",
        f"| fresh folder: longest GUI event-loop stall while loading | {ms(fresh_stall)} | < 50 ms |",
        f"| whole analysis of the first {args.analyse} shots by the real engine, stepping every 0.4 s: "
        f"longest stall ({full_n} analysed in {full_s:.0f} s) | {full_stall * 1000:.0f} ms | < 50 ms |",
        f"| reopen: open_folder() returns (the catalog is then read in a worker) | {ms(reopen_call)} | |",
        f"| reopen: catalog of {args.shots} shots on screen (scenes, ranks, decisions) | {ms(reopen_open)} | instant |",
        f"| reopen: first thumbnail painted | {ms(reopen_first)} | < 1 s |",
        f"| reopen: longest event-loop stall while loading | {ms(reopen_stall)} | < 50 ms |",
        f"| loupe: next shot shown when prefetched (median / p95 / max of {len(steps)} steps) | "
        f"{ms(steps)} / {p95 * 1000:.0f} ms / {mx(steps)} | < 50 ms |",
        f"| loupe: steps where the prefetch was not ready within 10 s | {miss} | 0 |",
        f"| loupe: first open on the window (grid on screen, no preview decoded) -> first pixels | "
        f"{first_open * 1000:.0f} ms | < 0.5 s |",
        f"| loupe: stepping at 8 frames/s, key -> first pixels (median / max of {len(fast)} steps; the "
        f"thumbnail first, refined by the preview in {refined} of them before the next key) | "
        f"{ms(fast)} / {mx(fast)} | < 50 ms |",
        f"| culling on the {args.shots}-shot catalog: longest stall of any interaction below | "
        f"{max(statistics.median(v) for v in inter.values()) * 1000:.0f} ms | < 50 ms |",
        f"| scrolling through {scrolled} (decode included) | {scroll_s:.1f} s, worst stall "
        f"{scroll_stall * 1000:.0f} ms | |",
        f"| thumbnail cache after that (bounded LRU, 256 MB cap) | {thumbs_mb:.0f} MB | |",
        f"| peak memory of the process (VmHWM) | {peak:.0f} MB | < 2 GB |",
        "",
        "| interaction (median of the longest event-loop stall around it) | stall |",
        "| --- | --- |",
        *[f"| {name} | {statistics.median(v) * 1000:.0f} ms |" for name, v in inter.items()],
        "",
        f"During the fresh-folder runs the {'real engine (engine.pipeline.rank_folder)' if args.engine == 'real' else 'stand-in analysis'}",
        "runs in the background (and is cancelled after the measurement).  The reopen, loupe and",
        *(["memory figures use a catalog of the whole session written by `culler rank` (the real engine)."]
          if args.catalog == "rank" else
          ["memory figures use a catalog of the whole session written by tests/app/gen.py through the",
           "Catalog API (10-shot scenes, scores made up), so that they are about the GUI, not the models."]),
        f"Load average while measuring: {os.getloadavg()[0]:.1f} (other jobs shared the machine).",
    ]
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
