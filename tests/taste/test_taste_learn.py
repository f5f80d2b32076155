"""Taste profiles (issue 15): simulated photographers reproduced on held-out sessions."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

pytest.importorskip("sklearn")

from engine.catalog import Catalog  # noqa: E402
from engine.cli import main  # noqa: E402
from engine.pipeline import regroup  # noqa: E402
from engine.taste import profile as tp  # noqa: E402
from engine.taste import simulate as sim  # noqa: E402
from engine.taste.apply import ranked_by  # noqa: E402
from engine.taste.learn import learn_from_catalogs, to_profile  # noqa: E402


@pytest.fixture
def taste_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    d = tmp_path / "taste"
    monkeypatch.setenv("CULLER_TASTE_DIR", str(d))
    return d


def _sessions(tmp_path: Path, name: str, seeds: tuple[int, ...]) -> list[Path]:
    return [sim.make_session(tmp_path / f"{name}-{s}.sqlite", s) for s in seeds]


def _ranks(path: Path) -> dict[str, int]:
    with Catalog(path, readonly=True) as cat:
        return {r["key"]: r["rank"] for r in cat.shots("status = 'ok'")}


def _rerank(paths: list[Path]) -> None:
    for p in paths:
        with Catalog(p) as cat:
            regroup(cat, sim.MEMBERS)


@pytest.mark.parametrize("taste", ["high_key", "no_noise", "sharpest"])
def test_simulated_photographer_is_reproduced_on_held_out_sessions(
    tmp_path: Path, taste_dir: Path, taste: str
) -> None:
    train = _sessions(tmp_path, taste, (1, 2, 3, 4))  # half of the sessions: 288 decisions
    test = _sessions(tmp_path, taste, (5, 6, 7, 8))
    for p in train:
        sim.decide(p, taste)
    before = [sim.top1_agreement(p, taste) for p in test]
    assert max(before) <= 0.35, before  # the default ranking is far from this photographer
    result = learn_from_catalogs(train)
    assert result.n_decisions == 4 * 12 * 6 and result.n_groups == 48 and result.n_shoots == 4
    assert result.method == "leave-one-shoot-out"
    assert result.agreement_learned is not None and result.agreement_default is not None
    assert result.agreement_learned >= 0.9 > result.agreement_default + 0.3
    prof = to_profile(result, [str(p) for p in train])
    tp.save_profile(prof)
    _rerank(test)
    after = [sim.top1_agreement(p, taste) for p in test]
    assert min(after) >= 0.9, (before, after)
    with Catalog(test[0], readonly=True) as cat:
        rb = ranked_by(cat)
    assert rb is not None and rb["profile"] == "taste-v1" and rb["n_decisions"] == 288


def test_default_like_decisions_leave_the_rankings_as_they_were(
    tmp_path: Path, taste_dir: Path
) -> None:
    train = _sessions(tmp_path, "default", (1, 2))
    test = _sessions(tmp_path, "default", (3, 4))
    for p in train:
        sim.decide(p, "default")
    before = [_ranks(p) for p in test]
    result = learn_from_catalogs(train)
    prof = to_profile(result)
    assert prof.is_default and result.agreement_default == 1.0
    tp.save_profile(prof)
    _rerank(test)
    assert [_ranks(p) for p in test] == before


def test_half_decided_sessions_learn_from_the_decided_half(tmp_path: Path, taste_dir: Path) -> None:
    train = _sessions(tmp_path, "hk", (5, 6))
    for p in train:
        sim.decide(p, "high_key", fraction=0.5, seed=1)
    result = learn_from_catalogs(train)
    assert 6 * 6 <= result.n_decisions < 2 * 12 * 6 and result.n_groups < 24
    tp.save_profile(to_profile(result))
    test = _sessions(tmp_path, "hk", (7,))
    _rerank(test)
    assert sim.top1_agreement(test[0], "high_key") >= 0.9


def test_taste_commands_learn_show_off_on_reset(
    tmp_path: Path, taste_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    train = _sessions(tmp_path, "cli", (1, 2))
    for p in train:
        sim.decide(p, "high_key")
    assert main(["taste", "learn", *map(str, train)]) == 0
    out = capsys.readouterr().out
    assert "learned from 144 decision(s) in 24 group(s) of 2 shoot(s)" in out
    assert "default ranking 0%, learned 100%" in out
    assert main(["taste", "show"]) == 0
    shown = capsys.readouterr().out
    assert "taste profile v1 (on)" in shown
    assert (
        "prefers brighter frames than the burst (+1.0 EV)" in shown
        or "prefers brighter frames than the burst (+0.9 EV)" in shown
    )
    assert tp.status_line() == "ranked by your taste (learned from 144 decisions)"
    # a second learn is version 2; version 1 is kept
    assert main(["taste", "learn", *map(str, train)]) == 0
    capsys.readouterr()
    assert (taste_dir / "history" / "profile-v1.json").is_file()
    assert json.loads((taste_dir / "profile.json").read_text())["version"] == 2
    test = _sessions(tmp_path, "cli", (3,))
    assert main(["taste", "off"]) == 0
    assert tp.active_profile() is None and tp.status_line() is None
    _rerank(test)
    with Catalog(test[0], readonly=True) as cat:
        assert ranked_by(cat)["profile"] == "default"  # type: ignore[index]
    assert sim.top1_agreement(test[0], "high_key") <= 0.35
    assert main(["taste", "on"]) == 0
    _rerank(test)
    assert sim.top1_agreement(test[0], "high_key") >= 0.9
    assert main(["taste", "reset"]) == 0
    capsys.readouterr()
    assert tp.load_profile() is None
    assert main(["taste", "show"]) == 0
    assert "no taste profile yet" in capsys.readouterr().out
    assert main(["taste", "on"]) == 1


def test_sharpest_shooter_is_explained_in_words(tmp_path: Path, taste_dir: Path) -> None:
    train = _sessions(tmp_path, "sh", (1, 2))
    for p in train:
        sim.decide(p, "sharpest")
    prof = to_profile(learn_from_catalogs(train))
    assert any("half-closed eyes" in s for s in prof.phrases), prof.phrases
    w = prof.weights()
    assert w and all(isinstance(v, float) for v in w.values())


def test_no_decisions_is_one_clear_line(
    tmp_path: Path, taste_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    p = sim.make_session(tmp_path / "none.sqlite", 1, n_groups=3)
    assert main(["taste", "learn", str(p)]) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith("culler taste learn: not enough decisions") and "\n" not in err


@pytest.mark.parametrize(
    "text,why",
    [("{not json", "unreadable"), (json.dumps({"format": 99}), "format"),
     (json.dumps({"format": 1, "features": ["a"], "mean": [0.0], "scale": [1.0], "coef": [float("nan")]}), "corrupt")],
)  # fmt: skip
def test_corrupt_profile_is_refused_and_ranking_stays_default(
    tmp_path: Path, taste_dir: Path, text: str, why: str, capsys: pytest.CaptureFixture[str]
) -> None:
    taste_dir.mkdir(parents=True)
    (taste_dir / "profile.json").write_text(text)
    with pytest.raises(tp.ProfileError, match=why):
        tp.load_profile()
    assert tp.active_profile() is None
    assert main(["taste", "show"]) == 1
    assert why in capsys.readouterr().err


def test_rank_time_order_is_the_learned_order(tmp_path: Path, taste_dir: Path) -> None:
    """What `culler rank` applies (JSON profile, numpy only) orders every group as the fitted
    model does, whatever the sign of the default's coefficient."""
    import numpy as np

    from engine.taste.features import load_groups
    from engine.taste.learn import prepare, scores_for

    train = _sessions(tmp_path, "rt", (1, 2))
    for p in train:
        sim.decide(p, "sharpest")
    result = learn_from_catalogs(train)
    assert result.fit is not None
    tp.save_profile(to_profile(result))
    test = _sessions(tmp_path, "rt", (3,))
    sim.decide(test[0], "sharpest")  # gives every group a preference, so prepare() keeps them all
    _rerank(test)
    with Catalog(test[0], readonly=True) as cat:
        groups = load_groups(cat, "t")
        ranks = {r["key"]: r["rank"] for r in cat.shots("status = 'ok'")}
    prep = prepare(groups)
    prep.names = result.names  # score with the trained feature list
    nan = np.full(len(prep.names), np.nan)
    from engine.taste.features import vectorise

    prep.raw = [vectorise(f, prep.names, nan) for f in prep.feats]
    for gi, g in enumerate(prep.groups):
        learned = np.argsort(-scores_for(prep, gi, result.fit), kind="stable")
        assert [g.shots[i].key for i in learned] == sorted(
            (s.key for s in g.shots), key=lambda k: ranks[k]
        )


def test_ranking_with_a_profile_needs_no_scikit_learn(tmp_path: Path, taste_dir: Path) -> None:
    import subprocess
    import sys

    train = _sessions(tmp_path, "nosk", (1, 2))
    for p in train:
        sim.decide(p, "high_key")
    tp.save_profile(to_profile(learn_from_catalogs(train)))
    test = _sessions(tmp_path, "nosk", (3,))
    code = (
        "import sys\n"
        "from engine.catalog import Catalog\n"
        "from engine.pipeline import regroup\n"
        "from engine.taste import simulate as sim\n"
        f"c = Catalog({str(test[0])!r})\n"
        "regroup(c, sim.MEMBERS)\n"
        "print(sim.top1_agreement(c.path, 'high_key'), 'sklearn' in sys.modules)\n"
    )
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True)
    agreement, imported = r.stdout.split()
    assert float(agreement) >= 0.9 and imported == "False"


def test_features_ignore_scores_of_another_model(tmp_path: Path) -> None:
    """A score stored under another identity (an older pack, say) is not a feature: the taste
    ranker reads what the ranking itself reads, never an outdated model's values."""
    from engine.taste.features import load_groups

    path = sim.make_session(tmp_path / "stale.sqlite", 5, n_groups=2, group_size=3)
    member = sim.MEMBERS[0]
    with Catalog(path) as cat:
        h = next(iter(cat.all_scores()))
        value, quality = cat.all_scores()[h][member]
        cat.store_analysis(h, {}, [], {member: (value, quality)}, {member: "old-model@0.9#deadbeef"})
    with Catalog(path, readonly=True) as cat:
        shots = {s.hash: s for g in load_groups(cat, "t") for s in g.shots}
    assert member not in shots[h].scores
    assert all(member in s.scores for k, s in shots.items() if k != h)
