"""One rank of the 2-process DDP test (``torchrun --nproc_per_node 2 ddp_worker.py CONFIG OUT``):
trains with ``training.train.fit`` and writes its parameter digest to ``OUT/rank{RANK}.json``."""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

import torch

from training import train as train_mod
from training.train import TrainConfig, fit

torch.set_num_threads(1)
if os.environ.get("DDP_TEST_FAST_CLOCK") == os.environ.get("RANK"):
    # this rank's clock runs a minute per reading: only it finds --max-minutes exceeded
    class _FastClock:
        def __init__(self) -> None:
            self.t = time.time()

        def time(self) -> float:
            self.t += 60.0
            return self.t

    train_mod.time = _FastClock()  # type: ignore[assignment]
cfg = TrainConfig.from_dict(json.loads(Path(sys.argv[1]).read_text()))
res = fit(cfg, progress=lambda s: None)
Path(sys.argv[2], f"rank{res['rank']}.json").write_text(
    json.dumps({"digest": res["param_digest"], "steps": res["steps"], "epochs": res["epochs_run"]})
)
