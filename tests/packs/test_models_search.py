"""Search path, discovery and installation from local folders and archives (never the network)."""

from __future__ import annotations

import io
import os
import shutil
import tarfile
import zipfile
from pathlib import Path

import pytest
from packtools import make_pack

from engine.packs import search
from engine.packs.pack import PackError, sha256_file, verify_pack


def test_search_path_order(search_dirs: dict[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    other = tmp_path / "other"
    other.mkdir()
    monkeypatch.setenv(search.ENV_PATH, os.pathsep.join([str(search_dirs["env"]), str(other), ""]))
    explicit = tmp_path / "explicit"
    assert search.search_path([explicit]) == [
        explicit,
        search_dirs["env"],
        other,
        search_dirs["user"],
        search_dirs["builtin"],
    ]


def test_default_locations(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(search.ENV_USER_DIR, raising=False)
    import platformdirs

    import engine

    assert search.builtin_models_dir() == Path(engine.__file__).resolve().parents[1] / "resources" / "models"
    assert search.user_models_dir() == Path(platformdirs.user_data_dir("portrait-culler")) / "models"


def test_first_pack_of_a_name_wins_and_broken_ones_are_reported(search_dirs: dict[str, Path]) -> None:
    make_pack(search_dirs["builtin"] / "tiny-sharp", size=32)
    make_pack(search_dirs["user"] / "tiny-sharp", size=24)  # user copy shadows the shipped one
    bad = make_pack(search_dirs["env"] / "broken", name="broken")
    (bad / "model.onnx").write_bytes(b"tampered")
    (search_dirs["env"] / ".half-installed").mkdir()
    packs = {p.name: p for p in search.find_packs()}
    assert set(packs) == {"tiny-sharp", "broken"}
    assert packs["tiny-sharp"].ok and packs["tiny-sharp"].manifest.inputs[0].size == (24, 24)
    assert not packs["broken"].ok and "checksum mismatch" in packs["broken"].error
    # a folder on the path may itself be a pack
    assert [p.name for p in search.find_packs([bad.parent / "broken"])] == ["broken", "tiny-sharp"]


def test_resolve_pack(search_dirs: dict[str, Path]) -> None:
    p = make_pack(search_dirs["user"] / "folder-name", name="tiny-sharp")
    assert search.resolve_pack("tiny-sharp") == p
    assert search.resolve_pack(str(p)) == p
    with pytest.raises(PackError, match="no model pack named 'nope'.*tiny-sharp"):
        search.resolve_pack("nope")
    with pytest.raises(PackError, match="not a model pack"):
        search.resolve_pack(str(search_dirs["env"]))


def _zip(src: Path, dest: Path, prefix: str = "") -> Path:
    with zipfile.ZipFile(dest, "w") as zf:
        for f in src.iterdir():
            zf.write(f, prefix + f.name)
    return dest


def test_install_from_folder_zip_and_tar(search_dirs: dict[str, Path], tmp_path: Path) -> None:
    src = make_pack(tmp_path / "build" / "tiny-sharp")
    fp = search.install_pack(src)
    assert fp.path == search_dirs["user"] / "tiny-sharp" and verify_pack(fp.path)
    with pytest.raises(PackError, match="already installed"):
        search.install_pack(src)
    z = _zip(src, tmp_path / "pack.zip", prefix="tiny-sharp/")
    fp = search.install_pack(z, force=True, sha256=sha256_file(z))
    assert verify_pack(fp.path).name == "tiny-sharp"
    tgz = tmp_path / "pack.tar.gz"
    with tarfile.open(tgz, "w:gz") as tf:
        tf.add(src, arcname="tiny-sharp")
    dest = tmp_path / "elsewhere"
    fp = search.install_pack(tgz, dest)
    assert fp.path == dest / "tiny-sharp" and verify_pack(fp.path)
    assert [p.name for p in search_dirs["user"].iterdir()] == ["tiny-sharp"]  # no temp leftovers


def test_install_refuses_tampered_and_wrong_checksum(search_dirs: dict[str, Path], tmp_path: Path) -> None:
    src = make_pack(tmp_path / "build" / "tiny-sharp")
    z = _zip(src, tmp_path / "pack.zip")
    with pytest.raises(PackError, match="does not match the expected"):
        search.install_pack(z, sha256="0" * 64)
    with pytest.raises(PackError, match="64 hexadecimal"):
        search.install_pack(z, sha256="abc")
    data = bytearray((src / "model.onnx").read_bytes())
    data[len(data) // 3] ^= 0x10
    (src / "model.onnx").write_bytes(bytes(data))
    with pytest.raises(PackError, match="checksum mismatch"):
        search.install_pack(src)
    assert list(search_dirs["user"].iterdir()) == []  # nothing was moved into place


def test_install_refuses_urls_without_checksum_and_plain_http(search_dirs: dict[str, Path]) -> None:
    with pytest.raises(PackError, match="--sha256"):
        search.install_pack("https://example.invalid/pack.zip")
    with pytest.raises(PackError, match="only https"):
        search.install_pack("http://example.invalid/pack.zip", sha256="0" * 64)


def test_install_refuses_unsafe_archives(search_dirs: dict[str, Path], tmp_path: Path) -> None:
    src = make_pack(tmp_path / "build" / "tiny-sharp")
    z = tmp_path / "evil.zip"
    with zipfile.ZipFile(z, "w") as zf:
        for f in src.iterdir():
            zf.write(f, f.name)
        zf.writestr("../escaped.txt", "x")
    with pytest.raises(PackError, match="unsafe path"):
        search.install_pack(z)
    t = tmp_path / "link.tar.gz"
    with tarfile.open(t, "w:gz") as tf:
        tf.add(src, arcname="p")
        info = tarfile.TarInfo("p/link")
        info.type = tarfile.SYMTYPE
        info.linkname = "/etc/passwd"
        tf.addfile(info, io.BytesIO())
    with pytest.raises(PackError, match="only files and folders"):
        search.install_pack(t)
    assert not (tmp_path / "escaped.txt").exists()
    bad = tmp_path / "notapack.zip"
    bad.write_bytes(b"PK not really")
    with pytest.raises(PackError, match="cannot extract"):
        search.install_pack(bad)
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(PackError, match="no manifest.json"):
        search.install_pack(empty)
    shutil.rmtree(empty)
    with pytest.raises(PackError, match="does not exist"):
        search.install_pack(empty)
