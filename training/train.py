"""Training loops: PIQ23 fine-tuning (challenge protocol) and synthetic-defect pretraining.

``fit(TrainConfig)`` trains, evaluates after every epoch with the challenge metrics (per-scene
SRCC/PLCC/KRCC, medians, challenge score), and writes into ``out``:

* ``last.pt`` (resume with ``resume=out/last.pt``) and ``best.pt`` (best challenge score),
* ``history.json`` and ``learning_curve.png`` (loss and validation metrics per epoch),
* ``config.json`` (the resolved configuration) and, for PIQ23, ``predictions_val.csv`` (NTIRE
  format: ``culler evaluate`` scores it).

Mixed precision (bf16 autocast) and multi-GPU DDP (launch with ``torchrun``) are used only where
CUDA exists; on a CPU everything runs in fp32 in one process.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import math
import os
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import DataLoader

from engine.metrics import ChallengeMetrics, challenge_metrics
from training.architectures import (
    ModelConfig,
    config_from_dict,
    config_to_dict,
    model_config,
)
from training.data import DataError, Piq23Dataset, SceneBatchSampler, collate
from training.losses import LossSet
from training.networks import QualityModel

log = logging.getLogger("training")

# PIQ23 is not under a Creative Commons licence: DXOMARK's own Terms of Use apply (README of
# github.com/DXOMARK-Research/PIQ2023, "License" and "Important Notes"), quoted in PIQ23_TERMS.
PIQ23_LICENCE = (
    "PIQ23 Terms of Use (DXOMARK): non-commercial; limited, non-exclusive, personal, non-transferable, "
    "non-sublicensable and revocable licence for internal and research purposes only"
)
PIQ23_TERMS = (
    "Provided that the user complies with the Terms of Use, the provider grants a limited, non-exclusive, "
    "personal, non-transferable, non-sublicensable, and revocable license to access, download and use the "
    "Database for internal and research purposes only, during the specified term. The User is required to "
    "comply with the Provider's reasonable instructions, as well as all applicable statutes, laws, and "
    "regulations.",
    "All files in the PIQ23 dataset are available for non-commercial research purposes only.",
    "You agree not to reproduce, duplicate, copy, sell, trade, resell or exploit for any commercial purposes, "
    "any portion of the images and any portion of derived data.",
    "You agree to remove, throughout the life cycle of the dataset, any set of images following the request "
    "of the authors.",
)


@dataclass
class TrainConfig:
    mode: str = "piq23"  # "piq23" or "synthetic"
    arch: str = "hyperiqa"
    model: dict[str, Any] = field(default_factory=dict)  # overrides of the model config
    backbone: str | None = None
    backbone_weights: str | None = None  # file for large backbones (Swin-B, ViT-B/16, ConvNeXt)
    init: str | None = None  # checkpoint whose matching weights start the model (pretrain -> fine-tune)
    # PIQ23
    piq23: str | None = None  # the PIQ23 download (or a folder with scores/, splits/)
    images: str | None = None  # images root ({attribute}/{image}); default: the --piq23 folder
    split: str = "scene"
    attribute: str = "Overall"
    val_part: str = "Test"  # part of the split validated on when validation="test" ("Train" checks fitting)
    validation: str = "test"  # "test": select best.pt on val_part (upstream protocol: the NTIRE preliminary
    #                           test set); "scenes": hold out val_scenes training scenes and select on them
    val_scenes: int = 5  # training scenes held out when validation="scenes"
    select_on: str = "score"  # metric choosing best.pt and early stopping: score (challenge), srcc, plcc, krcc
    early_stop: int = 0  # stop after this many epochs without a better select_on value (0: never)
    tensorboard: bool = True  # also log to OUT/tensorboard when the tensorboard package is installed
    cache_dir: str | None = None  # prepared inputs and face crops (default: <out>/cache)
    # synthetic pretraining
    photos: list[str] = field(default_factory=list)  # extra folders of permissively licensed photos
    no_skimage: bool = False
    group_size: int = 4
    val_groups: int = 48
    # optimisation
    loss: str = "ssi+fidelity"
    scene_ce_weight: float = 0.1
    huber_delta: float = 1.0  # delta of the huber loss term
    fidelity_target: str = "gaussian"  # fidelity loss target: gaussian (Thurstone) or binary (PQE)
    bdvqa_lambda: float = 1.0  # weight of the rank hinge in the bdvqa loss
    attribute_weight: float = 1.0  # weight of the loss of each extra attribute head (model extra_attributes)
    epochs: int = 10
    steps_per_epoch: int | None = None
    scenes_per_batch: int = 4
    images_per_scene: int = 4
    lr: float = 3e-4
    backbone_lr_mult: float = 0.1
    weight_decay: float = 1e-4
    warmup_steps: int = 50
    freeze_backbone: float = 0.0  # fraction of the backbone's parameters (from the input side) frozen
    grad_clip: float = 5.0
    seed: int = 0
    amp: bool | str = "auto"  # bf16 autocast: "auto" (CUDA only), "bf16" (CPU too), "off"
    ddp_find_unused: bool | None = None  # DDP find_unused_parameters; None: when a head may get no gradient
    device: str = "auto"
    threads: int | None = None  # torch CPU threads (1 is fastest on a busy 2-core machine)
    workers: int = 0
    deterministic: bool = False  # torch.use_deterministic_algorithms(True) (and deterministic cuDNN): a run is bit-reproducible on one machine / torch build / thread count
    eval_batch: int = 16
    eval_at_start: bool = False
    max_minutes: float | None = None  # wall-clock stop (decided on rank 0's clock for every rank)
    max_steps: int | None = None  # stop after this many optimiser steps (reproducible; the LR schedule still spans all epochs)
    log_every: int = 10
    out: str = "runs/train"
    resume: str | None = None

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> TrainConfig:
        known = {f.name for f in dataclasses.fields(cls)}
        bad = sorted(k for k in d if k not in known)
        if bad:
            raise DataError(f"unknown config key{'s' if len(bad) > 1 else ''}: {', '.join(bad)}")
        return cls(**d)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclass
class Dist:
    rank: int = 0
    world: int = 1
    local_rank: int = 0

    @property
    def main(self) -> bool:
        return self.rank == 0


def _setup_distributed(device: torch.device) -> Dist:
    """Join the process group that ``torchrun`` set up: NCCL on CUDA, gloo on CPU."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1 or not torch.distributed.is_available():
        return Dist()
    local = int(os.environ.get("LOCAL_RANK", "0"))
    if device.type == "cuda":
        torch.cuda.set_device(local)
    if not torch.distributed.is_initialized():
        torch.distributed.init_process_group("nccl" if device.type == "cuda" else "gloo")
    return Dist(torch.distributed.get_rank(), world, local)


def _agree(flag: bool, dist: Dist, device: torch.device) -> bool:
    """True on every rank when ``flag`` is true on any rank (one all-reduce; a no-op alone)."""
    if dist.world <= 1:
        return flag
    t = torch.tensor([1.0 if flag else 0.0], device=device)
    torch.distributed.all_reduce(t, op=torch.distributed.ReduceOp.MAX)
    return bool(t.item() > 0)


def param_digest(model: torch.nn.Module) -> str:
    """sha256 of every parameter's bytes (name order): equal digests = identical parameters."""
    import hashlib

    h = hashlib.sha256()
    for name, p in sorted(model.named_parameters()):
        h.update(name.encode())
        h.update(p.detach().float().cpu().contiguous().numpy().tobytes())
    return h.hexdigest()


def pick_device(name: str) -> torch.device:
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))
        return torch.device("cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise DataError(f"device {name!r} requested but CUDA is not available")
    return torch.device(name)


def set_deterministic() -> None:
    """Deterministic kernels only (an op without one raises instead of silently varying), cuDNN
    without autotuning; cuBLAS needs CUBLAS_WORKSPACE_CONFIG before its first call.  On the CPU
    the training path already runs deterministic kernels, so this costs nothing there: what a CPU
    run still depends on is the torch build and the thread count (``--threads``)."""
    os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    torch.use_deterministic_algorithms(True)
    torch.backends.cudnn.benchmark = False
    torch.backends.cudnn.deterministic = True


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % (2**32))
    torch.manual_seed(seed)


def build_model_config(cfg: TrainConfig, scenes: list[str] | None = None) -> ModelConfig:
    over = dict(cfg.model)
    if cfg.backbone:
        over["backbone"] = cfg.backbone
    if cfg.backbone_weights:
        over["pretrained"] = cfg.backbone_weights
    mc = model_config(cfg.arch, **over)
    if hasattr(mc, "scenes") and scenes and not mc.scenes:
        mc = model_config(cfg.arch, **{**over, "scenes": tuple(scenes)})
    return mc


def load_matching(model: torch.nn.Module, state: dict[str, torch.Tensor]) -> tuple[int, int]:
    """Load tensors whose name and shape match; returns (loaded, total in model)."""
    own = model.state_dict()
    sub = {k: v for k, v in state.items() if k in own and own[k].shape == v.shape}
    model.load_state_dict(sub, strict=False)
    return len(sub), len(own)


def read_checkpoint(path: str | os.PathLike[str]) -> dict[str, Any]:
    p = Path(path)
    if not p.is_file():
        raise DataError(f"{p}: no such checkpoint")
    try:
        ck = torch.load(p, map_location="cpu", weights_only=False)
    except Exception as exc:  # noqa: BLE001
        raise DataError(f"cannot read checkpoint {p}: {exc}") from exc
    if not isinstance(ck, dict) or "model" not in ck or "model_config" not in ck:
        raise DataError(f"{p}: not a portrait-culler training checkpoint")
    return ck


def model_from_checkpoint(path: str | os.PathLike[str]) -> tuple[QualityModel, dict[str, Any]]:
    """Rebuild the model of a checkpoint (no backbone weights loaded first: the checkpoint has them)."""
    from training.architectures import create_model

    ck = read_checkpoint(path)
    mc = config_from_dict({**ck["model_config"], "pretrained": "none"})
    model = create_model(mc)
    model.load_state_dict(ck["model"])
    model.eval()
    return model, ck


def _param_groups(model: QualityModel, cfg: TrainConfig) -> list[dict[str, Any]]:
    bb_params: list[torch.nn.Parameter] = []
    for b in model.backbones():
        params = list(b.parameters())
        n_frozen = int(len(params) * min(max(cfg.freeze_backbone, 0.0), 1.0))
        for i, p in enumerate(params):
            p.requires_grad_(i >= n_frozen)
        bb_params.extend(p for p in params if p.requires_grad)
    bb_ids = {id(p) for b in model.backbones() for p in b.parameters()}
    head = [p for p in model.parameters() if id(p) not in bb_ids and p.requires_grad]
    groups = [{"params": head, "lr": cfg.lr}]
    if bb_params:
        groups.append({"params": bb_params, "lr": cfg.lr * cfg.backbone_lr_mult})
    return groups


def _attribute_loss(losses: LossSet, pred: torch.Tensor, target: torch.Tensor, groups: torch.Tensor) -> torch.Tensor:
    """The run's loss on every extra attribute head (images without that attribute's JOD left out)."""
    total = pred.new_zeros(())
    for k in range(pred.shape[1]):
        ok = torch.isfinite(target[:, k])
        if bool(ok.any()):
            total = total + losses({"score": pred[ok, k]}, target[ok, k], groups[ok])[0]
    return total


def _lr_lambda(warmup: int, total: int) -> Callable[[int], float]:
    def f(step: int) -> float:
        if step < warmup:
            return (step + 1) / max(1, warmup)
        t = (step - warmup) / max(1, total - warmup)
        return 0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi * min(1.0, t)))

    return f


@torch.no_grad()
def predict(
    model: torch.nn.Module, loader: DataLoader, device: torch.device, amp: bool = False
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Scores, targets, groups and indices of every item of ``loader`` (model in eval mode)."""
    was = model.training
    model.eval()
    preds, targets, groups, idx = [], [], [], []
    for batch in loader:
        inputs = {k: v.to(device, non_blocking=True) for k, v in batch["inputs"].items()}
        n_crops = max((v.shape[1] if v.dim() == 5 else 1) for v in inputs.values())
        if n_crops > 1:  # test-time crops (grid5): score every crop, average per image (as the runtime)
            inputs = {k: (v.flatten(0, 1) if v.dim() == 5 else v.repeat_interleave(n_crops, 0)) for k, v in inputs.items()}
        with _autocast(device, amp):
            out = model(inputs)
        score = out["score"].float()
        if n_crops > 1:
            score = score.reshape(-1, n_crops).mean(dim=1)
        preds.append(score.cpu().numpy())
        targets.append(batch["target"].numpy())
        groups.append(batch["group"].numpy())
        idx.append(batch["index"].numpy())
    model.train(was)
    return tuple(np.concatenate(a) for a in (preds, targets, groups, idx))  # type: ignore[return-value]


def amp_mode(amp: bool | str, device: torch.device) -> bool:
    """Whether bf16 autocast runs: ``"auto"`` (or True) on CUDA only, ``"bf16"`` on any device
    (CPU included), ``"off"`` (or False) never."""
    if amp is True or amp == "auto":
        return device.type == "cuda"
    if amp is False or amp == "off":
        return False
    if amp == "bf16":
        return True
    raise DataError(f"amp must be auto, bf16 or off, got {amp!r}")


def _autocast(device: torch.device, amp: bool) -> Any:
    if amp:
        return torch.autocast(device.type, dtype=torch.bfloat16)
    return torch.autocast(device.type if device.type in ("cpu", "cuda") else "cpu", enabled=False)


def evaluate_loader(model: torch.nn.Module, loader: DataLoader, device: torch.device, amp: bool = False) -> tuple[ChallengeMetrics, np.ndarray, np.ndarray]:
    p, t, g, idx = predict(model, loader, device, amp)
    names = getattr(loader.dataset, "scenes", None)  # PIQ23: report scenes by name
    labels = [names[int(k)] for k in g] if names else g
    return challenge_metrics(p, t, labels), p, idx


def hold_out_scenes(rows: list[Any], n: int, seed: int) -> tuple[list[Any], list[Any]]:
    """(train rows, validation rows): ``n`` whole scenes drawn with ``seed``, spread over the
    lighting conditions (round robin over conditions, so a 5-scene hold-out covers all four)."""
    by_cond: dict[str, list[str]] = {}
    for sc in sorted({r.scene for r in rows}):
        cond = next(r.condition for r in rows if r.scene == sc)
        by_cond.setdefault(cond, []).append(sc)
    rng = random.Random(seed)
    for v in by_cond.values():
        rng.shuffle(v)
    n_scenes = sum(len(v) for v in by_cond.values())
    if not 0 < n < n_scenes:
        raise DataError(f"val_scenes must be between 1 and {n_scenes - 1} (the split's Train part has {n_scenes} scenes)")
    chosen: list[str] = []
    conds = sorted(by_cond)
    while len(chosen) < n:
        for c in conds:
            if by_cond[c] and len(chosen) < n:
                chosen.append(by_cond[c].pop())
    held = set(chosen)
    return [r for r in rows if r.scene not in held], [r for r in rows if r.scene in held]


def _piq23_rows(cfg: TrainConfig) -> tuple[list[Any], list[Any]]:
    """Train rows and validation rows of the configured split (empty lists in synthetic mode);
    with ``validation="scenes"`` the validation rows are held-out training scenes."""
    from training import piq23

    if cfg.mode != "piq23":
        return [], []
    if not cfg.piq23:
        raise DataError("PIQ23 training needs --piq23 DIR (the PIQ23 download, or a folder with scores/ and splits/)")
    if cfg.validation not in ("test", "scenes"):
        raise DataError(f"validation must be test or scenes, got {cfg.validation!r}")
    if cfg.validation == "scenes":
        try:
            train = piq23.load_split(cfg.piq23 or "", cfg.split, "Train", cfg.attribute)
        except piq23.Piq23Error as exc:
            raise DataError(str(exc)) from None
        return hold_out_scenes(train, cfg.val_scenes, cfg.seed)
    try:
        return (
            piq23.load_split(cfg.piq23, cfg.split, "Train", cfg.attribute),
            piq23.load_split(cfg.piq23, cfg.split, cfg.val_part, cfg.attribute),
        )
    except piq23.Piq23Error as exc:
        raise DataError(str(exc)) from None


def _datasets(
    cfg: TrainConfig, mc: ModelConfig, scene_vocab: list[str], rows: tuple[list[Any], list[Any]]
) -> tuple[Any, Any, list[str]]:
    specs = mc.inputs()
    train: Any
    val: Any
    from training.synthetic import SyntheticRankGroups, folder_photos, skimage_photos

    if cfg.mode == "synthetic":
        photos = [] if cfg.no_skimage else skimage_photos()
        for d in cfg.photos:
            photos.extend(folder_photos(d))
        if not photos:
            raise DataError("no photos: drop --no-skimage or pass --photos DIR")
        steps = cfg.steps_per_epoch or 100
        train = SyntheticRankGroups(
            photos, specs, k=cfg.group_size, length=steps * cfg.scenes_per_batch, seed=cfg.seed
        )
        val = SyntheticRankGroups(photos, specs, k=max(cfg.group_size, 6), length=cfg.val_groups, seed=cfg.seed + 7919)
        prov = [f"synthetic defects on {p.name} ({p.licence})" for p in photos[:8]]
        if len(photos) > 8:
            prov.append(f"... and {len(photos) - 8} more photos")
        return train, val, prov
    tr_rows, te_rows = rows
    from training.piq23 import Piq23Error, images_root, load_split

    try:
        images = str(images_root(str(cfg.piq23), cfg.images))
    except Piq23Error as exc:
        raise DataError(str(exc)) from None
    cache = cfg.cache_dir or str(Path(cfg.out) / "cache")
    extra: list[dict[str, float]] = []
    for attr in getattr(mc, "extra_attributes", ()) or ():
        try:  # the same images' JODs of another attribute (the Train part of the same split)
            extra.append({r.image: r.jod for r in load_split(str(cfg.piq23), cfg.split, "Train", attr)})
        except Piq23Error as exc:
            raise DataError(str(exc)) from None
    train = Piq23Dataset(tr_rows, images, specs, cache_dir=cache, train=True, scene_vocab=scene_vocab,
                         train_crops=int(getattr(mc, "train_crops", 0)), seed=cfg.seed, extra_targets=extra)
    val = Piq23Dataset(te_rows, images, specs, cache_dir=cache, train=False, scene_vocab=scene_vocab)
    what = f"PIQ23 {cfg.split} split Train part, attribute {cfg.attribute} ({len(tr_rows)} images"
    if cfg.validation == "scenes":
        what += f"; {len({r.scene for r in te_rows})} of its scenes held out for validation"
        try:
            test_rows = load_split(str(cfg.piq23), cfg.split, "Test", cfg.attribute)
        except Piq23Error as exc:
            raise DataError(str(exc)) from None
        train.test_ds = Piq23Dataset(test_rows, images, specs, cache_dir=cache, train=False, scene_vocab=scene_vocab)
    prov = [f"{what}); {PIQ23_LICENCE}"]
    return train, val, prov


def get_rng_state() -> dict[str, Any]:
    """Every RNG training draws from: Python's (flips, crops), numpy's, torch's (CPU, CUDA)."""
    st: dict[str, Any] = {"python": random.getstate(), "numpy": np.random.get_state(), "torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        st["cuda"] = torch.cuda.get_rng_state_all()
    return st


def set_rng_state(st: Any) -> None:
    if st is None:
        return
    if isinstance(st, torch.Tensor):  # checkpoints before the full state: torch's only
        torch.set_rng_state(st)
        return
    random.setstate(st["python"])
    np.random.set_state(st["numpy"])
    torch.set_rng_state(st["torch"])
    if "cuda" in st and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(st["cuda"])


def _tensorboard(path: Path) -> Any:
    """A TensorBoard SummaryWriter when the ``tensorboard`` package is installed, else None."""
    try:
        import tensorboard  # noqa: F401
        from torch.utils.tensorboard import SummaryWriter
    except ImportError:
        return None
    return SummaryWriter(str(path))


HISTORY_COLUMNS = ["epoch", "step", "train_loss", "lr", "seconds"] + [
    f"{part}_{k}" for part in ("val", "test") for k in ("srcc", "plcc", "krcc", "score", "mae")
]


def write_history_csv(history: list[dict[str, Any]], path: Path) -> None:
    """One row per evaluated epoch (``HISTORY_COLUMNS``; empty cells where not measured)."""
    import csv

    tmp = path.with_suffix(".tmp")
    with open(tmp, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(HISTORY_COLUMNS)
        for h in history:
            row = [h.get(k, "") for k in HISTORY_COLUMNS[:5]]
            for part in ("val", "test"):
                m = h.get(part) or {}
                row += [m.get(k, "") for k in ("srcc", "plcc", "krcc", "score", "mae")]
            w.writerow(["" if v is None else v for v in row])
    os.replace(tmp, path)


def plot_history(history: list[dict[str, Any]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ep = [h["epoch"] for h in history]
    fig, ax1 = plt.subplots(figsize=(7, 4))
    tl = [(h["epoch"], h["train_loss"]) for h in history if h.get("train_loss") is not None]
    if tl:
        ax1.plot(*zip(*tl), "o-", color="tab:red", label="train loss")
    ax1.set_xlabel("epoch")
    ax1.set_ylabel("train loss", color="tab:red")
    ax2 = ax1.twinx()
    for key, color in (("srcc", "tab:blue"), ("plcc", "tab:green"), ("score", "black")):
        ax2.plot(ep, [h["val"][key] for h in history], "s-" if key == "score" else ".--", color=color, label=f"val {key}")
    ax2.set_ylabel("validation (median over scenes)")
    ax2.set_ylim(-1, 1)
    lines = ax1.get_legend_handles_labels()[0] + ax2.get_legend_handles_labels()[0]
    labels = ax1.get_legend_handles_labels()[1] + ax2.get_legend_handles_labels()[1]
    ax1.legend(lines, labels, loc="lower right", fontsize=8)
    ax1.set_title("learning curve")
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


def fit(cfg: TrainConfig, progress: Callable[[str], None] = print) -> dict[str, Any]:
    """Train according to ``cfg``; returns {"best": metrics dict, "history": [...], "checkpoint": path}."""
    from training.architectures import create_model

    if cfg.mode not in ("piq23", "synthetic"):
        raise DataError(f"unknown mode {cfg.mode!r}")
    if cfg.select_on not in ("score", "srcc", "plcc", "krcc"):
        raise DataError(f"select_on must be score, srcc, plcc or krcc, got {cfg.select_on!r}")
    if cfg.threads:
        torch.set_num_threads(int(cfg.threads))
    if cfg.deterministic:
        set_deterministic()
    device = pick_device(cfg.device)
    dist = _setup_distributed(device)
    if dist.world > 1 and device.type == "cuda":
        device = torch.device("cuda", dist.local_rank)
    seed_everything(cfg.seed + dist.rank)
    out = Path(cfg.out)
    if dist.main:
        out.mkdir(parents=True, exist_ok=True)

    resume_ck = read_checkpoint(cfg.resume) if cfg.resume else None
    rows = _piq23_rows(cfg)
    scene_vocab = sorted({r.scene for r in rows[0]})
    if resume_ck is not None:
        mc = config_from_dict({**resume_ck["model_config"], "pretrained": "none"})
    else:
        mc = build_model_config(cfg, scene_vocab)
    if getattr(mc, "scenes", None):
        scene_vocab = list(getattr(mc, "scenes", ()))
    model = create_model(mc)
    init = read_checkpoint(cfg.init) if cfg.init and resume_ck is None else None
    if init is not None:
        n, total = load_matching(model, init["model"])
        progress(f"init: {n} of {total} tensors from {cfg.init}")
    model.to(device)
    train_ds, val_ds, provenance = _datasets(cfg, mc, scene_vocab, rows)
    if resume_ck is not None:
        provenance = list(resume_ck.get("training_data", provenance))
    elif init is not None:
        provenance = list(init.get("training_data", [])) + provenance

    gen = torch.Generator()
    gen.manual_seed(cfg.seed)
    workers = max(0, cfg.workers)
    if cfg.mode == "synthetic":
        train_loader = DataLoader(
            train_ds, batch_size=cfg.scenes_per_batch, shuffle=False, num_workers=workers, collate_fn=collate
        )
        val_loader = DataLoader(val_ds, batch_size=max(1, cfg.eval_batch // val_ds.k), num_workers=workers, collate_fn=collate)
        sampler = None
    else:
        sampler = SceneBatchSampler(
            train_ds.groups, cfg.scenes_per_batch, cfg.images_per_scene, seed=cfg.seed,
            rank=dist.rank, world_size=dist.world, batches_per_epoch=cfg.steps_per_epoch,
        )
        train_loader = DataLoader(train_ds, batch_sampler=sampler, num_workers=workers, collate_fn=collate)
        val_loader = DataLoader(val_ds, batch_size=cfg.eval_batch, shuffle=False, num_workers=workers, collate_fn=collate)

    steps_per_epoch = len(train_loader)
    total_steps = steps_per_epoch * cfg.epochs
    opt = torch.optim.AdamW(_param_groups(model, cfg), lr=cfg.lr, weight_decay=cfg.weight_decay)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, _lr_lambda(cfg.warmup_steps, total_steps))
    losses = LossSet(cfg.loss, cfg.scene_ce_weight, cfg.huber_delta, cfg.fidelity_target, cfg.bdvqa_lambda)
    amp = amp_mode(cfg.amp, device)
    net: torch.nn.Module = model
    if dist.world > 1:
        find_unused = cfg.ddp_find_unused
        if find_unused is None:  # the scene classifier gets no gradient without its cross-entropy
            find_unused = bool(getattr(model, "has_scene_head", False)) and cfg.scene_ce_weight <= 0
        net = torch.nn.parallel.DistributedDataParallel(
            model, device_ids=[dist.local_rank] if device.type == "cuda" else None, find_unused_parameters=find_unused
        )

    history: list[dict[str, Any]] = []
    best = -math.inf
    start_epoch, step = 1, 0
    if resume_ck is not None:
        model.load_state_dict(resume_ck["model"])
        opt.load_state_dict(resume_ck["optimizer"])
        sched.load_state_dict(resume_ck["scheduler"])
        history = list(resume_ck.get("history", []))
        best = float(resume_ck.get("best_score", -math.inf))
        start_epoch = int(resume_ck["epoch"]) + 1
        step = int(resume_ck["step"])
        set_rng_state(resume_ck.get("rng"))
        stale = sorted(k for k, v in config_to_dict(build_model_config(cfg, list(getattr(mc, "scenes", ()) or ()))).items()
                       if cfg.model and k in cfg.model and v != config_to_dict(mc).get(k))
        if stale:
            raise DataError(f"--resume keeps the checkpoint's model; these options differ from it: {', '.join(stale)}")
        progress(f"resumed from {cfg.resume} at epoch {start_epoch}")
    # where the weights came from: on resume the model was rebuilt without its initial weights
    weights_sources = list(resume_ck.get("weights_sources", [])) if resume_ck is not None else model.weights_sources()
    if init is not None and init.get("weights_sources"):
        weights_sources = sorted(set(weights_sources) | set(init["weights_sources"]))
    test_ds = getattr(train_ds, "test_ds", None)
    test_loader = (
        DataLoader(test_ds, batch_size=cfg.eval_batch, shuffle=False, num_workers=workers, collate_fn=collate)
        if test_ds is not None else None
    )
    tb = _tensorboard(out / "tensorboard") if (cfg.tensorboard and dist.main) else None
    since_best = int(resume_ck.get("since_best", 0)) if resume_ck is not None else 0

    def save(path: Path, epoch: int, val: ChallengeMetrics, preds: np.ndarray) -> None:
        lo, hi = (float(np.percentile(preds, 1)), float(np.percentile(preds, 99))) if preds.size else (0.0, 1.0)
        ck = {
            "model": model.state_dict(),
            "model_config": config_to_dict(mc),
            "train_config": cfg.to_dict(),
            "optimizer": opt.state_dict(),
            "scheduler": sched.state_dict(),
            "epoch": epoch,
            "step": step,
            "history": history,
            "best_score": best,
            "metrics": val.to_dict(),
            "training_data": provenance,
            "non_commercial": cfg.mode == "piq23" or any("PIQ23" in p for p in provenance),
            "score_range": [lo, hi],
            "weights_sources": weights_sources,
            "rng": get_rng_state(),
            "since_best": since_best,
            "select_on": cfg.select_on,
        }
        tmp = path.with_suffix(".tmp")
        torch.save(ck, tmp)
        os.replace(tmp, path)

    if dist.main:
        (out / "config.json").write_text(json.dumps({"train": cfg.to_dict(), "model": config_to_dict(mc)}, indent=2, default=str))
        progress(
            f"{cfg.arch} ({mc.backbone}; {', '.join(weights_sources)}) on {device}: "
            f"{len(train_ds)} train items, {len(val_ds)} val items, {steps_per_epoch} steps/epoch x {cfg.epochs} epochs"
        )
        if cfg.mode == "piq23" and cfg.validation == "test":
            progress(
                f"note: best.pt is chosen on the {cfg.split} split's {cfg.val_part} part (upstream protocol; the scene "
                "split's Test part is the NTIRE 2024 preliminary test set); --validation scenes holds out training scenes"
            )
        if cfg.eval_at_start and resume_ck is None:
            m0, _, _ = evaluate_loader(model, val_loader, device, amp)
            history.append({"epoch": 0, "step": 0, "train_loss": None, "val": m0.to_dict(digits=6) | {"scenes": {}}})
            progress(f"epoch 0 (untrained): {m0.summary()}")

    t_start = time.time()
    stopped_early, stop_reason = False, ""
    epoch = start_epoch - 1
    for epoch in range(start_epoch, cfg.epochs + 1):
        if cfg.max_steps and step >= cfg.max_steps:
            break
        if sampler is not None:
            sampler.set_epoch(epoch)
        if hasattr(train_ds, "set_epoch"):
            train_ds.set_epoch(epoch)
        net.train()
        run_loss, n_loss, t_ep = 0.0, 0, time.time()
        for bi, batch in enumerate(train_loader):
            inputs = {k: v.to(device, non_blocking=True) for k, v in batch["inputs"].items()}
            target = batch["target"].to(device)
            groups = batch["group"].to(device)
            labels = batch["scene_label"].to(device)
            with _autocast(device, amp):
                out_d = net(inputs, scene=labels if (labels >= 0).any() else None)
            loss, _parts = losses(out_d, target, groups, labels)
            if "attributes" in out_d and "extra_target" in batch:
                loss = loss + cfg.attribute_weight * _attribute_loss(losses, out_d["attributes"], batch["extra_target"].to(device), groups)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            if cfg.grad_clip > 0:
                torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
            opt.step()
            sched.step()
            step += 1
            run_loss += float(loss.detach())
            n_loss += 1
            if dist.main and cfg.log_every and (bi + 1) % cfg.log_every == 0:
                el = time.time() - t_ep
                ips = (bi + 1) * len(target) / max(el, 1e-9)
                eta = (steps_per_epoch - bi - 1) * el / (bi + 1)
                progress(f"epoch {epoch} step {bi + 1}/{steps_per_epoch}  loss {run_loss / n_loss:.4f}  {ips:.1f} img/s  epoch ETA {eta:.0f}s")
            if cfg.max_steps and step >= cfg.max_steps:
                stopped_early, stop_reason = True, f"stopped after {step} steps (max_steps)"
                break
            if cfg.max_minutes and _agree(dist.main and (time.time() - t_start) / 60 > cfg.max_minutes, dist, device):
                stopped_early, stop_reason = True, f"stopped after {cfg.max_minutes} minutes (max_minutes)"
                break
        stop_now = False
        if dist.main:
            val, preds, idx = evaluate_loader(model, val_loader, device, amp)
            rec: dict[str, Any] = {
                "epoch": epoch, "step": step, "train_loss": run_loss / max(1, n_loss),
                "lr": float(opt.param_groups[0]["lr"]), "seconds": round(time.time() - t_ep, 1), "val": val.to_dict(),
            }
            if test_loader is not None:
                rec["test"] = evaluate_loader(model, test_loader, device, amp)[0].to_dict()
            history.append(rec)
            value = float(getattr(val, cfg.select_on))
            improved = value > best
            if improved:
                best, since_best = value, 0
            else:
                since_best += 1
            save(out / "last.pt", epoch, val, preds)
            if improved:
                save(out / "best.pt", epoch, val, preds)
                if cfg.mode == "piq23":
                    from training.piq23 import write_predictions

                    write_predictions(out / "predictions_val.csv", {val_ds.rows[int(i)].image: float(p) for p, i in zip(preds, idx)})
            (out / "history.json").write_text(json.dumps(history, indent=1))
            write_history_csv(history, out / "history.csv")
            if tb is not None:
                for k in ("srcc", "plcc", "krcc", "score", "mae"):
                    tb.add_scalar(f"val/{k}", rec["val"][k], step)
                    if "test" in rec:
                        tb.add_scalar(f"test/{k}", rec["test"][k], step)
                tb.add_scalar("train/loss", rec["train_loss"], step)
                tb.add_scalar("train/lr", rec["lr"], step)
                tb.flush()
            try:
                plot_history(history, out / "learning_curve.png")
            except Exception as exc:  # noqa: BLE001 - a plot must never stop training
                log.warning("learning curve not written: %s", exc)
            test_txt = f"  test score {rec['test']['score']:.4f}" if "test" in rec else ""
            progress(f"epoch {epoch}: train loss {rec['train_loss']:.4f}  val {val.summary()}{test_txt}{'  *best*' if improved else ''}")
            if cfg.early_stop and since_best >= cfg.early_stop:
                stop_now = True
        if _agree(stop_now, dist, device) and not stopped_early:
            stopped_early = True
            stop_reason = f"early stop: no better val {cfg.select_on} for {cfg.early_stop} epochs"
        if stopped_early:
            progress(stop_reason)
            break
    if tb is not None:
        tb.close()
    digest = param_digest(model)
    if dist.world > 1:
        torch.distributed.barrier()
        torch.distributed.destroy_process_group()
    best_rec = max((h for h in history if h["epoch"] > 0), key=lambda h: h["val"][cfg.select_on], default=None)
    return {
        "best": best_rec["val"] if best_rec else None,
        "best_epoch": best_rec["epoch"] if best_rec else None,
        "test": best_rec.get("test") if best_rec else None,
        "history": history,
        "checkpoint": str(out / "best.pt"),
        "last": str(out / "last.pt"),
        "epochs_run": epoch - start_epoch + 1,
        "steps": step,
        "rank": dist.rank,
        "param_digest": digest,
    }
