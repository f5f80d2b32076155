"""Shared fixtures: the read-only PIQ23 material beside the checkout (../shared), when present."""

from __future__ import annotations

from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED_PIQ23 = REPO.parent / "shared" / "data" / "piq23"


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
