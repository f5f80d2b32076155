"""Technical image signals: noise level, noise-robust sharpness, blockiness, motion blur, exposure.

All functions take luminance in [0, 1] (float32, sRGB-encoded) and are
vectorised with OpenCV/numpy.  Units are explicit: :func:`noise_sigma` (frame) returns
8-bit units, :func:`region_noise_sigma` (a face) the units of its input (0..1 here);
both use the one Immerkaer operator below and convert with :data:`TO_8BIT`.  Sharpness is *not* fooled by noise: the
variance of the Laplacian grows with noise, so the sharpest-looking frame of a
burst is often the noisiest.  Here the gradient energy is measured after a
light prefilter, the expected contribution of the estimated noise is
subtracted, and the result is normalised by local brightness so that an
exposure change alone does not read as a change of focus.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from functools import lru_cache

import numpy as np

IMMERKAER = np.array([[1, -2, 1], [-2, 4, -2], [1, -2, 1]], dtype=np.float32)
IMMERKAER_SCALE = float(np.sqrt(np.pi / 2.0) / 6.0)  # mean |response| -> noise sigma
TO_8BIT = 255.0  # 0..1 luminance -> 8-bit units
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
    g = gray.astype(np.float32, copy=False) * TO_8BIT
    r = _immerkaer_abs(g)
    est = _tiles(r, 16) * IMMERKAER_SCALE
    mean = _tiles(g, 16)
    # Mid-tone tiles: sensor noise grows with signal, and clipped or crushed tiles have none.
    ok = (mean > 40) & (mean < 215)
    if ok.sum() < 8:
        ok = (mean > 8) & (mean < 247)
    vals = est[ok] if ok.sum() >= 8 else est.ravel()
    return float(np.percentile(vals, 20))


def _immerkaer_abs(g: np.ndarray) -> np.ndarray:
    """|Immerkaer operator| of ``g`` (same units as ``g``)."""
    cv2 = _cv2()
    return np.abs(cv2.filter2D(g, cv2.CV_32F, IMMERKAER, borderType=cv2.BORDER_REFLECT))


def noise_gain(gradients) -> float:  # type: ignore[no-untyped-def]
    """Expected gradient energy gx^2 + gy^2 that unit-variance white noise leaves after
    ``gradients`` (a linear filter pair): the sum of the squared taps of its impulse response."""
    delta = np.zeros((41, 41), np.float32)
    delta[20, 20] = 1.0
    gx, gy = gradients(delta)
    return float((gx.astype(np.float64) ** 2).sum() + (gy.astype(np.float64) ** 2).sum())


@lru_cache(maxsize=4)
def _noise_gain(sigma_pre: float) -> float:
    """:func:`noise_gain` of the frame's prefiltered Sobel gradients."""
    cv2 = _cv2()
    return noise_gain(lambda d: _gradients(d, sigma_pre, cv2))


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
    noise_energy = _noise_gain(_PRE_SIGMA) * (sigma / TO_8BIT) ** 2
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
    g = gray.astype(np.float32, copy=False) * TO_8BIT
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


# ------------------------------------------------------------------------------- per-face signals


def gray_of(rgb: np.ndarray) -> np.ndarray:
    """Rec.601 luminance in [0, 1], float32."""
    img = rgb.astype(np.float32)
    return (0.299 * img[..., 0] + 0.587 * img[..., 1] + 0.114 * img[..., 2]) * np.float32(1 / 255)


_FACE_PRE_SIGMA = 1.0
_DERIV = np.array([[-0.5, 0.0, 0.5]], dtype=np.float32)
_LCB_K = 3.0
_EYE_WIN = (0.18, 0.12)  # Gaussian eye window sigma (x, y) in inter-ocular distances


def region_noise_sigma(gray: np.ndarray, edge_quantile: float = 0.8) -> float:
    """Immerkaer (1996) noise standard deviation of a grey region, in the units of ``gray``.

    Pixels on the strongest edges (Sobel magnitude above the ``edge_quantile``) are left
    out, so texture and edges inflate the estimate much less than in the plain method
    (a face is too small for the frame's flat-tile percentile of :func:`noise_sigma`).
    """
    cv2 = _cv2()
    g = np.ascontiguousarray(gray, dtype=np.float32)
    if g.shape[0] < 5 or g.shape[1] < 5:
        return 0.0
    lap = _immerkaer_abs(g)[1:-1, 1:-1]
    gx = cv2.Sobel(g, cv2.CV_32F, 1, 0, ksize=3)[1:-1, 1:-1]
    gy = cv2.Sobel(g, cv2.CV_32F, 0, 1, ksize=3)[1:-1, 1:-1]
    mag = gx * gx + gy * gy
    keep = mag <= np.quantile(mag, edge_quantile)
    vals = lap[keep] if keep.any() else lap.ravel()
    return float(IMMERKAER_SCALE * float(vals.mean()))


def _face_gradients(g: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    cv2 = _cv2()
    s = cv2.GaussianBlur(g, (7, 7), _FACE_PRE_SIGMA, borderType=cv2.BORDER_REFLECT)
    gx = cv2.filter2D(s, cv2.CV_32F, _DERIV, borderType=cv2.BORDER_REFLECT)
    gy = cv2.filter2D(s, cv2.CV_32F, _DERIV.T, borderType=cv2.BORDER_REFLECT)
    return gx, gy


@lru_cache(maxsize=1)
def _face_noise_gain() -> float:
    return noise_gain(_face_gradients)


def _patch(gray: np.ndarray, cx: float, cy: float, hw: float, hh: float, margin: int) -> tuple[np.ndarray, int, int]:
    """Crop around (cx, cy), half sizes hw, hh plus ``margin`` pixels; returns it and its origin.

    Near the image border the crop is clipped (the margin then holds reflected filter data).
    """
    h, w = gray.shape
    x0 = max(0, int(round(cx - hw)) - margin)
    y0 = max(0, int(round(cy - hh)) - margin)
    x1 = min(w, int(round(cx + hw)) + margin + 1)
    y1 = min(h, int(round(cy + hh)) + margin + 1)
    return gray[y0:y1, x0:x1], x0, y0


def eye_sharpness(gray: np.ndarray, landmarks: np.ndarray, sigma: float | None = None) -> float:
    """Noise-corrected gradient energy of both eye regions (see :mod:`engine.faces`).

    ``gray`` is the luminance image in [0, 1]; ``sigma`` its noise level in the same units
    (:func:`region_noise_sigma` over the face when None).  Returns a non-negative float,
    higher = sharper (unitless: sqrt energy / luminance x inter-ocular distance / 64 px).
    """
    lm = np.asarray(landmarks, dtype=np.float64).reshape(5, 2)
    iod = float(np.linalg.norm(lm[1] - lm[0]))
    if not np.isfinite(iod) or iod < 4:
        return 0.0
    if sigma is None:
        x0, y0 = lm[:, 0].min() - 0.3 * iod, lm[:, 1].min() - 0.4 * iod
        x1, y1 = lm[:, 0].max() + 0.3 * iod, lm[:, 1].max() + 0.3 * iod
        h, w = gray.shape
        face = gray[max(0, int(y0)) : min(h, int(y1) + 1), max(0, int(x0)) : min(w, int(x1) + 1)]
        sigma = region_noise_sigma(face)
    # Gaussian window around each eye landmark (smooth, so landmark jitter between shots of a
    # burst moves the measurement little): sigma 0.18 x 0.12 IOD, truncated at 2.5 sigma.
    sx, sy = _EYE_WIN[0] * iod, _EYE_WIN[1] * iod
    m = 5
    energy, lum, weights = [], [], []
    n_eff_pix = 0.0
    for e in lm[:2]:
        patch, x0, y0 = _patch(gray, e[0], e[1], 2.5 * sx, 2.5 * sy, m)
        if patch.shape[0] <= 2 * m + 2 or patch.shape[1] <= 2 * m + 2:
            continue
        gx, gy = _face_gradients(np.ascontiguousarray(patch, dtype=np.float32))
        inner = (slice(m, -m), slice(m, -m))
        ys = np.arange(y0 + m, y0 + patch.shape[0] - m, dtype=np.float64)
        xs = np.arange(x0 + m, x0 + patch.shape[1] - m, dtype=np.float64)
        wy = np.exp(-0.5 * ((ys - e[1]) / sy) ** 2)
        wx = np.exp(-0.5 * ((xs - e[0]) / sx) ** 2)
        wgt = wy[:, None] * wx[None, :]
        sw = float(wgt.sum())
        if sw <= 0:
            continue
        g2 = gx[inner].astype(np.float64) ** 2 + gy[inner].astype(np.float64) ** 2
        energy.append(float((wgt * g2).sum() / sw))
        lum.append(float((wgt * patch[inner]).sum() / sw))
        weights.append(sw)
        n_eff_pix += sw * sw / float((wgt * wgt).sum())
    if not energy:
        return 0.0
    e_total = float(np.average(energy, weights=weights))
    e_noise = _face_noise_gain() * sigma * sigma
    # Lower confidence bound: the signal x noise cross term fluctuates with standard deviation
    # ~ 2 sqrt(E_signal E_noise / N_eff) (N_eff: independent samples of the smoothed noise),
    # so a fresh noise draw could otherwise lift the estimate by a percent or two.
    n_eff = max(1.0, n_eff_pix / (4.0 * math.pi * _FACE_PRE_SIGMA**2))
    e_signal = max(0.0, e_total - e_noise - _LCB_K * 2.0 * math.sqrt(e_total * e_noise / n_eff))
    mean_lum = float(np.average(lum, weights=weights))
    return float(math.sqrt(e_signal) / (mean_lum + 0.05) * (iod / 64.0))


def box_region(arr: np.ndarray, box: Sequence[float], shrink: float = 0.0) -> np.ndarray:
    """The pixels of ``arr`` inside the x, y, w, h ``box`` shrunk by ``shrink`` of its size per side."""
    x, y, w, h = box
    x0, y0 = x + shrink * w, y + shrink * h
    x1, y1 = x + (1 - shrink) * w, y + (1 - shrink) * h
    H, W = arr.shape[:2]
    xs0, ys0 = int(max(0, math.floor(x0))), int(max(0, math.floor(y0)))
    xs1, ys1 = int(min(W, math.ceil(x1))), int(min(H, math.ceil(y1)))
    return arr[ys0:ys1, xs0:xs1]


def face_exposure(rgb: np.ndarray, box: Sequence[float]) -> tuple[float, float, float]:
    """(mean luminance 0..1 of the inner face box, clipped-high fraction, clipped-low fraction)
    of an RGB uint8 image; clipped: a channel >= 250 / every channel <= 5 (8-bit units)."""
    inner = box_region(rgb, box, shrink=0.15)
    whole = box_region(rgb, box)
    if inner.size == 0 or whole.size == 0:
        return float("nan"), 0.0, 0.0
    mean = float(gray_of(inner).mean())
    mx = whole.max(axis=2)
    return mean, float((mx >= 250).mean()), float((mx <= 5).mean())


def face_detail(gray_face: np.ndarray) -> float:
    """Sharpness of a whole face region (0..1 luminance): :func:`sharpness` on 16 px tiles,
    mean of the sharpest half, /1000 (unitless, like ``eye_sharpness``)."""
    if min(gray_face.shape[:2]) < 16:
        return 0.0
    g = np.ascontiguousarray(gray_face, dtype=np.float32)
    return sharpness(g, noise_sigma(g), top=0.5, tile=16) / 1000.0
