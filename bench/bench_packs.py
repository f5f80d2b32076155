"""Benchmark of the quality members and model packs: speed and defect-ranking accuracy.

    /work/venv/bin/python bench/bench_packs.py [--runs 5] [--out docs/bench-packs.md]

* ms per shot of every registered member (technical and ``pack:*``) and of the
  default ensemble, on this CPU with one onnxruntime thread (one worker process
  per core in ``culler rank``), at batch 1 and batch 8; medians of ``--runs`` runs.
  Shots are the scikit-image demo photographs (astronaut, coffee, chelsea) at
  the analysis size (long side 1600 px) with their faces found by the engine's
  detector, so face members see real aligned crops.
* shots per second on a GPU when onnxruntime has a GPU provider (batch 32).
* defect ranking: for every pack and the default ensemble, the share of
  (clean, defective) pairs ranked clean-first, per defect type of
  ``engine.demo`` (defocus, motion, noise, under, over, jpeg; levels 1-3), and
  the share of bursts whose clean frame ranks first -- on the demo photographs
  and, when ``../shared/data/piq23`` exists, on its 35 example portraits
  (evaluation only: nothing from PIQ23 is used for training or shipped).
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

os.environ.setdefault("CULLER_ORT_THREADS", "1")


def pack_versions(packs: Sequence[str]) -> str:
    """NAME VERSION (model.onnx sha256 prefix) of each pack member, so a table names its weights."""
    from engine.packs.search import find_packs

    found = {p.name: p.manifest for p in find_packs(verify=False)}
    out = []
    for n in packs:
        m = found.get(n.removeprefix("pack:"))
        if m is None:
            out.append(n)
            continue
        out.append(f"{m.name} {m.version} (model.onnx sha256 {m.files.get('model.onnx', '?')[:12]})")
    return ", ".join(out) or "none"


def median_ms(fn: Callable[[], object], n_items: int, runs: int) -> float:
    fn()  # warm-up (session creation, caches)
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t) * 1000.0 / n_items)
    return statistics.median(times)


def analysis_image(rgb: np.ndarray, max_side: int = 1600) -> np.ndarray:
    import cv2

    s = max_side / max(rgb.shape[:2])
    if s >= 1:
        return rgb
    return cv2.resize(rgb, (round(rgb.shape[1] * s), round(rgb.shape[0] * s)), interpolation=cv2.INTER_AREA)


def detector():  # type: ignore[no-untyped-def]
    try:
        from engine.faces import FaceDetector

        return FaceDetector(threads=1)
    except Exception as exc:  # noqa: BLE001 - the bench runs without faces if needed
        print(f"face detector unavailable ({exc}); shots without faces", file=sys.stderr)
        return None


def make_shot(rgb: np.ndarray, det) -> object:  # type: ignore[no-untyped-def]
    from engine.quality.base import ShotInput

    img = analysis_image(rgb)
    faces = []
    if det is not None:
        from engine.faces import analyse_faces

        faces = analyse_faces(img, det)
    return ShotInput(image=img, faces=faces)


def demo_photos() -> dict[str, np.ndarray]:
    from engine.demo import demo_sources

    return demo_sources(max_side=1600)


def piq23_photos(limit: int | None = None) -> dict[str, np.ndarray]:
    ex = ROOT.parent / "shared" / "data" / "piq23" / "examples"
    if not ex.is_dir():
        return {}
    from engine.images import open_image

    out = {}
    for p in sorted(ex.iterdir())[:limit]:
        if p.suffix.lower() in (".jpg", ".jpeg", ".png"):
            out[p.stem] = open_image(p, max_side=1600)
    return out


def speed(members: dict[str, object], ensemble_names: list[str], shots: list, runs: int) -> list[tuple[str, float, float]]:
    from engine.packs.ensemble import Ensemble
    from engine.quality.base import ShotInput

    def fresh(ss: list) -> list:  # members cache per-shot signals in ShotInput: time from scratch
        return [ShotInput(image=s.image, faces=s.faces) for s in ss]

    rows = []
    eight = (shots * 8)[:8]
    for name, m in members.items():
        b1 = median_ms(lambda m=m: [m.score_batch(fresh([s])) for s in shots], len(shots), runs)  # type: ignore[attr-defined]
        b8 = median_ms(lambda m=m: m.score_batch(fresh(eight)), 8, runs)  # type: ignore[attr-defined]
        rows.append((name, b1, b8))
        print(f"  {name:<28} {b1:8.1f} ms/shot (batch 1) {b8:8.1f} ms/shot (batch 8)", flush=True)
    ens = Ensemble([members[n] for n in ensemble_names])  # type: ignore[misc]
    b1 = median_ms(lambda: [ens.score_batch(fresh([s])) for s in shots], len(shots), runs)
    b8 = median_ms(lambda: ens.score_batch(fresh(eight)), 8, runs)
    rows.append(("ensemble (default members)", b1, b8))
    print(f"  {'ensemble':<28} {b1:8.1f} ms/shot (batch 1) {b8:8.1f} ms/shot (batch 8)", flush=True)
    return rows


def gpu_speed(pack_names: Sequence[str]) -> list[tuple[str, str, float]]:
    from engine.packs.runtime import PackRuntime, available_providers
    from engine.packs.search import find_packs

    if not any(p in available_providers() for p in ("CUDAExecutionProvider", "DmlExecutionProvider", "CoreMLExecutionProvider")):
        return []
    rows = []
    imgs = [analysis_image(v) for v in demo_photos().values()]
    batch = (imgs * 32)[:32]
    for fp in find_packs():
        if not fp.ok or fp.name not in pack_names:
            continue
        rt = PackRuntime(fp.path, device="auto", batch_size=32, threads=0)
        ms = median_ms(lambda rt=rt: rt.score_images(batch), len(batch), 5)
        rows.append((fp.name, rt.device, 1000.0 / ms))
    return rows


def defect_ranking(scorers: dict[str, Callable[[list], list[float]]], photos: dict[str, np.ndarray], det) -> dict[str, dict[str, float]]:  # type: ignore[no-untyped-def]
    """Per scorer: share of (clean, defect) pairs with clean ahead, per defect, and bursts won."""
    from engine.demo import DEFECTS, LEVELS, apply_defect

    res: dict[str, dict[str, list[float]]] = {n: {d: [] for d in (*DEFECTS, "burst")} for n in scorers}
    for pname, rgb in photos.items():
        img = analysis_image(rgb)
        clean = make_shot(img, det)
        shots = [clean]
        labels = [("clean", 0)]
        for d in DEFECTS:
            for lv in LEVELS:
                shots.append(make_shot(apply_defect(img, d, lv), det))
                labels.append((d, lv))
        for n, fn in scorers.items():
            s = fn(shots)
            for (d, _lv), v in zip(labels[1:], s[1:]):
                res[n][d].append(1.0 if s[0] > v else 0.0)
            res[n]["burst"].append(1.0 if s[0] > max(s[1:]) else 0.0)
        print(f"  ranked {pname}", flush=True)
    return {n: {d: float(np.mean(v)) if v else float("nan") for d, v in r.items()} for n, r in res.items()}


def table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    def fmt(x: object) -> str:
        return f"{x:.1f}" if isinstance(x, float) else str(x)

    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    lines += ["| " + " | ".join(fmt(x) for x in r) + " |" for r in rows]
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--out", default=str(ROOT / "docs" / "bench-packs.md"))
    ap.add_argument("--piq23-limit", type=int, default=None, help="use only the first N PIQ23 example portraits")
    ap.add_argument("--no-ranking", action="store_true", help="speed only")
    args = ap.parse_args(argv)
    load_start = os.getloadavg()

    import onnxruntime as ort

    from engine.quality.registry import available_members, create_member, default_member_names

    names = available_members()
    defaults = default_member_names()
    packs = [n for n in names if n.startswith("pack:")]
    print(f"members: {', '.join(names)}\ndefault: {', '.join(defaults)}", flush=True)
    members = {n: create_member(n, device="cpu", threads=1) if n.startswith("pack:") else create_member(n) for n in names}
    timed = dict(members)
    for n in packs:  # the frame alone (no face crops): one pass per input at 224 px
        timed[f"{n} (frame only)"] = create_member(n, device="cpu", threads=1, targets=["image"])
    det = detector()
    photos = demo_photos()
    shots = [make_shot(v, det) for v in photos.values()]
    print(f"shots: {[s.image.shape for s in shots]}, faces: {[len(s.faces) for s in shots]}", flush=True)
    print("speed (CPU, 1 onnxruntime thread):", flush=True)
    rows = speed(timed, defaults, shots, args.runs)
    gpu = gpu_speed([p.removeprefix("pack:") for p in packs])

    rank_sections = []
    if not args.no_ranking:
        from engine.packs.ensemble import Ensemble

        def member_fn(n: str) -> Callable[[list], list[float]]:
            def f(shots: list) -> list[float]:
                return [s.quality if s is not None else 0.0 for s in members[n].score_batch(shots)]  # type: ignore[attr-defined]

            return f

        def ensemble_fn(ns: list[str]) -> Callable[[list], list[float]]:
            ens = Ensemble([members[n] for n in ns])  # type: ignore[misc]

            def f(shots: list) -> list[float]:
                return ens.rank_group(shots)[0]

            return f

        tech = [n for n in defaults if not n.startswith("pack:")]
        scorers: dict[str, Callable[[list], list[float]]] = {n: member_fn(n) for n in packs}
        scorers["technical members (fusion as in culler rank)"] = ensemble_fn(tech)
        if any(n.startswith("pack:") for n in defaults):
            scorers["default ensemble: technical + deep (fusion as in culler rank)"] = ensemble_fn(defaults)
        for label, ph in (("demo photographs (astronaut, coffee, chelsea)", photos), ("PIQ23 example portraits (evaluation only)", piq23_photos(args.piq23_limit))):
            if not ph:
                continue
            print(f"defect ranking on {label}:", flush=True)
            r = defect_ranking(scorers, ph, det)
            from engine.demo import DEFECTS

            rank_sections.append(
                f"Defect ranking on {len(ph)} {label}: share of (clean, defective) pairs with the clean frame ahead "
                "(levels 1-3), and share of bursts (clean + 18 defective frames) won by the clean frame.\n\n"
                + table(["scorer", *DEFECTS, "bursts won"], [[n, *(f"{v[d]:.2f}" for d in DEFECTS), f"{v['burst']:.2f}"] for n, v in r.items()])
            )

    cpu = platform.processor() or platform.machine()
    try:
        text = Path("/proc/cpuinfo").read_text()
        model = next(line.split(":", 1)[1].strip() for line in text.splitlines() if line.startswith("model name"))
    except (OSError, StopIteration):
        model = cpu
    lines = [
        "# Benchmarks: model packs and quality members",
        "",
        f"Command: `python bench/bench_packs.py --runs {args.runs}`  ",
        f"Machine: {model}, {os.cpu_count()} cores; onnxruntime {ort.__version__} "
        f"(providers: {', '.join(ort.get_available_providers())}); one onnxruntime thread per member.  ",
        f"Shots: {len(shots)} demo photographs at the analysis size (long side 1600 px), "
        f"{sum(len(s.faces) for s in shots)} faces in all; medians of {args.runs} runs.  ",
        f"Packs: {pack_versions(packs)}.  ",
        f"Load average (1, 5, 15 min) at start {' '.join(f'{v:.2f}' for v in load_start)}, "
        f"at end {' '.join(f'{v:.2f}' for v in os.getloadavg())} (the machine is shared: speed figures are upper bounds).",
        "",
        "## Speed on this CPU (ms per shot)",
        "",
        "`pack:NAME` scores the frame and every face crop (as in `culler rank`); `(frame only)` is the "
        "frame alone: one pass per model input at 224 x 224.  The ensemble row is every default member "
        "on the same shots (face detection not included).",
        "",
        table(["member", "batch 1", "batch 8"], rows),
        "",
    ]
    if gpu:
        lines += ["## GPU", "", table(["pack", "device", "shots/s (batch 32)"], gpu), ""]
    else:
        lines += ["No GPU provider in this onnxruntime build: no GPU figures (run the same command where one is present).", ""]
    if rank_sections:
        lines += [
            "## Defect ranking",
            "",
            "Each photograph becomes a burst: the clean frame and the `engine.demo` defects (defocus, motion "
            "blur, noise, under- and over-exposure, JPEG) at levels 1-3, at the analysis size (long side "
            "1600 px), faces found by the engine's detector.  Pack rows use the pack alone; ensemble rows "
            "use the engine's fusion over the whole burst as one group, as `culler rank` does.  The PIQ23 "
            "example portraits are never used for training (licence: non-commercial) and are not copied.",
            "",
        ]
        for s in rank_sections:
            lines += [s, ""]
    Path(args.out).write_text("\n".join(lines))
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
