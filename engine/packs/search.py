"""Where model packs live, how they are found, and how they are installed.

Search path, first match of a pack name wins:

1. explicit paths given by the caller (``--pack DIR`` and the like);
2. ``CULLER_MODELS_PATH`` (``os.pathsep``-separated folders);
3. the user's data directory, ``platformdirs.user_data_dir("portrait-culler")/models``
   (where ``culler models install`` puts packs; override with ``CULLER_USER_MODELS``);
4. ``resources/models/`` of the installation (the packs that ship with the app).

A folder on the path is either a pack itself (it holds ``manifest.json``) or a
folder of packs (each sub-folder holding a ``manifest.json``).  Hidden folders
(names starting with ``.``, e.g. half-written installs) are ignored.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tarfile
import tempfile
import zipfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from engine.packs.pack import (
    MANIFEST,
    PACK_NAME_RE,
    Manifest,
    PackError,
    check_pack_name,
    read_manifest,
    sha256_file,
    verify_pack,
)

ENV_PATH = "CULLER_MODELS_PATH"
ENV_USER_DIR = "CULLER_USER_MODELS"
ENSEMBLE_CONFIG = "ensemble.toml"


def repo_root() -> Path:
    import engine

    return Path(engine.__file__).resolve().parents[1]


def builtin_models_dir() -> Path:
    """``resources/models`` of this installation (the shipped packs)."""
    return repo_root() / "resources" / "models"


def user_models_dir() -> Path:
    """Where ``culler models install`` puts packs."""
    env = os.environ.get(ENV_USER_DIR)
    if env:
        return Path(env).expanduser()
    import platformdirs

    return Path(platformdirs.user_data_dir("portrait-culler")) / "models"


def search_path(extra: Iterable[str | os.PathLike[str]] = ()) -> list[Path]:
    """The folders searched for packs, highest priority first (duplicates removed)."""
    dirs: list[Path] = [Path(p).expanduser() for p in extra]
    env = os.environ.get(ENV_PATH, "")
    dirs += [Path(p).expanduser() for p in env.split(os.pathsep) if p.strip()]
    dirs += [user_models_dir(), builtin_models_dir()]
    seen: set[Path] = set()
    out: list[Path] = []
    for d in dirs:
        key = d.resolve() if d.exists() else d
        if key not in seen:
            seen.add(key)
            out.append(d)
    return out


@dataclass
class FoundPack:
    """A pack folder found on the search path; ``error`` is set when it failed verification."""

    name: str
    path: Path
    manifest: Manifest | None
    error: str | None = None
    verified: bool = False

    @property
    def ok(self) -> bool:
        return self.manifest is not None and self.error is None


def _pack_dirs(folder: Path) -> list[Path]:
    if (folder / MANIFEST).is_file():
        return [folder]
    if not folder.is_dir():
        return []
    try:
        subs = sorted(p for p in folder.iterdir() if p.is_dir() and not p.name.startswith("."))
    except OSError:
        return []
    return [p for p in subs if (p / MANIFEST).is_file()]


def find_packs(extra: Iterable[str | os.PathLike[str]] = (), *, verify: bool = True) -> list[FoundPack]:
    """Every pack on the search path, one per name (the first found wins).

    With ``verify`` every file's sha256 is checked; a pack that fails is returned
    with ``error`` set (never raised), so callers can skip it with a warning.
    """
    found: dict[str, FoundPack] = {}
    for folder in search_path(extra):
        for pdir in _pack_dirs(folder):
            try:
                m = verify_pack(pdir) if verify else read_manifest(pdir)
            except (PackError, OSError) as exc:
                name = pdir.name
                if name not in found:
                    found[name] = FoundPack(name, pdir, None, str(exc))
                continue
            if m.name not in found:
                found[m.name] = FoundPack(m.name, pdir, m, None, verified=verify)
    return sorted(found.values(), key=lambda p: p.name)


def resolve_pack(name_or_path: str | os.PathLike[str], extra: Iterable[str | os.PathLike[str]] = ()) -> Path:
    """A pack folder from a name on the search path or a path; PackError if none."""
    p = Path(name_or_path).expanduser()
    if (p / MANIFEST).is_file():
        return p
    if p.exists():
        raise PackError(f"{p} is not a model pack (no {MANIFEST})")
    name = str(name_or_path)
    for fp in find_packs(extra, verify=False):
        if fp.name == name or fp.path.name == name:
            return fp.path
    known = ", ".join(fp.name for fp in find_packs(extra, verify=False)) or "none"
    raise PackError(f"no model pack named {name!r} on the search path (installed packs: {known})")


# --------------------------------------------------------------------------------------- install


def _is_archive(path: Path) -> bool:
    n = path.name.lower()
    return n.endswith((".zip", ".tar.gz", ".tgz", ".tar"))


ENV_MAX_BYTES = "CULLER_MAX_PACK_BYTES"
MAX_PACK_FILES = 64


def max_pack_bytes() -> int:
    """The most a pack may hold once installed (default 4 GiB; ``CULLER_MAX_PACK_BYTES``)."""
    env = os.environ.get(ENV_MAX_BYTES, "").strip()
    return int(env) if env.isdigit() else 4 << 30


def _too_big(what: str, total: int, limit: int) -> PackError:
    return PackError(
        f"{what} would unpack to more than {limit / (1 << 20):.0f} MiB ({total / (1 << 20):.0f} MiB or more); "
        f"refused (a zip bomb?), nothing installed (raise {ENV_MAX_BYTES} for a genuinely larger pack)"
    )


def _check_sizes(what: str, sizes: list[int]) -> None:
    limit = max_pack_bytes()
    if len(sizes) > MAX_PACK_FILES:
        raise PackError(f"{what} holds {len(sizes)} entries; a pack has a few files (at most {MAX_PACK_FILES})")
    if sum(sizes) > limit:
        raise _too_big(what, sum(sizes), limit)


def _copy_limited(fsrc: Any, dst: Path, budget: list[int], what: str) -> None:
    """Copy a stream into ``dst`` counting against ``budget[0]`` bytes (never trusts headers)."""
    with open(dst, "xb") as out:
        while block := fsrc.read(1 << 20):
            budget[0] -= len(block)
            if budget[0] < 0:
                raise _too_big(what, max_pack_bytes() - budget[0], max_pack_bytes())
            out.write(block)


def _safe_extract(archive: Path, dest: Path) -> None:
    """Extract ``archive`` into ``dest`` refusing absolute paths, ``..``, links and archives
    that would unpack to more than :func:`max_pack_bytes` (declared or actual)."""
    dest_r = dest.resolve()

    def check(name: str) -> None:
        if "\x00" in name:
            raise PackError(f"{archive.name}: unsafe path in archive: {name!r}")
        target = (dest / name).resolve()
        if name.startswith(("/", "\\")) or not (target == dest_r or dest_r in target.parents):
            raise PackError(f"{archive.name}: unsafe path in archive: {name!r}")

    n = archive.name.lower()
    budget = [max_pack_bytes()]
    try:
        if n.endswith(".zip"):
            with zipfile.ZipFile(archive) as zf:
                infos = zf.infolist()
                for info in infos:
                    check(info.filename)
                    mode = (info.external_attr >> 16) & 0o170000
                    if mode == 0o120000:
                        raise PackError(f"{archive.name}: links are not allowed in a pack archive")
                _check_sizes(archive.name, [i.file_size for i in infos])
                for info in infos:
                    target = dest / info.filename
                    if info.is_dir():
                        target.mkdir(parents=True, exist_ok=True)
                        continue
                    target.parent.mkdir(parents=True, exist_ok=True)
                    with zf.open(info) as fsrc:
                        _copy_limited(fsrc, target, budget, archive.name)
        else:
            with tarfile.open(archive) as tf:
                members = tf.getmembers()
                for m in members:
                    check(m.name)
                    if not (m.isfile() or m.isdir()):
                        raise PackError(f"{archive.name}: only files and folders are allowed in a pack archive ({m.name})")
                _check_sizes(archive.name, [m.size for m in members])
                if hasattr(tarfile, "data_filter"):
                    tf.extractall(dest, members=members, filter="data")
                else:  # pragma: no cover - Python < 3.11.4; members were checked above
                    tf.extractall(dest, members=members)
    except (zipfile.BadZipFile, tarfile.TarError, OSError, EOFError, ValueError, NotImplementedError) as exc:
        raise PackError(f"cannot extract {archive.name}: {exc}") from exc


def _copy_folder(src: Path, staged: Path) -> None:
    """Copy a pack folder: plain files only, never following a link (a link to /etc/passwd
    must not land in the pack), within the size limit."""
    entries = list(os.scandir(src))
    for e in entries:
        if e.is_symlink():
            raise PackError(
                f"{Path(e.path)} is a symbolic link; a pack folder holds plain files only (nothing installed)"
            )
        if not e.is_file(follow_symlinks=False):
            raise PackError(f"{Path(e.path)} is not a plain file; a pack folder holds plain files only (nothing installed)")
    _check_sizes(str(src), [e.stat(follow_symlinks=False).st_size for e in entries])
    staged.mkdir()
    budget = [max_pack_bytes()]
    for e in entries:
        fd = os.open(e.path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
        with os.fdopen(fd, "rb") as fsrc:
            _copy_limited(fsrc, staged / e.name, budget, str(src))


def _check_contents(staged: Path, manifest: Manifest) -> None:
    """Every file of a pack carries its sha256 in the manifest: no unlisted file, no folder."""
    for e in sorted(os.scandir(staged), key=lambda e: e.name):
        if e.name == MANIFEST:
            continue
        if e.is_symlink() or not e.is_file(follow_symlinks=False):
            raise PackError(f"{e.name} in the pack is not a plain file; nothing installed")
        if e.name not in manifest.files:
            raise PackError(
                f"{e.name} is in the pack but not in its manifest (every file must carry a sha256); "
                "nothing installed"
            )


def _shadowed(name: str, dest_root: Path) -> FoundPack | None:
    """An installed or shipped pack of that name that an install into ``dest_root`` would hide
    or be hidden by (only folders on the search path take part)."""
    on_path = {d.resolve() for d in search_path() if d.exists()}
    if dest_root.resolve() not in on_path:
        return None
    return next((fp for fp in find_packs(verify=False) if fp.name == name), None)


def _locate_pack_root(folder: Path) -> Path:
    if (folder / MANIFEST).is_file():
        return folder
    subs = [p for p in folder.iterdir() if p.is_dir() and not p.name.startswith((".", "__MACOSX"))]
    if len(subs) == 1 and (subs[0] / MANIFEST).is_file():
        return subs[0]
    raise PackError(f"no {MANIFEST} at the top of the archive (or in its single top folder)")


def _download(url: str, dest: Path, expected_sha256: str) -> None:
    import urllib.request

    h = hashlib.sha256()
    try:
        with urllib.request.urlopen(url, timeout=60) as resp, open(dest, "wb") as f:  # noqa: S310 (https checked)
            while block := resp.read(1 << 20):
                h.update(block)
                f.write(block)
    except OSError as exc:
        raise PackError(f"cannot download {url}: {exc}") from exc
    if h.hexdigest() != expected_sha256:
        raise PackError(
            f"{url}: sha256 {h.hexdigest()[:16]}... does not match the expected {expected_sha256[:16]}...; "
            "nothing was installed"
        )


def _check_sha(expected: str | None) -> str | None:
    if expected is None:
        return None
    e = expected.strip().lower()
    if len(e) != 64 or any(c not in "0123456789abcdef" for c in e):
        raise PackError(f"--sha256 must be 64 hexadecimal digits, got {expected!r}")
    return e


def install_pack(
    source: str | os.PathLike[str],
    dest_root: str | os.PathLike[str] | None = None,
    *,
    sha256: str | None = None,
    force: bool = False,
    replace: bool = False,
) -> FoundPack:
    """Install a pack from a folder, a ``.zip``/``.tar.gz`` archive or an https URL.

    An https URL needs ``sha256`` (of the downloaded file).  The pack is
    extracted into a hidden temporary folder next to its destination, verified
    (every file's sha256 against its manifest), and only then moved into place
    as ``dest_root/<manifest name>``.  A pack of that name already on the search path
    (installed, or shipped with the app: the default pack) is replaced or shadowed only
    with ``replace`` (``force`` is the older spelling).

    Refused, with nothing installed: links, unlisted files, manifest entries outside the pack,
    more than :func:`max_pack_bytes` once unpacked (checked on the headers, then while writing).
    """
    replace = replace or force
    expected = _check_sha(sha256)
    dest_root_p = Path(dest_root) if dest_root is not None else user_models_dir()
    dest_root_p.mkdir(parents=True, exist_ok=True)
    src_s = str(source)
    with tempfile.TemporaryDirectory(prefix=".install-", dir=dest_root_p) as tmp_s:
        tmp = Path(tmp_s)
        if src_s.startswith(("http://", "https://", "ftp://")):
            if not src_s.startswith("https://"):
                raise PackError("only https:// URLs are accepted for model packs")
            if expected is None:
                raise PackError("installing from a URL needs the expected checksum: --sha256 HEX")
            fname = src_s.rstrip("/").rsplit("/", 1)[-1].split("?")[0] or "pack.zip"
            archive = tmp / fname
            _download(src_s, archive, expected)
            if not _is_archive(archive):
                raise PackError(f"{fname}: a pack URL must point to a .zip or .tar.gz archive")
            src = archive
        else:
            src = Path(src_s).expanduser()
            if not src.exists():
                raise PackError(f"{src} does not exist")
            if expected is not None:
                if not src.is_file():
                    raise PackError("--sha256 applies to an archive file, not a folder")
                got = sha256_file(src)
                if got != expected:
                    raise PackError(f"{src.name}: sha256 {got[:16]}... does not match the expected {expected[:16]}...")
        staged = tmp / "staged"
        if src.is_dir():
            _copy_folder(_locate_pack_root(src), staged)
        elif _is_archive(src):
            extracted = tmp / "extracted"
            extracted.mkdir()
            _safe_extract(src, extracted)
            _locate_pack_root(extracted).rename(staged)
        else:
            raise PackError(f"{src.name}: expected a pack folder or a .zip / .tar.gz archive")
        manifest = read_manifest(staged)
        name = check_pack_name(manifest.name, "pack name in the manifest")
        _check_contents(staged, manifest)
        manifest = verify_pack(staged)
        final = dest_root_p / name
        other = _shadowed(name, dest_root_p)
        if other is not None and not replace and other.path.resolve() != final.resolve():
            raise PackError(
                f"a pack named {name!r} is already on the search path at {other.path} "
                f"({'shipped with portrait-culler' if other.path.is_relative_to(builtin_models_dir()) else 'installed'}); "
                "installing another under that name would shadow it and mix two models' scores: "
                "rename the pack, or pass --replace to shadow it deliberately"
            )
        if os.path.lexists(final):
            if not replace:
                raise PackError(f"a pack named {name!r} is already installed at {final} (use --replace to replace it)")
            if final.is_symlink() or not final.is_dir():
                raise PackError(f"{final} is not a pack folder; left untouched")
            old = tmp / "old"
            final.rename(old)
        staged.rename(final)
    return FoundPack(name, final, manifest, None, verified=True)


def uninstall_pack(name: str, dest_root: str | os.PathLike[str] | None = None) -> Path:
    """Remove an installed pack by its *name* (never a path: ``../../dir`` is refused)."""
    root = Path(dest_root) if dest_root is not None else user_models_dir()
    if not isinstance(name, str) or not PACK_NAME_RE.match(name):
        raise PackError(
            f"{name!r:.80} is not a pack name: `models remove` takes the name of a pack installed in {root} "
            "(see `culler models list`), never a path"
        )
    target = root / name
    if target.is_symlink() or not (target / MANIFEST).is_file() or (target / MANIFEST).is_symlink():
        raise PackError(f"no pack named {name!r} in {root}")
    if target.resolve().parent != root.resolve():
        raise PackError(f"{target} is not inside {root}; left untouched")
    shutil.rmtree(target)
    return target


def pack_size(path: Path) -> int:
    return sum(f.stat().st_size for f in path.iterdir() if f.is_file())


def config_files(extra: Sequence[str | os.PathLike[str]] = ()) -> list[Path]:
    """Ensemble configs on the search path, highest priority first."""
    out = []
    for d in search_path(extra):
        f = d / ENSEMBLE_CONFIG
        if f.is_file():
            out.append(f)
    return out
