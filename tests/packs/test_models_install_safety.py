"""Issue 10, model packs: installs cannot shadow the default pack by accident, `remove` takes
names only, archives and folders are size-limited, unlisted files, links and manifest entries
outside the pack are refused (never hashed, never echoed), bad manifests give one line."""

from __future__ import annotations

import hashlib
import json
import os
import zipfile
from pathlib import Path

import pytest
from packtools import make_pack

from engine.cli import main
from engine.packs import pack as packmod
from engine.packs import search
from engine.packs.pack import PackError, verify_pack


def cli(*argv: object) -> int:
    return main([str(a) for a in argv])


def edit_manifest(p: Path, **changes: object) -> None:
    m = json.loads((p / "manifest.json").read_text())
    m.update(changes)
    (p / "manifest.json").write_text(json.dumps(m))


def one_line(err: str) -> str:
    lines = [ln for ln in err.strip().splitlines() if ln.strip()]
    assert len(lines) == 1 and "Traceback" not in err, err
    return lines[0]


def test_installing_over_the_default_pack_needs_replace(
    search_dirs: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    shipped = make_pack(search_dirs["builtin"] / "portrait-lite-synth", name="portrait-lite-synth", size=32)
    impostor = make_pack(tmp_path / "build" / "portrait-lite-synth", name="portrait-lite-synth", size=24)
    assert cli("models", "install", impostor) == 1
    line = one_line(capsys.readouterr().err)
    assert "already on the search path" in line and "shipped with portrait-culler" in line and "--replace" in line
    assert list(search_dirs["user"].iterdir()) == []
    assert {p.name: p.path for p in search.find_packs()}["portrait-lite-synth"] == shipped
    # an installed pack of the same name: refused too, in another folder of the path
    with pytest.raises(PackError, match="already on the search path"):
        search.install_pack(impostor, search_dirs["env"])
    assert cli("models", "install", impostor, "--replace") == 0  # deliberate
    assert {p.name: p.path for p in search.find_packs()}["portrait-lite-synth"] == search_dirs["user"] / "portrait-lite-synth"
    assert cli("models", "install", impostor) == 1  # again: already installed
    assert "--replace" in capsys.readouterr().err


@pytest.mark.parametrize("name", ["../victim", "../../victim", "/ABS", "victim/..", ".", "link"])
def test_remove_takes_names_only(
    search_dirs: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str], name: str
) -> None:
    victim = make_pack(tmp_path / "victim", name="victim")
    (search_dirs["user"] / "link").symlink_to(victim, target_is_directory=True)
    arg = str(victim) if name == "/ABS" else name
    assert cli("models", "remove", arg) == 1
    line = one_line(capsys.readouterr().err)
    assert ("no pack named 'link'" if name == "link" else "never a path") in line, line
    assert verify_pack(victim).name == "victim"
    installed = make_pack(search_dirs["user"] / "mine", name="mine")
    assert cli("models", "remove", "mine") == 0 and not installed.exists()


def test_a_zip_bomb_is_refused(search_dirs: dict[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(search.ENV_MAX_BYTES, str(1 << 20))  # 1 MiB for the test (4 GiB by default)
    src = make_pack(tmp_path / "build" / "tiny-sharp", extra_files={"weights.bin": bytes(8 << 20)})
    z = tmp_path / "bomb.zip"
    with zipfile.ZipFile(z, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for f in src.iterdir():
            zf.write(f, f.name)
    assert z.stat().st_size < 100_000
    with pytest.raises(PackError, match="would unpack to more than 1 MiB"):
        search.install_pack(z)
    with pytest.raises(PackError, match="would unpack to more than 1 MiB"):
        search.install_pack(src)  # a folder too
    assert list(search_dirs["user"].iterdir()) == []
    monkeypatch.setenv(search.ENV_MAX_BYTES, str(16 << 20))
    assert search.install_pack(z).ok


@pytest.mark.parametrize("how", ["folder", "zip"])
def test_files_missing_from_the_manifest_are_refused(search_dirs: dict[str, Path], tmp_path: Path, how: str) -> None:
    src = make_pack(tmp_path / "build" / "tiny-sharp")
    (src / "unverified.onnx").write_bytes(b"anything")
    source: Path = src
    if how == "zip":
        source = tmp_path / "p.zip"
        with zipfile.ZipFile(source, "w") as zf:
            for f in src.iterdir():
                zf.write(f, f.name)
    with pytest.raises(PackError, match="unverified.onnx is in the pack but not in its manifest"):
        search.install_pack(source)
    assert list(search_dirs["user"].iterdir()) == []


def test_folder_install_never_follows_links(search_dirs: dict[str, Path], tmp_path: Path) -> None:
    secret = tmp_path / "shadow"
    secret.write_text("root:$6$secret\n")
    src = make_pack(tmp_path / "build" / "tiny-sharp")
    (src / "passwd").symlink_to(secret)
    with pytest.raises(PackError, match="symbolic link"):
        search.install_pack(src)
    for p in search_dirs["user"].rglob("*"):
        assert not p.is_file() or b"secret" not in p.read_bytes()
    assert list(search_dirs["user"].iterdir()) == []


@pytest.mark.parametrize("entry", ["../shadow", "/ABS", "link"])
def test_manifest_entries_outside_the_pack_are_never_hashed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, entry: str
) -> None:
    secret = tmp_path / "shadow"
    secret.write_text("root:$6$secret\n")
    digest = hashlib.sha256(secret.read_bytes()).hexdigest()
    p = make_pack(tmp_path / "pack")
    (p / "link").symlink_to(secret)
    name = str(secret) if entry == "/ABS" else entry
    m = json.loads((p / "manifest.json").read_text())
    m["files"][name] = "0" * 64
    (p / "manifest.json").write_text(json.dumps(m))
    hashed: list[str] = []
    real = packmod.sha256_file
    monkeypatch.setattr(packmod, "sha256_file", lambda f, *a: hashed.append(os.path.realpath(f)) or real(f, *a))
    with pytest.raises(PackError) as exc:
        verify_pack(p)
    assert str(secret) not in hashed and hashed == []  # refused before anything was read
    assert digest[:8] not in str(exc.value) and "refused" in str(exc.value)


@pytest.mark.parametrize(
    "changes,words",
    [({"format": "abc"}, "format"), ({"format": [1]}, "format"), ({"format": None}, "format"),
     ({"name": "evil\x00name"}, "invalid pack name"), ({"name": "../up"}, "letters, digits"),
     ({"name": 7}, "invalid pack name"),
     ({"files": ["model.onnx"]}, "files")],
)  # fmt: skip
def test_bad_manifest_values_give_one_line(
    search_dirs: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str], changes: dict, words: str
) -> None:
    src = make_pack(tmp_path / "build" / "tiny-sharp")
    edit_manifest(src, **changes)
    assert cli("models", "install", src) == 1
    line = one_line(capsys.readouterr().err)
    assert line.startswith("culler models: not installed:") and words in line, line
    assert list(search_dirs["user"].iterdir()) == []
