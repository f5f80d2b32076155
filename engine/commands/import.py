"""``culler import``: a folder culled in another tool becomes decisions in its catalog."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

NAME = "import"
HELP = "read the ratings and labels of a folder culled elsewhere (XMP sidecars or embedded) as decisions"
DESCRIPTION = """\
Read xmp:Rating and xmp:Label from every shot of DIR: sidecars STEM.xmp and
STEM.EXT.xmp (Lightroom, Camera Raw, Capture One, darktable), else the XMP embedded
in JPEG, TIFF, DNG or HEIC.  Rating -1 becomes a reject, the pick label (Green)
a pick, 1-5 the stars, other colour labels stay labels: the reverse of
`culler export`.  Decisions already in the catalog are kept unless --overwrite.

Only the catalog is written (default: DIR.culler.sqlite beside DIR); photos and
sidecars are only read.  Hostile or broken XMP gets one line each and is skipped.
Then `culler taste learn DIR` learns your taste from them.
"""


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("dir", metavar="DIR", type=Path, help="folder of photos culled elsewhere")
    p.add_argument(
        "--catalog", type=Path, help="session catalog (default: DIR.culler.sqlite beside DIR)"
    )
    p.add_argument("-r", "--recursive", action="store_true", help="include sub-folders")
    p.add_argument(
        "--overwrite", action="store_true", help="replace decisions already in the catalog"
    )
    p.add_argument(
        "--mapping",
        type=Path,
        help="the TOML/JSON label mapping `culler export` used (see docs/export.md)",
    )


def run(args: argparse.Namespace) -> int:
    from engine.catalog import CatalogError

    root = args.dir.expanduser()
    if not root.is_dir():
        print(f"culler import: {root}: no such folder", file=sys.stderr)
        return 1
    mapping = None
    if args.mapping:
        from engine.export.mapping import MappingError, load_mapping

        try:
            mapping = load_mapping(args.mapping)
        except MappingError as exc:
            print(f"culler import: {exc}", file=sys.stderr)
            return 2
    from engine.taste.xmpread import import_folder

    try:
        rep = import_folder(
            root, args.catalog, recursive=args.recursive, overwrite=args.overwrite, mapping=mapping
        )
    except CatalogError as exc:
        print(f"culler import: {exc}", file=sys.stderr)
        return 1
    print(
        f"{rep.imported} decision(s) imported from XMP ({rep.picks} pick(s), {rep.rejects} reject(s), {rep.starred} starred) "
        f"of {rep.n_shots} shot(s); {rep.without} without rating or label"
        + (
            f"; {rep.kept} kept as already decided in the catalog (--overwrite replaces them)"
            if rep.kept
            else ""
        )
    )
    problems = rep.problems or []
    if problems:
        print(f"{len(problems)} XMP packet(s) skipped:")
        for line in problems[:20]:
            print(f"  {line}")
    print(f"catalog: {rep.catalog_path}")
    return 0
