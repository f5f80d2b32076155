"""The ranking as the window shows it, over catalogs made by the real engine: the EYES badge
judged per person, the face that cost a shot its rank, the strictness of the suggestions
and the grouping sensitivity kept in the catalog (issue 12, parts 2, 5 and 6)."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
import gen  # noqa: E402
from PySide6.QtCore import QSettings  # noqa: E402

from app import warnings as W  # noqa: E402
from app.settings import AppSettings  # noqa: E402
from app.window import MainWindow  # noqa: E402
from engine.catalog import Catalog  # noqa: E402


@pytest.fixture(scope="module")
def analysed(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, dict[str, str]]:
    """Two hand-held bursts (open eyes but one half-closed frame; a squint throughout),
    analysed once by the engine (``culler rank``): (folder, catalog, truth)."""
    from engine.pipeline import RankOptions, rank_folder

    d = tmp_path_factory.mktemp("eyes") / "shoot"
    d.mkdir()
    truth = gen.make_eyes_session(d)
    summary = rank_folder(RankOptions(root=d, workers=1))
    return d, summary.catalog_path, truth


@pytest.fixture
def catalog(analysed: tuple[Path, Path, dict[str, str]], tmp_path: Path) -> Path:
    """A copy of the analysed catalog for one test (same folder: its root still matches)."""
    dst = tmp_path / "copy.culler.sqlite"
    shutil.copy(analysed[1], dst)
    return dst


def open_window(qtbot, analysed, catalog: Path, tmp_path: Path) -> MainWindow:  # type: ignore[no-untyped-def]
    settings = AppSettings(QSettings(str(tmp_path / "s.ini"), QSettings.Format.IniFormat))
    w = gen.show_window(qtbot, MainWindow(settings))
    assert w.open_folder(analysed[0], catalog=catalog), w.messages
    qtbot.waitUntil(lambda: not w.busy() and w.session is not None and bool(w.session.groups), timeout=60000)
    qtbot.waitUntil(lambda: w.current_key is not None)
    assert not w.messages, w.messages
    return w


def wait_idle(qtbot, w: MainWindow) -> None:  # type: ignore[no-untyped-def]
    qtbot.waitUntil(lambda: not w.busy(), timeout=120000)
    assert not w.messages, w.messages


def scene_of(w: MainWindow, prefix: str) -> list[str]:
    assert w.session is not None
    for g in w.session.groups:
        if g.id >= 0 and all(k.startswith(prefix) for k in g.keys):
            return list(g.keys)
    raise AssertionError(f"no scene of the {prefix} burst: {[g.keys for g in w.session.groups]}")


def stored(catalog: Path) -> tuple[float, str]:
    from engine.pipeline import ranking_settings

    cat = Catalog(catalog, readonly=True)
    try:
        sens, strict = ranking_settings(cat)
        return sens, str(strict)
    finally:
        cat.close()


def test_eyes_badge_judges_each_person_against_their_own_frames(qtbot, analysed, catalog: Path,
                                                                tmp_path: Path) -> None:
    # the half-closed frame of the open-eyed burst is badged; a squint held through a burst is
    # that person's own state, not a blink (the eye-state signal reads 0.15-0.4 on every frame)
    w = open_window(qtbot, analysed, catalog, tmp_path)
    truth = analysed[2]
    assert scene_of(w, "A") and scene_of(w, "B")
    badged = {k for k, s in w.session.shots.items() if W.EYES_CLOSED in s.warnings}  # type: ignore[union-attr]
    assert badged == {k for k, v in truth.items() if v == "half-closed"}
    # the grid's tiles show what the records say
    w.select_group_row(1 + [g.id for g in w.session.groups].index(w.session.shots["A_0003.jpg"].group_id))  # type: ignore[union-attr]
    rows = {w.shots_model.record(r).key: w.shots_model.record(r) for r in range(w.shots_model.rowCount())}  # type: ignore[union-attr]
    assert W.EYES_CLOSED in rows["A_0003.jpg"].warnings
    assert all(W.EYES_CLOSED not in r.warnings for k, r in rows.items() if k != "A_0003.jpg")


def test_inspector_says_which_face_cost_the_shot_its_rank(qtbot, analysed, catalog: Path,
                                                           tmp_path: Path) -> None:
    w = open_window(qtbot, analysed, catalog, tmp_path)
    assert w.session is not None
    w.select_key("A_0003.jpg")
    qtbot.waitUntil(lambda: w.inspector.title.text() == "A_0003.jpg")
    costs = w.inspector.face_costs
    assert costs and costs[0].faces == (0,) and costs[0].member == "eyes_open"
    assert costs[0].points >= 10  # a blink costs the frame its rank
    assert "face 1: eyes closed (−" in w.inspector.costs.text() and w.inspector.costs.isVisibleTo(w.inspector)
    card = w.inspector.face_cards[0]
    assert "eyes closed" in card.cost.text() and card.cost.isVisibleTo(w.inspector)
    # the points agree with the score: were the face's eyes as open as in the best frame, the
    # shot would score about the best frame's score
    best = w.session.group(w.session.shots["A_0003.jpg"].group_id).best  # type: ignore[union-attr,arg-type]
    assert best != "A_0003.jpg"
    s3, sb = w.session.shots["A_0003.jpg"].score, w.session.shots[best].score
    assert s3 is not None and sb is not None
    assert s3 + sum(c.points for c in costs) >= sb - 8
    # the scene's best shot lost its rank to nothing
    w.select_key(best)
    qtbot.waitUntil(lambda: w.inspector.title.text() == best)
    assert w.inspector.face_costs == [] and not w.inspector.costs.isVisibleTo(w.inspector)
    assert not w.inspector.face_cards[0].cost.isVisibleTo(w.inspector)
