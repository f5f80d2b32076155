"""Your taste in the window (issue 15, "In the GUI"), on a real window on the offscreen platform:
the status bar says when a taste profile ranked the session, the setting turns the engine's
taste off and on, the offer after a session learns a profile (in a worker) into the taste
folder, and the inspector shows the learned part of a shot's rank."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
import gen  # noqa: E402
from PySide6.QtCore import QSettings, Qt  # noqa: E402
from PySide6.QtWidgets import QDialog, QMessageBox  # noqa: E402

from app.settings import AppSettings  # noqa: E402
from app.window import MainWindow  # noqa: E402

PER_GROUP = 4
TASTE_WORDS = "ranked by your taste (learned from"


@pytest.fixture(scope="module")
def source(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("src") / "shoot"
    d.mkdir()
    gen.make_session(d, n_bursts=3, per_burst=PER_GROUP, max_side=240)
    return d


@pytest.fixture
def folder(source: Path, tmp_path: Path) -> Path:
    import shutil

    d = tmp_path / "shoot"
    shutil.copytree(source, d)
    return d


@pytest.fixture
def taste_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    d = tmp_path / "taste"
    monkeypatch.setenv("CULLER_TASTE_DIR", str(d))
    return d


@pytest.fixture
def settings(tmp_path: Path) -> AppSettings:
    return AppSettings(QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat))


def window(qtbot, settings: AppSettings) -> MainWindow:  # type: ignore[no-untyped-def]
    return gen.show_window(qtbot, MainWindow(settings, rank_fn=gen.fake_rank(PER_GROUP)))


def open_and_wait(qtbot, w: MainWindow, folder: Path) -> None:  # type: ignore[no-untyped-def]
    assert w.open_folder(folder), w.messages
    qtbot.waitUntil(lambda: not w.busy(), timeout=60000)
    qtbot.waitUntil(lambda: w.shots_model.rowCount() > 0 and w.current_key is not None)


def regroup_and_wait(qtbot, w: MainWindow) -> None:  # type: ignore[no-untyped-def]
    w.regroup()
    qtbot.waitUntil(lambda: not w.busy(), timeout=60000)


def write_profile(n_decisions: int = 7) -> None:
    """A small learned profile, stored through the engine's own API (as `culler taste learn` does)."""
    from engine.taste.profile import Profile, save_profile

    save_profile(Profile(["q:exposure", "fd:eyes_open"], [0.7, 0.0], [0.1, 0.3], [0.4, 0.6],
                         n_decisions=n_decisions, n_groups=3))


def test_status_bar_says_when_a_taste_ranked_the_session_and_the_setting_turns_it_off(
        qtbot, settings: AppSettings, folder: Path, taste_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from engine.taste.profile import enabled

    write_profile(7)
    w = window(qtbot, settings)
    open_and_wait(qtbot, w, folder)
    assert not w.status_area.taste.isVisible()  # analysed without the taste: nothing to say
    regroup_and_wait(qtbot, w)  # the engine's regroup ranks with the active profile
    assert w.status_area.taste.isVisible()
    assert w.status_area.taste.text() == "ranked by your taste (learned from 7 decisions)"
    # the inspector shows the learned part of the current shot's rank
    s = w.current_shot()
    assert s is not None and s.group_id is not None and s.group_id >= 0
    assert w.inspector.taste_chart.isVisible()
    from engine.taste.profile import load_profile

    prof = load_profile()
    assert prof is not None
    g = w.group_of(s)
    assert g is not None
    from engine.taste.features import load_groups  # what `culler taste` reads, independently

    assert w.session is not None
    [eg] = [x for x in load_groups(w.session.catalog, "s") if x.gid == g.id]
    order = [sh.key for sh in eg.shots]
    want = prof.contributions(eg.shots, order.index(s.key))
    assert want and dict(w.inspector.taste_chart.items) == pytest.approx(want)
    assert set(want) <= {"q:exposure", "fd:eyes_open"}

    # Settings › "Rank by my taste" off: the engine's state, the app's settings, the ranking
    def accept_unchecked(dlg) -> int:  # type: ignore[no-untyped-def]
        assert dlg.taste.isChecked()  # it shows the engine's state
        dlg.taste.setChecked(False)
        return QDialog.DialogCode.Accepted

    monkeypatch.setattr("app.window_chrome.SettingsDialog.exec", accept_unchecked)
    w.settings_dialog()
    assert enabled() is False
    assert AppSettings(QSettings(settings.qs.fileName(), QSettings.Format.IniFormat)).get("taste") is False
    qtbot.waitUntil(lambda: not w.busy(), timeout=60000)
    assert not w.status_area.taste.isVisible()  # ranked again, by the default ensemble
    assert not w.act_taste.isChecked()
    assert not w.inspector.taste_chart.isVisible()

    w.act_taste.trigger()  # Cull › Rank by my taste: on again
    assert enabled() is True
    qtbot.waitUntil(lambda: not w.busy() and w.status_area.taste.isVisible(), timeout=60000)
    assert w.status_area.taste.text().startswith(TASTE_WORDS)
    w.close()


def test_after_a_session_the_offer_learns_a_profile_from_the_decisions_just_made(
        qtbot, settings: AppSettings, folder: Path, taste_dir: Path, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    from engine.taste.profile import load_profile

    other = tmp_path / "other"
    other.mkdir()
    w = window(qtbot, settings)
    open_and_wait(qtbot, w, folder)
    session = w.session
    assert session is not None
    # a photographer who prefers the frame the default ranks second, in every scene
    for k, s in sorted(session.shots.items()):
        assert w.select_key(k)
        qtbot.keyClick(w.stack.currentWidget(), Qt.Key.Key_P if s.rank == 2 else Qt.Key.Key_X)
    assert len(w.taste.new_decisions) == 3 * PER_GROUP
    assert not (taste_dir / "profile.json").exists()

    monkeypatch.delenv("CULLER_GUI_NO_DIALOGS")  # the real, non-modal offer
    assert w.open_folder(other)  # switching the folder: the one-time offer
    monkeypatch.setenv("CULLER_GUI_NO_DIALOGS", "1")
    assert any(t == "Learn your taste?" for t, _x in w.messages)
    boxes = [b for b in w.findChildren(QMessageBox) if b.windowTitle() == "Learn your taste?" and b.isVisible()]
    assert len(boxes) == 1 and not boxes[0].isModal()
    assert not w.taste.learning()
    [learn] = [b for b in boxes[0].buttons() if b.text() == "Learn"]
    learn.click()
    assert w.taste.learning()  # in a worker, the window goes on
    qtbot.waitUntil(lambda: not w.taste.learning(), timeout=60000)
    prof = load_profile()
    assert prof is not None and prof.n_decisions == 3 * PER_GROUP
    assert (taste_dir / "profile.json").is_file()
    assert "Learned your taste" in w.statusBar().currentMessage()

    # no offer for a session without new decisions
    n_offers = sum(t == "Learn your taste?" for t, _x in w.messages)
    open_and_wait(qtbot, w, folder)
    assert w.open_folder(other)
    assert sum(t == "Learn your taste?" for t, _x in w.messages) == n_offers

    # the next ranking is the photographer's: the status bar says so
    open_and_wait(qtbot, w, folder)
    regroup_and_wait(qtbot, w)
    assert w.status_area.taste.text() == f"ranked by your taste (learned from {3 * PER_GROUP} decisions)"
    w.close()


def test_learn_menu_action_learns_from_the_open_session(qtbot, settings: AppSettings, folder: Path,
                                                       taste_dir: Path) -> None:
    from engine.taste.profile import load_profile

    w = window(qtbot, settings)
    open_and_wait(qtbot, w, folder)
    w.act_learn_taste.trigger()  # no decisions yet: one clear line, no profile
    qtbot.waitUntil(lambda: not w.taste.learning(), timeout=60000)
    assert any(t == "Cannot learn your taste" and "not enough decisions" in x for t, x in w.messages)
    assert load_profile() is None
    session = w.session
    assert session is not None
    for k, s in sorted(session.shots.items()):
        assert w.select_key(k)
        qtbot.keyClick(w.stack.currentWidget(), Qt.Key.Key_P if s.rank == 1 else Qt.Key.Key_X)
    w.act_learn_taste.trigger()
    qtbot.waitUntil(lambda: not w.taste.learning(), timeout=60000)
    prof = load_profile()
    assert prof is not None and prof.n_decisions == 3 * PER_GROUP
    # learned from this session: it is ranked again with the profile at once
    qtbot.waitUntil(lambda: not w.busy() and w.status_area.taste.isVisible(), timeout=60000)
    assert w.status_area.taste.text().startswith(TASTE_WORDS)
    w.close()


def test_quitting_after_a_session_offers_to_learn_and_closes_once_learned(
        qtbot, settings: AppSettings, folder: Path, taste_dir: Path) -> None:
    from engine.taste.profile import load_profile

    w = window(qtbot, settings)
    open_and_wait(qtbot, w, folder)
    session = w.session
    assert session is not None
    for k, s in sorted(session.shots.items()):
        assert w.select_key(k)
        qtbot.keyClick(w.stack.currentWidget(), Qt.Key.Key_P if s.rank == 3 else Qt.Key.Key_X)
    w.taste.auto_answer = True
    assert w.close() is False  # the window waits for the learning it started
    assert w.isVisible() and w.taste.learning()
    qtbot.waitUntil(lambda: not w.isVisible(), timeout=60000)
    prof = load_profile()
    assert prof is not None and prof.n_decisions == 3 * PER_GROUP
    assert sum(t == "Learn your taste?" for t, _x in w.messages) == 1
