"""Tiny ONNX models built with onnx.helper (no torch) and packs around them."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from engine.packs.pack import Manifest, PackInput, PackOutput, write_pack


def sharpness_model(size: int = 32, input_name: str = "image", fixed_batch: int | None = None) -> bytes:
    """score = mean(laplacian(gray)^2) * 10: sharper pictures score higher (N x 1 output)."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    lap = np.array([[0, 1, 0], [1, -4, 1], [0, 1, 0]], np.float32)
    w = np.stack([lap * c for c in (0.299, 0.587, 0.114)])[None]  # 1 x 3 x 3 x 3
    batch: int | str = fixed_batch if fixed_batch else "N"
    x = helper.make_tensor_value_info(input_name, TensorProto.FLOAT, [batch, 3, size, size])
    y = helper.make_tensor_value_info("score", TensorProto.FLOAT, [batch, 1])
    nodes = [
        helper.make_node("Conv", [input_name, "w"], ["e"]),
        helper.make_node("Mul", ["e", "e"], ["e2"]),
        helper.make_node("ReduceMean", ["e2"], ["m"], axes=[2, 3], keepdims=0),
        helper.make_node("Mul", ["m", "ten"], ["score"]),
    ]
    graph = helper.make_graph(
        nodes,
        "sharpness",
        [x],
        [y],
        initializer=[numpy_helper.from_array(w, "w"), numpy_helper.from_array(np.array([10.0], np.float32), "ten")],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    return model.SerializeToString()


def pair_model(size: int = 32) -> bytes:
    """Two inputs (image, face): score = mean brightness of image + 2 * mean brightness of face."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    xi = helper.make_tensor_value_info("image", TensorProto.FLOAT, ["N", 3, size, size])
    xf = helper.make_tensor_value_info("face", TensorProto.FLOAT, ["N", 3, size, size])
    y = helper.make_tensor_value_info("score", TensorProto.FLOAT, ["N", 1])
    nodes = [
        helper.make_node("ReduceMean", ["image"], ["mi"], axes=[2, 3], keepdims=0),
        helper.make_node("ReduceMean", ["mi"], ["ai"], axes=[1], keepdims=1),
        helper.make_node("ReduceMean", ["face"], ["mf"], axes=[2, 3], keepdims=0),
        helper.make_node("ReduceMean", ["mf"], ["af"], axes=[1], keepdims=1),
        helper.make_node("Mul", ["af", "two"], ["af2"]),
        helper.make_node("Add", ["ai", "af2"], ["score"]),
    ]
    graph = helper.make_graph(
        nodes, "pair", [xi, xf], [y], initializer=[numpy_helper.from_array(np.array([2.0], np.float32), "two")]
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    return model.SerializeToString()


IDENTITY = dict(mean=(0.0, 0.0, 0.0), std=(1.0, 1.0, 1.0))


def make_pack(
    out: Path,
    name: str = "tiny-sharp",
    *,
    size: int = 32,
    kind: str = "image",
    crops: str = "full",
    commercial_use: bool = True,
    out_range: tuple[float, float] | None = (0.0, 0.5),
    fixed_batch: int | None = None,
    extra_files: dict[str, bytes] | None = None,
    extra: dict | None = None,
) -> Path:
    m = Manifest(
        name=name,
        version="0.1",
        architecture="laplacian-energy",
        inputs=[PackInput(name="image", kind=kind, size=(size, size), crops=crops, **IDENTITY)],
        output=PackOutput(name="score", direction="higher_is_better", range=out_range),
        description="test pack: Laplacian energy",
        training_data="none (hand-made weights)",
        licence="Apache-2.0",
        commercial_use=commercial_use,
        metrics={"protocol": "none"},
        extra=extra or {},
    )
    files: dict = {"model.onnx": sharpness_model(size, fixed_batch=fixed_batch), "MODEL_CARD.md": b"# tiny\n"}
    files.update(extra_files or {})
    return write_pack(out, m, files)


def make_pair_pack(out: Path, name: str = "tiny-pair", size: int = 32) -> Path:
    m = Manifest(
        name=name,
        version="0.1",
        architecture="brightness-pair",
        inputs=[
            PackInput(name="image", kind="image", size=(size, size), **IDENTITY),
            PackInput(name="face", kind="face", size=(size, size), **IDENTITY),
        ],
        output=PackOutput(name="score", range=(0.0, 3.0)),
    )
    return write_pack(out, m, {"model.onnx": pair_model(size)})
