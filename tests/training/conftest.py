"""Fixtures of the training tests: the real PIQ23 files in ../shared (skipped when absent) and a
tiny generated dataset in the PIQ23 layout."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

SHARED_PIQ23 = Path(__file__).resolve().parents[2].parent / "shared/data/piq23"


@pytest.fixture(scope="session")
def piq23_shared() -> Path:
    if not (SHARED_PIQ23 / "scores" / "Scores_Overall.csv").is_file():
        pytest.skip(f"PIQ23 files not present at {SHARED_PIQ23} (../shared is for development and CI only)")
    return SHARED_PIQ23


@pytest.fixture(scope="session", autouse=True)
def _torch_threads() -> None:
    # One thread: on a busy 2-core machine two OpenMP threads make backward passes several times slower.
    try:
        import torch
    except ImportError:
        return
    torch.set_num_threads(int(os.environ.get("CULLER_TEST_TORCH_THREADS", "1")))


@pytest.fixture(scope="session")
def tiny_piq23(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """8 scenes x 8 images (96x72), exposure / noise / JPEG / blur defects of known strength; the
    last 2 scenes are the scene split's Test part.  Sources: the PIQ23 example portraits when
    ../shared is present (kept in a temporary folder only), else scikit-image photos."""
    pytest.importorskip("cv2")
    from training.synthetic import make_tiny_piq23, tiny_sources

    out = tmp_path_factory.mktemp("tiny_piq23")
    examples = SHARED_PIQ23 / "examples"
    return make_tiny_piq23(
        out,
        tiny_sources(examples if examples.is_dir() else None, max_side=320),
        n_scenes=8,
        per_scene=8,
        size=(96, 72),
        test_scenes=2,
        seed=3,
        defects=("underexpose", "overexpose", "noise", "jpeg"),
    )


def build_download_tree(meta: Path, images: Path | None, dest: Path) -> Path:
    """A tree laid out exactly like the DXOMARK download plus the PIQ2023 repository's files:
    ``Scores_*.csv`` at the top and in ``Scores/``, ``Test split/{Scene,Device} Split.csv``,
    ``Test split/{Scene,Device} Split/*Split_{Train,Test}_Scores_*.csv``,
    ``Metadata/Image Metadata.csv`` and the images in ``{Overall,Details,Exposure}/``, copied from
    a folder in the compact layout (``scores/``, ``splits/``)."""
    import shutil

    dest.mkdir(parents=True, exist_ok=True)
    for attr in ("Overall", "Details", "Exposure"):
        src = meta / "scores" / f"Scores_{attr}.csv"
        shutil.copy(src, dest / src.name)
        (dest / "Scores").mkdir(exist_ok=True)
        shutil.copy(src, dest / "Scores" / src.name)
        if images is not None and (images / attr).is_dir():
            shutil.copytree(images / attr, dest / attr)
    for split, name in (("scene", "Scene"), ("device", "Device")):
        (dest / "Test split" / f"{name} Split").mkdir(parents=True, exist_ok=True)
        shutil.copy(meta / "splits" / f"{split}_split.csv", dest / "Test split" / f"{name} Split.csv")
        for f in sorted((meta / "splits" / split).glob("*.csv")):
            shutil.copy(f, dest / "Test split" / f"{name} Split" / f.name)
    (dest / "Metadata").mkdir(exist_ok=True)
    shutil.copy(meta / "image_metadata.csv", dest / "Metadata" / "Image Metadata.csv")
    return dest


@pytest.fixture(scope="session")
def shared_download_tree(piq23_shared: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """../shared's PIQ23 files laid out like the download (no images: ../shared has none with a JOD)."""
    return build_download_tree(piq23_shared, None, tmp_path_factory.mktemp("piq23_download"))


@pytest.fixture(scope="session")
def tiny_download_tree(tiny_piq23: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tiny dataset laid out like the download (images at the top, split files in 'Test split/')."""
    return build_download_tree(tiny_piq23, tiny_piq23 / "images", tmp_path_factory.mktemp("tiny_download"))
