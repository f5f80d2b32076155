"""The README's screenshots of the loupe's focus map and the face-by-face review, from a real
window (run it under Xvfb for the xcb platform, or on Qt's offscreen platform):

    QT_QPA_PLATFORM=xcb xvfb-run -a python scripts/gui_screenshots.py [--out docs/screenshots]

The session: a burst of a two-person "group" made of scikit-image's public-domain astronaut
portrait (and its mirror image), where one person or the other blinks in some frames
(:func:`engine.demo.close_eyes`) and others are defocused or shaken, analysed by the real engine.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ["CULLER_GUI_NO_DIALOGS"] = "1"


def spin(app, cond, timeout: float) -> bool:  # type: ignore[no-untyped-def]
    t0 = time.monotonic()
    while not cond():
        if time.monotonic() - t0 > timeout:
            return False
        app.processEvents()
        time.sleep(0.01)
    return True


def make_group_burst(folder: Path) -> None:
    from datetime import datetime, timedelta

    import numpy as np
    from skimage import data

    from engine import faces as F
    from engine.demo import apply_defect, close_eyes, save_jpeg

    one = data.astronaut()
    group = np.concatenate([one, one[:, ::-1]], axis=1)  # 1024 x 512, two people
    found = sorted(F.analyse_faces(group, F.FaceDetector()), key=lambda f: f.landmarks[0][0])
    left_shut = close_eyes(group, found[0].landmarks)
    right_shut = close_eyes(group, found[1].landmarks)
    assert left_shut is not None and right_shut is not None
    frames = [left_shut, apply_defect(group, "defocus", 2), group, right_shut, apply_defect(group, "motion", 1)]
    t0 = datetime(2026, 11, 28, 14, 0, 0)
    for i, img in enumerate(frames):
        save_jpeg(folder / f"group_{i + 1:04d}.jpg", img, t0 + timedelta(seconds=0.3 * i))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--out", type=Path, default=ROOT / "docs" / "screenshots")
    args = ap.parse_args()

    from PySide6.QtCore import QSettings
    from PySide6.QtWidgets import QApplication

    from app import theme
    from app.main import visible_thumbnails_loaded
    from app.settings import AppSettings
    from app.window import MainWindow

    work = Path(tempfile.mkdtemp(prefix="culler-shots-"))
    folder = work / "portrait-session"
    folder.mkdir()
    make_group_burst(folder)
    app = QApplication.instance() or QApplication([])
    theme.apply(app, "dark")
    settings = AppSettings(QSettings(str(work / "settings.ini"), QSettings.Format.IniFormat))
    w = MainWindow(settings)
    w.resize(1440, 900)
    w.show()
    spin(app, w.isVisible, 5)
    if not w.open_folder(folder):
        print(w.messages, file=sys.stderr)
        return 1
    spin(app, lambda: not w.busy(), 600)
    w.select_group_row(1)
    spin(app, lambda: visible_thumbnails_loaded(w), 60)
    args.out.mkdir(parents=True, exist_ok=True)
    # the loupe on the scene's best frame with the focus map
    w.show_loupe()
    spin(app, lambda: w.loupe.pix is not None, 60)
    if os.environ.get("SHOTS_DEBUG"):
        spin(app, lambda: False, 0.5)
        w.grab().save(str(args.out / "debug-loupe.png"))
    w.viewer.toggle_overlay("focus")
    spin(app, lambda: w.loupe.pix is not None and w.loupe.overlay is not None, 60)
    spin(app, lambda: False, 0.5)
    w.grab().save(str(args.out / "culler-focusmap.png"))
    # the face-by-face review of the burst
    w.viewer.toggle_overlay("focus")
    w.show_grid()
    w.show_faces()
    spin(app, lambda: False, 0.8)
    w.grab().save(str(args.out / "culler-faces.png"))
    print(f"screenshots written to {args.out} ({app.platformName()})")
    w.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
