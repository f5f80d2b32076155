"""``culler demo``: generate the demo session and rank it."""

from __future__ import annotations

import argparse
from pathlib import Path

NAME = "demo"
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
    import sys

    from engine.demo import make_demo_session
    from engine.pipeline import PipelineError, RankOptions, rank_folder
    from engine.report import ProgressBar, print_summary, write_ranks

    if not (args.dir.exists() and any(args.dir.glob("*.jpg"))):
        print(f"writing the demo session to {args.dir} ...")
        bursts = make_demo_session(args.dir)
    else:
        bursts = None
        print(f"using the demo session in {args.dir}")
    bar = ProgressBar(enabled=sys.stderr.isatty())
    try:
        summary = rank_folder(RankOptions(root=args.dir, workers=args.workers), progress=bar.update)
    except PipelineError as exc:
        bar.close()
        print(f"culler demo: {exc}", file=sys.stderr)
        return 1
    bar.close()
    if args.output:
        write_ranks(summary.catalog_path, args.output)
    print_summary(summary, args.output)
    if bursts:
        clean = {f.name for frames in bursts.values() for f in frames if f.defect == "clean"}
        from engine.catalog import Catalog

        with Catalog(summary.catalog_path, readonly=True) as cat:
            firsts = {r["key"] for r in cat.shots("rank = 1")}
        print(f"clean frame ranked first in {len(clean & firsts)} of {len(clean)} groups")
    return 0
