"""Fusion of any number of quality members into one score per shot, and ranks within groups.

:func:`rank_group` is the one fusion: ``culler rank`` (``engine.pipeline.regroup``), the
deep ensemble, the GUI's "explain the rank" chart, the benchmarks and the tests all call it.

The score is a weighted geometric mean of member qualities, ``100 * exp(sum w
log q / sum w)``, over the members that apply to the shot: one bad aspect (a
blink, a missed focus) pulls a shot down however good the rest is, which is
how photographers judge.  Members that declare a group comparison
(``QualityMember.relative``) have their quality multiplied by a factor that
compares the shot with the rest of its group.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any, NamedTuple

import numpy as np

from engine.quality.base import MemberSpec

__all__ = [
    "GroupRanking",
    "MemberSpec",
    "contributions",
    "effective_qualities",
    "explain_record",
    "flagged_faces",
    "fused_score",
    "rank_group",
]


Scores = Mapping[str, tuple[float, float]]  # member -> (value, quality)


def _factor(kind: str | None, scale: float, higher: bool, vals: np.ndarray, ref_vals: np.ndarray) -> np.ndarray:
    """The group comparison of ``vals`` (one member over the shots, or one person over their
    frames) against ``ref_vals`` (the eligible ones): a factor in (0, 1] per value."""
    factor = np.ones_like(vals)
    if kind == "best" and len(vals) > 1:
        if higher:
            ratio = np.maximum(vals, 0) / max(float(ref_vals.max()), 1e-12)
        else:
            ratio = float(ref_vals.min()) / np.maximum(vals, 1e-12)
        factor = np.clip(ratio, 1e-3, 1.0) ** scale
    elif kind == "median" and len(vals) > 2:
        med = float(np.median(vals))
        factor = np.exp(-0.5 * ((vals - med) / scale) ** 2)
    elif kind == "below_median" and len(vals) > 2:
        med = float(np.median(vals))
        worse = (med - vals) if higher else (vals - med)
        # a dead zone of one scale: the jitter of a detector between frames is not a blink
        factor = np.exp(-np.maximum(worse - scale, 0.0) / scale)
    elif kind == "below_best" and len(vals) > 1:
        # relative shortfall from this person's own best frame, beyond a dead zone of one scale
        ref = max(float(ref_vals.max()), 1e-12)
        worse = 1.0 - np.maximum(vals, 0) / ref
        factor = np.exp(-np.maximum(worse - scale, 0.0) / (0.5 * scale))
    return factor


LOOKING_DOWN_DEG = 8.0  # a face this much lower in pitch than the person's usual is looking down
EYES_SHARP_ENOUGH = 0.8  # faces softer than this share of the person's sharpest are not judged open/closed
EYES_READABLE = 0.5  # a person whose eyes never read open (p below this in every frame) is not judged
EYES_P_DEAD, EYES_P_SCALE = 0.2, 0.1  # eyes_open probability shortfall: jitter allowed, then the cost rate
EYES_VIS_DEAD, EYES_VIS_SCALE = 0.15, 0.1  # iris_visibility rise over the person's clearest iris: jitter, then the rate
EYES_REF_QUANTILE = 0.75  # the person's open eyes: this quantile of their judged readings, not the extreme


def _eyes_factor(rows: Sequence[tuple[Any, ...]], eligible: set[int], scale: float) -> np.ndarray:
    """Eyes of one person against that person's own open eyes in the burst.

    Judged on the frames where this person's face is sharp enough to read (``face_detail``
    at least 0.8 of their sharpest: a blurred eye fools the landmark model either way; the
    sharpness member speaks for those frames) and where the face is not looking down
    (pitch 8 degrees under the person's usual: lowered lids are a pose, not a blink).  The
    cost comes from two shortfalls from the person's open eyes -- the upper quartile of their
    judged frames' readings, not the single widest, which on a noisy face (glasses, hard light)
    is an outlier that every other frame of a burst of identical eyes falls short of -- the eye aspect ratio
    (relative, dead zone ``scale``) and the eyes-open probability (absolute, dead zone 0.2) --
    as the geometric mean of their factors: each reading carries half the evidence, so a
    half-closed lid that the aspect ratio reads 17 % narrower while the probability stays
    inside its dead zone costs the frame more than the sharpness gain between two hand-held
    frames (with the smaller of the two, one reading vetoed the other and such lids won on
    sharpness).  A person whose eyes never read open
    (``eyes_open`` < 0.5 in every frame: squints, hard light) is not judged.  A half-closed
    eye costs about as much as a closed one.

    A second reading, from the pixels, can also cost the frame: ``iris_visibility`` (iris disc
    over the skin around the eye) risen more than 0.15 above the person's clear iris (the lower
    quartile of their judged frames' readings), i.e. skin where the iris was.  The landmark model often keeps a wide aspect ratio on
    a lowered lid, and this reading catches many of those lids (docs/benchmarks.md).
    """
    n = len(rows)
    ear = np.array([float(r[2]) for r in rows])
    p = np.array([float(r[4].get("eyes_open", np.nan)) for r in rows])
    sharp = np.array([float(r[4].get("face_detail", r[4].get("eye_sharpness", np.nan))) for r in rows])
    pitch = np.array([float(r[4].get("pitch", 0.0)) for r in rows])
    judged = np.ones(n, bool)
    if np.isfinite(sharp).any():
        judged &= ~np.isfinite(sharp) | (sharp >= EYES_SHARP_ENOUGH * np.nanmax(sharp))
    judged &= pitch >= float(np.median(pitch)) - LOOKING_DOWN_DEG
    factor = np.ones(n)
    if judged.sum() < 2:
        return factor
    ref_idx = [j for j in range(n) if judged[j] and rows[j][0] in eligible] or [j for j in range(n) if judged[j]]
    if not np.isfinite(p[ref_idx]).any() or float(np.nanmax(p[ref_idx])) < EYES_READABLE:
        # the model never sees this person's eyes open (squints, hard light): it cannot tell
        # a blink for them (the aspect ratio alone reorders motion-blurred frames)
        return factor
    # the reference is a high quantile, not the single widest reading: on a noisy face (glasses,
    # hard light) the widest of 19 identical frames is an outlier every other frame falls short of
    ear_ref = max(float(np.quantile(ear[ref_idx], EYES_REF_QUANTILE)), 1e-6)
    p_ref = float(np.nanquantile(p[ref_idx], EYES_REF_QUANTILE))
    f_ear = np.exp(-np.maximum(1.0 - ear / ear_ref - scale, 0.0) / (0.5 * scale))
    f_p = np.exp(-np.maximum(np.nan_to_num(p_ref - p, nan=0.0) - EYES_P_DEAD, 0.0) / EYES_P_SCALE)
    # each reading carries half the evidence (log-space mean): a lid that one reading sees
    # clearly and the other only inside its dead zone still costs the frame (half the cost
    # of both), while jitter inside both dead zones costs nothing
    f = np.sqrt(f_ear * f_p)
    vis = np.array([float(r[4].get("iris_visibility", np.nan)) for r in rows])
    if np.isfinite(vis[ref_idx]).any():
        rise = np.nan_to_num(vis - float(np.nanquantile(vis[ref_idx], 1.0 - EYES_REF_QUANTILE)), nan=0.0)
        f = np.minimum(f, np.exp(-np.maximum(rise - EYES_VIS_DEAD, 0.0) / EYES_VIS_SCALE))
    return np.where(judged, f, 1.0)


def _per_person(
    name: str,
    spec: MemberSpec,
    faces: Sequence[Sequence[Mapping[str, Any]]],
    people: Sequence[Sequence[int]],
    important: set[int],
    eligible: set[int],
) -> tuple[dict[int, float], dict[int, dict[int, float]]] | None:
    """Each important person judged against their own frames; per shot the worst person's
    quality, and per shot the effective quality of every judged face (by face index).
    None when no face of the group carries this member's per-face scores."""
    series: dict[int, list[tuple[int, int, float, float, Mapping[str, Any]]]] = {}  # person -> (shot, face, value, q, signals)
    for i, (fs, ids) in enumerate(zip(faces, people)):
        for k, (f, p) in enumerate(zip(fs, ids)):
            sc = (f.get("scores") or {}).get(name)
            if p not in important or sc is None:
                continue
            v, q = float(sc[0]), float(sc[1])
            if not (math.isfinite(v) and math.isfinite(q)):
                continue
            series.setdefault(p, []).append((i, k, v, q, f.get("signals") or {}))
    if not series:
        return None
    per_face: dict[int, dict[int, float]] = {}
    shot_q: dict[int, float] = {}
    n = len(faces)
    for _p, rows in series.items():
        vals = np.array([r[2] for r in rows], np.float64)
        ref = np.array([r[2] for r in rows if r[0] in eligible] or list(vals))
        if spec.face_relative == "below_best":
            factor = _eyes_factor(rows, eligible, spec.face_scale)
        else:
            factor = _factor(spec.face_relative, spec.face_scale, spec.higher_is_better, vals, ref)
        eff = [max(1e-3, min(1.0, r[3] * float(f))) for r, f in zip(rows, factor)]
        for (i, k, *_rest), q in zip(rows, eff):
            per_face.setdefault(i, {})[k] = q
            shot_q[i] = min(shot_q.get(i, 1.0), q)
        if len(rows) * 2 >= n:
            # an important person lost in a frame (blurred beyond detection, turned away) is
            # no better there than in their worst frame
            seen = {r[0] for r in rows}
            for i in range(n):
                if i not in seen:
                    shot_q[i] = min(shot_q.get(i, 1.0), min(eff))
    return shot_q, per_face


def effective_qualities(
    group: Sequence[Scores],
    specs: Mapping[str, MemberSpec],
    eligible_frac: float = 0.8,
    faces: Sequence[Sequence[Mapping[str, Any]]] | None = None,
    face_out: list[dict[int, dict[str, float]]] | None = None,
) -> list[dict[str, float]]:
    """Per shot, each applicable member's quality after the group comparison.

    For "best" members the bar is set by the best value among the shots that are
    otherwise good (absolute score within ``eligible_frac`` of the group's best):
    a frame wrecked by JPEG blocking, whose block edges read as detail, cannot
    set the sharpness bar for its burst.

    With ``faces`` (per shot, the face records of the catalog: x, y, w, h, signals and
    per-face member ``scores``), members that judge faces compare each *person* with their
    own frames of the burst (:mod:`engine.quality.people`: faces matched across frames,
    important persons only) and a shot is as good as its worst important person.
    ``face_out`` receives, per shot, face index -> member -> effective quality.
    """
    if len(group) >= 3:
        # A member that applies to a minority of the group (a face "found" in two frames of a
        # burst without faces, by noise or blocking) is not evidence about the group: drop it.
        counts = {n: sum(1 for s in group if n in s and s[n] is not None) for n in specs}
        keep = {n for n, c in counts.items() if c * 2 >= len(group)}
        group = [{n: v for n, v in s.items() if n in keep} for s in group]
    prelim = [fused_score({n: float(v[1]) for n, v in s.items() if v is not None and n in specs}, specs) for s in group]
    top = max(prelim, default=0.0)
    eligible = {i for i, p in enumerate(prelim) if p >= eligible_frac * top}
    out: list[dict[str, float]] = [{} for _ in group]
    people: list[list[int]] = []
    important: set[int] = set()
    if faces is not None and len(faces) == len(group) and any(faces):
        from engine.quality.people import important_people, match_people

        people = match_people(faces)
        important = important_people(faces, people)
    for name, spec in specs.items():
        idx = [i for i, s in enumerate(group) if name in s and s[name] is not None]
        if not idx:
            continue
        if important and spec.face_relative is not None:
            judged = _per_person(name, spec, faces or [], people, important, eligible)
            if judged is not None:
                shot_q, per_face = judged
                for i in idx:
                    if i in shot_q:
                        out[i][name] = shot_q[i]
                if face_out is not None:
                    for i, fq in per_face.items():
                        for k, q in fq.items():
                            face_out[i].setdefault(k, {})[name] = q
                have = [i for i in idx if name in out[i]]
                if have and len(have) < len(group):
                    worst = min(out[i][name] for i in have)
                    for i in set(range(len(group))) - set(have):
                        out[i][name] = worst
                if have:
                    continue
        vals = np.array([group[i][name][0] for i in idx], dtype=np.float64)
        ref_vals = np.array([v for i, v in zip(idx, vals) if i in eligible] or list(vals))
        factor = _factor(spec.relative, spec.relative_scale, spec.higher_is_better, vals, ref_vals)
        for i, f in zip(idx, factor):
            q = float(group[i][name][1])
            out[i][name] = max(1e-3, min(1.0, q * float(f)))
        if len(idx) < len(group):
            # The majority of the group has this member (a face) and these shots do not: the
            # subject's face was lost (blurred beyond detection, turned away): no better than
            # the worst shot that has it.
            worst = min(out[i][name] for i in idx)
            for i in set(range(len(group))) - set(idx):
                out[i][name] = worst
    return out


def fused_score(qualities: Mapping[str, float], specs: Mapping[str, MemberSpec]) -> float:
    num = den = 0.0
    for name, q in qualities.items():
        w = specs[name].weight if name in specs else 0.0
        if w <= 0:
            continue
        num += w * math.log(max(q, 1e-3))
        den += w
    return 100.0 * math.exp(num / den) if den else 0.0


def contributions(qualities: Mapping[str, float], specs: Mapping[str, MemberSpec]) -> dict[str, float]:
    """Each member's share of log(score/100), keyed by member name (weight-0 members: 0.0)."""
    den = sum(specs[n].weight for n in qualities if n in specs and specs[n].weight > 0)
    out = {}
    for n, q in qualities.items():
        if n not in specs:
            continue
        w = specs[n].weight
        out[n] = w * math.log(max(q, 1e-3)) / den if den and w > 0 else 0.0
    return out


def explain_record(qualities: Mapping[str, float], specs: Mapping[str, MemberSpec]) -> dict[str, dict[str, Any]]:
    """The record of a rank that the catalog keeps (``shots.explain``) and the GUI draws:
    ``{member: {"quality", "weight", "contribution"}}``, keyed by name, every applicable
    member included (a weight-0 member contributes 0)."""
    c = contributions(qualities, specs)
    return {n: {"quality": float(q), "weight": float(specs[n].weight), "contribution": c[n]} for n, q in qualities.items() if n in specs}


def flagged_faces(record: Mapping[str, Any], member: str, below: float = 0.5) -> list[int]:
    """Indices of the faces whose effective quality for ``member`` in an explain record (the
    person judged against their own frames of the burst) is below ``below``: the faces that
    cost the shot its rank, e.g. ``flagged_faces(explain, "eyes_open")`` for the EYES badge."""
    faces = (record.get(member) or {}).get("faces") or {}
    return sorted(int(k) for k, q in faces.items() if float(q) < below)


class GroupRanking(NamedTuple):
    scores: list[float]  # fused 0..100 per shot
    ranks: list[int]  # 1 = best
    effective: list[dict[str, float]]  # member -> quality after the group comparison
    explain: list[dict[str, dict[str, Any]]]  # explain_record per shot
    faces: list[dict[int, dict[str, float]]]  # per shot: face index -> member -> effective quality


def rank_group(
    group: Sequence[Scores],
    specs: Mapping[str, MemberSpec],
    tiebreak: Sequence[object] | None = None,
    faces: Sequence[Sequence[Mapping[str, Any]]] | None = None,
) -> GroupRanking:
    """THE fusion: scores, ranks (1 = best), effective qualities and explain records of the
    shots of one scene group.  ``group``: per shot, member name -> (value, quality);
    ``faces``: per shot, its face records (see :func:`effective_qualities`)."""
    face_q: list[dict[int, dict[str, float]]] = [{} for _ in group]
    eff = effective_qualities(group, specs, faces=faces, face_out=face_q)
    scores = [fused_score(e, specs) for e in eff]
    keys = list(tiebreak) if tiebreak is not None else list(range(len(group)))
    order = sorted(range(len(group)), key=lambda i: (-round(scores[i], 9), keys[i]))  # type: ignore[index]
    ranks = [0] * len(group)
    for r, i in enumerate(order, start=1):
        ranks[i] = r
    explain = [explain_record(e, specs) for e in eff]
    for rec, fq in zip(explain, face_q):
        for name, d in rec.items():
            per = {k: q[name] for k, q in fq.items() if name in q}
            if per:
                d["faces"] = {str(k): v for k, v in sorted(per.items())}
                d["worst_face"] = min(per, key=lambda k: per[k])
    return GroupRanking(scores, ranks, eff, explain, face_q)
