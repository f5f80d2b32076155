"""A registry of quality members, in the spirit of timm's model registry.

``create_member("face_sharpness")`` builds a member by name; third-party or
deep members register a factory with ``register_member``.  Deep members from
model packs are registered by :mod:`engine.packs` as ``pack:<name>``.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from engine.quality.base import MemberSpec, QualityMember

_FACTORIES: dict[str, Callable[..., QualityMember]] = {}
_DEFAULTS: list[str] = []
_loaded = False
_loading = False
_load_lock = threading.RLock()


def register_member(name: str, factory: Callable[..., QualityMember], *, default: bool = False) -> None:
    """Register ``factory`` under ``name``; ``default`` members run when none are chosen."""
    _FACTORIES[name] = factory
    if default and name not in _DEFAULTS:
        _DEFAULTS.append(name)


def _ensure_loaded() -> None:
    """Register the built-in members and the installed packs, once.  Thread-safe: the GUI
    loads the registry in a background thread, and a caller in another thread waits for it
    rather than seeing half of it; a call from inside the loading itself returns at once."""
    global _loaded, _loading
    if _loaded:
        return
    with _load_lock:
        if _loaded or _loading:
            return
        _loading = True
        try:
            from engine.quality import technical  # noqa: F401  (registers the technical members)

            try:  # the installed model packs
                from engine.packs import members as _pack_members
            except ImportError:  # pragma: no cover - model packs are optional
                return
            _pack_members.register_installed_packs()
        finally:
            _loaded, _loading = True, False


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


def member_specs(names: list[str], **kwargs: Any) -> dict[str, MemberSpec]:
    """The :class:`MemberSpec` of each named member (members are cheap to build: packs
    open their model on first use)."""
    return {n: create_member(n, **kwargs).spec() for n in names}
