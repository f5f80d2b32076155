"""Which face cost the shot its rank, from the engine's record of the rank (no Qt).

The engine judges every important person against their own frames of the burst and keeps, in
the explain record (``shots.explain``, :func:`engine.quality.fusion.rank_group`), each face
member's effective quality per face (``{"faces": {"0": q, ...}}``).  A member's quality for the
shot is its worst important face's, so the face(s) at that minimum are the ones that cost the
shot: their cost is the points the fused score would gain were they as good as the next face
of the shot, and no better than the same member in the scene's best shot (the reference: what
the face cost the shot *its rank*, not what it costs against a perfect photograph)::

    score = 100 * exp(sum_i c_i),   c_i = w_i ln q_i / W

Faces tied at the minimum (two people blinking) share one cost: fixing one alone gains nothing.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

# What a low per-face quality of each face member means, in a photographer's words
PHRASES = {
    "eyes_open": "eyes closed",
    "face_sharpness": "out of focus",
    "exposure": "badly exposed",
    "motion_blur": "motion blur",
}
MIN_POINTS = 1.0  # smaller costs are the jitter of the signals, not worth a line


@dataclass(frozen=True)
class FaceCost:
    faces: tuple[int, ...]  # face indices (0-based, the catalog's order)
    member: str
    quality: float  # the faces' effective quality for the member
    points: float  # score points the shot would gain were these faces as good as the next

    @property
    def what(self) -> str:
        return PHRASES.get(self.member, "low " + self.member.split(":", 1)[-1].replace("_", " "))

    def text(self) -> str:
        who = ("face " if len(self.faces) == 1 else "faces ") + ", ".join(str(k + 1) for k in self.faces)
        return f"{who}: {self.what} (−{self.points:.0f} points)"


def face_costs(explain: Mapping[str, Any] | None, reference: Mapping[str, Any] | None = None,
               min_points: float = MIN_POINTS) -> list[FaceCost]:
    """The faces that cost the shot points against ``reference`` (the explain record of the
    scene's best shot; None: against perfect faces), costliest first."""
    rows: dict[str, tuple[float, float, float]] = {}
    for m, d in (explain or {}).items():
        try:
            q, w, c = float(d["quality"]), float(d["weight"]), float(d["contribution"])
        except (KeyError, TypeError, ValueError):
            continue
        if math.isfinite(q) and math.isfinite(w) and math.isfinite(c):
            rows[m] = (q, w, c)
    den = sum(w for _q, w, _c in rows.values() if w > 0)
    if not rows or den <= 0:
        return []
    total = sum(c for *_x, c in rows.values())
    score = 100.0 * math.exp(total)
    out = []
    for m, (q, w, c) in rows.items():
        faces = (explain or {})[m].get("faces") if isinstance((explain or {})[m], dict) else None
        if w <= 0 or not isinstance(faces, dict):
            continue
        try:
            per = {int(k): float(v) for k, v in faces.items()}
        except (TypeError, ValueError):
            continue
        if not per:
            continue
        worst = min(per.values())
        if worst > q + 1e-6:  # the shot's quality is set elsewhere (a person lost in this frame)
            continue
        tied = tuple(sorted(k for k, v in per.items() if v <= worst + 1e-6))
        rest = [v for k, v in per.items() if k not in tied]
        fixed = min(rest + [1.0, _quality(reference, m)])
        if fixed <= worst:
            continue
        gain = 100.0 * math.exp(total - c + w * math.log(max(fixed, 1e-3)) / den) - score
        if gain >= min_points:
            out.append(FaceCost(tied, m, worst, gain))
    out.sort(key=lambda fc: -fc.points)
    return out


def _quality(record: Mapping[str, Any] | None, member: str) -> float:
    try:
        return float((record or {})[member]["quality"])
    except (KeyError, TypeError, ValueError):
        return 1.0


def costs_by_face(costs: list[FaceCost]) -> dict[int, list[FaceCost]]:
    out: dict[int, list[FaceCost]] = {}
    for fc in costs:
        for k in fc.faces:
            out.setdefault(k, []).append(fc)
    return out
