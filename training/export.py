"""Checkpoint -> ONNX model pack (``engine.packs.pack``), with a torch vs onnxruntime parity check.

The ONNX graph has one input per model input (``image``, ``face``, ``mosaic``; N x 3 x H x W
float32, dynamic batch N) and one output ``score`` (N,).  Parity: the max absolute difference
between torch and onnxruntime (CPU) must be under ``tol`` (1e-4) at batch 1 and batch N.

Licence of the pack: the config's licence (Apache-2.0) and ``commercial_use: true`` when the
weights only ever saw permissive data (synthetic defects on permissively licensed photos, ImageNet
backbones from the packaged weights); ``commercial_use: false`` and the PIQ23 non-commercial terms
as soon as PIQ23 was used (training or fine-tuning).
"""

from __future__ import annotations

import io
import logging
import os
import tempfile
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import torch

from engine.packs.pack import Manifest, PackOutput, write_pack
from training.networks import QualityModel, ScoreOnly
from training.train import PIQ23_LICENCE, PIQ23_TERMS, model_from_checkpoint

log = logging.getLogger("training.export")
OPSET = 17
PROTOCOL = "NTIRE 2024 PQA: per-scene SRCC/PLCC/KRCC, medians over scenes; score = median of per-scene means"


class ExportError(Exception):
    """Export failed (parity above tolerance, bad checkpoint); the message is user-facing."""


def export_onnx(model: QualityModel, path: str | os.PathLike[str] | None = None, opset: int = OPSET) -> bytes:
    """Export ``model`` (eval mode) to ONNX with a dynamic batch; returns the bytes (and writes ``path``)."""
    model = model.eval()
    wrapper = ScoreOnly(model).eval()
    names = model.input_names
    dummy = tuple(torch.zeros(2, 3, *i.size) for i in model.config.inputs())
    buf = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            wrapper,
            dummy,
            buf,  # type: ignore[arg-type]
            input_names=names,
            output_names=[model.config.output],
            dynamic_axes={**{n: {0: "batch"} for n in names}, model.config.output: {0: "batch"}},
            opset_version=opset,
            dynamo=False,
            do_constant_folding=True,
        )
    data = buf.getvalue()
    import onnx

    onnx.checker.check_model(onnx.load_from_string(data))
    if path is not None:
        Path(path).write_bytes(data)
    return data


def random_inputs(model: QualityModel, batch: int, seed: int = 0) -> dict[str, np.ndarray]:
    """Normalised inputs made from uniformly random pixels."""
    rng = np.random.default_rng(seed)
    out = {}
    for spec in model.config.inputs():
        px = rng.uniform(0, 1, (batch, *spec.size, 3)).astype(np.float32)
        x = (px - np.asarray(spec.mean, np.float32)) / np.asarray(spec.std, np.float32)
        out[spec.name] = np.ascontiguousarray(x.transpose(0, 3, 1, 2))
    return out


def parity(model: QualityModel, onnx_model: bytes | str | os.PathLike[str], batches: tuple[int, ...] = (1, 4), tol: float = 1e-4) -> dict[int, float]:
    """Max |torch - onnxruntime| per batch size; raises ``ExportError`` above ``tol``."""
    import onnxruntime as ort

    src = onnx_model if isinstance(onnx_model, bytes) else str(onnx_model)
    sess = ort.InferenceSession(src, providers=["CPUExecutionProvider"])
    model = model.eval()
    diffs: dict[int, float] = {}
    for b in batches:
        feeds = random_inputs(model, b, seed=b)
        with torch.no_grad():
            ref = model({k: torch.from_numpy(v) for k, v in feeds.items()})["score"].numpy()
        got = np.asarray(sess.run(None, feeds)[0]).reshape(-1)
        if got.shape != ref.shape:
            raise ExportError(f"ONNX output shape {got.shape} != torch {ref.shape} at batch {b}")
        diffs[b] = float(np.abs(got - ref).max())
    worst = max(diffs.values())
    if not worst < tol:
        raise ExportError(f"ONNX/torch parity failed: max abs difference {worst:.3g} >= {tol:g} ({diffs})")
    return diffs


def model_card(m: Manifest, ck: dict[str, Any]) -> str:
    met = m.metrics
    lines = [
        f"# {m.name} {m.version}",
        "",
        m.description,
        "",
        f"- architecture: `{m.architecture}` (portrait-culler `training.architectures`)",
        f"- backbone: `{m.extra.get('backbone')}`; initial weights: {', '.join(ck.get('weights_sources', [])) or 'n/a'}",
        "- inputs: " + "; ".join(f"`{i.name}` ({i.kind}, {i.size[0]}x{i.size[1]}, crops `{i.crops}`)" for i in m.inputs),
        f"- output: `{m.output.name}`, {m.output.direction.replace('_', ' ')}, typical range {m.output.range}",
        f"- licence: {m.licence}; commercial use: {'yes' if m.commercial_use else 'NO'}",
        "",
        "## Training data",
        "",
        *[f"- {t}" for t in ck.get("training_data", [])],
        "",
        "## Validation",
        "",
        f"Protocol: {met.get('protocol', PROTOCOL)} on {met.get('validation', 'the validation set')}.",
        "",
        "| SRCC | PLCC | KRCC | score | MAE |",
        "| --- | --- | --- | --- | --- |",
        f"| {met.get('srcc', float('nan')):.4f} | {met.get('plcc', float('nan')):.4f} | {met.get('krcc', float('nan')):.4f} "
        f"| {met.get('score', float('nan')):.4f} | {met.get('mae', float('nan')):.4f} |",
        "",
        f"ONNX parity (max abs diff torch vs onnxruntime): {m.extra.get('parity_max_abs_diff')}",
        "",
        "## Licence",
        "",
    ]
    if m.commercial_use:
        lines += [f"{m.licence}; commercial use allowed.", ""]
    else:
        lines += [
            "These weights were trained on PIQ23, so they are derived data of PIQ23 and fall under DXOMARK's",
            "PIQ23 Terms of Use (not a Creative Commons licence).  As stated upstream",
            "(https://github.com/DXOMARK-Research/PIQ2023, README, \"License\" and \"Important Notes\"):",
            "",
            *[f"> {t}\n>" for t in PIQ23_TERMS],
            "",
            "portrait-culler does not use this pack unless you opt in: `culler rank` and the GUI skip",
            "non-commercial packs (one warning) until `CULLER_ALLOW_NONCOMMERCIAL=1` is set, e.g.",
            "",
            "```sh",
            "culler models install PACKDIR",
            f"CULLER_ALLOW_NONCOMMERCIAL=1 culler rank PHOTOS --members pack:{m.name}",
            "```",
            "",
        ]
    return "\n".join(lines)


def export_pack(
    checkpoint: str | os.PathLike[str],
    out_dir: str | os.PathLike[str],
    *,
    name: str | None = None,
    version: str = "0.1.0",
    description: str | None = None,
    parity_batch: int = 4,
    tol: float = 1e-4,
) -> Path:
    """Write the pack of ``checkpoint`` to ``out_dir``; returns the pack folder."""
    model, ck = model_from_checkpoint(checkpoint)
    mc = model.config
    data = export_onnx(model)
    diffs = parity(model, data, batches=(1, max(2, parity_batch)), tol=tol)
    non_commercial = bool(ck.get("non_commercial"))
    tc = ck.get("train_config", {})
    val_name = (
        f"PIQ23 {tc.get('split')} split Test part ({tc.get('attribute')})"
        if tc.get("mode") == "piq23"
        else "held-out synthetic-defect groups (per-group correlations)"
    )
    met = {k: v for k, v in ck.get("metrics", {}).items() if k in ("srcc", "plcc", "krcc", "score", "mae")}
    lo, hi = ck.get("score_range", [None, None])
    manifest = Manifest(
        name=name or f"{mc.name}-{mc.backbone}".replace("_", "-"),
        version=version,
        architecture=mc.name,
        inputs=mc.inputs(),
        output=PackOutput(
            name=mc.output, direction=mc.direction, range=(float(lo), float(hi)) if lo is not None and hi is not None else None
        ),
        description=description or mc.description,
        training_data="; ".join(ck.get("training_data", [])),
        licence=PIQ23_LICENCE if non_commercial else mc.licence,
        commercial_use=not non_commercial,
        metrics={"protocol": PROTOCOL, "validation": val_name, "epoch": ck.get("epoch"), **met},
        extra={
            "backbone": mc.backbone,
            "weights_sources": ck.get("weights_sources", []),
            "parity_max_abs_diff": {str(k): v for k, v in diffs.items()},
            "opset": OPSET,
            "exported_by": "training.export",
        },
    )
    with tempfile.TemporaryDirectory() as td:
        onnx_path = Path(td) / "model.onnx"
        onnx_path.write_bytes(data)
        card = model_card(manifest, ck).encode()
        return write_pack(out_dir, manifest, {"model.onnx": onnx_path, "MODEL_CARD.md": card})
