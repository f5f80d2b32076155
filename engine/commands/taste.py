"""``culler taste``: learn a personal ranking from your own past decisions, show it, switch it."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

NAME = "taste"
HELP = "learn your taste from past decisions (picks, rejects, stars, Lightroom ratings) and rank with it"
DESCRIPTION = """\
  culler taste learn DIR|CATALOG ...   learn from the decisions found there
  culler taste show                    what the learned ranking weighs differently, in words
  culler taste off | on                rank with the default ranking / with your taste
  culler taste reset                   forget the learned profile

learn reads each folder's catalog (analysing the folder first when needed) and the
ratings and labels of XMP sidecars or embedded XMP (Lightroom, Photo Mechanic, Bridge,
darktable); a catalog file is read as it is.  It learns which shot you prefer within
each group and reports, shoot by shot, how often the default ranking and the learned
one agree with your top choice.  The profile lives in your user data folder
(CULLER_TASTE_DIR overrides it); `culler rank` and the GUI use it while it is on.
Nothing is uploaded.
"""


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("action", choices=["learn", "show", "off", "on", "reset"])
    p.add_argument(
        "sources",
        nargs="*",
        type=Path,
        metavar="DIR|CATALOG",
        help="learn: folders of photos or session catalogs",
    )
    p.add_argument(
        "-r", "--recursive", action="store_true", help="learn: include sub-folders of each DIR"
    )
    p.add_argument(
        "-j",
        "--workers",
        type=int,
        default=None,
        help="learn: parallel workers when a folder needs analysing",
    )
    p.add_argument("--json", action="store_true", help="show: the profile as JSON (coefficients)")


def _catalog_of(src: Path, args: argparse.Namespace) -> Path | None:
    if src.is_file():
        return src
    if not src.is_dir():
        print(f"culler taste: {src}: no such folder or catalog", file=sys.stderr)
        return None
    from engine.pipeline import PipelineError, RankOptions, rank_folder
    from engine.taste.xmpread import import_folder

    try:
        summary = rank_folder(RankOptions(src, recursive=args.recursive, workers=args.workers))
    except PipelineError as exc:
        print(f"culler taste: {exc}", file=sys.stderr)
        return None
    rep = import_folder(src, summary.catalog_path, recursive=args.recursive)
    for line in (rep.problems or [])[:10]:
        print(f"  {line}", file=sys.stderr)
    if rep.imported:
        print(f"{src}: {rep.imported} decision(s) read from XMP")
    return summary.catalog_path


def run(args: argparse.Namespace) -> int:
    from engine.taste import profile as tp

    if args.action != "learn" and args.sources:
        print(f"culler taste {args.action}: takes no folders", file=sys.stderr)
        return 2
    try:
        if args.action == "off":
            tp.set_enabled(False)
            print("taste: off; `culler rank` and the GUI use the default ranking")
            return 0
        if args.action == "on":
            if tp.load_profile() is None:
                print(
                    "culler taste on: no profile learned yet; run `culler taste learn DIR`",
                    file=sys.stderr,
                )
                return 1
            tp.set_enabled(True)
            print("taste: on; `culler rank` and the GUI rank by your taste")
            return 0
        if args.action == "reset":
            n = tp.reset()
            print(f"taste: profile forgotten ({n} file(s) removed from {tp.taste_dir()})")
            return 0
        if args.action == "show":
            return _show(args)
    except tp.ProfileError as exc:
        print(f"culler taste: {exc}", file=sys.stderr)
        return 1
    return _learn(args)


def _show(args: argparse.Namespace) -> int:
    from engine.taste import profile as tp

    prof = tp.load_profile()
    if prof is None:
        print(
            "no taste profile yet: `culler taste learn DIR|CATALOG ...` learns one from your decisions"
        )
        return 0
    if args.json:
        print(prof.to_json())
        return 0
    state = "on" if tp.enabled() else "off"
    print(
        f"taste profile v{prof.version} ({state}): learned from {prof.n_decisions} decision(s) in {prof.n_groups} group(s) of {prof.n_shoots} shoot(s)"
    )
    if prof.agreement_default is not None and prof.agreement_learned is not None:
        print(
            f"  agreement with your top choice ({prof.method}): default {prof.agreement_default:.0%}, learned {prof.agreement_learned:.0%}"
        )
    for line in prof.phrases or tp.describe(prof):
        print(f"  - {line}")
    print(f"  file: {tp.profile_path()}")
    return 0


def _learn(args: argparse.Namespace) -> int:
    from engine.taste import profile as tp
    from engine.taste.learn import TasteError, learn_from_catalogs, summary_lines, to_profile

    if not args.sources:
        print(
            "culler taste learn: name at least one folder of photos or session catalog",
            file=sys.stderr,
        )
        return 2
    cats = []
    for src in args.sources:
        c = _catalog_of(src.expanduser(), args)
        if c is None:
            return 1
        cats.append(c)
    try:
        result = learn_from_catalogs(cats)
        prof = to_profile(result, [str(c) for c in cats])
        path = tp.save_profile(prof)
    except (TasteError, tp.ProfileError) as exc:
        print(f"culler taste learn: {exc}", file=sys.stderr)
        return 1
    for line in summary_lines(result):
        print(line)
    for line in prof.phrases:
        print(f"  - {line}")
    print(
        f"saved taste profile v{prof.version} to {path}; `culler rank` uses it (`culler taste off` to stop)"
    )
    return 0
