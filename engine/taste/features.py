"""Per-shot features for the taste ranker, read from a session catalog.

For every member that scored a shot: its stored quality ``q:M``, its raw value ``v:M``, the
signed deviation of the value from the group's median ``d:M`` (brighter or darker than the
burst, not only how far), its ratio to the burst's largest value ``r:M`` and its place in the
burst ``k:M`` (0 lowest .. 1 highest: "the sharpest of the burst" is linear there); for the largest face: each signal ``f:S`` and its signed
deviation ``fd:S``; and the number of faces.  The default fusion's log-score ``D`` of each
shot (``log(score / 100)``, group comparisons included) is kept beside them: the learned
ranking is ``a * D + w . z`` and ``w = 0`` is exactly the default ranking.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

FACE_SIGNALS = (
    "eye_sharpness", "face_exposure", "face_clip_high", "face_clip_low", "face_size",
    "yaw", "pitch", "roll", "eye_aspect_ratio", "eyes_open",
)  # fmt: skip


@dataclass
class Shot:
    key: str
    hash: str
    scores: dict[str, tuple[float, float]]  # member -> (value, quality)
    face: dict[str, float]  # the largest face's signals ({} without faces)
    n_faces: int
    default: float = 0.0  # log(fused default score / 100)


@dataclass
class Group:
    session: str  # which shoot (catalog) it comes from
    gid: int
    shots: list[Shot]
    prefs: list[tuple[int, int] | None] = field(
        default_factory=list
    )  # per shot: (flag rank, stars) or None


def default_log_scores(
    group_scores: Sequence[Mapping[str, tuple[float, float]]], specs: Mapping[str, Any]
) -> list[float]:
    from engine.quality.fusion import rank_group

    scores = rank_group(list(group_scores), specs).scores
    return [math.log(max(s, 1e-6) / 100.0) for s in scores]


def _median(vals: list[float]) -> float | None:
    return float(np.median(vals)) if vals else None


def group_features(shots: Sequence[Shot]) -> list[dict[str, float]]:
    """The feature dict of each shot of one group (missing features are left out)."""
    members = sorted({m for s in shots for m in s.scores})
    med = {
        m: _median(
            [s.scores[m][0] for s in shots if m in s.scores and math.isfinite(s.scores[m][0])]
        )
        for m in members
    }
    fmed = {k: _median([s.face[k] for s in shots if k in s.face]) for k in FACE_SIGNALS}
    vals = {
        m: np.array(
            [s.scores[m][0] for s in shots if m in s.scores and math.isfinite(s.scores[m][0])]
        )
        for m in members
    }
    top = {m: float(np.max(np.abs(v))) if len(v) else 0.0 for m, v in vals.items()}
    out = []
    for s in shots:
        f: dict[str, float] = {"n_faces": float(s.n_faces)}
        for m in members:
            if m in s.scores and math.isfinite(s.scores[m][0]):
                v, q = s.scores[m]
                f[f"q:{m}"] = float(q)
                f[f"v:{m}"] = float(v)
                f[f"d:{m}"] = float(v) - (med[m] or 0.0)
                # scale-free: ratio to the burst's largest value, and the place in the burst (0..1)
                f[f"r:{m}"] = float(v) / top[m] if top[m] > 0 else 1.0
                n = len(vals[m])
                f[f"k:{m}"] = (
                    (float(np.sum(vals[m] < v)) + 0.5 * float(np.sum(vals[m] == v) - 1)) / (n - 1)
                    if n > 1
                    else 0.5
                )
            elif med[m] is not None:
                f[f"d:{m}"] = 0.0
        for k in FACE_SIGNALS:
            if k in s.face:
                f[f"f:{k}"] = float(s.face[k])
                f[f"fd:{k}"] = float(s.face[k]) - (fmed[k] or 0.0)
            elif fmed[k] is not None:
                f[f"fd:{k}"] = 0.0
        out.append(f)
    return out


def vectorise(
    feats: Sequence[Mapping[str, float]], names: Sequence[str], mean: np.ndarray
) -> np.ndarray:
    """Rows of ``feats`` over ``names``; a missing feature takes the training mean (z = 0)."""
    x = np.tile(np.asarray(mean, dtype=np.float64), (len(feats), 1))
    index = {n: i for i, n in enumerate(names)}
    for r, f in enumerate(feats):
        for n, v in f.items():
            i = index.get(n)
            if i is not None and math.isfinite(v):
                x[r, i] = v
    return x


def face_signals_by_hash(catalog: Any) -> dict[str, tuple[dict[str, float], int]]:
    """hash -> (largest face's signals, number of faces), in one query."""
    out: dict[str, tuple[dict[str, float], int]] = {}
    best: dict[str, float] = {}
    for h, w, hh, sig in catalog.face_boxes():
        area = float(w or 0) * float(hh or 0)
        prev = out.get(h)
        n = (prev[1] if prev else 0) + 1
        if prev is None or area > best[h]:
            try:
                parsed = json.loads(sig) if sig else {}
            except ValueError:
                parsed = {}
            signals = {
                k: float(v)
                for k, v in parsed.items()
                if isinstance(v, (int, float)) and math.isfinite(v)
            }
            out[h] = (signals, n)
            best[h] = area
        else:
            out[h] = (prev[0], n)
    return out


def _specs_for(members: set[str]) -> dict[str, Any]:
    from engine.pipeline import member_specs
    from engine.quality.registry import available_members

    known = set(available_members())
    return member_specs(sorted(m for m in members if m in known))


FLAG_RANK = {"pick": 1, None: 0, "reject": -1}


def load_groups(catalog: Any, session: str) -> list[Group]:
    """Every ranked group of a catalog with its shots, default log-scores and decisions."""
    rows = catalog.grouped_shots()
    # only scores made by the members as they are now (a pack's scores are stored under its
    # name, version and model checksum): an older model's values never become features
    specs = _specs_for(catalog.scored_members())
    scores: dict[str, dict[str, tuple[float, float]]] = {}
    for h, by_member in catalog.scores_by_hash({n: s.cache_id for n, s in specs.items()}).items():
        for m, (v, q) in by_member.items():
            if v is not None and q is not None:
                scores.setdefault(h, {})[m] = (float(v), float(q))
    faces = face_signals_by_hash(catalog)
    decisions = catalog.decisions()
    by_gid: dict[int, Group] = {}
    for key, h, gid, nf in rows:
        g = by_gid.setdefault(int(gid), Group(session, int(gid), []))
        sig, n = faces.get(h, ({}, 0))
        g.shots.append(Shot(key, h, scores.get(h, {}), sig, int(nf or n or 0)))
        d = decisions.get(key)
        g.prefs.append(
            None
            if d is None or (d.flag is None and not d.stars)
            else (FLAG_RANK.get(d.flag, 0), int(d.stars or 0))
        )
    groups = list(by_gid.values())
    for g in groups:
        ds = default_log_scores(
            [{m: v for m, v in s.scores.items() if m in specs} for s in g.shots], specs
        )
        for s, d in zip(g.shots, ds):
            s.default = d
    return groups
