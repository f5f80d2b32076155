"""``culler export``: hand the decisions to Lightroom Classic (and other tools)."""

from __future__ import annotations

import argparse
import contextlib
import sys
from pathlib import Path

HELP = "hand picks, ratings and labels to Lightroom (sidecars, copies, embedded XMP, CSV/JSON)"
DESCRIPTION = """\
Lightroom Classic reads no pick/reject flag from files: it reads xmp:Rating
(-1 rejected, 0 unrated, 1-5 stars) and xmp:Label (colour label names).  Default
mapping: pick -> Label "Green"; reject -> Rating -1 and Label "Red"; stars as given.

Modes (one of):
  --to OUT        copy the picks into OUT for a fresh import, keeping RAW+JPEG pairs and
                  existing sidecars together; the copies carry rating and label (the default:
                  OUT = DIR-picks beside the folder).  --link: hard links instead of copies.
  --xmp           write STEM.xmp sidecars beside every decided shot (Lightroom reads them for
                  proprietary RAW; then Metadata > Read Metadata from Files).  An existing
                  sidecar is merged (only rating and label change) and backed up first.
  --embed         write XMP into JPEG/TIFF/DNG/HEIC originals in place (temp file, image data
                  verified unchanged, atomic replace); proprietary RAW get sidecars.
  --format csv|json -o FILE   the decisions for other tools.

Originals are only ever read, except with the explicit --embed.  Re-running an export is
safe and idempotent.  Nothing in the catalog is trusted: a path leading out of DIR, a link
leading out of it, or an invalid decision costs one line and the rest goes on; a decision whose
photo changed since it was made is held back (--include-changed exports it); a catalog made for
another folder is refused (--relink moves it with a moved folder).  See docs/export.md.

  culler export ~/shoot --xmp
  culler export ~/shoot --suggested --to ~/for-lightroom
  culler export ~/shoot --format csv -o decisions.csv
"""


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("folder", metavar="DIR", help="the session folder")
    p.add_argument("--catalog", metavar="PATH", default=None, help="catalog (default: DIR.culler.sqlite beside DIR)")
    p.add_argument(
        "--suggested", action="store_true",
        help="apply the engine's suggestion (best of each group picked, the rest rejected) to "
        "shots you left undecided; never overrides a decision you made",
    )  # fmt: skip
    mode = p.add_mutually_exclusive_group()
    mode.add_argument("--xmp", action="store_true", help="write XMP sidecars beside the files")
    mode.add_argument("--to", metavar="OUT", default=None, help="copy (or --link) the picks into OUT")
    mode.add_argument("--embed", action="store_true", help="embed XMP in JPEG/TIFF/DNG/HEIC originals in place")
    mode.add_argument("--format", choices=("csv", "json"), default=None, help="write the decisions as CSV or JSON")
    p.add_argument("-o", "--output", metavar="FILE", default=None, help="with --format: output file ('-' = stdout)")
    p.add_argument("--link", action="store_true", help="with --to: hard links instead of copies (same disk only)")
    p.add_argument("--no-metadata", action="store_true", help="with --to: plain copies, no rating/label written")
    p.add_argument(
        "--sidecars", choices=("lightroom", "darktable", "both"), default="lightroom",
        help="sidecar names: STEM.xmp (lightroom, default), STEM.EXT.xmp (darktable) or both",
    )  # fmt: skip
    p.add_argument("--no-backup", action="store_true", help="do not keep NAME.xmp.culler-bak of merged sidecars")
    g = p.add_argument_group("mapping (default: pick -> Green label; reject -> rating -1 + Red label)")
    g.add_argument("--mapping", metavar="FILE", default=None, help="TOML or JSON mapping file (see docs/export.md)")
    g.add_argument("--pick-label", metavar="NAME", default=None, help="label for picks ('none' for no label)")
    g.add_argument("--reject-label", metavar="NAME", default=None, help="label for rejects ('none' for no label)")
    g.add_argument("--pick-rating", metavar="N", default=None, help="force this rating on picks ('stars' = as given)")
    g.add_argument("--reject-rating", metavar="N", default=None, help="rating for rejects (default -1)")
    p.add_argument(
        "--relink", action="store_true",
        help="the catalog was made for this folder at another place (the folder moved): move it here",
    )  # fmt: skip
    p.add_argument(
        "--include-changed", action="store_true",
        help="also export decisions whose photo changed since you decided (each one is listed)",
    )  # fmt: skip
    p.add_argument("-v", "--verbose", action="store_true", help="list every file written")


def _err(msg: str, code: int = 2) -> int:
    print(f"culler export: {msg}", file=sys.stderr)
    return code


def run(args: argparse.Namespace) -> int:
    from engine.catalog import (
        Catalog,
        CatalogError,
        catalog_lock,
        default_catalog_path,
        root_mismatch_message,
    )
    from engine.export import actions
    from engine.export.exiftool import Exiftool, find_exiftool
    from engine.export.mapping import Mapping, MappingError, load_mapping, parse_label, parse_rating
    from engine.export.plan import ExportReport, collect
    from engine.safeio import SafeIOError

    root = Path(args.folder).expanduser()
    if not root.is_dir():
        return _err(f"{root} is not a folder")
    root = root.resolve()
    if args.link and args.to is None and (args.xmp or args.embed or args.format):
        return _err("--link goes with --to OUT")
    if args.output and not args.format:
        return _err("-o/--output goes with --format csv|json")
    if args.format and not args.output:
        args.output = "-"

    try:
        mapping = load_mapping(Path(args.mapping)) if args.mapping else Mapping()
        if args.pick_label is not None:
            mapping.pick.label = parse_label(args.pick_label, "--pick-label")
        if args.reject_label is not None:
            mapping.reject.label = parse_label(args.reject_label, "--reject-label")
        if args.pick_rating is not None:
            mapping.pick.rating = parse_rating(args.pick_rating, "--pick-rating")
        if args.reject_rating is not None:
            mapping.reject.rating = parse_rating(args.reject_rating, "--reject-rating")
    except MappingError as exc:
        return _err(str(exc))

    cat_path = Path(args.catalog).expanduser() if args.catalog else default_catalog_path(root)
    if not cat_path.is_file():
        return _err(f"no catalog at {cat_path}: run `culler rank {args.folder}` first (or give --catalog)")
    stack = contextlib.ExitStack()
    try:
        if not args.format:  # writing beside the photos: one culler at a time (issue 10.13)
            stack.enter_context(catalog_lock(cat_path, "export"))
        catalog = Catalog(cat_path, readonly=True)
        stored = catalog.root
        if stored is not None and str(stored) != str(root):
            catalog.close()
            if not args.relink:
                return _err(root_mismatch_message(cat_path, str(stored), root))
            Catalog(cat_path, root, relink=True).close()
            print(f"relinked the catalog from {stored} to {root}")
            catalog = Catalog(cat_path, readonly=True)
    except CatalogError as exc:
        stack.close()
        return _err(str(exc))

    report = ExportReport()
    try:
        items = collect(catalog, root, suggested=args.suggested, mapping=mapping,
                        decided_only=not args.format, report=report, include_changed=args.include_changed)
        n_shots = len(catalog.shots())
        if args.format:
            extra = {
                "root": str(root),
                "catalog": str(cat_path),
                "mapping": mapping.describe(),
                "suggested_applied": bool(args.suggested),
            }
            data = actions.render_decisions(items, root, args.format, extra)
            if args.output == "-":
                sys.stdout.buffer.write(data)
                sys.stdout.flush()
            else:
                actions.write_decisions(data, Path(args.output).expanduser())
                print(f"wrote {len(items)} shot(s) to {args.output}")
            for what, msg in report.problems:
                print(f"problem: {msg}" if what in msg else f"problem: {what}: {msg}", file=sys.stderr)
            return 0 if report.ok else 1
        decided = [i for i in items if i.source == "user"]
        print(
            f"{n_shots} shot(s) in the catalog; {len(decided)} decided by you"
            + (f", {len(items) - len(decided)} from the engine's suggestion" if args.suggested else "")
            + f"; mapping: {mapping.describe()}"
        )
        if not items:
            print("nothing to export: no decisions yet (cull in `culler gui`, or use --suggested)")
            return 0
        exe_path = find_exiftool()
        exe = Exiftool(exe_path) if exe_path else None
        stack.callback(lambda: exe.close() if exe else None)
        if args.xmp:
            actions.export_xmp(items, style=args.sidecars, report=report, backup=not args.no_backup)
        elif args.embed:
            actions.export_embed(
                items, exe=exe, style=args.sidecars, report=report, backup=not args.no_backup,
                catalog_path=cat_path,
            )
        else:
            out = Path(args.to).expanduser() if args.to else root.parent / f"{root.name}-picks"
            picks = [i for i in items if i.flag == "pick"]
            print(f"{'linking' if args.link else 'copying'} {len(picks)} pick(s) into {out}")
            actions.export_copies(
                items, root, out, link=args.link, metadata=not args.no_metadata,
                style=args.sidecars, exe=exe, report=report,
            )  # fmt: skip
    except SafeIOError as exc:
        return _err(str(exc), 1)
    finally:
        stack.close()
        catalog.close()
    for line in report.lines(verbose=args.verbose):
        print(line, file=sys.stdout if not line.startswith(("problem", "stopped")) else sys.stderr)
    return 0 if report.ok else 1
