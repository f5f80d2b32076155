"""Every architecture: forward shapes, ONNX export with a dynamic batch, torch/onnxruntime parity;
backbones: packaged ImageNet weights, user weight files, ViT and Swin feature maps."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="torch is not installed (training extra)")
pytest.importorskip("timm", reason="timm is not installed (training extra)")

from training.architectures import (  # noqa: E402
    ConfigError,
    create_model,
    list_models,
    model_config,
    tiny_overrides,
)
from training.backbones import BackboneError, packaged_state_dict  # noqa: E402
from training.export import export_onnx, parity  # noqa: E402

ARCHS = [
    "hyperiqa", "sem_hyperiqa", "fhiqa", "hyperiqa_piq23", "sem_hyperiqa_piq23", "fhiqa_piq23",
    "face_full", "global_local", "face_gate",
]


def test_registry_lists_every_architecture() -> None:
    assert list_models() == ARCHS
    cfg = model_config("global_local")
    assert [(i.name, i.kind, i.crops) for i in cfg.inputs()] == [("image", "image", "full"), ("mosaic", "image", "mosaic:4")]
    assert [i.kind for i in model_config("face_gate").inputs()] == ["image", "face"]
    assert model_config("fhiqa").scene_mode == "soft" and model_config("sem_hyperiqa").scene_mode == "hard"
    with pytest.raises(ConfigError, match="unknown model"):
        model_config("resnet9000")
    with pytest.raises(ConfigError, match="unknown option"):
        model_config("hyperiqa", wings=2)
    with pytest.raises(ConfigError, match="divisible"):
        model_config("global_local", input_size=(64, 64), mosaic=3)


@pytest.mark.parametrize("arch", ARCHS)
def test_forward_export_parity(arch: str) -> None:
    torch.manual_seed(0)
    model = create_model(arch, **tiny_overrides(arch)).eval()
    inputs = {i.name: torch.randn(3, 3, *i.size) for i in model.config.inputs()}
    with torch.no_grad():
        out = model(inputs)
    assert out["score"].shape == (3,)
    assert torch.isfinite(out["score"]).all()
    if "sem_hyperiqa" in arch or "fhiqa" in arch:
        assert out["scene_logits"].shape == (3, 3)
    data = export_onnx(model)
    diffs = parity(model, data, batches=(1, 5), tol=1e-4)
    assert set(diffs) == {1, 5} and max(diffs.values()) < 1e-4
    # the graph really has a dynamic batch: a 7-image batch runs too
    import onnxruntime as ort

    sess = ort.InferenceSession(data, providers=["CPUExecutionProvider"])
    feeds = {i.name: np.zeros((7, 3, *i.size), np.float32) for i in model.config.inputs()}
    assert sess.run(None, feeds)[0].shape == (7,)
    assert [i.name for i in sess.get_inputs()] == model.input_names


def test_scene_rescaling_hard_and_soft() -> None:
    torch.manual_seed(0)
    sem = create_model("sem_hyperiqa", **tiny_overrides("sem_hyperiqa")).eval()
    fh = create_model("fhiqa", **tiny_overrides("fhiqa")).eval()
    x = {"image": torch.randn(2, 3, 64, 64)}
    with torch.no_grad():
        for m in (sem, fh):
            m.scene_a.copy_(torch.tensor([1.0, 2.0, 3.0]))
            m.scene_b.copy_(torch.tensor([0.0, 10.0, 20.0]))
        o = sem(x, scene=torch.tensor([1, -1]))
        q, logits = o["raw_score"], o["scene_logits"]
        # known scene 1: 2q + 10; unknown: the predicted (argmax) scene
        assert float(o["score"][0]) == pytest.approx(float(2 * q[0] + 10), rel=1e-5)
        k = int(logits[1].argmax())
        assert float(o["score"][1]) == pytest.approx(float((k + 1) * q[1] + 10 * k), rel=1e-5)
        of = fh(x)
        p = torch.softmax(of["scene_logits"], 1)
        want = (p * (torch.tensor([1.0, 2.0, 3.0]) * of["raw_score"][:, None] + torch.tensor([0.0, 10.0, 20.0]))).sum(1)
        assert torch.allclose(of["score"], want, atol=1e-5)


@pytest.mark.parametrize(
    "arch,scenes,want_m",
    [("hyperiqa_piq23", 0, 128.0), ("sem_hyperiqa_piq23", 35, 128.0), ("fhiqa_piq23", 35, 140.0)],
)
def test_upstream_baselines_have_upstream_size(arch: str, scenes: int, want_m: float) -> None:
    """At 1344 = 224 x 6 with the scene split's 35 training scenes, built without pretrained
    weights (on the meta device: no memory, no init time), the baselines have upstream's size:
    SemHyperIQA(1344) 128 M, FullHyperIQA 140 M parameters (within 2 %)."""
    kw: dict[str, object] = {"pretrained": "none"}
    if scenes:
        kw["scenes"] = tuple(f"Scene_{i}" for i in range(scenes))
    with torch.device("meta"):
        m = create_model(arch, **kw)
        out = m.eval()({"image": torch.empty(2, 3, 1344, 1344)})  # shapes only, no arithmetic
    assert out["score"].shape == (2,)
    if scenes:
        assert out["scene_logits"].shape == (2, scenes)
    n = sum(p.numel() for p in m.parameters()) / 1e6
    assert abs(n - want_m) / want_m < 0.02, f"{arch}: {n:.2f} M parameters, upstream {want_m} M"
    c = m.config
    assert tuple(c.input_size) == (1344, 1344) and c.backbone == "resnet50"
    assert [d for _, d in m.layer_dims] == [672, 336, 168, 84, 1] and m.layer_dims[0][0] == 1344
    # hyper-feature conv stack 2048 -> 1024 -> 512 -> 672 and the LDA branch 16 + 16 + 16 + 1296
    convs = [x for x in m.hyper if isinstance(x, torch.nn.Conv2d)]
    assert [(x.in_channels, x.out_channels) for x in convs] == [(2048, 1024), (1024, 512), (512, 672)]
    assert [lda[-1].out_features for lda in m.lda] == [16, 16, 16, 1296]
    assert [lda[-1].in_features for lda in m.lda] == [16 * 48 * 48, 32 * 24 * 24, 64 * 12 * 12, 2048 * 6 * 6]
    if scenes:
        lin = [x for x in m.scene_head if isinstance(x, torch.nn.Linear)]
        assert len(lin) == 3 and lin[-1].out_features == scenes  # SceneClassNet: a 3-layer MLP
        assert [x.out_features for x in m.rescale if isinstance(x, torch.nn.Linear)][-1] == 2


def _upstream_target_net(v: torch.Tensor, ws: list[torch.Tensor], bs: list[torch.Tensor]) -> torch.Tensor:
    """Upstream's TargetFC: grouped 1x1 convolutions, one group per image."""
    import torch.nn.functional as F

    x = v.reshape(1, -1, 1, 1)
    b = v.shape[0]
    for j, (w, bias) in enumerate(zip(ws, bs)):
        o, i = w.shape[1], w.shape[2]
        x = F.conv2d(x, w.reshape(b * o, i, 1, 1), bias.reshape(-1), groups=b)
        if j < len(ws) - 1:
            x = torch.sigmoid(x)
    return x.reshape(b)


def test_upstream_target_network_arithmetic() -> None:
    """The batched target network equals upstream's grouped-conv TargetFC on the generated
    weights, used without any 1/sqrt(fan-in) factor."""
    torch.manual_seed(0)
    m = create_model("hyperiqa_piq23", **tiny_overrides("hyperiqa_piq23")).eval()
    x = torch.randn(3, 3, 224, 224)
    with torch.no_grad():
        feats = m.backbone(x)
        q, hf = m.quality(feats)
        f = feats[-4:]
        v = torch.cat([lda(t) for lda, t in zip(m.lda, f)], 1)
        pooled = hf.mean(dim=(2, 3))
        ws = [g(hf).reshape(3, o, i) for g, (i, o) in zip(m.weight_gen, m.layer_dims)]
        ws.append(m.last_weight(pooled).reshape(3, 1, -1))
        bs = [g(pooled) for g in m.bias_gen]
        want = _upstream_target_net(v, ws, bs)
    assert torch.allclose(q, want, atol=1e-5, rtol=1e-5)


def test_upstream_scene_rescaling() -> None:
    """SEM: Q = a q + b with (a, b) = RescaleNet(softmax(logits)) in training and inference.
    FHIQA: RescaleNet(one-hot of the known scene) in training; at inference the top-k classes,
    Q = sum_k P_k (a_k q + b_k) / sum_k P_k."""
    torch.manual_seed(0)
    x = {"image": torch.randn(2, 3, 224, 224)}
    sem = create_model("sem_hyperiqa_piq23", **tiny_overrides("sem_hyperiqa_piq23")).eval()
    with torch.no_grad():
        o = sem(x, scene=torch.tensor([0, 1]))
        ab = sem.rescale(torch.softmax(o["scene_logits"], 1))
        assert torch.allclose(o["score"], ab[:, 0] * o["raw_score"] + ab[:, 1], atol=1e-5)
    fh = create_model("fhiqa_piq23", **tiny_overrides("fhiqa_piq23"))
    with torch.no_grad():
        fh.train()
        fh.backbone.eval()  # BatchNorm statistics fixed so both passes see the same features
        o = fh(x, scene=torch.tensor([2, -1]))
        eye = torch.eye(3)
        ab2 = fh.rescale(eye[2:3])[0]
        assert float(o["score"][0]) == pytest.approx(float(ab2[0] * o["raw_score"][0] + ab2[1]), rel=1e-5)
        fh.eval()
        oi = fh(x)
        p = torch.softmax(oi["scene_logits"], 1)
        top_p, top_i = torch.topk(p, 2, dim=1)  # tiny config: topk=2
        top_p = top_p / top_p.sum(1, keepdim=True)
        ab_all = fh.rescale(eye)
        want = (top_p * (ab_all[top_i, 0] * oi["raw_score"][:, None] + ab_all[top_i, 1])).sum(1)
        assert torch.allclose(oi["score"], want, atol=1e-5)
        assert float(o["score"][1]) == pytest.approx(float(want[1]), rel=1e-5)  # unknown scene: top-k


def test_face_gate_mixes_branch_scores() -> None:
    m = create_model("face_gate", **tiny_overrides("face_gate")).eval()
    x = {"image": torch.randn(2, 3, 64, 64), "face": torch.randn(2, 3, 48, 48)}
    with torch.no_grad():
        o = m(x)
    assert ((o["gate"] > 0) & (o["gate"] < 1)).all()


def test_packaged_imagenet_weights_are_loaded() -> None:
    """The one test with real weights: EfficientNet-Lite0 and MobileNetV2 from their packages,
    mapped onto timm, classify scikit-image's cat photo as a cat."""
    import timm
    from skimage import data as skdata

    from engine.packs.runtime import make_crops, normalise

    img = normalise(make_crops(skdata.chelsea(), (224, 224), "full")[0][None], (0.485, 0.456, 0.406), (0.229, 0.224, 0.225))
    for name in ("efficientnet_lite0", "mobilenetv2_100"):
        try:
            sd = packaged_state_dict(name)
        except BackboneError as exc:
            pytest.skip(str(exc))
        net = timm.create_model(name, pretrained=False)
        net.load_state_dict(sd)
        with torch.no_grad():
            top = int(net.eval()(torch.from_numpy(img)).argmax())
        assert top in (281, 282, 283, 284, 285, 287), f"{name}: class {top} is not a cat"
    m = create_model("hyperiqa", backbone="mobilenetv2_100", input_size=(96, 96))
    assert "torchvision" in m.weights_sources()[0]
    ref = packaged_state_dict("mobilenetv2_100")["conv_stem.weight"]
    assert torch.equal(m.backbone.model.state_dict()["conv_stem.weight"], ref)


def test_user_backbone_weights_file(tmp_path: Path) -> None:
    """--backbone-weights: a timm-format file (here a ViT's) is loaded into the backbone."""
    import timm

    ref = timm.create_model("test_vit", pretrained=False, img_size=64)
    f = tmp_path / "vit.pth"
    torch.save({"state_dict": ref.state_dict()}, f)
    o = {**tiny_overrides("hyperiqa"), "backbone": "test_vit", "pretrained": str(f)}
    m = create_model("hyperiqa", **o)
    got = {k.removeprefix("model."): v for k, v in m.backbone.model.state_dict().items()}
    assert torch.equal(got["blocks.0.attn.qkv.weight"], ref.state_dict()["blocks.0.attn.qkv.weight"])
    assert "vit.pth" in m.weights_sources()[0]
    bad = tmp_path / "bad.pth"
    torch.save({"nothing": torch.zeros(1)}, bad)
    with pytest.raises(BackboneError):
        create_model("hyperiqa", **{**o, "pretrained": str(bad)})
    with pytest.raises(BackboneError, match="no such"):
        create_model("hyperiqa", **{**o, "pretrained": str(tmp_path / "missing.pth")})


def test_swin_feature_maps_are_nchw() -> None:
    o = {
        **tiny_overrides("hyperiqa"),
        "backbone": "swin_tiny_patch4_window7_224",
        "backbone_kwargs": {"embed_dim": 16, "depths": (1, 1, 1, 1), "num_heads": (1, 1, 1, 1), "window_size": 2},
    }
    m = create_model("hyperiqa", **o).eval()
    assert m.backbone.nhwc
    with torch.no_grad():
        assert m({"image": torch.randn(2, 3, 64, 64)})["score"].shape == (2,)
    assert max(parity(m, export_onnx(m), batches=(1, 3)).values()) < 1e-4
