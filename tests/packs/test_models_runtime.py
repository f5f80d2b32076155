"""onnxruntime sessions, providers, threads, preprocessing and batches (tiny onnx.helper models)."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pytest
from packtools import IDENTITY, make_pack

from engine.packs import runtime
from engine.packs.pack import Manifest, PackError, PackInput, PackOutput, write_pack
from engine.packs.runtime import PackRuntime, make_crops, normalise, preprocess, select_providers

CPU = "CPUExecutionProvider"
CUDA = "CUDAExecutionProvider"


def test_auto_prefers_gpus_in_order() -> None:
    assert select_providers("auto", [CPU]).device == "cpu"
    c = select_providers("auto", ["TensorrtExecutionProvider", CUDA, CPU])
    assert c.device == "cuda" and c.providers == [(CUDA, {"device_id": 0}), CPU] and c.message is None
    assert select_providers("auto", ["CoreMLExecutionProvider", CPU]).device == "coreml"
    assert select_providers("auto", ["DmlExecutionProvider", CPU]).device == "directml"
    c = select_providers("tensorrt", ["TensorrtExecutionProvider", CUDA, CPU])
    assert [p[0] if isinstance(p, tuple) else p for p in c.providers] == ["TensorrtExecutionProvider", CUDA, CPU]
    assert select_providers("cuda:1", [CUDA, CPU]).providers[0] == (CUDA, {"device_id": 1})
    assert select_providers("cpu", [CUDA, CPU]).providers == [CPU]


@pytest.mark.parametrize("device", ["cuda", "tensorrt", "coreml", "directml"])
def test_missing_provider_falls_back_to_cpu_with_a_message(device: str) -> None:
    c = select_providers(device, [CPU])
    assert c.device == "cpu" and c.providers == [CPU]
    assert c.message and f"device {device!r} requested" in c.message and "falling back to the CPU" in c.message


def test_tensorrt_without_trt_uses_cuda() -> None:
    c = select_providers("tensorrt", [CUDA, CPU])
    assert c.device == "cuda" and "running on CUDA" in (c.message or "")


def test_bad_device_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match="unknown device 'tpu'"):
        select_providers("tpu", [CPU])


def test_runtime_falls_back_and_warns(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    p = make_pack(tmp_path / "p")
    with caplog.at_level(logging.WARNING, logger="engine.packs"):
        rt = PackRuntime(p, device="cuda")  # no CUDA provider in this onnxruntime build
    assert rt.device == "cpu" and rt.session.get_providers() == [CPU]
    assert "falling back to the CPU" in (rt.provider_message or "")
    assert any("falling back to the CPU" in r.getMessage() for r in caplog.records)


def test_device_from_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(runtime.ENV_DEVICE, "directml")
    rt = PackRuntime(make_pack(tmp_path / "p"))
    assert rt.device == "cpu" and "directml" in (rt.provider_message or "")


def test_threads(monkeypatch: pytest.MonkeyPatch) -> None:
    assert runtime.session_options().intra_op_num_threads == 1  # one per worker process
    assert runtime.session_options(3).intra_op_num_threads == 3
    monkeypatch.setenv(runtime.ENV_THREADS, "2")
    so = runtime.session_options()
    assert so.intra_op_num_threads == 2 and so.inter_op_num_threads == 1
    monkeypatch.setenv(runtime.ENV_THREADS, "lots")
    assert runtime.session_options().intra_op_num_threads == 1


def _ramp(h: int, w: int) -> np.ndarray:
    y, x = np.mgrid[0:h, 0:w]
    return np.stack([y % 256, x % 256, (x + y) % 256], -1).astype(np.uint8)


def test_crops() -> None:
    img = _ramp(100, 150)
    (full,) = make_crops(img, (32, 48), "full")
    assert full.shape == (32, 48, 3)
    (c,) = make_crops(img, (40, 40), "center")
    assert c.shape == (40, 40, 3)
    g = make_crops(img, (20, 30), "grid5")
    assert len(g) == 5 and all(x.shape == (20, 30, 3) for x in g)
    assert np.array_equal(g[0], img[:20, :30]) and np.array_equal(g[3], img[80:, 120:])
    assert np.array_equal(g[4], img[40:60, 60:90])  # centre crop at native resolution
    (m,) = make_crops(img, (40, 40), "mosaic:2")
    assert m.shape == (40, 40, 3)
    assert np.array_equal(m[:20, :20], img[15:35, 27:47])  # centre of the top-left cell
    small = make_crops(_ramp(10, 12), (20, 30), "grid5")  # upscaled when smaller than the input
    assert all(x.shape == (20, 30, 3) for x in small)
    gray = make_crops(np.zeros((50, 50), np.uint8), (8, 8), "full")
    assert gray[0].shape == (8, 8, 3)
    for bad in ("tiles", "mosaic:x", "mosaic:3"):
        with pytest.raises(PackError):
            make_crops(img, (40, 40), bad)


def test_normalise_layout_and_dtype() -> None:
    batch = np.zeros((2, 4, 5, 3), np.uint8)
    batch[..., 0] = 255
    x = normalise(batch, (0.5, 0.5, 0.5), (0.5, 0.25, 0.5))
    assert x.shape == (2, 3, 4, 5) and x.dtype == np.float32
    assert np.allclose(x[:, 0], 1.0) and np.allclose(x[:, 1], -2.0) and np.allclose(x[:, 2], -1.0)
    assert normalise(batch, (0, 0, 0), (1, 1, 1), "float16").dtype == np.float16
    pi = PackInput("image", "image", (8, 8), crops="grid5")
    assert preprocess([_ramp(30, 30), _ramp(20, 40)], pi).shape == (10, 3, 8, 8)


def _reference_energy(img: np.ndarray, size: int) -> float:
    """What the tiny model computes, in numpy, on the 'full' preprocessing."""
    x = make_crops(img, (size, size), "full")[0].astype(np.float32) / 255.0
    g = 0.299 * x[..., 0] + 0.587 * x[..., 1] + 0.114 * x[..., 2]
    lap = g[:-2, 1:-1] + g[2:, 1:-1] + g[1:-1, :-2] + g[1:-1, 2:] - 4 * g[1:-1, 1:-1]
    return float(10 * np.mean(lap**2))


def test_scores_match_numpy_and_batches_agree(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    imgs = [rng.integers(0, 256, (int(rng.integers(40, 90)), int(rng.integers(40, 90)), 3), dtype=np.uint8) for _ in range(11)]
    rt1 = PackRuntime(make_pack(tmp_path / "a"), batch_size=1)
    rt8 = PackRuntime(tmp_path / "a", batch_size=8)
    s1, s8 = rt1.score_images(imgs), rt8.score_images(imgs)
    assert s1.shape == (11,)
    np.testing.assert_allclose(s1, s8, rtol=1e-5)
    np.testing.assert_allclose(s1, [_reference_energy(i, 32) for i in imgs], rtol=1e-4)
    assert rt8.score_images([]).shape == (0,)


def test_fixed_batch_model_is_padded(tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    imgs = [rng.integers(0, 256, (50, 50, 3), dtype=np.uint8) for _ in range(5)]
    fixed = PackRuntime(make_pack(tmp_path / "f", fixed_batch=4))
    dyn = PackRuntime(make_pack(tmp_path / "d"))
    np.testing.assert_allclose(fixed.score_images(imgs), dyn.score_images(imgs), rtol=1e-5)


def test_grid5_averages_the_crops(tmp_path: Path) -> None:
    rng = np.random.default_rng(2)
    img = rng.integers(0, 256, (64, 96, 3), dtype=np.uint8)
    img[:, 48:] = 128  # right half flat: the right-hand crops score lower
    rt = PackRuntime(make_pack(tmp_path / "g", size=16, crops="grid5"))
    full = PackRuntime(make_pack(tmp_path / "h", name="h", size=16))
    per_crop = full.score_images(make_crops(img, (16, 16), "grid5"))
    assert rt.score_images([img])[0] == pytest.approx(per_crop.mean(), rel=1e-5)


def test_float16_input_pack(tmp_path: Path) -> None:
    """A pack whose graph takes float16 (GPU packs): inputs are cast, outputs come back as float32."""
    import onnx
    from onnx import TensorProto, helper

    x = helper.make_tensor_value_info("image", TensorProto.FLOAT16, ["N", 3, 8, 8])
    nodes = [
        helper.make_node("Cast", ["image"], ["xf"], to=TensorProto.FLOAT),
        helper.make_node("ReduceMean", ["xf"], ["score"], axes=[1, 2, 3], keepdims=0),
    ]
    y = helper.make_tensor_value_info("score", TensorProto.FLOAT, ["N"])
    model = helper.make_model(helper.make_graph(nodes, "f16", [x], [y]), opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    m = Manifest("f16", "1", "mean", [PackInput("image", "image", (8, 8), dtype="float16", **IDENTITY)], PackOutput())
    rt = PackRuntime(write_pack(tmp_path / "f16", m, {"model.onnx": model.SerializeToString()}))
    out = rt.score_images([np.full((20, 20, 3), 51, np.uint8)])
    assert out.dtype == np.float32 and out[0] == pytest.approx(0.2, abs=1e-3)
    assert onnx.load_from_string(model.SerializeToString()).graph.input[0].type.tensor_type.elem_type == TensorProto.FLOAT16


def test_gpu_variant_is_not_used_on_cpu(tmp_path: Path) -> None:
    p = make_pack(tmp_path / "v", extra_files={"model_fp16.onnx": b"not a model"}, extra={"fp16_model": "model_fp16.onnx"})
    rt = PackRuntime(p, device="cpu")
    assert rt.model_file.name == "model.onnx"


def test_unreadable_model_is_a_pack_error(tmp_path: Path) -> None:
    m = Manifest("junk", "1", "x", [PackInput("image", "image", (8, 8))])
    with pytest.raises(PackError, match="onnxruntime cannot load the model"):
        PackRuntime(write_pack(tmp_path / "j", m, {"model.onnx": b"\x00garbage"}))
