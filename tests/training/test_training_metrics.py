"""Challenge metrics against scipy and hand-computed values; ``culler evaluate``; no torch needed."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from scipy import stats

from engine.metrics import challenge_metrics, krcc, plcc, rankdata, srcc

CASES = [
    ([1, 2, 3, 4, 5], [5, 6, 7, 8, 7]),
    ([0.1, 0.4, 0.35, 0.8], [0, 1, 1, 3]),  # ties in the target
    ([3, 3, 1, 2, 2, 5], [1, 2, 3, 4, 5, 6]),  # ties in the prediction
    ([-1.5, 2.0, 0.3, 0.3, 4.1, -0.2, 1.0], [2.0, -1.0, 0.5, 0.4, 3.3, 0.0, 0.1]),
]


@pytest.mark.parametrize("x,y", CASES)
def test_correlations_match_scipy(x: list[float], y: list[float]) -> None:
    assert srcc(x, y) == pytest.approx(stats.spearmanr(x, y).statistic, abs=1e-12)
    assert plcc(x, y) == pytest.approx(stats.pearsonr(x, y).statistic, abs=1e-12)
    assert krcc(x, y) == pytest.approx(stats.kendalltau(x, y).statistic, abs=1e-12)


def test_random_cases_match_scipy() -> None:
    rng = np.random.default_rng(0)
    for n in (2, 3, 10, 57):
        x = np.round(rng.normal(size=n), 1)  # rounding makes ties
        y = x + rng.normal(scale=0.7, size=n)
        assert srcc(x, y) == pytest.approx(stats.spearmanr(x, y).statistic, abs=1e-10)
        assert krcc(x, y) == pytest.approx(stats.kendalltau(x, y).statistic, abs=1e-10)
        assert plcc(x, y) == pytest.approx(stats.pearsonr(x, y).statistic, abs=1e-10)


def test_rankdata_ties_average() -> None:
    assert rankdata([10, 20, 20, 5]).tolist() == [2.0, 3.5, 3.5, 1.0]
    assert rankdata([1, 1, 1]).tolist() == [2.0, 2.0, 2.0]


def test_degenerate_cases_are_zero() -> None:
    assert srcc([1, 1, 1], [1, 2, 3]) == 0.0
    assert plcc([2, 2], [1, 5]) == 0.0
    assert krcc([1], [1]) == 0.0


def test_challenge_protocol_by_hand() -> None:
    # scene A: perfect; scene B: reversed; scene C: one swap of 4 -> srcc 0.8, krcc 4/6, plcc by hand
    pred = [1, 2, 3] + [1, 2, 3] + [1, 2, 4, 3]
    target = [1, 2, 3] + [3, 2, 1] + [1, 2, 3, 4]
    scenes = ["A"] * 3 + ["B"] * 3 + ["C"] * 4
    m = challenge_metrics(pred, target, scenes)
    c_plcc = 0.8  # x=(1,2,4,3), y=(1,2,3,4): cov 4/4, var 5/4 each -> 1.0*4/5
    assert m.scenes["A"].srcc == pytest.approx(1.0)
    assert m.scenes["B"].krcc == pytest.approx(-1.0)
    assert m.scenes["C"].srcc == pytest.approx(0.8)
    assert m.scenes["C"].krcc == pytest.approx(4 / 6)
    assert m.scenes["C"].plcc == pytest.approx(c_plcc)
    assert m.srcc == pytest.approx(0.8)  # median of 1, -1, 0.8
    assert m.krcc == pytest.approx(4 / 6)
    assert m.plcc == pytest.approx(0.8)
    c_mean = (0.8 + 4 / 6 + 0.8) / 3
    assert m.score == pytest.approx(c_mean)  # median of 1, -1, c_mean
    assert m.n_images == 10


def test_single_image_scenes_are_left_out_and_errors() -> None:
    m = challenge_metrics([1, 2, 5], [1, 2, 0], ["A", "A", "B"])
    assert list(m.scenes) == ["A"]
    with pytest.raises(ValueError):
        challenge_metrics([1], [1], ["A"])
    with pytest.raises(ValueError):
        challenge_metrics([1, float("nan")], [1, 2], ["A", "A"])


def test_metrics_module_does_not_import_torch() -> None:
    code = "import sys, engine.metrics, engine.piq23, training.piq23, engine.commands.evaluate; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_evaluate_runs_without_the_training_module(tmp_path: Path) -> None:
    """``culler evaluate`` uses the engine's metrics and readers: it runs with ``training`` blocked."""
    scores = _scores_csv(tmp_path / "scores.csv")
    pred = _write(tmp_path / "pred.csv", "IMAGE,SCORE\n" + "".join(f"{n}_{s}.jpg,{n}\n" for n, s in
                                                                   enumerate("AAAABBB")))
    code = (
        "import sys; sys.modules['training'] = None\n"
        "from engine.cli import main\n"
        f"sys.exit(main(['evaluate', '--scores', {str(scores)!r}, '--predictions', {str(pred)!r}, '--json']))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    res = json.loads(out.stdout)
    assert "training" not in out.stderr and res["srcc"] == pytest.approx(0.0, abs=1e-9)


def test_mae_per_scene_median_matches_numpy() -> None:
    rng = np.random.default_rng(1)
    p, t = rng.normal(size=30), rng.normal(size=30)
    s = np.repeat(["a", "b", "c"], [8, 10, 12])
    m = challenge_metrics(p, t, s)
    want = np.median([np.mean(np.abs(p[s == k] - t[s == k])) for k in "abc"])
    assert m.mae == pytest.approx(want, abs=1e-12)
    assert m.to_dict()["mae"] == pytest.approx(want, abs=1e-6)
    assert m.scenes["b"].mae == pytest.approx(np.mean(np.abs(p[s == "b"] - t[s == "b"])), abs=1e-12)


def _write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def _scores_csv(path: Path) -> Path:
    rows = ["IMAGE PATH,JOD,IMAGE,SCENE,ATTRIBUTE,CONDITION"]
    jods = {"A": [1.0, 2.0, 3.0, 4.0], "B": [0.6, 0.3, 0.0]}
    n = 0
    for scene, js in jods.items():
        for j in js:
            rows.append(f"Overall\\{n}_{scene}.jpg,{j},{n}_{scene}.jpg,{scene},Overall,Indoor")
            n += 1
    return _write(path, "\n".join(rows) + "\n")


def test_culler_evaluate_json_and_table(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from engine.cli import main

    scores = _scores_csv(tmp_path / "Scores_Overall.csv")
    pred = _write(
        tmp_path / "pred.csv",
        "IMAGE,SCORE\n0_A.jpg,0.1\n1_A.jpg,0.2\n2_A.jpg,0.4\n3_A.jpg,0.3\nOverall\\4_B.jpg,3\n5_B.jpg,2\n6_B.jpg,1\n",
    )
    assert main(["evaluate", "--scores", str(scores), "--predictions", str(pred), "--json"]) == 0
    d = json.loads(capsys.readouterr().out)
    assert set(d) == {"srcc", "plcc", "krcc", "score", "mae", "scenes"}
    assert d["scenes"]["B"]["srcc"] == pytest.approx(1.0)
    assert d["scenes"]["A"]["srcc"] == pytest.approx(0.8)
    assert d["srcc"] == pytest.approx(0.9)  # median of two scenes = mean
    a_mean = (0.8 + 4 / 6 + 0.8) / 3
    assert d["score"] == pytest.approx((a_mean + 1.0) / 2, abs=1e-6)
    assert main(["evaluate", "--scores", str(scores), "--predictions", str(pred)]) == 0
    assert "challenge score" in capsys.readouterr().out


@pytest.mark.parametrize(
    "pred_text,needle",
    [
        ("IMAGE,SCORE\n0_A.jpg,1\n", "have no prediction"),
        ("IMAGE,SCORE\nnope.jpg,1\n", "not in the score file"),
        ("IMG,VALUE\n0_A.jpg,1\n", "columns IMAGE and SCORE"),
        ("IMAGE,SCORE\n0_A.jpg,abc\n", "is not a number"),
        ("", "empty file"),
    ],
)
def test_culler_evaluate_bad_input_messages(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], pred_text: str, needle: str
) -> None:
    from engine.cli import main

    scores = _scores_csv(tmp_path / "Scores_Overall.csv")
    pred = _write(tmp_path / "pred.csv", pred_text)
    assert main(["evaluate", "--scores", str(scores), "--predictions", str(pred)]) == 2
    err = capsys.readouterr().err
    assert needle in err and "Traceback" not in err


def test_culler_evaluate_partial_and_missing_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from engine.cli import main

    scores = _scores_csv(tmp_path / "Scores_Overall.csv")
    pred = _write(tmp_path / "pred.csv", "IMAGE,SCORE\n0_A.jpg,1\n1_A.jpg,2\n2_A.jpg,3\n")
    assert main(["evaluate", "--scores", str(scores), "--predictions", str(pred), "--partial", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["srcc"] == pytest.approx(1.0)
    assert main(["evaluate", "--scores", str(tmp_path / "none.csv"), "--predictions", str(pred)]) == 2
    assert "no such file" in capsys.readouterr().err


def test_evaluate_on_real_piq23_split(piq23_shared: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from engine.cli import main
    from training.piq23 import load_split

    rows = load_split(piq23_shared, "scene", "Test", "Overall")
    assert len(rows) == 1486 and len({r.scene for r in rows}) == 15
    pred = tmp_path / "pred.csv"
    pred.write_text("IMAGE,SCORE\n" + "".join(f"{r.image},{r.jod}\n" for r in rows))
    scores = piq23_shared / "splits" / "scene" / "SceneSplit_Test_Scores_Overall.csv"
    assert main(["evaluate", "--scores", str(scores), "--predictions", str(pred), "--json"]) == 0
    d = json.loads(capsys.readouterr().out)
    assert d["srcc"] == pytest.approx(1.0) and d["score"] == pytest.approx(1.0) and len(d["scenes"]) == 15
