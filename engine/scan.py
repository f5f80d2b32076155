"""Finding the shots of a folder.

A *shot* is one exposure: a RAW+JPEG pair with the same stem in the same
folder is one shot (the JPEG is decoded, the RAW travels with it).  Folders
are walked without following symlink loops; unreadable folders and broken
links are reported, never fatal.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass, field
from pathlib import Path

from engine.images import RAW_EXTENSIONS, SUPPORTED_EXTENSIONS


@dataclass
class ShotFiles:
    key: str  # relative path of the primary file, '/' separators
    primary: Path  # the file that is decoded
    raw: Path | None = None  # the RAW of a RAW+JPEG pair
    companions: list[Path] = field(default_factory=list)  # every other file of the shot

    @property
    def files(self) -> list[Path]:
        return [self.primary, *self.companions]


@dataclass
class ScanResult:
    root: Path
    shots: list[ShotFiles]
    skipped: list[tuple[str, str]]  # (relative path, reason)


def rel_key(root: Path, path: Path) -> str:
    return path.relative_to(root).as_posix()


def scan_folder(root: str | os.PathLike[str], recursive: bool = False) -> ScanResult:
    """List the shots under ``root`` (sorted by key, deterministic)."""
    root = Path(root)
    skipped: list[tuple[str, str]] = []
    found: list[Path] = []
    seen_dirs: set[tuple[int, int]] = set()

    def walk(d: Path) -> None:
        try:
            st = d.stat()
        except OSError as exc:
            skipped.append((rel_key(root, d) or ".", f"cannot read folder: {exc.strerror}"))
            return
        ident = (st.st_dev, st.st_ino)
        if ident in seen_dirs:
            skipped.append((rel_key(root, d), "symlink loop (folder already visited)"))
            return
        seen_dirs.add(ident)
        try:
            entries = sorted(os.scandir(d), key=lambda e: e.name)
        except OSError as exc:
            skipped.append((rel_key(root, d) or ".", f"cannot read folder: {exc.strerror}"))
            return
        subdirs = []
        for e in entries:
            if e.name.startswith("."):
                continue
            p = Path(e.path)
            try:
                is_dir = e.is_dir()
                is_file = e.is_file()
            except OSError as exc:
                skipped.append((rel_key(root, p), f"cannot read: {exc.strerror}"))
                continue
            if is_dir:
                if recursive:
                    subdirs.append(p)
                continue
            if p.suffix.lower() not in SUPPORTED_EXTENSIONS:
                continue
            if not is_file:
                reason = "broken symlink" if e.is_symlink() else "not a regular file"
                skipped.append((rel_key(root, p), reason))
                continue
            found.append(p)
        for s in subdirs:
            walk(s)

    walk(root)
    return ScanResult(root, pair_shots(root, found), skipped)


def pair_shots(root: Path, files: list[Path]) -> list[ShotFiles]:
    """Merge RAW+JPEG (or RAW+HEIC...) pairs with the same stem in one folder into one shot."""
    by_stem: dict[tuple[Path, str], list[Path]] = {}
    for f in files:
        by_stem.setdefault((f.parent, f.stem.lower()), []).append(f)
    shots: list[ShotFiles] = []
    for group in by_stem.values():
        group.sort(key=lambda p: p.name)
        raws = [p for p in group if p.suffix.lower() in RAW_EXTENSIONS]
        others = [p for p in group if p.suffix.lower() not in RAW_EXTENSIONS]
        if raws and others:
            # The rendered file is decoded; the RAW (and any further renders) travel with it.
            primary, raw = others[0], raws[0]
            shots.append(ShotFiles(rel_key(root, primary), primary, raw, [raw, *others[1:]]))
            shots.extend(ShotFiles(rel_key(root, r), r, r) for r in raws[1:])
        else:
            shots.extend(ShotFiles(rel_key(root, p), p, p if p in raws else None) for p in group)
    shots.sort(key=lambda s: s.key)
    return shots


def file_hash(path: Path, chunk: int = 1 << 20) -> str:
    """Content hash (BLAKE2b-128) of a file."""
    h = hashlib.blake2b(digest_size=16)
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()
