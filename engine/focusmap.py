"""Where a frame is sharp: a focus map and a focus-peaking mask (no Qt, no torch).

Both use the engine's noise-corrected sharpness (:func:`engine.quality.signals.sharpness_map`):
gradient energy after a light prefilter, minus what the frame's estimated sensor noise
contributes, normalised by local brightness, so a noisy or brighter patch does not read as
"in focus".  The viewer draws them over the photograph:

* :func:`focus_map`: the sharpness of small tiles (about 1/40 of the long side), relative to
  the frame's sharpest tiles (0..1), for a heat map that shows at a glance whether focus sits
  on the eyes;
* :func:`peaking_mask`: the pixels of in-focus edges (the classic focus-peaking overlay): edge
  strength above both a noise floor and the frame's own strong-edge level.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from engine.quality.signals import noise_sigma, sharpness_map


@dataclass(frozen=True)
class FocusMap:
    relative: np.ndarray  # float32 (rows, cols) in 0..1: each tile against the sharpest tiles
    sharpness: np.ndarray  # float32 (rows, cols): the engine's noise-corrected sharpness, x1000
    tile: int  # tile side in pixels of the image it was computed on
    size: tuple[int, int]  # (width, height) of that image

    def at(self, rx: float, ry: float) -> float:
        """Relative sharpness at a point given relative to the image (0..1)."""
        rows, cols = self.relative.shape
        w, h = self.size
        c = min(cols - 1, max(0, int(rx * w) // self.tile))
        r = min(rows - 1, max(0, int(ry * h) // self.tile))
        return float(self.relative[r, c])


def _gray(rgb: np.ndarray) -> np.ndarray:
    """Luminance in 0..1 (sRGB-encoded, as the engine's signals take it)."""
    a = np.asarray(rgb)
    if a.ndim == 2:
        return a.astype(np.float32) / 255.0
    return (a[..., 0] * 0.299 + a[..., 1] * 0.587 + a[..., 2] * 0.114).astype(np.float32) / 255.0


def focus_map(rgb: np.ndarray, tile: int | None = None) -> FocusMap:
    """The frame's focus map; ``tile`` defaults to about 1/40 of the long side (at least 8 px)."""
    g = _gray(rgb)
    h, w = g.shape
    if tile is None:
        tile = max(8, int(round(max(h, w) / 40)))
    m = sharpness_map(g, noise_sigma(g), tile).astype(np.float32) * 1000.0
    # relative to the sharpest few tiles (not the single sharpest: one specular highlight)
    ref = float(np.percentile(m, 98)) if m.size else 0.0
    rel = np.clip(m / ref, 0.0, 1.0) if ref > 0 else np.zeros_like(m)
    return FocusMap(rel.astype(np.float32), m, tile, (w, h))


def _edges(g: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(gradient magnitude after a light prefilter, the prefiltered image)."""
    import cv2

    blur = cv2.GaussianBlur(g, (0, 0), 1.0, borderType=cv2.BORDER_REFLECT)
    gx = cv2.Sobel(blur, cv2.CV_32F, 1, 0, ksize=3, scale=0.125, borderType=cv2.BORDER_REFLECT)
    gy = cv2.Sobel(blur, cv2.CV_32F, 0, 1, ksize=3, scale=0.125, borderType=cv2.BORDER_REFLECT)
    return np.sqrt(gx * gx + gy * gy), blur


@lru_cache(maxsize=1)
def _unit_noise_edge() -> float:
    """RMS edge magnitude that unit white noise leaves after the prefilter (measured once)."""
    n = np.random.default_rng(0).standard_normal((256, 256)).astype(np.float32)
    mag, _ = _edges(n)
    return float(np.sqrt(np.mean(mag[8:-8, 8:-8] ** 2)))


def peaking_mask(rgb: np.ndarray, level: float = 0.5) -> np.ndarray:
    """Boolean (H, W): the in-focus edges.  ``level`` in 0..1 (higher: only the crispest edges)."""
    g = _gray(rgb)
    sigma = noise_sigma(g) / 255.0
    edge, blur = _edges(g)
    mag = edge / (blur + 0.1)
    # what the frame's own noise reaches (4 sigma of its edge response), brightness-normalised
    noise_floor = 4.0 * sigma * _unit_noise_edge() / (float(blur.mean()) + 0.1)
    strong = float(np.percentile(mag, 99.5)) if mag.size else 0.0
    level = float(np.clip(level, 0.0, 1.0))
    thr = max(noise_floor, strong * (0.25 + 0.5 * level))
    return np.asarray(mag > thr)
