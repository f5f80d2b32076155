"""Fusion of any number of quality members into one score per shot, and ranks within groups.

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
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class MemberSpec:
    name: str
    weight: float
    higher_is_better: bool = True
    relative: str | None = None
    relative_scale: float = 1.0
    needs: frozenset[str] = frozenset({"image"})


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
    """Each member's share of log(score/100): what the GUI's "explain the rank" draws."""
    den = sum(specs[n].weight for n in qualities if n in specs and specs[n].weight > 0)
    if not den:
        return {}
    return {n: specs[n].weight * math.log(max(q, 1e-3)) / den for n, q in qualities.items() if n in specs and specs[n].weight > 0}


def rank_group(
    group: Sequence[Scores], specs: Mapping[str, MemberSpec], tiebreak: Sequence[object] | None = None
) -> tuple[list[float], list[int], list[dict[str, float]]]:
    """Scores, ranks (1 = best) and effective qualities of the shots of one group."""
    eff = effective_qualities(group, specs)
    scores = [fused_score(e, specs) for e in eff]
    keys = list(tiebreak) if tiebreak is not None else list(range(len(group)))
    order = sorted(range(len(group)), key=lambda i: (-round(scores[i], 9), keys[i]))  # type: ignore[index]
    ranks = [0] * len(group)
    for r, i in enumerate(order, start=1):
        ranks[i] = r
    return scores, ranks, eff
