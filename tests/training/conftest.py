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
