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

__all__ = ["GroupRanking", "MemberSpec", "contributions", "effective_qualities", "explain_record", "fused_score", "rank_group"]


Scores = Mapping[str, tuple[float, float]]  # member -> (value, quality)


def effective_qualities(group: Sequence[Scores], specs: Mapping[str, MemberSpec], eligible_frac: float = 0.8) -> list[dict[str, float]]:
    """Per shot, each applicable member's quality after the group comparison.

    For "best" members the bar is set by the best value among the shots that are
    otherwise good (absolute score within ``eligible_frac`` of the group's best):
    a frame wrecked by JPEG blocking, whose block edges read as detail, cannot
    set the sharpness bar for its burst.
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
    for name, spec in specs.items():
        idx = [i for i, s in enumerate(group) if name in s and s[name] is not None]
        if not idx:
            continue
        vals = np.array([group[i][name][0] for i in idx], dtype=np.float64)
        factor = np.ones_like(vals)
        if spec.relative == "best" and len(idx) > 1:
            ref_vals = np.array([v for i, v in zip(idx, vals) if i in eligible] or list(vals))
            if spec.higher_is_better:
                ratio = np.maximum(vals, 0) / max(float(ref_vals.max()), 1e-12)
            else:
                ratio = float(ref_vals.min()) / np.maximum(vals, 1e-12)
            factor = np.clip(ratio, 1e-3, 1.0) ** spec.relative_scale
        elif spec.relative == "median" and len(idx) > 2:
            med = float(np.median(vals))
            factor = np.exp(-0.5 * ((vals - med) / spec.relative_scale) ** 2)
        elif spec.relative == "below_median" and len(idx) > 2:
            med = float(np.median(vals))
            worse = (med - vals) if spec.higher_is_better else (vals - med)
            # a dead zone of one scale: the jitter of a detector between frames is not a blink
            factor = np.exp(-np.maximum(worse - spec.relative_scale, 0.0) / spec.relative_scale)
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


class GroupRanking(NamedTuple):
    scores: list[float]  # fused 0..100 per shot
    ranks: list[int]  # 1 = best
    effective: list[dict[str, float]]  # member -> quality after the group comparison
    explain: list[dict[str, dict[str, Any]]]  # explain_record per shot


def rank_group(
    group: Sequence[Scores], specs: Mapping[str, MemberSpec], tiebreak: Sequence[object] | None = None
) -> GroupRanking:
    """THE fusion: scores, ranks (1 = best), effective qualities and explain records of the
    shots of one scene group.  ``group``: per shot, member name -> (value, quality)."""
    eff = effective_qualities(group, specs)
    scores = [fused_score(e, specs) for e in eff]
    keys = list(tiebreak) if tiebreak is not None else list(range(len(group)))
    order = sorted(range(len(group)), key=lambda i: (-round(scores[i], 9), keys[i]))  # type: ignore[index]
    ranks = [0] * len(group)
    for r, i in enumerate(order, start=1):
        ranks[i] = r
    return GroupRanking(scores, ranks, eff, [explain_record(e, specs) for e in eff])
