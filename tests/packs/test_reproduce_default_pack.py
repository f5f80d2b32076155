"""scripts/reproduce-default-pack: it runs the card's recorded commands with every output under
the folder it is given, and its comparison passes only for a pack that scores like the shipped one."""

from __future__ import annotations

import importlib.machinery
import importlib.util
import json
import shutil
import sys
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "scripts" / "reproduce-default-pack"
PACK = ROOT / "resources" / "models" / "portrait-lite-synth"


def _script() -> ModuleType:
    loader = importlib.machinery.SourceFileLoader("reproduce_default_pack", str(SCRIPT))
    spec = importlib.util.spec_from_loader(loader.name, loader)
    assert spec is not None
    mod = importlib.util.module_from_spec(spec)
    loader.exec_module(mod)
    return mod


def test_script_is_executable_and_runs_the_recorded_commands_under_out(tmp_path: Path) -> None:
    assert SCRIPT.stat().st_mode & 0o111
    mod = _script()
    out = tmp_path / "rebuild"
    argvs = mod.card_commands(PACK, out)
    recorded = json.loads((PACK / "manifest.json").read_text())["extra"]["commands"]
    assert len(argvs) == len(recorded) + 1
    train, export, fp16 = argvs
    assert train[0] == sys.executable and train[1:4] == ["-m", "training", "pretrain-synthetic"]
    assert train[train.index("--out") + 1] == str(out / "run")
    for opt in ("--threads", "--max-steps", "--seed", "--workers"):  # pinned, so the run does not vary
        assert opt in train
    assert "--deterministic" in train and "--max-minutes" not in train
    assert export[4] == str(out / "run" / "best.pt") and export[export.index("--out") + 1] == str(out / "pack")
    assert fp16[1:] == ["-m", "engine", "models", "fp16", str(out / "pack")]
    for a in argvs:  # every path the commands name lies under OUT
        assert all(str(out) in x for x in a if "/" in x and x != sys.executable)


def test_refuses_an_out_through_a_symlink(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    mod = _script()
    (tmp_path / "real").mkdir()
    (tmp_path / "link").symlink_to(tmp_path / "real")
    assert mod.main([str(tmp_path / "link" / "out")]) == 2
    assert "symbolic link" in capsys.readouterr().err
    assert not any((tmp_path / "real").iterdir())


def test_compare_passes_for_the_same_scores_and_fails_for_other_weights(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    onnx = pytest.importorskip("onnx", reason="onnx is not installed (needed to alter a copy of the model)")
    import numpy as np
    from onnx import numpy_helper

    from engine.packs.pack import read_manifest, write_pack

    mod = _script()
    copy = Path(shutil.copytree(PACK, tmp_path / "same"))
    assert mod.main(["--rebuilt", str(copy)]) == 0
    out = capsys.readouterr().out
    assert "REPRODUCED" in out and "model.onnx sha256 matches" in out and "max abs difference 0 " in out

    # the same graph with one bias of the score head nudged by 1e-3: scores move, the check fails
    model = onnx.load(str(PACK / "model.onnx"))
    init = next(i for i in reversed(model.graph.initializer) if numpy_helper.to_array(i).size == 1)
    init.CopyFrom(numpy_helper.from_array(numpy_helper.to_array(init) + np.float32(1e-3), init.name))
    f = tmp_path / "model.onnx"
    onnx.save(model, str(f))
    m = read_manifest(PACK)
    other = write_pack(tmp_path / "other", m, {"model.onnx": f, "MODEL_CARD.md": PACK / "MODEL_CARD.md"})
    assert mod.main(["--rebuilt", str(other)]) == 1
    out = capsys.readouterr().out
    assert "NOT REPRODUCED" in out and "model.onnx sha256 differs" in out
