"""Fusion and ranking; the catalog's schema, decisions and integrity."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from engine.catalog import Catalog, CatalogError
from engine.quality.fusion import MemberSpec, contributions, fused_score, rank_group
from engine.quality.registry import available_members, create_member, default_member_names

SPECS = {
    "sharp": MemberSpec("sharp", 2.0, True, "best", 1.0),
    "noise": MemberSpec("noise", 1.0, False),
    "expo": MemberSpec("expo", 1.0, True, "median", 0.5),
}


def test_fused_score_is_a_weighted_geometric_mean() -> None:
    q = {"sharp": 0.5, "noise": 0.8}
    expected = 100 * math.exp((2 * math.log(0.5) + math.log(0.8)) / 3)
    assert fused_score(q, SPECS) == pytest.approx(expected)
    c = contributions(q, SPECS)
    assert sum(c.values()) == pytest.approx(math.log(expected / 100))
    assert fused_score({}, SPECS) == 0.0


def test_rank_group_uses_relative_members_and_ignores_missing() -> None:
    group = [
        {"sharp": (100.0, 0.9), "noise": (1.0, 1.0), "expo": (0.0, 1.0)},
        {"sharp": (50.0, 0.9), "noise": (1.0, 1.0), "expo": (0.0, 1.0)},  # half as sharp as the best
        {"sharp": (100.0, 0.9), "noise": (1.0, 1.0), "expo": (1.5, 1.0)},  # off the burst's exposure
        {"sharp": (100.0, 0.9), "noise": (9.0, 0.2), "expo": (0.0, 1.0)},  # noisy
        {"sharp": (100.0, 0.9), "expo": (0.0, 1.0)},  # the member that most shots have did not apply
    ]
    scores, ranks, eff, *_rest = rank_group(group, SPECS, tiebreak=["a", "b", "c", "d", "e"])
    assert eff[1]["sharp"] == pytest.approx(0.45)
    assert eff[2]["expo"] < 0.05
    assert eff[4]["noise"] == pytest.approx(0.2)  # no better than the worst shot that has it
    assert ranks[0] == 1 and ranks[3] == ranks[4] - 1  # equal scores: the tiebreak decides, deterministically
    assert sorted(ranks) == [1, 2, 3, 4, 5] and scores[0] == max(scores)
    # a member that only a minority of the group has (a face "found" in 1 of 3 frames) is dropped
    few = [{"sharp": (100.0, 0.9)}, {"sharp": (100.0, 0.9)}, {"sharp": (100.0, 0.9), "noise": (9.0, 0.2)}]
    assert all("noise" not in e for e in rank_group(few, SPECS)[2])
    single = rank_group([group[1]], SPECS)
    assert single[1] == [1] and single[2][0]["sharp"] == pytest.approx(0.9)


def test_explain_record_is_keyed_by_name_with_a_weight_zero_member() -> None:
    """A weight-0 member used to shift every later member's contribution by one place."""
    specs = {"a": MemberSpec("a", 1.0), "zero": MemberSpec("zero", 0.0), "b": MemberSpec("b", 1.0)}
    shot = {"a": (1.0, 0.9), "zero": (1.0, 0.1), "b": (1.0, 0.5)}
    rec = rank_group([shot], specs).explain[0]
    assert set(rec) == {"a", "zero", "b"}
    assert rec["zero"]["contribution"] == 0.0 and rec["zero"]["weight"] == 0.0
    assert rec["b"]["contribution"] == pytest.approx(math.log(0.5) / 2)
    assert rec["a"]["contribution"] == pytest.approx(math.log(0.9) / 2)
    assert rec["b"]["quality"] == pytest.approx(0.5)


def test_regroup_stores_the_explain_record_by_name(tmp_path: Path) -> None:
    import json

    import numpy as np

    from engine import grouping, pipeline

    cat = Catalog(tmp_path / "c.sqlite", tmp_path)
    specs = {"a": MemberSpec("a", 1.0), "zero": MemberSpec("zero", 0.0), "b": MemberSpec("b", 2.0)}
    emb = grouping.embed(np.full((64, 64, 3), 128, np.uint8)).tobytes()  # one scene: the same content
    for i, qb in enumerate((0.5, 0.9)):
        h = f"h{i}"
        cat.store_analysis(h, {"engine_version": "1", "embedding": emb, "n_faces": 0, "members": "[]"}, [],
                           {"a": (1.0, 0.9), "zero": (1.0, 0.1), "b": (1.0, qb)})
        cat.upsert_shot({"key": f"s{i}.jpg", "primary_path": f"s{i}.jpg", "hash": h, "status": "ok"})
    pipeline.regroup(cat, specs=specs)
    rec = json.loads(cat.shot("s0.jpg")["explain"])
    assert rec["zero"]["contribution"] == 0.0
    assert rec["b"]["contribution"] == pytest.approx(2 * math.log(0.5) / 3, rel=1e-6)
    assert cat.shot("s1.jpg")["rank"] == 1
    cat.close()


def test_scores_of_another_pack_model_are_never_fused(tmp_path: Path) -> None:
    """Cached scores are keyed by the member's cache identity (pack name + version + model sha)."""
    cat = Catalog(tmp_path / "c.sqlite", tmp_path)
    cat.store_analysis("h", {"engine_version": "1"}, [], {"pack:p": (1.0, 0.9), "noise": (1.0, 1.0)},
                       {"pack:p": "pack:p@1#aaaa", "noise": "noise"})
    assert cat.scores_by_hash({"pack:p": "pack:p@1#aaaa", "noise": "noise"})["h"] == {"pack:p": (1.0, 0.9), "noise": (1.0, 1.0)}
    assert cat.scores_by_hash({"pack:p": "pack:p@2#bbbb", "noise": "noise"})["h"] == {"noise": (1.0, 1.0)}
    cat.close()


def test_registry_builds_every_default_member() -> None:
    names = default_member_names()
    assert {"face_sharpness", "sharpness", "noise", "exposure", "clipping", "eyes_open", "motion_blur", "jpeg_artefacts"} <= set(names)
    for n in names:
        m = create_member(n)
        assert m.name == n and m.needs <= {"image", "faces"} and m.weight > 0
    with pytest.raises(ValueError, match="unknown quality member"):
        create_member("nope")
    assert set(names) <= set(available_members())


def test_catalog_decisions_are_validated_and_persist(tmp_path: Path) -> None:
    p = tmp_path / "c.sqlite"
    with Catalog(p, tmp_path) as cat:
        cat.set_decision("a.jpg", flag="pick", stars=4)
        cat.set_decision("a.jpg", label="Green")
        with pytest.raises(ValueError):
            cat.set_decision("a.jpg", stars=6)
        with pytest.raises(ValueError):
            cat.set_decision("a.jpg", flag="maybe")
        with pytest.raises(ValueError):
            cat.set_decision("a.jpg", label="Orange")
    with Catalog(p, readonly=True) as cat:
        d = cat.decision("a.jpg")
        assert (d.flag, d.stars, d.label) == ("pick", 4, "Green")
        assert cat.conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert cat.integrity_check() == []


def test_catalog_batch_decisions_are_atomic(tmp_path: Path) -> None:
    from engine.catalog import Decision

    p = tmp_path / "c.sqlite"
    with Catalog(p, tmp_path) as cat:
        cat.set_decisions(Decision(f"{i:04d}.jpg", "pick" if i % 2 else "reject", i % 6, None) for i in range(2000))
        cat.set_decisions([Decision("0001.jpg", None, 0, "Blue")])  # replaces the whole decision
        with pytest.raises(ValueError, match="stars"):  # one bad row: nothing of the batch is written
            cat.set_decisions([Decision("0002.jpg", None, 0, None), Decision("0003.jpg", "pick", 9, None)])
    with Catalog(p, readonly=True) as cat:
        ds = cat.decisions()
        assert len(ds) == 2000
        assert (ds["0001.jpg"].flag, ds["0001.jpg"].stars, ds["0001.jpg"].label) == (None, 0, "Blue")
        assert (ds["0002.jpg"].flag, ds["0002.jpg"].stars) == ("reject", 2)
        assert (ds["1999.jpg"].flag, ds["1999.jpg"].stars) == ("pick", 1999 % 6)


def test_catalog_refuses_newer_schema_and_garbage(tmp_path: Path) -> None:
    p = tmp_path / "c.sqlite"
    Catalog(p).set_meta("schema_version", "999")
    with pytest.raises(CatalogError, match="newer portrait-culler"):
        Catalog(p)
    junk = tmp_path / "junk.sqlite"
    junk.write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(CatalogError, match="not a usable catalog"):
        Catalog(junk)


def test_registry_loads_once_under_concurrent_first_use() -> None:
    # a fresh interpreter: the first use races in 4 threads (the GUI warms the registry up in a
    # background thread while its GUI thread may ask for member weights)
    import subprocess
    import sys

    code = (
        "import threading\n"
        "from engine.quality.registry import available_members, create_member\n"
        "out = []\n"
        "def go():\n"
        "    names = available_members()\n"
        "    out.append((tuple(names), create_member('sharpness').name))\n"
        "ts = [threading.Thread(target=go) for _ in range(4)]\n"
        "[t.start() for t in ts]; [t.join() for t in ts]\n"
        "assert len(out) == 4 and len(set(out)) == 1, out\n"
        "assert 'sharpness' in out[0][0] and any(n.startswith('pack:') for n in out[0][0]), out[0]\n"
        "print('ok', len(out[0][0]))\n"
    )
    root = Path(__file__).resolve().parents[2]
    r = subprocess.run([sys.executable, "-c", code], cwd=root, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0 and r.stdout.startswith("ok"), r.stderr
