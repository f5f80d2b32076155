"""Every loss against hand-computed values."""

from __future__ import annotations

import math

import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="torch is not installed (training extra)")

from training.losses import (  # noqa: E402
    LOSSES,
    LossSet,
    LossSpecError,
    bdvqa_loss,
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


# ----------------------------------------------------------------- independent numpy versions


def _np_pairs(g: np.ndarray, ordered: bool = False) -> list[tuple[int, int]]:
    n = len(g)
    return [(i, j) for i in range(n) for j in range(n) if g[i] == g[j] and (i != j if ordered else i < j)]


def _np_ssi(p: np.ndarray, t: np.ndarray, g: np.ndarray) -> float:
    def norm(x: np.ndarray) -> np.ndarray:
        d = x - np.median(x)
        return d / (np.mean(np.abs(d)) + 1e-6)

    parts = [np.abs(norm(p[g == k]) - norm(t[g == k])) for k in np.unique(g) if (g == k).sum() >= 2]
    return float(np.concatenate(parts).mean())


def _np_phi(x: np.ndarray) -> np.ndarray:
    from scipy.special import ndtr

    return ndtr(x)


def _np_fidelity(p: np.ndarray, t: np.ndarray, g: np.ndarray, target: str) -> float:
    ij = _np_pairs(g)
    out = []
    for i, j in ij:
        ph = _np_phi(np.array((p[i] - p[j]) / np.sqrt(2)))
        pt = (np.sign(t[i] - t[j]) + 1) / 2 if target == "binary" else _np_phi(np.array((t[i] - t[j]) / np.sqrt(2)))
        out.append(1 - np.sqrt(pt * ph + 1e-8) - np.sqrt((1 - pt) * (1 - ph) + 1e-8))
    return float(np.mean(out))


def _np_rank(p: np.ndarray, t: np.ndarray, g: np.ndarray, margin: float = 0.5) -> float:
    v = [max(0.0, margin - np.sign(t[i] - t[j]) * (p[i] - p[j])) for i, j in _np_pairs(g) if t[i] != t[j]]
    return float(np.mean(v))


def _np_bdvqa(p: np.ndarray, t: np.ndarray, g: np.ndarray, lam: float) -> float:
    h = [max(0.0, abs(t[i] - t[j]) - np.sign(t[i] - t[j]) * (p[i] - p[j])) for i, j in _np_pairs(g, ordered=True)]
    return float(np.mean((p - t) ** 2) + lam * np.mean(h))


def _np_huber(p: np.ndarray, t: np.ndarray, delta: float) -> float:
    a = np.abs(p - t)
    return float(np.mean(np.where(a <= delta, 0.5 * a**2, delta * (a - 0.5 * delta))))


def _np_ce(logits: np.ndarray, y: np.ndarray) -> float:
    keep = y >= 0
    z = logits[keep] - logits[keep].max(1, keepdims=True)
    logp = z - np.log(np.exp(z).sum(1, keepdims=True))
    return float(-logp[np.arange(keep.sum()), y[keep]].mean())


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_every_loss_matches_an_independent_numpy_version(seed: int) -> None:
    rng = np.random.default_rng(seed)
    g = np.repeat([0, 1, 2], [4, 5, 3])
    p = rng.normal(size=g.size)
    t = np.round(rng.normal(size=g.size), 1)  # some ties within scenes
    P, Tt, Gt = (torch.tensor(a, dtype=torch.float64) for a in (p, t, g))
    Gt = Gt.long()
    want = {
        "mse": float(np.mean((p - t) ** 2)),
        "l1": float(np.mean(np.abs(p - t))),
        "huber": _np_huber(p, t, 1.0),
        "ssi": _np_ssi(p, t, g),
        "fidelity": _np_fidelity(p, t, g, "gaussian"),
        "rank": _np_rank(p, t, g),
        "rank_mse": _np_rank(p, t, g) + float(np.mean((p - t) ** 2)),
        "bdvqa": _np_bdvqa(p, t, g, 1.0),
    }
    assert set(want) == set(LOSSES)
    for name, w in want.items():
        assert float(LOSSES[name](P, Tt, Gt)) == pytest.approx(w, rel=1e-6, abs=1e-9), name
    # the options: Huber delta, binary fidelity target, BDVQA lambda
    assert float(huber_loss(P, Tt, Gt, delta=0.3)) == pytest.approx(_np_huber(p, t, 0.3), rel=1e-6)
    assert float(fidelity_loss(P, Tt, Gt, fidelity_target="binary")) == pytest.approx(
        _np_fidelity(p, t, g, "binary"), rel=1e-6)
    assert float(bdvqa_loss(P, Tt, Gt, lam=0.25)) == pytest.approx(_np_bdvqa(p, t, g, 0.25), rel=1e-6)
    logits = rng.normal(size=(g.size, 4))
    y = rng.integers(-1, 4, size=g.size)
    y[0] = 1
    got = scene_ce_loss(torch.tensor(logits), torch.tensor(y))
    assert float(got) == pytest.approx(_np_ce(logits, y), rel=1e-6)


def test_loss_set_passes_the_options() -> None:
    rng = np.random.default_rng(5)
    g = np.repeat([0, 1], [4, 4])
    p, t = rng.normal(size=8), rng.normal(size=8) * 3
    out = {"score": torch.tensor(p, dtype=torch.float32)}
    T_, G_ = torch.tensor(t, dtype=torch.float32), torch.tensor(g)
    total, parts = LossSet("huber+fidelity+0.5*bdvqa", 0.0, huber_delta=0.2, fidelity_target="binary",
                           bdvqa_lambda=2.0)(out, T_, G_)
    assert parts["huber"] == pytest.approx(_np_huber(p, t, 0.2), rel=1e-5)
    assert parts["fidelity"] == pytest.approx(_np_fidelity(p, t, g, "binary"), rel=1e-5)
    assert parts["bdvqa"] == pytest.approx(_np_bdvqa(p, t, g, 2.0), rel=1e-5)
    assert float(total) == pytest.approx(parts["huber"] + parts["fidelity"] + 0.5 * parts["bdvqa"], rel=1e-5)
    with pytest.raises(LossSpecError, match="fidelity_target"):
        LossSet("fidelity", fidelity_target="sigmoid")
