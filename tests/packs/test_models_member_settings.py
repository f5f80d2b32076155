"""A pack member's settings are resolved in one place, setting by setting: options, then the
ensemble.toml files (highest priority first), then the pack's own defaults, then the built-in
defaults; ``culler models info`` reports exactly what the member uses."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest
from packtools import make_pack

from engine.cli import main
from engine.packs.members import member_class, register_installed_packs
from engine.packs.pack import verify_pack

OWN = b'[member]\nweight = 2.5\ntargets = ["image", "faces"]\nface_weight = 0.2\nmap = "linear"\n'


def _ensembles(dirs: dict[str, Path]) -> None:
    (dirs["env"] / "ensemble.toml").write_text("[members.own]\nweight = 0.7\n")  # highest priority
    (dirs["user"] / "ensemble.toml").write_text('[members.own]\nweight = 0.5\nmap = "logistic"\n')


def test_each_setting_comes_from_the_first_layer_that_sets_it(search_dirs: dict[str, Path], clean_registry) -> None:
    make_pack(search_dirs["builtin"] / "own", name="own", extra_files={"member.toml": OWN})
    _ensembles(search_dirs)
    assert [p.name for p in register_installed_packs()] == ["own"]
    m = clean_registry.create_member("pack:own", device="cpu", face_weight=0.9)
    # weight: the env ensemble.toml beats the user's and the pack's; map: the user's ensemble.toml
    # beats the pack's; targets: the pack's own; face_weight: the option beats everything
    assert (m.weight, m.map, m.targets, m.face_weight) == (0.7, "logistic", ("image", "faces"), 0.9)
    src = m.settings.source
    assert src["weight"].startswith("ensemble (") and str(search_dirs["env"]) in src["weight"]
    assert src["map"].startswith("ensemble (") and str(search_dirs["user"]) in src["map"]
    assert src["targets"].startswith("pack (") and src["targets"].endswith("member.toml)")
    assert src["face_weight"] == "options"
    assert clean_registry.create_member("pack:own", device="cpu").face_weight == 0.2  # the pack's, without the option
    # the fusion weight the pipeline uses is the resolved one
    assert m.spec().weight == 0.7


def test_defaults_when_nothing_is_set(search_dirs: dict[str, Path], tmp_path: Path) -> None:
    p = make_pack(tmp_path / "bare", name="bare")
    m = member_class(p, verify_pack(p))(device="cpu")
    assert (m.weight, m.targets, m.face_weight, m.map) == (1.0, ("image",), 0.5, "logistic")
    assert set(m.settings.source.values()) == {"default"} and m.needs == {"image"}


def test_the_resolved_targets_decide_what_the_member_needs(search_dirs: dict[str, Path], tmp_path: Path) -> None:
    p = make_pack(tmp_path / "plain", name="plain")
    m = member_class(p, verify_pack(p))(device="cpu", targets=["image", "faces"])
    assert m.targets == ("image", "faces") and m.needs == {"image", "faces"}
    (search_dirs["env"] / "ensemble.toml").write_text('[members.plain]\ntargets = ["image", "faces"]\n')
    from engine.packs.ensemble import load_config

    m = member_class(p, verify_pack(p), load_config().member("plain"))(device="cpu", targets=["image"])
    assert m.targets == ("image",) and m.needs == {"image"}  # the option wins, and needs follows it


def test_a_face_pack_scores_faces_whatever_the_config_says(search_dirs: dict[str, Path], tmp_path: Path) -> None:
    p = make_pack(tmp_path / "facey", name="facey", kind="face", crops="face")
    (search_dirs["env"] / "ensemble.toml").write_text('[members.facey]\ntargets = ["image"]\n')
    from engine.packs.ensemble import load_config

    m = member_class(p, verify_pack(p), load_config().member("facey"))(device="cpu")
    assert m.targets == ("faces",) and m.settings.source["targets"] == "inputs" and "faces" in m.needs


def test_models_info_reports_the_settings_the_member_uses(
    search_dirs: dict[str, Path], clean_registry, capsys: pytest.CaptureFixture[str]
) -> None:
    make_pack(search_dirs["builtin"] / "own", name="own", extra_files={"member.toml": OWN})
    _ensembles(search_dirs)
    assert main(["models", "info", "own", "--json"]) == 0
    info = json.loads(capsys.readouterr().out)["member"]
    register_installed_packs()
    m = clean_registry.create_member("pack:own", device="cpu")
    assert (info["weight"], info["map"], tuple(info["targets"]), info["face_weight"]) == (m.weight, m.map, m.targets, m.face_weight)
    assert info["weight"] == 0.7 and info["source"] == dict(m.settings.source)
    assert main(["models", "info", "own"]) == 0
    out = capsys.readouterr().out
    assert "weight=0.7" in out and "face_weight from pack (" in out


def test_a_pack_gives_its_own_settings_in_one_place(
    search_dirs: dict[str, Path], clean_registry, caplog: pytest.LogCaptureFixture
) -> None:
    make_pack(search_dirs["builtin"] / "twice", name="twice", extra_files={"member.toml": b"[member]\nweight = 2\n"},
              extra={"member": {"weight": 3.0}})
    make_pack(search_dirs["builtin"] / "once", name="once", extra={"member": {"weight": 3.0, "map": "linear"}})
    with caplog.at_level(logging.WARNING, logger="engine.packs"):
        got = [p.name for p in register_installed_packs()]
    assert got == ["once"]
    assert any("'twice' skipped" in r.getMessage() and "member.toml and manifest extra.member; keep one" in r.getMessage()
               for r in caplog.records)
    m = clean_registry.create_member("pack:once", device="cpu")
    assert (m.weight, m.map) == (3.0, "linear") and m.settings.source["weight"].startswith("pack (")
