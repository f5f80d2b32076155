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
import sqlite3
import threading
import time
import traceback
from collections.abc import Callable, Collection, Iterator
from contextlib import ExitStack, suppress
from dataclasses import dataclass, field, fields
from datetime import UTC
from pathlib import Path
from typing import Any

import numpy as np

from engine import ANALYSIS_VERSION
from engine.catalog import (
    Catalog,
    CatalogError,
    LockHandle,
    catalog_lock,
    default_catalog_path,
    describe_sqlite_error,
)
from engine.scan import ShotFiles, file_hash, path_key, scan_folder

ANALYSIS_MAX_SIDE = 2000  # never analyse more than ~2-3 MP
ANALYSIS_MIN_SIDE = 1000  # JPEG DCT scaling stops here (no resampling: the 8x8 grid stays visible)
WRITE_BATCH = 64  # results per catalog transaction ...
WRITE_SECONDS = 1.0  # ... or fewer, when this long has passed since the first of them
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
    relink: bool = False  # the catalog was made for this folder elsewhere (moved): move it here
    ray: str | None = None  # analyse on Ray: "auto" (a local instance) or a cluster address
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
    bad_dates: list[str] = field(default_factory=list)  # shots whose invalid EXIF date gave way to file time
    seconds: float = 0.0
    cancelled: bool = False
    # member -> cache identity (MemberSpec.cache_id) of the members this run ranked with: the
    # rank files read only the scores stored under these (engine.report)
    identities: dict[str, str] = field(default_factory=dict)


@dataclass
class ShotResult:
    """What a worker hands back for one shot: picklable, it crosses the process boundary.

    ``status`` is 'ok', 'skipped' (``reason`` says why, ``trace`` for an internal error) or
    'pending' (analyse again next run).  ``reused``: the cached analysis of ``hash`` stands
    (``carry_from``: the analysis of that other hash, same image data, is carried over).
    Otherwise ``analysis``/``faces``/``scores``/``identities`` are the new analysis."""

    key: str
    status: str = "ok"
    size: int | None = None
    mtime_ns: int | None = None
    hash: str | None = None
    metadata: dict[str, Any] | None = None
    reason: str | None = None
    trace: str | None = None
    reused: bool = False
    carry_from: str | None = None
    analysis: dict[str, Any] | None = None
    faces: list[dict[str, Any]] = field(default_factory=list)
    scores: dict[str, tuple[float, float]] = field(default_factory=dict)
    identities: dict[str, str] | None = None

    @classmethod
    def of(cls, res: ShotResult | dict[str, Any]) -> ShotResult:
        """A result from a backend that still speaks dicts (the Ray backend) as a ShotResult."""
        if isinstance(res, ShotResult):
            return res
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in res.items() if k in names})


# -- worker side -----------------------------------------------------------------------------

@dataclass
class _WorkerState:
    """What one analysis worker process keeps between tasks: set by :func:`_init_worker` (the
    pool's initializer, the Ray actor's constructor), read by :func:`_work`.  The face detector
    and the eye model are built on first use (:func:`_detector`, :func:`_eye_model`)."""

    ready: bool = False  # _init_worker has run in this process
    members: list[Any] = field(default_factory=list)  # QualityMember instances, in run order
    face_backend: str = "retinaface"
    threads: int = 1
    device: str = "cpu"
    known: frozenset[str] = frozenset()  # hashes already analysed: sent once per worker, not per task
    known_images: dict[str, str] = field(default_factory=dict)  # image key -> analysed hash (engine.imagekey)
    detector: Any = None  # FaceDetector, built on first use
    eye_model: Any = None  # the eye-state model, or None when not installed ...
    eye_model_loaded: bool = False  # ... once load_eye_model has been asked


_WORKER = _WorkerState()


def _init_worker(
    members: list[str], face_backend: str, device: str, threads: int, known: frozenset[str] = frozenset(),
    known_images: dict[str, str] | None = None,
) -> None:  # fmt: skip
    import cv2

    cv2.setNumThreads(threads)
    from engine.quality.registry import create_member

    global _WORKER
    _WORKER = _WorkerState(
        ready=True,
        members=[create_member(m, device=device) if m.startswith("pack:") else create_member(m) for m in members],
        face_backend=face_backend,
        threads=threads,
        device=device,
        known=known,
        known_images=known_images or {},
    )


def _detector():  # type: ignore[no-untyped-def]
    w = _WORKER
    if w.detector is None:
        from engine.faces import FaceDetector

        w.detector = FaceDetector(backend=w.face_backend, threads=w.threads, device=w.device)
    return w.detector


def _eye_model():  # type: ignore[no-untyped-def]
    """The worker's eye-state model (None when not installed), built on first use."""
    w = _WORKER
    if not w.eye_model_loaded:
        from engine.faces import load_eye_model

        w.eye_model = load_eye_model(w.threads)
        w.eye_model_loaded = True
    return w.eye_model


def analyse_path(path: Path, members: list[Any], detector: Any, eye_model: Any = None) -> dict[str, Any]:
    """Analyse one image file: decode, faces, members, descriptor (no catalog involved)."""
    from engine.images import decode

    t0 = time.perf_counter()
    dec = decode(path, max_side=ANALYSIS_MAX_SIDE, min_side=ANALYSIS_MIN_SIDE)
    return analyse_decoded(dec, members, detector, t0, eye_model)


def analyse_decoded(dec: Any, members: list[Any], detector: Any, t0: float, eye_model: Any = None) -> dict[str, Any]:
    """Faces, members and descriptor of an image decoded at analysis size (the Ray backend decodes
    in CPU tasks and calls this in its scoring actors); ``t0``: when decoding started."""
    from engine import grouping
    from engine.faces import analyse_faces
    from engine.images import encode_jpeg, preview_record
    from engine.quality.base import ShotInput

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
            **preview_record(dec),
        },
        "faces": face_rows,
        "scores": scores,
        "identities": {n: identities[n] for n in scores},
    }


def identify(
    path: Path, task: dict[str, Any], out: dict[str, Any],
    known: Collection[str] = (), known_images: dict[str, str] | None = None,
) -> tuple[bool, str | None]:  # fmt: skip
    """Size, mtime, content hash and EXIF of a task's file into ``out``; the local pool and the
    Ray backend both start here.  Returns (whether it needs analysing, its image key).

    The header is sniffed before hashing, so that a huge file that is no image is refused unread
    (:class:`ImageError`).  A hash in ``known`` is reused as it is; a file whose image data is
    already analysed under another hash (``known_images``: image key -> hash; only its metadata
    changed, as ``export --embed`` does) carries that analysis over (``out["carry_from"]``)."""
    from engine.imagekey import cache_key, file_hashes
    from engine.images import sniff
    from engine.metadata import read_metadata

    st = path.stat()
    out["size"], out["mtime_ns"] = st.st_size, st.st_mtime_ns
    digest: str | None = None
    if task.get("hash"):
        out["hash"] = task["hash"]
    else:
        sniff(path)
        out["hash"], digest = file_hashes(path)
    out["metadata"] = read_metadata(path).as_row()
    if out["hash"] in known:
        out["reused"] = True
        return False, None
    if digest is None:
        digest = file_hashes(path)[1]
    key = cache_key(digest, out["metadata"].get("orientation"))
    carry = (known_images or {}).get(key) if key else None
    if carry is not None:
        out["reused"], out["carry_from"] = True, carry
        return False, key
    return True, key


def record_skip(out: dict[str, Any], exc: BaseException) -> None:
    """Mark ``out`` skipped with the one-line reason for ``exc`` (local workers and Ray alike)."""
    from engine.images import ImageError

    out["status"] = "skipped"
    if isinstance(exc, ImageError):
        out["reason"] = str(exc)
    elif isinstance(exc, OSError):
        out["reason"] = f"cannot read: {exc.strerror or exc}"
    elif isinstance(exc, MemoryError):
        out["reason"] = "out of memory while decoding"
    else:
        out["reason"] = f"internal error ({type(exc).__name__}: {exc})"
        out["trace"] = traceback.format_exc()


def _work(task: dict[str, Any]) -> ShotResult:
    out: dict[str, Any] = {"key": task["key"], "status": "ok"}
    path = Path(task["path"])
    _fault_crash(path)
    try:
        needed, key = identify(path, task, out, _WORKER.known, _WORKER.known_images)
        if needed:
            out.update(analyse_path(path, _WORKER.members, _detector(), _eye_model()))
            out["analysis"]["image_key"] = key
    except Exception as exc:  # never let one file stop a session
        record_skip(out, exc)
    return ShotResult.of(out)


def _fault_crash(path: Path) -> None:
    """Testing hooks: ``CULLER_FAULT_CRASH_ON=NAME`` makes a worker SIGKILL itself on the file
    named NAME, as the OOM killer or a crashing native decoder would; ``CULLER_FAULT_HANG_ON``
    makes it hang there (see tests)."""
    name = os.environ.get("CULLER_FAULT_CRASH_ON")
    if name and path.name == name:
        import signal

        os.kill(os.getpid(), signal.SIGKILL)
    if os.environ.get("CULLER_FAULT_HANG_ON") == path.name:  # a decoder stuck in a loop
        time.sleep(24 * 3600)


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
    need = {s.cache_id for s in specs.values()}
    return {h for h, ran, _key in catalog.current_analyses(ANALYSIS_VERSION) if ran and need <= set(ran)}


def _complete_image_keys(catalog: Catalog, specs: dict[str, Any]) -> dict[str, str]:
    """Image key -> hash of the complete analyses that know their image data (engine.imagekey)."""
    need = {s.cache_id for s in specs.values()}
    return {key: h for h, ran, key in catalog.current_analyses(ANALYSIS_VERSION) if key and ran and need <= set(ran)}


CRASH_REASON = "the decoder crashed on this file (its worker process died)"
HANG_REASON = "the decoder hung on this file (no result after {seconds:.0f} s)"


def task_seconds() -> float:
    """How long one file may take before its worker is deemed hung (``CULLER_TASK_TIMEOUT``)."""
    try:
        return max(1.0, float(os.environ.get("CULLER_TASK_TIMEOUT", "600")))
    except ValueError:
        return 600.0


def _iter_results(
    tasks: list[dict[str, Any]], opts: RankOptions, names: list[str], cancel: threading.Event | None, known: frozenset[str] = frozenset(),
    known_images: dict[str, str] | None = None, lock: LockHandle | None = None,
) -> Iterator[ShotResult]:
    workers = opts.workers or os.cpu_count() or 1
    workers = max(1, min(workers, len(tasks)))
    initargs = (names, opts.face_backend, opts.device, 1, known, known_images)
    if workers == 1:
        # In this process: a native crash here ends the run, so the lock file names the shot
        # being analysed; the next run gives a shot a dead run left there to a pool of its own
        # (retried once, then skipped as a decoder crash) instead of dying on it again.
        suspects = lock.left_working_on() if lock is not None else set()
        _init_worker(*initargs)
        for t in tasks:
            if cancel is not None and cancel.is_set():
                return
            if t["key"] in suspects:
                yield from _pool_results([t], 1, initargs, cancel)
                continue
            if lock is not None:
                lock.working_on(t["key"])
            res = _work(t)
            if lock is not None:
                lock.working_on(None)
            yield res
        return
    yield from _pool_results(tasks, workers, initargs, cancel)


def _pool_results(
    tasks: list[dict[str, Any]], workers: int, initargs: tuple[Any, ...], cancel: threading.Event | None
) -> Iterator[ShotResult]:
    """Results from a process pool that survives dead workers.

    A worker killed by the OOM killer or a native decoder crash breaks a
    ``ProcessPoolExecutor`` (``BrokenProcessPool`` on every task it held).  Those
    tasks are suspects: each is retried once, alone, in a fresh one-worker pool,
    so that an innocent neighbour succeeds and the file that kills its worker
    again is the one recorded as skipped.  The rest of the run goes on in a new pool.

    A watchdog does the same for a worker that hangs: a task that has been running for
    :func:`task_seconds` breaks the pool as a dead worker would, and alone it is skipped
    as hung."""
    import multiprocessing as mp
    from collections import deque
    from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
    from concurrent.futures.process import BrokenProcessPool

    ctx = mp.get_context("spawn")

    def new_pool(n: int) -> ProcessPoolExecutor:
        return ProcessPoolExecutor(n, mp_context=ctx, initializer=_init_worker, initargs=initargs)

    def cancelled() -> bool:
        return cancel is not None and cancel.is_set()

    pending = deque(tasks)
    suspects: list[dict[str, Any]] = []
    pool = new_pool(workers)
    inflight: dict[Future[ShotResult], dict[str, Any]] = {}
    running_since: dict[Future[ShotResult], float] = {}
    limit = task_seconds()
    try:
        while pending or inflight:
            if cancelled():
                return
            broken = False
            while pending and len(inflight) < 2 * workers and not broken:
                t = pending.popleft()
                try:
                    inflight[pool.submit(_work, t)] = t
                except BrokenProcessPool:
                    pending.appendleft(t)
                    broken = True
            done, _ = wait(inflight, timeout=0.25, return_when=FIRST_COMPLETED)
            now = time.monotonic()
            for f in inflight:
                if f not in done and f.running():
                    since = running_since.setdefault(f, now)
                    broken = broken or now - since > limit  # hung: handled as a dead worker
            for f in done:
                running_since.pop(f, None)
                t = inflight.pop(f)
                try:
                    res = f.result()
                except BrokenProcessPool:
                    suspects.append(t)
                    broken = True
                    continue
                yield res
            if broken:
                suspects.extend(inflight.values())
                inflight.clear()
                running_since.clear()
                _kill_pool(pool)
                pool = new_pool(workers)
        _kill_pool(pool)
        # Retry each suspect once, alone: a break now can only be its own doing.
        solo: ProcessPoolExecutor | None = None
        for t in suspects:
            if cancelled():
                return
            if solo is None:
                solo = pool = new_pool(1)
            f = solo.submit(_work, t)
            deadline = time.monotonic() + limit
            while True:
                if cancelled():
                    return
                try:
                    res = f.result(timeout=0.25)
                except TimeoutError:
                    if time.monotonic() < deadline:
                        continue
                    _kill_pool(solo)
                    solo = None
                    res = ShotResult(t["key"], "skipped", reason=HANG_REASON.format(seconds=limit), **_stat_of(t["path"]))
                except BrokenProcessPool:
                    _kill_pool(solo)
                    solo = None
                    res = ShotResult(t["key"], "skipped", reason=CRASH_REASON, **_stat_of(t["path"]))
                break
            yield res
    finally:
        _kill_pool(pool)


def _stat_of(path: str) -> dict[str, Any]:
    """size/mtime of a file whose worker died (so that an unchanged file is not retried every run)."""
    try:
        st = os.stat(path)
    except OSError:
        return {}
    try:
        h = file_hash(Path(path))
    except OSError:
        h = None
    return {"size": st.st_size, "mtime_ns": st.st_mtime_ns, "hash": h}


def _kill_pool(pool: Any) -> None:
    """Stop a ProcessPoolExecutor now: queued work is dropped, running workers are killed."""
    for p in list((getattr(pool, "_processes", None) or {}).values()):
        with suppress(Exception):
            if p.is_alive():
                p.kill()
    pool.shutdown(wait=True, cancel_futures=True)


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
    with ExitStack() as stack:
        try:
            lock = stack.enter_context(catalog_lock(cat_path, "rank"))
            catalog = Catalog(cat_path, root, relink=opts.relink)
        except CatalogError as exc:
            raise PipelineError(str(exc)) from exc
        return _rank(opts, root, cat_path, catalog, progress, cancel, t0, lock)


def _rank(
    opts: RankOptions, root: Path, cat_path: Path, catalog: Catalog,
    progress: Callable[[ProgressEvent], None] | None, cancel: threading.Event | None, t0: float,
    lock: LockHandle | None = None,
) -> RankSummary:  # fmt: skip
    emit = progress or (lambda e: None)
    summary = RankSummary(cat_path)
    try:
        names = _member_names(opts)
        specs = member_specs(names)
        summary.identities = {n: s.cache_id for n, s in specs.items()}
        emit(ProgressEvent("scan", 0, 0, message=f"scanning {root}"))
        scan = scan_folder(root, opts.recursive)
        summary.skipped.extend(scan.skipped)
        shots = scan.shots
        present = {s.key for s in shots}
        catalog.forget_missing(present)
        known = _complete_hashes(catalog, specs)
        tasks, ready = _plan(catalog, shots, known)
        known_images = _complete_image_keys(catalog, specs)
        summary.reused = len(ready)
        total = len(shots)
        emit(ProgressEvent("analyse", len(ready), total, message=f"{len(tasks)} to analyse, {len(ready)} cached"))
        done = len(ready)

        def stored(res: ShotResult) -> None:
            nonlocal done
            done += 1
            if res.status == "ok":
                if res.reused:
                    summary.reused += 1
                else:
                    summary.analysed += 1
            emit(ProgressEvent("analyse", done, total, path=res.key))

        with ResultWriter(catalog, root, shots, stored) as writer:
            if opts.ray:
                from engine.cluster.ray_backend import iter_results as iter_ray

                results: Iterator[ShotResult | dict[str, Any]] = iter_ray(
                    tasks, opts, names, cancel, frozenset(known), known_images
                )
            else:
                results = _iter_results(tasks, opts, names, cancel, frozenset(known), known_images, lock)
            for res in results:
                writer.add(res)
        if cancel is not None and cancel.is_set():
            summary.cancelled = True
        emit(ProgressEvent("group", 0, 1, message="grouping and ranking"))
        regroup(catalog, names, opts.sensitivity, specs, strictness=opts.strictness)
        for row in catalog.shots_with_status("skipped"):
            reason = row["reason"] or "skipped"
            if (row["key"], reason) not in summary.skipped:
                summary.skipped.append((row["key"], reason))
        from engine.metadata import FILE_TIME_BAD_EXIF

        summary.bad_dates = catalog.shots_with_time_source(FILE_TIME_BAD_EXIF)
        ok = catalog.shots_with_status("ok")
        summary.n_shots = len(ok)
        summary.n_faces = sum(int(r["n_faces"] or 0) for r in ok)
        summary.n_groups = len(catalog.groups())
        summary.seconds = time.perf_counter() - t0
        emit(ProgressEvent("done", total, total, message="done"))
        return summary
    except sqlite3.Error as exc:  # a full disk, a catalog made read-only under us...
        raise PipelineError(describe_sqlite_error(cat_path, exc)) from exc
    except CatalogError as exc:
        raise PipelineError(str(exc)) from exc
    finally:
        catalog.close()


def _plan(catalog: Catalog, shots: list[ShotFiles], known: set[str]) -> tuple[list[dict[str, Any]], list[str]]:
    """Split shots into tasks for the workers and shots whose cached analysis stands.

    Tasks carry their own path and cached hash only (the set of known hashes goes to each worker once)."""
    tasks, ready = [], []
    files = catalog.file_index()
    status = catalog.shot_statuses()
    for s in shots:
        row = files.get(s.key)
        shot_status = status.get(s.key)
        try:
            st = s.primary.stat()
        except OSError:
            row = None
            st = None
        same_file = row is not None and st is not None and row[0] == st.st_size and row[1] == st.st_mtime_ns and bool(row[2])
        if same_file and shot_status == "skipped":
            ready.append(s.key)  # unchanged and unreadable last time: skip again without reading
            continue
        if same_file and row is not None and row[2] in known and shot_status == "ok":
            ready.append(s.key)
            continue
        tasks.append({"key": s.key, "path": str(s.primary), "hash": row[2] if same_file and row else None})
    return tasks, ready


class ResultWriter:
    """Stores worker results in the catalog in batches: one transaction per ``batch`` results or per
    ``seconds`` (default WRITE_BATCH, WRITE_SECONDS), whichever comes first, so a killed run loses at most that much finished work.

    ``on_stored(result)`` runs for each result once its batch is committed (progress events then
    point at shots already in the catalog).  The local pool and the Ray backend both write through it.
    """

    def __init__(
        self,
        catalog: Catalog,
        root: Path,
        shots: list[ShotFiles],
        on_stored: Callable[[ShotResult], None] | None = None,
        batch: int | None = None,
        seconds: float | None = None,
    ):
        self.catalog, self.root = catalog, root
        self.by_key = {s.key: s for s in shots}
        self.on_stored = on_stored or (lambda res: None)
        self.batch = WRITE_BATCH if batch is None else batch
        self.seconds = WRITE_SECONDS if seconds is None else seconds
        self.pending: list[ShotResult] = []
        self.since = 0.0

    def add(self, res: ShotResult | dict[str, Any]) -> None:
        if not self.pending:
            self.since = time.monotonic()
        self.pending.append(ShotResult.of(res))
        if len(self.pending) >= self.batch or time.monotonic() - self.since >= self.seconds:
            self.flush()

    def flush(self) -> None:
        if not self.pending:
            return
        batch, self.pending = self.pending, []
        _store_batch(self.catalog, self.root, batch, self.by_key)
        for res in batch:
            self.on_stored(res)

    def __enter__(self) -> ResultWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.flush()  # also on cancel or an error: what finished is kept


def _carried(catalog: Catalog, res: ShotResult) -> ShotResult:
    """A result whose analysis is carried over from the same image data (``export --embed``)."""
    if res.carry_from and res.hash and not catalog.carry_analysis(res.carry_from, res.hash, res.key):
        res.status = "pending"  # that analysis vanished meanwhile: the next run redoes it
    return res


def _store_batch(catalog: Catalog, root: Path, results: list[ShotResult], shots_by_key: dict[str, ShotFiles]) -> None:
    results = [_carried(catalog, r) for r in results]
    reused = catalog.n_faces_of(r.hash for r in results if r.status == "ok" and r.reused and r.hash)
    analyses, files, shot_rows, metadata = [], [], [], []
    now = time.time()
    for res in results:
        key = res.key
        s = shots_by_key[key]
        n_faces = None
        if res.status == "ok" and not res.reused and res.analysis is not None and res.hash:
            analyses.append((res.hash, res.analysis, res.faces, res.scores, res.identities))
            n_faces = res.analysis["n_faces"]
        elif res.status == "ok" and res.hash:
            n_faces = reused.get(res.hash, 0)
        files.append(
            {
                "path": key, "shot": key, "role": "primary", "size": res.size,
                "mtime_ns": res.mtime_ns, "hash": res.hash if res.status != "pending" else None,
                "status": res.status, "reason": res.reason,
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
            files.append(
                {"path": path_key(comp.relative_to(root).as_posix()), "shot": key, "role": "companion", "size": size, "mtime_ns": mtime, "hash": None, "status": "ok", "reason": None}
            )
        shot_rows.append(
            {
                "key": key, "primary_path": key,
                "raw_path": path_key(s.raw.relative_to(root).as_posix()) if s.raw else None,
                "hash": res.hash, "status": res.status, "reason": res.reason,
                "n_faces": n_faces, "seen_at": now,
            }
        )  # fmt: skip
        if res.metadata:
            metadata.append({"shot": key, **res.metadata})
    catalog.store_batch(analyses, files, shot_rows, metadata)


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
    rows = catalog.grouping_rows()
    items = [
        GroupItem(
            key=r[0], ts=r[2], exif_time=r[3] == "exif", camera="|".join(x or "" for x in r[4:7]),
            embedding=np.frombuffer(r[7], dtype=np.float32),
        )
        for r in rows
    ]  # fmt: skip
    labels = group_shots(items, sensitivity)
    from engine.taste.apply import ranker_for, record

    taste = ranker_for(catalog)  # the photographer's learned taste, when a profile is on
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
        scores, ranks = ranking.scores, ranking.ranks
        if taste is not None:
            scores, ranks = taste.rerank([items[i].key for i in idx], [rows[i][1] for i in idx], [all_scores.get(rows[i][1], {}) for i in idx], scores, tiebreak)
        suggested = suggest(scores, ranks, strict, [items[i].embedding for i in idx])
        best = None
        for i, sc, rk, e, sg in zip(idx, scores, ranks, ranking.explain, suggested):
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
    record(catalog, taste)


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

    try:
        return datetime.fromtimestamp(ts, UTC).isoformat()
    except (ValueError, OverflowError, OSError):  # a time stored by an older version without checks
        return None
