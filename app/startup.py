"""Start-up of the window: background imports, a settled heap, the welcome page."""

from __future__ import annotations

import contextlib
import gc
import threading
from collections.abc import Callable

from PySide6.QtCore import Qt
from PySide6.QtGui import QFont
from PySide6.QtWidgets import QHBoxLayout, QLabel, QPushButton, QVBoxLayout, QWidget


def settle_heap() -> None:
    """Move every object alive now out of the cyclic collector's sight (``gc.freeze``).

    A full collection walks every tracked object while holding the GIL: with the modules of
    Qt, numpy and the engine plus a 2,000-shot catalog in memory that is 20-40 ms during which
    the window cannot paint.  The app's long-lived objects (modules, widgets, the session's
    records) are frozen after start-up and after each catalog read, so collections only walk
    what is new.  Frozen objects are still freed by reference counting when dropped; only
    garbage in reference cycles among them waits (none in the session records)."""
    gc.freeze()


def preload_engine() -> None:
    """Import what opening a folder needs now, so that choosing a folder does not wait for it."""
    import sqlite3

    import sqlite_utils
    from PIL import Image, JpegImagePlugin  # noqa: F401

    import engine.catalog
    import engine.images
    import engine.scan  # noqa: F401

    conn = sqlite3.connect(":memory:")
    sqlite_utils.Database(conn)  # its first use loads plugins (~70 ms)
    conn.close()


_WARM_UP_MODULES = (
    "multiprocessing.connection", "multiprocessing.queues", "multiprocessing.synchronize",
    "multiprocessing.popen_spawn_posix", "multiprocessing.resource_tracker",
    "app.engine_process", "engine.pipeline",
)


def warm_up() -> None:  # a background thread, started once the window is on screen
    """Import what the first folder's decoders and analysis need (all of Pillow's format
    plugins, the HEIF plugin with its native library, multiprocessing's spawn machinery, the
    pipeline, the quality registry with its verified packs): ~0.3 s that otherwise runs in the
    decoder threads or the GUI thread just when the first thumbnails and scores are painted,
    and stalls the window by 60 ms or more."""
    import importlib

    with contextlib.suppress(Exception):  # only an optimisation: failures show up later, in context
        from PIL import Image

        Image.init()
    with contextlib.suppress(Exception):
        import engine.images

        engine.images._register_heif()
    for name in _WARM_UP_MODULES:
        with contextlib.suppress(Exception):  # e.g. no popen_spawn_posix on Windows
            importlib.import_module(name)
    with contextlib.suppress(Exception):  # the explain chart's member weights: the registry
        from engine.quality.registry import available_members  # and the packs' sha256 (~50 ms)

        available_members()


class WelcomePage(QWidget):
    def __init__(self, on_open: Callable[[], None], parent: QWidget | None = None):
        super().__init__(parent)
        lay = QVBoxLayout(self)
        lay.addStretch(2)
        title = QLabel("portrait-culler")
        f = QFont()
        f.setPointSizeF(f.pointSizeF() * 2.2)
        f.setBold(True)
        title.setFont(f)
        title.setAlignment(Qt.AlignmentFlag.AlignCenter)
        lay.addWidget(title)
        sub = QLabel("Open a folder of portrait bursts, or drop it on this window.\n"
                     "Scenes are grouped and ranked best-first; cull with P / X / U, 0-5 stars, 6-9 labels.")
        sub.setAlignment(Qt.AlignmentFlag.AlignCenter)
        sub.setWordWrap(True)  # never widens the window
        sub.setStyleSheet("color: palette(placeholder-text);")
        lay.addWidget(sub)
        btn = QPushButton("Open folder…")
        btn.setMinimumWidth(180)
        btn.clicked.connect(on_open)
        row = QHBoxLayout()
        row.addStretch(1)
        row.addWidget(btn)
        row.addStretch(1)
        lay.addSpacing(12)
        lay.addLayout(row)
        lay.addStretch(3)


_warm_up_thread: threading.Thread | None = None


def start_warm_up() -> None:
    """Run :func:`warm_up` once per process, in a daemon thread."""
    global _warm_up_thread
    if _warm_up_thread is None:
        _warm_up_thread = threading.Thread(target=warm_up, name="culler-warm-up", daemon=True)
        _warm_up_thread.start()


def warmed_up() -> bool:
    """True once the background imports are done (benchmarks wait for it, as a user who
    picks a folder a moment after the window appears does)."""
    return _warm_up_thread is not None and not _warm_up_thread.is_alive()
