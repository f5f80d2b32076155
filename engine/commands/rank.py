"""``culler rank``: analyse, group and rank a folder; write CSV/JSON."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

HELP = "analyse a folder of bursts, group it into scenes and rank every group best-first"
DESCRIPTION = """\
Analyse every photo of DIR (JPEG, PNG, TIFF, HEIC, WebP, AVIF, camera RAW through its
embedded preview), find and judge the faces, group the shots into scenes by
capture time and content, and rank each group best-first.

Results go to the session catalog (default: DIR.culler.sqlite beside DIR);
a second run only analyses new or changed files, and a run that was killed
resumes where it stopped.  With -o, a CSV or JSON file gets one row per shot:
file, group, rank (1 = best in its group), score (higher is better), faces,
then one column per quality member.
"""


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("dir", metavar="DIR", type=Path, help="folder of photos")
    p.add_argument("-o", "--output", type=Path, help="write ranks to this .csv or .json file")
    p.add_argument("--catalog", type=Path, help="session catalog (default: DIR.culler.sqlite beside DIR)")
    p.add_argument("-r", "--recursive", action="store_true", help="include sub-folders")
    p.add_argument("-j", "--workers", type=int, default=None, help="parallel workers (default: one per CPU core)")
    p.add_argument(
        "-s", "--sensitivity", type=float, default=None,
        help="grouping sensitivity 0..1: higher splits scenes more readily (default: the catalog's last value, else 0.5)",
    )  # fmt: skip
    p.add_argument(
        "--keep", metavar="STRICTNESS", default=None,
        help="suggested picks per group: 'moments' (the best shot and every distinct moment nearly as good; "
             "near-duplicates of a pick are the rejects), 'best:N' (the N best) or 'margin:X' (within X score "
             "points of the best); default: the catalog's last value, else 'moments'",
    )  # fmt: skip
    p.add_argument("--members", help="comma-separated quality members (default: all default members; see `culler models list`)")
    p.add_argument("--faces", default="retinaface", choices=["retinaface", "insightface"], help="face detector backend (insightface: opt-in, non-commercial model packs you already have)")
    p.add_argument("--device", default="auto", help="deep members: auto, cpu, cuda, ... (default auto)")
    p.add_argument("--relink", action="store_true", help="the catalog was made for this folder at another place (it moved): move the catalog with it")
    p.add_argument(
        "--ray", nargs="?", const="auto", default=None, metavar="ADDRESS|auto",
        help="analyse on Ray (pip install 'portrait-culler[cluster]'): 'auto' starts a local instance, "
        "an address joins a cluster (DIR must be readable at the same path on every node)",
    )  # fmt: skip
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar")


def run(args: argparse.Namespace) -> int:
    from engine.pipeline import RankOptions
    from engine.report import rank_and_report

    if args.keep is not None:
        from engine.quality.suggest import Strictness

        try:
            Strictness.parse(args.keep)
        except ValueError as exc:
            print(f"culler rank: --keep: {exc}", file=sys.stderr)
            return 2
    if args.sensitivity is not None and not 0.0 <= args.sensitivity <= 1.0:
        print("culler rank: --sensitivity must be between 0 and 1", file=sys.stderr)
        return 2
    if args.workers is not None and args.workers < 1:
        print("culler rank: --workers must be at least 1", file=sys.stderr)
        return 2
    from engine.packs.runtime import parse_device

    try:
        parse_device(args.device)
    except ValueError as exc:
        print(f"culler rank: --device: {exc}", file=sys.stderr)
        return 2
    if args.output and args.output.suffix.lower() not in (".csv", ".json"):
        print("culler rank: -o must end in .csv or .json", file=sys.stderr)
        return 2
    if args.ray is not None:
        import importlib.util

        if importlib.util.find_spec("ray") is None:
            print("culler rank: --ray needs Ray: pip install 'portrait-culler[cluster]'", file=sys.stderr)
            return 2
    opts = RankOptions(
        root=args.dir, catalog=args.catalog, recursive=args.recursive, workers=args.workers,
        sensitivity=args.sensitivity, members=[m.strip() for m in args.members.split(",")] if args.members else None,
        face_backend=args.faces, device=args.device, relink=args.relink, ray=args.ray, strictness=args.keep,
    )  # fmt: skip
    code, _ = rank_and_report(opts, args.output, "culler rank", args.quiet)
    return code
