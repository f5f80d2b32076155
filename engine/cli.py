"""``culler``: the command line of portrait-culler."""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from engine import __version__
from engine.commands import COMMANDS

DESCRIPTION = """\
Cull portrait sessions fast: bursts grouped into scenes, every group ranked
best-first by portrait quality members that look at the whole frame and at
each face, decisions kept in a per-session SQLite catalog, picks handed to
Lightroom.

Typical session:
  culler rank ~/Pictures/2026-11-28-studio -o ranks.csv   # analyse, group, rank
  culler gui ~/Pictures/2026-11-28-studio                 # review and decide
  culler export ~/Pictures/2026-11-28-studio --xmp        # ratings/labels for Lightroom
"""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="culler", description=DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--version", action="version", version=f"portrait-culler {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMANDS:
        try:
            mod = importlib.import_module(f"engine.commands.{name}")
        except ModuleNotFoundError as exc:
            if exc.name == f"engine.commands.{name}":
                continue  # command not part of this build
            raise
        p = sub.add_parser(
            mod.NAME,
            help=mod.HELP,
            description=getattr(mod, "DESCRIPTION", mod.HELP),
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )
        mod.add_arguments(p)
        p.set_defaults(_run=mod.run)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "_run", None):
        parser.print_help()
        return 2
    try:
        return int(args._run(args) or 0)
    except KeyboardInterrupt:
        print("interrupted; finished work is kept in the catalog, run again to resume", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
