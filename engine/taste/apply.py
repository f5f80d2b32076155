"""Ranking a session with the active taste profile (called by ``engine.pipeline.regroup``)."""

from __future__ import annotations

import json
import math
import time
from collections.abc import Mapping, Sequence
from typing import Any

from engine.taste.features import Shot, face_signals_by_hash
from engine.taste.profile import Profile, active_profile

META_KEY = "ranked_by"


class Ranker:
    def __init__(self, profile: Profile, faces: Mapping[str, tuple[dict[str, float], int]]):
        self.profile = profile
        self.faces = faces

    def rerank(
        self,
        keys: Sequence[str],
        hashes: Sequence[str],
        group_scores: Sequence[Mapping[str, tuple[float, float]]],
        default_scores: Sequence[float],
        tiebreak: Sequence[Any],
    ) -> tuple[list[float], list[int]]:
        """Scores (on the default's 0-100 scale) and ranks (1 = best) of one group by taste."""  # fmt: skip
        shots = []
        for k, h, sc, d in zip(keys, hashes, group_scores, default_scores):
            sig, n = self.faces.get(h, ({}, 0))
            shots.append(Shot(k, h, dict(sc), sig, n, math.log(max(d, 1e-6) / 100.0)))
        t = self.profile.group_scores(shots)
        scores = self.profile.display_scores(t)
        order = sorted(range(len(shots)), key=lambda i: (-round(float(t[i]), 9), tiebreak[i]))
        ranks = [0] * len(shots)
        for r, i in enumerate(order, start=1):
            ranks[i] = r
        return scores, ranks


def ranker_for(catalog: Any) -> Ranker | None:
    """The taste ranker for this catalog's session, or None for the default ranking."""
    prof = active_profile()
    if prof is None:
        return None
    return Ranker(prof, face_signals_by_hash(catalog))


def record(catalog: Any, ranker: Ranker | None) -> None:
    """Which profile ranked the session: meta ``ranked_by`` (JSON; ``{"profile": "default"}``)."""
    if ranker is None:
        value = {"profile": "default", "at": time.time()}
    else:
        p = ranker.profile
        value = {
            "profile": p.ident,
            "version": p.version,
            "n_decisions": p.n_decisions,
            "created_at": p.created_at,
            "at": time.time(),
        }
    catalog.set_meta(META_KEY, json.dumps(value))


def ranked_by(catalog: Any) -> dict[str, Any] | None:
    raw = catalog.get_meta(META_KEY)
    if not raw:
        return None
    try:
        v = json.loads(raw)
    except ValueError:
        return None
    return v if isinstance(v, dict) else None
