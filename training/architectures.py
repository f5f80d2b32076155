"""The architecture table in the style of timm: ``create_model(name, **overrides)``.

One config dataclass per model says everything a pack needs to run it: backbone, input size and
patching (test-time crops), normalisation, outputs, score direction and licence.

=============  =====================================================================  ============
name           model                                                                  inputs
=============  =====================================================================  ============
hyperiqa       HyperIQA lite: content-aware hypernetwork generating a target MLP per      image
               image (any timm backbone, narrow, 1/sqrt(fan-in) scaled)
sem_hyperiqa   SEM-HyperIQA lite: + linear scene head, per-scene a_s q + b_s            image
fhiqa          FULL-HyperIQA: rescaling by the whole scene-probability vector          image
hyperiqa_piq23 HyperIQA as upstream PIQ23 ran it: ResNet-50 at 224*r (1344), widths x r  image
sem_hyperiqa_  SEM-HyperIQA as upstream: + SceneClassNet, class-feedback RescaleNet     image
piq23
fhiqa_piq23    FHIQA as upstream: GT one-hot rescaling in training, top-k at inference  image
face_full      two branches (full frame, face crop), features fused by an MLP         image, face
global_local   downsampled global view + mosaic of full-resolution mini-patches,      image, mosaic
               one shared backbone
face_gate      face score and global score weighted by a learned gate                 image, face
=============  =====================================================================  ============

``tiny_overrides(name)`` gives a config small enough for unit tests on a CPU.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from engine.packs.pack import PackInput

if TYPE_CHECKING:
    from training.networks import QualityModel

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def _hw(size: tuple[int, ...] | list[int]) -> tuple[int, int]:
    return int(size[0]), int(size[1])


class ConfigError(Exception):
    """A model config that cannot be built; the message is user-facing."""


@dataclass
class ModelConfig:
    name: str = ""
    backbone: str = "efficientnet_lite0"
    pretrained: str = "auto"  # "auto" | "package" | "none" | path to a timm state dict
    backbone_kwargs: dict[str, Any] = field(default_factory=dict)
    input_size: tuple[int, int] = (224, 224)  # (height, width) of the whole-frame input
    mean: tuple[float, float, float] = IMAGENET_MEAN
    std: tuple[float, float, float] = IMAGENET_STD
    direction: str = "higher_is_better"
    output: str = "score"  # ONNX output name; the score is a JOD-like value
    licence: str = "Apache-2.0"  # of the weights when trained on permissive data only
    dropout: float = 0.1
    description: str = ""

    def inputs(self) -> list[PackInput]:
        """Model inputs as pack inputs (ONNX input name, kind, size, normalisation, crops)."""
        return [PackInput("image", "image", _hw(self.input_size), self.mean, self.std, "full")]

    @property
    def n_scenes(self) -> int:
        return 0

    def validate(self) -> None:
        if len(self.input_size) != 2 or min(self.input_size) < 16:
            raise ConfigError(f"{self.name}: input_size must be (height, width) >= 16, got {self.input_size}")
        if self.direction not in ("higher_is_better", "lower_is_better"):
            raise ConfigError(f"{self.name}: direction must be higher_is_better or lower_is_better")


@dataclass
class HyperIQAConfig(ModelConfig):
    stages: int = 4  # last backbone stages feeding the local distortion-aware (LDA) vector
    lda_channels: int = 16
    lda_pool: int = 4  # spatial grid kept per stage before the LDA fc (largest divisor <= this)
    lda_dims: tuple[int, ...] = (16, 32, 64, 112)  # sum = target network input size
    hyper_channels: int = 112
    hyper_grid: int = 7  # spatial grid of the hyper features generating the target weights
    target_dims: tuple[int, ...] = (112, 56, 28, 14)  # hidden sizes of the target network
    description: str = "HyperIQA (Su et al., CVPR 2020): a hypernetwork generates the quality MLP per image"

    def validate(self) -> None:
        super().validate()
        if len(self.lda_dims) != self.stages:
            raise ConfigError(f"{self.name}: lda_dims needs one size per stage ({self.stages}), got {self.lda_dims}")
        if not self.target_dims:
            raise ConfigError(f"{self.name}: target_dims must not be empty")


@dataclass
class SceneHyperIQAConfig(HyperIQAConfig):
    scenes: tuple[str, ...] = ()  # scene names of the classifier (filled from the training data)
    scene_mode: str = "hard"  # "hard": a_s q + b_s of the (given or predicted) scene; "soft": FHIQA

    @property
    def n_scenes(self) -> int:
        return max(1, len(self.scenes))

    def validate(self) -> None:
        super().validate()
        if self.scene_mode not in ("hard", "soft"):
            raise ConfigError(f"{self.name}: scene_mode must be hard or soft")


@dataclass
class SemHyperIQAConfig(SceneHyperIQAConfig):
    scene_mode: str = "hard"
    description: str = "SEM-HyperIQA (PIQ23 baseline): HyperIQA + scene classifier, per-scene a_s q + b_s"


@dataclass
class FHIQAConfig(SceneHyperIQAConfig):
    scene_mode: str = "soft"
    description: str = (
        "FULL-HyperIQA: HyperIQA rescaled by the scene-probability vector, Q = sum P_i (a_i q + b_i) / sum P_i"
    )


@dataclass
class HyperIQAPiq23Config(ModelConfig):
    """Upstream HyperIQA as DXOMARK ran it on PIQ23 (``SemHyperIQA(1344)`` of PIQ2023's
    ``src/models/archs``): a ResNet-50 whose input is ``224 * r`` pixels square and every width of
    the hypernetwork scaled by ``r`` (r = 6 at 1344): LDA vector ``224r`` (16 + 16 + 16 + rest),
    hyper features ``112r`` channels from a 1x1 conv stack 2048 -> 1024 -> 512 -> 112r on a
    ``7r x 7r`` grid, target network ``224r -> 112r -> 56r -> 28r -> 14r -> 1`` with sigmoids,
    generated weights used as they come (no 1/sqrt(fan-in) scaling)."""

    backbone: str = "resnet50"
    input_size: tuple[int, int] = (1344, 1344)
    lda_out: int = 16  # LDA outputs of stages 1-3; stage 4 gets the rest of the target input
    lda_channels: tuple[int, int, int] = (16, 32, 64)  # 1x1 convs of stages 1-3 before the 7x7 pooling
    lda_pool: int = 7
    hyper_stack: tuple[int, ...] = (1024, 512)  # 1x1 convs between the last stage and the hyper features
    crops: str = "full"  # test-time crops of the image input ("grid5": corner + centre crops, averaged)
    train_crops: int = 0  # > 0: train on random input-size crops (this many per image, cached), HyperIQA style
    extra_attributes: tuple[str, ...] = ()  # more heads of the target network, e.g. ("Details", "Exposure")
    description: str = "HyperIQA as upstream PIQ23 (ResNet-50, 224*r input, widths scaled by r = input / 224)"

    @property
    def rate(self) -> int:
        return int(self.input_size[0]) // 224

    @property
    def target_dims(self) -> tuple[int, ...]:
        r = self.rate
        return (224 * r, 112 * r, 56 * r, 28 * r, 14 * r, 1 + len(self.extra_attributes))

    @property
    def hyper_channels(self) -> int:
        return 112 * self.rate

    def inputs(self) -> list[PackInput]:
        return [PackInput("image", "image", _hw(self.input_size), self.mean, self.std, self.crops)]

    def validate(self) -> None:
        super().validate()
        h, w = self.input_size
        if h != w or h % 224:
            raise ConfigError(
                f"{self.name}: the upstream HyperIQA needs a square input that is a multiple of 224 "
                f"(224 * r, e.g. 1344 = 224 x 6), got {h}x{w}"
            )
        bad = [a for a in self.extra_attributes if a not in ("Overall", "Details", "Exposure")]
        if bad:
            raise ConfigError(f"{self.name}: extra_attributes must be among Overall, Details, Exposure, got {bad}")
        if self.crops not in ("full", "center", "grid5"):
            raise ConfigError(f"{self.name}: crops must be full, center or grid5")
        if self.train_crops < 0 or (self.train_crops and self.crops == "full"):
            raise ConfigError(f"{self.name}: train_crops (random crops) needs crops grid5 or center at test time")


@dataclass
class SemHyperIQAPiq23Config(HyperIQAPiq23Config):
    """SEM-HyperIQA: + ``SceneClassNet`` (an MLP of ``class_layers`` Linear layers, ``class_hidden``
    wide) on the hyper features pooled to ``1 x class_pool`` cells, and ``RescaleNet`` (MLP,
    ``rescale_hidden`` wide, ``rescale_layers`` hidden layers, 2 outputs a, b): Q = a q + b.
    ``scene_mode`` "sem": RescaleNet reads the classifier's softmax (class feedback) in training
    and at inference; "fhiqa": RescaleNet reads the ground-truth one-hot in training and, at
    inference, the top-``topk`` classes, Q = sum_k P_k (a_k q + b_k) / sum_k P_k."""

    scenes: tuple[str, ...] = ()
    scene_mode: str = "sem"
    class_pool: int = 1  # 0 = one cell per scene (upstream FHIQA's AdaptiveAvgPool2d((1, numClasses)))
    class_hidden: int = 500
    class_layers: int = 3
    rescale_hidden: int = 100
    rescale_layers: int = 3
    topk: int = 3
    description: str = "SEM-HyperIQA (PIQ23 baseline): upstream HyperIQA + SceneClassNet + class-feedback RescaleNet"

    @property
    def n_scenes(self) -> int:
        return max(1, len(self.scenes))

    @property
    def class_cells(self) -> int:
        return self.class_pool if self.class_pool > 0 else self.n_scenes

    def validate(self) -> None:
        super().validate()
        if self.scene_mode not in ("sem", "fhiqa"):
            raise ConfigError(f"{self.name}: scene_mode must be sem or fhiqa")
        if self.class_layers < 2 or self.rescale_layers < 1 or self.topk < 1:
            raise ConfigError(f"{self.name}: class_layers >= 2, rescale_layers >= 1 and topk >= 1 are needed")


@dataclass
class FHIQAPiq23Config(SemHyperIQAPiq23Config):
    scene_mode: str = "fhiqa"
    class_pool: int = 0
    description: str = (
        "FULL-HyperIQA (FHIQA, PIQ23 baseline): upstream HyperIQA + SceneClassNet; RescaleNet on the "
        "ground-truth scene in training, top-k soft rescaling at inference"
    )


@dataclass
class FaceFullConfig(ModelConfig):
    face_size: tuple[int, int] = (224, 224)
    face_backbone: str = ""  # "" = same as backbone
    hidden: int = 256
    description: str = "Two-branch face + full image model (NTIRE 2024 SJTU entry style), MLP fusion"

    def inputs(self) -> list[PackInput]:
        return [
            *super().inputs(),
            PackInput("face", "face", _hw(self.face_size), self.mean, self.std, "full"),
        ]


@dataclass
class GlobalLocalConfig(ModelConfig):
    mosaic: int = 4  # N x N mini-patches at full resolution tiled into one input of input_size (RQ-Net: 7)
    hidden: int = 256
    train_crops: int = 0  # > 0: train on this many random mosaics per image (RQ-Net's random mini-patches)
    image_crops: str = "full"  # test-time crops of the global view: full, or grid5 (5 crops averaged)
    description: str = (
        "Global + local model (NTIRE 2024 Xidian RQ-Net style): downsampled frame and a mosaic of "
        "full-resolution mini-patches through one shared backbone"
    )

    def inputs(self) -> list[PackInput]:
        return [
            PackInput("image", "image", _hw(self.input_size), self.mean, self.std, self.image_crops),
            PackInput("mosaic", "image", _hw(self.input_size), self.mean, self.std, f"mosaic:{self.mosaic}"),
        ]

    def validate(self) -> None:
        super().validate()
        h, w = self.input_size
        if self.mosaic < 1 or h % self.mosaic or w % self.mosaic:
            raise ConfigError(f"{self.name}: input_size {h}x{w} must be divisible by mosaic={self.mosaic}")
        if self.image_crops not in ("full", "grid5") or self.train_crops < 0:
            raise ConfigError(f"{self.name}: image_crops must be full or grid5 and train_crops >= 0")


@dataclass
class FaceGateConfig(FaceFullConfig):
    hidden: int = 128
    description: str = "Face/global gating (NTIRE 2024 SYSU entry style): a learned gate weights face and global scores"


@dataclass(frozen=True)
class _Entry:
    config_cls: type[ModelConfig]
    model: str  # class name in training.networks


_REGISTRY: dict[str, _Entry] = {
    "hyperiqa": _Entry(HyperIQAConfig, "HyperIQA"),
    "sem_hyperiqa": _Entry(SemHyperIQAConfig, "HyperIQA"),
    "fhiqa": _Entry(FHIQAConfig, "HyperIQA"),
    "hyperiqa_piq23": _Entry(HyperIQAPiq23Config, "UpstreamHyperIQA"),
    "sem_hyperiqa_piq23": _Entry(SemHyperIQAPiq23Config, "UpstreamHyperIQA"),
    "fhiqa_piq23": _Entry(FHIQAPiq23Config, "UpstreamHyperIQA"),
    "face_full": _Entry(FaceFullConfig, "FaceFull"),
    "global_local": _Entry(GlobalLocalConfig, "GlobalLocal"),
    "face_gate": _Entry(FaceGateConfig, "FaceGate"),
}


def list_models() -> list[str]:
    return list(_REGISTRY)


def _coerce(cls: type[ModelConfig], key: str, value: Any) -> Any:
    f = {f.name: f for f in dataclasses.fields(cls)}[key]
    t = str(f.type)
    if isinstance(value, list) and "tuple" in t:
        return tuple(value)
    if isinstance(value, int) and not isinstance(value, bool) and t == "float":
        return float(value)
    return value


def model_config(name: str, **overrides: Any) -> ModelConfig:
    """The config of model ``name`` with ``overrides`` applied (unknown keys are an error)."""
    entry = _REGISTRY.get(name)
    if entry is None:
        raise ConfigError(f"unknown model {name!r}; available: {', '.join(_REGISTRY)}")
    known = {f.name for f in dataclasses.fields(entry.config_cls)}
    bad = sorted(k for k in overrides if k not in known)
    if bad:
        raise ConfigError(f"{name}: unknown option{'s' if len(bad) > 1 else ''} {', '.join(bad)} (known: {', '.join(sorted(known))})")
    kw = {k: _coerce(entry.config_cls, k, v) for k, v in overrides.items() if v is not None}
    cfg = entry.config_cls(name=name, **kw)
    cfg.validate()
    return cfg


def config_to_dict(cfg: ModelConfig) -> dict[str, Any]:
    d = dataclasses.asdict(cfg)
    return {k: list(v) if isinstance(v, tuple) else v for k, v in d.items()}


def config_from_dict(d: dict[str, Any]) -> ModelConfig:
    d = dict(d)
    name = d.pop("name", None)
    if not name:
        raise ConfigError("model config without a name")
    return model_config(str(name), **d)


def create_model(name: str | ModelConfig, **overrides: Any) -> QualityModel:
    """Build a model by architecture name (or from a config), timm style."""
    from training import networks

    cfg = name if isinstance(name, ModelConfig) else model_config(name, **overrides)
    if isinstance(name, ModelConfig) and overrides:
        cfg = config_from_dict({**config_to_dict(name), **overrides})
    cls = getattr(networks, _REGISTRY[cfg.name].model)
    model: QualityModel = cls(cfg)
    return model


def tiny_overrides(name: str) -> dict[str, Any]:
    """Overrides that make ``name`` tiny (random-init timm test backbone, 64 px) for fast tests."""
    if name not in _REGISTRY:
        raise ConfigError(f"unknown model {name!r}")
    o: dict[str, Any] = {"backbone": "test_efficientnet", "pretrained": "none", "input_size": (64, 64)}
    if issubclass(_REGISTRY[name].config_cls, HyperIQAConfig):
        o.update(lda_channels=8, lda_dims=(8, 8, 8, 8), lda_pool=2, hyper_channels=16, hyper_grid=2, target_dims=(16, 8))
    if issubclass(_REGISTRY[name].config_cls, SceneHyperIQAConfig):
        o.update(scenes=("a", "b", "c"))
    if issubclass(_REGISTRY[name].config_cls, HyperIQAPiq23Config):
        o = {"backbone": "test_resnet", "pretrained": "none", "input_size": (224, 224), "hyper_stack": (32,)}
        if issubclass(_REGISTRY[name].config_cls, SemHyperIQAPiq23Config):
            o.update(scenes=("a", "b", "c"), class_hidden=16, rescale_hidden=8, topk=2)
    if issubclass(_REGISTRY[name].config_cls, FaceFullConfig):
        o.update(face_size=(48, 48), hidden=16)
    if name == "global_local":
        o.update(hidden=16, mosaic=4)
    return o
