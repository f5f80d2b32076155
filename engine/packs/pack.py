"""Model packs: a folder with ``model.onnx``, ``manifest.json`` and a model card.

The manifest says what the model needs (whole image and/or face crop, size,
normalisation, test-time crops), what it outputs (direction, range), what it
was trained on, its licence and its measured figures, and the sha256 of every
file of the pack.  ``verify_pack`` refuses a pack whose files do not match.

No torch here: packs are written by ``training.export`` and read by the app.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

MANIFEST = "manifest.json"
PACK_FORMAT = 1


class PackError(Exception):
    """A model pack that cannot be used; the message is user-facing."""


PACK_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._+-]{0,99}$")
_HEX64 = re.compile(r"^[0-9a-f]{64}$")


def check_pack_name(name: object, what: str = "pack name") -> str:
    """A pack name is also a folder name: letters, digits and ``._+-``, no path, no NUL."""
    if not isinstance(name, str) or not PACK_NAME_RE.match(name):
        shown = repr(name)[:80]
        raise PackError(
            f"invalid {what} {shown}: a pack name is 1-100 letters, digits, '.', '_', '+' or '-' "
            "(not a path)"
        )
    return name


def check_file_entry(pack: Path, name: object) -> Path:
    """``pack / name`` for a manifest entry that names a regular file *inside* the pack;
    refused before anything is read (nothing outside the pack is ever hashed)."""
    shown = repr(name)[:80]
    if (
        not isinstance(name, str) or name in ("", ".", "..") or "/" in name or "\\" in name
        or any(ord(c) < 32 for c in name) or name.startswith(".")
    ):  # fmt: skip
        raise PackError(f"{pack}: the manifest lists {shown}, which is not a file name inside the pack; refused")
    f = pack / name
    if f.is_symlink():
        raise PackError(f"{pack}: {name} is a symbolic link; a pack holds plain files only (refused, not read)")
    return f


@dataclass
class PackInput:
    name: str  # the ONNX graph input name
    kind: str  # "image" (whole frame) or "face" (aligned face crop)
    size: tuple[int, int]  # (height, width) fed to the model
    mean: tuple[float, float, float] = (0.485, 0.456, 0.406)
    std: tuple[float, float, float] = (0.229, 0.224, 0.225)
    crops: str = "full"  # test-time crops: "full" (resize), "center", "grid5", "mosaic:N" (global+local)
    dtype: str = "float32"  # "float16" for fp16 packs


@dataclass
class PackOutput:
    name: str = "score"
    direction: str = "higher_is_better"  # or "lower_is_better"
    range: tuple[float, float] | None = None  # typical range, for mapping to a 0..1 quality


@dataclass
class Manifest:
    name: str
    version: str
    architecture: str
    inputs: list[PackInput]
    output: PackOutput = field(default_factory=PackOutput)
    description: str = ""
    training_data: str = ""
    licence: str = "Apache-2.0"
    commercial_use: bool = True
    metrics: dict[str, Any] = field(default_factory=dict)  # {"protocol": ..., "srcc": ...}
    files: dict[str, str] = field(default_factory=dict)  # file name -> sha256
    format: int = PACK_FORMAT
    extra: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2, sort_keys=True) + "\n"

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Manifest:
        try:
            inputs = [
                PackInput(
                    **{**i, "size": tuple(i["size"]), "mean": tuple(i.get("mean", PackInput.mean)), "std": tuple(i.get("std", PackInput.std))}
                )
                for i in d["inputs"]
            ]
            out = d.get("output") or {}
            output = PackOutput(**{**out, "range": tuple(out["range"]) if out.get("range") else None})
            known = {k: d[k] for k in cls.__dataclass_fields__ if k in d and k not in ("inputs", "output")}
            return cls(inputs=inputs, output=output, **known)
        except (KeyError, TypeError, ValueError) as exc:
            raise PackError(f"malformed manifest: {exc}") from exc

    @property
    def needs_faces(self) -> bool:
        return any(i.kind == "face" for i in self.inputs)

    @property
    def needs_image(self) -> bool:
        return any(i.kind == "image" for i in self.inputs)


def sha256_file(path: Path, chunk: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


def write_pack(out_dir: str | os.PathLike[str], manifest: Manifest, files: dict[str, str | os.PathLike[str] | bytes]) -> Path:
    """Write a pack atomically: ``files`` maps names in the pack to a path or bytes.

    ``model.onnx`` is required.  The sha256 of each file is recorded in the
    manifest.  An existing pack at ``out_dir`` is replaced only once the new one
    is complete.
    """
    out = Path(out_dir)
    if "model.onnx" not in files:
        raise PackError("a pack needs a model.onnx")
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
    try:
        tmp.chmod(0o755)  # mkdtemp makes it private; a pack is meant to be read by everyone
        for name, src in files.items():
            if "/" in name or name in ("", ".", "..", MANIFEST):
                raise PackError(f"invalid file name in pack: {name!r}")
            if isinstance(src, bytes):
                (tmp / name).write_bytes(src)
            else:
                shutil.copyfile(src, tmp / name)
        manifest.files = {name: sha256_file(tmp / name) for name in sorted(files)}
        (tmp / MANIFEST).write_text(manifest.to_json())
        if out.exists():
            old = out.with_name(f".{out.name}.old")
            if old.exists():
                shutil.rmtree(old)
            out.rename(old)
            tmp.rename(out)
            shutil.rmtree(old)
        else:
            tmp.rename(out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return out


def read_manifest(pack_dir: str | os.PathLike[str]) -> Manifest:
    path = Path(pack_dir) / MANIFEST
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        raise PackError(f"{pack_dir} is not a model pack (no {MANIFEST})") from None
    except (OSError, json.JSONDecodeError) as exc:
        raise PackError(f"cannot read {path}: {exc}") from exc
    if not isinstance(data, dict):
        raise PackError(f"{path}: manifest must be a JSON object")
    fmt = data.get("format", PACK_FORMAT)
    if isinstance(fmt, bool) or not isinstance(fmt, int) or fmt < 1:
        raise PackError(f"{path}: malformed manifest: \"format\" must be a whole number (1 for this version), not {fmt!r:.40}")
    if fmt > PACK_FORMAT:
        raise PackError(f"{pack_dir}: pack format {fmt} is newer than this portrait-culler reads ({PACK_FORMAT})")
    check_pack_name(data.get("name"), "pack name in the manifest")
    for key in ("version", "architecture"):
        if not isinstance(data.get(key), str) or "\x00" in data[key]:
            raise PackError(f"{path}: malformed manifest: \"{key}\" must be text, not {data.get(key)!r:.40}")
    files = data.get("files", {})
    if not isinstance(files, dict) or not all(isinstance(v, str) for v in files.values()):
        raise PackError(f"{path}: malformed manifest: \"files\" must map file names to sha256 hex digests")
    return Manifest.from_dict(data)


def verify_pack(pack_dir: str | os.PathLike[str]) -> Manifest:
    """Read the manifest and check the sha256 of every listed file; raise PackError on any mismatch."""
    pack = Path(pack_dir)
    m = read_manifest(pack)
    if "model.onnx" not in m.files:
        raise PackError(f"{pack}: the manifest lists no model.onnx checksum")
    entries = [(name, check_file_entry(pack, name), expected) for name, expected in m.files.items()]
    for name, _, expected in entries:  # every entry is checked before any file is read
        if not _HEX64.match(expected):
            raise PackError(f"{pack}: the manifest's sha256 for {name} is not 64 hexadecimal digits")
    for name, f, expected in entries:
        if not f.is_file():
            raise PackError(f"{pack}: {name} is missing")
        if sha256_file(f) != expected:
            raise PackError(
                f"{pack}: checksum mismatch for {name} (the manifest expects sha256 {expected[:16]}...); "
                "the pack is damaged or was modified: reinstall it"
            )
    return m
