"""The portrait quality networks (torch).  Build them with ``training.architectures.create_model``.

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

from training.architectures import (
    FaceFullConfig,
    FaceGateConfig,
    GlobalLocalConfig,
    HyperIQAConfig,
    HyperIQAPiq23Config,
    ModelConfig,
    SceneHyperIQAConfig,
    SemHyperIQAPiq23Config,
)
from training.backbones import Backbone

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


def _kaiming(module: nn.Module) -> None:
    """He-normal weights, zero biases on every Linear / Conv2d (upstream HyperIQA's init)."""
    for m in module.modules():
        if isinstance(m, (nn.Linear, nn.Conv2d)):
            nn.init.kaiming_normal_(m.weight)
            if m.bias is not None:
                nn.init.zeros_(m.bias)


def _mlp_relu(d_in: int, hidden: int, n_hidden: int, d_out: int) -> nn.Sequential:
    """Linear(d_in, hidden), ReLU, ``n_hidden`` x [Linear(hidden, hidden), ReLU], Linear(hidden, d_out)."""
    layers: list[nn.Module] = [nn.Linear(d_in, hidden), nn.ReLU()]
    for _ in range(n_hidden):
        layers += [nn.Linear(hidden, hidden), nn.ReLU()]
    layers.append(nn.Linear(hidden, d_out))
    seq = nn.Sequential(*layers)
    _kaiming(seq)
    return seq


def _adaptive_pool_matrix(n_in: int, n_out: int) -> torch.Tensor:
    """(n_in, n_out) averaging matrix with AdaptiveAvgPool1d's bins (exportable for any n_out)."""
    m = torch.zeros(n_in, n_out)
    for j in range(n_out):
        a = (j * n_in) // n_out
        b = -((-(j + 1) * n_in) // n_out)  # ceil
        m[a:b, j] = 1.0 / (b - a)
    return m


class UpstreamHyperIQA(QualityModel):
    """HyperIQA, SEM-HyperIQA and FHIQA as in DXOMARK's PIQ2023 code, written for a dynamic ONNX
    batch (batched matmuls instead of grouped convolutions; same arithmetic).

    * LDA (local distortion-aware) branch: stages 1-3 -> 1x1 conv (16/32/64, no bias) -> 7x7 average
      pooling -> Linear(..., 16); stage 4 -> 7x7 pooling -> Linear(..., 224r - 48); concatenated:
      the target network's input (224r).
    * Hyper features: stage 4 -> 1x1 convs 2048 -> 1024 -> 512 -> 112r (ReLU) on a 7r x 7r grid;
      3x3 convs generate the weights of target layers 1-4 (reshaped as upstream), Linears on the
      pooled hyper features their biases and the last layer.
    * Target network: sigmoid after layers 1-4, none after the last.
    * SEM / FHIQA: ``SceneClassNet`` on the hyper features pooled to 1 x class_cells, ``RescaleNet``
      -> (a, b), Q = a q + b (see ``SemHyperIQAPiq23Config``).
    """

    def __init__(self, cfg: HyperIQAPiq23Config) -> None:
        super().__init__(cfg)
        self.backbone = Backbone(cfg.backbone, cfg.pretrained, cfg.input_size, cfg.backbone_kwargs)
        size = int(cfg.input_size[0])
        red = self.backbone.reductions[-4:]
        chans = self.backbone.channels[-4:]
        if list(red) != [4, 8, 16, 32]:
            raise ValueError(f"{cfg.backbone}: the upstream HyperIQA needs stages at strides 4, 8, 16, 32, got {red}")
        self.n_stages = len(self.backbone.channels)
        tdims = cfg.target_dims
        t_in, hyper = tdims[0], cfg.hyper_channels
        grid = size // 32
        self.grid = grid
        pools = [(size // r) // cfg.lda_pool for r in red]
        self.lda = nn.ModuleList()
        for k in range(3):
            self.lda.append(
                nn.Sequential(
                    nn.Conv2d(chans[k], cfg.lda_channels[k], 1, bias=False),
                    nn.AvgPool2d(cfg.lda_pool, cfg.lda_pool),
                    nn.Flatten(1),
                    nn.Linear(cfg.lda_channels[k] * pools[k] ** 2, cfg.lda_out),
                )
            )
        self.lda.append(
            nn.Sequential(
                nn.AvgPool2d(cfg.lda_pool, cfg.lda_pool), nn.Flatten(1), nn.Linear(chans[3] * pools[3] ** 2, t_in - 3 * cfg.lda_out)
            )
        )
        stack: list[nn.Module] = []
        c = chans[3]
        for w in (*cfg.hyper_stack, hyper):
            stack += [nn.Conv2d(c, w, 1), nn.ReLU(inplace=True)]
            c = w
        self.hyper = nn.Sequential(*stack)
        self.layer_dims = list(zip(tdims[:-1], tdims[1:]))  # (in, out) of the 5 target layers
        cells = grid * grid
        for i, o in self.layer_dims[:-1]:
            if (i * o) % cells:
                raise ValueError(f"target layer {i}x{o} is not divisible by the {grid}x{grid} hyper grid")
        self.weight_gen = nn.ModuleList(nn.Conv2d(hyper, i * o // cells, 3, padding=1) for i, o in self.layer_dims[:-1])
        self.bias_gen = nn.ModuleList(nn.Linear(hyper, o) for _, o in self.layer_dims)
        self.n_out = self.layer_dims[-1][1]  # 1 + extra attribute heads
        self.last_weight = nn.Linear(hyper, self.layer_dims[-1][0] * self.n_out)
        for m in (*self.lda, *self.weight_gen, *self.bias_gen, self.last_weight):
            _kaiming(m)
        self.scene_mode = ""
        if isinstance(cfg, SemHyperIQAPiq23Config):
            self.scene_mode = cfg.scene_mode
            n = cfg.n_scenes
            self.register_buffer("class_pool", _adaptive_pool_matrix(grid, cfg.class_cells), persistent=False)
            self.scene_head = _mlp_relu(hyper * cfg.class_cells, cfg.class_hidden, cfg.class_layers - 2, n)
            self.rescale = _mlp_relu(n, cfg.rescale_hidden, cfg.rescale_layers - 1, 2)
            self.topk = min(cfg.topk, n)
            self.register_buffer("eye", torch.eye(n), persistent=False)

    def quality(self, feats: list[torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
        f = feats[-4:]
        v = torch.cat([lda(x) for lda, x in zip(self.lda, f)], dim=1)  # (B, 224r)
        hf = self.hyper(f[3])  # (B, 112r, 7r, 7r)
        pooled = hf.mean(dim=(2, 3))
        h = v.unsqueeze(1)
        for j, (i, o) in enumerate(self.layer_dims):
            if j < len(self.weight_gen):
                w = self.weight_gen[j](hf).flatten(1).reshape(-1, o, i)  # upstream's .view(-1, f_out, f_in)
            else:
                w = self.last_weight(pooled).reshape(-1, o, i)
            h = torch.bmm(h, w.transpose(1, 2)) + self.bias_gen[j](pooled).unsqueeze(1)
            if j < len(self.layer_dims) - 1:
                h = torch.sigmoid(h)
        h = h.reshape(-1, self.n_out)
        self._extra = h[:, 1:] if self.n_out > 1 else None
        return h[:, 0], hf

    def forward(self, inputs: Batch, scene: torch.Tensor | None = None) -> Batch:
        out = self._forward(inputs, scene)
        if self._extra is not None:  # Details / Exposure heads (training only; the pack exports the score)
            out["attributes"] = self._extra
        return out

    def _forward(self, inputs: Batch, scene: torch.Tensor | None = None) -> Batch:
        feats = self.backbone(inputs["image"])
        q, hf = self.quality(feats)
        if not self.scene_mode:
            return {"score": q}
        # SceneClassNet input: hyper features averaged over rows and over class_cells column bins
        pool: torch.Tensor = self.class_pool  # type: ignore[assignment]
        cls_in = torch.matmul(hf.mean(dim=2), pool).flatten(1)
        logits = self.scene_head(cls_in)
        prob = torch.softmax(logits, dim=1)
        if self.scene_mode == "sem":  # class feedback: RescaleNet reads the predicted distribution
            ab = self.rescale(prob)
            score = ab[:, 0] * q + ab[:, 1]
        else:
            table = self.rescale(self.eye)  # (S, 2): a_s, b_s of every scene's one-hot
            top_p, top_i = torch.topk(prob, self.topk, dim=1)
            top_p = top_p / top_p.sum(dim=1, keepdim=True)
            a, b = table[:, 0][top_i], table[:, 1][top_i]
            score = (top_p * (a * q.unsqueeze(1) + b)).sum(dim=1)
            if scene is not None and self.training:  # training: the ground-truth scene's one-hot
                known = scene >= 0
                s = scene.clamp(min=0)
                gt = table[:, 0][s] * q + table[:, 1][s]
                score = torch.where(known, gt, score)
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
