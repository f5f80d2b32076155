"""The shipped default pack's model card: its commands run from a checkout (no machine-specific
paths), stop on a step count rather than a wall-clock cap, and match the manifest's record."""

from __future__ import annotations

import json
import re
from pathlib import Path

PACK = Path(__file__).resolve().parents[2] / "resources" / "models" / "portrait-lite-synth"


def _card_commands() -> list[str]:
    card = (PACK / "MODEL_CARD.md").read_text()
    block = re.search(r"```(?:sh)?\n(python -m training pretrain-synthetic.*?)```", card, re.S)
    assert block, "no command block in the card"
    joined = block.group(1).replace("\\\n", " ")  # backslash-continued lines
    return [" ".join(line.split()) for line in joined.strip().splitlines() if line.strip()]


def test_card_commands_are_reproducible_from_a_checkout() -> None:
    cmds = _card_commands()
    text = (PACK / "MODEL_CARD.md").read_text()
    assert "/work/" not in text and "bench/out/" not in text
    assert cmds[0].startswith("python -m training pretrain-synthetic") and "--max-steps 80" in cmds[0]
    assert "--max-minutes" not in cmds[0]
    assert any(c.startswith("python -m training export runs/portrait-lite-synth/best.pt") for c in cmds)
    manifest = json.loads((PACK / "manifest.json").read_text())
    assert manifest["extra"]["commands"] == [c for c in cmds if c.startswith("python -m training")]


def test_card_arguments_are_training_options() -> None:
    """Every option of the card's training command is one the CLI accepts (so it runs as written)."""
    from training.cli import build_parser

    cmd = _card_commands()[0].split()[3:]  # after "python -m training"
    args = build_parser().parse_args(cmd)
    assert args.max_steps == 80 and args.arch == "global_local" and args.backbone == "mobilenetv2_100"
    # nothing left to chance or to the machine: seed, the CPU, one thread, no loader process, deterministic kernels
    assert args.seed == 0 and args.device == "cpu" and args.threads == 1 and args.workers == 0 and args.deterministic is True


def test_card_records_the_reproduction_of_the_shipped_weights() -> None:
    """The card names scripts/reproduce-default-pack and the sha256 of the model it reproduced,
    which is the shipped model.onnx; the export command makes the manifest's version."""
    card = (PACK / "MODEL_CARD.md").read_text()
    manifest = json.loads((PACK / "manifest.json").read_text())
    assert "scripts/reproduce-default-pack" in card
    sha = manifest["files"]["model.onnx"]
    assert sha in card.replace("\n", "")
    export = next(c for c in _card_commands() if c.startswith("python -m training export"))
    assert f"--version {manifest['version']}" in export and f"{manifest['name']} {manifest['version']}" in card
