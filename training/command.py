"""``culler train``: the training module's sub-command, registered in the
``portrait_culler.commands`` entry-point group.

Everything after ``culler train`` is handed to ``training.cli`` (``python -m training``); torch,
timm and the other training dependencies are imported only then (``pip install
'portrait-culler[train]'``).  This module itself imports nothing heavy: ``culler --help`` loads it.
"""

from __future__ import annotations

import argparse
import importlib.util
import sys

HELP = "train, pretrain, evaluate and export portrait quality models (needs the [train] extra)"
DESCRIPTION = """\
Train portrait quality models on PIQ23 or on synthetic defects, and export them as model packs.
Commands (run `culler train COMMAND --help`):

  train               train / fine-tune on PIQ23 with the official splits and challenge metrics
  pretrain-synthetic  RankIQA-style pretraining on defects applied to permissive photos
  predict             NTIRE-format predictions (IMAGE,SCORE) of a checkpoint on a PIQ23 split
  export              checkpoint -> ONNX model pack (torch/onnxruntime parity-checked)
  make-tiny           write a tiny dataset in the PIQ23 layout
  models              list the architectures

Example (SEM-HyperIQA on the scene split, see docs/training.md):
  culler train train --arch sem_hyperiqa --piq23 PIQ23 --images PIQ23 --out runs/sem
"""


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("args", nargs=argparse.REMAINDER, help="command and options of the training module")


def run(args: argparse.Namespace) -> int:
    missing = [m for m in ("torch", "timm") if importlib.util.find_spec(m) is None]
    if missing:
        print(
            f"culler train: {' and '.join(missing)} {'are' if len(missing) > 1 else 'is'} not installed; "
            "install the training extra: pip install 'portrait-culler[train]'",
            file=sys.stderr,
        )
        return 2
    from training.cli import main

    return main(args.args, prog="culler train")
