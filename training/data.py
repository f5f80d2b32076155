"""PIQ23 dataset (torch), face crops, prepared-input cache and the scene-balanced sampler.

Inputs are prepared exactly as the pack runtime does (``engine.packs.runtime.make_crops`` and
``normalise``), so a model sees the same pixels in training and in ``culler rank``:

* ``image`` (kind image, ``full``): the whole frame resized to the input size;
* ``mosaic`` (kind image, ``mosaic:N``): N x N full-resolution mini-patches tiled;
* ``face`` (kind face): the aligned face crop of ``engine.faces`` (RetinaFace landmarks,
  ``align_face``) of the largest face, resized to the input size.  When no face is found (or the
  detector cannot run) :func:`fallback_face_crop` is used instead: a centred square in the upper
  part of the frame, where the subject's head usually is in a portrait.

Prepared inputs (uint8, model size) are cached on disk under ``cache_dir`` keyed by file path,
size, mtime and input spec, so the full-resolution decode and face detection happen once per
image.
"""

from __future__ import annotations

import hashlib
import logging
import os
import random
from collections import defaultdict
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset, Sampler

from engine.packs.pack import PackInput
from training.piq23 import ScoreRow

log = logging.getLogger("training.data")


class DataError(Exception):
    """Data that cannot be used for training; the message is user-facing."""


def load_rgb(path: str | os.PathLike[str]) -> np.ndarray:
    """RGB uint8 of an image file (EXIF orientation applied), any format the engine reads."""
    try:
        from engine.images import open_image

        return open_image(path)
    except ImportError:  # pragma: no cover - engine.images is part of the project
        pass
    except Exception as exc:  # noqa: BLE001 - the engine raises ImageError; fall back to PIL
        log.debug("engine.images could not read %s (%s); trying PIL", path, exc)
    from PIL import Image, ImageOps

    try:
        with Image.open(path) as im:
            return np.asarray(ImageOps.exif_transpose(im).convert("RGB"))
    except FileNotFoundError:
        raise DataError(f"{path}: image not found") from None
    except OSError as exc:
        raise DataError(f"cannot read image {path}: {exc}") from exc


def fallback_face_crop(rgb: np.ndarray) -> np.ndarray:
    """Face stand-in when no face is detected: a square of 45 % of the short side, centred
    horizontally, its centre at 35 % of the height (upper part of a portrait)."""
    h, w = rgb.shape[:2]
    side = max(2, int(0.45 * min(h, w)))
    cy, cx = int(0.35 * h), w // 2
    y0 = min(max(cy - side // 2, 0), h - side)
    x0 = min(max(cx - side // 2, 0), w - side)
    return np.ascontiguousarray(rgb[y0 : y0 + side, x0 : x0 + side])


class FaceCropper:
    """The aligned crop of the largest face (``engine.faces``), or :func:`fallback_face_crop`."""

    def __init__(self, use_detector: bool = True) -> None:
        self.detector: Any = None
        self.n_detected = 0
        self.n_fallback = 0
        self.reason = ""
        if use_detector:
            try:
                from engine.faces import FaceDetector

                self.detector = FaceDetector()
            except Exception as exc:  # noqa: BLE001 - any failure: fall back, say why once
                self.reason = f"face detector unavailable ({exc}); using the centre fallback crop"
                log.warning(self.reason)
        else:
            self.reason = "face detection disabled; using the centre fallback crop"

    def __call__(self, rgb: np.ndarray) -> np.ndarray:
        if self.detector is not None:
            from engine.faces import CROP_SIZE, align_face

            faces = self.detector.detect(rgb)
            if faces:
                best = max(faces, key=lambda f: f.box[2] * f.box[3])
                self.n_detected += 1
                return np.asarray(align_face(rgb, best.landmarks, CROP_SIZE))
        self.n_fallback += 1
        return fallback_face_crop(rgb)


def random_crops(rgb: np.ndarray, size: tuple[int, int], n: int, rng: np.random.Generator) -> np.ndarray:
    """``n`` random ``size`` crops (n x H x W x 3) of the picture at the scale the runtime's
    ``grid5`` crops use (its own resolution, upscaled only when smaller than ``size``)."""
    from engine.packs.runtime import _at_least

    h, w = int(size[0]), int(size[1])
    base = _at_least(rgb, h, w)
    ih, iw = base.shape[:2]
    out = np.empty((n, h, w, 3), np.uint8)
    for k in range(n):
        y, x = int(rng.integers(0, ih - h + 1)), int(rng.integers(0, iw - w + 1))
        out[k] = base[y : y + h, x : x + w]
    return out


def random_mosaics(rgb: np.ndarray, size: tuple[int, int], n_grid: int, n: int, rng: np.random.Generator) -> np.ndarray:
    """``n`` mosaics (n x H x W x 3) of ``n_grid`` x ``n_grid`` mini-patches taken at random places
    at the picture's own resolution (RQ-Net's training mosaic; the runtime's ``mosaic:N`` takes
    the centres of an N x N grid instead)."""
    from engine.packs.runtime import _at_least

    h, w = int(size[0]), int(size[1])
    ph, pw = h // n_grid, w // n_grid
    base = _at_least(rgb, h, w)
    ih, iw = base.shape[:2]
    out = np.empty((n, h, w, 3), np.uint8)
    for k in range(n):
        for i in range(n_grid):
            for j in range(n_grid):
                y, x = int(rng.integers(0, ih - ph + 1)), int(rng.integers(0, iw - pw + 1))
                out[k, i * ph : (i + 1) * ph, j * pw : (j + 1) * pw] = base[y : y + ph, x : x + pw]
    return out


def prepare_inputs(
    rgb: np.ndarray, specs: Sequence[PackInput], faces: FaceCropper | None = None,
    train_crops: int = 0, rng: np.random.Generator | None = None,
) -> dict[str, np.ndarray]:
    """uint8 arrays for each model input, as the pack runtime prepares them: H x W x 3 for one
    crop, n x H x W x 3 for several (``grid5``).  With ``train_crops`` > 0 (training only), image
    inputs whose test-time crops are ``grid5`` / ``center`` get that many random crops and
    ``mosaic:N`` inputs that many random mosaics; ``full`` inputs stay as they are."""
    from engine.packs.runtime import make_crops

    out: dict[str, np.ndarray] = {}
    face: np.ndarray | None = None
    for spec in specs:
        src = rgb
        if spec.kind == "face":
            if face is None:
                face = (faces or FaceCropper(use_detector=False))(rgb)
            src = face
        size = (int(spec.size[0]), int(spec.size[1]))
        kind, _, arg = spec.crops.partition(":")
        if train_crops > 0 and spec.kind == "image" and kind in ("grid5", "center"):
            out[spec.name] = random_crops(src, size, train_crops, rng or np.random.default_rng(0))
            continue
        if train_crops > 0 and spec.kind == "image" and kind == "mosaic":
            out[spec.name] = random_mosaics(src, size, int(arg or 4), train_crops, rng or np.random.default_rng(0))
            continue
        crops = make_crops(src, size, spec.crops)
        out[spec.name] = crops[0] if len(crops) == 1 else np.stack(crops)
    return out


def to_tensor(a: np.ndarray, spec: PackInput) -> torch.Tensor:
    """uint8 HxWx3 -> normalised float 3xHxW (n x 3 x H x W for n crops), as
    ``engine.packs.runtime.normalise``."""
    from engine.packs.runtime import normalise

    if a.ndim == 4:
        return torch.from_numpy(normalise(a, spec.mean, spec.std, "float32"))
    return torch.from_numpy(normalise(a[None], spec.mean, spec.std, "float32")[0])


class PreparedCache:
    """Prepared model inputs on disk: ``{dir}/{sha1}.npz`` per image and input spec set."""

    def __init__(self, cache_dir: str | os.PathLike[str] | None) -> None:
        self.dir = Path(cache_dir) if cache_dir else None
        if self.dir is not None:
            self.dir.mkdir(parents=True, exist_ok=True)

    @staticmethod
    def key(path: Path, specs: Sequence[PackInput], face_mode: str, extra: str = "") -> str:
        try:
            st = path.stat()
            stamp = f"{st.st_size}:{int(st.st_mtime)}"
        except OSError:
            stamp = "?"
        spec = ";".join(f"{s.name},{s.kind},{s.size[0]}x{s.size[1]},{s.crops}" for s in specs)
        return hashlib.sha1(f"{path.resolve()}|{stamp}|{spec}|{face_mode}|{extra}".encode()).hexdigest()

    def get(self, key: str) -> dict[str, np.ndarray] | None:
        if self.dir is None:
            return None
        f = self.dir / f"{key}.npz"
        if not f.is_file():
            return None
        try:
            with np.load(f) as z:
                return {k: z[k] for k in z.files}
        except (OSError, ValueError):
            return None

    def put(self, key: str, arrays: dict[str, np.ndarray]) -> None:
        if self.dir is None:
            return
        tmp = self.dir / f".{key}.{os.getpid()}.npz"
        np.savez(tmp, **arrays)  # type: ignore[arg-type]
        os.replace(tmp, self.dir / f"{key}.npz")


class Piq23Dataset(Dataset):
    """PIQ23 rows (see ``training.piq23``) with images under ``images_root/{attribute}/{image}``.

    Items: ``{"inputs": {name: 3xHxW float}, "target": JOD, "group": scene index in this dataset,
    "scene_label": index in ``scene_vocab`` or -1, "index": row index}``.
    """

    def __init__(
        self,
        rows: Sequence[ScoreRow],
        images_root: str | os.PathLike[str],
        specs: Sequence[PackInput],
        *,
        cache_dir: str | os.PathLike[str] | None = None,
        train: bool = False,
        scene_vocab: Sequence[str] = (),
        faces: FaceCropper | None = None,
        check_files: bool = True,
        train_crops: int = 0,
        seed: int = 0,
        extra_targets: Sequence[dict[str, float]] = (),
    ) -> None:
        if not rows:
            raise DataError("no images to load (empty score file or split)")
        self.rows = list(rows)
        self.root = Path(images_root)
        self.specs = list(specs)
        self.train = train
        self.cache = PreparedCache(cache_dir)
        self.scenes = sorted({r.scene for r in self.rows})
        scene_idx = {s: i for i, s in enumerate(self.scenes)}
        self.groups = [scene_idx[r.scene] for r in self.rows]
        vocab = {s: i for i, s in enumerate(scene_vocab)}
        self.scene_labels = [vocab.get(r.scene, -1) for r in self.rows]
        self.needs_faces = any(s.kind == "face" for s in self.specs)
        self.train_crops = train_crops if train else 0  # random crops per image (cached), one drawn per visit
        self.seed = seed
        # JODs of further attributes by image name (multi-attribute heads); NaN where unknown
        self.extra = [[t.get(r.image, float("nan")) for t in extra_targets] for r in self.rows] if extra_targets else None
        self._faces = faces
        if check_files:
            missing = [r for r in self.rows if not r.file_in(self.root).is_file()]
            if missing:
                raise DataError(
                    f"{len(missing)} of {len(self.rows)} images are missing under {self.root} "
                    f"(e.g. {missing[0].file_in(self.root)}); the images root must hold "
                    "{Overall,Details,Exposure}/<image> as distributed"
                )

    @property
    def faces(self) -> FaceCropper:
        if self._faces is None:  # created lazily: one per worker process
            self._faces = FaceCropper(use_detector=True)
        return self._faces

    def __len__(self) -> int:
        return len(self.rows)

    def prepared(self, i: int) -> dict[str, np.ndarray]:
        row = self.rows[i]
        path = row.file_in(self.root)
        face_mode = ("detector" if self.faces.detector is not None else "fallback") if self.needs_faces else ""
        extra = f"v2;random{self.train_crops}:{self.seed}" if self.train_crops else "v2"
        key = self.cache.key(path, self.specs, face_mode, extra)
        arrays = self.cache.get(key)
        if arrays is None:
            rgb = load_rgb(path)
            rng = np.random.default_rng([self.seed, i])
            arrays = prepare_inputs(rgb, self.specs, self.faces if self.needs_faces else None, self.train_crops, rng)
            self.cache.put(key, arrays)
        return arrays

    def __getitem__(self, i: int) -> dict[str, Any]:
        arrays = self.prepared(i)
        flip = self.train and random.random() < 0.5
        inputs = {}
        for s in self.specs:
            a = arrays[s.name]
            if self.train and a.ndim == 4:  # several crops: train on one drawn at random
                a = a[random.randrange(a.shape[0])]
            if flip:
                a = np.ascontiguousarray(a[..., ::-1, :])
            inputs[s.name] = to_tensor(a, s)
        item: dict[str, Any] = {
            "inputs": inputs,
            "target": torch.tensor(self.rows[i].jod, dtype=torch.float32),
            "group": torch.tensor(self.groups[i], dtype=torch.long),
            "scene_label": torch.tensor(self.scene_labels[i], dtype=torch.long),
            "index": torch.tensor(i, dtype=torch.long),
        }
        if self.extra is not None:
            item["extra_target"] = torch.tensor(self.extra[i], dtype=torch.float32)
        return item


class SceneBatchSampler(Sampler[list[int]]):
    """Batches of ``scenes_per_batch`` scenes x ``images_per_scene`` images of each.

    An epoch has ``len(groups) // (S * K)`` batches (at least one).  Scenes are drawn in a shuffled
    cycle so all scenes appear equally often; images are drawn without replacement within a scene
    (with replacement only when a scene has fewer than K images).  With ``world_size`` > 1 each
    rank takes every ``world_size``-th batch (DDP).
    """

    def __init__(
        self,
        groups: Sequence[int],
        scenes_per_batch: int,
        images_per_scene: int,
        *,
        seed: int = 0,
        rank: int = 0,
        world_size: int = 1,
        batches_per_epoch: int | None = None,
    ) -> None:
        if scenes_per_batch < 1 or images_per_scene < 1:
            raise ValueError("scenes_per_batch and images_per_scene must be >= 1")
        self.by_scene: dict[int, list[int]] = defaultdict(list)
        for i, g in enumerate(groups):
            self.by_scene[int(g)].append(i)
        self.scene_ids = sorted(self.by_scene)
        self.S = min(scenes_per_batch, len(self.scene_ids))
        self.K = images_per_scene
        self.seed = seed
        self.epoch = 0
        self.rank, self.world = rank, max(1, world_size)
        total = batches_per_epoch or max(1, len(groups) // (self.S * self.K))
        self.n_batches = max(1, total // self.world)

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return self.n_batches

    def __iter__(self) -> Iterator[list[int]]:
        rng = random.Random(self.seed * 1_000_003 + self.epoch)
        pools: dict[int, list[int]] = {}
        scene_cycle: list[int] = []
        for b in range(self.n_batches * self.world):
            batch: list[int] = []
            chosen: list[int] = []
            while len(chosen) < self.S:
                if not scene_cycle:
                    scene_cycle = self.scene_ids[:]
                    rng.shuffle(scene_cycle)
                s = scene_cycle.pop()
                if s not in chosen:
                    chosen.append(s)
            for s in chosen:
                members = self.by_scene[s]
                if len(members) < self.K:
                    batch.extend(rng.choice(members) for _ in range(self.K))
                    continue
                pool = pools.get(s)
                if not pool or len(pool) < self.K:
                    pool = members[:]
                    rng.shuffle(pool)
                batch.extend(pool[: self.K])
                pools[s] = pool[self.K :]
            if b % self.world == self.rank:
                yield batch


def collate(items: list[dict[str, Any]]) -> dict[str, Any]:
    """Stack items of :class:`Piq23Dataset` (or synthetic groups, already lists of items)."""
    flat: list[dict[str, Any]] = []
    for it in items:
        flat.extend(it if isinstance(it, list) else [it])
    names = list(flat[0]["inputs"])
    return {
        "inputs": {n: torch.stack([it["inputs"][n] for it in flat]) for n in names},
        **{k: torch.stack([it[k] for it in flat]) for k in ("target", "group", "scene_label", "index", "extra_target")
           if k in flat[0]},
    }
