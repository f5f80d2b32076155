"""Synthetic-defect data: RankIQA-style ranked groups from permissively licensed photos, and a
tiny dataset in the PIQ23 layout with scores derived from known defect strengths.

Permissive photos: the colour photographs that ship inside scikit-image (read from its data
folder, never fetched), with their licences as stated in ``skimage.data``'s docstrings, plus any
folder of photos the user passes (``--photos DIR``, whose licence the user vouches for).
"""

from __future__ import annotations

import csv
import os
import random
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from engine.packs.pack import PackInput
from training.defects import DEFECT_JOD, DEFECTS, apply_defect, apply_defects, jod_penalty
from training.piq23 import ATTRIBUTES

# file in skimage/data -> (name, licence as stated by skimage.data)
SKIMAGE_PHOTOS = {
    "astronaut.png": ("astronaut", "public domain (NASA; 'No known copyright restrictions')"),
    "coffee.png": ("coffee", "CC0 (Rachel Michetti)"),
    "chelsea.png": ("chelsea", "CC0 (Stefan van der Walt)"),
    "rocket.jpg": ("rocket", "public domain (SpaceX)"),
    "hubble_deep_field.jpg": ("hubble_deep_field", "public domain (NASA)"),
    "camera.png": ("camera", "CC0 (Lav Varshney), greyscale"),
}
PHOTO_EXTENSIONS = {".jpg", ".jpeg", ".png", ".tif", ".tiff", ".webp", ".bmp"}


@dataclass
class Photo:
    name: str
    rgb: np.ndarray
    licence: str


def _skimage_data_dir() -> Path:
    import skimage

    return Path(skimage.__file__).parent / "data"


def skimage_photos(max_side: int = 1024) -> list[Photo]:
    """The permissively licensed photos shipped in scikit-image's data folder."""
    from training.data import load_rgb

    out = []
    d = _skimage_data_dir()
    for fname, (name, lic) in SKIMAGE_PHOTOS.items():
        f = d / fname
        if f.is_file():
            out.append(Photo(name, _limit(_rgb3(load_rgb(f)), max_side), lic))
    return out


def folder_photos(folder: str | os.PathLike[str], max_side: int = 1024, licence: str = "user-supplied") -> list[Photo]:
    from training.data import DataError, load_rgb

    d = Path(folder)
    if not d.is_dir():
        raise DataError(f"{d}: not a folder of photos")
    files = sorted(p for p in d.rglob("*") if p.suffix.lower() in PHOTO_EXTENSIONS)
    if not files:
        raise DataError(f"{d}: no photos ({', '.join(sorted(PHOTO_EXTENSIONS))})")
    return [Photo(p.stem, _limit(_rgb3(load_rgb(p)), max_side), licence) for p in files]


def _rgb3(a: np.ndarray) -> np.ndarray:
    if a.ndim == 2:
        a = np.repeat(a[..., None], 3, axis=2)
    return np.ascontiguousarray(a[..., :3])


def _limit(a: np.ndarray, max_side: int) -> np.ndarray:
    from engine.packs.runtime import resize

    s = max_side / max(a.shape[:2])
    if s >= 1:
        return a
    return resize(a, (max(1, round(a.shape[0] * s)), max(1, round(a.shape[1] * s))))


def random_view(photo: np.ndarray, size: tuple[int, int], rng: np.random.Generator, min_scale: float = 0.5) -> np.ndarray:
    """A random crop (aspect of ``size``, 50-100 % of the largest such crop), resized to ``size``."""
    from engine.packs.runtime import resize

    h, w = photo.shape[:2]
    th, tw = size
    full = min(h / th, w / tw)
    s = full * rng.uniform(min_scale, 1.0)
    ch, cw = max(8, int(th * s)), max(8, int(tw * s))
    y0 = int(rng.integers(0, h - ch + 1))
    x0 = int(rng.integers(0, w - cw + 1))
    crop = photo[y0 : y0 + ch, x0 : x0 + cw]
    if rng.random() < 0.5:
        crop = crop[:, ::-1]
    return resize(np.ascontiguousarray(crop), (th, tw))


class SyntheticRankGroups:
    """Map-style dataset: item i is a *group* of ``k`` versions of one random view of one photo,
    degraded at known strengths; targets are JOD-like (``-DEFECT_JOD[kind] * strength``, higher is
    better) and only compared within the group.

    Half the groups vary one defect kind (0 = clean, then increasing strengths: the RankIQA
    ranked pairs), half mix several kinds (so severities of different defects are comparable).
    Items are deterministic in (seed, epoch, i).  Face inputs (face_full, face_gate) get
    :func:`training.data.fallback_face_crop` of the view: no face detection in pretraining.
    """

    def __init__(
        self,
        photos: Sequence[Photo],
        specs: Sequence[PackInput],
        *,
        k: int = 4,
        length: int = 1000,
        work_size: tuple[int, int] | None = None,
        seed: int = 0,
        defects: Sequence[str] = DEFECTS,
    ) -> None:
        from training.data import DataError

        if not photos:
            raise DataError("no photos for synthetic pretraining")
        if k < 2:
            raise DataError("a ranked group needs at least 2 images (k >= 2)")
        bad = [d for d in defects if d not in DEFECTS]
        if bad:
            raise DataError(f"unknown defects {bad}; use {', '.join(DEFECTS)}")
        self.photos = list(photos)
        self.specs = list(specs)
        self.k = k
        self.length = length
        self.seed = seed
        self.epoch = 0
        self.defects = list(defects)
        base = max(max(s.size) for s in self.specs)
        # defects are applied at 1.5x the model input (mosaics then see finer detail than the global view)
        self.work_size = work_size or (int(base * 1.5), int(base * 1.5 * 0.75))

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return self.length

    def strengths(self, rng: np.random.Generator) -> list[dict[str, float]]:
        if rng.random() < 0.5:
            kind = self.defects[int(rng.integers(len(self.defects)))]
            levels = np.sort(rng.uniform(0.05, 1.0, self.k - 1))
            return [{}] + [{kind: float(s)} for s in levels]
        out: list[dict[str, float]] = []
        for _ in range(self.k):
            n = int(rng.integers(0, 3))
            kinds: list[str] = [str(d) for d in rng.choice(self.defects, size=n, replace=False)] if n else []
            out.append({str(d): float(rng.uniform(0.05, 1.0)) for d in kinds})
        return out

    def __getitem__(self, i: int) -> list[dict[str, Any]]:
        import torch

        from training.data import prepare_inputs, to_tensor

        rng = np.random.default_rng([self.seed, self.epoch, int(i)])
        photo = self.photos[int(rng.integers(len(self.photos)))]
        long, short = max(self.work_size), min(self.work_size)
        view = random_view(photo.rgb, (long, short) if rng.random() < 0.5 else (short, long), rng)
        items = []
        for strengths in self.strengths(rng):
            img = apply_defects(view, strengths, rng)
            arrays = prepare_inputs(img, self.specs, None)
            items.append(
                {
                    "inputs": {s.name: to_tensor(arrays[s.name], s) for s in self.specs},
                    "target": torch.tensor(-jod_penalty(strengths), dtype=torch.float32),
                    "group": torch.tensor(int(i), dtype=torch.long),
                    "scene_label": torch.tensor(-1, dtype=torch.long),
                    "index": torch.tensor(int(i), dtype=torch.long),
                }
            )
        return items


# ----------------------------------------------------------------------------- tiny PIQ23 layout

CONDITIONS = ("Indoor", "Outdoor", "Lowlight", "Night")
_SCORE_COLUMNS = [
    "IMAGE PATH", "JOD", "JOD STD", "CI LOW", "CI HIGH", "CI RANGE", "QUALITY LEVEL", "CLUSTER",
    "TOTAL COMPARISONS", "IMAGE", "SCENE", "ATTRIBUTE", "SCENE IDX", "CONDITION",
]


def make_tiny_piq23(
    out_dir: str | os.PathLike[str],
    sources: Sequence[np.ndarray],
    *,
    n_scenes: int = 8,
    per_scene: int = 8,
    size: tuple[int, int] = (120, 90),
    test_scenes: int = 2,
    seed: int = 0,
    jod_noise: float = 0.1,
    defects: Sequence[str] = DEFECTS,
) -> Path:
    """Write a small dataset in the exact PIQ23 layout under ``out_dir``.

    ``out_dir`` gets ``scores/``, ``splits/`` and ``image_metadata.csv`` (the metadata folder) and
    ``images/{Overall,Details,Exposure}/{n}_{Scene}.jpg`` (the images root).  Each scene is one
    view of one source picture; its images carry random defects of known strengths, and the JOD of
    each attribute is ``-jod_penalty(strengths, attribute)`` plus a little noise, so the true
    quality order within each scene is known (``defects`` restricts the kinds used).  The last ``test_scenes`` scenes form the scene
    split's Test part; every fourth image is in the device split's Test part.
    """
    out = Path(out_dir)
    rng = np.random.default_rng(seed)
    pyrng = random.Random(seed)
    rows: dict[str, list[dict[str, Any]]] = {a: [] for a in ATTRIBUTES}
    scene_rows = []
    device_rows = []
    meta_rows = []
    devices = ["PhoneA", "PhoneB", "PhoneC", "PhoneD"]
    n_img = 0
    for si in range(n_scenes):
        cond = CONDITIONS[si % len(CONDITIONS)]
        scene = f"{cond}_Scene_{si}"
        src = _rgb3(np.asarray(sources[si % len(sources)]))
        portrait = si % 2 == 0
        sz = size if portrait else (size[1], size[0])
        view = random_view(src, sz, rng, min_scale=0.6)
        split = "Test" if si >= n_scenes - test_scenes else "Train"
        scene_rows.append({"SCENE": scene, "SPLIT": split, "NB IMAGES": per_scene})
        for _ in range(per_scene):
            kinds = list(rng.choice(list(defects), size=min(len(defects), int(rng.integers(1, 3))), replace=False))
            strengths = {str(k): float(rng.uniform(0.0, 1.0)) for k in kinds}
            img = apply_defects(view, strengths, rng)
            name = f"{n_img}_{scene}.jpg"
            dev = devices[pyrng.randrange(len(devices))]
            for attr in ATTRIBUTES:
                d = out / "images" / attr
                d.mkdir(parents=True, exist_ok=True)
                _save_jpeg(d / name, img)
                jod = -jod_penalty(strengths, attr) + float(rng.normal(0, jod_noise))
                rows[attr].append(
                    {
                        "IMAGE PATH": f"{attr}\\{name}", "JOD": jod, "JOD STD": 0.4, "CI LOW": jod - 0.8,
                        "CI HIGH": jod + 0.8, "CI RANGE": 1.6, "QUALITY LEVEL": 0, "CLUSTER": -1.0,
                        "TOTAL COMPARISONS": 100.0, "IMAGE": name, "SCENE": scene, "ATTRIBUTE": attr,
                        "SCENE IDX": si, "CONDITION": cond,
                    }
                )
            device_rows.append({"IMAGE": name, "SPLIT": "Test" if n_img % 4 == 3 else "Train"})
            meta_rows.append({"Image": name, "Device": dev})
            n_img += 1
    _write_csv(out / "splits" / "scene_split.csv", ["SCENE", "SPLIT", "NB IMAGES"], scene_rows)
    _write_csv(out / "splits" / "device_split.csv", ["IMAGE", "SPLIT"], device_rows)
    _write_csv(out / "image_metadata.csv", ["Image", "Device"], meta_rows)
    scene_split = {r["SCENE"]: r["SPLIT"] for r in scene_rows}
    device_split = {r["IMAGE"]: r["SPLIT"] for r in device_rows}
    for attr in ATTRIBUTES:
        _write_csv(out / "scores" / f"Scores_{attr}.csv", _SCORE_COLUMNS, rows[attr])
        for split, table, key, prefix in (
            ("scene", scene_split, "SCENE", "SceneSplit"),
            ("device", device_split, "IMAGE", "DeviceSplit"),
        ):
            for part in ("Train", "Test"):
                sel = [{**r, "SPLIT": part} for r in rows[attr] if table[r[key]] == part]
                _write_csv(
                    out / "splits" / split / f"{prefix}_{part}_Scores_{attr}.csv", [*_SCORE_COLUMNS, "SPLIT"], sel
                )
    return out


def _save_jpeg(path: Path, rgb: np.ndarray) -> None:
    from PIL import Image

    Image.fromarray(rgb).save(path, "JPEG", quality=95)


def _write_csv(path: Path, columns: list[str], rows: list[dict[str, Any]]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=columns)
        w.writeheader()
        for r in rows:
            w.writerow(r)


def tiny_sources(shared_examples: str | os.PathLike[str] | None = None, max_side: int = 480) -> list[np.ndarray]:
    """Source pictures for the tiny dataset: the PIQ23 example portraits when given and present
    (non-commercial: only for local tests, never written into the repo), else scikit-image photos."""
    from training.data import load_rgb

    if shared_examples is not None:
        d = Path(shared_examples)
        files = sorted(p for p in d.glob("*") if p.suffix.lower() in PHOTO_EXTENSIONS) if d.is_dir() else []
        if files:
            return [_limit(load_rgb(p), max_side) for p in files]
    return [p.rgb for p in skimage_photos(max_side)]


__all__ = [
    "DEFECT_JOD",
    "Photo",
    "SyntheticRankGroups",
    "apply_defect",
    "folder_photos",
    "make_tiny_piq23",
    "random_view",
    "skimage_photos",
    "tiny_sources",
]
