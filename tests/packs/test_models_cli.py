"""``culler models list | info | verify | install | remove``."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import pytest
from packtools import make_pack

from engine.cli import main


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    rc = main(["models", *argv])
    out = capsys.readouterr()
    return rc, out.out, out.err


def test_list_info_verify(search_dirs: dict[str, Path], capsys: pytest.CaptureFixture[str]) -> None:
    rc, out, _ = run(capsys, "list")
    assert rc == 0 and "no model packs installed" in out
    make_pack(search_dirs["builtin"] / "tiny-sharp")
    (search_dirs["builtin"] / "ensemble.toml").write_text('[ensemble]\ndefault = ["tiny-sharp"]\n')
    rc, out, _ = run(capsys, "list")
    assert rc == 0 and "tiny-sharp" in out and "ok  [default]" in out and "laplacian-energy" in out
    rc, out, _ = run(capsys, "list", "--json")
    data = json.loads(out)
    assert data["packs"][0]["name"] == "tiny-sharp" and data["packs"][0]["ok"] and data["packs"][0]["default"]
    rc, out, _ = run(capsys, "info", "tiny-sharp")
    assert rc == 0 and "checksums:   ok" in out and "image 32x32 crops=full" in out and "Apache-2.0" in out
    rc, out, _ = run(capsys, "info", "tiny-sharp", "--json", "--device", "cuda")
    info = json.loads(out)
    assert rc == 0 and info["verified"] and info["runtime"]["device"] == "cpu"
    assert "falling back to the CPU" in info["runtime"]["message"]
    rc, out, _ = run(capsys, "verify")
    assert rc == 0 and out.startswith("ok     tiny-sharp")
    rc, _, err = run(capsys, "info", "nope")
    assert rc == 1 and "no model pack named 'nope'" in err


def test_verify_refuses_a_tampered_pack(search_dirs: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    good = make_pack(search_dirs["builtin"] / "tiny-sharp")
    bad = make_pack(tmp_path / "bad", name="bad")
    data = bytearray((bad / "model.onnx").read_bytes())
    data[-1] ^= 0x01
    (bad / "model.onnx").write_bytes(bytes(data))
    rc, out, err = run(capsys, "verify", str(bad))
    assert rc == 1 and "FAILED" in out and "checksum mismatch for model.onnx" in out and "1 pack(s) failed" in err
    rc, out, _ = run(capsys, "verify", str(good), "tiny-sharp")
    assert rc == 0 and out.count("ok ") == 2
    bad.rename(search_dirs["env"] / "bad")
    rc, out, _ = run(capsys, "verify")  # all installed packs: one is bad
    assert rc == 1 and "ok     tiny-sharp" in out and "FAILED bad" in out
    rc, out, _ = run(capsys, "list")
    assert rc == 0 and "FAILED" in out
    rc, out, _ = run(capsys, "info", "bad")
    assert rc == 1 and "checksums:   FAILED" in out


def test_install_and_remove(search_dirs: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    src = make_pack(tmp_path / "build" / "tiny-sharp", commercial_use=False)
    z = tmp_path / "tiny.zip"
    with zipfile.ZipFile(z, "w") as zf:
        for f in src.iterdir():
            zf.write(f, f.name)
    rc, out, _ = run(capsys, "install", str(z))
    assert rc == 0 and "installed tiny-sharp 0.1" in out and "non-commercial" in out
    assert (search_dirs["user"] / "tiny-sharp" / "model.onnx").is_file()
    rc, _, err = run(capsys, "install", str(z))
    assert rc == 1 and "already installed" in err
    rc, _, err = run(capsys, "install", str(z), "--force", "--sha256", "f" * 64)
    assert rc == 1 and "does not match" in err
    rc, _, err = run(capsys, "install", "https://example.invalid/p.zip")
    assert rc == 1 and "--sha256" in err
    rc, _, err = run(capsys, "install", str(tmp_path / "missing.zip"))
    assert rc == 1 and "does not exist" in err
    rc, out, _ = run(capsys, "remove", "tiny-sharp")
    assert rc == 0 and not (search_dirs["user"] / "tiny-sharp").exists()
    rc, _, err = run(capsys, "remove", "tiny-sharp")
    assert rc == 1 and "no pack named" in err


def test_architectures_come_from_the_registered_training_module(search_dirs: dict[str, Path], capsys: pytest.CaptureFixture[str]) -> None:
    from engine.commands.models import architectures
    from training.architectures import list_models

    expected = sorted(list_models())
    assert architectures() == (expected, None) and "sem_hyperiqa" in expected
    rc, out, _ = run(capsys, "list", "--architectures")
    assert rc == 0 and f"architectures (training module): {', '.join(expected)}" in out
    rc, out, _ = run(capsys, "list", "--architectures", "--json")
    data = json.loads(out)
    assert rc == 0 and data["architectures"] == expected and data["note"] is None


def test_architectures_without_or_with_a_broken_provider(search_dirs: dict[str, Path], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    import importlib.metadata as md

    from engine.commands.models import ARCHITECTURES_GROUP

    monkeypatch.setattr(md, "entry_points", lambda group: [])
    rc, out, _ = run(capsys, "list", "--architectures")
    assert rc == 0 and "architectures: not available: no training module is registered" in out
    assert "pip install 'portrait-culler[train]'" in out
    broken = md.EntryPoint(name="training", value="training.architectures:no_such_function", group=ARCHITECTURES_GROUP)
    monkeypatch.setattr(md, "entry_points", lambda group: [broken])
    rc, out, _ = run(capsys, "list", "--architectures")
    assert rc == 0 and "architectures: not available: the architecture list training.architectures:no_such_function failed: AttributeError" in out


def test_bare_models_command_prints_help(capsys: pytest.CaptureFixture[str]) -> None:
    rc, out, _ = run(capsys)
    assert rc == 2 and "verify" in out
