"""The quality-member interface.

A *member* judges one aspect of a shot (sharpness of the eyes, noise, a deep
portrait quality model, ...).  It declares what it needs (the whole reduced
image, the aligned face crops, or both) and returns a raw ``value`` in its own
units plus a ``quality`` in (0, 1], higher is better.  The fusion
(:mod:`engine.quality.fusion`) turns any number of members into one score per
shot; ranks are taken within each scene group.

Members are built once per worker process and must be picklable-free to build:
``create_member(name, **kwargs)`` from :mod:`engine.quality.registry`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, ClassVar

import numpy as np

IMAGE = "image"
FACES = "faces"


@dataclass
class FaceInput:
    """One detected face, as members see it."""

    box: tuple[float, float, float, float]  # x, y, w, h in pixels of ShotInput.image
    landmarks: np.ndarray  # (5, 2) pixels of ShotInput.image: eye R, eye L, nose, mouth R, mouth L
    det_score: float
    crop: np.ndarray  # aligned, padded RGB uint8 crop (CROP_SIZE square)
    signals: dict[str, float] = field(default_factory=dict)  # per-face signals (faces.py)

    @property
    def area(self) -> float:
        return float(self.box[2] * self.box[3])


@dataclass
class ShotInput:
    """What members get for one shot: the reduced RGB image and its faces."""

    image: np.ndarray  # RGB uint8, long side <= analysis size
    faces: list[FaceInput] = field(default_factory=list)
    meta: dict[str, Any] = field(default_factory=dict)

    @cached_property
    def gray(self) -> np.ndarray:
        """Luminance in [0, 1], float32."""
        import cv2

        g = cv2.cvtColor(np.ascontiguousarray(self.image), cv2.COLOR_RGB2GRAY)  # Rec.601 weights
        return g.astype(np.float32) * np.float32(1.0 / 255.0)

    def important_faces(self, min_rel: float = 0.25) -> list[FaceInput]:
        """Faces at least ``min_rel`` of the largest face's area (background faces don't count)."""
        if not self.faces:
            return []
        top = max(f.area for f in self.faces)
        return [f for f in self.faces if f.area >= min_rel * top]


GROUP_COMPARISONS = (None, "best", "median", "below_median", "below_best")


@dataclass(frozen=True)
class MemberSpec:
    """Everything the fusion, the cache and the GUI need to know about one member.

    The one description of a member: built by :meth:`QualityMember.spec` (class attributes
    plus the instance's configured weight), never by hand elsewhere.

    ``relative``/``relative_scale``: the group comparison (see :class:`QualityMember`).
    ``cache_id``: the identity of this member's cached scores in a catalog; scores stored
    under another identity (an older model of the same pack) are never fused with these.
    ``face_signal``: the per-face signal (``FaceInput.signals``) the member judges, so that
    the fusion can compare each person with their own frames of the burst.
    """

    name: str
    weight: float
    higher_is_better: bool = True
    relative: str | None = None
    relative_scale: float = 1.0
    needs: frozenset[str] = frozenset({IMAGE})
    licence: str = "Apache-2.0"
    cache_id: str = ""
    face_signal: str | None = None
    face_relative: str | None = None
    face_scale: float = 1.0

    def __post_init__(self) -> None:
        for kind in (self.relative, self.face_relative):
            if kind not in GROUP_COMPARISONS:
                raise ValueError(f"{self.name}: unknown group comparison {kind!r}")
        if not self.weight >= 0:
            raise ValueError(f"{self.name}: weight must be >= 0, not {self.weight!r}")
        if not self.cache_id:
            object.__setattr__(self, "cache_id", self.name)


@dataclass
class MemberScore:
    value: float  # raw signal in the member's own units
    quality: float  # in (0, 1], higher is better
    # (value, quality) of each face of ``ShotInput.faces`` (None: that face not judged), when
    # the member looks at faces
    per_face: list[tuple[float, float] | None] | None = None


class QualityMember:
    """Base class of quality members.

    Subclasses set ``name``, ``needs``, ``higher_is_better`` (direction of
    ``value``), ``weight`` (default fusion weight) and implement ``score``.
    ``score`` returns ``None`` when the member does not apply to the shot (a
    face member on a shot with no face): the fusion then ignores it.
    """

    name: str = "member"
    needs: frozenset[str] = frozenset({IMAGE})
    higher_is_better: bool = True
    weight: float = 1.0
    description: str = ""
    licence: str = "Apache-2.0"
    # How the fusion compares a shot with the rest of its group, on top of ``quality``:
    # None (absolute only), "best" (ratio to the best value of the group, to the power
    # ``relative_scale``: the sharpest frame of a burst sets the bar) or "median"
    # (Gaussian penalty on the distance to the group median, ``relative_scale`` in the
    # member's units: the burst's consensus exposure) or "below_median" (exponential
    # penalty on how much worse than the group median a shot is, beyond a dead zone of
    # ``relative_scale``: a blink against a burst of open eyes).
    relative: ClassVar[str | None] = None
    relative_scale: ClassVar[float] = 1.0
    # The per-face signal the member judges, if any; and how each person's per-face values
    # (``MemberScore.per_face``) are compared with that person's other frames of the burst:
    # a group comparison as above ("below_best": relative shortfall from the person's best
    # frame beyond a dead zone of ``face_scale``).
    face_signal: ClassVar[str | None] = None
    face_relative: ClassVar[str | None] = None
    face_scale: ClassVar[float] = 1.0

    def cache_id(self) -> str:
        """Identity of this member's cached scores (packs add version and model checksum)."""
        return self.name

    def spec(self) -> MemberSpec:
        """This member's :class:`MemberSpec` (with its configured weight)."""
        return MemberSpec(
            name=self.name,
            weight=float(self.weight),
            higher_is_better=bool(self.higher_is_better),
            relative=self.relative,
            relative_scale=float(self.relative_scale),
            needs=frozenset(self.needs),
            licence=self.licence,
            cache_id=self.cache_id(),
            face_signal=self.face_signal,
            face_relative=self.face_relative,
            face_scale=float(self.face_scale),
        )

    def score(self, shot: ShotInput) -> MemberScore | None:
        raise NotImplementedError

    def quality_of(self, value: float, faces: bool = False) -> float:
        """The quality (0, 1] this member gives a raw ``value`` (``faces``: the shot has faces).

        Members whose mapping is a function of the value alone implement it, so that a
        re-calibration can be checked on cached values without re-analysing images."""
        raise NotImplementedError

    def score_batch(self, shots: Sequence[ShotInput]) -> list[MemberScore | None]:
        """Score several shots; batched members (deep models) override this."""
        return [self.score(s) for s in shots]

    def info(self) -> dict[str, Any]:
        spec = self.spec()
        return {
            "name": spec.name,
            "needs": sorted(spec.needs),
            "higher_is_better": spec.higher_is_better,
            "weight": spec.weight,
            "description": self.description,
            "licence": spec.licence,
            "relative": spec.relative,
            "cache_id": spec.cache_id,
        }


def clamp_quality(q: float, eps: float = 1e-3) -> float:
    """Keep a quality in [eps, 1] (the fusion takes logs)."""
    if not np.isfinite(q):
        return eps
    return float(min(1.0, max(eps, q)))
