"""``culler demo``: generate the demo session and rank it."""

from __future__ import annotations

import argparse
from pathlib import Path

HELP = "generate a demo session of bursts from public-domain photos and rank it"
DESCRIPTION = """\
Write a small session of three scenes (scikit-image's public-domain / CC0
photos: astronaut, coffee, chelsea), each a burst of 19 frames: one clean
frame and the same frame defocused, motion-blurred, noisy, under- and
over-exposed and JPEG-damaged at three strengths.  Then rank it as
`culler rank` does and show the result: the clean frame should lead every group.
"""


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("dir", nargs="?", type=Path, default=Path("demo-session"), help="where to write the session (default ./demo-session)")
    p.add_argument("-o", "--output", type=Path, help="also write ranks to this .csv or .json")
    p.add_argument("-j", "--workers", type=int, default=None, help="parallel workers (default: one per core)")


def run(args: argparse.Namespace) -> int:
    import json

    from engine.catalog import Catalog
    from engine.demo import make_demo_session
    from engine.pipeline import RankOptions
    from engine.report import rank_and_report

    truth = args.dir / "DEMO.json"  # which frame of each burst is the clean one
    if not truth.exists():
        print(f"writing the demo session to {args.dir} ...")
        bursts = make_demo_session(args.dir)
        clean = sorted(f.name for frames in bursts.values() for f in frames if f.defect == "clean")
        truth.write_text(json.dumps({"clean": clean}, indent=1))
    else:
        print(f"using the demo session in {args.dir}")
    code, summary = rank_and_report(RankOptions(root=args.dir, workers=args.workers), args.output, "culler demo")
    if summary is not None and summary.n_shots:
        clean_set = set(json.loads(truth.read_text())["clean"])
        with Catalog(summary.catalog_path) as cat:
            firsts = {r["key"] for r in cat.ranked_shots() if r["rank"] == 1}
        print(f"clean frame ranked first in {len(clean_set & firsts)} of {len(clean_set)} groups")
    return code
