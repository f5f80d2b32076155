"""Simulated photographers: sessions of bursts written to real catalogs, decided by a script.

Each burst's frames get latent properties (focus, exposure, noise, eyes); the technical
members' own ``quality_of`` turns them into the values and qualities a real analysis
stores, and the shots go through :meth:`engine.catalog.Catalog.store_analysis` and
:func:`engine.pipeline.regroup`, so the taste code reads exactly what ``culler rank`` writes.

Tastes (``decide``):

* ``default``: picks what the default ranking puts first;
* ``high_key``: picks the frame about one stop brighter than the burst;
* ``no_noise``: never keeps a frame with visible noise, picks the sharpest clean one;
* ``sharpest``: picks the sharpest frame even when the eyes are half-closed.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

TASTES = ("default", "high_key", "no_noise", "sharpest")
MEMBERS = [
    "face_sharpness",
    "sharpness",
    "eyes_open",
    "noise",
    "exposure",
    "clipping",
    "motion_blur",
]


def _frames(rng: np.random.Generator, n: int) -> list[dict[str, float]]:
    """One burst: a base look and per-frame variations, with the trade-offs tastes disagree on."""
    ev0 = rng.uniform(-1.2, 0.2)
    sharp0 = rng.uniform(60, 160)
    frames = []
    for _ in range(n):
        frames.append(
            {
                "focus": rng.uniform(0.55, 1.0), "ev": ev0 + rng.normal(0, 0.15), "noise": rng.uniform(0.2, 0.5),
                "eyes": rng.uniform(0.75, 0.95), "motion": rng.uniform(0.1, 0.25), "clip": rng.uniform(0.0, 0.01),
            }
        )  # fmt: skip
    order = rng.permutation(n)
    # one frame a stop brighter than the burst, otherwise ordinary
    frames[order[0]]["ev"] = ev0 + rng.uniform(0.9, 1.1)
    # frames shot at a higher ISO: sharper, and with some noise
    for k in order[1 : 1 + n // 3]:
        frames[k]["noise"] = rng.uniform(1.2, 1.8)
        frames[k]["focus"] = min(1.0, frames[k]["focus"] * 1.35) + 0.05
    # the sharpest frame of all (high ISO, so a little noise), with half-closed eyes
    k = order[-1]
    frames[k]["focus"] = 1.6
    frames[k]["noise"] = rng.uniform(1.2, 1.8)
    frames[k]["eyes"] = rng.uniform(0.08, 0.2)
    for f in frames:
        f["sharp"] = sharp0 * f["focus"]
    return frames


_MEMBERS: dict[str, Any] = {}


def _scores(f: dict[str, float]) -> tuple[dict[str, tuple[float, float]], dict[str, float]]:
    from engine.quality.registry import create_member

    if not _MEMBERS:
        _MEMBERS.update({n: create_member(n) for n in MEMBERS})
    m = _MEMBERS
    face_sharp = f["sharp"] / 400.0
    values = {
        "face_sharpness": face_sharp, "sharpness": f["sharp"], "eyes_open": f["eyes"], "noise": f["noise"],
        "exposure": f["ev"], "clipping": f["clip"], "motion_blur": f["motion"],
    }  # fmt: skip
    scores = {}
    for n, v in values.items():
        q = (
            m[n].quality_of(v, True)
            if n in ("face_sharpness", "eyes_open", "exposure")
            else m[n].quality_of(v)
        )  # type: ignore[attr-defined]
        scores[n] = (float(v), float(q))
    signals = {
        "eye_sharpness": face_sharp, "face_exposure": f["ev"], "face_clip_high": f["clip"], "face_clip_low": 0.0,
        "face_size": 0.3, "yaw": 0.0, "pitch": 0.0, "roll": 0.0, "eye_aspect_ratio": 0.1 + 0.25 * f["eyes"],
        "eyes_open": f["eyes"],
    }  # fmt: skip
    return scores, signals


def make_session(path: Path, seed: int, n_groups: int = 12, group_size: int = 6) -> Path:
    """A catalog of ``n_groups`` analysed bursts, grouped and ranked by the default fusion."""
    from engine.catalog import Catalog
    from engine.pipeline import regroup

    rng = np.random.default_rng(seed)
    path = Path(path)
    with Catalog(path, path.parent / f"{path.stem}-photos") as cat, cat.transaction():
        t = 1.75e9 + seed * 1e5
        for g in range(n_groups):
            emb = rng.normal(size=64).astype(np.float32)
            emb /= np.linalg.norm(emb)
            for i, f in enumerate(_frames(rng, group_size)):
                key = f"s{seed}/g{g:03d}/IMG_{i:02d}.jpg"
                h = f"sim-{seed}-{g}-{i}"
                scores, signals = _scores(f)
                e = emb + rng.normal(scale=0.01, size=64).astype(np.float32)
                cat.store_analysis(
                    h,
                    {"engine_version": "sim", "width": 1500, "height": 1000, "full_width": 6000, "full_height": 4000,
                     "embedding": (e / np.linalg.norm(e)).astype(np.float32).tobytes(), "n_faces": 1,
                     "members": json.dumps(MEMBERS), "analysed_at": t, "seconds": 0.0},
                    [{"x": 0.4, "y": 0.3, "w": 0.2, "h": 0.3, "det_score": 0.99, "landmarks": [[0.45, 0.4]] * 5, "signals": signals, "crop": b""}],
                    scores,
                )  # fmt: skip
                cat.upsert_shot(
                    {"key": key, "primary_path": key, "hash": h, "status": "ok", "n_faces": 1}
                )
                cat.db.table("metadata").upsert(
                    {
                        "shot": key,
                        "capture_ts": t,
                        "time_source": "exif",
                        "make": "Sim",
                        "model": "Cam",
                    },
                    pk="shot",
                )
                t += 0.4
            t += 600.0
        regroup(cat, MEMBERS)
    return path


def choose(
    taste: str, rows: list[dict[str, Any]], scores: dict[str, dict[str, tuple[float, float]]]
) -> str:
    """The shot key this photographer picks in one group (``rows``: the group's shots rows)."""
    val = {r["key"]: {n: v for n, (v, _q) in scores[r["hash"]].items()} for r in rows}
    keys = [r["key"] for r in rows]
    if taste == "default":
        return min(rows, key=lambda r: r["rank"])["key"]
    if taste == "high_key":
        med = float(np.median([val[k]["exposure"] for k in keys]))
        return min(keys, key=lambda k: abs(val[k]["exposure"] - med - 1.0))
    if taste == "no_noise":
        clean = [k for k in keys if val[k]["noise"] < 1.0] or keys
        return max(clean, key=lambda k: val[k]["sharpness"])
    if taste == "sharpest":
        return max(keys, key=lambda k: val[k]["sharpness"])
    raise ValueError(f"unknown taste {taste!r}; known: {', '.join(TASTES)}")


def decide(path: Path, taste: str, fraction: float = 1.0, seed: int = 0) -> int:
    """Let the photographer cull ``fraction`` of the groups: one pick, the rest rejected."""
    from engine.catalog import Catalog, Decision

    rng = np.random.default_rng(seed)
    with Catalog(path) as cat:
        rows = cat.shots("status = 'ok'")
        scores = {r["hash"]: cat.scores_of(r["hash"]) for r in rows}
        by: dict[int, list[dict[str, Any]]] = {}
        for r in rows:
            by.setdefault(r["group_id"], []).append(r)
        out: list[Decision] = []
        for _gid, grp in sorted(by.items()):
            if rng.random() > fraction:
                continue
            best = choose(taste, grp, scores)
            out.extend(
                Decision(
                    r["key"], "pick" if r["key"] == best else "reject", 3 if r["key"] == best else 0
                )
                for r in grp
            )
        cat.set_decisions(out)
    return len(out)


def top1_agreement(path: Path, taste: str) -> float:
    """How often the catalog's rank 1 is the shot this photographer would pick."""
    from engine.catalog import Catalog

    with Catalog(path, readonly=True) as cat:
        rows = cat.shots("status = 'ok'")
        scores = {r["hash"]: cat.scores_of(r["hash"]) for r in rows}
    by: dict[int, list[dict[str, Any]]] = {}
    for r in rows:
        by.setdefault(r["group_id"], []).append(r)
    hits = [min(g, key=lambda r: r["rank"])["key"] == choose(taste, g, scores) for g in by.values()]
    return sum(hits) / len(hits)
