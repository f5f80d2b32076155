"""``culler gui``: the desktop app, registered in the ``portrait_culler.commands`` entry-point group.

This module is loaded for ``culler --help``: it imports neither PySide6 nor the rest of the app;
:func:`app.main.run_gui` is imported only when the command runs.
"""

from __future__ import annotations

import argparse
import importlib.util
import sys
from pathlib import Path

HELP = "open the culling app (review ranked scenes, decide with the keyboard; needs the [gui] extra)"
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
    if importlib.util.find_spec("PySide6") is None:
        print("culler gui: PySide6 is not installed; install the GUI extra: pip install 'portrait-culler[gui]'",
              file=sys.stderr)
        return 2
    from app.main import run_gui

    return run_gui(args.folder, args.catalog, args.recursive, args.screenshot)
