"""``culler rank DIR --ray [ADDRESS|auto]``: analysis on Ray Data, for archives that outgrow one machine.

The run is the local run with a different executor (:func:`engine.pipeline.rank_folder` calls
:func:`iter_results` in place of its process pool). Scanning, planning, resuming and writing stay
in the driver, and so do grouping and ranking:

1. the driver scans DIR and plans tasks exactly as a local run does. Shots whose cached analysis
   stands are not sent at all;
2. a Ray dataset of the remaining tasks is built, one row per shot;
3. CPU tasks (``map``) stat, hash and read the EXIF of each file. A file whose content hash is
   already analysed, say a renamed or copied one, stops there. Any other file is decoded at
   analysis size;
4. scoring actors (``map_batches``) each hold one onnxruntime session per model, the face
   detector and every quality member, created once per actor on its node's GPU when the cluster
   has one (``--device``), else on its CPU. They find faces, run the members and compute the
   content descriptor;
5. the driver streams the results back and writes them through the same batched store path as
   the local run (:class:`engine.pipeline.ResultWriter`). A killed run resumes from the catalog
   like a local one. Then it groups and ranks locally.

``auto`` starts a private local Ray instance for the run; an address (``ray://host:10001``,
``host:6379``) joins an existing cluster. Every node needs the same portrait-culler install
(and model packs) and must read DIR at the same path (shared storage).
"""

from __future__ import annotations

import pickle
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from engine.pipeline import PipelineError, record_skip

ROWS_PER_BLOCK = 4  # small blocks: decoded images stream to the actors instead of piling up
ACTORS_PER_GPU = 4  # actors sharing one GPU (their face detection and technical members run on CPU)
DECODE_CPUS = 0.25  # logical CPUs per hash/decode task
ACTOR_CPUS = 0.75  # logical CPUs per CPU-only scoring actor; the rest is left to decoding

# per worker process: the known hashes and image keys (engine.pipeline.identify), fetched once
_KNOWN: dict[str, tuple[frozenset[str], dict[str, str]]] = {}


class RayUnavailable(PipelineError):
    """Ray is not installed or the cluster cannot be reached; the message is user-facing."""


def _known(ref: Any) -> tuple[frozenset[str], dict[str, str]]:
    import ray

    key = ref.hex()
    if key not in _KNOWN:
        _KNOWN.clear()
        _KNOWN[key] = ray.get(ref)
    return _KNOWN[key]


def hash_and_decode(row: dict[str, Any], known_ref: Any) -> dict[str, Any]:
    """CPU task: stat, hash, EXIF, then decode at analysis size unless the hash is already analysed."""
    from engine.images import decode
    from engine.pipeline import ANALYSIS_MAX_SIDE, ANALYSIS_MIN_SIDE, identify

    task = pickle.loads(row["task"])
    out: dict[str, Any] = {"key": task["key"], "status": "ok"}
    path = Path(task["path"])
    try:
        needed, out["_image_key"] = identify(path, task, out, *_known(known_ref))
        if needed:
            t0 = time.perf_counter()
            out["_decoded"] = decode(path, max_side=ANALYSIS_MAX_SIDE, min_side=ANALYSIS_MIN_SIDE)
            out["_t0"] = t0
    except Exception as exc:  # never let one file stop a session
        record_skip(out, exc)
    return {"key": out["key"], "blob": pickle.dumps(out, protocol=pickle.HIGHEST_PROTOCOL)}


class Scorer:
    """Scoring actor: the face detector and every quality member, created once (one onnxruntime
    session per model), applied to each decoded image of a batch."""

    def __init__(self, names: list[str], face_backend: str, device: str, threads: int):
        from engine import pipeline

        pipeline._init_worker(names, face_backend, device, threads)
        self._pipeline = pipeline

    def __call__(self, batch: dict[str, Any]) -> dict[str, Any]:
        import numpy as np

        p = self._pipeline
        blobs = []
        for blob in batch["blob"]:
            res = pickle.loads(blob)
            dec = res.pop("_decoded", None)
            t0 = res.pop("_t0", time.perf_counter())
            image_key = res.pop("_image_key", None)
            if dec is not None:
                try:
                    res.update(p.analyse_decoded(dec, p._WORKER.members, p._detector(), t0, p._eye_model()))
                    res["analysis"]["image_key"] = image_key
                except Exception as exc:
                    record_skip(res, exc)
            blobs.append(pickle.dumps(res, protocol=pickle.HIGHEST_PROTOCOL))
        return {"key": batch["key"], "blob": np.array(blobs, dtype=object)}


def connect(address: str, workers: int | None = None) -> bool:
    """Start a local instance (``auto``) or join a cluster; True when this call started Ray."""
    try:
        import ray
    except ImportError as exc:
        raise RayUnavailable("--ray needs Ray: pip install 'portrait-culler[cluster]'") from exc
    if ray.is_initialized():
        return False
    import logging

    kw: dict[str, Any] = {"include_dashboard": False, "log_to_driver": False, "logging_level": logging.ERROR}
    try:
        if address == "auto":
            ray.init(num_cpus=workers, **kw)
        else:
            ray.init(address=address, **kw)
    except (ConnectionError, RuntimeError, ValueError) as exc:
        raise RayUnavailable(f"cannot reach the Ray cluster at {address}: {exc}") from exc
    return True


def iter_results(
    tasks: list[dict[str, Any]],
    opts: Any,
    names: list[str],
    cancel: threading.Event | None,
    known: frozenset[str],
    known_images: dict[str, str] | None = None,
) -> Iterator[dict[str, Any]]:
    """Results of ``tasks`` in the form the local workers give them, as Ray finishes them."""
    if not tasks:
        return
    started = connect(str(opts.ray), opts.workers)
    import numpy as np
    import ray

    try:
        import logging

        ctx = ray.data.DataContext.get_current()  # imports ray.data, which configures its loggers
        logging.getLogger("ray.data").setLevel(logging.ERROR)  # no per-dataset chatter under culler's bar
        ctx.enable_progress_bars = False  # culler draws its own bar, fed as results are stored
        ctx.print_on_execution_start = False
        resources = ray.cluster_resources()
        gpus = int(resources.get("GPU", 0))
        use_gpu = gpus > 0 and opts.device != "cpu"
        if use_gpu:
            actor_args: dict[str, Any] = {"num_gpus": 1.0 / ACTORS_PER_GPU, "num_cpus": 1}
            actors = gpus * ACTORS_PER_GPU
        else:
            actor_args = {"num_cpus": ACTOR_CPUS}
            # one scorer per logical CPU; each CPU's remaining quarter runs a hash/decode task
            actors = max(1, int(resources.get("CPU", 1)))
        actors = max(1, min(actors, len(tasks)))
        rows = [{"key": t["key"], "task": pickle.dumps(t)} for t in tasks]
        ds: Any = ray.data.from_items(rows, override_num_blocks=max(1, -(-len(rows) // ROWS_PER_BLOCK)))
        ds = ds.map(hash_and_decode, fn_kwargs={"known_ref": ray.put((known, known_images or {}))}, num_cpus=DECODE_CPUS)
        face_backend, device = opts.face_backend, opts.device

        class BoundScorer(Scorer):  # arguments travel with the class, not through the object store
            def __init__(self) -> None:
                super().__init__(names, face_backend, device, 1)

        ds = ds.map_batches(
            BoundScorer,
            batch_size=1,
            batch_format="numpy",
            compute=ray.data.ActorPoolStrategy(size=actors),
            **actor_args,
        )
        for row in ds.iter_rows():
            if cancel is not None and cancel.is_set():
                return
            blob = row["blob"]
            yield pickle.loads(blob if isinstance(blob, bytes) else np.asarray(blob).tobytes())
    finally:
        if started:
            ray.shutdown()
