"""How often does the ranking put the clean frame first and order the spoiled frames right?

    python bench/bench_ranking.py                  # defect bursts + realistic bursts
    python bench/bench_ranking.py --only defects   # the whole-frame defect bursts only
    python bench/bench_ranking.py --only realistic --step 3 -j 2

**Defect bursts.**  Each source photo (astronaut + every PIQ23 example in ../shared) becomes
a burst: the clean frame plus defocus, motion blur, noise, under- and over-exposure and JPEG
at three strengths (engine.demo).  A burst is *perfect* when the clean frame ranks first and,
for every defect, level 1 > level 2 > level 3.

**Realistic bursts** (engine.demo_bursts): hand-held frames (shift 1-3 %, roll 1 degree,
zoom 3 %, fresh noise), face-only defocus, subject-only motion, a shallow-depth-of-field frame
against soft faces, half-closed and closed eyes, couples and 4-6 person groups with exactly
one face spoiled per frame.  Per kind: the share of ordered pairs ranked right and of bursts
won by the clean frame, for the engine and for a whole-frame variance-of-Laplacian baseline.

Every frame is saved as JPEG and analysed exactly as ``culler rank`` does
(engine.pipeline.analyse_path) and each burst is ranked as one group by the engine's one
fusion (engine.quality.fusion.rank_group).  PIQ23 photos are read from ../shared only
(non-commercial; never copied).
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import sys
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from engine import demo, pipeline  # noqa: E402
from engine.quality.fusion import rank_group  # noqa: E402
from engine.quality.registry import default_member_names  # noqa: E402

EXAMPLES = REPO.parent / "shared" / "data" / "piq23" / "examples"


def _init() -> None:
    if not pipeline._WORKER.ready:
        pipeline._init_worker(default_member_names(), "retinaface", "cpu", 1)


def analyse_frames(frames: list[np.ndarray]) -> list[dict[str, Any]]:
    """Each frame saved as JPEG and analysed as ``culler rank`` does; adds the baseline."""
    import cv2

    _init()
    out = []
    with tempfile.TemporaryDirectory() as tmp:
        f = Path(tmp) / "frame.jpg"
        for rgb in frames:
            demo.save_jpeg(f, rgb, None)
            res = pipeline.analyse_path(f, pipeline._WORKER.members, pipeline._detector(), pipeline._eye_model())
            gray = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)
            res["laplacian"] = float(cv2.Laplacian(gray, cv2.CV_64F).var())
            out.append({"scores": res["scores"], "faces": res["faces"], "laplacian": res["laplacian"]})
    return out


def _load(path: str | None, max_side: int = 1400) -> np.ndarray:
    from PIL import Image

    if path is None:
        return demo.demo_sources(1200)["astronaut"]
    im = Image.open(path)
    im.draft("RGB", (max_side, max_side))
    im = im.convert("RGB")
    s = min(1.0, max_side / max(im.size))
    if s < 1:
        im = im.resize((round(im.size[0] * s), round(im.size[1] * s)), Image.Resampling.LANCZOS)
    return np.asarray(im)


# ------------------------------------------------------------------------------ defect bursts


def _defect_job(item: tuple[str, str | None]) -> tuple[str, list[dict]]:
    name, path = item
    rgb = _load(path, 100000) if path else _load(None)
    return name, analyse_frames([demo.apply_defect(rgb, d, lv) for d, lv in demo.burst_plan()])


def defect_problems(rows: list[dict], members: list[str]) -> list[str]:
    specs = pipeline.member_specs(members)
    group = [{m: v for m, v in r["scores"].items() if m in specs} for r in rows]
    ranks = rank_group(group, specs, faces=[r["faces"] for r in rows]).ranks
    plan = demo.burst_plan()
    out = [] if ranks[0] == 1 else [f"clean ranked {ranks[0]}"]
    for d in demo.DEFECTS:
        rs = [ranks[i] for i, (dd, _) in enumerate(plan) if dd == d]
        if rs != sorted(rs):
            out.append(f"{d} {rs}")
    return out


# --------------------------------------------------------------------------- realistic bursts


def _portraits(items: list[tuple[str, str | None]]) -> list[Any]:
    from engine.demo_bursts import detect_portrait

    _init()
    out = []
    for name, path in items:
        p = detect_portrait(name, _load(path), pipeline._detector())
        if p is not None:
            out.append(p)
    return out


def _realistic_job(job: tuple[str, list[tuple[str, str | None]], int, frozenset[str] | None]) -> list[tuple[str, str, list[str], list[tuple[int, int]], list[dict]]]:
    from engine import demo_bursts as B

    kind, items, seed, only = job
    if only is not None and kind != "single" and kind not in only:
        return []
    ps = _portraits(items)
    if kind == "single":
        # every kind is generated (the hand-held jitter is one random sequence per portrait)
        bursts = [b for p in ps for b in B.single_bursts(p, seed) if only is None or b.kind in only]
    else:
        b = B.group_burst(ps, kind, seed) if len(ps) >= (2 if kind == "duo" else 4) else None
        bursts = [b] if b is not None else []
    return [(b.kind, b.name, b.labels, b.better, analyse_frames(b.frames)) for b in bursts]


def realistic_jobs(items: list[tuple[str, str | None]], only: frozenset[str] | None = None
                   ) -> list[tuple[str, list[tuple[str, str | None]], int, frozenset[str] | None]]:
    jobs: list[tuple[str, list[tuple[str, str | None]], int, frozenset[str] | None]] = [
        ("single", [it], i, only) for i, it in enumerate(items)]
    piq = [it for it in items if it[1] is not None]
    for i in range(0, len(piq) - 1, 2):
        jobs.append(("duo", piq[i : i + 2], 100 + i, only))
    for i, n in zip(range(0, len(piq), 5), (4, 5, 6, 4, 5, 6, 4)):
        if len(piq[i : i + n]) >= 4:
            jobs.append(("group", piq[i : i + n], 200 + i, only))
    return jobs


def evaluate(bursts: list[tuple[str, str, list[str], list[tuple[int, int]], list[dict]]],
             members: list[str]) -> dict[str, dict[str, list[int]]]:
    """Per kind: [pairs right, pairs, bursts won, bursts] for the engine and the baseline."""
    specs = pipeline.member_specs(members)
    table: dict[str, dict[str, list[int]]] = {}
    for kind, _name, _labels, better, rows in bursts:
        group = [{m: v for m, v in r["scores"].items() if m in specs} for r in rows]
        ranks = rank_group(group, specs, faces=[r["faces"] for r in rows]).ranks
        lap = [r["laplacian"] for r in rows]
        base = [1 + sum(1 for y in lap if y > x) for x in lap]
        for who, rk in (("engine", ranks), ("laplacian", base)):
            t = table.setdefault(kind, {}).setdefault(who, [0, 0, 0, 0])
            t[0] += sum(1 for i, j in better if rk[i] < rk[j])
            t[1] += len(better)
            winners = set(range(len(rk))) - {j for _i, j in better}  # frames nothing must beat
            t[2] += int(any(rk[w] == 1 for w in winners) and rk.count(1) == 1)
            t[3] += 1
    return table


def failures(bursts: list[tuple[str, str, list[str], list[tuple[int, int]], list[dict]]], members: list[str]) -> list[str]:
    specs = pipeline.member_specs(members)
    out = []
    for kind, name, labels, better, rows in bursts:
        group = [{m: v for m, v in r["scores"].items() if m in specs} for r in rows]
        ranks = rank_group(group, specs, faces=[r["faces"] for r in rows]).ranks
        bad = [f"{labels[i]}<{labels[j]}" for i, j in better if ranks[i] > ranks[j]]
        if bad:
            out.append(f"  {kind} {name}: {', '.join(bad)}  ranks {dict(zip(labels, ranks))}")
    return out


def eye_cues(items: list[tuple[str, str | None]]) -> None:
    """Per portrait, both eye-state readings on the open eyes and on the synthetic half-closed
    and closed lids: the aspect ratio (eye_aspect_ratio) and the iris visibility."""
    from engine import demo_bursts as B
    from engine.faces import analyse_faces

    _init()
    det, em = pipeline._detector(), pipeline._eye_model()
    if em is None:
        print("eye model not installed")
        return
    n = ear_ok = vis_ok = either = 0
    print("| portrait | EAR open / half / closed | iris visibility open / half / closed |\n|---|---|---|")
    for name, path in items:
        p = B.detect_portrait(name, _load(path), det)
        if p is None:
            continue
        imgs = [p.rgb, B.shut_eyes(p.rgb, p.face, 0.6), B.shut_eyes(p.rgb, p.face, 1.0)]
        sig = []
        for im in imgs:
            fs = analyse_faces(im, det, eye_model=em) if im is not None else []
            sig.append(fs[0].signals if fs else {})
        ear = [s.get("eye_aspect_ratio", float("nan")) for s in sig]
        vis = [s.get("iris_visibility", float("nan")) for s in sig]
        n += 1
        e_ok, v_ok = ear[2] < 0.9 * ear[0], vis[2] > vis[0] + 0.1
        ear_ok, vis_ok, either = ear_ok + e_ok, vis_ok + v_ok, either + (e_ok or v_ok)
        print(f"| {name[:24]} | {ear[0]:.2f} / {ear[1]:.2f} / {ear[2]:.2f} | {vis[0]:.2f} / {vis[1]:.2f} / {vis[2]:.2f} |")
    print(f"closed lid read: EAR >= 10 % narrower {ear_ok}/{n}; iris visibility >= 0.1 higher {vis_ok}/{n}; either {either}/{n}")


def _pct(a: int, b: int) -> str:
    return f"{100.0 * a / b:.0f} % ({a}/{b})" if b else "-"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--step", type=int, default=1, help="use every STEP-th PIQ23 example")
    ap.add_argument("-j", "--workers", type=int, default=2)
    ap.add_argument("--only", choices=("defects", "realistic"))
    ap.add_argument("--verbose", action="store_true", help="list every mis-ordered pair")
    ap.add_argument("--cache", type=Path, help="pickle of the analysed bursts (reused when present; defects in NAME-defects.pkl)")
    ap.add_argument("--eye-cues", action="store_true", help="only print both eye-state readings on open and synthetic closed eyes")
    ap.add_argument("--redo", help="comma-separated realistic kinds to rebuild and re-analyse in the cache "
                    "(after a change to their generator or to the analysis)")
    args = ap.parse_args()
    items: list[tuple[str, str | None]] = [("astronaut", None)]
    if EXAMPLES.is_dir():
        items += [(p.name, str(p)) for p in sorted(EXAMPLES.glob("*.[jJ][pP][gG]"))[:: args.step]]
    else:
        print(f"(PIQ23 examples not found at {EXAMPLES}: astronaut only)")
    everyone = default_member_names()
    technical = [m for m in everyone if not m.startswith("pack:")]
    print(f"load average at start: {Path('/proc/loadavg').read_text().split()[:3]}", flush=True)
    if args.eye_cues:
        eye_cues(items)
        return
    with mp.get_context("spawn").Pool(args.workers) as pool:
        if args.only != "realistic":
            import pickle

            dcache = args.cache.with_name(args.cache.stem + "-defects" + args.cache.suffix) if args.cache else None
            if dcache and dcache.is_file():
                results = pickle.loads(dcache.read_bytes())
            else:
                results = dict(pool.imap_unordered(_defect_job, items))
                if dcache:
                    dcache.write_bytes(pickle.dumps(results))
            for label, members in (("default members", everyone), ("technical members only", technical)):
                bad = {n: p for n, rows in results.items() if (p := defect_problems(rows, members))}
                print(f"defect bursts, {label}: {len(results) - len(bad)}/{len(results)} bursts perfect")
                for n, p in sorted(bad.items()):
                    print(f"  {n}: {', '.join(p)}")
        if args.only != "defects":
            import pickle

            redo = frozenset(args.redo.split(",")) if args.redo else None
            if args.cache and args.cache.is_file():
                bursts = pickle.loads(args.cache.read_bytes())
                if redo:
                    fresh = [b for part in pool.imap_unordered(_realistic_job, realistic_jobs(items, redo)) for b in part]
                    bursts = [b for b in bursts if b[0] not in redo] + fresh
                    args.cache.write_bytes(pickle.dumps(bursts))
            else:
                bursts = [b for part in pool.imap_unordered(_realistic_job, realistic_jobs(items)) for b in part]
                if args.cache:
                    args.cache.write_bytes(pickle.dumps(bursts))
            for label, members in (("default members", everyone), ("technical members only", technical)):
                table = evaluate(bursts, members)
                print(f"\nrealistic bursts, {label}:")
                print("| kind | bursts | pairs right (engine) | bursts won (engine) | pairs right (Laplacian) | bursts won (Laplacian) |")
                print("|---|---|---|---|---|---|")
                tot = {"engine": [0, 0, 0, 0], "laplacian": [0, 0, 0, 0]}
                for kind in sorted(table):
                    e, b = table[kind]["engine"], table[kind]["laplacian"]
                    for k in range(4):
                        tot["engine"][k] += e[k]
                        tot["laplacian"][k] += b[k]
                    print(f"| {kind} | {e[3]} | {_pct(e[0], e[1])} | {_pct(e[2], e[3])} | {_pct(b[0], b[1])} | {_pct(b[2], b[3])} |")
                e, b = tot["engine"], tot["laplacian"]
                print(f"| all | {e[3]} | {_pct(e[0], e[1])} | {_pct(e[2], e[3])} | {_pct(b[0], b[1])} | {_pct(b[2], b[3])} |")
                if args.verbose:
                    print("\n".join(failures(bursts, members)))


if __name__ == "__main__":
    main()
