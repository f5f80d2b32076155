"""Fixtures of the model-pack tests: an isolated search path and registry."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture
def search_dirs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, Path]:
    """Point every search-path folder at tmp_path (no user or shipped packs)."""
    import engine.packs.search as search

    dirs = {k: tmp_path / k for k in ("env", "user", "builtin")}
    for d in dirs.values():
        d.mkdir()
    monkeypatch.setenv(search.ENV_PATH, str(dirs["env"]))
    monkeypatch.setenv(search.ENV_USER_DIR, str(dirs["user"]))
    monkeypatch.setattr(search, "builtin_models_dir", lambda: dirs["builtin"])
    monkeypatch.setenv("_CULLER_PACK_WARNINGS_SHOWN", "")  # restored after the test
    monkeypatch.delenv("CULLER_ALLOW_NONCOMMERCIAL", raising=False)
    return dirs


@pytest.fixture
def clean_registry(monkeypatch: pytest.MonkeyPatch):
    """The member registry, restored after the test."""
    from engine.quality import registry

    registry._ensure_loaded()
    monkeypatch.setattr(registry, "_FACTORIES", dict(registry._FACTORIES))
    monkeypatch.setattr(registry, "_DEFAULTS", list(registry._DEFAULTS))
    return registry
