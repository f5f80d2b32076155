"""The portrait quality models (torch).  Build them with ``training.registry.create_model``.

Every model takes a dict of NCHW float tensors named as its config's ``inputs()`` (``image``,
``face``, ``mosaic``) and returns a dict with ``score`` (B,) and, for the scene-aware HyperIQAs,
``scene_logits`` (B, S).  Everything is written so that the ONNX export has a dynamic batch:
fixed pooling kernels (the input size is fixed per model) and batched matmuls for the
per-image target network of HyperIQA.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from training.backbones import Backbone
from training.registry import (
    FaceFullConfig,
    FaceGateConfig,
    GlobalLocalConfig,
    HyperIQAConfig,
    ModelConfig,
    SceneHyperIQAConfig,
)

Batch = dict[str, torch.Tensor]


def _divisor_at_most(n: int, k: int) -> int:
    return max(d for d in range(1, max(1, min(n, k)) + 1) if n % d == 0)


def _feature_shapes(backbone: Backbone, size: tuple[int, int]) -> list[tuple[int, int]]:
    was = backbone.training
    backbone.eval()
    with torch.no_grad():
        feats = backbone(torch.zeros(1, 3, int(size[0]), int(size[1])))
    backbone.train(was)
    return [(int(f.shape[-2]), int(f.shape[-1])) for f in feats]


def _pool_to(hw: tuple[int, int], grid: int) -> tuple[nn.AvgPool2d, int, int]:
    """A fixed AvgPool2d bringing an (h, w) map to a (gh, gw) grid with gh, gw <= grid."""
    gh, gw = _divisor_at_most(hw[0], grid), _divisor_at_most(hw[1], grid)
    k = (hw[0] // gh, hw[1] // gw)
    return nn.AvgPool2d(k, k), gh, gw


def _mlp(d_in: int, hidden: int, dropout: float, d_out: int = 1) -> nn.Sequential:
    return nn.Sequential(nn.Linear(d_in, hidden), nn.GELU(), nn.Dropout(dropout), nn.Linear(hidden, d_out))


class QualityModel(nn.Module):
    """Base: keeps the config; ``forward(inputs, scene=None) -> {"score": (B,), ...}``."""

    config: ModelConfig

    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        self.config = cfg

    @property
    def input_names(self) -> list[str]:
        return [i.name for i in self.config.inputs()]

    def backbones(self) -> list[Backbone]:
        return [m for m in self.modules() if isinstance(m, Backbone)]

    @property
    def has_scene_head(self) -> bool:
        """A scene classifier that only its cross-entropy trains (DDP needs to know)."""
        return isinstance(getattr(self, "scene_head", None), nn.Module)

    def weights_sources(self) -> list[str]:
        return sorted({f"{b.name}: {b.weights_source}" for b in self.backbones()})

    def forward(self, inputs: Batch, scene: torch.Tensor | None = None) -> Batch:  # pragma: no cover
        raise NotImplementedError


class HyperIQA(QualityModel):
    """HyperIQA with optional scene head (SEM-HyperIQA ``hard``, FULL-HyperIQA ``soft``).

    Backbone stages -> local distortion-aware (LDA) vector v (the target network's input).
    Last stage -> hyper features -> per-image weights and biases of the target MLP, applied with
    ``torch.bmm`` (sigmoid between layers) -> quality q.
    """

    def __init__(self, cfg: HyperIQAConfig) -> None:
        super().__init__(cfg)
        self.backbone = Backbone(cfg.backbone, cfg.pretrained, cfg.input_size, cfg.backbone_kwargs)
        shapes = _feature_shapes(self.backbone, cfg.input_size)
        n = len(shapes)
        stages = min(cfg.stages, n)
        self.stage_idx = list(range(n - stages, n))
        lda_dims = list(cfg.lda_dims)[-stages:]
        self.lda = nn.ModuleList()
        for i, d in zip(self.stage_idx, lda_dims):
            pool, gh, gw = _pool_to(shapes[i], cfg.lda_pool)
            self.lda.append(
                nn.Sequential(
                    nn.Conv2d(self.backbone.channels[i], cfg.lda_channels, 1),
                    pool,
                    nn.Flatten(1),
                    nn.Linear(cfg.lda_channels * gh * gw, d),
                )
            )
        c_last = self.backbone.channels[-1]
        pool, gh, gw = _pool_to(shapes[-1], cfg.hyper_grid)
        self.hyper = nn.Sequential(
            nn.Conv2d(c_last, cfg.hyper_channels, 1), nn.ReLU(inplace=True), pool
        )
        cells = gh * gw
        dims = [sum(lda_dims), *cfg.target_dims, 1]
        self.layer_dims = list(zip(dims[:-1], dims[1:]))
        self.weight_gen = nn.ModuleList(
            nn.Conv2d(cfg.hyper_channels, math.ceil(i * o / cells), 3, padding=1) for i, o in self.layer_dims
        )
        self.bias_gen = nn.ModuleList(nn.Linear(cfg.hyper_channels, o) for _, o in self.layer_dims)
        self.scene_mode = ""
        if isinstance(cfg, SceneHyperIQAConfig):
            self.scene_mode = cfg.scene_mode
            s = cfg.n_scenes
            self.scene_head = nn.Sequential(nn.Dropout(cfg.dropout), nn.Linear(c_last, s))
            self.scene_a = nn.Parameter(torch.ones(s))
            self.scene_b = nn.Parameter(torch.zeros(s))

    def quality(self, feats: list[torch.Tensor]) -> torch.Tensor:
        v = torch.cat([lda(feats[i]) for lda, i in zip(self.lda, self.stage_idx)], dim=1)
        hf = self.hyper(feats[-1])
        pooled = hf.mean(dim=(2, 3))
        h = v.unsqueeze(1)  # (B, 1, in)
        last = len(self.layer_dims) - 1
        for j, ((i, o), wg, bg) in enumerate(zip(self.layer_dims, self.weight_gen, self.bias_gen)):
            # generated weights scaled by 1/sqrt(fan-in) (as a Linear layer's init): no saturated sigmoids
            w = wg(hf).flatten(1)[:, : i * o].reshape(-1, o, i) * (1.0 / math.sqrt(i))
            h = torch.bmm(h, w.transpose(1, 2)) + bg(pooled).unsqueeze(1)
            if j < last:
                h = torch.sigmoid(h)
        return h.reshape(-1)

    def forward(self, inputs: Batch, scene: torch.Tensor | None = None) -> Batch:
        feats = self.backbone(inputs["image"])
        q = self.quality(feats)
        if not self.scene_mode:
            return {"score": q}
        logits = self.scene_head(feats[-1].mean(dim=(2, 3)))
        if self.scene_mode == "soft":
            p = torch.softmax(logits, dim=1)
        else:
            top = logits.max(dim=1, keepdim=True).values
            p = (logits >= top).to(q.dtype)
            if scene is not None:  # training: the known scene where there is one (-1 = unknown)
                known = scene >= 0
                given = torch.nn.functional.one_hot(scene.clamp(min=0), logits.shape[1]).to(q.dtype)
                p = torch.where(known.unsqueeze(1), given, p)
        rescaled = self.scene_a.unsqueeze(0) * q.unsqueeze(1) + self.scene_b.unsqueeze(0)
        score = (p * rescaled).sum(dim=1) / p.sum(dim=1).clamp(min=1e-6)
        return {"score": score, "scene_logits": logits, "raw_score": q}


class FaceFull(QualityModel):
    """Full-frame branch and face branch (own backbones); pooled features fused by an MLP."""

    def __init__(self, cfg: FaceFullConfig) -> None:
        super().__init__(cfg)
        self.backbone = Backbone(cfg.backbone, cfg.pretrained, cfg.input_size, cfg.backbone_kwargs)
        self.face_backbone = Backbone(
            cfg.face_backbone or cfg.backbone, cfg.pretrained, cfg.face_size, cfg.backbone_kwargs
        )
        d = self.backbone.channels[-1] + self.face_backbone.channels[-1]
        self.head = _mlp(d, cfg.hidden, cfg.dropout)

    def forward(self, inputs: Batch, scene: torch.Tensor | None = None) -> Batch:
        g = self.backbone(inputs["image"])[-1].mean(dim=(2, 3))
        f = self.face_backbone(inputs["face"])[-1].mean(dim=(2, 3))
        return {"score": self.head(torch.cat([g, f], dim=1)).reshape(-1)}


class GlobalLocal(QualityModel):
    """One backbone shared by the downsampled global view and the full-resolution mosaic."""

    def __init__(self, cfg: GlobalLocalConfig) -> None:
        super().__init__(cfg)
        self.backbone = Backbone(cfg.backbone, cfg.pretrained, cfg.input_size, cfg.backbone_kwargs)
        c = self.backbone.channels[-1]
        self.head = _mlp(2 * c, cfg.hidden, cfg.dropout)

    def forward(self, inputs: Batch, scene: torch.Tensor | None = None) -> Batch:
        b = inputs["image"].shape[0]
        both = torch.cat([inputs["image"], inputs["mosaic"]], dim=0)  # one backbone pass
        f = self.backbone(both)[-1].mean(dim=(2, 3))
        g, local = f[:b], f[b:]
        return {"score": self.head(torch.cat([g, local], dim=1)).reshape(-1)}


class FaceGate(QualityModel):
    """Face score and global score, mixed by a learned gate g: q = g * s_face + (1 - g) * s_global."""

    def __init__(self, cfg: FaceGateConfig) -> None:
        super().__init__(cfg)
        self.backbone = Backbone(cfg.backbone, cfg.pretrained, cfg.input_size, cfg.backbone_kwargs)
        self.face_backbone = Backbone(
            cfg.face_backbone or cfg.backbone, cfg.pretrained, cfg.face_size, cfg.backbone_kwargs
        )
        cg, cf = self.backbone.channels[-1], self.face_backbone.channels[-1]
        self.global_head = _mlp(cg, cfg.hidden, cfg.dropout)
        self.face_head = _mlp(cf, cfg.hidden, cfg.dropout)
        self.gate = _mlp(cg + cf, cfg.hidden, cfg.dropout)

    def forward(self, inputs: Batch, scene: torch.Tensor | None = None) -> Batch:
        g = self.backbone(inputs["image"])[-1].mean(dim=(2, 3))
        f = self.face_backbone(inputs["face"])[-1].mean(dim=(2, 3))
        s_g = self.global_head(g).reshape(-1)
        s_f = self.face_head(f).reshape(-1)
        gate = torch.sigmoid(self.gate(torch.cat([g, f], dim=1))).reshape(-1)
        return {"score": gate * s_f + (1 - gate) * s_g, "gate": gate}


class ScoreOnly(nn.Module):
    """Export wrapper: positional inputs in the config's order -> the score tensor (B,)."""

    def __init__(self, model: QualityModel) -> None:
        super().__init__()
        self.model = model
        self.names = model.input_names

    def forward(self, *xs: torch.Tensor) -> torch.Tensor:
        return self.model(dict(zip(self.names, xs)))["score"]
