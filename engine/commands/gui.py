"""``culler gui``: the desktop app (PySide6; imported only when the command runs)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

NAME = "gui"
HELP = "open the culling app (review ranked scenes, decide with the keyboard)"
DESCRIPTION = """\
Open the culling app.  With FOLDER, the folder opens at once: its catalog
(FOLDER.culler.sqlite beside it by default) loads instantly and the analysis
runs in the background when something is new.

Keys: P pick, X reject, U unflag, 0-5 stars, 6-9 labels (Red, Yellow, Green,
Blue), arrows move, E/Enter loupe, C compare, Z 100% on faces, A accept the
suggestion for the scene, Shift+A for all undecided shots, Ctrl+Z / Ctrl+Shift+Z
undo / redo, Ctrl+E export.

--screenshot OUT.png opens FOLDER, waits until the analysis is done, saves a
picture of the main window and exits (for documentation and checks; works on
the offscreen platform: QT_QPA_PLATFORM=offscreen).
"""


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("folder", nargs="?", type=Path, help="folder of photos to open")
    p.add_argument("--catalog", type=Path, help="catalog file (default: FOLDER.culler.sqlite beside the folder)")
    p.add_argument("--recursive", action="store_true", help="include sub-folders")
    p.add_argument("--screenshot", type=Path, metavar="OUT.png",
                   help="open FOLDER, wait for the analysis, save a screenshot of the window and exit")


def run(args: argparse.Namespace) -> int:
    try:
        import PySide6  # noqa: F401
    except ImportError:
        print("culler gui needs PySide6: pip install 'portrait-culler[gui]'", file=sys.stderr)
        return 2
    from app.main import run_gui

    return run_gui(args.folder, args.catalog, args.recursive, args.screenshot)
