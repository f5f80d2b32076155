"""Sparse grouping (issue 14): the same scenes as full average linkage, without an N x N matrix."""

from __future__ import annotations

import tracemalloc

import numpy as np
import pytest

from engine import demo, grouping
from engine.grouping import GroupItem, embed, group_shots


def dense_reference(items: list[GroupItem], sensitivity: float = 0.5) -> list[int]:
    """Full average linkage on the N x N combined distance (the algorithm before issue 14)."""
    from scipy.cluster.hierarchy import fcluster, linkage
    from scipy.spatial.distance import squareform

    n = len(items)
    frames = grouping._Frames(items)
    idx = np.arange(n)
    d = frames.block(idx, idx)
    d = np.maximum((d + d.T) / 2.0, 0.0)
    np.fill_diagonal(d, 0.0)
    labels = fcluster(linkage(squareform(d, checks=False), method="average"), t=grouping.threshold_for(sensitivity), criterion="distance")
    order = sorted(range(n), key=lambda i: (items[i].ts if items[i].ts is not None else float("inf"), items[i].key))
    remap: dict[int, int] = {}
    out = [0] * n
    for i in order:
        out[i] = remap.setdefault(int(labels[i]), len(remap))
    return out


def ari(a: list[int], b: list[int]) -> float:
    """Adjusted Rand index of two labelings."""
    from math import comb

    pairs: dict[tuple[int, int], int] = {}
    for x, y in zip(a, b):
        pairs[(x, y)] = pairs.get((x, y), 0) + 1
    sa = sum(comb(c, 2) for c in np.bincount(a).tolist())
    sb = sum(comb(c, 2) for c in np.bincount(b).tolist())
    s = sum(comb(c, 2) for c in pairs.values())
    expected = sa * sb / comb(len(a), 2)
    top = (sa + sb) / 2 - expected
    return 1.0 if top == 0 else (s - expected) / top


@pytest.fixture(scope="module")
def sessions() -> dict[str, list[GroupItem]]:
    src = demo.demo_sources(400)
    a, b, c = (src[k] for k in ("astronaut", "coffee", "chelsea"))
    burst = {k: [embed(demo.apply_defect(v, d, lv)) for d, lv in demo.burst_plan()] for k, v in src.items()}
    ea, eb, ec = burst["astronaut"], burst["coffee"], burst["chelsea"]
    del a, b, c
    out: dict[str, list[GroupItem]] = {}
    # the README's demo session: three bursts of one camera, 10 s apart, 0.25 s between frames
    out["demo"] = [GroupItem(f"IMG_{s + 1}_{i:04d}.jpg", 1000 + 10 * s + 0.25 * i, "Demo|Burst 1|", True, e)
                   for s, em in enumerate((ea, eb, ec)) for i, e in enumerate(em)]  # fmt: skip
    # two cards (folders), two cameras an hour apart, a pause, no-EXIF frames in a third folder
    items = [GroupItem(f"A/a{i:03d}.jpg", 1000 + i, "cam1", True, e) for i, e in enumerate(ea[:10] + eb)]
    items += [GroupItem(f"B/b{i:03d}.jpg", 4600 + i, "cam2", True, e) for i, e in enumerate(ea[10:] + ec)]
    items += [GroupItem(f"A/a{100 + i:03d}.jpg", 9000 + i, "cam1", True, e) for i, e in enumerate(eb[:6])]
    items += [GroupItem(f"C/c{i:03d}.jpg", None, "", False, e) for i, e in enumerate(ec[5:] + ea[:4])]
    out["cards"] = items
    return out


@pytest.mark.parametrize("name", ["demo", "cards"])
@pytest.mark.parametrize("sensitivity", [0.0, 0.5, 1.0])
def test_sparse_grouping_matches_full_average_linkage(sessions: dict[str, list[GroupItem]], name: str, sensitivity: float, monkeypatch: pytest.MonkeyPatch) -> None:
    items = sessions[name]
    ref = dense_reference(items, sensitivity)
    assert group_shots(items, sensitivity) == ref
    # the approximate (HNSW) index that large sessions use gives the same scenes
    monkeypatch.setattr(grouping, "EXACT_MAX", 8)
    assert group_shots(items, sensitivity) == ref
    if name == "demo" and sensitivity == 0.5:
        truth = [i // 19 for i in range(len(items))]
        assert ari(group_shots(items, sensitivity), truth) == pytest.approx(1.0)


def synthetic_items(n: int, scene: int = 20, seed: int = 0) -> list[GroupItem]:
    """Descriptors of n frames in scenes of ``scene`` (one random layout + colour each, small frame noise),
    on three cameras with EXIF times: bursts 0.3 s apart, scenes 40 s apart."""
    rng = np.random.default_rng(seed)
    n_scenes = -(-n // scene)
    base_lum = rng.standard_normal((n_scenes, grouping.N_LUM))
    base_ch = rng.uniform(0.25, 0.42, (n_scenes, 2 * grouping.CHROMA_SIZE**2))
    items = []
    for i in range(n):
        s = i // scene
        lum = base_lum[s] + 0.25 * rng.standard_normal(grouping.N_LUM)
        lum -= lum.mean()
        lum /= np.linalg.norm(lum)
        ch = base_ch[s] + 0.002 * rng.standard_normal(base_ch.shape[1])
        cam = s % 3
        items.append(GroupItem(f"card{cam}/IMG_{i:06d}.jpg", 1e6 + s * 40.0 + (i % scene) * 0.3, f"cam{cam}", True,
                               np.concatenate([lum, ch]).astype(np.float32)))  # fmt: skip
    return items


def test_grouping_memory_is_not_quadratic() -> None:
    items = synthetic_items(4000)
    assert group_shots(items[:400]) == dense_reference(items[:400])
    tracemalloc.start()
    try:
        labels = group_shots(items)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert len(set(labels)) == 200 and labels[:20] == [0] * 20
    # one dense float64 4000 x 4000 matrix alone is 128 MB
    assert peak < 50e6, f"grouping 4000 frames peaked at {peak / 1e6:.0f} MB"
