"""Realistic synthetic bursts: what a hand-held portrait session looks like, with ground truth.

The defect bursts of :mod:`engine.demo` change the whole frame and are pixel-aligned.  Real
bursts are not: every frame of a hand-held burst shifts by 1-3 %, rolls by about a degree
and zooms by a few percent, each frame carries fresh sensor noise, and what goes wrong
usually goes wrong on one face.  The kinds built here (:data:`KINDS`):

``face_defocus``
    focus missed the face (a soft ellipse over the head), background untouched;
``subject_motion``
    the subject moved (motion blur on the head and shoulders), the camera did not;
``background_blur``
    the "clean" frame has a deliberately blurred background (shallow depth of field) and a
    sharp face; the others have a sharp background and a soft face -- the sharp face wins;
``closed_eyes``
    half-closed and closed eyes on the subject (synthetic: the upper lid slides down with its
    lashes, lid skin over the eye, the brow unmoved, :func:`shut_eyes`);
``duo`` / ``group``
    two or four to six portraits side by side (a couple, a family formal), exactly one face
    spoiled per frame (defocus, motion, closed eyes), a different face in each frame.

Every burst has one clean frame (index 0) and spoiled frames whose expected order is known:
``Burst.better`` lists the pairs (i, j) where frame i must rank above frame j.  Sources are
the PIQ23 example portraits (read from ../shared, never copied) and scikit-image's
public-domain astronaut.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

KINDS = ("face_defocus", "subject_motion", "background_blur", "closed_eyes", "duo", "group")


@dataclass
class Face:
    box: tuple[float, float, float, float]  # x, y, w, h pixels
    landmarks: np.ndarray  # (5, 2)


@dataclass
class Portrait:
    """A source photo with its detected face (the largest)."""

    name: str
    rgb: np.ndarray
    face: Face


@dataclass
class Burst:
    kind: str
    name: str
    frames: list[np.ndarray]
    labels: list[str]
    better: list[tuple[int, int]] = field(default_factory=list)  # (i, j): i must rank above j


def _cv2():  # type: ignore[no-untyped-def]
    import cv2

    return cv2


# ------------------------------------------------------------------------------------ masks


def _ellipse_mask(shape: tuple[int, ...], center: tuple[float, float], axes: tuple[float, float], feather: float) -> np.ndarray:
    cv2 = _cv2()
    m = np.zeros(shape[:2], np.float32)
    cv2.ellipse(m, (int(center[0]), int(center[1])), (max(1, int(axes[0])), max(1, int(axes[1]))), 0, 0, 360, 1.0, -1)
    if feather > 0:
        m = cv2.GaussianBlur(m, (0, 0), feather)
    return m[..., None]


def head_mask(shape: tuple[int, ...], face: Face) -> np.ndarray:
    """Soft mask of the head (face box grown to take in hair and ears)."""
    x, y, w, h = face.box
    return _ellipse_mask(shape, (x + w / 2, y + h * 0.45), (w * 0.75, h * 0.8), 0.12 * w)


def subject_mask(shape: tuple[int, ...], face: Face) -> np.ndarray:
    """Soft mask of head and shoulders."""
    x, y, w, h = face.box
    head = head_mask(shape, face)
    body = _ellipse_mask(shape, (x + w / 2, y + h * 1.9), (w * 1.6, h * 1.3), 0.2 * w)
    return np.maximum(head, body)


def _blend(a: np.ndarray, b: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """``b`` where mask is 1, ``a`` where 0."""
    out = a.astype(np.float32) * (1.0 - mask) + b.astype(np.float32) * mask
    return np.clip(out + 0.5, 0, 255).astype(np.uint8)


# ----------------------------------------------------------------------------------- spoilers


def _disc(rgb: np.ndarray, radius: float) -> np.ndarray:
    cv2 = _cv2()
    r = max(1, int(round(radius)))
    k = np.zeros((2 * r + 1, 2 * r + 1), np.float32)
    cv2.circle(k, (r, r), r, 1.0, -1)
    return cv2.filter2D(rgb, -1, k / k.sum(), borderType=cv2.BORDER_REFLECT)


def _streak(rgb: np.ndarray, length: float, angle: float) -> np.ndarray:
    cv2 = _cv2()
    n = max(3, int(round(length)) | 1)
    k = np.zeros((n, n), np.float32)
    k[n // 2, :] = 1.0
    k = cv2.warpAffine(k, cv2.getRotationMatrix2D((n / 2 - 0.5, n / 2 - 0.5), angle, 1.0), (n, n))
    return cv2.filter2D(rgb, -1, k / k.sum(), borderType=cv2.BORDER_REFLECT)


def face_defocus(rgb: np.ndarray, face: Face, level: int) -> np.ndarray:
    """Focus missed the face: disc blur of radius 0.5 / 0.9 / 1.5 % of the face height x 4."""
    r = {1: 0.02, 2: 0.035, 3: 0.06}[level] * face.box[3]
    return _blend(rgb, _disc(rgb, r), head_mask(rgb.shape, face))


def subject_motion(rgb: np.ndarray, face: Face, level: int, angle: float = 15.0) -> np.ndarray:
    """The subject moved: a streak of 3 / 6 / 10 % of the face height on head and shoulders."""
    n = {1: 0.04, 2: 0.07, 3: 0.11}[level] * face.box[3]
    return _blend(rgb, _streak(rgb, n, angle), subject_mask(rgb.shape, face))


def background_blur(rgb: np.ndarray, face: Face) -> np.ndarray:
    """Shallow depth of field: everything but head and shoulders strongly blurred."""
    r = 0.012 * max(rgb.shape[:2])
    return _blend(_disc(rgb, r), rgb, subject_mask(rgb.shape, face))


def shut_eyes(rgb: np.ndarray, face: Face, amount: float = 1.0) -> np.ndarray | None:
    """The upper lids lowered: closed (``amount`` 1) or half-closed (0.6, the lid margin
    down over most of the iris).

    A blink is the upper lid sliding down over the eye, the brow staying where it is, so that
    is what is drawn, in the eye's own frame (along the eye line, so roll and a tilted head
    are followed):

    - above the upper lid margin nothing moves: brow, crease and the skin between stay;
    - the lash line (the band just above the margin) slides down to the new margin;
    - between the old margin and the lashes the eye is covered by lid skin.  The skin is
      sourced from just below the lower lid, mirrored and stretched (smooth skin of the same
      face and light, behind the same glasses), never from the band above the eye, which on
      low, thick brows holds brow hair;
    - below the new margin the eye stays as it was (half-closed: the lower iris shows).

    The lid fades out towards the corners along an almond profile and is feathered into the
    skin above.  Geometry in inter-ocular distances (iod) from the eye landmark (the pupil):
    opening -0.13 / +0.12 mid-eye, half-width 0.38.  None when an eye is too near the border.
    """
    cv2 = _cv2()
    lm = np.asarray(face.landmarks, np.float64)
    iod = float(np.linalg.norm(lm[1] - lm[0]))
    if iod < 8:
        return None
    u = (lm[1] - lm[0]) / iod  # along the eye line
    v = np.array([-u[1], u[0]])  # perpendicular, pointing down the face
    h, w = rgb.shape[:2]
    half_w, upper, lower = 0.38 * iod, 0.13 * iod, 0.12 * iod
    lash = max(1.5, 0.035 * iod)  # lash line: the band just above the margin
    feather = max(1.5, 0.04 * iod)  # lid skin blended into the skin above over this much
    gap = 0.05 * iod  # skin source starts this far below the lower lid margin
    map_x, map_y = np.meshgrid(np.arange(w, dtype=np.float32), np.arange(h, dtype=np.float32))
    weight = np.zeros((h, w), np.float32)
    for e in lm[:2]:
        r = int(math.ceil(0.45 * iod + gap + 0.3 * iod)) + 2
        x0, y0, x1, y1 = int(e[0]) - r, int(e[1]) - r, int(e[0]) + r + 1, int(e[1]) + r + 1
        if x0 < 0 or y0 < 0 or x1 > w or y1 > h:
            return None
        gx, gy = np.meshgrid(np.arange(x0, x1, dtype=np.float64), np.arange(y0, y1, dtype=np.float64))
        a = (gx - e[0]) * u[0] + (gy - e[1]) * u[1]  # along the eye
        b = (gx - e[0]) * v[0] + (gy - e[1]) * v[1]  # down the face
        t = np.clip(1.0 - (a / half_w) ** 2, 0.0, 1.0)  # almond profile: 1 mid-eye, 0 at the corners
        m0 = -upper * t  # upper lid margin now
        lo = lower * t  # lower lid margin
        target = m0 + amount * (lo - m0)  # where the margin comes down to
        drop = target - m0
        top = m0 - lash * t - feather  # the lid's top edge (feathered up to here)
        in_lash = (b > target - lash * t) & (b <= target) & (t > 0)
        in_skin = (b > top) & (b <= target - lash * t) & (t > 0)
        # lashes: the band above the old margin, moved down by the drop
        src_b = np.where(in_lash, b - drop, b)
        # lid skin: mirrored from below the lower lid, stretched 2x (smooth, as a closed lid
        # is); towards the corners from a little deeper, so that the lower lashes of a tilted
        # eye's corners stay out of it
        src_b = np.where(in_skin, 0.5 * (lo + lower) + gap + 0.5 * (target - lash * t - b), src_b)
        sx = e[0] + a * u[0] + src_b * v[0]
        sy = e[1] + a * u[1] + src_b * v[1]
        lid_here = in_lash | in_skin  # the windows of the two eyes may overlap
        map_x[y0:y1, x0:x1] = np.where(lid_here, sx, map_x[y0:y1, x0:x1]).astype(np.float32)
        map_y[y0:y1, x0:x1] = np.where(lid_here, sy, map_y[y0:y1, x0:x1]).astype(np.float32)
        # blend weight: 1 over the lid, ramping from 0 at its top edge over the feather
        ramp = np.clip((b - top) / feather, 0.0, 1.0)
        wgt = np.where(lid_here, np.where(in_skin, ramp, 1.0), 0.0) * np.clip(drop / (0.05 * iod), 0.0, 1.0)
        weight[y0:y1, x0:x1] = np.maximum(weight[y0:y1, x0:x1], wgt.astype(np.float32))
    lid = cv2.remap(rgb, map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT101)
    # the seam between skin and lashes is a fold, not a cut: soften it over about a pixel
    lid = cv2.GaussianBlur(lid, (0, 0), max(0.5, 0.006 * iod))
    weight = cv2.GaussianBlur(weight, (0, 0), max(0.5, 0.006 * iod))
    return _blend(rgb, lid, np.clip(weight, 0, 1)[..., None])


# ------------------------------------------------------------------------------------ camera


def handheld(rgb: np.ndarray, rng: np.random.Generator, shift: tuple[float, float] = (0.01, 0.03),
             roll: float = 1.0, zoom: float = 0.03, noise: float = 1.5) -> np.ndarray:
    """One hand-held frame: shift 1-3 % in a random direction, roll up to ``roll`` degrees,
    zoom up to ``zoom``, fresh sensor noise (``noise`` 8-bit sigma); same size (reflected border)."""
    cv2 = _cv2()
    h, w = rgb.shape[:2]
    d = rng.uniform(*shift) * min(h, w)
    a = rng.uniform(0, 2 * math.pi)
    m = cv2.getRotationMatrix2D((w / 2, h / 2), rng.uniform(-roll, roll), 1.0 + rng.uniform(-zoom, zoom))
    m[:, 2] += (d * math.cos(a), d * math.sin(a))
    out = cv2.warpAffine(rgb, m, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT101)
    if noise > 0:
        out = np.clip(out.astype(np.float32) + rng.normal(0, noise, out.shape), 0, 255).astype(np.uint8)
    return out


# ------------------------------------------------------------------------------------ sources


def detect_portrait(name: str, rgb: np.ndarray, detector) -> Portrait | None:  # type: ignore[no-untyped-def]
    """The source with its largest face; None when no clear, near-frontal face is found."""
    from engine.faces import head_pose

    faces = [f for f in detector.detect(rgb) if f.score >= 0.9]
    if not faces:
        return None
    f = max(faces, key=lambda f: f.box[2] * f.box[3])
    iod = float(np.linalg.norm(f.landmarks[1] - f.landmarks[0]))
    if iod < 24 or abs(head_pose(f.landmarks)[0]) > 30:
        return None
    return Portrait(name, rgb, Face(tuple(float(v) for v in f.box), np.asarray(f.landmarks, np.float64)))  # type: ignore[arg-type]


def _tile(p: Portrait, face_h: int, tile: tuple[int, int]) -> tuple[np.ndarray, Face] | None:
    """Head-and-shoulders tile of ``tile`` (h, w) with the face ``face_h`` px tall, face near the top third."""
    cv2 = _cv2()
    th, tw = tile
    s = face_h / p.face.box[3]
    x, y, w, h = p.face.box
    cx, cy = (x + w / 2) * s, (y + h / 2) * s
    img = cv2.resize(p.rgb, None, fx=s, fy=s, interpolation=cv2.INTER_AREA if s < 1 else cv2.INTER_LINEAR)
    x0, y0 = int(round(cx - tw / 2)), int(round(cy - th * 0.38))
    pad = max(0, -x0, -y0, x0 + tw - img.shape[1], y0 + th - img.shape[0])
    if pad > min(img.shape[:2]) // 2:
        return None
    if pad:  # a face near the border: the scene continues as a mirror image
        img = cv2.copyMakeBorder(img, pad, pad, pad, pad, cv2.BORDER_REFLECT101)
    ox, oy = x0 + pad, y0 + pad  # tile origin in the (padded) image
    face = Face((x * s + pad - ox, y * s + pad - oy, w * s, h * s), p.face.landmarks * s + pad - (ox, oy))
    x0, y0 = ox, oy
    return np.ascontiguousarray(img[y0 : y0 + th, x0 : x0 + tw]), face


def composite(portraits: Sequence[Portrait], cols: int, face_h: int = 150) -> tuple[np.ndarray, list[Face]] | None:
    """Portraits side by side in a grid (``cols`` per row): a couple or a group shot."""
    tile = (int(face_h * 2.3), int(face_h * 1.7))
    tiles = []
    for p in portraits:
        t = _tile(p, face_h, tile)
        if t is None:
            return None
        tiles.append(t)
    rows = math.ceil(len(tiles) / cols)
    canvas = np.zeros((rows * tile[0], cols * tile[1], 3), np.uint8)
    faces = []
    for k, (img, f) in enumerate(tiles):
        r, c = divmod(k, cols)
        if r == rows - 1 and len(tiles) % cols:  # centre a short last row
            c += (cols - len(tiles) % cols) / 2  # type: ignore[assignment]
        oy, ox = r * tile[0], int(c * tile[1])
        canvas[oy : oy + tile[0], ox : ox + tile[1]] = img
        faces.append(Face((f.box[0] + ox, f.box[1] + oy, f.box[2], f.box[3]), f.landmarks + (ox, oy)))
    return canvas, faces


# ------------------------------------------------------------------------------------- bursts


def _ordered(n_levels: int, start: int = 1) -> list[tuple[int, int]]:
    """Clean (0) above every other frame, and each level above the next."""
    pairs = [(0, j) for j in range(start, start + n_levels)]
    pairs += [(j, j + 1) for j in range(start, start + n_levels - 1)]
    return pairs


def single_bursts(p: Portrait, seed: int = 0) -> list[Burst]:
    """The single-subject kinds for one portrait."""
    rng = np.random.default_rng(seed)
    rgb, f = p.rgb, p.face
    out = []

    def shoot(kind: str, frames: list[np.ndarray], labels: list[str], better: list[tuple[int, int]]) -> None:
        out.append(Burst(kind, p.name, [handheld(x, rng) for x in frames], labels, better))

    shoot("face_defocus", [rgb] + [face_defocus(rgb, f, lv) for lv in (1, 2, 3)],
          ["clean", "defocus1", "defocus2", "defocus3"], _ordered(3))
    shoot("subject_motion", [rgb] + [subject_motion(rgb, f, lv) for lv in (1, 2, 3)],
          ["clean", "motion1", "motion2", "motion3"], _ordered(3))
    bg = background_blur(rgb, f)
    shoot("background_blur", [bg] + [face_defocus(rgb, f, lv) for lv in (1, 2, 3)],
          ["shallow-dof", "soft-face1", "soft-face2", "soft-face3"], [(0, 1), (0, 2), (0, 3)])
    half, closed = shut_eyes(rgb, f, 0.6), shut_eyes(rgb, f, 1.0)
    if half is not None and closed is not None:
        shoot("closed_eyes", [rgb, rgb, half, closed], ["clean", "clean-again", "half-closed", "closed"],
              [(0, 2), (0, 3), (1, 2), (1, 3)])
    return out


def group_burst(portraits: Sequence[Portrait], kind: str, seed: int = 0) -> Burst | None:
    """A couple (``duo``) or group shot: the clean frame, then one face spoiled per frame
    (defocus, motion, closed eyes in turn, each on a different face)."""
    rng = np.random.default_rng(seed)
    cols = 2 if kind == "duo" else math.ceil(len(portraits) / 2)
    face_h = 190 if kind == "duo" else 130
    made = composite(portraits, cols, face_h)
    if made is None:
        return None
    rgb, faces = made
    frames, labels = [rgb], ["clean"]
    spoilers = ("defocus", "closed", "motion") if kind == "duo" else ("defocus", "closed", "motion", "defocus")
    for k, how in enumerate(spoilers):
        i = (k * 2 + 1) % len(faces) if kind != "duo" else k % len(faces)
        fc = faces[i]
        if how == "defocus":
            img = face_defocus(rgb, fc, 2)
        elif how == "motion":
            img = subject_motion(rgb, fc, 2)
        else:
            img = shut_eyes(rgb, fc, 1.0)  # type: ignore[assignment]
            if img is None:
                continue
        frames.append(img)
        labels.append(f"{how}-face{i}")
    frames = [handheld(x, rng) for x in frames]
    name = "+".join(p.name for p in portraits)
    return Burst(kind, name, frames, labels, [(0, j) for j in range(1, len(frames))])
