"""Technical signals and grouping into scenes."""

from __future__ import annotations

import numpy as np
import pytest

from engine import demo
from engine.grouping import GroupItem, embed, group_shots
from engine.quality import signals


@pytest.fixture(scope="module")
def sources() -> dict[str, np.ndarray]:
    return demo.demo_sources(600)


def _gray(rgb: np.ndarray) -> np.ndarray:
    return (rgb.astype(np.float32) @ np.array([0.299, 0.587, 0.114], np.float32)) / 255.0


def test_sharpness_is_not_fooled_by_noise_but_drops_with_blur(sources: dict[str, np.ndarray]) -> None:
    rgb = sources["astronaut"]
    clean = signals.sharpness(_gray(rgb))
    for lv in (1, 2, 3):
        noisy = demo.noise(rgb, lv)
        # Plain variance of the Laplacian *rises* with noise ...
        import cv2

        lap = lambda g: float(cv2.Laplacian(g, cv2.CV_32F).var())  # noqa: E731
        assert lap(_gray(noisy)) > lap(_gray(rgb))
        # ... the noise-corrected measure does not.
        assert signals.sharpness(_gray(noisy)) <= clean * 1.02
    blurred = [signals.sharpness(_gray(demo.defocus(rgb, lv))) for lv in (1, 2, 3)]
    assert clean > blurred[0] > blurred[1] > blurred[2]


def test_noise_sigma_tracks_added_noise(sources: dict[str, np.ndarray]) -> None:
    rgb = sources["coffee"]
    sig = [signals.noise_sigma(_gray(rgb))] + [signals.noise_sigma(_gray(demo.noise(rgb, lv))) for lv in (1, 2, 3)]
    assert sig == sorted(sig) and sig[0] < 2.0 and sig[3] > 5.0


def test_blockiness_grows_with_compression(sources: dict[str, np.ndarray]) -> None:
    rgb = sources["astronaut"]
    b = [signals.blockiness(_gray(rgb), 8)] + [signals.blockiness(_gray(demo.jpeg(rgb, lv)), 8) for lv in (1, 2, 3)]
    assert all(x is not None for x in b)
    assert b == sorted(b)  # type: ignore[type-var]
    assert signals.blockiness(_gray(rgb), None) is None


def test_exposure_ev_and_clipping(sources: dict[str, np.ndarray]) -> None:
    rgb = sources["astronaut"]
    evs = [signals.exposure_ev(_gray(demo.exposure(rgb, e))) for e in (-1.6, -0.8, 0, 0.8)]
    assert evs == sorted(evs)
    hi = [signals.clipping(_gray(demo.over(rgb, lv)))[0] for lv in (1, 2, 3)]
    assert hi == sorted(hi) and hi[2] > 0.1


def _items(frames: list[tuple[np.ndarray, float | None, str]]) -> list[GroupItem]:
    return [GroupItem(f"f{i:03d}", ts, cam, ts is not None, embed(rgb)) for i, (rgb, ts, cam) in enumerate(frames)]


def _burst(rgb: np.ndarray) -> list[np.ndarray]:
    return [demo.apply_defect(rgb, d, lv) for d, lv in demo.burst_plan()]


def test_grouping_scenarios(sources: dict[str, np.ndarray]) -> None:
    a, b, c = (sources[k] for k in ("astronaut", "coffee", "chelsea"))
    # (a) a burst split by a two-minute pause stays one scene
    frames = [(x, 1000 + i * 0.3, "cam1") for i, x in enumerate(_burst(a)[:8])]
    frames += [(x, 1130 + i * 0.3, "cam1") for i, x in enumerate(_burst(a)[8:])]
    assert len(set(group_shots(_items(frames)))) == 1
    # (b) two set-ups shot seconds apart are split
    frames = [(x, 1000 + i * 0.3, "cam1") for i, x in enumerate(_burst(a))]
    frames += [(x, 1008 + i * 0.3, "cam1") for i, x in enumerate(_burst(b))]
    labels = group_shots(_items(frames))
    assert labels == [0] * 19 + [1] * 19
    # (c) no EXIF at all: by content alone
    frames = [(x, None, "") for x in _burst(c) + _burst(a) + _burst(c)[:3]]
    labels = group_shots(_items(frames))
    assert len(set(labels)) == 2 and labels[:19] == [labels[0]] * 19 and labels[-3:] == [labels[0]] * 3
    # (d) two cameras whose clocks disagree by an hour still group by content
    frames = [(x, 1000 + i, "cam1") for i, x in enumerate(_burst(a)[:10])]
    frames += [(x, 4600 + i, "cam2") for i, x in enumerate(_burst(a)[10:])]
    frames += [(x, 1020 + i, "cam1") for i, x in enumerate(_burst(b)[:5])]
    labels = group_shots(_items(frames))
    assert len(set(labels[:19])) == 1 and set(labels[19:]) != set(labels[:19])


def test_grouping_is_deterministic_and_sensitivity_splits_more(sources: dict[str, np.ndarray]) -> None:
    rgbs = [demo.apply_defect(s, d, lv) for s in sources.values() for d, lv in demo.burst_plan()[:7]]
    items = _items([(x, None, "") for x in rgbs])
    assert group_shots(items, 0.5) == group_shots(list(items), 0.5)
    counts = [len(set(group_shots(items, s))) for s in (0.0, 0.5, 1.0)]
    assert counts[0] <= counts[1] <= counts[2]
    assert counts[1] == 3
