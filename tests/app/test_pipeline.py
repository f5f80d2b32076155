"""The app over the real engine: analyse a generated session, cull it, screenshot it."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
import gen  # noqa: E402

pipeline = pytest.importorskip("engine.pipeline", reason="engine.pipeline is not in this build yet")
if not hasattr(pipeline, "rank_folder"):
    pytest.skip("engine.pipeline has no rank_folder yet", allow_module_level=True)

from PySide6.QtCore import QSettings, Qt  # noqa: E402

from app.settings import AppSettings  # noqa: E402
from app.window import MainWindow  # noqa: E402
from engine.catalog import Catalog  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def analysed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("real") / "shoot"
    d.mkdir()
    gen.make_session(d, n_bursts=2, per_burst=4, max_side=480)
    return d


def test_real_analysis_then_cull_and_reopen(qtbot, analysed: Path, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    settings = AppSettings(QSettings(str(tmp_path / "s.ini"), QSettings.Format.IniFormat))
    w = gen.show_window(qtbot, MainWindow(settings))
    assert w.open_folder(analysed)
    qtbot.waitUntil(lambda: not w.busy(), timeout=170000)
    assert not w.messages, w.messages
    assert w.session is not None
    real = [g for g in w.session.groups if g.id >= 0]
    assert real, "the engine made no scene group"
    assert sum(len(g.keys) for g in real) == 8
    assert all(s.rank is not None and s.score is not None for s in w.session.shots.values())
    assert any((s.n_faces or 0) > 0 for s in w.session.shots.values())
    w.select_group_row(1)
    best = w.current_key
    assert best is not None and w.session.shots[best].rank == 1
    assert w.inspector.chart.items  # member contributions from the real scores
    assert w.inspector.chart.score == pytest.approx(w.session.shots[best].score, abs=1.0)
    qtbot.keyClick(w.grid, Qt.Key.Key_P)
    cat = Catalog(w.session.catalog_path, readonly=True)
    try:
        assert cat.decision(best).flag == "pick"
    finally:
        cat.close()
    w.close()


def test_screenshot_command(analysed: Path, tmp_path: Path) -> None:
    gen.check_screenshot_command(analysed, tmp_path, timeout=240)


def test_regroup_with_another_sensitivity_keeps_decisions(qtbot, analysed: Path, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    settings = AppSettings(QSettings(str(tmp_path / "s.ini"), QSettings.Format.IniFormat))
    w = gen.show_window(qtbot, MainWindow(settings))
    assert w.open_folder(analysed)
    qtbot.waitUntil(lambda: not w.busy(), timeout=170000)
    assert w.session is not None
    w.select_group_row(1)
    key = w.current_key
    w.set_flag("pick")
    for sens in (0.0, 1.0):
        assert w.ctl.set_ranking(sensitivity=sens)  # stored in the catalog, grouped again
        qtbot.waitUntil(lambda: not w.busy(), timeout=60000)
        assert not w.messages, w.messages
        assert w.session.shots[key].decision.flag == "pick"
        assert all(s.rank is not None for s in w.session.shots.values())
    n_fine = sum(1 for g in w.session.groups if g.id >= 0)
    w.ctl.set_ranking(sensitivity=0.0)
    qtbot.waitUntil(lambda: not w.busy(), timeout=60000)
    assert sum(1 for g in w.session.groups if g.id >= 0) <= n_fine


def test_analysis_process_failure_is_one_clear_message(qtbot, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    from app.analysis import AnalysisFailed, AnalysisRequest, run_analysis
    from app.workers import Worker

    gone = tmp_path / "gone"
    th = Worker(run_analysis, AnalysisRequest(gone, tmp_path / "gone.culler.sqlite"))
    with qtbot.waitSignal(th.errored, timeout=60000) as sig:
        th.start()
    th.wait(10000)
    exc = sig.args[0]
    assert isinstance(exc, AnalysisFailed)  # classified in the child by type: the message alone
    assert "gone" in str(exc) and "Traceback" not in str(exc) and "PipelineError" not in str(exc)
