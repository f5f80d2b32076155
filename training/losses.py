"""Losses for portrait quality regression on scene-grouped batches.

Every loss takes predictions ``pred`` (B,), targets ``target`` (B,) and ``groups`` (B,) integer scene
ids of the batch; pairwise and scale-shift-invariant losses only compare images of the same scene
(PIQ23 JODs are comparable within a scene only).

* ``mse``, ``l1``, ``huber``: plain regression.
* ``ssi``: scale-shift-invariant loss: per scene, q -> (q - median) / mean|q - median| for the
  prediction and the target, then L1 (mean over the images of scenes with >= 2 images).
* ``fidelity``: on every same-scene pair, p_hat = Phi((q_x - q_y) / sqrt 2) against
  p = Phi((t_x - t_y) / sqrt 2) (``fidelity_target="gaussian"``, JODs as Thurstone scores) or
  1 / 0.5 / 0 (``"binary"``); loss 1 - sqrt(p p_hat) - sqrt((1 - p)(1 - p_hat)), mean over pairs.
* ``rank``: pairwise hinge max(0, margin - sign(t_x - t_y) (q_x - q_y)) over same-scene pairs
  with different targets (RankIQA); ``rank_mse`` = rank + MSE (this project's hinge, fixed
  margin 0.5: not BDVQA's loss).
* ``bdvqa``: BDVQA's merged rank + MSE loss (MSTRIQ style, NTIRE 2024 survey eq. 3 as read
  here): MSE + lambda * mean over ordered same-scene pairs of
  max(0, |t_x - t_y| - sign(t_x - t_y) (q_x - q_y)), the margin being the JOD difference itself.
* ``huber``: Huber with a configurable delta (SAR's choice; ``LossSet(huber_delta=...)``).
* ``fidelity``'s target is selectable: ``fidelity_target="gaussian"`` (Thurstone probability of
  the JOD difference) or ``"binary"`` (1 / 0.5 / 0, as PQE).
* ``scene_ce``: cross-entropy of the scene classifier of SEM-HyperIQA / FHIQA (label -1 ignored).

``LossSet("ssi+0.5*fidelity")`` combines them; it adds ``scene_ce`` when the model returns scene
logits and ``scene_ce_weight`` > 0.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

import torch
import torch.nn.functional as F

_EPS = 1e-6
SQRT2 = math.sqrt(2.0)


def mse_loss(pred: torch.Tensor, target: torch.Tensor, groups: torch.Tensor | None = None) -> torch.Tensor:
    return F.mse_loss(pred, target)


def l1_loss(pred: torch.Tensor, target: torch.Tensor, groups: torch.Tensor | None = None) -> torch.Tensor:
    return F.l1_loss(pred, target)


def huber_loss(
    pred: torch.Tensor, target: torch.Tensor, groups: torch.Tensor | None = None, delta: float = 1.0
) -> torch.Tensor:
    return F.huber_loss(pred, target, delta=delta)


def ssi_normalise(x: torch.Tensor) -> torch.Tensor:
    """(x - median) / mean|x - median| (true median: mean of the two middle values for even n)."""
    med = torch.quantile(x, 0.5)
    d = x - med
    return d / (d.abs().mean() + _EPS)


def _group_masks(groups: torch.Tensor, min_size: int = 2) -> list[torch.Tensor]:
    return [groups == g for g in torch.unique(groups) if int((groups == g).sum()) >= min_size]


def ssi_loss(pred: torch.Tensor, target: torch.Tensor, groups: torch.Tensor) -> torch.Tensor:
    """Scale-shift-invariant L1, per scene; mean over the images of scenes with >= 2 images."""
    parts = [
        (ssi_normalise(pred[m]) - ssi_normalise(target[m])).abs() for m in _group_masks(groups)
    ]
    if not parts:
        return pred.sum() * 0.0
    return torch.cat(parts).mean()


def _pairs(groups: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    same = groups.unsqueeze(0) == groups.unsqueeze(1)
    upper = torch.ones_like(same).triu(diagonal=1)
    i, j = torch.nonzero(same & upper, as_tuple=True)
    return i, j


def phi(x: torch.Tensor) -> torch.Tensor:
    """Standard normal CDF."""
    return 0.5 * (1.0 + torch.erf(x / SQRT2))


def fidelity_loss(
    pred: torch.Tensor, target: torch.Tensor, groups: torch.Tensor, fidelity_target: str = "gaussian"
) -> torch.Tensor:
    i, j = _pairs(groups)
    if i.numel() == 0:
        return pred.sum() * 0.0
    p_hat = phi((pred[i] - pred[j]) / SQRT2)
    dt = target[i] - target[j]
    if fidelity_target == "binary":
        p = (torch.sign(dt) + 1.0) / 2.0
    else:
        p = phi(dt / SQRT2)
    loss = 1.0 - torch.sqrt(p * p_hat + 1e-8) - torch.sqrt((1.0 - p) * (1.0 - p_hat) + 1e-8)
    return loss.mean()


def rank_loss(
    pred: torch.Tensor, target: torch.Tensor, groups: torch.Tensor, margin: float = 0.5
) -> torch.Tensor:
    i, j = _pairs(groups)
    s = torch.sign(target[i] - target[j])
    keep = s != 0
    if not bool(keep.any()):
        return pred.sum() * 0.0
    return F.relu(margin - s[keep] * (pred[i][keep] - pred[j][keep])).mean()


def rank_mse_loss(pred: torch.Tensor, target: torch.Tensor, groups: torch.Tensor) -> torch.Tensor:
    return rank_loss(pred, target, groups) + mse_loss(pred, target)


def bdvqa_rank_loss(pred: torch.Tensor, target: torch.Tensor, groups: torch.Tensor) -> torch.Tensor:
    """mean over ordered same-scene pairs x != y of max(0, |t_x - t_y| - sign(t_x - t_y)(q_x - q_y))."""
    same = groups.unsqueeze(0) == groups.unsqueeze(1)
    same = same & ~torch.eye(len(groups), dtype=torch.bool, device=groups.device)
    if not bool(same.any()):
        return pred.sum() * 0.0
    dt = target.unsqueeze(1) - target.unsqueeze(0)
    dq = pred.unsqueeze(1) - pred.unsqueeze(0)
    h = F.relu(dt.abs() - torch.sign(dt) * dq)
    return h[same].mean()


def bdvqa_loss(pred: torch.Tensor, target: torch.Tensor, groups: torch.Tensor, lam: float = 1.0) -> torch.Tensor:
    """BDVQA's merged loss: MSE + lambda * the JOD-margin rank hinge (``bdvqa_rank_loss``)."""
    return mse_loss(pred, target) + lam * bdvqa_rank_loss(pred, target, groups)


def scene_ce_loss(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    if not bool((labels >= 0).any()):
        return logits.sum() * 0.0
    return F.cross_entropy(logits, labels, ignore_index=-1)


LOSSES = {
    "mse": mse_loss,
    "l1": l1_loss,
    "huber": huber_loss,
    "ssi": ssi_loss,
    "fidelity": fidelity_loss,
    "rank": rank_loss,
    "rank_mse": rank_mse_loss,
    "bdvqa": bdvqa_loss,
}


class LossSpecError(ValueError):
    pass


def parse_loss_spec(spec: str) -> list[tuple[str, float]]:
    """``"ssi+0.5*fidelity"`` -> [("ssi", 1.0), ("fidelity", 0.5)]."""
    out: list[tuple[str, float]] = []
    for term in [t.strip() for t in spec.split("+") if t.strip()]:
        m = re.fullmatch(r"(?:([0-9.eE+-]+)\s*\*\s*)?([a-z_][a-z0-9_]*)", term)
        if not m or m.group(2) not in LOSSES:
            raise LossSpecError(f"bad loss term {term!r}; use e.g. 'ssi+0.5*fidelity' with terms {', '.join(LOSSES)}")
        w = float(m.group(1)) if m.group(1) else 1.0
        out.append((m.group(2), w))
    if not out:
        raise LossSpecError("empty loss spec")
    return out


@dataclass
class LossSet:
    spec: str = "ssi+fidelity"
    scene_ce_weight: float = 0.1
    huber_delta: float = 1.0
    fidelity_target: str = "gaussian"  # or "binary"
    bdvqa_lambda: float = 1.0

    def __post_init__(self) -> None:
        self.terms = parse_loss_spec(self.spec)
        if self.fidelity_target not in ("gaussian", "binary"):
            raise LossSpecError(f"fidelity_target must be gaussian or binary, got {self.fidelity_target!r}")
        if self.huber_delta <= 0:
            raise LossSpecError(f"huber_delta must be > 0, got {self.huber_delta}")
        self.options: dict[str, dict[str, object]] = {
            "huber": {"delta": self.huber_delta},
            "fidelity": {"fidelity_target": self.fidelity_target},
            "bdvqa": {"lam": self.bdvqa_lambda},
        }

    def __call__(
        self,
        out: dict[str, torch.Tensor],
        target: torch.Tensor,
        groups: torch.Tensor,
        scene_labels: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor, dict[str, float]]:
        pred = out["score"].float()
        target = target.float()
        total = pred.new_zeros(())
        parts: dict[str, float] = {}
        for name, w in self.terms:
            v = LOSSES[name](pred, target, groups, **self.options.get(name, {}))  # type: ignore[operator]
            total = total + w * v
            parts[name] = float(v.detach())
        if "scene_logits" in out and scene_labels is not None and self.scene_ce_weight > 0:
            v = scene_ce_loss(out["scene_logits"].float(), scene_labels)
            total = total + self.scene_ce_weight * v
            parts["scene_ce"] = float(v.detach())
        return total, parts
