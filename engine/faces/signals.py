"""Per-face signals: what :func:`analyse_faces` measures on every detected face.

The maths (sharpness, noise, exposure) lives in :mod:`engine.quality.signals` beside the
frame's signals, with explicit units; this module adds the head pose and puts it together.

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
``face_detail``
    Noise-corrected, brightness-normalised gradient energy of the whole inner face box
    (the frame's sharpness measure on 16 px tiles, mean of the top half): how sharp the face
    is as a whole, little changed by the eyes closing (``eye_sharpness`` is).
``face_exposure``
    Mean luminance (Rec.601 weights, 0..1) of the inner face box.
``face_clip_high`` / ``face_clip_low``
    Fraction of face-box pixels with a channel >= 250 / all channels <= 5.
``eyes_open`` (and ``eye_aspect_ratio``)
    0..1 from the eye aspect ratio measured by MediaPipe's face-mesh and
    iris-landmark models (see :class:`EyeStateModel`, which also states how
    it was validated).  Absent when those models are not installed.
``iris_visibility``
    Luminance of the iris disc over the skin around the eye (:func:`engine.faces.eyes.iris_visibility`),
    eyes nearer the camera only beyond 30 degrees of yaw: low for an open eye, near 1 when
    a lid covers the iris.  A second eye-state reading, from the pixels; not yet used by the
    ranking (docs/benchmarks.md has what it measured).  Absent without the eye models.
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

import numpy as np

from engine.faces.alignment import ARCFACE_DST, CROP_SIZE, _as_rgb, alignment_matrix, warp_crop
from engine.faces.detection import FaceDetector
from engine.faces.eyes import EyeStateModel, eyes_open_score
from engine.quality import signals as S
from engine.quality.base import FaceInput

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


def analyse_faces(
    rgb: np.ndarray,
    detector: FaceDetector,
    min_score: float = 0.6,
    max_faces: int = 8,
    *,
    crop_size: int = CROP_SIZE,
    eye_model: EyeStateModel | None = None,
) -> list[FaceInput]:
    """Detect faces in ``rgb`` and return them with aligned crops and signals, largest first.

    Faces scoring below ``min_score`` are dropped; at most ``max_faces`` (largest boxes) are
    analysed.  ``eye_model`` (:func:`engine.faces.eyes.load_eye_model`, built by the caller
    like the detector) adds the ``eyes_open`` signal; without it that signal is absent.
    """
    rgb = _as_rgb(rgb)
    dets = [f for f in detector.detect(rgb, score_threshold=min_score) if f.score >= min_score]
    dets.sort(key=lambda f: -(f.box[2] * f.box[3]))
    dets = dets[: max(0, int(max_faces))]
    if not dets:
        return []
    short = float(min(rgb.shape[:2]))
    H, W = rgb.shape[:2]
    out: list[FaceInput] = []
    for det in dets:
        lm = det.landmarks
        try:
            matrix = alignment_matrix(lm, crop_size)
        except (ValueError, np.linalg.LinAlgError):
            continue
        crop = warp_crop(rgb, matrix, crop_size)
        exposure, clip_hi, clip_lo = S.face_exposure(rgb, det.box)
        yaw, pitch, roll = head_pose(lm)
        # luminance of the area around the landmarks only (the whole frame is not needed)
        iod = float(np.linalg.norm(lm[1] - lm[0]))
        pad = 0.8 * iod + 8
        x0, y0 = int(max(0, lm[:, 0].min() - pad)), int(max(0, lm[:, 1].min() - pad))
        x1, y1 = int(min(W, lm[:, 0].max() + pad + 1)), int(min(H, lm[:, 1].max() + pad + 1))
        gray = S.gray_of(rgb[y0:y1, x0:x1])
        signals: dict[str, float] = {
            "eye_sharpness": S.eye_sharpness(gray, lm - np.array([x0, y0], np.float32)),
            "face_detail": S.face_detail(S.gray_of(S.box_region(rgb, det.box, shrink=0.1))),
            "face_exposure": exposure,
            "face_clip_high": clip_hi,
            "face_clip_low": clip_lo,
            "face_size": float(det.box[3] / short),
            "yaw": yaw,
            "pitch": pitch,
            "roll": roll,
        }
        if eye_model is not None:
            ear_l, ear_r, vis_l, vis_r = eye_model.eye_readings(rgb, crop, matrix)
            finite = [e for e in (ear_l, ear_r) if np.isfinite(e)]
            if finite:  # degenerate eye geometry: leave the signals out rather than NaN
                signals["eye_aspect_ratio"] = float(np.mean(finite))
                signals["eyes_open"] = eyes_open_score(ear_l, ear_r, yaw)
            vis = [v for v, near in ((vis_l, yaw <= 30), (vis_r, yaw >= -30)) if near and np.isfinite(v)]
            if vis:
                signals["iris_visibility"] = float(np.mean(vis))
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
