"""Challenge metrics of the NTIRE 2024 Portrait Quality Assessment protocol (PIQ23).

SRCC, PLCC and KRCC are computed per scene; each is reported as the median over scenes, and the
challenge score is the median over scenes of the per-scene mean of the three.  PLCC is the plain
Pearson correlation of the raw predictions (no logistic fitting).  A scene whose predictions (or
targets) are constant has undefined correlations: they count as 0 there, so a constant predictor
scores 0.  Scenes with fewer than two images are left out.  MAE (mean absolute error of the
predictions against the JODs, per scene, median over scenes) is reported beside them, as in the
PIQ23 benchmark tables; it is only meaningful for models that predict JODs on their scale.

Pure numpy: no torch and no scipy here, so ``culler evaluate`` runs on a minimal install; the
training module (``training.train``) imports these functions from here.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

__all__ = [
    "SceneMetrics",
    "ChallengeMetrics",
    "rankdata",
    "srcc",
    "plcc",
    "krcc",
    "mae",
    "scene_metrics",
    "challenge_metrics",
]


def _as_1d(x: Sequence[float] | np.ndarray) -> np.ndarray:
    a = np.asarray(x, dtype=np.float64).reshape(-1)
    return a


def rankdata(x: Sequence[float] | np.ndarray) -> np.ndarray:
    """Ranks starting at 1, ties get the average of their ranks (scipy's ``method='average'``)."""
    a = _as_1d(x)
    n = a.size
    order = np.argsort(a, kind="mergesort")
    sorted_a = a[order]
    # boundaries of runs of equal values
    new_run = np.empty(n, dtype=bool)
    if n:
        new_run[0] = True
        new_run[1:] = sorted_a[1:] != sorted_a[:-1]
    run_id = np.cumsum(new_run) - 1
    starts = np.flatnonzero(new_run)
    ends = np.append(starts[1:], n)  # exclusive
    avg = (starts + ends + 1) / 2.0  # mean of 1-based ranks starts+1 .. ends
    ranks = np.empty(n, dtype=np.float64)
    ranks[order] = avg[run_id]
    return ranks


def plcc(pred: Sequence[float] | np.ndarray, target: Sequence[float] | np.ndarray) -> float:
    """Pearson linear correlation; 0.0 when either side is constant or there are < 2 values."""
    x, y = _as_1d(pred), _as_1d(target)
    if x.shape != y.shape:
        raise ValueError(f"plcc: {x.size} predictions for {y.size} targets")
    if x.size < 2:
        return 0.0
    xc, yc = x - x.mean(), y - y.mean()
    den = float(np.sqrt((xc * xc).sum() * (yc * yc).sum()))
    if den <= 1e-300 or not np.isfinite(den):
        return 0.0
    return float(np.clip((xc * yc).sum() / den, -1.0, 1.0))


def srcc(pred: Sequence[float] | np.ndarray, target: Sequence[float] | np.ndarray) -> float:
    """Spearman rank correlation (Pearson of average ranks); 0.0 when undefined."""
    x, y = _as_1d(pred), _as_1d(target)
    if x.shape != y.shape:
        raise ValueError(f"srcc: {x.size} predictions for {y.size} targets")
    return plcc(rankdata(x), rankdata(y))


def krcc(pred: Sequence[float] | np.ndarray, target: Sequence[float] | np.ndarray) -> float:
    """Kendall's tau-b (ties handled as scipy's default); 0.0 when undefined."""
    x, y = _as_1d(pred), _as_1d(target)
    if x.shape != y.shape:
        raise ValueError(f"krcc: {x.size} predictions for {y.size} targets")
    n = x.size
    if n < 2:
        return 0.0
    iu = np.triu_indices(n, k=1)
    dx = np.sign(x[:, None] - x[None, :])[iu]
    dy = np.sign(y[:, None] - y[None, :])[iu]
    s = float((dx * dy).sum())
    n_x = float(np.count_nonzero(dx))  # pairs not tied in x
    n_y = float(np.count_nonzero(dy))
    if n_x == 0 or n_y == 0:
        return 0.0
    return float(np.clip(s / np.sqrt(n_x * n_y), -1.0, 1.0))


def mae(pred: Sequence[float] | np.ndarray, target: Sequence[float] | np.ndarray) -> float:
    """Mean absolute error; 0.0 for no values."""
    x, y = _as_1d(pred), _as_1d(target)
    if x.shape != y.shape:
        raise ValueError(f"mae: {x.size} predictions for {y.size} targets")
    return float(np.abs(x - y).mean()) if x.size else 0.0


@dataclass
class SceneMetrics:
    n: int
    srcc: float
    plcc: float
    krcc: float
    mae: float = 0.0

    @property
    def score(self) -> float:
        return (self.srcc + self.plcc + self.krcc) / 3.0


@dataclass
class ChallengeMetrics:
    srcc: float  # median over scenes
    plcc: float
    krcc: float
    score: float  # median over scenes of the per-scene mean of the three
    mae: float = 0.0  # median over scenes of the per-scene mean absolute error
    scenes: dict[str, SceneMetrics] = field(default_factory=dict)

    @property
    def n_images(self) -> int:
        return sum(s.n for s in self.scenes.values())

    def to_dict(self, digits: int | None = 6) -> dict[str, Any]:
        def r(v: float) -> float:
            return round(v, digits) if digits is not None else v

        return {
            "srcc": r(self.srcc),
            "plcc": r(self.plcc),
            "krcc": r(self.krcc),
            "score": r(self.score),
            "mae": r(self.mae),
            "scenes": {
                k: {**{kk: (r(vv) if isinstance(vv, float) else vv) for kk, vv in asdict(v).items()},
                    "score": r(v.score)}
                for k, v in sorted(self.scenes.items())
            },
        }

    def summary(self) -> str:
        return (
            f"SRCC {self.srcc:.4f}  PLCC {self.plcc:.4f}  KRCC {self.krcc:.4f}  "
            f"score {self.score:.4f}  MAE {self.mae:.4f}  ({len(self.scenes)} scenes, {self.n_images} images)"
        )


def scene_metrics(pred: Sequence[float] | np.ndarray, target: Sequence[float] | np.ndarray) -> SceneMetrics:
    x, y = _as_1d(pred), _as_1d(target)
    return SceneMetrics(n=int(x.size), srcc=srcc(x, y), plcc=plcc(x, y), krcc=krcc(x, y), mae=mae(x, y))


def challenge_metrics(
    pred: Iterable[float], target: Iterable[float], scenes: Iterable[str | int]
) -> ChallengeMetrics:
    """Per-scene SRCC/PLCC/KRCC, their medians over scenes and the challenge score.

    ``pred``, ``target`` and ``scenes`` are parallel sequences (one entry per image).
    """
    p = np.asarray(list(pred), dtype=np.float64)
    t = np.asarray(list(target), dtype=np.float64)
    s = np.asarray([str(v) for v in scenes])
    if not (p.size == t.size == s.size):
        raise ValueError(f"{p.size} predictions, {t.size} targets and {s.size} scene labels")
    if not np.all(np.isfinite(p)):
        raise ValueError(f"{int((~np.isfinite(p)).sum())} predictions are not finite numbers")
    per: dict[str, SceneMetrics] = {}
    for scene in np.unique(s):
        m = s == scene
        if int(m.sum()) < 2:
            continue
        per[str(scene)] = scene_metrics(p[m], t[m])
    if not per:
        raise ValueError("no scene has two or more images: nothing to correlate")
    vals = list(per.values())
    return ChallengeMetrics(
        srcc=float(np.median([v.srcc for v in vals])),
        plcc=float(np.median([v.plcc for v in vals])),
        krcc=float(np.median([v.krcc for v in vals])),
        score=float(np.median([v.score for v in vals])),
        mae=float(np.median([v.mae for v in vals])),
        scenes=per,
    )
