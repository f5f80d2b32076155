"""A real window on a real catalog of 20,000 shots: accept-all and its undo must not freeze it.

The shots are hard links to one small JPEG (20,000 directory entries, one file's bytes); the
catalog is written through the engine's batched store (tests/app/gen.py).  The event loop is
watched by a 5 ms timer: the longest gap between its ticks is how long the window was frozen.
"""

from __future__ import annotations

import os
import sys
import threading
import time
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
import gen  # noqa: E402
from PySide6.QtCore import QSettings, QTimer  # noqa: E402

from app.settings import AppSettings  # noqa: E402
from app.window import MainWindow  # noqa: E402
from engine.catalog import Catalog  # noqa: E402

N = 20_000
PER_GROUP = 10
# Measured on the 2-core machine (load 2): 25-33 ms with the change applied in slices and
# written by a worker, 224 ms when it was computed and written on the GUI thread (and 1.8 s at
# 50,000 shots).  Whatever the machine's speed, the write must also happen off the GUI thread.
MAX_FREEZE_S = 0.12


@pytest.fixture(scope="module")
def big(tmp_path_factory: pytest.TempPathFactory) -> Path:
    base = tmp_path_factory.mktemp("large")
    gen.make_session(base / "one", n_bursts=1, per_burst=1, max_side=160)
    one = next((base / "one").glob("*.jpg"))
    folder = base / "shoot"
    folder.mkdir()
    try:
        for i in range(N):
            os.link(one, folder / f"IMG_{i + 1:05d}.jpg")
    except OSError as exc:
        pytest.skip(f"no hard links on this file system ({exc})")
    gen.fill_catalog_batched(folder, base / "shoot.culler.sqlite", PER_GROUP)
    return folder


class Gaps:
    """The longest gap between ticks of a 5 ms timer (counted from start())."""

    def __init__(self) -> None:
        self.timer = QTimer()
        self.timer.setInterval(5)
        self.timer.timeout.connect(self._tick)
        self.last = self.worst = 0.0

    def _tick(self) -> None:
        now = time.perf_counter()
        self.worst = max(self.worst, now - self.last)
        self.last = now

    def start(self) -> None:
        self.last, self.worst = time.perf_counter(), 0.0
        self.timer.start()

    def stop(self) -> float:
        self.timer.stop()
        self._tick()
        return self.worst


def flags(folder: Path) -> list[str | None]:
    cat = Catalog(folder.parent / f"{folder.name}.culler.sqlite", readonly=True)
    try:
        return [d.flag for d in cat.decisions().values()]
    finally:
        cat.close()


def test_accept_all_and_undo_on_20000_shots_never_freeze_the_window(qtbot, tmp_path: Path, big: Path,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    settings = AppSettings(QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat))
    settings.set("auto_advance", False)
    w = gen.show_window(qtbot, MainWindow(settings, rank_fn=gen.fake_rank(PER_GROUP)))
    assert w.open_folder(big), w.messages
    qtbot.waitUntil(lambda: not w.busy() and w.shots_model.rowCount() > 0 and w.current_key is not None,
                    timeout=60000)
    assert len(w.session.shots) == N
    w.select_group_row(1)
    current = w.current_key
    writers: list[str] = []  # the threads that wrote decisions (the real method, recorded)
    real = Catalog.set_decisions

    def recorded(self, decisions):  # type: ignore[no-untyped-def]
        writers.append(threading.current_thread().name)
        return real(self, decisions)

    monkeypatch.setattr(Catalog, "set_decisions", recorded)
    busy = getattr(w.decisions, "busy", lambda: False)

    gaps = Gaps()
    gaps.start()
    w.accept_all()
    qtbot.waitUntil(lambda: not busy(), timeout=60000)
    qtbot.wait(50)
    frozen = gaps.stop()
    done = flags(big)
    assert len(done) == N and done.count("pick") == N // PER_GROUP and done.count("reject") == N - N // PER_GROUP
    assert w.session.counts()["pick"] == N // PER_GROUP
    assert w.current_key == current  # the photographer stays where they were
    assert frozen < MAX_FREEZE_S, f"accept-all froze the window for {frozen * 1000:.0f} ms"
    assert writers and "MainThread" not in writers, writers  # the catalog is written off the GUI thread

    writers.clear()
    gaps.start()
    w.decisions.undo_stack.undo()
    qtbot.waitUntil(lambda: not busy(), timeout=60000)
    qtbot.wait(50)
    frozen = gaps.stop()
    assert all(f is None for f in flags(big))
    assert w.session.counts()["unflagged"] == N
    assert w.current_key == current
    assert writers and "MainThread" not in writers, writers
    assert frozen < MAX_FREEZE_S, f"undoing accept-all froze the window for {frozen * 1000:.0f} ms"
    w.close()
