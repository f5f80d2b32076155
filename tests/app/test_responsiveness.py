"""What keeps the window responsive on a big session: rendered-tile caches with a per-paint
render budget, paced worker loops, and a heap frozen after each catalog read.  The timing itself
is measured by bench/bench_gui.py (not a timed test: CI machines are noisy); these tests check
the mechanisms behave."""

from __future__ import annotations

import gc
import sys
import time
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
import gen  # noqa: E402
from PySide6.QtCore import QSettings  # noqa: E402

from app.pacing import Pacer  # noqa: E402
from app.settings import AppSettings  # noqa: E402
from engine.scan import scan_folder  # noqa: E402


def test_pacer_rests_after_its_work_slice() -> None:
    # 1 ms slices: it rests only once a slice of work has passed, and each rest takes real time
    # (counted against the work done, not the wall clock: a loaded CI machine slows both)
    pace = Pacer(work_s=0.001, rest_s=0.002)
    n = 0
    t0 = time.perf_counter()
    while pace.rests < 8 and time.perf_counter() - t0 < 5:
        pace()
        n += 1
    elapsed = time.perf_counter() - t0
    assert pace.rests == 8 and n > pace.rests  # not every call rests
    assert elapsed >= 8 * (0.001 + 0.002) * 0.9  # each rest after a full slice of work
    idle = Pacer(work_s=10.0)
    for _ in range(n):
        idle()
    assert idle.rests == 0


def test_scan_calls_pace_per_entry_and_shot(tmp_path: Path) -> None:
    for name in ("a.jpg", "a.CR3", "b.jpg", "notes.txt", ".hidden.jpg"):
        (tmp_path / name).write_bytes(b"x")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "c.jpeg").write_bytes(b"x")
    calls = []
    res = scan_folder(tmp_path, recursive=True, pace=lambda: calls.append(1))
    assert [s.key for s in res.shots] == ["a.jpg", "b.jpg", "sub/c.jpeg"]
    assert res.shots[0].raw == tmp_path / "a.CR3" and res.shots[0].companions == [tmp_path / "a.CR3"]
    # 6 entries at the top (the hidden one included), 1 in sub, then one per stem group (3)
    assert len(calls) == 6 + 1 + 3


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    d = tmp_path / "shoot"
    d.mkdir()
    gen.make_session(d, n_bursts=2, per_burst=6, max_side=300)
    return d


def test_tiles_render_within_budget_and_follow_decisions(qtbot, tmp_path: Path, folder: Path) -> None:  # type: ignore[no-untyped-def]
    from app.tiles import RenderBudget, TileCache
    from app.window import MainWindow

    settings = AppSettings(QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat))
    w = gen.show_window(qtbot, MainWindow(settings, rank_fn=gen.fake_rank(6)))
    assert w.open_folder(folder)
    qtbot.waitUntil(lambda: not w.busy(), timeout=60000)
    assert gc.get_freeze_count() > 0  # the session's records are out of the collector's walk
    w.select_group_row(1)
    n = w.shots_model.rowCount()
    assert n == 6
    qtbot.waitUntil(lambda: all(w.thumbs.has(w.shots_model.key_at(i) or "") for i in range(n)), timeout=20000)

    d = w.grid.delegate
    vp = w.grid.viewport()
    # a budget too small for even one tile: each paint still renders one, then asks for another
    d.tiles.clear()
    d.budget.budget_s = 0.0
    before = d.tiles.renders
    vp.repaint()
    assert d.tiles.renders - before == 1
    assert w.grid._more.isActive() and len(w.grid._more.rects) == n - 1
    qtbot.waitUntil(lambda: len(d.tiles) == n, timeout=5000)  # the next frames fill in the rest
    assert d.tiles.renders - before == n
    # cached tiles are blitted, not re-rendered
    renders = d.tiles.renders
    vp.repaint()
    assert d.tiles.renders == renders

    # a decision changes the tile's signature: it is rendered again with the flag
    d.budget.budget_s = None
    k = w.current_key
    assert k is not None
    w.set_flag("pick")
    vp.repaint()
    assert d.tiles.renders > renders
    sig = next(v[0] for kk, v in d.tiles._d.items() if kk == k)
    assert "pick" in sig

    # the group list keeps its rows as rendered tiles too
    gl = w.group_list.viewport()
    w.group_delegate.tiles.clear()
    w.group_delegate.budget.budget_s = None  # every row in this paint (the budget is tested above)
    gl.repaint()
    assert len(w.group_delegate.tiles) == w.groups_model.rowCount()

    # the byte budget of the cache holds
    small = TileCache(budget_bytes=3 * 100 * 100 * 4)
    from app.tiles import _blank_tile

    for i in range(5):
        small.put(i, (100, 100), None, _blank_tile(100, 100, 1.0))
    assert len(small) == 3 and small.get(0, (100, 100), None) is None and small.get(4, (100, 100), None) is not None
    assert small.get(4, (100, 101), None) is None  # another signature misses
    assert small.stale(4, 100, 100) is not None and small.stale(4, 90, 100) is None

    b = RenderBudget(None)
    b.begin()
    from PySide6.QtCore import QRect

    assert all(b.allows(QRect(0, 0, 5, 5)) for _ in range(100)) and not b.end()
    w.close()


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="per-thread nice values are Linux's")
def test_decoder_threads_run_below_the_gui_thread() -> None:
    import os
    import threading

    from app.thumbs import _below_the_window

    main = os.getpriority(os.PRIO_PROCESS, threading.get_native_id())
    seen = []

    def worker() -> None:
        _below_the_window()
        _below_the_window()  # once per thread
        seen.append(os.getpriority(os.PRIO_PROCESS, threading.get_native_id()))

    th = threading.Thread(target=worker)
    th.start()
    th.join()
    assert seen == [min(19, main + 4)]
    assert os.getpriority(os.PRIO_PROCESS, threading.get_native_id()) == main  # this thread unchanged


def test_closing_a_folder_frees_its_session(qtbot, tmp_path: Path, folder: Path) -> None:  # type: ignore[no-untyped-def]
    # each catalog read runs in a QThread; finished threads must not keep their session alive
    import weakref

    from app.window import MainWindow

    settings = AppSettings(QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat))
    w = gen.show_window(qtbot, MainWindow(settings, rank_fn=gen.fake_rank(6)))
    refs = []
    for _ in range(3):
        assert w.open_folder(folder)
        qtbot.waitUntil(lambda: not w.busy(), timeout=60000)
        assert w.session is not None and w.session.shots
        refs.append(weakref.ref(w.session))
        w.close_session()
        qtbot.wait(50)  # deferred deletes run
    gc.collect()
    assert [r() for r in refs] == [None, None, None]
    w.close()


def test_face_cards_are_reused_and_refilled(qtbot) -> None:  # type: ignore[no-untyped-def]
    from app.inspector import Inspector

    ins = Inspector()
    qtbot.addWidget(ins)
    ins.show()
    a = {"crop": None, "signals": {"eyes_open": 0.9, "eye_sharpness": 12.0, "yaw": 5.0}}
    b = {"crop": None, "signals": {"eyes_open": 0.1}}
    ins._set_faces([a, b])
    first = list(ins.face_cards)
    assert len(first) == 2 and first[0].rows["eyes_open"][1].text() == "90%"
    assert first[0].rows["yaw"][1].isVisibleTo(first[0])
    assert "e5484d" in first[1].rows["eyes_open"][1].styleSheet()  # closed eyes in red
    ins._set_faces([b])  # the next shot: the same card, new values, the rest hidden
    assert ins.face_cards == first[:1] and first[0].rows["eyes_open"][1].text() == "10%"
    assert not first[0].rows["yaw"][1].isVisibleTo(first[0]) and first[1].isHidden()
    ins._set_faces([])
    assert ins.face_cards == [] and not ins.no_faces.isHidden() and ins.faces_area.isHidden()
    ins._set_faces([a, a, a])
    assert len(ins.face_cards) == 3 and ins.face_cards[:2] == first  # two reused, one new
