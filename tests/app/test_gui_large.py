"""A real window on a real catalog of 20,000 shots: accept-all and its undo must not freeze it.

The shots are hard links to one small JPEG (20,000 directory entries, one file's bytes); the
catalog is written through the engine's batched store (tests/app/gen.py).  The event loop is
watched by a 5 ms timer: the longest gap between its ticks is how long the window was frozen.
"""

from __future__ import annotations

import os
import sys
import threading
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
import gen  # noqa: E402
from PySide6.QtCore import QSettings  # noqa: E402

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


def flags(folder: Path) -> list[str | None]:
    cat = Catalog(folder.parent / f"{folder.name}.culler.sqlite", readonly=True)
    try:
        return [d.flag for d in cat.decisions().values()]
    finally:
        cat.close()


def open_big(qtbot, tmp_path: Path, big: Path) -> MainWindow:  # type: ignore[no-untyped-def]
    """The window on the big session, opened and settled (no auto-advance)."""
    settings = AppSettings(QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat))
    settings.set("auto_advance", False)
    w = gen.show_window(qtbot, MainWindow(settings, rank_fn=gen.fake_rank(PER_GROUP)))
    assert w.open_folder(big), w.messages
    qtbot.waitUntil(lambda: not w.busy() and w.shots_model.rowCount() > 0 and w.current_key is not None,
                    timeout=60000)
    return w


def test_accept_all_and_undo_on_20000_shots_never_freeze_the_window(qtbot, tmp_path: Path, big: Path,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    w = open_big(qtbot, tmp_path, big)
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

    gaps = gen.StallMeter()
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


def count_reads(monkeypatch: pytest.MonkeyPatch, names: tuple[str, ...]) -> dict[str, int]:
    """Count the GUI thread's reads of some fields of every ShotRecord (a property on the class
    over the record's own value: the records stay real, and are read and written as before)."""
    from app.session import ShotRecord

    counts = dict.fromkeys(names, 0)
    for name in names:
        def get(self, name=name):  # type: ignore[no-untyped-def]
            if threading.current_thread() is threading.main_thread():
                counts[name] += 1
            return self.__dict__[name]

        def put(self, value, name=name):  # type: ignore[no-untyped-def]
            self.__dict__[name] = value

        monkeypatch.setattr(ShotRecord, name, property(get, put))
    return counts


def test_filter_and_sort_of_20000_shots_go_through_no_shot_on_the_gui_thread(
        qtbot, tmp_path: Path, big: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every scene shown (20,000 tiles): a filter by flag or a sort by time reads no shot's
    decision or capture time on the GUI thread (the session keeps each order and the keys of
    each flag); the grid shows exactly what the slow way gives, and the current shot stays."""
    w = open_big(qtbot, tmp_path, big)
    w.select_group_row(0)  # every scene
    m, shots = w.shots_model, w.session.shots
    by_rank = [k for g in w.session.groups for k in g.keys]
    by_time = sorted(by_rank, key=lambda k: (shots[k].capture_ts is None, shots[k].capture_ts or 0.0, k))
    assert m.keys == by_rank and len(by_rank) == N
    reads = count_reads(monkeypatch, ("decision", "capture_ts"))
    w.set_flag("pick")
    w.step(1)
    w.set_flag("reject")
    w.step(1)
    w.set_flag("pick")
    picks, reject, here = [by_rank[0], by_rank[2]], by_rank[1], by_rank[2]
    assert w.current_key == here
    w.flag_filter.setCurrentIndex(1)  # picks
    assert m.keys == picks and w.current_key == here
    w.sort_combo.setCurrentIndex(1)  # by time
    assert m.keys == [k for k in by_time if k in picks] and w.current_key == here
    w.flag_filter.setCurrentIndex(2)  # rejects, by time
    assert m.keys == [reject] and w.current_key == reject
    w.flag_filter.setCurrentIndex(0)  # all, by time
    assert m.keys == by_time and w.current_key == reject
    assert w.grid.currentIndex().row() == by_time.index(reject)
    w.sort_combo.setCurrentIndex(0)  # by rank
    assert m.keys == by_rank and w.grid.currentIndex().row() == 1
    qtbot.wait(100)
    assert w.session.counts()["pick"] == 2 and w.session.counts()["reject"] == 1
    seen = dict(reads)
    # the slow way read 20,000 decisions per flag filter and 40,000 capture times per sort;
    # what is left is the tiles painted and the decisions made
    assert seen["decision"] + seen["capture_ts"] < N // 10, seen
    w.close()


def test_reading_20000_shots_keeps_each_full_collection_small(big: Path) -> None:
    """The catalog's snapshot and the folder listing, read in workers, build 20,000 records:
    every full collection of the garbage collector set off meanwhile (it holds the GIL, so the
    window cannot paint) walks a bounded number of objects, not every record built so far."""
    import gc

    from app.session import Session, quick_listing

    s = Session.open(big, listing=False, load=False)
    walked: list[int] = []

    def watch(phase: str, info: dict[str, int]) -> None:
        if phase == "start" and info["generation"] == 2:
            walked.append(sum(len(gc.get_objects(g)) for g in range(3)))

    gc.collect()
    gc.freeze()  # as the app after start-up (app.startup.settle_heap)
    gc.callbacks.append(watch)
    try:
        snap = s.read_snapshot_async()
        listing = quick_listing(big, False)
    finally:
        gc.callbacks.remove(watch)
        s.close()
    assert len(snap.shots) == N and len(listing) == N
    assert max(walked, default=0) < N, walked
