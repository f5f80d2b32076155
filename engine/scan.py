"""Finding the shots of a folder.

A *shot* is one exposure: a RAW+JPEG pair with the same stem in the same
folder is one shot (the JPEG is decoded, the RAW travels with it).  Folders
are walked without following symlink loops; unreadable folders and broken
links are reported, never fatal.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from engine.images import RAW_EXTENSIONS, SUPPORTED_EXTENSIONS, UNSUPPORTED_EXTENSIONS


@dataclass
class ShotFiles:
    key: str  # relative path of the primary file, '/' separators, as ``path_key`` stores it
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


# -- file names that are not valid UTF-8 ------------------------------------------------------
# os.scandir hands out such names (``caf\xe9.jpg`` from a FAT card or a Latin-1 copy) with the
# odd bytes as lone surrogates (PEP 383), which SQLite cannot store.  The catalog key maps each
# lone surrogate U+D800..U+DFFF to U+F0000 + (code - 0xD800) in Supplementary Private Use
# Area-A: valid text, identity for every ordinary name, and reversible.  A genuine name that
# already uses U+F0000..U+F07FF (none is known in the wild) would be ambiguous, so the scan
# skips it with a reason instead of guessing.
_SUR_LO, _SUR_HI, _ESC = 0xD800, 0xDFFF, 0xF0000
_ESC_HI = _ESC + (_SUR_HI - _SUR_LO)


def path_key(rel: str) -> str:
    """Catalog text for a relative path as the OS gave it (lossless, see above)."""
    if rel.isascii():
        return rel
    return "".join(chr(_ESC + o - _SUR_LO) if _SUR_LO <= (o := ord(c)) <= _SUR_HI else c for c in rel)


def key_path(key: str) -> str:
    """The relative path (OS string, surrogate-escaped where needed) of a catalog key."""
    if key.isascii():
        return key
    return "".join(chr(_SUR_LO + o - _ESC) if _ESC <= (o := ord(c)) <= _ESC_HI else c for c in key)


def display_key(key: str) -> str:
    """A readable form of a key: the bytes that are not UTF-8 shown as ``\\xe9``."""
    if key.isascii():
        return key
    out = []
    for c in key:
        o = ord(c)
        if _ESC <= o <= _ESC_HI:
            s = _SUR_LO + o - _ESC
            out.append(f"\\x{s - 0xDC00:02x}" if 0xDC80 <= s <= 0xDCFF else f"\\u{s:04x}")
        else:
            out.append(c)
    return "".join(out)


def _reserved(name: str) -> bool:
    return not name.isascii() and any(_ESC <= ord(c) <= _ESC_HI for c in name)


def _ext(name: str) -> str:
    """Lower-case suffix the way ``Path.suffix`` sees it ('.JPG' -> '.jpg', '.x' -> '')."""
    i = name.rfind(".")
    return name[i:].lower() if 0 < i < len(name) - 1 else ""


def scan_folder(root: str | os.PathLike[str], recursive: bool = False,
                pace: Callable[[], None] | None = None) -> ScanResult:
    """List the shots under ``root`` (sorted by key, deterministic).

    Works on strings from ``os.scandir`` (``Path`` objects are made once per shot): the GUI
    lists a 2,000-file folder in a worker thread and pathlib's per-file cost there competes
    with the GUI thread for the GIL.  ``pace`` is called once per directory entry and per
    shot (the GUI passes one that lets its thread run; see ``app.pacing``)."""
    tick = pace or _no_pace
    root = Path(root)
    skipped: list[tuple[str, str]] = []
    found: list[tuple[str, str]] = []  # (key prefix of the folder, file name)
    seen_dirs: set[tuple[int, int]] = set()
    sep = os.sep

    def walk(d: str, prefix: str) -> None:
        here = prefix.rstrip("/") or "."
        try:
            st = os.stat(d)
        except OSError as exc:
            skipped.append((path_key(here), f"cannot read folder: {exc.strerror}"))
            return
        ident = (st.st_dev, st.st_ino)
        if ident in seen_dirs:
            skipped.append((path_key(here), "symlink loop (folder already visited)"))
            return
        seen_dirs.add(ident)
        try:
            with os.scandir(d) as it:
                entries = sorted(it, key=lambda e: e.name)
        except OSError as exc:
            skipped.append((path_key(here), f"cannot read folder: {exc.strerror}"))
            return
        subdirs: list[tuple[str, str, bool]] = []
        for e in entries:
            tick()
            name = e.name
            if name.startswith("."):
                continue
            if _reserved(name):
                skipped.append((path_key(prefix + name), "name uses private-use characters U+F0000..U+F07FF, "
                                "which the catalog reserves for bytes that are not UTF-8; rename it"))
                continue
            try:
                is_dir = e.is_dir()
                is_file = e.is_file()
            except OSError as exc:
                skipped.append((path_key(prefix + name), f"cannot read: {exc.strerror}"))
                continue
            if is_dir:
                if recursive:
                    if e.is_symlink() and not _inside(os.path.realpath(e.path), real_root):
                        skipped.append((path_key(prefix + name), "symlink to a folder outside the session folder (not followed)"))
                        continue
                    subdirs.append((d + sep + name, prefix + name + "/", e.is_symlink()))
                continue
            ext = _ext(name)
            if ext not in SUPPORTED_EXTENSIONS:
                if ext in UNSUPPORTED_EXTENSIONS:
                    skipped.append((path_key(prefix + name), UNSUPPORTED_EXTENSIONS[ext]))
                continue
            if not is_file:
                skipped.append((path_key(prefix + name), _not_a_file(e)))
                continue
            found.append((prefix, name))
        # real folders before links to them: a folder is catalogued under its own name
        for sub, sub_prefix, _link in sorted(subdirs, key=lambda t: t[2]):
            walk(sub, sub_prefix)

    real_root = os.path.realpath(root)
    walk(str(root), "")
    return ScanResult(root, _pair(root, found, tick), skipped)


def _inside(path: str, root: str) -> bool:
    return path == root or path.startswith(root.rstrip(os.sep) + os.sep)


def _not_a_file(e: os.DirEntry[str]) -> str:
    """Why a photo-named entry that is not a regular file is skipped (a link to /dev/zero is not
    a "broken" link: its target exists and is a device)."""
    import stat

    try:
        st = os.stat(e.path)
    except OSError:
        return "broken symlink" if e.is_symlink() else "not a regular file"
    what = (
        "a character device" if stat.S_ISCHR(st.st_mode) else "a block device" if stat.S_ISBLK(st.st_mode)
        else "a named pipe" if stat.S_ISFIFO(st.st_mode) else "a socket" if stat.S_ISSOCK(st.st_mode)
        else "not a regular file"
    )  # fmt: skip
    return f"symlink to {what}, not a photo" if e.is_symlink() else f"{what}, not a photo"


def _no_pace() -> None:
    pass


def _pair(root: Path, found: list[tuple[str, str]], tick: Callable[[], None] = _no_pace) -> list[ShotFiles]:
    """Merge RAW+JPEG (or RAW+HEIC...) pairs with the same stem in one folder into one shot."""
    by_stem: dict[tuple[str, str], list[str]] = {}
    for prefix, name in found:
        ext = _ext(name)
        stem = name[: len(name) - len(ext)] if ext else name
        by_stem.setdefault((prefix, stem.lower()), []).append(name)
    shots: list[ShotFiles] = []
    base = str(root)
    sep = os.sep

    def path(prefix: str, name: str) -> Path:
        return Path(base + sep + (prefix.replace("/", sep) if sep != "/" else prefix) + name)

    for (prefix, _stem), names in by_stem.items():
        tick()
        names.sort()
        raws = [n for n in names if _ext(n) in RAW_EXTENSIONS]
        if raws and len(raws) < len(names):
            # The rendered file is decoded; the RAW (and any further renders) travel with it.
            others = [n for n in names if _ext(n) not in RAW_EXTENSIONS]
            primary, raw = path(prefix, others[0]), path(prefix, raws[0])
            shots.append(ShotFiles(path_key(prefix + others[0]), primary, raw,
                                   [raw, *(path(prefix, n) for n in others[1:])]))
            for r in raws[1:]:
                rp = path(prefix, r)
                shots.append(ShotFiles(path_key(prefix + r), rp, rp))
        else:
            raw_set = set(raws)
            for n in names:
                p = path(prefix, n)
                shots.append(ShotFiles(path_key(prefix + n), p, p if n in raw_set else None))
    shots.sort(key=lambda s: s.key)
    return shots


def file_hash(path: Path, chunk: int = 1 << 20) -> str:
    """Content hash (BLAKE2b-128) of a file."""
    h = hashlib.blake2b(digest_size=16)
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()
