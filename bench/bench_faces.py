"""Benchmark and accuracy figures for engine.faces.

    /work/venv/bin/python bench/bench_faces.py [--runs 7] [--threads 1] [--out docs/bench-faces.md]

Speed: per-image detection and full analysis (detection + crops + signals + eyes-open model)
on 1600x1200 RGB images already in memory (decode not included), median of ``--runs`` runs
per image, single-threaded onnxruntime.  Both wall time and process CPU time are reported:
on a busy machine CPU time is the better estimate of the cost on one free core.

Accuracy: detection on scikit-image's astronaut and textures, on the 35 PIQ23 example
portraits when ../shared/data/piq23 is present; eye-sharpness monotonicity under defocus,
motion blur and noise; eyes-open on open vs synthetically closed eyes.
"""

from __future__ import annotations

import argparse
import platform
import statistics
import sys
import time
from pathlib import Path

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from engine import faces as F  # noqa: E402
from engine.demo import close_eyes  # noqa: E402

PIQ = ROOT.parent / "shared/data/piq23/examples"


def _to_1600x1200(img: np.ndarray) -> np.ndarray:
    h, w = img.shape[:2]
    s = max(1600 / w, 1200 / h)
    r = cv2.resize(
        img,
        (round(w * s), round(h * s)),
        interpolation=cv2.INTER_AREA if s < 1 else cv2.INTER_CUBIC,
    )
    y0, x0 = (r.shape[0] - 1200) // 2, (r.shape[1] - 1600) // 2
    return np.ascontiguousarray(r[y0 : y0 + 1200, x0 : x0 + 1600])


def _load_piq() -> list[tuple[str, np.ndarray]]:
    if not PIQ.is_dir():
        return []
    from PIL import Image

    out = []
    for p in sorted(PIQ.iterdir()):
        if p.suffix.lower() in (".jpg", ".jpeg", ".png"):
            with Image.open(p) as im:
                out.append((p.name, np.asarray(im.convert("RGB"))))
    return out


def _time(fn, runs: int) -> tuple[float, float]:
    walls, cpus = [], []
    for _ in range(runs):
        w0, c0 = time.perf_counter(), time.process_time()
        fn()
        walls.append(time.perf_counter() - w0)
        cpus.append(time.process_time() - c0)
    return statistics.median(walls) * 1000, statistics.median(cpus) * 1000


def _defocus(img, s):
    return img if s <= 0 else cv2.GaussianBlur(img, (0, 0), s)


def _motion(img, n):
    if n <= 1:
        return img
    k = np.zeros((n, n), np.float32)
    k[n // 2, :] = 1.0 / n
    return cv2.filter2D(img, -1, k)


def _noise(img, s, seed):
    rng = np.random.default_rng(seed)
    return np.clip(img + rng.normal(0, s, img.shape), 0, 255).astype(np.uint8)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=7)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--out", type=Path, default=ROOT / "docs/bench-faces.md")
    args = ap.parse_args()

    from skimage import data

    det = F.FaceDetector(threads=args.threads)
    eyes = F.load_eye_model(args.threads)
    piq = _load_piq()
    astro = data.astronaut()
    lines: list[str] = []
    cmd = "/work/venv/bin/python bench/bench_faces.py " + " ".join(sys.argv[1:])

    # ---------------------------------------------------------------- speed
    speed_imgs = [("astronaut (upscaled)", _to_1600x1200(astro))]
    speed_imgs += [(n, _to_1600x1200(im)) for n, im in piq[:: max(1, len(piq) // 8)]]
    F.analyse_faces(speed_imgs[0][1], det, eye_model=eyes)  # warm-up: model loads
    det_w, det_c, ana_w, ana_c = [], [], [], []
    for _, img in speed_imgs:
        w, c = _time(lambda img=img: det.detect(img), args.runs)
        det_w.append(w)
        det_c.append(c)
        w, c = _time(lambda img=img: F.analyse_faces(img, det, eye_model=eyes), args.runs)
        ana_w.append(w)
        ana_c.append(c)
    med = statistics.median

    # ---------------------------------------------------------------- accuracy
    textures = {n: getattr(data, n)() for n in ("coffee", "brick", "grass", "gravel", "chelsea")}
    textures["noise"] = np.random.default_rng(0).integers(0, 256, (600, 800, 3), dtype=np.uint8)
    fp = {n: len(det.detect(im)) for n, im in textures.items()}
    piq_found = sum(1 for _, im in piq if det.detect(im))

    sharp_rows = []
    worst_noise = 0.0
    mono_ok = 0
    ear_open, ear_closed, p_open, p_closed = [], [], [], []
    candidates = [("astronaut", astro)] + piq
    for name, img in candidates:
        found = F.analyse_faces(img, det, eye_model=eyes)
        if not found:
            continue
        f = found[0]
        iod = float(np.linalg.norm(f.landmarks[1] - f.landmarks[0]))
        if abs(f.signals["yaw"]) <= 30 and "eyes_open" in f.signals:
            shut = close_eyes(img, f.landmarks)
            got = F.analyse_faces(shut, det, eye_model=eyes) if shut is not None else []
            if got and "eyes_open" in got[0].signals:
                ear_open.append(f.signals["eye_aspect_ratio"])
                ear_closed.append(got[0].signals["eye_aspect_ratio"])
                p_open.append(f.signals["eyes_open"])
                p_closed.append(got[0].signals["eyes_open"])
        if abs(f.signals["yaw"]) > 45 or iod < 30:
            continue

        def es(x):
            g = F.analyse_faces(x, det)
            return g[0].signals["eye_sharpness"] if g else float("nan")

        c = f.signals["eye_sharpness"]
        b = [c] + [es(_defocus(img, s)) for s in (1, 2, 3.5)]
        m = [c] + [es(_motion(img, n)) for n in (5, 9, 15)]
        nz = [es(_noise(img, s, seed)) for s in (5, 10, 20) for seed in (0, 1)]
        ok = bool(np.all(np.diff(b) < 0) and np.all(np.diff(m) < 0))
        mono_ok += ok
        worst_noise = max(worst_noise, max(nz) / c - 1)
        lv = []
        for x in (img, _noise(img, 10, 0), _noise(img, 20, 0)):
            g = F.gray_of(x)
            x0, y0 = (int(v) for v in f.landmarks[0])
            r = max(6, int(0.2 * iod))
            lv.append(float(cv2.Laplacian(g[y0 - r : y0 + r, x0 - r : x0 + r], cv2.CV_32F).var()))
        sharp_rows.append((name, b, m, nz, lv))

    lines += [
        "# engine.faces benchmark",
        "",
        f"Command: `{cmd}`  ",
        f"Machine: {platform.machine()}, {platform.python_version()}, onnxruntime threads = "
        f"{args.threads}; date {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}.  ",
        "Load at measurement time: other jobs were running on this 2-core machine, so wall "
        "times are pessimistic; process CPU time is the cost on one free core.",
        "",
        "## Speed (1600x1200 RGB in memory, median of "
        f"{args.runs} runs per image, then median over {len(speed_imgs)} images)",
        "",
        "| step | wall ms | CPU ms |",
        "| --- | ---: | ---: |",
        f"| `FaceDetector.detect` (RetinaFace-mnet0.25 at long side {det.det_size}) "
        f"| {med(det_w):.1f} | {med(det_c):.1f} |",
        f"| `analyse_faces` (detect + crop + signals + eyes-open model) | {med(ana_w):.1f} | "
        f"{med(ana_c):.1f} |",
        "",
        "## Detection accuracy",
        "",
        f"- PIQ23 example portraits (35, one main subject each): a face found in "
        f"**{piq_found}/{len(piq)}**" + (" (PIQ23 not present)" if not piq else ""),
        "- Faces found on non-face images (default threshold 0.6): "
        + ", ".join(f"{k} {v}" for k, v in fp.items()),
        "",
        "## Eye sharpness (end to end: faces re-detected on every degraded image)",
        "",
        f"Frontal-ish faces (|yaw| <= 45, IOD >= 30 px): {len(sharp_rows)}; strictly decreasing "
        f"with defocus sigma 0/1/2/3.5 px and motion blur 1/5/9/15 px on **{mono_ok}/"
        f"{len(sharp_rows)}**; largest increase under Gaussian noise (sigma 5/10/20 of 255, 2 "
        f"seeds): **{worst_noise * 100:+.2f} %** (landmark jitter; at fixed landmarks see tests).",
        "",
        "| image | defocus 0 / 1 / 2 / 3.5 | motion 1 / 5 / 9 / 15 | noise 5,10,20 (max) "
        "| var. of Laplacian clean / n10 / n20 |",
        "| --- | --- | --- | --- | --- |",
    ]
    for name, b, m, nz, lv in sharp_rows:
        lines.append(
            f"| {name[:28]} | {' / '.join(f'{v:.3f}' for v in b)} | "
            f"{' / '.join(f'{v:.3f}' for v in m)} | {max(nz):.3f} | "
            f"{' / '.join(f'{v * 1e3:.2f}' for v in lv)} e-3 |"
        )
    if ear_open:
        lines += [
            "",
            "## Eyes open (MediaPipe face mesh + iris landmarks on LiteRT)",
            "",
            f"Faces with |yaw| <= 30: {len(ear_open)}.  Eye aspect ratio open "
            f"{min(ear_open):.3f}..{max(ear_open):.3f} (median {med(ear_open):.3f}); same faces with "
            f"eyes synthetically closed (cheek skin Poisson-cloned over each eye + drawn lash line) "
            f"{min(ear_closed):.3f}..{max(ear_closed):.3f} (median {med(ear_closed):.3f}).  "
            f"EAR lower after closing on {sum(c < o for o, c in zip(ear_open, ear_closed))}/"
            f"{len(ear_open)}; eyes_open > 0.5 on {sum(p > 0.5 for p in p_open)}/{len(p_open)} "
            f"open and {sum(p > 0.5 for p in p_closed)}/{len(p_closed)} closed.",
            "",
            "Limits: synthetic closures are not real blinks; not validated on real closed eyes, "
            "squints, glasses glare or profiles.  Looking-down portraits score low (lowered lids).",
        ]
    text = "\n".join(lines) + "\n"
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
