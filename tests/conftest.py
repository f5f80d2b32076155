"""Shared fixtures: the read-only PIQ23 material beside the checkout (../shared), when present."""

from __future__ import annotations

from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED_PIQ23 = REPO.parent / "shared" / "data" / "piq23"


@pytest.fixture(autouse=True, scope="session")
def _no_user_taste_profile(tmp_path_factory: pytest.TempPathFactory) -> None:
    """A taste profile learned by the developer (``culler taste learn``) must not change the
    rankings tests expect: every test sees an empty taste folder unless it sets its own."""
    import os

    os.environ["CULLER_TASTE_DIR"] = str(tmp_path_factory.mktemp("taste"))


@pytest.fixture(scope="session")
def piq23_dir() -> Path:
    if not SHARED_PIQ23.is_dir():
        pytest.skip(f"PIQ23 files not found at {SHARED_PIQ23} (../shared is only beside developer and CI checkouts)")
    return SHARED_PIQ23


@pytest.fixture(scope="session")
def piq23_examples(piq23_dir: Path) -> list[Path]:
    ex = sorted(p for p in (piq23_dir / "examples").iterdir() if p.suffix.lower() == ".jpg")
    if not ex:
        pytest.skip("no example portraits in ../shared/data/piq23/examples")
    return ex
