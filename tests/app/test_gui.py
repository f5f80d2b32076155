"""The culling app on the offscreen platform: import, keyboard culling, undo, filters, reopen,
loupe/compare, and the bad-input cases (unreadable folder, newer catalog, full disk, vanished
file).  The engine's analysis is replaced here by :func:`gen.fake_rank`, which writes the
catalog exactly as the engine does, shot by shot; test_pipeline.py runs the real one."""

from __future__ import annotations

import hashlib
import sqlite3
import sys
import time
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
import gen  # noqa: E402
from PySide6.QtCore import QSettings, Qt  # noqa: E402

from app.settings import AppSettings  # noqa: E402
from app.window import MainWindow  # noqa: E402
from engine.catalog import Catalog  # noqa: E402

PER_GROUP = 4


@pytest.fixture(scope="module")
def source(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("src") / "shoot"
    d.mkdir()
    gen.make_session(d, n_bursts=3, per_burst=PER_GROUP, max_side=360)
    return d


@pytest.fixture
def folder(source: Path, tmp_path: Path) -> Path:
    import shutil

    d = tmp_path / "shoot"
    shutil.copytree(source, d)
    return d


@pytest.fixture
def settings(tmp_path: Path) -> AppSettings:
    return AppSettings(QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat))


def make_window(qtbot, settings: AppSettings, rank_fn=None) -> MainWindow:  # type: ignore[no-untyped-def]
    return gen.show_window(qtbot, MainWindow(settings, rank_fn=rank_fn or gen.fake_rank(PER_GROUP)))


def open_and_wait(qtbot, w: MainWindow, folder: Path) -> None:  # type: ignore[no-untyped-def]
    assert w.open_folder(folder), w.messages
    qtbot.waitUntil(lambda: not w.busy(), timeout=60000)
    qtbot.waitUntil(lambda: w.shots_model.rowCount() > 0 and w.current_key is not None)


def catalog_decisions(folder: Path) -> dict[str, tuple[str | None, int, str | None]]:
    cat = Catalog(folder.parent / f"{folder.name}.culler.sqlite", readonly=True)
    try:
        return {k: (d.flag, d.stars, d.label) for k, d in cat.decisions().items()}
    finally:
        cat.close()


def key(qtbot, w: MainWindow, k: str | Qt.Key, mod=Qt.KeyboardModifier.NoModifier) -> None:  # type: ignore[no-untyped-def]
    target = w.stack.currentWidget()
    qtbot.keyClick(target, k, mod)


def test_import_analysis_and_groups(qtbot, settings: AppSettings, folder: Path) -> None:
    w = make_window(qtbot, settings, gen.fake_rank(PER_GROUP, delay=0.05))
    t0 = time.monotonic()
    assert w.open_folder(folder)
    # the shots are listed at once (in a worker thread), before the analysis has written anything
    qtbot.waitUntil(lambda: w.session is not None and len(w.session.shots) == 3 * PER_GROUP, timeout=5000)
    assert w.analysis_running() and w.status_area.progress.isVisible()
    # thumbnails arrive while the analysis still runs
    qtbot.waitUntil(lambda: w.first_thumb_at is not None, timeout=10000)
    assert w.first_thumb_at - t0 < 5
    qtbot.waitUntil(lambda: not w.busy(), timeout=60000)
    assert not w.status_area.progress.isVisible()
    # three scenes (+ "All shots"), each ranked best-first, the best marked
    assert w.groups_model.rowCount() == 4
    assert [g.title for g in w.session.groups] == ["Scene 1", "Scene 2", "Scene 3"]
    w.select_group_row(1)
    ranks = [w.shots_model.record(r).rank for r in range(w.shots_model.rowCount())]  # type: ignore[union-attr]
    assert ranks == [1, 2, 3, 4]
    first = w.shots_model.record(0)
    assert first is not None and first.is_best and first.score is not None
    # the 4th frame has its eyes closed: a warning on the thumbnail; problem scenes need a bad best
    assert "eyes closed" in w.shots_model.record(3).warnings  # type: ignore[union-attr]
    assert not any(g.problem for g in w.session.groups)
    # inspector shows faces and the explanation of the rank
    assert len(w.inspector.face_cards) == 1
    assert [c.member for c in w.inspector.chart.items] and w.inspector.chart.score == pytest.approx(first.score)


def test_keyboard_culling_undo_redo(qtbot, settings: AppSettings, folder: Path) -> None:
    w = make_window(qtbot, settings)
    open_and_wait(qtbot, w, folder)
    w.select_group_row(1)
    keys = list(w.shots_model.keys)
    assert w.act_auto.isChecked()  # auto-advance on by default
    key(qtbot, w, Qt.Key.Key_P)
    assert catalog_decisions(folder)[keys[0]][0] == "pick"
    assert w.current_key == keys[1]  # auto-advanced
    key(qtbot, w, Qt.Key.Key_X)
    assert catalog_decisions(folder)[keys[1]][0] == "reject"
    assert w.current_key == keys[2]
    w.act_auto.setChecked(False)
    key(qtbot, w, Qt.Key.Key_3)
    key(qtbot, w, Qt.Key.Key_6)
    assert catalog_decisions(folder)[keys[2]] == (None, 3, "Red")
    key(qtbot, w, Qt.Key.Key_6)  # same label again removes it
    assert catalog_decisions(folder)[keys[2]] == (None, 3, None)
    key(qtbot, w, Qt.Key.Key_9)
    assert catalog_decisions(folder)[keys[2]] == (None, 3, "Blue")
    # undo: Blue, the removal of Red, Red, the stars; then redo the stars
    ctrl, shift = Qt.KeyboardModifier.ControlModifier, Qt.KeyboardModifier.ShiftModifier
    key(qtbot, w, Qt.Key.Key_Z, ctrl)
    assert catalog_decisions(folder)[keys[2]] == (None, 3, None)
    key(qtbot, w, Qt.Key.Key_Z, ctrl)
    assert catalog_decisions(folder)[keys[2]] == (None, 3, "Red")
    key(qtbot, w, Qt.Key.Key_Z, ctrl)
    key(qtbot, w, Qt.Key.Key_Z, ctrl)
    assert catalog_decisions(folder)[keys[2]] == (None, 0, None)
    key(qtbot, w, Qt.Key.Key_Z, ctrl | shift)
    assert catalog_decisions(folder)[keys[2]] == (None, 3, None)
    # U unflags; arrows move
    key(qtbot, w, Qt.Key.Key_Left)
    key(qtbot, w, Qt.Key.Key_Left)
    assert w.current_key == keys[0]
    key(qtbot, w, Qt.Key.Key_U)
    assert catalog_decisions(folder)[keys[0]][0] is None
    # accept the suggestion for this scene: best picked, the rest rejected (one undo step),
    # except the shot with 3 stars: a rated or labelled shot is never rejected
    key(qtbot, w, Qt.Key.Key_A)
    d = catalog_decisions(folder)
    assert [d[k][0] for k in keys] == ["pick", "reject", None, "reject"]
    key(qtbot, w, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    d = catalog_decisions(folder)
    assert [d[k][0] for k in keys] == [None, "reject", None, None]
    # accept for all: only undecided shots change (no flag, no stars, no label)
    key(qtbot, w, Qt.Key.Key_A, Qt.KeyboardModifier.ShiftModifier)
    d = catalog_decisions(folder)
    assert len(d) == 3 * PER_GROUP
    assert sum(1 for v in d.values() if v[0] == "pick") == 3
    assert d[keys[1]][0] == "reject" and d[keys[2]] == (None, 3, None)
    # selection of several shots: one key decides them all
    w.grid.selectAll()
    key(qtbot, w, Qt.Key.Key_5)
    d = catalog_decisions(folder)
    assert [d[k][1] for k in keys] == [5, 5, 5, 5]
    assert sum(1 for v in d.values() if v[1] == 5) == 4
    assert w.status_area.counts.text().startswith("Showing 4 of 12 shots")  # what the grid shows


def test_filters_sort_and_problem_scenes(qtbot, settings: AppSettings, folder: Path) -> None:
    w = make_window(qtbot, settings)
    open_and_wait(qtbot, w, folder)
    w.select_group_row(0)  # all shots
    assert w.shots_model.rowCount() == 12
    w.act_auto.setChecked(False)
    first, second = w.shots_model.keys[0], w.shots_model.keys[1]
    key(qtbot, w, Qt.Key.Key_P)
    key(qtbot, w, Qt.Key.Key_4)
    key(qtbot, w, Qt.Key.Key_8)
    w.select_key(second)
    key(qtbot, w, Qt.Key.Key_X)
    w.flag_filter.setCurrentIndex(1)  # picks
    assert w.shots_model.keys == [first]
    w.flag_filter.setCurrentIndex(2)  # rejects
    assert w.shots_model.keys == [second]
    w.flag_filter.setCurrentIndex(3)  # unflagged
    assert w.shots_model.rowCount() == 10
    w.flag_filter.setCurrentIndex(0)
    w.star_filter.setCurrentIndex(4)  # 4+
    assert w.shots_model.keys == [first]
    w.star_filter.setCurrentIndex(0)
    w.label_filter.setCurrentIndex(3)  # Green
    assert w.shots_model.keys == [first]
    w.label_filter.setCurrentIndex(0)
    w.sort_combo.setCurrentIndex(2)  # name
    assert w.shots_model.keys == sorted(w.shots_model.keys, key=str.lower)
    w.sort_combo.setCurrentIndex(1)  # time
    ts = [w.session.shots[k].capture_ts for k in w.shots_model.keys]  # type: ignore[union-attr]
    assert all(t is None for t in ts) or ts == sorted(ts)
    # a problem scene: its best shot has closed eyes
    assert w.session is not None
    cat = w.session.catalog
    g = w.session.groups[1]
    cat.conn.execute("UPDATE faces SET signals = json_set(signals, '$.eyes_open', 0.05) WHERE hash = ?",
                     (w.session.shots[g.best].hash,))  # type: ignore[index]
    w.reload()
    w.problem_filter.setChecked(True)
    assert [r.title for r in w.groups_model.rows] == ["All shots (12)", g.title]


def test_reopen_is_instant_and_keeps_decisions(qtbot, settings: AppSettings, folder: Path) -> None:
    w = make_window(qtbot, settings)
    open_and_wait(qtbot, w, folder)
    w.select_group_row(1)
    k0 = w.current_key
    key(qtbot, w, Qt.Key.Key_P)
    w.act_auto.setChecked(False)
    w.close()
    calls = []

    def no_rank(*a):  # type: ignore[no-untyped-def]
        calls.append(a)
        raise AssertionError("reopening must not re-analyse")

    w2 = make_window(qtbot, settings, no_rank)
    assert not w2.act_auto.isChecked()  # remembered
    t0 = time.monotonic()
    assert w2.open_folder(folder)
    assert time.monotonic() - t0 < 0.5  # the catalog is read in a worker: the window never waits
    qtbot.waitUntil(lambda: w2.groups_model.rowCount() == 4, timeout=5000)
    assert time.monotonic() - t0 < 2.0  # scenes on screen at once
    qtbot.waitUntil(lambda: not w2.busy(), timeout=10000)
    assert not calls and w2.last_summary is None
    assert w2.session is not None and w2.session.shots[k0].decision.flag == "pick"  # type: ignore[index]
    assert w2.groups_model.rowCount() == 4
    # a new file in the folder: the analysis resumes
    import shutil

    src = sorted(folder.glob("*.jpg"))[0]
    shutil.copy(src, folder / "ZZ_new.jpg")
    w2.close()
    w3 = make_window(qtbot, settings, gen.fake_rank(PER_GROUP))
    assert w3.open_folder(folder)
    qtbot.waitUntil(lambda: not w3.busy(), timeout=60000)
    assert w3.last_summary is not None  # analysed again (only the new file is new)
    assert w3.session is not None and "ZZ_new.jpg" in w3.session.shots


def test_cancel_keeps_finished_work(qtbot, settings: AppSettings, folder: Path) -> None:
    w = make_window(qtbot, settings, gen.fake_rank(PER_GROUP, delay=0.15))
    assert w.open_folder(folder)
    qtbot.waitUntil(lambda: w.analysis_running(), timeout=5000)
    qtbot.waitUntil(lambda: w.status_area.progress.maximum() > 0 and w.status_area.progress.value() >= 2, timeout=20000)
    w.status_area.cancel.click()
    qtbot.waitUntil(lambda: not w.busy(), timeout=20000)
    assert "cancelled" in w.statusBar().currentMessage()
    assert w.session is not None
    done = [s for s in w.session.shots.values() if s.status == "ok"]
    assert 2 <= len(done) < 12
    assert w.groups_model.rows[-1].title == "Not analysed yet"
    # resume
    w.start_analysis()
    qtbot.waitUntil(lambda: not w.busy(), timeout=60000)
    assert all(s.status == "ok" for s in w.session.shots.values())


def test_loupe_prefetch_compare_and_zoom(qtbot, settings: AppSettings, folder: Path) -> None:
    w = make_window(qtbot, settings)
    open_and_wait(qtbot, w, folder)
    w.select_group_row(1)
    keys = list(w.shots_model.keys)
    key(qtbot, w, Qt.Key.Key_E)
    assert w.stack.currentIndex() == w.PAGE_LOUPE
    qtbot.waitUntil(lambda: w.loupe.pix is not None and w.loupe.key == keys[0], timeout=10000)
    qtbot.waitUntil(lambda: all(w.previews.has(k) for k in keys[1:4]), timeout=10000)  # prefetched
    key(qtbot, w, Qt.Key.Key_Right)
    assert w.current_key == keys[1] and w.loupe.key == keys[1] and w.loupe.pix is not None
    key(qtbot, w, Qt.Key.Key_Z)  # 100% on the face
    assert not w.loupe.fit and w.loupe.zoom == pytest.approx(1.0)
    fx, fy, fw, fh = w.loupe.faces[0]
    assert (w.loupe.cx, w.loupe.cy) == pytest.approx((fx + fw / 2, fy + fh / 2))
    key(qtbot, w, Qt.Key.Key_Escape)
    assert w.stack.currentIndex() == w.PAGE_GRID
    # compare the best with the current shot; zoom and pan are synchronised
    key(qtbot, w, Qt.Key.Key_C)
    assert w.stack.currentIndex() == w.PAGE_COMPARE and w.compare_keys == [keys[0], keys[1]]
    v0, v1 = w.compare.visible_views()
    qtbot.waitUntil(lambda: v0.pix is not None and v1.pix is not None, timeout=10000)
    v0.set_zoom(False, 2.0)
    assert not v1.fit and v1.zoom == pytest.approx(2.0)
    c1 = (v1.cx, v1.cy)
    v0.pan_by(24.0, -12.0)
    assert (v1.cx, v1.cy) != c1
    # a decision in compare applies to the active pane
    w.act_auto.setChecked(False)
    key(qtbot, w, Qt.Key.Key_Right)
    assert w.compare.active == 1
    key(qtbot, w, Qt.Key.Key_X)
    assert catalog_decisions(folder)[keys[1]][0] == "reject"


def test_bad_folders(qtbot, settings: AppSettings, folder: Path, tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    w = make_window(qtbot, settings)
    assert not w.open_folder(tmp_path / "nope")
    assert "does not exist" in w.messages[-1][1]
    f = tmp_path / "a.jpg"
    f.write_bytes(b"x")
    assert not w.open_folder(f)
    assert "is a file" in w.messages[-1][1]
    import os

    real = os.scandir

    def denied(p):  # type: ignore[no-untyped-def]
        if Path(p) == folder:
            raise PermissionError(13, "Permission denied")
        return real(p)

    monkeypatch.setattr(os, "scandir", denied)
    assert not w.open_folder(folder)
    assert "permission denied" in w.messages[-1][1]
    assert w.session is None
    monkeypatch.undo()
    # a catalog written by a newer version: refused with a clear message, left untouched
    cat_path = folder.parent / f"{folder.name}.culler.sqlite"
    c = Catalog(cat_path, folder)
    c.set_decision("x.jpg", flag="pick")
    c.set_meta("schema_version", "99")
    c.close()
    before = hashlib.sha256(cat_path.read_bytes()).hexdigest()
    assert not w.open_folder(folder)
    assert "newer portrait-culler" in w.messages[-1][1]
    assert hashlib.sha256(cat_path.read_bytes()).hexdigest() == before
    assert w.session is None


def test_full_disk_loses_nothing(qtbot, settings: AppSettings, folder: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    w = make_window(qtbot, settings)
    open_and_wait(qtbot, w, folder)
    w.select_group_row(1)
    w.act_auto.setChecked(False)
    keys = list(w.shots_model.keys)
    real = Catalog.set_decisions

    def full(self, *a, **kw):  # type: ignore[no-untyped-def]
        raise sqlite3.OperationalError("database or disk is full")

    monkeypatch.setattr(Catalog, "set_decisions", full)
    key(qtbot, w, Qt.Key.Key_P)
    assert w.messages and "full" in w.messages[-1][1] and "kept in memory" in w.messages[-1][1]
    n_msgs = len(w.messages)
    w.select_key(keys[1])
    key(qtbot, w, Qt.Key.Key_X)
    assert len(w.messages) == n_msgs  # one message, not one per key press
    assert w.session is not None and len(w.session.pending_writes) == 2
    assert "NOT SAVED" in w.status_area.counts.text()
    assert w.session.shots[keys[0]].decision.flag == "pick"  # the UI keeps the decision
    assert keys[0] not in catalog_decisions(folder)
    monkeypatch.setattr(Catalog, "set_decisions", real)
    w.decisions.retry()  # what the retry timer does every few seconds
    d = catalog_decisions(folder)
    assert d[keys[0]][0] == "pick" and d[keys[1]][0] == "reject"
    assert not w.session.pending_writes and "NOT SAVED" not in w.status_area.counts.text()


def test_vanished_file(qtbot, settings: AppSettings, folder: Path) -> None:
    w = make_window(qtbot, settings)
    open_and_wait(qtbot, w, folder)
    w.select_group_row(2)
    k = w.shots_model.keys[1]
    w.thumbs.clear()
    w.previews.clear()
    (folder / k).unlink()
    w.select_key(k)
    key(qtbot, w, Qt.Key.Key_E)
    qtbot.waitUntil(lambda: any("vanished" in m[1] for m in w.messages), timeout=10000)
    assert w.session is not None and w.session.shots[k].missing
    assert "file missing" in w.session.shots[k].warnings
    assert "no longer on disk" in w.loupe.message
    w.act_auto.setChecked(False)
    key(qtbot, w, Qt.Key.Key_X)  # the decision is still recorded
    assert catalog_decisions(folder)[k][0] == "reject"
    g = next(g for g in w.session.groups if k in g.keys)
    assert g.problem  # a scene with a missing file needs a look
    w.problem_filter.setChecked(True)
    assert g.title in [r.title for r in w.groups_model.rows]


def test_explain_math_matches_fusion() -> None:
    """The chart's decomposition is the engine's fusion: same score as rank_group, bars that
    sum to it, a weight-0 member costing nothing and shifting nobody."""
    import math

    from app.explain import contributions, from_explain
    from engine.quality.base import MemberSpec
    from engine.quality.fusion import rank_group

    scores = {"a": (1.0, 0.5), "z": (1.0, 0.2), "b": (2.0, 0.8), "c": (0.0, 1.0)}
    weights = {"a": 2.0, "z": 0.0, "b": 1.0, "c": 1.0}
    score, items = contributions(scores, weights)
    engine = rank_group([scores], {m: MemberSpec(m, w) for m, w in weights.items()})
    assert score == pytest.approx(engine.scores[0])
    want = 100 * math.exp((2 * math.log(0.5) + math.log(0.8) + 0.0) / 4)
    assert score == pytest.approx(want)
    by = {c.member: c for c in items}
    assert by["z"].log_c == 0.0 and by["b"].log_c == pytest.approx(math.log(0.8) / 4)
    assert [c.member for c in items][:2] == ["a", "b"]  # largest cost first
    assert sum(c.log_c for c in items) == pytest.approx(math.log(want / 100))
    assert by["a"].gain == pytest.approx(100 * math.exp(math.log(0.8) / 4) - want)
    s2, items2 = from_explain(engine.explain[0])
    assert s2 == pytest.approx(score) and {c.member: c.log_c for c in items2} == {c.member: c.log_c for c in items}


def test_settings_dialog_saves(qtbot, settings: AppSettings) -> None:
    from app.settings import SettingsDialog

    dlg = SettingsDialog(settings, ranking=(0.5, "moments"))
    qtbot.addWidget(dlg)
    dlg.sensitivity.setValue(0.8)
    dlg.theme.setCurrentIndex(2)
    dlg.save()
    again = AppSettings(QSettings(settings.qs.fileName(), QSettings.Format.IniFormat))
    assert again.get("theme") == "dark"
    # the sensitivity is the folder's (its catalog's), for the window to store there
    assert dlg.ranking() == (0.8, "moments") and again.qs.value("sensitivity") is None


def test_export_dialog_copies_picks_and_writes_json(qtbot, settings: AppSettings, folder: Path,
                                                   tmp_path: Path) -> None:
    import json

    from app.export_dialog import ExportDialog

    w = make_window(qtbot, settings)
    open_and_wait(qtbot, w, folder)
    w.select_group_row(1)
    key(qtbot, w, Qt.Key.Key_A)  # best of scene 1 picked, the rest rejected
    picked = [k for k, v in catalog_decisions(folder).items() if v[0] == "pick"]
    assert len(picked) == 1
    assert w.session is not None
    dlg = ExportDialog(w.session.root, w.session.catalog_path, settings, w)
    qtbot.addWidget(dlg)
    out = tmp_path / "for-lightroom"
    dlg.radios["copy"].setChecked(True)
    dlg.out.setText(str(out))
    dlg.start()
    qtbot.waitUntil(lambda: dlg.result_ok is not None, timeout=30000)
    assert dlg.result_ok, dlg.summary
    assert sorted(p.name for p in out.rglob("*.jpg")) == picked
    first = dlg.report.toPlainText().splitlines()[1]
    assert first.startswith(f"1 pick copied into {out}: 1 file(s) written"), first
    dlg.result_ok = None  # again: nothing new to write, and the summary says so without contradiction
    dlg.start()
    qtbot.waitUntil(lambda: dlg.result_ok is not None, timeout=30000)
    first = dlg.report.toPlainText().splitlines()[1]
    assert first.startswith("1 pick copied into") and "0 file(s) written, 1 already up to date" in first
    # decisions as JSON, with the engine's suggestion for the undecided shots
    dlg.radios["json"].setChecked(True)
    dest = tmp_path / "decisions.json"
    dlg.out.setText(str(dest))
    dlg.suggested.setChecked(True)
    dlg.result_ok = None
    dlg.start()
    qtbot.waitUntil(lambda: dlg.result_ok is not None, timeout=30000)
    assert dlg.result_ok, dlg.summary
    data = json.loads(dest.read_text())
    flags = [s.get("flag") for s in data["shots"]]
    assert flags.count("pick") == 3 and len(flags) == 12


def test_screenshot_command_on_an_analysed_folder(folder: Path, tmp_path: Path) -> None:
    gen.fill_catalog(folder, folder.parent / f"{folder.name}.culler.sqlite", PER_GROUP)
    gen.check_screenshot_command(folder, tmp_path)


def test_drop_a_folder_opens_it(qtbot, settings: AppSettings, folder: Path) -> None:
    from PySide6.QtCore import QMimeData, QPoint, QPointF, QUrl
    from PySide6.QtGui import QDragEnterEvent, QDropEvent

    w = make_window(qtbot, settings)
    md = QMimeData()
    md.setUrls([QUrl.fromLocalFile(str(folder))])
    enter = QDragEnterEvent(QPoint(10, 10), Qt.DropAction.CopyAction, md,
                            Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier)
    w.dragEnterEvent(enter)
    assert enter.isAccepted()
    drop = QDropEvent(QPointF(10, 10), Qt.DropAction.CopyAction, md, Qt.MouseButton.LeftButton,
                      Qt.KeyboardModifier.NoModifier)
    w.dropEvent(drop)
    qtbot.waitUntil(lambda: not w.busy(), timeout=60000)
    assert w.session is not None and w.session.root == folder.resolve()
    assert len(w.session.shots) == 3 * PER_GROUP


def test_generated_catalog_is_one_the_engine_can_regroup(folder: Path) -> None:
    from engine.pipeline import regroup

    cat_path = folder.parent / f"{folder.name}.culler.sqlite"
    summary = gen.fill_catalog(folder, cat_path, PER_GROUP)
    assert summary.n_groups == 3 and not summary.cancelled
    cat = Catalog(cat_path)
    try:
        assert [g["id"] for g in cat.groups()] == [1, 2, 3]  # numbered from 1, as the engine does
        regroup(cat, ["exposure"], 0.5)  # grouping embeddings and capture times are there
        groups = cat.groups()
        assert groups and sum(g["n_shots"] for g in groups) == 3 * PER_GROUP
        assert min(g["id"] for g in groups) == 1
    finally:
        cat.close()


def test_accept_all_asks_with_the_count_and_leaves_rated_and_labelled_shots(qtbot, settings: AppSettings,
                                                                           folder: Path) -> None:
    w = make_window(qtbot, settings)
    open_and_wait(qtbot, w, folder)
    w.act_auto.setChecked(False)
    w.select_group_row(1)
    keys = list(w.shots_model.keys)
    w.select_key(keys[1])
    key(qtbot, w, Qt.Key.Key_2)  # rated: suggested reject, must stay unflagged
    w.select_key(keys[3])
    key(qtbot, w, Qt.Key.Key_7)  # labelled Yellow
    w.auto_confirm = False  # the photographer says Cancel
    key(qtbot, w, Qt.Key.Key_A, Qt.KeyboardModifier.ShiftModifier)
    title, text = w.messages[-1]
    assert title == "Accept all suggestions"
    assert "10 undecided shots: 3 picks and 7 rejects" in text and "2 shots with a flag" in text
    assert all(v[0] is None for v in catalog_decisions(folder).values())  # nothing written
    w.auto_confirm = True
    key(qtbot, w, Qt.Key.Key_A, Qt.KeyboardModifier.ShiftModifier)
    d = catalog_decisions(folder)
    assert d[keys[1]] == (None, 2, None) and d[keys[3]] == (None, 0, "Yellow")
    assert d[keys[0]][0] == "pick" and d[keys[2]][0] == "reject"
    assert sum(1 for v in d.values() if v[0] is not None) == 10
    # A on the scene picks the best and rejects the rest, but never a rated or labelled shot
    key(qtbot, w, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    key(qtbot, w, Qt.Key.Key_A)
    d = catalog_decisions(folder)
    assert [d[k][0] for k in keys] == ["pick", None, "reject", None]


def test_zoom_and_face_position_stick_across_frames_and_compare(qtbot, settings: AppSettings,
                                                                folder: Path) -> None:
    w = make_window(qtbot, settings)
    open_and_wait(qtbot, w, folder)
    w.act_auto.setChecked(False)
    w.select_group_row(1)
    keys = list(w.shots_model.keys)
    key(qtbot, w, Qt.Key.Key_E)
    qtbot.waitUntil(lambda: w.loupe.pix is not None, timeout=10000)
    key(qtbot, w, Qt.Key.Key_Z)  # 100% on the face
    w.loupe.pan_by(30.0, 12.0)  # a little off the face's centre, as a photographer checks an eye
    fx, fy, fw, fh = w.loupe.main_face()  # type: ignore[misc]
    off = ((w.loupe.cx - fx - fw / 2) / fw, (w.loupe.cy - fy - fh / 2) / fh)
    assert off != (0.0, 0.0)
    for k in keys[1:3]:
        key(qtbot, w, Qt.Key.Key_Right)
        assert w.loupe.key == k
        assert not w.loupe.fit and w.loupe.zoom == pytest.approx(1.0)  # still 100%
        fx, fy, fw, fh = w.loupe.main_face()  # type: ignore[misc]
        assert ((w.loupe.cx - fx - fw / 2) / fw, (w.loupe.cy - fy - fh / 2) / fh) == pytest.approx(off)
    # compare takes the same zoom and place on each pane's own face
    w.show_compare([keys[0], keys[1]])
    for v in w.compare.visible_views():
        assert not v.fit and v.zoom == pytest.approx(1.0)
        fx, fy, fw, fh = v.main_face()  # type: ignore[misc]
        assert ((v.cx - fx - fw / 2) / fw, (v.cy - fy - fh / 2) / fh) == pytest.approx(off)
    w.compare.visible_views()[0].set_zoom(False, 2.0)  # zoom in compare: the loupe takes it too
    key(qtbot, w, Qt.Key.Key_E)
    assert w.stack.currentIndex() == w.PAGE_LOUPE and w.loupe.zoom == pytest.approx(2.0) and not w.loupe.fit
    # Z resets: back to fit, and the next frame is at fit too
    key(qtbot, w, Qt.Key.Key_Z)
    assert w.loupe.fit
    key(qtbot, w, Qt.Key.Key_Right)
    assert w.loupe.fit


def test_loupe_shows_the_cached_thumbnail_at_once_then_refines(qtbot, settings: AppSettings,
                                                               folder: Path) -> None:
    w = make_window(qtbot, settings)
    open_and_wait(qtbot, w, folder)
    w.select_group_row(0)  # all shots
    keys = list(w.shots_model.keys)
    qtbot.waitUntil(lambda: all(w.thumbs.has(k) for k in keys), timeout=20000)
    key(qtbot, w, Qt.Key.Key_E)
    qtbot.waitUntil(lambda: w.loupe.pix is not None, timeout=10000)
    for i in range(1, 6):
        w.previews.clear()  # as when stepping faster than previews decode
        t0 = time.perf_counter()
        key(qtbot, w, Qt.Key.Key_Right)
        dt = time.perf_counter() - t0
        assert w.loupe.key == keys[i] and w.loupe.pix is not None, "blank loupe"
        assert dt < 0.05, f"{dt * 1000:.0f} ms to the first pixels"
        assert w.loupe.pix.width() <= 320  # the grid's thumbnail, for now
    # then the screen-sized preview replaces it
    qtbot.waitUntil(lambda: w.loupe.pix is not None and w.loupe.pix.width() > 320, timeout=10000)
    # prefetch follows the direction of travel: stepping back prefetches the shots before
    w.previews.clear()
    key(qtbot, w, Qt.Key.Key_Left)
    qtbot.waitUntil(lambda: all(w.previews.has(k) for k in keys[1:4]), timeout=10000)
    assert not w.previews.has(keys[6])


def test_export_dialog_warns_that_lightroom_ignores_jpeg_sidecars(qtbot, settings: AppSettings,
                                                                  folder: Path) -> None:
    from app.export_dialog import ExportDialog

    cat_path = folder.parent / f"{folder.name}.culler.sqlite"
    gen.fill_catalog(folder, cat_path, PER_GROUP)
    dlg = ExportDialog(folder, cat_path, settings)
    qtbot.addWidget(dlg)
    dlg.show()
    assert dlg.mode() == "copy"  # a JPEG session defaults to copies with the XMP embedded
    assert not dlg.warning.isVisible()
    dlg.radios["xmp"].setChecked(True)
    assert dlg.warning.isVisible() and "12 shots" in dlg.warning.text()
    assert "Lightroom ignores .xmp sidecars" in dlg.warning.text()
    dlg.radios["embed"].setChecked(True)
    assert not dlg.warning.isVisible()
    # embedding in the originals asks first; declined, nothing runs and no file changes
    c = Catalog(cat_path)
    c.set_decision(sorted(p.name for p in folder.glob("*.jpg"))[0], flag="pick")
    c.close()
    before = {p.name: p.read_bytes() for p in folder.glob("*.jpg")}
    dlg.confirm_embed = False
    dlg.start()
    assert "originals change" in dlg.asked and dlg.job is None and dlg.result_ok is None
    assert {p.name: p.read_bytes() for p in folder.glob("*.jpg")} == before


def test_catalog_location_shown_and_fallback_warned(qtbot, settings: AppSettings, folder: Path,
                                                    tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    import os

    w = make_window(qtbot, settings)
    open_and_wait(qtbot, w, folder)
    assert w.status_area.catalog.text() == f"Catalog: {folder.name}.culler.sqlite"
    assert str(folder.parent / f"{folder.name}.culler.sqlite") in w.status_area.catalog.toolTip()
    assert not any("data folder" in m[0] for m in w.messages)
    w.close_session()
    # the folder's parent is read-only: the catalog goes to the user's data folder, and the window says so
    (folder.parent / f"{folder.name}.culler.sqlite").unlink()
    for p in folder.parent.glob(f"{folder.name}.culler.sqlite-*"):
        p.unlink()
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    real = os.access
    monkeypatch.setattr(os, "access", lambda p, m, *a, **k: False if Path(p) == folder.parent else real(p, m))
    open_and_wait(qtbot, w, folder)
    assert w.session is not None and w.session.catalog_path.is_relative_to(tmp_path / "data")
    title, text = next(m for m in w.messages if "data folder" in m[0])
    assert str(w.session.catalog_path) in text and "cannot be written" in text
    assert w.status_area.catalog.text().startswith("⚠ Catalog:")


def test_no_catalog_left_behind_for_an_empty_folder(qtbot, settings: AppSettings, tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    w = make_window(qtbot, settings)
    assert w.open_folder(empty)
    qtbot.waitUntil(lambda: not w.busy(), timeout=10000)
    assert "No photos" in w.statusBar().currentMessage()
    w.close_session()
    assert not list(tmp_path.glob("empty.culler.sqlite*"))


def test_habits_home_end_next_undecided_undo_reopen_counts(qtbot, settings: AppSettings, folder: Path) -> None:
    from PySide6.QtCore import QPoint

    from app.item_models import SCENE_START_ROLE

    w = make_window(qtbot, settings)
    open_and_wait(qtbot, w, folder)
    assert w.status_area.auto.text() == "Auto-advance ON"  # the state is always in sight
    w.act_auto.setChecked(False)
    assert w.status_area.auto.text() == "Auto-advance off"
    w.select_group_row(1)
    keys = list(w.shots_model.keys)
    key(qtbot, w, Qt.Key.Key_End)
    assert w.current_key == keys[-1]
    key(qtbot, w, Qt.Key.Key_Home)
    assert w.current_key == keys[0]
    key(qtbot, w, Qt.Key.Key_V)  # Purple
    assert catalog_decisions(folder)[keys[0]] == (None, 0, "Purple")
    key(qtbot, w, Qt.Key.Key_P)
    assert w.status_area.counts.text() == "Showing 4 of 12 shots · 1 pick · 0 rejects · 3 to decide"
    # N: the next undecided shot; Shift+N: the next scene with something to decide
    w.nav.select_row(2)
    key(qtbot, w, Qt.Key.Key_X)
    w.nav.select_row(0)
    key(qtbot, w, Qt.Key.Key_N)
    assert w.current_key == keys[1]
    key(qtbot, w, Qt.Key.Key_N)
    assert w.current_key == keys[3]
    key(qtbot, w, Qt.Key.Key_N)  # past the scene's end: into the next scene
    scene2 = w.session.groups[1]  # type: ignore[union-attr]
    assert w.current_key == scene2.keys[0]
    key(qtbot, w, Qt.Key.Key_N, Qt.KeyboardModifier.ShiftModifier)
    assert w.current_key == w.session.groups[2].keys[0]  # type: ignore[union-attr]
    # undo moves to the shot it changed back
    key(qtbot, w, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    assert w.current_key == keys[2] and catalog_decisions(folder)[keys[2]][0] is None
    # the filter's counts; "1 shot", not "1 shots"
    w.flag_filter.setCurrentIndex(1)
    assert w.status_area.counts.text() == "Showing 1 of 12 shots · 1 pick · 0 rejects · 0 to decide"
    w.flag_filter.setCurrentIndex(0)
    # scene separators in All shots (rank order): each scene's first tile carries its title
    w.select_group_row(0)
    starts = [w.shots_model.index(r).data(SCENE_START_ROLE) for r in range(w.shots_model.rowCount())]
    assert [t for t in starts if t] == ["Scene 1", "Scene 2", "Scene 3"]
    assert starts[0] == "Scene 1" and starts[PER_GROUP] == "Scene 2" and starts[1] is None
    # click to zoom in the loupe, click again for fit
    w.select_key(keys[1])
    key(qtbot, w, Qt.Key.Key_E)
    qtbot.waitUntil(lambda: w.loupe.pix is not None, timeout=10000)
    c = w.loupe.rect().center()
    qtbot.mouseClick(w.loupe, Qt.MouseButton.LeftButton, pos=QPoint(c.x() + 20, c.y()))
    assert not w.loupe.fit and w.loupe.zoom == pytest.approx(1.0) and w.loupe.cx > 0.5
    qtbot.mouseClick(w.loupe, Qt.MouseButton.LeftButton, pos=c)
    assert w.loupe.fit
    # reopening returns to the shot left
    w.close()
    w2 = make_window(qtbot, settings)
    assert w2.open_folder(folder)
    qtbot.waitUntil(lambda: w2.current_key == keys[1], timeout=10000)


def test_screen_space_full_screen_panels_loupe_only_and_2x2(qtbot, settings: AppSettings, folder: Path) -> None:
    w = make_window(qtbot, settings)
    open_and_wait(qtbot, w, folder)
    w.select_group_row(1)
    key(qtbot, w, Qt.Key.Key_F11)
    qtbot.waitUntil(w.isFullScreen, timeout=3000)
    key(qtbot, w, Qt.Key.Key_F11)
    qtbot.waitUntil(lambda: not w.isFullScreen(), timeout=3000)
    key(qtbot, w, Qt.Key.Key_Tab)  # hide the panels
    assert not w.groups_dock.isVisible() and not w.inspector_dock.isVisible() and not w.toolbar.isVisible()
    assert w.statusBar().isVisible()
    key(qtbot, w, Qt.Key.Key_Tab)
    assert w.groups_dock.isVisible() and w.inspector_dock.isVisible() and w.toolbar.isVisible()
    key(qtbot, w, Qt.Key.Key_F)  # the loupe alone, full screen
    qtbot.waitUntil(w.isFullScreen, timeout=3000)
    assert w.stack.currentIndex() == w.PAGE_LOUPE
    assert not w.groups_dock.isVisible() and not w.menuBar().isVisible() and not w.statusBar().isVisible()
    key(qtbot, w, Qt.Key.Key_Escape)  # back to the grid with everything
    qtbot.waitUntil(lambda: not w.isFullScreen(), timeout=3000)
    assert w.stack.currentIndex() == w.PAGE_GRID and w.groups_dock.isVisible() and w.menuBar().isVisible()
    # four frames side by side in a 2x2 grid
    key(qtbot, w, Qt.Key.Key_C, Qt.KeyboardModifier.ShiftModifier)
    views = w.compare.visible_views()
    assert len(views) == 4 and w.compare_keys == list(w.shots_model.keys[:4])
    pos = {(w.compare.layout_.getItemPosition(w.compare.layout_.indexOf(v))[:2]) for v in views}
    assert pos == {(0, 0), (0, 1), (1, 0), (1, 1)}


def test_layout_fits_1024x700_and_docks_keep_their_widths(qtbot, settings: AppSettings, folder: Path) -> None:
    w = make_window(qtbot, settings)
    open_and_wait(qtbot, w, folder)
    w.resize(1024, 700)
    qtbot.waitUntil(lambda: w.width() == 1024, timeout=3000)
    assert w.minimumSizeHint().width() <= 1024 and w.minimumSizeHint().height() <= 700
    qtbot.wait(50)
    assert w.stack.width() >= 400  # the grid keeps room
    chart = w.inspector.chart
    qtbot.waitUntil(lambda: bool(chart.items), timeout=5000)
    assert chart.width() >= chart.minimumSizeHint().width()  # the explanation's values are not cut off
    right = chart.mapTo(w.inspector, chart.rect().topRight()).x()
    assert right <= w.inspector.width()
    # the docks come back at the widths they were left at
    w.resize(1280, 800)
    qtbot.wait(50)
    w.resizeDocks([w.inspector_dock], [420], Qt.Orientation.Horizontal)
    qtbot.waitUntil(lambda: abs(w.inspector_dock.width() - 420) <= 4, timeout=3000)
    groups = w.groups_dock.width()
    w.close()
    w2 = make_window(qtbot, settings)
    qtbot.waitUntil(lambda: abs(w2.inspector_dock.width() - 420) <= 8, timeout=3000)
    assert abs(w2.groups_dock.width() - groups) <= 8


def test_scenes_form_while_analysing_and_the_current_shot_stays(qtbot, settings: AppSettings, folder: Path) -> None:
    from app.session import PENDING_GROUP

    w = make_window(qtbot, settings, gen.fake_rank(PER_GROUP, delay=0.12))
    w.ctl.PROGRESSIVE_MS = 300
    assert w.open_folder(folder)
    qtbot.waitUntil(lambda: w.analysis_running() and w.session is not None and len(w.session.shots) == 12,
                    timeout=10000)
    # the last shot: still pending, and the inspector says so (not "No face found")
    w.select_group_row(0)
    last = w.shots_model.keys[-1]
    w.select_key(last)
    assert w.session is not None and w.session.shots[last].status == "pending"
    assert w.inspector.no_faces.text().startswith("Faces: pending")
    # scenes appear while the analysis still runs, shots still pending beside them
    qtbot.waitUntil(lambda: any(g.id >= 0 for g in w.session.groups), timeout=20000)  # type: ignore[union-attr]
    assert w.analysis_running()
    assert any(g.id == PENDING_GROUP for g in w.session.groups)
    assert any(r.id >= 0 for r in w.groups_model.rows)  # the scenes list shows them
    assert w.current_key == last  # the photographer's shot stays current through every change
    qtbot.waitUntil(lambda: not w.busy(), timeout=60000)
    # the final ranks land: the same shot, selected and in view
    assert w.current_key == last
    idx = w.grid.currentIndex()
    assert w.shots_model.key_at(idx.row()) == last
    assert w.grid.selectionModel().isSelected(idx)
    assert w.grid.viewport().rect().intersects(w.grid.visualRect(idx))
    assert [g.title for g in w.session.groups] == ["Scene 1", "Scene 2", "Scene 3"]


def test_focus_map_and_peaking_overlays_in_the_loupe(qtbot, settings: AppSettings, folder: Path) -> None:
    import numpy as np

    from app.imaging import decode_rgb
    from app.overlays import OVERLAY_SIDE, heat_rgba
    from engine.focusmap import focus_map

    w = make_window(qtbot, settings)
    open_and_wait(qtbot, w, folder)
    w.select_group_row(1)
    key(qtbot, w, Qt.Key.Key_E)
    qtbot.waitUntil(lambda: w.loupe.pix is not None, timeout=10000)
    key(qtbot, w, Qt.Key.Key_M)
    qtbot.waitUntil(lambda: w.loupe.overlay is not None, timeout=10000)
    assert w.loupe.overlay_name == "focus map"
    s = w.current_shot()
    assert s is not None
    want = heat_rgba(focus_map(decode_rgb(s.path, OVERLAY_SIDE)[0]).relative)
    ov = w.loupe.overlay
    got = np.frombuffer(ov.constBits(), np.uint8).reshape(ov.height(), ov.bytesPerLine())[:, : 4 * ov.width()]
    assert np.array_equal(got.reshape(ov.height(), ov.width(), 4), want)  # the engine's map, drawn as is
    w.loupe.repaint()  # draws over the photograph at fit and zoomed
    key(qtbot, w, Qt.Key.Key_Right)  # it follows the shot
    qtbot.waitUntil(lambda: w.loupe.overlay is not None and w.loupe.key == w.current_key
                    and w.viewer.overlays.get(w.current_key or "", "focus") is w.loupe.overlay, timeout=10000)
    key(qtbot, w, Qt.Key.Key_K)  # focus peaking instead
    qtbot.waitUntil(lambda: w.loupe.overlay_name == "focus peaking", timeout=10000)
    qtbot.waitUntil(lambda: w.viewer.overlays.get(w.current_key or "", "peaking") is not None, timeout=10000)
    key(qtbot, w, Qt.Key.Key_K)
    assert w.loupe.overlay is None and w.loupe.overlay_name == ""
    # in compare, every pane shows its own frame's map
    key(qtbot, w, Qt.Key.Key_M)
    w.show_compare(list(w.shots_model.keys[:2]))
    qtbot.waitUntil(lambda: all(v.overlay is not None for v in w.compare.visible_views()), timeout=10000)
    assert [v.overlay_name for v in w.compare.visible_views()] == ["focus map", "focus map"]


def test_face_by_face_review_across_the_burst(qtbot, settings: AppSettings, folder: Path) -> None:
    from app.facereview import match_faces

    # matching: two people, shifted a little between frames, one missing in the last frame
    a, b = (0.1, 0.2, 0.2, 0.25), (0.6, 0.2, 0.2, 0.25)
    frames = [[b, a], [(0.12, 0.21, 0.2, 0.25), (0.58, 0.2, 0.2, 0.25)], [(0.11, 0.2, 0.2, 0.25)]]
    assert match_faces(frames) == [[1, 0, 0], [0, 1, None]]  # left person first

    w = make_window(qtbot, settings)
    open_and_wait(qtbot, w, folder)
    w.act_auto.setChecked(False)
    w.select_group_row(1)
    keys = list(w.shots_model.keys)
    key(qtbot, w, Qt.Key.Key_R)
    assert w.stack.currentIndex() == w.PAGE_FACES
    fv = w.faces_view
    assert fv.keys == keys and len(fv.tracks) == 1 and len(fv.cells[0]) == PER_GROUP
    # the 4th frame has its eyes closed: marked, and not every face is open there
    assert "closed" in fv.cells[0][3].eyes.text() and "open" in fv.cells[0][0].eyes.text()
    assert fv.all_open == [True, True, True, False]
    assert fv.cells[0][0].sharp.text() == "eye sharpness 9"  # the catalog's per-frame signal
    assert "f4b626" in fv.cells[0][0].styleSheet()  # the sharpest open eyes: the first frame
    # arrows move through the frames, clicks pick one, decisions apply to it
    key(qtbot, w, Qt.Key.Key_Right)
    assert w.current_key == keys[1] and fv.current == keys[1]
    qtbot.mouseClick(fv.cells[0][2], Qt.MouseButton.LeftButton)
    assert w.current_key == keys[2]
    key(qtbot, w, Qt.Key.Key_P)
    assert catalog_decisions(folder)[keys[2]][0] == "pick"
    key(qtbot, w, Qt.Key.Key_R)
    assert w.stack.currentIndex() == w.PAGE_GRID
