"""Model registry in the style of timm: ``create_model(name, **overrides)``.

One config dataclass per model says everything a pack needs to run it: backbone, input size and
patching (test-time crops), normalisation, outputs, score direction and licence.

=============  =====================================================================  ============
name           model                                                                  inputs
=============  =====================================================================  ============
hyperiqa       HyperIQA: content-aware hypernetwork generating a target MLP per image  image
sem_hyperiqa   SEM-HyperIQA: + scene classifier, per-scene rescaling a_s q + b_s       image
fhiqa          FULL-HyperIQA: rescaling by the whole scene-probability vector          image
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

from engine.models.pack import PackInput

if TYPE_CHECKING:
    from training.models import QualityModel

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
    mosaic: int = 4  # N x N mini-patches at full resolution tiled into one input of input_size
    hidden: int = 256
    description: str = (
        "Global + local model (NTIRE 2024 Xidian RQ-Net style): downsampled frame and a mosaic of "
        "full-resolution mini-patches through one shared backbone"
    )

    def inputs(self) -> list[PackInput]:
        return [
            *super().inputs(),
            PackInput("mosaic", "image", _hw(self.input_size), self.mean, self.std, f"mosaic:{self.mosaic}"),
        ]

    def validate(self) -> None:
        super().validate()
        h, w = self.input_size
        if self.mosaic < 1 or h % self.mosaic or w % self.mosaic:
            raise ConfigError(f"{self.name}: input_size {h}x{w} must be divisible by mosaic={self.mosaic}")


@dataclass
class FaceGateConfig(FaceFullConfig):
    hidden: int = 128
    description: str = "Face/global gating (NTIRE 2024 SYSU entry style): a learned gate weights face and global scores"


@dataclass(frozen=True)
class _Entry:
    config_cls: type[ModelConfig]
    model: str  # class name in training.models


_REGISTRY: dict[str, _Entry] = {
    "hyperiqa": _Entry(HyperIQAConfig, "HyperIQA"),
    "sem_hyperiqa": _Entry(SemHyperIQAConfig, "HyperIQA"),
    "fhiqa": _Entry(FHIQAConfig, "HyperIQA"),
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
    """Build a model by registry name (or from a config), timm style."""
    from training import models

    cfg = name if isinstance(name, ModelConfig) else model_config(name, **overrides)
    if isinstance(name, ModelConfig) and overrides:
        cfg = config_from_dict({**config_to_dict(name), **overrides})
    cls = getattr(models, _REGISTRY[cfg.name].model)
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
    if issubclass(_REGISTRY[name].config_cls, FaceFullConfig):
        o.update(face_size=(48, 48), hidden=16)
    if name == "global_local":
        o.update(hidden=16, mosaic=4)
    return o
