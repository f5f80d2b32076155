"""fp16 variants of packs: conversion parity, and the runtime's choice of variant per device."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pytest
from packtools import make_pack

from engine.packs import runtime
from engine.packs.fp16 import FP16_FILE, add_fp16_variant
from engine.packs.pack import verify_pack
from engine.packs.runtime import PackRuntime

pytest.importorskip("onnx")


def test_fp16_variant_matches_fp32(tmp_path: Path) -> None:
    import onnxruntime as ort

    p = add_fp16_variant(make_pack(tmp_path / "p", size=32))
    m = verify_pack(p)
    assert m.extra["fp16_model"] == FP16_FILE and FP16_FILE in m.files and "model.onnx" in m.files
    sess = ort.InferenceSession(str(p / FP16_FILE), providers=["CPUExecutionProvider"])
    assert sess.get_inputs()[0].type == "tensor(float)" and sess.get_outputs()[0].type == "tensor(float)"
    rt = PackRuntime(p, device="cpu")
    assert rt.model_file.name == "model.onnx"  # the CPU keeps float32
    rng = np.random.default_rng(0)
    x = rng.random((3, 3, 32, 32), dtype=np.float32)
    ref = rt.session.run(None, {"image": x})[0]
    got = sess.run(None, {"image": x})[0]
    np.testing.assert_allclose(got, ref, rtol=2e-2, atol=2e-3)


@pytest.mark.parametrize(
    ("gpu_start", "message"),
    [
        # onnxruntime-gpu without a usable GPU/driver raises when the session starts
        ("raises", "the cuda provider failed to start (CUDA failure 100: no CUDA-capable device is detected); "
                   "falling back to the CPU"),
        # a CPU build of onnxruntime drops the provider and starts on the CPU without a word
        ("drops", "the cuda provider did not initialise; running on the CPU"),
    ],
)
def test_gpu_device_picks_the_variant_and_falls_back_cleanly(
    gpu_start: str, message: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """onnxruntime claims CUDA but cannot start it, in either of its two ways: the runtime tried
    the fp16 variant on the GPU, says which failure it saw, and runs fp32 on the CPU."""
    import onnxruntime as ort

    p = add_fp16_variant(make_pack(tmp_path / "p", size=32))
    monkeypatch.setattr(runtime, "available_providers", lambda: ["CUDAExecutionProvider", "CPUExecutionProvider"])
    assert runtime.select_providers("auto").device == "cuda"
    real_session = ort.InferenceSession
    opened: list[tuple[str, list[str]]] = []

    def session(path: str, sess_options: object = None, providers: list[object] | None = None) -> object:
        names = [q if isinstance(q, str) else q[0] for q in providers or []]  # type: ignore[index]
        opened.append((Path(path).name, names))
        if "CUDAExecutionProvider" in names and gpu_start == "raises":
            raise RuntimeError("CUDA failure 100: no CUDA-capable device is detected")
        return real_session(path, sess_options=sess_options, providers=["CPUExecutionProvider"])

    monkeypatch.setattr(ort, "InferenceSession", session)
    with caplog.at_level(logging.WARNING, logger="engine.packs"):
        rt = PackRuntime(p, device="auto")
    assert opened[0] == (FP16_FILE, ["CUDAExecutionProvider", "CPUExecutionProvider"])
    assert opened[-1] == ("model.onnx", ["CPUExecutionProvider"])
    assert rt.device == "cpu" and rt.model_file.name == "model.onnx"
    assert rt.provider_message == message
    assert caplog.messages == [f"{verify_pack(p).name}: {message}"]  # said once
    assert rt.score_images([np.full((40, 40, 3), 9, np.uint8)]).shape == (1,)


def test_fp16_cli(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from engine.cli import main

    p = make_pack(tmp_path / "p")
    assert main(["models", "fp16", str(p)]) == 0
    assert "added model_fp16.onnx" in capsys.readouterr().out
    assert main(["models", "verify", str(p)]) == 0
    assert main(["models", "fp16", str(tmp_path / "nope")]) == 1
