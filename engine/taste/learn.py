"""Learning a taste profile from within-group preferences.

A decision is a preference only against the other shots of its group: a pick over a reject
(or an unflagged frame), more stars over fewer.  Each such pair (i preferred to j) becomes
one sample ``x_i - x_j`` of a logistic regression without intercept (both orientations,
so the classes balance), i.e. a Bradley-Terry ranker ``P(i > j) = s(a (D_i - D_j) + w . (z_i - z_j))``.

Why scikit-learn's ``LogisticRegression``: maintained, exact (liblinear on a convex loss), fast
on a few thousand pairs, and its L2 penalty is the regularisation we want once the default
fusion is one of the inputs: ``w`` is pulled towards 0, i.e. towards the default ranking.
The default log-score ``D`` enters scaled by ``DEFAULT_SCALE``, so its own coefficient is
barely penalised.  LightGBM's lambdarank would fit non-linear tastes but needs hundreds of
groups before it stops overfitting and cannot be pulled towards the default ranking; it is
also a heavier dependency.  The result is exported as JSON coefficients
(:class:`engine.taste.profile.Profile`): ``culler rank`` needs numpy only.

The penalty is chosen by leave-one-shoot-out agreement (top-1 of each held-out group against
the photographer's top choice); when no penalty beats the default ranking on held-out shoots,
the profile keeps ``w = 0``: decisions the default already makes leave the ranking as it was.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from engine.taste.features import Group, group_features, load_groups, vectorise

DEFAULT_SCALE = 10.0
C_GRID = (0.01, 0.1, 1.0, 10.0)
MIN_GAIN = 0.02  # held-out top-1 agreement the learned ranking must add over the default


class TasteError(Exception):
    """Learning that cannot proceed (no decisions, no groups, no scikit-learn); user-facing."""


@dataclass
class Prepared:
    groups: list[Group]
    feats: list[list[dict[str, float]]]  # per group, per shot
    prefs: list[list[tuple[int, int]]]  # per group, per shot ((0, 0) for undecided shots)
    names: list[str] = field(default_factory=list)
    raw: list[np.ndarray] = field(
        default_factory=list
    )  # per group: shots x names, NaN where missing
    _pair_cache: dict[int, tuple[np.ndarray, np.ndarray]] = field(default_factory=dict)

    def pair_index(self, gi: int) -> tuple[np.ndarray, np.ndarray]:
        """(i, j) of every within-group pair where shot i is preferred to shot j."""
        if gi not in self._pair_cache:
            pr = self.prefs[gi]
            ij = [(i, j) for i in range(len(pr)) for j in range(len(pr)) if pr[i] > pr[j]]
            self._pair_cache[gi] = (
                np.array([a for a, _ in ij], dtype=np.intp),
                np.array([b for _, b in ij], dtype=np.intp),
            )
        return self._pair_cache[gi]

    def matrix(self, gi: int, mean: np.ndarray) -> np.ndarray:
        r = self.raw[gi]
        return np.where(np.isnan(r), mean, r)


def prepare(groups: Sequence[Group]) -> Prepared:
    """Keep the groups whose decisions say something (two shots or more, not all alike)."""
    used, feats, prefs = [], [], []
    for g in groups:
        if len(g.shots) < 2 or all(p is None for p in g.prefs):
            continue
        pr = [p if p is not None else (0, 0) for p in g.prefs]
        if len(set(pr)) < 2:
            continue
        used.append(g)
        feats.append(group_features(g.shots))
        prefs.append(pr)
    names = sorted({n for gf in feats for f in gf for n in f})
    nan = np.full(len(names), np.nan)
    return Prepared(used, feats, prefs, names, [vectorise(gf, names, nan) for gf in feats])


def n_decisions(p: Prepared) -> int:
    return sum(1 for g in p.groups for d in g.prefs if d is not None)


def _pairs(
    p: Prepared, idx: Sequence[int], mean: np.ndarray, scale: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    rows = []
    for gi in idx:
        g = p.groups[gi]
        z = (p.matrix(gi, mean) - mean) / scale
        d = np.array([s.default for s in g.shots]) * DEFAULT_SCALE
        x = np.column_stack([d, z])
        ii, jj = p.pair_index(gi)
        rows.append(x[ii] - x[jj])
    x = np.vstack(rows) if rows else np.zeros((0, len(p.names) + 1))
    if not len(x):
        return np.zeros((0, len(p.names) + 1)), np.zeros(0)
    return np.vstack([x, -x]), np.concatenate([np.ones(len(x)), np.zeros(len(x))])


def _standardise(p: Prepared, idx: Sequence[int]) -> tuple[np.ndarray, np.ndarray]:
    nan = np.full(len(p.names), np.nan)
    x = (
        np.vstack([vectorise(p.feats[gi], p.names, nan) for gi in idx])
        if idx
        else np.zeros((0, len(p.names)))
    )
    import warnings

    with warnings.catch_warnings():  # a feature no shot has (all NaN): mean 0, scale 1 below
        warnings.simplefilter("ignore", RuntimeWarning)
        mean = np.nanmean(x, axis=0) if len(x) else np.zeros(len(p.names))
        scale = np.nanstd(x, axis=0) if len(x) else np.ones(len(p.names))
    mean = np.where(np.isfinite(mean), mean, 0.0)
    scale = np.where(np.isfinite(scale) & (scale > 1e-9), scale, 1.0)
    return mean, scale


@dataclass
class Fit:
    default_coef: float
    coef: np.ndarray
    mean: np.ndarray
    scale: np.ndarray


def _fit(p: Prepared, idx: Sequence[int], c: float) -> Fit | None:
    from sklearn.linear_model import LogisticRegression

    mean, scale = _standardise(p, idx)
    x, y = _pairs(p, idx, mean, scale)
    if len(x) == 0:
        return None
    m = LogisticRegression(C=c, fit_intercept=False, solver="liblinear", max_iter=500)
    m.fit(x, y)
    w = m.coef_[0]
    return Fit(float(w[0]) * DEFAULT_SCALE, np.asarray(w[1:], dtype=np.float64), mean, scale)


def scores_for(p: Prepared, gi: int, fit: Fit | None) -> np.ndarray:
    d = np.array([s.default for s in p.groups[gi].shots])
    if fit is None:
        return d
    z = (p.matrix(gi, fit.mean) - fit.mean) / fit.scale
    return fit.default_coef * d + z @ fit.coef


def top1_agreement(p: Prepared, idx: Sequence[int], fit: Fit | None) -> float | None:
    """Share of groups whose top-ranked shot is one the photographer preferred most."""
    hits = n = 0
    for gi in idx:
        pr = p.prefs[gi]
        best = max(pr)
        s = scores_for(p, gi, fit)
        top = int(
            np.argmax(s + 1e-12 * -np.arange(len(s)))
        )  # ties: first shot (as rank_group's key order)
        hits += pr[top] == best
        n += 1
    return hits / n if n else None


@dataclass
class LearnResult:
    fit: Fit | None  # None: the decisions agree with the default ranking (w = 0)
    names: list[str]
    c: float | None
    n_decisions: int
    n_groups: int
    n_shoots: int
    n_pairs: int
    agreement_default: float | None
    agreement_learned: float | None
    method: str
    seconds: float
    prepared: Prepared


def _folds(p: Prepared, max_folds: int = 10) -> tuple[list[list[int]], str]:
    sessions = sorted({g.session for g in p.groups})
    if len(sessions) >= 2:
        by: dict[str, list[int]] = {}
        for i, g in enumerate(p.groups):
            by.setdefault(g.session, []).append(i)
        folds = [by[s] for s in sessions]
        if (
            len(folds) > max_folds
        ):  # many shoots: merge them into max_folds folds, shoots kept whole
            merged: list[list[int]] = [[] for _ in range(max_folds)]
            for k, f in enumerate(folds):
                merged[k % max_folds].extend(f)
            folds = merged
        return folds, "leave-one-shoot-out"
    k = min(5, len(p.groups))
    return [list(range(i, len(p.groups), k)) for i in range(k)], f"{k}-fold over groups (one shoot)"


def learn(groups: Sequence[Group]) -> LearnResult:
    try:
        import sklearn  # noqa: F401
    except ImportError as exc:
        raise TasteError(
            "learning needs scikit-learn: pip install 'portrait-culler[taste]'"
        ) from exc
    t0 = time.perf_counter()
    p = prepare(groups)
    if len(p.groups) < 2:
        raise TasteError(
            f"not enough decisions to learn from: {len(p.groups)} group(s) with a preference "
            "(pick/reject or stars that differ within a group); at least 2 are needed"
        )
    folds, method = _folds(p)
    everything = list(range(len(p.groups)))
    held: dict[float | None, list[tuple[int, float]]] = {None: []}
    for fold in folds:
        rest = [i for i in everything if i not in set(fold)]
        a = top1_agreement(p, fold, None)
        if a is not None:
            held[None].append((len(fold), a))
        if not rest:
            continue
        for c in C_GRID:
            fit = _fit(p, rest, c)
            a = top1_agreement(p, fold, fit)
            if a is not None:
                held.setdefault(c, []).append((len(fold), a))

    def mean_of(c: float | None) -> float | None:
        v = held.get(c) or []
        n = sum(k for k, _ in v)
        return sum(k * a for k, a in v) / n if n else None

    base = mean_of(None)
    best_c, best = None, base
    for c in C_GRID:  # strongest penalty first: ties keep the ranking closest to the default
        a = mean_of(c)
        if a is not None and (best is None or a > best + (MIN_GAIN if best_c is None else 1e-9)):
            best_c, best = c, a
    fit = _fit(p, everything, best_c) if best_c is not None else None
    x, _ = _pairs(p, everything, *_standardise(p, everything))
    return LearnResult(
        fit, p.names, best_c, n_decisions(p), len(p.groups), len({g.session for g in p.groups}), len(x) // 2,
        base, best, method, time.perf_counter() - t0, p,
    )  # fmt: skip


def learn_from_catalogs(paths: Sequence[Path]) -> LearnResult:
    """Learn from the decisions stored in these session catalogs (each one shoot)."""
    from engine.catalog import Catalog, CatalogError

    groups: list[Group] = []
    for path in paths:
        try:
            with Catalog(path, readonly=True) as cat:
                groups.extend(load_groups(cat, str(Path(path).resolve())))
        except CatalogError as exc:
            raise TasteError(str(exc)) from exc
    return learn(groups)


def summary_lines(r: LearnResult) -> list[str]:
    def pct(a: Any) -> str:
        return "n/a" if a is None else f"{a:.0%}"

    lines = [
        f"learned from {r.n_decisions} decision(s) in {r.n_groups} group(s) of {r.n_shoots} shoot(s) ({r.n_pairs} preference pairs, {r.seconds:.1f}s)",
        f"agreement with your top choice ({r.method}): default ranking {pct(r.agreement_default)}, learned {pct(r.agreement_learned)}",
    ]
    if r.fit is None:
        lines.append("your decisions match the default ranking: the profile keeps it as it is")
    return lines


def to_profile(r: LearnResult, sources: Sequence[str] = ()) -> Any:
    """The JSON profile of a learning result (``w = 0`` when it keeps the default ranking)."""
    import sklearn

    from engine.taste.profile import Profile, describe

    n = len(r.names)
    if r.fit is None:
        mean, scale, coef, a = [0.0] * n, [1.0] * n, [0.0] * n, 1.0
    else:
        mean, scale, coef, a = (
            list(map(float, r.fit.mean)),
            list(map(float, r.fit.scale)),
            list(map(float, r.fit.coef)),
            float(r.fit.default_coef),
        )
    prof = Profile(
        list(r.names), mean, scale, coef, a, n_decisions=r.n_decisions, n_groups=r.n_groups, n_shoots=r.n_shoots,
        n_pairs=r.n_pairs, c=r.c, method=r.method, agreement_default=r.agreement_default,
        agreement_learned=r.agreement_learned, sources=list(sources),
        library=f"scikit-learn {sklearn.__version__} LogisticRegression (pairwise, L2 towards the default fusion)",
    )  # fmt: skip
    prof.phrases = describe(prof, r.prepared)
    return prof
