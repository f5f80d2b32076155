"""Benchmark of the portrait quality architectures (training module).

Per architecture (default configs, packaged EfficientNet-Lite0 backbone, 224 px inputs):
ms per image of the forward pass on this CPU with torch and with onnxruntime (CPU provider), at
batch 1 and batch 8 (median of ``--repeats`` timed runs after a warm-up), and, when CUDA is
available, images per second (forward, batch 32, bf16 autocast) and training steps per second
(S=4 scenes x K=4 images, AdamW, bf16) on the GPU.

    python bench/bench_models.py [--archs hyperiqa,global_local] [--repeats 5] [--threads N]
                                 [--backbone efficientnet_lite0] [--out docs/bench-training.md]
"""

from __future__ import annotations

import argparse
import platform
import statistics
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))


def _median_ms(fn, repeats: int, per: int) -> float:  # type: ignore[no-untyped-def]
    fn()  # warm-up
    ts = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        ts.append(time.perf_counter() - t)
    return statistics.median(ts) * 1000.0 / per


def bench_cpu(arch: str, backbone: str, repeats: int) -> dict[str, float]:
    import onnxruntime as ort
    import torch

    from training.architectures import create_model
    from training.export import export_onnx, random_inputs

    model = create_model(arch, backbone=backbone).eval()
    onnx_bytes = export_onnx(model)
    so = ort.SessionOptions()
    so.intra_op_num_threads = torch.get_num_threads()
    sess = ort.InferenceSession(onnx_bytes, so, providers=["CPUExecutionProvider"])
    out: dict[str, float] = {"params_m": sum(p.numel() for p in model.parameters()) / 1e6}
    for b in (1, 8):
        feeds = random_inputs(model, b)
        tin = {k: torch.from_numpy(v) for k, v in feeds.items()}

        def run_torch(tin: dict = tin) -> None:  # type: ignore[type-arg]
            with torch.inference_mode():
                model(tin)

        def run_ort(feeds: dict = feeds) -> None:  # type: ignore[type-arg]
            sess.run(None, feeds)

        out[f"torch_b{b}"] = _median_ms(run_torch, repeats, b)
        out[f"ort_b{b}"] = _median_ms(run_ort, repeats, b)
    return out


def bench_gpu(arch: str, backbone: str, repeats: int) -> dict[str, float]:
    import torch

    from training.architectures import create_model
    from training.export import random_inputs
    from training.losses import LossSet

    dev = torch.device("cuda")
    model = create_model(arch, backbone=backbone).to(dev)
    feeds = {k: torch.from_numpy(v).to(dev) for k, v in random_inputs(model, 32).items()}
    model.eval()

    def fwd() -> None:
        with torch.inference_mode(), torch.autocast("cuda", dtype=torch.bfloat16):
            model(feeds)
        torch.cuda.synchronize()

    ms = _median_ms(fwd, repeats, 32)
    model.train()
    opt = torch.optim.AdamW(model.parameters(), 1e-4)
    losses = LossSet("ssi+fidelity")
    batch = {k: torch.from_numpy(v).to(dev) for k, v in random_inputs(model, 16).items()}
    target = torch.randn(16, device=dev)
    groups = torch.arange(16, device=dev) // 4

    def step() -> None:
        with torch.autocast("cuda", dtype=torch.bfloat16):
            out = model(batch)
        loss, _ = losses(out, target, groups)
        opt.zero_grad()
        loss.backward()
        opt.step()
        torch.cuda.synchronize()

    step_ms = _median_ms(step, repeats, 1)
    return {"gpu_img_s": 1000.0 / ms, "gpu_steps_s": 1000.0 / step_ms}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--archs", default="hyperiqa,sem_hyperiqa,fhiqa,face_full,global_local,face_gate")
    ap.add_argument("--backbone", default="efficientnet_lite0")
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--threads", type=int, default=None, help="torch / onnxruntime intra-op threads")
    ap.add_argument("--out", default=None, help="write a markdown table here")
    args = ap.parse_args()
    import torch

    if args.threads:
        torch.set_num_threads(args.threads)
    cuda = torch.cuda.is_available()
    rows = []
    for arch in [a.strip() for a in args.archs.split(",") if a.strip()]:
        r = bench_cpu(arch, args.backbone, args.repeats)
        if cuda:
            r.update(bench_gpu(arch, args.backbone, args.repeats))
        rows.append((arch, r))
        print(arch, {k: round(v, 2) for k, v in r.items()}, flush=True)
    cmd = "python bench/bench_models.py " + " ".join(sys.argv[1:])
    cpu = platform.processor() or platform.machine()
    lines = [
        "# Training module: model benchmarks",
        "",
        f"Command: `{cmd.strip()}`  ",
        f"Machine: {cpu}, {torch.get_num_threads()} torch threads, torch {torch.__version__}; "
        f"backbone `{args.backbone}` (packaged ImageNet weights), default input sizes (224 px); "
        f"median of {args.repeats} runs after a warm-up.  CUDA: {'yes, ' + torch.cuda.get_device_name(0) if cuda else 'no'}.",
        "",
        "Forward pass, ms per image (CPU; onnxruntime CPU provider on the exported pack model):",
        "",
        "| architecture | params (M) | torch b1 | torch b8 | onnxruntime b1 | onnxruntime b8 |"
        + (" GPU img/s (b32, bf16) | GPU train steps/s (16 img) |" if cuda else ""),
        "| --- | --- | --- | --- | --- | --- |" + (" --- | --- |" if cuda else ""),
    ]
    for arch, r in rows:
        line = (
            f"| {arch} | {r['params_m']:.2f} | {r['torch_b1']:.1f} | {r['torch_b8']:.1f} | "
            f"{r['ort_b1']:.1f} | {r['ort_b8']:.1f} |"
        )
        if cuda:
            line += f" {r['gpu_img_s']:.0f} | {r['gpu_steps_s']:.1f} |"
        lines.append(line)
    text = "\n".join(lines) + "\n"
    if args.out:
        Path(args.out).write_text(text)
        print(f"written to {args.out}")
    else:
        print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
