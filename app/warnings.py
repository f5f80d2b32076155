"""Warnings shown on thumbnails: eyes closed, face out of focus, face under/over-exposed.

Derived from the per-face signals the engine stores (``engine.faces``).  Only the faces that
matter are looked at (at least a quarter of the largest face's area), as the members do.

Eyes are judged per person, as the ranking judges them: when the engine's record of the rank
(``shots.explain``) carries the eyes member's per-face qualities -- each person against their
own frames of the burst -- a face is badged exactly when
:func:`engine.quality.fusion.flagged_faces` says it cost the shot (a blink, half-closed eyes),
so a burst of identical eyes (a squint, hard light, a JPEG-damaged frame) carries no badge.  The
fixed threshold on the raw eye-state signal is only for catalogs without that record.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

EYES_CLOSED = "eyes closed"
SOFT = "face out of focus"
DARK = "face under-exposed"
BRIGHT = "face over-exposed"
MISSING = "file missing"
UNREADABLE = "unreadable"
SMALL_PREVIEW = "preview too small to judge focus"  # a RAW whose largest embedded preview is < 1,000 px

SHORT = {EYES_CLOSED: "EYES", SOFT: "SOFT", DARK: "DARK", BRIGHT: "BRIGHT",
         MISSING: "MISSING", UNREADABLE: "ERROR", SMALL_PREVIEW: "SMALL"}

# Thresholds on the engine's signals (engine/faces.py): eyes_open and face_exposure are 0..1,
# face_clip_* are fractions of face pixels clipped.  eye_sharpness has no absolute scale across
# cameras, so "out of focus" is judged against the sharpest shot of the same scene group.
EYES_OPEN_MIN = 0.35
EXPOSURE_LOW = 0.22
EXPOSURE_HIGH = 0.85
CLIP_MAX = 0.12
SHARPNESS_REL_MIN = 0.65  # the demo bursts: defocus levels 2-3 land at 0.56-0.60


def important_faces(faces: Sequence[dict[str, Any]], min_rel: float = 0.25) -> list[dict[str, Any]]:
    if not faces:
        return []
    areas = [float(f.get("w") or 0) * float(f.get("h") or 0) for f in faces]
    top = max(areas) or 1.0
    return [f for f, a in zip(faces, areas) if a >= min_rel * top]


def shot_sharpness(faces: Sequence[dict[str, Any]]) -> float | None:
    """The weakest important face's eye sharpness (a group shot is as good as its softest face)."""
    vals = [float(f["signals"]["eye_sharpness"]) for f in important_faces(faces)
            if isinstance(f.get("signals"), dict) and f["signals"].get("eye_sharpness") is not None]
    return min(vals) if vals else None


EYES_MEMBER = "eyes_open"


def eyes_judged(explain: Mapping[str, Any] | None) -> list[int] | None:
    """The faces (indices) whose eyes cost the shot its rank, judged per person by the engine
    (:func:`engine.quality.fusion.flagged_faces`); None when the record has no per-face
    eyes qualities (an older catalog, a shot without judged faces)."""
    rec = (explain or {}).get(EYES_MEMBER)
    if not isinstance(rec, dict) or not isinstance(rec.get("faces"), dict):
        return None
    from engine.quality.fusion import flagged_faces

    try:
        return flagged_faces(explain or {}, EYES_MEMBER)
    except (TypeError, ValueError):
        return None


def eyes_verdicts(explain: Mapping[str, Any] | None) -> dict[int, bool] | None:
    """Face index -> eyes closed, for the faces the engine judged per person (important faces);
    None when the record has no per-face eyes qualities."""
    flagged = eyes_judged(explain)
    if flagged is None:
        return None
    faces = (explain or {})[EYES_MEMBER]["faces"]
    try:
        return {int(k): int(k) in flagged for k in faces}
    except (TypeError, ValueError):
        return None


def face_warnings(faces: Sequence[dict[str, Any]], group_best_sharpness: float | None,
                  explain: Mapping[str, Any] | None = None) -> list[str]:
    out: list[str] = []
    flagged = eyes_judged(explain)
    if flagged:
        out.append(EYES_CLOSED)
    for f in important_faces(faces):
        s = f.get("signals") or {}
        if not isinstance(s, dict):
            continue
        eo = s.get("eyes_open")
        if (flagged is None and eo is not None and float(eo) < EYES_OPEN_MIN
                and EYES_CLOSED not in out):
            out.append(EYES_CLOSED)
        es = s.get("eye_sharpness")
        if (es is not None and group_best_sharpness and group_best_sharpness > 0
                and float(es) < SHARPNESS_REL_MIN * group_best_sharpness and SOFT not in out):
            out.append(SOFT)
        ex = s.get("face_exposure")
        lo = s.get("face_clip_low")
        hi = s.get("face_clip_high")
        if ((ex is not None and float(ex) < EXPOSURE_LOW) or (lo is not None and float(lo) > CLIP_MAX)) \
                and DARK not in out:
            out.append(DARK)
        if ((ex is not None and float(ex) > EXPOSURE_HIGH) or (hi is not None and float(hi) > CLIP_MAX)) \
                and BRIGHT not in out:
            out.append(BRIGHT)
    return out
