"""The focus map and focus peaking find the sharp part of a frame, and noise does not fool them."""

from __future__ import annotations

import numpy as np

from engine.focusmap import focus_map, peaking_mask


def _frame(noise: float = 0.0) -> np.ndarray:
    """Left half: sharp texture; right half: the same texture defocused (plus noise)."""
    import cv2

    rng = np.random.default_rng(1)
    tex = (rng.random((320, 480)) > 0.5).astype(np.float32)
    tex = cv2.resize(cv2.resize(tex, (120, 80), interpolation=cv2.INTER_AREA), (480, 320),
                     interpolation=cv2.INTER_NEAREST) * 160 + 50
    soft = cv2.GaussianBlur(tex, (0, 0), 6.0)
    img = np.concatenate([tex[:, :240], soft[:, 240:]], axis=1)
    img = img + rng.normal(0, noise, img.shape)
    return np.repeat(np.clip(img, 0, 255).astype(np.uint8)[..., None], 3, axis=2)


def test_focus_map_shows_where_the_frame_is_sharp() -> None:
    for noise in (0.0, 12.0):  # strong sensor noise on the soft half does not read as focus
        fm = focus_map(_frame(noise), tile=16)
        rows, cols = fm.relative.shape
        assert (rows, cols) == (20, 30) and fm.size == (480, 320)
        left, right = fm.relative[:, : cols // 2 - 1], fm.relative[:, cols // 2 + 1:]
        assert left.mean() > 0.6 and right.mean() < 0.25 * left.mean(), (noise, left.mean(), right.mean())
        assert fm.at(0.1, 0.5) > fm.at(0.9, 0.5)
        assert float(fm.relative.max()) <= 1.0


def test_peaking_marks_the_in_focus_edges() -> None:
    m = peaking_mask(_frame(8.0))
    assert m.shape == (320, 480) and m.dtype == bool
    left, right = m[:, :230].mean(), m[:, 250:].mean()
    assert left > 0.02 and right < 0.1 * left, (left, right)
    assert peaking_mask(_frame(8.0), level=1.0).sum() < m.sum()  # a higher level keeps fewer edges
