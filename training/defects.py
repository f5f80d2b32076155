"""Synthetic photographic defects at a controlled strength (pure numpy / OpenCV).

Every defect takes an RGB uint8 picture and a strength ``s`` in [0, 1] (0 = untouched) and returns
a new RGB uint8 picture of the same size.  Sizes are relative to the picture's short side, so a
strength means the same visible damage at any resolution.  Used for RankIQA-style pretraining
(ranked pairs: same photo, same defect, increasing strength) and to build the tiny PIQ23-layout
test dataset with known quality order.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

DEFECTS = ("defocus", "motion_blur", "noise", "underexpose", "overexpose", "jpeg")
# which PIQ23 attribute a defect degrades
DEFECT_ATTRIBUTE = {
    "defocus": "Details",
    "motion_blur": "Details",
    "noise": "Details",
    "jpeg": "Details",
    "underexpose": "Exposure",
    "overexpose": "Exposure",
}
# JOD-like loss of quality at strength 1 (used to derive scores of the tiny dataset)
DEFECT_JOD = {
    "defocus": 4.0,
    "motion_blur": 4.0,
    "noise": 3.0,
    "jpeg": 2.5,
    "underexpose": 3.0,
    "overexpose": 3.5,
}


def _check(rgb: np.ndarray, s: float) -> np.ndarray:
    a = np.asarray(rgb)
    if a.ndim != 3 or a.shape[2] != 3 or a.dtype != np.uint8:
        raise ValueError(f"expected an HxWx3 uint8 RGB picture, got {a.shape} {a.dtype}")
    if not 0.0 <= s <= 1.0:
        raise ValueError(f"defect strength must be in [0, 1], got {s}")
    return a


def _short(a: np.ndarray) -> int:
    return int(min(a.shape[:2]))


def _to_linear(a: np.ndarray) -> np.ndarray:
    return (a.astype(np.float32) / 255.0) ** 2.2


def _from_linear(x: np.ndarray) -> np.ndarray:
    return (np.clip(x, 0.0, 1.0) ** (1 / 2.2) * 255.0 + 0.5).astype(np.uint8)


def defocus(rgb: np.ndarray, s: float, rng: np.random.Generator | None = None) -> np.ndarray:
    """Out-of-focus blur: a disk kernel of radius up to 1.5 % of the short side."""
    import cv2

    a = _check(rgb, s)
    r = s * 0.015 * _short(a)
    if r < 0.5:
        return a.copy()
    k = int(np.ceil(r))
    yy, xx = np.mgrid[-k : k + 1, -k : k + 1]
    disk = np.clip(r + 0.5 - np.sqrt(xx**2 + yy**2), 0.0, 1.0).astype(np.float32)
    disk /= disk.sum()
    out = cv2.filter2D(_to_linear(a), -1, disk, borderType=cv2.BORDER_REFLECT)
    return _from_linear(out)


def motion_blur(rgb: np.ndarray, s: float, rng: np.random.Generator | None = None, angle: float | None = None) -> np.ndarray:
    """Camera shake: a line kernel of length up to 3 % of the short side at ``angle`` degrees."""
    import cv2

    a = _check(rgb, s)
    length = s * 0.03 * _short(a)
    if length < 1.0:
        return a.copy()
    if angle is None:
        angle = float((rng or np.random.default_rng(0)).uniform(0, 180))
    k = int(np.ceil(length)) | 1
    line = np.zeros((k, k), np.float32)
    line[k // 2, :] = 1.0
    m = cv2.getRotationMatrix2D((k / 2 - 0.5, k / 2 - 0.5), angle, 1.0)
    kern: np.ndarray = np.asarray(cv2.warpAffine(line, m, (k, k)), np.float32)
    kern /= max(float(kern.sum()), 1e-6)
    out = cv2.filter2D(_to_linear(a), -1, kern, borderType=cv2.BORDER_REFLECT)
    return _from_linear(out)


def noise(rgb: np.ndarray, s: float, rng: np.random.Generator | None = None) -> np.ndarray:
    """Sensor noise: signal-dependent (shot) plus constant (read) noise, mostly luminance."""
    a = _check(rgb, s)
    if s <= 0:
        return a.copy()
    rng = rng or np.random.default_rng(0)
    x = a.astype(np.float32) / 255.0
    h, w = a.shape[:2]
    sigma = s * (0.02 + 0.10 * np.sqrt(np.clip(x.mean(axis=2, keepdims=True), 0, 1)))
    lum = rng.standard_normal((h, w, 1)).astype(np.float32)
    chroma = rng.standard_normal((h, w, 3)).astype(np.float32)
    x = x + sigma * (0.8 * lum + 0.4 * chroma)
    return (np.clip(x, 0, 1) * 255.0 + 0.5).astype(np.uint8)


def underexpose(rgb: np.ndarray, s: float, rng: np.random.Generator | None = None) -> np.ndarray:
    """Up to 4 stops under, in linear light."""
    a = _check(rgb, s)
    return _from_linear(_to_linear(a) * 2.0 ** (-4.0 * s))


def overexpose(rgb: np.ndarray, s: float, rng: np.random.Generator | None = None) -> np.ndarray:
    """Up to 2.5 stops over, in linear light, clipped highlights."""
    a = _check(rgb, s)
    return _from_linear(_to_linear(a) * 2.0 ** (2.5 * s))


def jpeg(rgb: np.ndarray, s: float, rng: np.random.Generator | None = None) -> np.ndarray:
    """JPEG compression, quality 95 (s = 0) down to 4 (s = 1)."""
    import cv2

    a = _check(rgb, s)
    if s <= 0:
        return a.copy()
    q = int(round(95 - 91 * s))
    ok, buf = cv2.imencode(".jpg", a[:, :, ::-1], [cv2.IMWRITE_JPEG_QUALITY, q])
    if not ok:  # pragma: no cover
        raise RuntimeError("JPEG encoding failed")
    dec = cv2.imdecode(buf, cv2.IMREAD_COLOR)
    if dec is None:  # pragma: no cover
        raise RuntimeError("JPEG decoding failed")
    return np.ascontiguousarray(dec[:, :, ::-1])


DEFECT_FUNCS: dict[str, Callable[..., np.ndarray]] = {
    "defocus": defocus,
    "motion_blur": motion_blur,
    "noise": noise,
    "underexpose": underexpose,
    "overexpose": overexpose,
    "jpeg": jpeg,
}


def apply_defect(rgb: np.ndarray, kind: str, s: float, rng: np.random.Generator | None = None) -> np.ndarray:
    try:
        f = DEFECT_FUNCS[kind]
    except KeyError:
        raise ValueError(f"unknown defect {kind!r}; use one of {', '.join(DEFECTS)}") from None
    return f(rgb, float(s), rng)


def apply_defects(rgb: np.ndarray, strengths: dict[str, float], rng: np.random.Generator | None = None) -> np.ndarray:
    """Several defects in a fixed physical order: exposure, blur, noise, then JPEG."""
    out = np.asarray(rgb)
    for kind in ("underexpose", "overexpose", "defocus", "motion_blur", "noise", "jpeg"):
        s = strengths.get(kind, 0.0)
        if s > 0:
            out = apply_defect(out, kind, s, rng)
    return out if out is not rgb else out.copy()


def jod_penalty(strengths: dict[str, float], attribute: str = "Overall") -> float:
    """JOD-like quality loss of a set of defect strengths for a PIQ23 attribute (>= 0)."""
    total = 0.0
    for kind, s in strengths.items():
        if attribute in ("Overall", DEFECT_ATTRIBUTE[kind]):
            total += DEFECT_JOD[kind] * float(s)
    return total
