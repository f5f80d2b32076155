"""``culler``: the command line of portrait-culler.

The composition root: it imports no command itself; the sub-commands of the engine, the app and
the training module register through the entry-point group ``portrait_culler.commands`` (see
:mod:`engine.commands`)."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from engine import __version__
from engine.commands import GROUP, Command, discover

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


def build_parser(commands: Sequence[Command] | None = None) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="culler", description=DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--version", action="version", version=f"portrait-culler {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    if commands is None:
        commands = discover()
    for cmd in commands:
        p = sub.add_parser(
            cmd.name,
            help=cmd.help,
            description=cmd.description,
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )
        cmd.add_arguments(p)
        p.set_defaults(_run=cmd.run)
    if not commands:
        parser.epilog = (
            f"no sub-commands are registered: this installation's metadata has no {GROUP!r} entry "
            "points (a source checkout needs `pip install -e .`)"
        )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    commands = discover()
    for cmd in commands:
        if argv[:1] == [cmd.name] and cmd.module is None:  # a command that did not load says why
            return cmd.run(argparse.Namespace(args=argv[1:]))
    parser = build_parser(commands)
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
