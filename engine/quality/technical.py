"""Technical quality members: sharpness (frame and faces), noise, exposure, clipping,
eyes closed, motion blur and JPEG artefacts.

Each maps its raw signal to a quality in (0, 1] with a smooth, monotone curve;
curves have a plateau where a signal is "good enough" so that, for example, a
defocused frame (which reads as less noisy) gains nothing on the noise member.
"""

from __future__ import annotations

import math

import numpy as np

from engine.quality import signals
from engine.quality.base import FACES, IMAGE, MemberScore, QualityMember, ShotInput, clamp_quality
from engine.quality.registry import register_member


def _sigma(shot: ShotInput) -> float:
    s = shot.meta.get("_noise_sigma")
    if s is None:
        s = signals.noise_sigma(shot.gray)
        shot.meta["_noise_sigma"] = s
    return float(s)


def _face_region(shot: ShotInput, face) -> np.ndarray:  # type: ignore[no-untyped-def]
    x, y, w, h = face.box
    H, W = shot.gray.shape
    x0, y0 = max(0, int(x)), max(0, int(y))
    x1, y1 = min(W, int(x + w)), min(H, int(y + h))
    if x1 - x0 < 4 or y1 - y0 < 4:
        return shot.gray
    return shot.gray[y0:y1, x0:x1]


def _head_and_shoulders(shot: ShotInput, faces: list) -> np.ndarray | None:  # type: ignore[type-arg]
    """The grey pixels of the bounding box of these faces' heads and shoulders (None under 96 px)."""
    H, W = shot.gray.shape
    x0 = min(f.box[0] - 0.6 * f.box[2] for f in faces)
    x1 = max(f.box[0] + 1.6 * f.box[2] for f in faces)
    y0 = min(f.box[1] - 0.4 * f.box[3] for f in faces)
    y1 = max(f.box[1] + 2.2 * f.box[3] for f in faces)
    xs0, ys0, xs1, ys1 = max(0, int(x0)), max(0, int(y0)), min(W, int(x1)), min(H, int(y1))
    if xs1 - xs0 < 96 or ys1 - ys0 < 96:
        return None
    return shot.gray[ys0:ys1, xs0:xs1]


def _subject_regions(shot: ShotInput) -> list[np.ndarray]:
    """Each important person's head and shoulders; when none is 96 px or more, the bounding
    box of them all (a group of small faces); [] without important faces."""
    faces = shot.important_faces()
    if not faces:
        return []
    each = [r for r in (_head_and_shoulders(shot, [f]) for f in faces) if r is not None]
    if each:
        return each
    together = _head_and_shoulders(shot, faces)
    return [] if together is None else [together]


def _eyes_measurable(face) -> bool:  # type: ignore[no-untyped-def]
    lm = np.asarray(face.landmarks, dtype=np.float64).reshape(-1, 2)
    iod = float(np.linalg.norm(lm[1] - lm[0])) if len(lm) >= 2 else 0.0
    return iod >= 16.0 and abs(float(face.signals.get("yaw", 0.0))) <= 50.0


def sharpness_quality(s: float, s0: float = 40.0) -> float:
    return clamp_quality(s / (s + s0))


class FrameSharpness(QualityMember):
    name = "sharpness"
    needs = frozenset({IMAGE})
    description = "Sharpness of the sharpest part of the subject (or the frame without faces), corrected for noise and brightness"
    weight = 2.0
    relative = "best"
    relative_scale = 1.5

    def quality_of(self, s: float, faces: bool = False) -> float:
        return sharpness_quality(s)

    def score(self, shot: ShotInput) -> MemberScore:
        # With faces, the subject (heads and shoulders) is what must be sharp: a sharp
        # background behind a soft face is missed focus, a blurred one is a choice.  Each
        # important person is measured on their own head and shoulders and the least sharp
        # counts: in a group, the background between people (or a hard edge there) is not
        # the subject, and one soft person is a soft shot.
        regions = _subject_regions(shot)
        sigma = _sigma(shot)
        s = min(signals.sharpness(r, sigma) for r in regions) if regions else signals.sharpness(shot.gray, sigma)
        return MemberScore(s, self.quality_of(s))


class FaceSharpness(QualityMember):
    name = "face_sharpness"
    needs = frozenset({FACES})
    description = "Sharpness of the eyes of the weakest important face (noise-corrected)"
    weight = 3.0
    relative = "best"
    relative_scale = 1.5
    face_signal = "eye_sharpness"
    face_relative = "best"  # each person against their own sharpest frame
    face_scale = 1.5

    def score(self, shot: ShotInput) -> MemberScore | None:
        # Eyes a dozen pixels apart, or a profile whose far eye is hidden, say nothing
        # reliable about focus: the frame's sharpness member speaks for those shots.
        important = {id(f) for f in shot.important_faces()}
        per_face: list[tuple[float, float] | None] = []
        worst: float | None = None
        for f in shot.faces:
            if not _eyes_measurable(f):
                per_face.append(None)
                continue
            s = f.signals.get("eye_sharpness")
            if s is None:
                s = signals.sharpness(_face_region(shot, f), _sigma(shot), top=0.3, tile=16) / 1000.0
            per_face.append((float(s), self.quality_of(float(s))))
            if id(f) in important:
                worst = float(s) if worst is None else min(worst, float(s))
        if worst is None:
            return None
        return MemberScore(worst, self.quality_of(worst), per_face)

    def quality_of(self, s: float, faces: bool = True) -> float:
        return sharpness_quality(s, 0.1)


class Noise(QualityMember):
    name = "noise"
    needs = frozenset({IMAGE})
    higher_is_better = False
    description = "Noise standard deviation (8-bit units) in the flattest parts of the frame"
    weight = 2.0

    def quality_of(self, sigma: float, faces: bool = False) -> float:
        excess = max(0.0, sigma - 0.5) / 2.0
        return clamp_quality(1.0 / (1.0 + excess * excess))

    def score(self, shot: ShotInput) -> MemberScore:
        sigma = _sigma(shot)
        return MemberScore(sigma, self.quality_of(sigma))


class Exposure(QualityMember):
    """Exposure of the faces (or the frame) in EV from middle grey.

    A wide plateau (faces from about -2.3 to +1.2 EV are fine: low-key and
    high-key portraits are deliberate); the fusion also compares each shot
    with the consensus exposure of its group (``relative_scale``).
    """

    name = "exposure"
    needs = frozenset({IMAGE})
    description = "Exposure of the faces (or frame) in EV from middle grey, and deviation from the burst"
    weight = 1.5
    relative = "median"
    relative_scale = 0.6  # EV
    face_signal = "face_exposure"
    face_relative = "median"  # each face against the person's usual exposure in the burst
    face_scale = 0.6

    def score(self, shot: ShotInput) -> MemberScore:
        faces = shot.important_faces()
        per_face: list[tuple[float, float] | None] | None = None
        if faces:
            evs = [signals.exposure_ev(_face_region(shot, f)) for f in shot.faces]
            per_face = [(e, self.quality_of(e, True)) for e in evs]
            important = {id(f) for f in faces}
            ev = float(np.mean([e for f, e in zip(shot.faces, evs) if id(f) in important]))
        else:
            ev = signals.exposure_ev(shot.gray)
        return MemberScore(ev, self.quality_of(ev, bool(faces)), per_face)

    def quality_of(self, ev: float, faces: bool = False) -> float:
        lo, hi = (-2.3, 1.2) if faces else (-3.0, 1.0)
        out = max(0.0, lo - ev, ev - hi)
        return clamp_quality(math.exp(-out * out / 1.0))


class Clipping(QualityMember):
    name = "clipping"
    needs = frozenset({IMAGE})
    higher_is_better = False
    description = "Clipped highlights and shadows (faces weigh most)"
    weight = 1.0

    def score(self, shot: ShotInput) -> MemberScore:
        hi, lo = signals.clipping(shot.gray)
        faces = shot.important_faces()
        if faces:
            fh, fl = zip(*(signals.clipping(_face_region(shot, f), pool=2) for f in faces))
            hi, lo = 0.3 * hi + 0.7 * max(fh), 0.3 * lo + 0.7 * max(fl)
        value = hi + 0.5 * lo
        return MemberScore(value, self.quality_of(value))

    def quality_of(self, value: float, faces: bool = False) -> float:
        return clamp_quality(math.exp(-max(0.0, value - 0.01) / 0.08))


def _eyes_quality(p: float) -> float:
    """Only a confident closure costs on its own (p below ~0.1).

    Blinks are judged mostly against the burst (``relative = "below_median"``): the
    eye-state model jitters on squints, glasses and hard light (p wandering between
    0.05 and 0.4 on every frame of a burst), and a fixed ramp there would reorder it.
    """
    t = min(1.0, max(0.0, (p - 0.02) / 0.1))
    return clamp_quality(0.6 + 0.4 * t * t * (3 - 2 * t))


class EyesOpen(QualityMember):
    name = "eyes_open"
    needs = frozenset({FACES})
    description = "Eyes open on every important face (blinks rank last)"
    weight = 2.0
    relative = "below_median"
    relative_scale = 0.2
    # Per person, the eye aspect ratio against the same person's widest-open frame: 10 %
    # narrower is jitter, beyond that it costs fast (half-closed counts as closed).
    face_signal = "eye_aspect_ratio"
    face_relative = "below_best"
    face_scale = 0.1

    @staticmethod
    def _judged(f) -> bool:  # type: ignore[no-untyped-def]
        # Profiles and tiny faces don't show their eyes reliably.
        return "eyes_open" in f.signals and abs(f.signals.get("yaw", 0.0)) < 45 and f.signals.get("face_size", 1.0) > 0.05

    def score(self, shot: ShotInput) -> MemberScore | None:
        important = {id(f) for f in shot.important_faces()}
        per_face: list[tuple[float, float] | None] = []
        worst: float | None = None
        for f in shot.faces:
            if not self._judged(f):
                per_face.append(None)
                continue
            p = float(f.signals["eyes_open"])
            per_face.append((float(f.signals.get("eye_aspect_ratio", p)), _eyes_quality(p)))
            if id(f) in important:
                worst = p if worst is None else min(worst, p)
        if worst is None:
            return None
        return MemberScore(worst, _eyes_quality(worst), per_face)

    def quality_of(self, p: float, faces: bool = True) -> float:
        return _eyes_quality(p)


class MotionBlur(QualityMember):
    name = "motion_blur"
    needs = frozenset({IMAGE})
    higher_is_better = False
    description = "Directional (camera or subject motion) blur: coherence of the gradient directions"
    weight = 1.0

    def score(self, shot: ShotInput) -> MemberScore:
        c = signals.motion_blur(shot.gray)
        return MemberScore(c, self.quality_of(c))

    def quality_of(self, c: float, faces: bool = False) -> float:
        return clamp_quality(math.exp(-max(0.0, c - 0.25) / 0.25))


class JpegArtefacts(QualityMember):
    name = "jpeg_artefacts"
    needs = frozenset({IMAGE})
    higher_is_better = False
    description = "JPEG blocking on the 8x8 grid (only when the grid is visible at analysis scale)"
    weight = 1.5

    def score(self, shot: ShotInput) -> MemberScore | None:
        b = signals.blockiness(shot.gray, shot.meta.get("jpeg_block"))
        if b is None:
            return None
        return MemberScore(b, self.quality_of(b))

    def quality_of(self, b: float, faces: bool = False) -> float:
        excess = max(0.0, b - 1.5)  # straight-from-phone JPEGs read up to ~1.45
        return clamp_quality(1.0 / (1.0 + excess) ** 2)


for _cls in (FaceSharpness, FrameSharpness, EyesOpen, Noise, Exposure, Clipping, MotionBlur, JpegArtefacts):
    register_member(_cls.name, _cls, default=True)
