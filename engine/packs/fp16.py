"""fp16 variants of packs, for GPUs: ``culler models fp16 PACK``.

The float32 weights, constants and internal tensors of ``model.onnx`` become float16; the graph
keeps float32 inputs and outputs (casts are inserted), so the runtime feeds it exactly as the
float32 model.  The variant is added to the pack as ``model_fp16.onnx`` (checksummed, named in
``extra.fp16_model``); :class:`~engine.packs.runtime.PackRuntime` picks it on GPU devices and
keeps ``model.onnx`` on the CPU.  Needs the ``onnx`` package (installed with the training extra).
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from engine.packs.pack import PackError, verify_pack, write_pack

FP16_FILE = "model_fp16.onnx"
# inputs that must stay float32 whatever the graph's precision: (op type, input index)
_KEEP_FLOAT32 = {("Resize", 1), ("Resize", 2), ("Upsample", 1)}


def convert_model(model: Any) -> Any:
    """An fp16 copy of an ``onnx.ModelProto`` with float32 inputs and outputs."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    m = onnx.ModelProto()
    m.CopyFrom(model)
    g = m.graph
    keep = {n.input[i] for n in g.node for (op, i) in _KEEP_FLOAT32 if n.op_type == op and len(n.input) > i}
    for init in g.initializer:
        if init.data_type == TensorProto.FLOAT and init.name not in keep:
            init.CopyFrom(numpy_helper.from_array(numpy_helper.to_array(init).astype(np.float16), init.name))
    for node in g.node:
        for attr in node.attribute:
            if attr.type == onnx.AttributeProto.TENSOR and attr.t.data_type == TensorProto.FLOAT:
                attr.t.CopyFrom(numpy_helper.from_array(numpy_helper.to_array(attr.t).astype(np.float16), attr.t.name))
            if node.op_type == "Cast" and attr.name == "to" and attr.i == TensorProto.FLOAT:
                attr.i = TensorProto.FLOAT16
    casts_in, rename = [], {}
    for inp in g.input:
        if inp.type.tensor_type.elem_type == TensorProto.FLOAT:
            rename[inp.name] = f"{inp.name}__fp16"
            casts_in.append(helper.make_node("Cast", [inp.name], [rename[inp.name]], to=TensorProto.FLOAT16, name=f"{inp.name}__to_fp16"))
    for node in g.node:
        for i, name in enumerate(node.input):
            if name in rename:
                node.input[i] = rename[name]
    casts_out = []
    for out in g.output:
        if out.type.tensor_type.elem_type == TensorProto.FLOAT:
            inner = f"{out.name}__fp16"
            for node in g.node:
                for i, name in enumerate(node.output):
                    if name == out.name:
                        node.output[i] = inner
            casts_out.append(helper.make_node("Cast", [inner], [out.name], to=TensorProto.FLOAT, name=f"{out.name}__to_fp32"))
    nodes = casts_in + list(g.node) + casts_out
    del g.node[:]
    g.node.extend(nodes)
    del g.value_info[:]
    onnx.checker.check_model(m)
    return m


def add_fp16_variant(pack_dir: str | os.PathLike[str]) -> Path:
    """Add ``model_fp16.onnx`` to a pack (rewritten atomically, checksums recomputed)."""
    try:
        import onnx
    except ImportError:
        raise PackError("making an fp16 variant needs the onnx package: pip install onnx") from None
    pack = Path(pack_dir)
    m = verify_pack(pack)
    try:
        fp16 = convert_model(onnx.load(str(pack / "model.onnx")))
    except Exception as exc:  # onnx raises several exception types
        raise PackError(f"cannot convert {pack / 'model.onnx'} to fp16: {exc}") from exc
    with tempfile.TemporaryDirectory() as tmp:
        f = Path(tmp) / FP16_FILE
        onnx.save(fp16, str(f))
        files: dict[str, str | os.PathLike[str] | bytes] = {n: pack / n for n in m.files if n != FP16_FILE}
        files[FP16_FILE] = f
        m.extra = {**m.extra, "fp16_model": FP16_FILE}
        return write_pack(pack, m, files)
