"""Faces: detection with 5 landmarks, alignment, eye state and per-face signals.

- :mod:`engine.faces.detection`: the detection backends (RetinaFace, MIT; insightface,
  opt-in and non-commercial) behind :class:`FaceDetector`;
- :mod:`engine.faces.alignment`: landmarks onto the ArcFace template, padded crops;
- :mod:`engine.faces.eyes`: eyes open / closed (:class:`EyeStateModel`, built by the caller);
- :mod:`engine.faces.signals`: the per-face signals and :func:`analyse_faces`; their maths
  lives in :mod:`engine.quality.signals`.

The detector and the eye model are made by the caller and passed in (the pipeline makes one
of each per worker, on the ``--device`` it was given).
"""

from engine.faces.alignment import (
    ARCFACE_DST,
    CROP_SIZE,
    FACE_FRACTION,
    _similarity_to_template,
    align_face,
    alignment_matrix,
    warp_crop,
)
from engine.faces.detection import (
    BACKENDS,
    DEFAULT_BACKEND,
    DET_LONG_SIDE,
    INSIGHTFACE_PACK,
    DetectedFace,
    FaceDetector,
    FaceError,
    insightface_model_dir,
)
from engine.faces.eyes import EyeStateModel, eyes_open_available, eyes_open_score, load_eye_model
from engine.faces.signals import analyse_faces, head_pose
from engine.quality.signals import eye_sharpness, face_exposure, gray_of

__all__ = [
    "ARCFACE_DST",
    "BACKENDS",
    "CROP_SIZE",
    "DEFAULT_BACKEND",
    "DET_LONG_SIDE",
    "FACE_FRACTION",
    "INSIGHTFACE_PACK",
    "DetectedFace",
    "EyeStateModel",
    "FaceDetector",
    "FaceError",
    "_similarity_to_template",
    "align_face",
    "alignment_matrix",
    "analyse_faces",
    "eye_sharpness",
    "eyes_open_available",
    "eyes_open_score",
    "face_exposure",
    "gray_of",
    "head_pose",
    "insightface_model_dir",
    "load_eye_model",
    "warp_crop",
]
