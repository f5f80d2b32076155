"""Face alignment: 5 landmarks onto the ArcFace template, padded crops.

Alignment
---------
:func:`align_face` maps the 5 landmarks onto insightface's ArcFace 112x112
template with a least-squares similarity transform
(``insightface.utils.face_align.estimate_norm`` when insightface imports,
otherwise scikit-image's ``SimilarityTransform`` which is what insightface
itself calls), then scales the template so that it fills the central
``FACE_FRACTION`` of a ``CROP_SIZE`` square: the crop keeps hair, ears and
some shoulders for the deep members.
"""

from __future__ import annotations

import math
from functools import lru_cache
from typing import Any

import numpy as np

CROP_SIZE = 224
FACE_FRACTION = 0.6  # the 112 ArcFace template fills this fraction of the crop side

# ArcFace 112x112 template (insightface.utils.face_align.arcface_dst)
ARCFACE_DST = np.array(
    [
        [38.2946, 51.6963],
        [73.5318, 51.5014],
        [56.0252, 71.7366],
        [41.5493, 92.3655],
        [70.7299, 92.2041],
    ],
    dtype=np.float32,
)


def _area_reduce(img: np.ndarray, k: int) -> np.ndarray:
    """Average k x k blocks (OpenCV's fast integer INTER_AREA path); drops < k edge pixels."""
    import cv2

    h, w = img.shape[:2]
    hk, wk = h // k, w // k
    return cv2.resize(img[: hk * k, : wk * k], (wk, hk), interpolation=cv2.INTER_AREA)



def _as_rgb(image: np.ndarray) -> np.ndarray:
    if not isinstance(image, np.ndarray) or image.ndim not in (2, 3) or image.size == 0:
        raise ValueError("expected an RGB uint8 image array")
    if image.ndim == 2:
        image = np.repeat(image[..., None], 3, axis=2)
    if image.shape[2] == 4:
        image = image[..., :3]
    if image.shape[2] != 3:
        raise ValueError(f"expected 3 channels, got {image.shape[2]}")
    if image.dtype != np.uint8:
        arr = image.astype(np.float32)
        if np.issubdtype(image.dtype, np.floating) and float(np.nanmax(arr)) <= 1.0:
            arr = arr * 255.0  # float image in [0, 1]
        image = np.clip(np.nan_to_num(arr), 0, 255).round().astype(np.uint8)
    return np.ascontiguousarray(image)



@lru_cache(maxsize=1)
def _insightface_estimate_norm() -> Any:
    """insightface's ``face_align.estimate_norm`` or None when insightface does not import."""
    try:
        from insightface.utils.face_align import estimate_norm
    except Exception:  # noqa: BLE001 - optional dependency; any import failure -> fallback
        return None
    return estimate_norm


def _similarity_to_template(landmarks: np.ndarray, use_insightface: bool = True) -> np.ndarray:
    """2x3 least-squares similarity transform from the 5 landmarks to the ArcFace 112 template."""
    import warnings

    lmk = np.asarray(landmarks, dtype=np.float64).reshape(5, 2)
    est = _insightface_estimate_norm() if use_insightface else None
    with warnings.catch_warnings():
        # insightface calls SimilarityTransform.estimate, deprecated in scikit-image 0.26
        warnings.simplefilter("ignore", FutureWarning)
        warnings.simplefilter("ignore", DeprecationWarning)
        if est is not None:
            return np.asarray(est(lmk.astype(np.float32), 112), dtype=np.float64)
        from skimage.transform import SimilarityTransform

        dst = ARCFACE_DST.astype(np.float64)
        if hasattr(SimilarityTransform, "from_estimate"):
            t = SimilarityTransform.from_estimate(lmk, dst)
            if not t:  # a failed estimate is falsy in scikit-image >= 0.26
                raise ValueError("degenerate landmarks")
        else:  # pragma: no cover - scikit-image < 0.26
            t = SimilarityTransform()
            if not t.estimate(lmk, dst):
                raise ValueError("degenerate landmarks")
        return np.asarray(t.params[:2, :], dtype=np.float64)


def alignment_matrix(
    landmarks: np.ndarray, size: int = CROP_SIZE, face_fraction: float = FACE_FRACTION
) -> np.ndarray:
    """2x3 matrix mapping image pixels to the padded aligned crop of side ``size``.

    The ArcFace 112 template is scaled to ``face_fraction * size`` and centred, so the
    face proper fills the central ``face_fraction`` of the crop and the rest is context.
    """
    m = _similarity_to_template(landmarks)
    s = size * face_fraction / 112.0
    off = size * (1.0 - face_fraction) / 2.0
    pad = np.array([[s, 0.0, off], [0.0, s, off], [0.0, 0.0, 1.0]])
    return (pad @ np.vstack([m, [0.0, 0.0, 1.0]]))[:2]


def warp_crop(rgb: np.ndarray, matrix: np.ndarray, size: int) -> np.ndarray:
    """Warp ``rgb`` with the 2x3 ``matrix`` into a ``size`` square, anti-aliased.

    When the warp shrinks the face by more than 2x, the source region is first reduced with
    area averaging (bilinear warping alone would alias hair and eyelashes).
    """
    import cv2

    m = np.asarray(matrix, dtype=np.float64)
    scale = math.sqrt(abs(np.linalg.det(m[:, :2])))
    if scale < 0.5:
        # integer block averaging of the source region, so the bilinear warp shrinks < 2x
        k = int(1.0 / scale)
        inv = cv2.invertAffineTransform(m)
        corners = np.array([[0, 0, 1], [size, 0, 1], [0, size, 1], [size, size, 1]], float)
        src = corners @ inv.T
        h, w = rgb.shape[:2]
        x0 = int(max(0, math.floor(src[:, 0].min()) - k))
        y0 = int(max(0, math.floor(src[:, 1].min()) - k))
        x1 = int(min(w, math.ceil(src[:, 0].max()) + k))
        y1 = int(min(h, math.ceil(src[:, 1].max()) + k))
        if x1 - x0 >= 2 * k and y1 - y0 >= 2 * k:
            small = _area_reduce(rgb[y0:y1, x0:x1], k)
            # pixel-centre convention: x_small = (x - x0 + 0.5) / k - 0.5
            f = 1.0 / k
            pre = np.array(
                [[f, 0.0, (0.5 - x0) * f - 0.5], [0.0, f, (0.5 - y0) * f - 0.5], [0, 0, 1.0]]
            )
            m = (np.vstack([m, [0, 0, 1.0]]) @ np.linalg.inv(pre))[:2]
            rgb = small
    return cv2.warpAffine(
        rgb, m, (size, size), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT, borderValue=0
    )


def align_face(
    rgb: np.ndarray,
    landmarks: np.ndarray,
    size: int = CROP_SIZE,
    face_fraction: float = FACE_FRACTION,
) -> np.ndarray:
    """Aligned, padded RGB crop (``size`` square) of the face with these 5 landmarks."""
    return warp_crop(_as_rgb(rgb), alignment_matrix(landmarks, size, face_fraction), size)
