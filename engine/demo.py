"""Known defects at known strengths, and demo sessions built from them.

The demo session (``culler demo``) is generated from public-domain photographs
that ship inside scikit-image (``astronaut``: NASA, public domain; ``coffee``
and ``chelsea``: CC0), so nothing is downloaded.  Each burst holds a clean
frame and the same frame with defocus, motion blur, sensor noise, under- and
over-exposure and JPEG artefacts at increasing strength, so the ranking can be
checked against ground truth.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

import numpy as np

DEFECTS = ("defocus", "motion", "noise", "under", "over", "jpeg")
LEVELS = (1, 2, 3)


def _cv2():  # type: ignore[no-untyped-def]
    import cv2

    return cv2


def _lin(rgb: np.ndarray) -> np.ndarray:
    from engine.quality.signals import srgb_to_linear

    return np.asarray(srgb_to_linear(rgb.astype(np.float32) / 255.0))


def _srgb(lin: np.ndarray) -> np.ndarray:
    lin = np.clip(lin, 0.0, 1.0)
    v = np.where(lin <= 0.0031308, lin * 12.92, 1.055 * np.power(lin, 1 / 2.4) - 0.055)
    return np.clip(v * 255.0 + 0.5, 0, 255).astype(np.uint8)


def close_eyes(rgb: np.ndarray, landmarks: np.ndarray) -> np.ndarray | None:
    """The face with both eyes shut: each eye (``landmarks[:2]``, RetinaFace order) replaced by
    cheek skin from below it (Poisson-blended) plus a thin lash line.  None when an eye sits
    too near the border to take the skin patch."""
    cv2 = _cv2()
    out = rgb.copy()
    iod = float(np.linalg.norm(landmarks[1] - landmarks[0]))
    for ex, ey in landmarks[:2]:
        w, h = int(iod * 0.45), int(iod * 0.22)
        cx, cy = int(ex), int(ey)
        sy = int(cy + iod * 0.38)
        src = rgb[sy - h : sy + h, cx - w : cx + w].copy()
        if src.shape[0] != 2 * h or src.shape[1] != 2 * w:
            return None
        mask = np.zeros(src.shape[:2], np.uint8)
        cv2.ellipse(mask, (w, h), (w - 2, h - 2), 0, 0, 360, 255, -1)
        try:
            out = cv2.seamlessClone(src, out, mask, (cx, cy), cv2.NORMAL_CLONE)
        except cv2.error:
            return None
        cv2.ellipse(out, (cx, cy + int(h * 0.1)), (int(w * 0.55), int(h * 0.35)), 0, 10, 170, (40, 30, 30),
                    max(1, int(iod * 0.03)), cv2.LINE_AA)
    return out


def defocus(rgb: np.ndarray, level: int) -> np.ndarray:
    """Disc blur of radius proportional to the image size."""
    cv2 = _cv2()
    r = max(1, int(round(level * 1.4 * max(rgb.shape[:2]) / 1000)))
    k = np.zeros((2 * r + 1, 2 * r + 1), np.float32)
    cv2.circle(k, (r, r), r, 1.0, -1)
    k /= k.sum()
    return cv2.filter2D(rgb, -1, k, borderType=cv2.BORDER_REFLECT)


def motion(rgb: np.ndarray, level: int, angle: float = 20.0) -> np.ndarray:
    """Linear motion blur of length proportional to the image size."""
    cv2 = _cv2()
    n = max(3, int(round(level * 4.5 * max(rgb.shape[:2]) / 1000)) | 1)
    k = np.zeros((n, n), np.float32)
    k[n // 2, :] = 1.0
    rot = cv2.getRotationMatrix2D((n / 2 - 0.5, n / 2 - 0.5), angle, 1.0)
    k = cv2.warpAffine(k, rot, (n, n))
    k /= k.sum()
    return cv2.filter2D(rgb, -1, k, borderType=cv2.BORDER_REFLECT)


def noise(rgb: np.ndarray, level: int, seed: int = 0) -> np.ndarray:
    """Signal-dependent sensor noise (shot + read noise in linear light)."""
    rng = np.random.default_rng(seed + level)
    lin = _lin(rgb)
    sigma = 0.025 * (2.0 ** (level - 1))
    lum = lin.mean(axis=2, keepdims=True)
    n = rng.standard_normal(lin.shape).astype(np.float32) * sigma * np.sqrt(lum + 0.02)
    n[lin >= 0.999] = 0.0  # a saturated photosite stays saturated
    return _srgb(lin + n)


def exposure(rgb: np.ndarray, ev: float) -> np.ndarray:
    """Exposure change of ``ev`` stops in linear light, clipped like a sensor."""
    return _srgb(_lin(rgb) * (2.0**ev))


def under(rgb: np.ndarray, level: int) -> np.ndarray:
    return exposure(rgb, -0.8 * level)


def over(rgb: np.ndarray, level: int) -> np.ndarray:
    return exposure(rgb, 0.8 * level)


def jpeg(rgb: np.ndarray, level: int) -> np.ndarray:
    from PIL import Image

    q = {1: 30, 2: 15, 3: 6}.get(level, max(2, 30 - 8 * level))
    buf = io.BytesIO()
    Image.fromarray(rgb).save(buf, "JPEG", quality=q)
    buf.seek(0)
    return np.asarray(Image.open(buf).convert("RGB"))


APPLY: dict[str, Callable[[np.ndarray, int], np.ndarray]] = {
    "defocus": defocus,
    "motion": motion,
    "noise": noise,
    "under": under,
    "over": over,
    "jpeg": jpeg,
}


def apply_defect(rgb: np.ndarray, defect: str, level: int) -> np.ndarray:
    if defect == "clean" or level == 0:
        return rgb.copy()
    return APPLY[defect](rgb, level)


@dataclass
class BurstFrame:
    name: str
    defect: str  # "clean" or one of DEFECTS
    level: int
    time: datetime


def burst_plan(defects: Iterable[str] = DEFECTS, levels: Iterable[int] = LEVELS) -> list[tuple[str, int]]:
    plan = [("clean", 0)]
    for d in defects:
        plan.extend((d, lv) for lv in levels)
    return plan


def save_jpeg(path: Path, rgb: np.ndarray, when: datetime | None, camera: tuple[str, str] = ("Demo", "Burst 1"), quality: int = 95) -> None:
    from PIL import Image

    im = Image.fromarray(rgb)
    exif = Image.Exif()
    if when is not None:
        exif[0x010F] = camera[0]  # Make
        exif[0x0110] = camera[1]  # Model
        sub = exif.get_ifd(0x8769)
        sub[0x9003] = when.strftime("%Y:%m:%d %H:%M:%S")  # DateTimeOriginal
        sub[0x9291] = f"{when.microsecond // 10000:02d}"  # SubSecTimeOriginal
        exif[0x8769] = sub
    path.parent.mkdir(parents=True, exist_ok=True)
    im.save(path, "JPEG", quality=quality, exif=exif.tobytes() if when is not None else b"")


def write_burst(
    out: Path,
    rgb: np.ndarray,
    prefix: str,
    start: datetime | None,
    plan: list[tuple[str, int]] | None = None,
    interval: float = 0.25,
    camera: tuple[str, str] = ("Demo", "Burst 1"),
    shuffle_seed: int | None = 0,
) -> list[BurstFrame]:
    """Write one burst (clean frame + defects) as JPEGs; frame order is shuffled deterministically
    so that the clean frame is not simply the first one."""
    plan = plan or burst_plan()
    order = list(range(len(plan)))
    if shuffle_seed is not None:
        np.random.default_rng(shuffle_seed).shuffle(order)
    frames = []
    for i, j in enumerate(order):
        defect, level = plan[j]
        t = (start or datetime(2026, 1, 1)) + timedelta(seconds=i * interval)
        name = f"{prefix}_{i + 1:04d}.jpg"
        save_jpeg(out / name, apply_defect(rgb, defect, level), t if start is not None else None, camera)
        frames.append(BurstFrame(name, defect, level, t))
    return frames


def demo_sources(max_side: int = 1200) -> dict[str, np.ndarray]:
    """Public-domain / CC0 photographs from scikit-image, resized to ``max_side``."""
    from PIL import Image
    from skimage import data

    out = {}
    for name in ("astronaut", "coffee", "chelsea"):
        img = Image.fromarray(getattr(data, name)())
        s = max_side / max(img.size)
        img = img.resize((round(img.size[0] * s), round(img.size[1] * s)), Image.Resampling.LANCZOS)
        out[name] = np.asarray(img.convert("RGB"))
    return out


def make_demo_session(out: Path, max_side: int = 1200) -> dict[str, list[BurstFrame]]:
    """The README's demo: three scenes, shot seconds apart, each a burst of 19 frames."""
    out = Path(out)
    bursts = {}
    start = datetime(2026, 11, 28, 14, 0, 0)
    for i, (name, rgb) in enumerate(demo_sources(max_side).items()):
        bursts[name] = write_burst(out, rgb, f"IMG_{i + 1}", start + timedelta(seconds=10 * i), shuffle_seed=i)
    return bursts
