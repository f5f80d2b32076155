"""Suggested picks and rejects within a scene group: the strictness setting.

Three ways to decide which shots of a group a photographer would keep (``culler rank
--keep``, stored in the catalog's ``meta`` as ``strictness``):

``moments`` (default)
    keep the best shot and every other *distinct moment* that is nearly as good (score at
    least ``MOMENT_SHARE`` of the best); a shot that is a near-duplicate of a kept shot
    (same framing and pose: content distance under ``NEAR_DUPLICATE``, the grouping's own
    descriptor) is a suggested reject -- the burst around the pick goes, the other good
    moments stay;
``best:N``
    keep the N best shots of each group;
``margin:X``
    keep every shot within X points (0..100 score) of the best.

A shot the photographer has rated (stars) or colour-labelled counts as decided
(:func:`is_decided`): accepting suggestions must never change it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

MODES = ("moments", "best", "margin")
MOMENT_SHARE = 0.9
# Content distance (engine.grouping) of the same moment: hand-held frames of one pose read
# 0.03-0.11 (shift 1-3 %, roll 1 degree, zoom 3 %), the demo defects at level 3 up to 0.11;
# the same scene re-framed by 10 % reads 0.46, a mirrored pose 0.98.
NEAR_DUPLICATE = 0.15


@dataclass(frozen=True)
class Strictness:
    mode: str = "moments"
    n: int = 1  # best:N
    margin: float = 5.0  # margin:X, score points

    @classmethod
    def parse(cls, text: str | None) -> Strictness:
        """``"moments"``, ``"best:N"`` (N >= 1) or ``"margin:X"`` (X >= 0); ValueError otherwise."""
        t = (text or "moments").strip().lower()
        mode, _, arg = t.partition(":")
        if mode == "moments" and not arg:
            return cls()
        try:
            if mode == "best":
                n = int(arg or "1")
                if n < 1:
                    raise ValueError
                return cls("best", n=n)
            if mode == "margin":
                x = float(arg or "5")
                if not x >= 0:
                    raise ValueError
                return cls("margin", margin=x)
        except ValueError:
            pass
        raise ValueError(f"strictness must be 'moments', 'best:N' (N >= 1) or 'margin:X' (X >= 0 points), not {text!r}")

    def __str__(self) -> str:
        if self.mode == "best":
            return f"best:{self.n}"
        if self.mode == "margin":
            return f"margin:{self.margin:g}"
        return "moments"


def near_duplicates(embeddings: Sequence[np.ndarray]) -> np.ndarray:
    """Boolean matrix: pairs of shots whose content is the same moment (see module doc)."""
    from engine.grouping import content_distance

    if not len(embeddings):
        return np.zeros((0, 0), bool)
    d = content_distance(np.stack([np.asarray(e, np.float32) for e in embeddings]))
    return np.asarray(d <= NEAR_DUPLICATE)


def suggest(
    scores: Sequence[float],
    ranks: Sequence[int],
    strictness: Strictness,
    embeddings: Sequence[np.ndarray] | None = None,
) -> list[str]:
    """``"pick"`` or ``"reject"`` for each shot of one group."""
    n = len(scores)
    if n == 0:
        return []
    order = sorted(range(n), key=lambda i: ranks[i])
    best = float(scores[order[0]])
    keep: list[int] = []
    if strictness.mode == "best":
        keep = order[: strictness.n]
    elif strictness.mode == "margin":
        keep = [i for i in order if float(scores[i]) >= best - strictness.margin]
    else:
        dup = near_duplicates(embeddings) if embeddings is not None and len(embeddings) == n else np.ones((n, n), bool)
        for i in order:
            if i != order[0] and float(scores[i]) < MOMENT_SHARE * best:
                continue
            if any(dup[i, k] for k in keep):
                continue
            keep.append(i)
    kept = set(keep)
    return ["pick" if i in kept else "reject" for i in range(n)]


def is_decided(decision: Any) -> bool:
    """True when the photographer has decided about a shot: a pick/reject flag, any stars or
    a colour label.  Accepting suggestions (the GUI's A / Shift+A) leaves these shots alone."""
    if decision is None:
        return False
    flag = getattr(decision, "flag", None)
    stars = getattr(decision, "stars", 0) or 0
    label = getattr(decision, "label", None)
    return bool(flag) or int(stars) > 0 or bool(label)
