"""PIQ23 loader (real CSVs in ../shared and the tiny generated dataset), sampler, face crops,
prepared-input cache, defects and synthetic ranked groups."""

from __future__ import annotations

import csv
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from training import piq23
from training.defects import DEFECTS, apply_defect, jod_penalty

torch = pytest.importorskip("torch", reason="torch is not installed (training extra)")

from training.architectures import model_config, tiny_overrides  # noqa: E402
from training.data import (  # noqa: E402
    DataError,
    FaceCropper,
    Piq23Dataset,
    SceneBatchSampler,
    collate,
    fallback_face_crop,
)


def test_real_piq23_files(piq23_shared: Path) -> None:
    rows = piq23.read_scores(piq23.find_score_file(piq23_shared, "Overall"))
    assert len(rows) == 5116
    r = rows[0]
    assert r.image_path == "Overall/66_Indoor_Scene_0.jpg" and r.image == "66_Indoor_Scene_0.jpg"
    assert r.scene == "Indoor_Scene_0" and r.attribute == "Overall" and r.condition == "Indoor"
    assert r.file_in("/data/piq23") == Path("/data/piq23/Overall/66_Indoor_Scene_0.jpg")
    scene_table = piq23.scene_split_table(piq23_shared)
    for part, n_img, n_scenes in (("Train", 3630, 35), ("Test", 1486, 15)):
        split = piq23.load_split(piq23_shared, "scene", part, "Overall")
        assert len(split) == n_img and len({s.scene for s in split}) == n_scenes
        assert all(scene_table[s.scene] == part for s in split)
    dev_table = piq23.device_split_table(piq23_shared)
    for part in ("Train", "Test"):
        split = piq23.load_split(piq23_shared, "device", part, "Overall")
        assert split and all(dev_table[s.image] == part for s in split)
    for attr in ("Details", "Exposure"):
        rows_a = piq23.load_split(piq23_shared, "scene", "Test", attr)
        assert rows_a[0].image_path.startswith(f"{attr}/") and rows_a[0].attribute == attr
    with pytest.raises(piq23.Piq23Error, match="unknown split"):
        piq23.split_file(piq23_shared, "camera", "Train")


def test_real_piq23_in_the_download_layout(shared_download_tree: Path) -> None:
    """The DXOMARK download's layout: Scores_*.csv at the top (and in Scores/), the splits under
    'Test split/Scene Split/' and 'Test split/Device Split/', found by their upstream names."""
    d = shared_download_tree
    assert not (d / "splits").exists() and not (d / "scores").exists()
    assert piq23.find_score_file(d, "Exposure") == d / "Scores" / "Scores_Exposure.csv"
    f = piq23.split_file(d, "scene", "Test", "Overall")
    assert f == d / "Test split" / "Scene Split" / "SceneSplit_Test_Scores_Overall.csv"
    test = piq23.load_split(d, "scene", "Test", "Overall")
    assert len(test) == 1486 and len({r.scene for r in test}) == 15
    assert len(piq23.load_split(d, "scene", "Train", "Details")) == 3630
    dev = piq23.load_split(d, "device", "Train", "Exposure")
    table = piq23.device_split_table(d)
    assert dev and all(table[r.image] == "Train" for r in dev)
    assert sum(v == "Test" for v in piq23.scene_split_table(d).values()) == 15
    with pytest.raises(piq23.Piq23Error, match="no Overall/, Details/ or Exposure/ image folder"):
        piq23.images_root(d, None)  # ../shared has no scored images
    (d / "Overall").mkdir()
    assert piq23.images_root(d, None) == d and piq23.images_root(d, "/elsewhere") == Path("/elsewhere")
    (d / "Overall").rmdir()


def test_split_files_found_by_upstream_name_anywhere_below(piq23_shared: Path, tmp_path: Path) -> None:
    """An unpacked archive with an extra top folder still works: files are found by name."""
    import shutil

    deep = tmp_path / "PIQ23-main" / "Test split" / "Scene Split"
    deep.mkdir(parents=True)
    shutil.copy(piq23_shared / "splits" / "scene" / "SceneSplit_Train_Scores_Overall.csv", deep)
    assert len(piq23.load_split(tmp_path, "scene", "Train", "Overall")) == 3630
    with pytest.raises(piq23.Piq23Error, match="no such split file SceneSplit_Test_Scores_Overall.csv"):
        piq23.split_file(tmp_path, "scene", "Test", "Overall")


def test_real_piq23_missing_images_message(piq23_shared: Path, tmp_path: Path) -> None:
    rows = piq23.load_split(piq23_shared, "scene", "Test", "Overall")
    spec = model_config("hyperiqa").inputs()
    with pytest.raises(DataError, match=r"1486 of 1486 images are missing .*Overall/"):
        Piq23Dataset(rows, tmp_path, spec)


def test_tiny_dataset_layout(tiny_piq23: Path) -> None:
    shared = Path(__file__).resolve().parents[2].parent / "shared/data/piq23"
    def header(p: Path) -> list[str]:
        with open(p, newline="") as f:
            return next(csv.reader(f))

    if (shared / "scores" / "Scores_Overall.csv").is_file():
        assert header(tiny_piq23 / "scores" / "Scores_Overall.csv") == header(shared / "scores" / "Scores_Overall.csv")
        split = "splits/scene/SceneSplit_Test_Scores_Overall.csv"
        assert header(tiny_piq23 / split) == header(shared / split)
    tr = piq23.load_split(tiny_piq23, "scene", "Train", "Details")
    te = piq23.load_split(tiny_piq23, "scene", "Test", "Details")
    assert len(tr) == 48 and len(te) == 16 and not {r.scene for r in tr} & {r.scene for r in te}
    assert all(r.file_in(tiny_piq23 / "images").is_file() for r in tr + te)
    assert all(r.image_path.startswith("Details/") for r in tr)
    dev = piq23.load_split(tiny_piq23, "device", "Test", "Overall")
    assert len(dev) == 16


def test_dataset_items_cache_and_faces(tiny_piq23: Path, tmp_path: Path) -> None:
    rows = piq23.load_split(tiny_piq23, "scene", "Train", "Overall")[:6]
    for arch in ("global_local", "face_full"):
        cfg = model_config(arch, **tiny_overrides(arch))
        cache = tmp_path / arch
        ds = Piq23Dataset(rows, tiny_piq23 / "images", cfg.inputs(), cache_dir=cache, scene_vocab=["Indoor_Scene_0"])
        item = ds[0]
        for spec in cfg.inputs():
            assert item["inputs"][spec.name].shape == (3, *spec.size)
            assert item["inputs"][spec.name].dtype == torch.float32
        assert float(item["target"]) == pytest.approx(rows[0].jod)
        assert int(item["scene_label"]) == (0 if rows[0].scene == "Indoor_Scene_0" else -1)
        assert len(list(cache.glob("*.npz"))) == 1
        again = ds[0]  # served from the cache, identical
        for k in item["inputs"]:
            assert torch.equal(item["inputs"][k], again["inputs"][k])
        batch = collate([ds[i] for i in range(3)])
        assert batch["inputs"][cfg.inputs()[0].name].shape[0] == 3 and batch["group"].shape == (3,)
        if arch == "face_full":
            f = ds.faces
            assert f.n_detected + f.n_fallback == 3  # items 0, 1, 2 prepared once each


def test_fallback_face_crop_geometry() -> None:
    img = np.zeros((400, 300, 3), np.uint8)
    img[100:200, 100:200] = 255
    crop = fallback_face_crop(img)
    assert crop.shape == (135, 135, 3)
    assert FaceCropper(use_detector=False)(img).shape == (135, 135, 3)


def test_face_cropper_uses_the_engine_detector() -> None:
    from skimage import data as skdata

    cropper = FaceCropper()
    if cropper.detector is None:
        pytest.skip(cropper.reason)
    crop = cropper(skdata.astronaut())
    assert cropper.n_detected == 1 and crop.shape == (224, 224, 3)


def test_scene_batch_sampler() -> None:
    groups = [0] * 10 + [1] * 3 + [2] * 8 + [3] * 6
    s = SceneBatchSampler(groups, scenes_per_batch=2, images_per_scene=4, seed=1)
    batches = list(s)
    assert len(batches) == len(groups) // 8 == len(s)
    scene_count: Counter[int] = Counter()
    for b in batches:
        assert len(b) == 8
        per = Counter(groups[i] for i in b)
        assert len(per) == 2 and set(per.values()) == {4}
        scene_count.update(per.keys())
        for sc in per:  # without replacement within a scene that has >= K images
            idx = [i for i in b if groups[i] == sc]
            if groups.count(sc) >= 4:
                assert len(set(idx)) == 4
    assert max(scene_count.values()) - min(scene_count.values()) <= 1  # balanced over scenes
    assert list(SceneBatchSampler(groups, 2, 4, seed=1)) == batches  # deterministic
    s.set_epoch(1)
    assert list(s) != batches
    r0 = list(SceneBatchSampler(groups, 2, 4, seed=1, rank=0, world_size=2, batches_per_epoch=4))
    r1 = list(SceneBatchSampler(groups, 2, 4, seed=1, rank=1, world_size=2, batches_per_epoch=4))
    assert len(r0) == len(r1) == 2 and r0 != r1


def test_defects_are_monotonic() -> None:
    import cv2
    from skimage import data as skdata

    img = np.ascontiguousarray(skdata.astronaut()[::4, ::4])
    rng = np.random.default_rng(0)
    for kind in DEFECTS:
        assert np.array_equal(apply_defect(img, kind, 0.0, rng), img) or kind == "jpeg"
    sharp = [cv2.Laplacian(cv2.cvtColor(apply_defect(img, "defocus", s), cv2.COLOR_RGB2GRAY), cv2.CV_64F).var() for s in (0, 0.3, 0.6, 1)]
    assert sharp == sorted(sharp, reverse=True)
    means = [apply_defect(img, "underexpose", s).mean() for s in (0, 0.5, 1)]
    assert means == sorted(means, reverse=True)
    means = [apply_defect(img, "overexpose", s).mean() for s in (0, 0.5, 1)]
    assert means == sorted(means)
    err = [np.abs(apply_defect(img, "noise", s, np.random.default_rng(1)).astype(float) - img).mean() for s in (0.2, 0.6, 1)]
    assert err == sorted(err)
    err = [np.abs(apply_defect(img, "jpeg", s).astype(float) - img).mean() for s in (0.1, 0.6, 1)]
    assert err == sorted(err)
    assert jod_penalty({"defocus": 0.5, "underexpose": 1.0}, "Details") == pytest.approx(2.0)
    assert jod_penalty({"defocus": 0.5, "underexpose": 1.0}, "Overall") == pytest.approx(5.0)
    with pytest.raises(ValueError):
        apply_defect(img, "defocus", 1.5)


def test_synthetic_ranked_groups() -> None:
    from training.synthetic import SKIMAGE_PHOTOS, SyntheticRankGroups, skimage_photos

    photos = skimage_photos(max_side=256)
    assert {p.name for p in photos} <= {v[0] for v in SKIMAGE_PHOTOS.values()} and len(photos) >= 4
    cfg = model_config("global_local", **tiny_overrides("global_local"))
    ds = SyntheticRankGroups(photos, cfg.inputs(), k=4, length=6, seed=0)
    single = 0
    for i in range(len(ds)):
        items = ds[i]
        assert len(items) == 4 and {int(it["group"]) for it in items} == {i}
        t = [float(it["target"]) for it in items]
        assert all(v <= 0 for v in t)
        if t[0] == 0 and t[1:] == sorted(t[1:], reverse=True) and t[1] < 0:
            single += 1
        assert items[0]["inputs"]["mosaic"].shape == (3, 64, 64)
    assert single >= 1
    again = ds[2]  # deterministic in (seed, epoch, i)
    assert torch.equal(again[1]["inputs"]["image"], ds[2][1]["inputs"]["image"])
    batch = collate([ds[0], ds[1]])
    assert batch["inputs"]["image"].shape == (8, 3, 64, 64)


def test_random_crops_and_mosaics_come_from_the_picture() -> None:
    from training.architectures import model_config
    from training.data import prepare_inputs, random_mosaics

    rng = np.random.default_rng(0)
    img = rng.integers(0, 255, (90, 120, 3), dtype=np.uint8)
    mos = random_mosaics(img, (32, 32), 4, 3, np.random.default_rng(1))
    assert mos.shape == (3, 32, 32, 3)

    def found(patch: np.ndarray) -> bool:
        h, w = patch.shape[:2]
        return any(np.array_equal(img[y : y + h, x : x + w], patch) for y in range(91 - h) for x in range(121 - w))

    assert all(found(mos[k, i * 8 : (i + 1) * 8, j * 8 : (j + 1) * 8]) for k in range(3) for i in range(4) for j in range(4))
    assert not np.array_equal(mos[0], mos[1])
    # global_local with RQ-Net options: random mosaics for training (and random crops of the view
    # whose test-time crops are grid5); a "full" view stays the resized frame
    spec = model_config("global_local", input_size=(32, 32), train_crops=2, image_crops="grid5").inputs()
    a = prepare_inputs(img, spec, train_crops=2, rng=np.random.default_rng(2))
    assert a["mosaic"].shape == (2, 32, 32, 3) and a["image"].shape == (2, 32, 32, 3)
    full = model_config("global_local", input_size=(32, 32), train_crops=2).inputs()
    assert prepare_inputs(img, full, train_crops=2)["image"].shape == (32, 32, 3)
    b = prepare_inputs(img, spec)  # evaluation: the runtime's crops
    assert b["mosaic"].shape == (32, 32, 3) and b["image"].shape == (5, 32, 32, 3)
