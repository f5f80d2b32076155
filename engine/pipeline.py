"""From a folder of bursts to ranked scene groups in the catalog.

1. scan the folder into shots (RAW+JPEG pairs are one shot);
2. for each new or changed shot, in worker processes: hash, EXIF, decode at
   analysis size, faces, every quality member, a content descriptor; each
   result is committed to the catalog on its own, so a killed run resumes
   where it stopped;
3. group all shots into scenes, fuse member scores and rank within groups.

A second run over an unchanged folder reads sizes and mtimes only.
"""

from __future__ import annotations

import json
import os
import threading
import time
import traceback
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC
from pathlib import Path
from typing import Any

import numpy as np

from engine import ANALYSIS_VERSION
from engine.catalog import Catalog, CatalogError, default_catalog_path
from engine.scan import ShotFiles, file_hash, scan_folder

ANALYSIS_MAX_SIDE = 2000  # never analyse more than ~2-3 MP
ANALYSIS_MIN_SIDE = 1000  # JPEG DCT scaling stops here (no resampling: the 8x8 grid stays visible)
FACE_MIN_SCORE = 0.8  # real subjects score > 0.95; a cat or foliage in the 0.6-0.8 band
FACE_MAX = 12  # every face of a 10-person group, and a couple of bystanders


class PipelineError(Exception):
    """A run that cannot start (folder missing, catalog unusable); the message is user-facing."""


@dataclass
class RankOptions:
    root: Path
    catalog: Path | None = None
    recursive: bool = False
    workers: int | None = None
    sensitivity: float | None = None  # None: the catalog's stored value (default 0.5)
    members: list[str] | None = None  # None: the default members
    face_backend: str = "retinaface"
    device: str = "auto"
    strictness: str | None = None  # None: the catalog's stored value (default "moments")


@dataclass
class ProgressEvent:
    phase: str  # "scan", "analyse", "group", "done"
    done: int
    total: int
    path: str | None = None
    message: str | None = None


@dataclass
class RankSummary:
    catalog_path: Path
    n_shots: int = 0
    n_groups: int = 0
    n_faces: int = 0
    analysed: int = 0
    reused: int = 0
    skipped: list[tuple[str, str]] = field(default_factory=list)
    seconds: float = 0.0
    cancelled: bool = False


# -- worker side -----------------------------------------------------------------------------

_W: dict[str, Any] = {}


def _init_worker(members: list[str], face_backend: str, device: str, threads: int) -> None:
    import cv2

    cv2.setNumThreads(threads)
    from engine.quality.registry import create_member

    _W.clear()
    _W["members"] = [create_member(m, device=device) if m.startswith("pack:") else create_member(m) for m in members]
    _W["face_backend"] = face_backend
    _W["threads"] = threads
    _W["device"] = device
    _W["detector"] = None
    _W["eye_model"] = ...


def _detector():  # type: ignore[no-untyped-def]
    if _W.get("detector") is None:
        from engine.faces import FaceDetector

        _W["detector"] = FaceDetector(backend=_W["face_backend"], threads=_W["threads"], device=_W.get("device", "cpu"))
    return _W["detector"]


def _eye_model():  # type: ignore[no-untyped-def]
    """The worker's eye-state model (None when not installed), built on first use."""
    if _W.get("eye_model", ...) is ...:
        from engine.faces import load_eye_model

        _W["eye_model"] = load_eye_model(_W.get("threads", 1))
    return _W["eye_model"]


def analyse_path(path: Path, members: list[Any], detector: Any, eye_model: Any = None) -> dict[str, Any]:
    """Analyse one image file: decode, faces, members, descriptor (no catalog involved)."""
    from engine import grouping
    from engine.faces import analyse_faces
    from engine.images import decode, encode_jpeg
    from engine.quality.base import ShotInput

    t0 = time.perf_counter()
    dec = decode(path, max_side=ANALYSIS_MAX_SIDE, min_side=ANALYSIS_MIN_SIDE)
    rgb = dec.rgb
    faces = analyse_faces(rgb, detector, min_score=FACE_MIN_SCORE, max_faces=FACE_MAX, eye_model=eye_model)
    shot = ShotInput(rgb, faces, {"jpeg_block": dec.jpeg_block})
    scores: dict[str, tuple[float, float]] = {}
    face_scores: list[dict[str, list[float]]] = [{} for _ in faces]
    identities = {m.name: m.spec().cache_id for m in members}
    for m in members:
        if "faces" in m.needs and "image" not in m.needs and not faces:
            continue
        r = m.score(shot)
        if r is not None and np.isfinite(r.value):
            scores[m.name] = (float(r.value), float(r.quality))
            for k, pf in enumerate(r.per_face or []):
                if pf is not None and k < len(faces) and all(np.isfinite(pf)):
                    face_scores[k][m.name] = [float(pf[0]), float(pf[1])]
    h, w = rgb.shape[:2]
    face_rows = []
    for f, fsc in zip(faces, face_scores):
        x, y, fw, fh = f.box
        face_rows.append(
            {
                "x": x / w, "y": y / h, "w": fw / w, "h": fh / h,
                "det_score": float(f.det_score),
                "landmarks": [[float(px) / w, float(py) / h] for px, py in np.asarray(f.landmarks)],
                "signals": {k: float(v) for k, v in f.signals.items()},
                "scores": fsc,
                "crop": encode_jpeg(f.crop, 90),
            }
        )  # fmt: skip
    return {
        "analysis": {
            "engine_version": ANALYSIS_VERSION,
            "width": w,
            "height": h,
            "full_width": dec.full_size[0],
            "full_height": dec.full_size[1],
            "embedding": grouping.embed(rgb).tobytes(),
            "n_faces": len(faces),
            "members": json.dumps(sorted(identities.values())),
            "analysed_at": time.time(),
            "seconds": time.perf_counter() - t0,
        },
        "faces": face_rows,
        "scores": scores,
        "identities": {n: identities[n] for n in scores},
    }


def _work(task: dict[str, Any]) -> dict[str, Any]:
    from engine.images import ImageError
    from engine.metadata import read_metadata

    out: dict[str, Any] = {"key": task["key"], "status": "ok"}
    path = Path(task["path"])
    try:
        st = path.stat()
        out["size"], out["mtime_ns"] = st.st_size, st.st_mtime_ns
        out["hash"] = task.get("hash") or file_hash(path)
        out["metadata"] = read_metadata(path).as_row()
        if out["hash"] in task["known"]:
            out["reused"] = True
            return out
        out.update(analyse_path(path, _W["members"], _detector(), _eye_model()))
    except ImageError as exc:
        out["status"], out["reason"] = "skipped", str(exc)
    except OSError as exc:
        out["status"], out["reason"] = "skipped", f"cannot read: {exc.strerror or exc}"
    except MemoryError:
        out["status"], out["reason"] = "skipped", "out of memory while decoding"
    except Exception as exc:  # never let one file stop a session
        out["status"] = "skipped"
        out["reason"] = f"internal error ({type(exc).__name__}: {exc})"
        out["trace"] = traceback.format_exc()
    return out


# -- main side -------------------------------------------------------------------------------


def _member_names(opts: RankOptions) -> list[str]:
    from engine.quality.registry import available_members, default_member_names

    names = list(opts.members) if opts.members else default_member_names()
    unknown = [n for n in names if n not in available_members()]
    if unknown:
        raise PipelineError(f"unknown quality member(s): {', '.join(unknown)}; known: {', '.join(available_members())}")
    return names


def member_specs(names: list[str]) -> dict[str, Any]:
    from engine.quality.registry import member_specs as specs_of

    return specs_of(names)


def _complete_hashes(catalog: Catalog, specs: dict[str, Any]) -> set[str]:
    """Hashes whose analysis is current and ran every selected member (applied or declined)."""
    rows = catalog.conn.execute(
        "SELECT hash, members FROM analysis WHERE engine_version = ?", (ANALYSIS_VERSION,)
    ).fetchall()
    need = {s.cache_id for s in specs.values()}
    return {h for h, ran in rows if ran and need <= set(json.loads(ran))}


def _iter_results(tasks: list[dict[str, Any]], opts: RankOptions, names: list[str], cancel: threading.Event | None) -> Iterator[dict[str, Any]]:
    workers = opts.workers or os.cpu_count() or 1
    workers = max(1, min(workers, len(tasks)))
    if workers == 1:
        _init_worker(names, opts.face_backend, opts.device, 1)
        for t in tasks:
            if cancel is not None and cancel.is_set():
                return
            yield _work(t)
        return
    import multiprocessing as mp

    ctx = mp.get_context("spawn")
    pool = ctx.Pool(workers, initializer=_init_worker, initargs=(names, opts.face_backend, opts.device, 1))
    try:
        for res in pool.imap_unordered(_work, tasks, chunksize=1):
            if cancel is not None and cancel.is_set():
                pool.terminate()
                return
            yield res
        pool.close()
    finally:
        pool.terminate()
        pool.join()


def rank_folder(
    opts: RankOptions,
    progress: Callable[[ProgressEvent], None] | None = None,
    cancel: threading.Event | None = None,
) -> RankSummary:
    t0 = time.perf_counter()
    root = Path(opts.root).expanduser()
    if not root.exists():
        raise PipelineError(f"{root}: no such folder")
    if not root.is_dir():
        raise PipelineError(f"{root}: not a folder")
    if not os.access(root, os.R_OK | os.X_OK):
        raise PipelineError(f"{root}: permission denied")
    root = root.resolve()
    cat_path = Path(opts.catalog) if opts.catalog else default_catalog_path(root)
    try:
        catalog = Catalog(cat_path, root)
    except CatalogError as exc:
        raise PipelineError(str(exc)) from exc
    emit = progress or (lambda e: None)
    summary = RankSummary(cat_path)
    try:
        names = _member_names(opts)
        specs = member_specs(names)
        emit(ProgressEvent("scan", 0, 0, message=f"scanning {root}"))
        scan = scan_folder(root, opts.recursive)
        summary.skipped.extend(scan.skipped)
        shots = scan.shots
        present = {s.key for s in shots}
        catalog.forget_missing(present)
        known = _complete_hashes(catalog, specs)
        tasks, ready = _plan(catalog, shots, known)
        summary.reused = len(ready)
        total = len(shots)
        emit(ProgressEvent("analyse", len(ready), total, message=f"{len(tasks)} to analyse, {len(ready)} cached"))
        done = len(ready)
        by_key = {s.key: s for s in shots}
        for res in _iter_results(tasks, opts, names, cancel):
            _store(catalog, root, res, by_key)
            done += 1
            if res["status"] == "ok":
                if res.get("reused"):
                    summary.reused += 1
                else:
                    summary.analysed += 1
            emit(ProgressEvent("analyse", done, total, path=res["key"]))
        if cancel is not None and cancel.is_set():
            summary.cancelled = True
        emit(ProgressEvent("group", 0, 1, message="grouping and ranking"))
        regroup(catalog, names, opts.sensitivity, specs, strictness=opts.strictness)
        for row in catalog.shots("status = 'skipped'"):
            reason = row["reason"] or "skipped"
            if (row["key"], reason) not in summary.skipped:
                summary.skipped.append((row["key"], reason))
        ok = catalog.shots("status = 'ok'")
        summary.n_shots = len(ok)
        summary.n_faces = sum(int(r["n_faces"] or 0) for r in ok)
        summary.n_groups = len(catalog.groups())
        summary.seconds = time.perf_counter() - t0
        emit(ProgressEvent("done", total, total, message="done"))
        return summary
    finally:
        catalog.close()


def _plan(catalog: Catalog, shots: list[ShotFiles], known: set[str]) -> tuple[list[dict[str, Any]], list[str]]:
    """Split shots into tasks for the workers and shots whose cached analysis stands."""
    tasks, ready = [], []
    for s in shots:
        row = catalog.file_row(s.key)
        shot_row = catalog.shot(s.key)
        try:
            st = s.primary.stat()
        except OSError:
            row = None
            st = None
        same_file = (
            row is not None and st is not None and row["size"] == st.st_size and row["mtime_ns"] == st.st_mtime_ns and row["hash"]
        )
        if same_file and shot_row is not None and shot_row["status"] == "skipped":
            ready.append(s.key)  # unchanged and unreadable last time: skip again without reading
            continue
        if same_file and row is not None and row["hash"] in known and shot_row is not None and shot_row["status"] == "ok":
            ready.append(s.key)
            continue
        tasks.append({"key": s.key, "path": str(s.primary), "hash": row["hash"] if same_file and row else None, "known": known})
    return tasks, ready


def _store(catalog: Catalog, root: Path, res: dict[str, Any], shots_by_key: dict[str, ShotFiles]) -> None:
    key = res["key"]
    s = shots_by_key[key]
    with catalog.transaction():
        if res["status"] == "ok" and not res.get("reused"):
            catalog.store_analysis(res["hash"], res["analysis"], res["faces"], res["scores"], res.get("identities"))
        n_faces = None
        if res["status"] == "ok" and not res.get("reused"):
            n_faces = res["analysis"]["n_faces"]
        elif res["status"] == "ok":
            a = catalog.analysis(res["hash"])
            n_faces = a["n_faces"] if a else 0
        catalog.upsert_file(
            {
                "path": key, "shot": key, "role": "primary", "size": res.get("size"),
                "mtime_ns": res.get("mtime_ns"), "hash": res.get("hash"), "status": res["status"],
                "reason": res.get("reason"),
            }
        )  # fmt: skip
        for comp in s.companions:
            size: int | None = None
            mtime: int | None = None
            try:
                st = comp.stat()
                size, mtime = st.st_size, st.st_mtime_ns
            except OSError:
                pass
            catalog.upsert_file(
                {"path": comp.relative_to(root).as_posix(), "shot": key, "role": "companion", "size": size, "mtime_ns": mtime, "hash": None, "status": "ok", "reason": None}
            )
        catalog.upsert_shot(
            {
                "key": key, "primary_path": key,
                "raw_path": s.raw.relative_to(root).as_posix() if s.raw else None,
                "hash": res.get("hash"), "status": res["status"], "reason": res.get("reason"),
                "n_faces": n_faces, "seen_at": time.time(),
            }
        )  # fmt: skip
        if res.get("metadata"):
            catalog.db.table("metadata").upsert({"shot": key, **res["metadata"]}, pk="shot")


def regroup(
    catalog: Catalog,
    member_names: list[str] | None = None,
    sensitivity: float | None = None,
    specs: dict[str, Any] | None = None,
    strictness: str | None = None,
) -> None:
    """Group every analysed shot into scenes and rank each group (also used by the GUI's sensitivity knob).

    ``sensitivity`` and ``strictness`` (:mod:`engine.quality.suggest`) default to the values
    stored in the catalog by the last run (0.5 and "moments" for a new catalog); the values
    used are stored, so ``culler rank -s`` and a GUI regroup never silently disagree.
    """
    from engine.grouping import GroupItem, group_shots
    from engine.quality.fusion import rank_group
    from engine.quality.registry import default_member_names
    from engine.quality.suggest import suggest

    sensitivity, strict = ranking_settings(catalog, sensitivity, strictness)
    if specs is None:
        specs = member_specs(member_names or default_member_names())
    rows = catalog.conn.execute(
        "SELECT s.key, s.hash, m.capture_ts, m.time_source, m.make, m.model, m.serial, a.embedding "
        "FROM shots s JOIN analysis a ON a.hash = s.hash LEFT JOIN metadata m ON m.shot = s.key "
        "WHERE s.status = 'ok' ORDER BY s.key"
    ).fetchall()
    items = [
        GroupItem(
            key=r[0], ts=r[2], exif_time=r[3] == "exif", camera="|".join(x or "" for x in r[4:7]),
            embedding=np.frombuffer(r[7], dtype=np.float32),
        )
        for r in rows
    ]  # fmt: skip
    labels = group_shots(items, sensitivity)
    all_scores = catalog.scores_by_hash({n: s.cache_id for n, s in specs.items()})
    all_faces = catalog.face_records()
    by_group: dict[int, list[int]] = {}
    for i, g in enumerate(labels):
        by_group.setdefault(g, []).append(i)
    assignments, groups = [], []
    for g, idx in sorted(by_group.items()):
        group_scores = []
        for i in idx:
            member_scores = all_scores.get(rows[i][1], {})
            group_scores.append({k: v for k, v in member_scores.items() if k in specs})
        tiebreak = [(items[i].ts or 0.0, items[i].key) for i in idx]
        group_faces = [_current_face_scores(all_faces.get(rows[i][1], []), specs) for i in idx]
        ranking = rank_group(group_scores, specs, tiebreak, faces=group_faces)
        suggested = suggest(ranking.scores, ranking.ranks, strict, [items[i].embedding for i in idx])
        best = None
        for i, sc, rk, e, sg in zip(idx, ranking.scores, ranking.ranks, ranking.explain, suggested):
            assignments.append(
                {
                    "key": items[i].key, "group_id": g + 1, "rank": rk, "score": round(sc, 3),
                    "suggested": sg,
                    "explain": json.dumps(e),
                }
            )  # fmt: skip
            if rk == 1:
                best = items[i].key
        first_ts = min((float(t) for i in idx if (t := items[i].ts) is not None), default=None)
        groups.append({"id": g + 1, "n_shots": len(idx), "best": best, "start_time": _iso(first_ts)})
    with catalog.transaction():
        catalog.write_groups(assignments, groups)
        catalog.set_meta("sensitivity", repr(float(sensitivity)))
        catalog.set_meta("strictness", str(strict))


def ranking_settings(catalog: Catalog, sensitivity: float | None = None, strictness: str | None = None) -> tuple[float, Any]:
    """(grouping sensitivity, :class:`~engine.quality.suggest.Strictness`): the given values,
    else those stored in the catalog, else the defaults (0.5, "moments")."""
    from engine.quality.suggest import Strictness

    if sensitivity is None:
        stored = catalog.get_meta("sensitivity")
        try:
            sensitivity = float(stored) if stored is not None else 0.5
        except ValueError:
            sensitivity = 0.5
    if strictness is None:
        strictness = catalog.get_meta("strictness")
    try:
        strict = Strictness.parse(strictness)
    except ValueError:
        strict = Strictness()
    return float(sensitivity), strict


def _current_face_scores(faces: list[dict[str, Any]], specs: dict[str, Any]) -> list[dict[str, Any]]:
    """Face records with only the per-face scores of the selected members."""
    return [{**f, "scores": {n: v for n, v in (f.get("scores") or {}).items() if n in specs}} for f in faces]


def _iso(ts: float | None) -> str | None:
    if ts is None:
        return None
    from datetime import datetime

    return datetime.fromtimestamp(ts, UTC).isoformat()
