"""XMP sidecars beside a file: ``STEM.xmp`` (Lightroom, Camera Raw, Capture One) and
``STEM.EXT.xmp`` (darktable).  An existing sidecar is merged (only rating and label change)
after its previous content is kept as ``NAME.culler-bak`` (``-2``, ``-3``... when an older
backup with different content is already there)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from engine.export.xmp import XmpError, merge_xmp, new_xmp, read_rating_label
from engine.safeio import SafeIOError, read_bytes, write_bytes_atomic

SIDECAR_STYLES = ("lightroom", "darktable", "both")
BACKUP_SUFFIX = ".culler-bak"


def sidecar_names(file: Path, style: str = "lightroom") -> list[Path]:
    lightroom = file.with_suffix(".xmp")
    darktable = file.with_name(file.name + ".xmp")
    if style == "lightroom":
        return [lightroom]
    if style == "darktable":
        return [darktable]
    return [lightroom, darktable]


def existing_sidecar(target: Path) -> Path | None:
    """``target`` or a sibling that differs only in case (``IMG_1.XMP``), when one exists."""
    if os.path.lexists(target):
        return target
    try:
        names = os.listdir(target.parent)
    except OSError:
        return None
    want = target.name.lower()
    for n in sorted(names):
        if n.lower() == want:
            return target.parent / n
    return None


def existing_sidecars(file: Path) -> list[Path]:
    """Every sidecar that already exists for ``file`` (both naming styles)."""
    out = []
    for name in sidecar_names(file, "both"):
        found = existing_sidecar(name)
        if found is not None and found not in out:
            out.append(found)
    return out


@dataclass
class SidecarResult:
    path: Path
    changed: bool
    backup: Path | None = None


def _backup(path: Path, data: bytes) -> Path:
    n = 1
    while True:
        candidate = path.with_name(path.name + BACKUP_SUFFIX + ("" if n == 1 else f"-{n}"))
        if not os.path.lexists(candidate):
            write_bytes_atomic(candidate, data, replace=False)
            return candidate
        try:
            if candidate.is_file() and read_bytes(candidate) == data:
                return candidate
        except SafeIOError:
            pass
        n += 1
        if n > 999:
            raise SafeIOError(f"too many backups of {path}; nothing was changed", path=path)


def write_sidecar(
    target: Path, rating: int, label: str | None, *, template: bytes | None = None, backup: bool = True
) -> SidecarResult:
    """Create or merge the sidecar ``target``.

    ``template``: the content of another sidecar to start from when ``target`` does not exist
    (a copied sidecar keeps everything the original held).  Raises :class:`XmpError` for an
    unusable existing sidecar and :class:`SafeIOError` for a failed write; either way nothing
    has been changed.
    """
    found = existing_sidecar(target)
    if found is not None:
        if found.is_symlink() or not found.is_file():
            raise SafeIOError(f"{found} is not a regular file; left untouched", path=found)
        data = read_bytes(found)
        if read_rating_label(data, str(found)) == (rating, label):
            return SidecarResult(found, False)
        new = merge_xmp(data, rating, label, str(found))
        if new == data:  # pragma: no cover - the check above catches it
            return SidecarResult(found, False)
        saved = _backup(found, data) if backup else None
        write_bytes_atomic(found, new, replace=True, mode=found.stat().st_mode & 0o7777)
        return SidecarResult(found, True, saved)
    if template is not None:
        new = merge_xmp(template, rating, label, "the original sidecar")
    else:
        new = new_xmp(rating, label)
    write_bytes_atomic(target, new, replace=False)
    return SidecarResult(target, True)


__all__ = [
    "BACKUP_SUFFIX",
    "SIDECAR_STYLES",
    "SidecarResult",
    "XmpError",
    "existing_sidecar",
    "existing_sidecars",
    "sidecar_names",
    "write_sidecar",
]
