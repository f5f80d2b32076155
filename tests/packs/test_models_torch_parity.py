"""The onnxruntime pack runtime against the torch checkpoint it was exported from (skipped without torch)."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")
timm = pytest.importorskip("timm")

from engine.packs.pack import Manifest, PackInput, PackOutput, write_pack  # noqa: E402
from engine.packs.runtime import PackRuntime, make_crops  # noqa: E402

MEAN, STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)


def _model() -> torch.nn.Module:
    torch.manual_seed(0)
    m = timm.create_model("mobilenetv2_050", pretrained=False, num_classes=1)
    m.train()
    with torch.no_grad():  # non-trivial batch-norm statistics
        for _ in range(3):
            m(torch.randn(4, 3, 64, 64) * 2 + 0.5)
    return m.eval()


def _export(model: torch.nn.Module, path: Path, size: int) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            model,
            (torch.zeros(1, 3, size, size),),
            str(path),
            input_names=["image"],
            output_names=["score"],
            dynamic_axes={"image": {0: "N"}, "score": {0: "N"}},
            opset_version=17,
            dynamo=False,
        )


def _torch_reference(model: torch.nn.Module, imgs: list[np.ndarray], size: int, crops: str) -> np.ndarray:
    """Independent torch-side preprocessing (same crops) and forward pass, crops averaged."""
    out = []
    for img in imgs:
        cs = make_crops(img, (size, size), crops)
        x = torch.from_numpy(np.stack(cs)).permute(0, 3, 1, 2).float() / 255.0
        x = (x - torch.tensor(MEAN).view(1, 3, 1, 1)) / torch.tensor(STD).view(1, 3, 1, 1)
        with torch.no_grad():
            out.append(float(model(x).reshape(-1).mean()))
    return np.array(out)


@pytest.mark.parametrize("crops", ["center", "grid5"])
def test_runtime_matches_torch_checkpoint(tmp_path: Path, crops: str) -> None:
    size = 64
    ckpt = tmp_path / "model.pt"
    torch.save(_model().state_dict(), ckpt)
    model = timm.create_model("mobilenetv2_050", pretrained=False, num_classes=1)
    model.load_state_dict(torch.load(ckpt, weights_only=True))
    model.eval()
    onnx_path = tmp_path / "model.onnx"
    _export(model, onnx_path, size)
    m = Manifest(
        name="parity",
        version="1",
        architecture="mobilenetv2_050",
        inputs=[PackInput("image", "image", (size, size), MEAN, STD, crops)],
        output=PackOutput("score"),
    )
    pack = write_pack(tmp_path / "parity", m, {"model.onnx": onnx_path})
    rng = np.random.default_rng(3)
    imgs = [rng.integers(0, 256, (int(rng.integers(64, 160)), int(rng.integers(64, 160)), 3), dtype=np.uint8) for _ in range(9)]
    ref = _torch_reference(model, imgs, size, crops)
    for batch in (1, 8):
        got = PackRuntime(pack, device="cpu", batch_size=batch).score_images(imgs)
        np.testing.assert_allclose(got, ref, atol=1e-4, rtol=0)
