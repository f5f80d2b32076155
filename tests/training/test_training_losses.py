"""Every loss against hand-computed values."""

from __future__ import annotations

import math

import pytest

torch = pytest.importorskip("torch", reason="torch is not installed (training extra)")

from training.losses import (  # noqa: E402
    LossSet,
    LossSpecError,
    fidelity_loss,
    huber_loss,
    l1_loss,
    mse_loss,
    parse_loss_spec,
    rank_loss,
    rank_mse_loss,
    scene_ce_loss,
    ssi_loss,
)


def T(*v: float) -> torch.Tensor:
    return torch.tensor(v, dtype=torch.float32)


def G(*v: int) -> torch.Tensor:
    return torch.tensor(v, dtype=torch.long)


def Phi(x: float) -> float:
    return 0.5 * (1 + math.erf(x / math.sqrt(2)))


def test_regression_losses() -> None:
    p, t = T(1.0, 3.0), T(0.5, 1.0)
    assert float(mse_loss(p, t)) == pytest.approx((0.25 + 4) / 2)
    assert float(l1_loss(p, t)) == pytest.approx((0.5 + 2) / 2)
    assert float(huber_loss(p, t)) == pytest.approx((0.5 * 0.25 + (2 - 0.5)) / 2)


def test_ssi_loss_by_hand() -> None:
    # pred 1,2,3,4 -> median 2.5, mean|d| 1 -> -1.5,-.5,.5,1.5
    # target 1,2,3,10 -> median 2.5, mean|d| 2.5 -> -.6,-.2,.2,3
    assert float(ssi_loss(T(1, 2, 3, 4), T(1, 2, 3, 10), G(0, 0, 0, 0))) == pytest.approx(0.75, abs=1e-5)
    # invariant to scale and shift of the prediction within a scene
    assert float(ssi_loss(T(7, 9, 11, 13), T(1, 2, 3, 10), G(0, 0, 0, 0))) == pytest.approx(0.75, abs=1e-5)
    # two scenes; constant prediction maps to 0, target (1,2) -> (-1,1): mean over all 6 images
    v = ssi_loss(T(1, 2, 3, 4, 5, 5), T(1, 2, 3, 10, 1, 2), G(0, 0, 0, 0, 1, 1))
    assert float(v) == pytest.approx((0.9 + 0.3 + 0.3 + 1.5 + 1 + 1) / 6, abs=1e-5)
    # a scene with a single image is left out
    assert float(ssi_loss(T(1, 2, 3, 4, 9), T(1, 2, 3, 10, 0), G(0, 0, 0, 0, 1))) == pytest.approx(0.75, abs=1e-5)


def test_ssi_loss_has_gradients() -> None:
    p = T(1, 2, 3, 4).requires_grad_()
    ssi_loss(p, T(4, 3, 2, 1), G(0, 0, 0, 0)).backward()
    assert p.grad is not None and float(p.grad.abs().sum()) > 0


def test_fidelity_loss_by_hand() -> None:
    ph = Phi(1 / math.sqrt(2))
    # gaussian target equal to the prediction: loss ~ 0
    assert float(fidelity_loss(T(1, 0), T(1, 0), G(0, 0))) == pytest.approx(0.0, abs=2e-3)
    # binary target: p = 1 -> 1 - sqrt(p_hat)
    assert float(fidelity_loss(T(1, 0), T(1, 0), G(0, 0), "binary")) == pytest.approx(1 - math.sqrt(ph), abs=1e-3)
    # wrong order, gaussian: p = Phi(-1/sqrt2), p_hat = Phi(1/sqrt2)
    p = Phi(-1 / math.sqrt(2))
    want = 1 - math.sqrt(p * ph) - math.sqrt((1 - p) * (1 - ph))
    assert float(fidelity_loss(T(1, 0), T(0, 1), G(0, 0))) == pytest.approx(want, abs=1e-3)
    # pairs across scenes are ignored: only the (0, 1) pair counts
    assert float(fidelity_loss(T(1, 0, 5), T(0, 1, -5), G(0, 0, 1))) == pytest.approx(want, abs=1e-3)


def test_rank_losses_by_hand() -> None:
    p, t, g = T(0, 1, 0.2), T(1, 2, 0), G(0, 0, 0)
    # pairs: (0,1) ok by 1 > margin -> 0; (0,2) wrong by 0.2 -> 0.7; (1,2) ok by 0.8 -> 0
    assert float(rank_loss(p, t, g)) == pytest.approx(0.7 / 3)
    mse = (1 + 1 + 0.04) / 3
    assert float(rank_mse_loss(p, t, g)) == pytest.approx(0.7 / 3 + mse)
    # equal targets make no pair
    assert float(rank_loss(T(0, 1), T(1, 1), G(0, 0))) == 0.0


def test_scene_ce_ignores_unknown_labels() -> None:
    logits = torch.tensor([[2.0, 0.0], [0.0, 0.0]])
    assert float(scene_ce_loss(logits, G(0, -1))) == pytest.approx(math.log(1 + math.exp(-2)), abs=1e-6)
    assert float(scene_ce_loss(logits, G(-1, -1))) == 0.0


def test_loss_set_combines_terms() -> None:
    assert parse_loss_spec("ssi + 0.5*fidelity") == [("ssi", 1.0), ("fidelity", 0.5)]
    with pytest.raises(LossSpecError):
        parse_loss_spec("ssi+bogus")
    ls = LossSet("mse+2*l1", scene_ce_weight=0.5)
    out = {"score": T(1.0, 3.0), "scene_logits": torch.tensor([[2.0, 0.0], [0.0, 0.0]])}
    total, parts = ls(out, T(0.5, 1.0), G(0, 0), G(0, -1))
    want = (0.25 + 4) / 2 + 2 * 1.25 + 0.5 * math.log(1 + math.exp(-2))
    assert float(total) == pytest.approx(want, abs=1e-5)
    assert set(parts) == {"mse", "l1", "scene_ce"}
