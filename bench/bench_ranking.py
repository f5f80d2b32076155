"""How often does the ranking put the clean frame first and order every defect by strength?

    python bench/bench_ranking.py                 # astronaut + every PIQ23 example in ../shared
    python bench/bench_ranking.py --step 7 -j 2   # every 7th example, two processes

Each source photo becomes a burst: the clean frame plus defocus, motion blur,
noise, under- and over-exposure and JPEG at three strengths (engine.demo), saved
as JPEG and analysed exactly as ``culler rank`` does (engine.pipeline.analyse_path).
The burst is ranked as one group with the default members and again with the
technical members alone.  A burst is *perfect* when the clean frame ranks first
and, for every defect, level 1 > level 2 > level 3.  PIQ23 photos are read from
../shared only (non-commercial; never copied).
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import sys
import tempfile
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from engine import demo, pipeline  # noqa: E402
from engine.quality.fusion import rank_group  # noqa: E402
from engine.quality.registry import default_member_names  # noqa: E402


def _analyse(item: tuple[str, str | None]) -> tuple[str, list[dict]]:
    name, path = item
    from PIL import Image

    names = default_member_names()
    if not pipeline._W:
        pipeline._init_worker(names, "retinaface", "auto", 1)
    rgb = demo.demo_sources(1200)["astronaut"] if path is None else np.asarray(Image.open(path).convert("RGB"))
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        f = Path(tmp) / "frame.jpg"
        for d, lv in demo.burst_plan():
            demo.save_jpeg(f, demo.apply_defect(rgb, d, lv), None)
            rows.append(pipeline.analyse_path(f, pipeline._W["members"], pipeline._detector(), pipeline._eye_model())["scores"])
    return name, rows


def problems(rows: list[dict], members: list[str]) -> list[str]:
    specs = pipeline.member_specs(members)
    group = [{m: v for m, v in r.items() if m in specs} for r in rows]
    ranks = rank_group(group, specs).ranks
    plan = demo.burst_plan()
    out = [] if ranks[0] == 1 else [f"clean ranked {ranks[0]}"]
    for d in demo.DEFECTS:
        rs = [ranks[i] for i, (dd, _) in enumerate(plan) if dd == d]
        if rs != sorted(rs):
            out.append(f"{d} {rs}")
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--step", type=int, default=1, help="use every STEP-th PIQ23 example")
    ap.add_argument("-j", "--workers", type=int, default=2)
    args = ap.parse_args()
    items: list[tuple[str, str | None]] = [("astronaut", None)]
    ex = REPO.parent / "shared" / "data" / "piq23" / "examples"
    if ex.is_dir():
        items += [(p.name, str(p)) for p in sorted(ex.glob("*.[jJ][pP][gG]"))[:: args.step]]
    with mp.get_context("spawn").Pool(args.workers) as pool:
        results = dict(pool.imap_unordered(_analyse, items))
    everyone = default_member_names()
    technical = [m for m in everyone if not m.startswith("pack:")]
    for label, members in (("default members", everyone), ("technical members only", technical)):
        bad = {n: p for n, rows in results.items() if (p := problems(rows, members))}
        print(f"{label}: {len(results) - len(bad)}/{len(results)} bursts perfect")
        for n, p in sorted(bad.items()):
            print(f"  {n}: {', '.join(p)}")


if __name__ == "__main__":
    main()
