"""Technical image signals: noise level, noise-robust sharpness, blockiness, motion blur, exposure.

All functions take luminance in [0, 1] (float32, sRGB-encoded) and are
vectorised with OpenCV/numpy.  Sharpness is *not* fooled by noise: the
variance of the Laplacian grows with noise, so the sharpest-looking frame of a
burst is often the noisiest.  Here the gradient energy is measured after a
light prefilter, the expected contribution of the estimated noise is
subtracted, and the result is normalised by local brightness so that an
exposure change alone does not read as a change of focus.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

_IMMERKAER = np.array([[1, -2, 1], [-2, 4, -2], [1, -2, 1]], dtype=np.float32)
_PRE_SIGMA = 1.0
TILE = 48


def _cv2():  # type: ignore[no-untyped-def]
    import cv2

    cv2.setNumThreads(1)
    return cv2


def _tiles(a: np.ndarray, t: int) -> np.ndarray:
    """Mean of ``a`` over non-overlapping t x t tiles -> (H//t, W//t)."""
    h, w = (a.shape[0] // t) * t, (a.shape[1] // t) * t
    if h == 0 or w == 0:
        return np.array([[float(a.mean())]], dtype=np.float32)
    return a[:h, :w].reshape(h // t, t, w // t, t).mean(axis=(1, 3))


def noise_sigma(gray: np.ndarray) -> float:
    """Noise standard deviation in 8-bit units (Immerkær's operator on the flattest tiles).

    The operator is blind to linear structure; taking a low percentile of
    per-tile estimates over unclipped tiles keeps textures from being read as noise.
    """
    cv2 = _cv2()
    g = gray.astype(np.float32, copy=False) * 255.0
    r = np.abs(cv2.filter2D(g, cv2.CV_32F, _IMMERKAER, borderType=cv2.BORDER_REFLECT))
    est = _tiles(r, 16) * (np.sqrt(np.pi / 2.0) / 6.0)
    mean = _tiles(g, 16)
    # Mid-tone tiles: sensor noise grows with signal, and clipped or crushed tiles have none.
    ok = (mean > 40) & (mean < 215)
    if ok.sum() < 8:
        ok = (mean > 8) & (mean < 247)
    vals = est[ok] if ok.sum() >= 8 else est.ravel()
    return float(np.percentile(vals, 20))


@lru_cache(maxsize=4)
def _noise_gain(sigma_pre: float) -> float:
    """Gradient energy that unit white noise leaves after the prefilter (measured once)."""
    cv2 = _cv2()
    rng = np.random.default_rng(0)
    n = rng.standard_normal((256, 256)).astype(np.float32)
    gx, gy = _gradients(n, sigma_pre, cv2)
    return float(np.mean(gx[8:-8, 8:-8] ** 2 + gy[8:-8, 8:-8] ** 2))


def _gradients(g: np.ndarray, sigma_pre: float, cv2):  # type: ignore[no-untyped-def]
    if sigma_pre > 0:
        g = cv2.GaussianBlur(g, (0, 0), sigma_pre, borderType=cv2.BORDER_REFLECT)
    gx = cv2.Sobel(g, cv2.CV_32F, 1, 0, ksize=3, scale=0.125, borderType=cv2.BORDER_REFLECT)
    gy = cv2.Sobel(g, cv2.CV_32F, 0, 1, ksize=3, scale=0.125, borderType=cv2.BORDER_REFLECT)
    return gx, gy


def sharpness_map(gray: np.ndarray, sigma: float | None = None, tile: int = TILE) -> np.ndarray:
    """Per-tile noise-corrected, brightness-normalised gradient energy (sqrt), shape (H//tile, W//tile)."""
    cv2 = _cv2()
    g = gray.astype(np.float32, copy=False)
    if sigma is None:
        sigma = noise_sigma(g)
    gx, gy = _gradients(g, _PRE_SIGMA, cv2)
    energy = _tiles(gx * gx + gy * gy, tile)
    noise_energy = _noise_gain(_PRE_SIGMA) * (sigma / 255.0) ** 2
    corrected = np.maximum(energy - 1.5 * noise_energy, 0.0)
    mean = _tiles(g, tile)
    return np.sqrt(corrected) / (mean + 0.1)


def sharpness(gray: np.ndarray, sigma: float | None = None, top: float = 0.1, tile: int = TILE) -> float:
    """Sharpness of the sharpest ``top`` fraction of the frame (the subject, not the bokeh), x1000."""
    m = sharpness_map(gray, sigma, tile).ravel()
    k = max(1, int(round(m.size * top)))
    return float(np.mean(np.sort(m)[-k:]) * 1000.0)


def blockiness(gray: np.ndarray, period: float | None) -> float | None:
    """JPEG blocking: excess of luminance steps on the block grid over steps elsewhere.

    ``period`` is the block size in pixels of ``gray`` (8 at full scale, 4 after
    DCT scaling by 1/2); None when the grid is not visible.  The value is the
    mean excess step (8-bit units) at the grid phase; noise adds equally to every
    phase, so it does not hide blocking.  About 0 for clean images.
    """
    if period is None or period < 4 or abs(period - round(period)) > 1e-6:
        return None
    p = int(round(period))
    g = gray.astype(np.float32, copy=False) * 255.0
    scores = []
    for d in (np.abs(np.diff(g, axis=1)).mean(axis=0), np.abs(np.diff(g, axis=0)).mean(axis=1)):
        n = (d.size // p) * p
        if n < 4 * p:
            return None
        prof = d[:n].reshape(-1, p).mean(axis=0)  # mean step at each phase of the grid
        k = int(np.argmax(prof))
        others = np.delete(prof, k)
        scores.append(prof[k] - np.median(others))
    return float(max(0.0, float(np.mean(scores))))


def motion_blur(gray: np.ndarray, tile: int = TILE) -> float:
    """Directional blur: energy-weighted coherence of the gradient structure tensor (0 isotropic .. 1)."""
    cv2 = _cv2()
    g = cv2.resize(gray.astype(np.float32, copy=False), None, fx=0.5, fy=0.5, interpolation=cv2.INTER_AREA)
    gx, gy = _gradients(g, 0.8, cv2)
    t = max(8, tile // 2)
    jxx, jyy, jxy = _tiles(gx * gx, t), _tiles(gy * gy, t), _tiles(gx * gy, t)
    # Sum the tensors of the most textured tiles: a consistent blur direction across the frame is motion.
    tr = jxx + jyy
    k = max(1, int(tr.size * 0.3))
    idx = np.argsort(tr.ravel())[-k:]
    a, b, c = jxx.ravel()[idx].sum(), jyy.ravel()[idx].sum(), jxy.ravel()[idx].sum()
    disc = np.sqrt((a - b) ** 2 + 4 * c * c)
    return float(disc / (a + b + 1e-12))


def srgb_to_linear(v: np.ndarray | float) -> np.ndarray | float:
    v = np.asarray(v, dtype=np.float32)
    out = np.where(v <= 0.04045, v / 12.92, ((v + 0.055) / 1.055) ** 2.4)
    return out if out.ndim else float(out)


def exposure_ev(gray_region: np.ndarray) -> float:
    """Exposure of a region in EV relative to middle grey (0 = mean linear luminance of 18%)."""
    lin = float(np.mean(srgb_to_linear(gray_region)))
    return float(np.log2(max(lin, 1e-4) / 0.18))


def clipping(gray_region: np.ndarray, pool: int = 4) -> tuple[float, float]:
    """Fractions of (highlight, shadow) clipped area.

    Measured on ``pool`` x ``pool`` area averages, so that noise around a
    clipped highlight does not make it look unclipped.
    """
    cv2 = _cv2()
    g = gray_region.astype(np.float32, copy=False)
    if pool > 1 and min(g.shape) >= 4 * pool:
        g = cv2.resize(g, (g.shape[1] // pool, g.shape[0] // pool), interpolation=cv2.INTER_AREA)
    return float(np.mean(g >= 0.98)), float(np.mean(g <= 0.02))
