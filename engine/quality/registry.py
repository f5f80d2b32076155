"""A registry of quality members, in the spirit of timm's model registry.

``create_member("face_sharpness")`` builds a member by name; third-party or
deep members register a factory with ``register_member``.  Deep members from
model packs are registered by :mod:`engine.models` as ``pack:<name>``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from engine.quality.base import QualityMember

_FACTORIES: dict[str, Callable[..., QualityMember]] = {}
_DEFAULTS: list[str] = []
_loaded = False


def register_member(name: str, factory: Callable[..., QualityMember], *, default: bool = False) -> None:
    """Register ``factory`` under ``name``; ``default`` members run when none are chosen."""
    _FACTORIES[name] = factory
    if default and name not in _DEFAULTS:
        _DEFAULTS.append(name)


def _ensure_loaded() -> None:
    global _loaded
    if _loaded:
        return
    _loaded = True
    from engine.quality import technical  # noqa: F401  (registers the technical members)

    try:
        from engine.models import members as _pack_members  # registers installed model packs
    except ImportError:  # pragma: no cover - model packs are optional
        return
    _pack_members.register_installed_packs()


def available_members() -> list[str]:
    _ensure_loaded()
    return sorted(_FACTORIES)


def default_member_names() -> list[str]:
    _ensure_loaded()
    return list(_DEFAULTS)


def create_member(name: str, **kwargs: Any) -> QualityMember:
    _ensure_loaded()
    try:
        factory = _FACTORIES[name]
    except KeyError:
        known = ", ".join(sorted(_FACTORIES))
        raise ValueError(f"unknown quality member {name!r}; known members: {known}") from None
    return factory(**kwargs)
