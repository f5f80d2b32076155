"""Multi-process training on CPU: ``torchrun`` with the gloo backend (as CI runs it on 2 cores),
and bf16 autocast on CPU."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

torch = pytest.importorskip("torch", reason="torch is not installed (training extra)")
pytest.importorskip("timm", reason="timm is not installed (training extra)")

from training.architectures import tiny_overrides  # noqa: E402
from training.train import TrainConfig, fit  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]


def _tiny(arch: str) -> dict[str, object]:
    o = tiny_overrides(arch)
    o.pop("scenes", None)
    return {k: list(v) if isinstance(v, tuple) else v for k, v in o.items()}


@pytest.mark.skipif(not torch.distributed.is_available(), reason="torch built without distributed support")
def test_two_process_gloo_ddp_ends_with_identical_parameters(tiny_piq23: Path, tmp_path: Path) -> None:
    """SEM-HyperIQA with --scene-ce-weight 0 (its scene head gets no gradient: DDP needs
    find_unused_parameters) and a --max-minutes budget that only rank 0's (fast) clock exceeds,
    after its 2nd step: the stop is agreed by all-reduce, so on two gloo processes both ranks
    stop at the same step (no hang) and end with bit-identical parameters."""
    cfg = {
        "arch": "sem_hyperiqa", "model": _tiny("sem_hyperiqa"), "piq23": str(tiny_piq23), "out": str(tmp_path / "run"),
        "epochs": 2, "steps_per_epoch": 4, "scenes_per_batch": 2, "images_per_scene": 2, "scene_ce_weight": 0.0,
        "max_minutes": 2.5, "log_every": 0, "device": "cpu", "threads": 1, "loss": "l1",
    }
    cfg_file = tmp_path / "cfg.json"
    cfg_file.write_text(json.dumps(cfg))
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1", "DDP_TEST_FAST_CLOCK": "0"}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
           str(ROOT / "tests" / "training" / "ddp_worker.py"), str(cfg_file), str(tmp_path)]
    out = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=240)
    assert out.returncode == 0, out.stderr[-3000:]
    r0, r1 = (json.loads((tmp_path / f"rank{r}.json").read_text()) for r in (0, 1))
    # rank 0's clock reads +1 min per call (epoch start, then one check per step): over 2.5 min at step 2
    assert r0["steps"] == r1["steps"] == 2  # of 2 epochs x (4 batches / 2 ranks)
    assert r0["digest"] == r1["digest"]
    ck = torch.load(tmp_path / "run" / "last.pt", weights_only=False)
    assert ck["epoch"] == 1 and ck["step"] == 2


def test_bf16_autocast_on_cpu(tiny_piq23: Path, tmp_path: Path) -> None:
    """--amp bf16 runs the forward pass in bfloat16 on a CPU (it was silently fp32 before)."""
    from training import train as train_mod

    seen: list[torch.dtype] = []
    orig = train_mod.LossSet.__call__

    def spy(self, out, *a, **k):  # type: ignore[no-untyped-def]
        seen.append(out["score"].dtype)
        return orig(self, out, *a, **k)

    train_mod.LossSet.__call__ = spy  # type: ignore[method-assign]
    try:
        cfg = TrainConfig(arch="hyperiqa", model=_tiny("hyperiqa"), piq23=str(tiny_piq23), out=str(tmp_path / "r"),
                          epochs=1, steps_per_epoch=2, scenes_per_batch=2, images_per_scene=4, log_every=0,
                          device="cpu", amp="bf16")
        res = fit(cfg, progress=lambda s: None)
    finally:
        train_mod.LossSet.__call__ = orig  # type: ignore[method-assign]
    assert seen and all(d == torch.bfloat16 for d in seen)
    assert res["steps"] == 2 and res["best"] is not None
    assert train_mod.amp_mode("auto", torch.device("cpu")) is False
    assert train_mod.amp_mode(True, torch.device("cuda")) is True
