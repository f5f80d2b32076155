"""Training runs on the tiny PIQ23-layout dataset: learning, every architecture end to end
(train -> challenge metrics -> ONNX pack with parity), config files, resume, synthetic
pretraining, the CLI and its error messages."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="torch is not installed (training extra)")
pytest.importorskip("timm", reason="timm is not installed (training extra)")

from engine.packs.pack import verify_pack  # noqa: E402
from training.architectures import model_config, tiny_overrides  # noqa: E402
from training.cli import main as training_main  # noqa: E402
from training.train import TrainConfig, fit  # noqa: E402

ARCHS = [
    "hyperiqa", "sem_hyperiqa", "fhiqa", "hyperiqa_piq23", "sem_hyperiqa_piq23", "fhiqa_piq23",
    "face_full", "global_local", "face_gate",
]


def _tiny_model(arch: str) -> dict[str, object]:
    o = tiny_overrides(arch)
    o.pop("scenes", None)  # SEM/FHIQA take their scenes from the training split
    return {k: list(v) if isinstance(v, tuple) else v for k, v in o.items()}


def test_short_training_raises_scene_srcc(tiny_piq23: Path, tmp_path: Path) -> None:
    """HyperIQA (packaged EfficientNet-Lite0, 64 px, input-side 70 % of the backbone frozen):
    16 steps lift the median per-scene SRCC on the 6 training scenes (48 images, exposure / noise /
    JPEG defects of known strength) from near 0 to above 0.4.  (Held-out scenes of a dataset this
    small are too few for a stable check: docs/training.md has the real protocol.)"""
    cfg = TrainConfig(
        arch="hyperiqa", model={"input_size": [64, 64]}, piq23=str(tiny_piq23), images=str(tiny_piq23 / "images"),
        out=str(tmp_path / "run"), epochs=2, steps_per_epoch=8, scenes_per_batch=2, images_per_scene=8,
        lr=2e-3, warmup_steps=2, freeze_backbone=0.7, eval_at_start=True, log_every=0, seed=0, val_part="Train",
    )
    res = fit(cfg, progress=lambda s: None)
    srcc = [h["val"]["srcc"] for h in res["history"]]
    threshold = 0.4
    assert srcc[0] < threshold, f"untrained SRCC {srcc[0]} already above {threshold}"
    assert res["best"]["srcc"] > threshold, f"SRCC per epoch {srcc}"


@pytest.mark.parametrize("arch", ARCHS)
def test_every_architecture_trains_and_exports(arch: str, tiny_piq23: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cfg_file = tmp_path / "run.json"
    cfg_file.write_text(json.dumps({"arch": arch, "model": _tiny_model(arch), "epochs": 1, "steps_per_epoch": 2,
                                    "scenes_per_batch": 2, "images_per_scene": 4, "log_every": 1}))
    out = tmp_path / "run"
    rc = training_main(["train", "--config", str(cfg_file), "--piq23", str(tiny_piq23), "--images",
                        str(tiny_piq23 / "images"), "--out", str(out), "--json"])
    assert rc == 0
    res = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert set(res["best"]) >= {"srcc", "plcc", "krcc", "score", "scenes"}
    assert len(res["best"]["scenes"]) == 2
    for f in ("best.pt", "last.pt", "history.json", "learning_curve.png", "predictions_val.csv", "config.json"):
        assert (out / f).is_file(), f
    pack = tmp_path / "pack"
    assert training_main(["export", str(out / "best.pt"), "--out", str(pack), "--parity-batch", "3"]) == 0
    m = verify_pack(pack)
    assert m.architecture == arch and not m.commercial_use and "non-commercial" in m.licence
    assert [(i.name, i.kind, i.crops) for i in m.inputs] == [(i.name, i.kind, i.crops) for i in model_config(arch).inputs()]
    assert max(m.extra["parity_max_abs_diff"].values()) < 1e-4
    assert m.metrics["srcc"] == pytest.approx(res["best"]["srcc"], abs=1e-6)
    assert "PIQ23" in m.training_data and (pack / "MODEL_CARD.md").is_file()
    # PIQ23's own terms (upstream's licence text), not a Creative Commons name; the opt-in is documented
    assert "CC BY" not in m.licence and "non-transferable" in m.licence
    card = (pack / "MODEL_CARD.md").read_text()
    assert "non-sublicensable, and revocable license" in card and "CULLER_ALLOW_NONCOMMERCIAL=1" in card
    assert "CC BY" not in card


def test_training_on_the_download_layout(tiny_download_tree: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """The tree as DXOMARK ships it (images and Scores_*.csv at the top, 'Test split/...'): only
    --piq23 is needed; predictions of the checkpoint score the same with culler evaluate."""
    from engine.cli import main as culler

    d = tiny_download_tree
    o = _tiny_model("hyperiqa")
    argv = ["train", "--arch", "hyperiqa", "--piq23", str(d), "--out", str(tmp_path / "run"), "--epochs", "1",
            "--steps-per-epoch", "1", "--scenes-per-batch", "2", "--images-per-scene", "4", "--json"]
    for k, v in o.items():
        argv += ["--model-opt", f"{k}={json.dumps(v)}"]
    assert training_main(argv) == 0
    res = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    pred = tmp_path / "pred.csv"
    assert training_main(["predict", str(tmp_path / "run" / "best.pt"), "--piq23", str(d), "--out", str(pred)]) == 0
    capsys.readouterr()
    scores = d / "Test split" / "Scene Split" / "SceneSplit_Test_Scores_Overall.csv"
    assert culler(["evaluate", "--scores", str(scores), "--predictions", str(pred), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["score"] == pytest.approx(res["best"]["score"], abs=1e-5)


def test_config_file_resume_and_evaluate(tiny_piq23: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from engine.cli import main as culler

    cfg = tmp_path / "run.yaml"
    model = _tiny_model("sem_hyperiqa")
    cfg.write_text(
        "arch: sem_hyperiqa\nepochs: 1\nsteps_per_epoch: 2\nscenes_per_batch: 2\nimages_per_scene: 4\nloss: ssi+0.5*fidelity\n"
        f"model: {json.dumps(model)}\npiq23: {tiny_piq23}\nimages: {tiny_piq23 / 'images'}\nout: {tmp_path / 'run'}\n"
    )
    assert culler(["train", "train", "--config", str(cfg)]) == 0
    ck = torch.load(tmp_path / "run" / "last.pt", weights_only=False)
    assert ck["epoch"] == 1 and len(ck["model_config"]["scenes"]) == 6
    # resume for a second epoch (command-line options override the file)
    assert culler(["train", "train", "--config", str(cfg), "--epochs", "2", "--resume", str(tmp_path / "run" / "last.pt")]) == 0
    ck = torch.load(tmp_path / "run" / "last.pt", weights_only=False)
    assert ck["epoch"] == 2 and [h["epoch"] for h in ck["history"]] == [1, 2]
    assert "resumed" in capsys.readouterr().out
    # predictions of the checkpoint, scored by culler evaluate, match the training report
    pred = tmp_path / "pred.csv"
    assert training_main(["predict", str(tmp_path / "run" / "last.pt"), "--piq23", str(tiny_piq23), "--images",
                          str(tiny_piq23 / "images"), "--out", str(pred), "--json"]) == 0
    reported = json.loads(capsys.readouterr().out)
    scores = tiny_piq23 / "splits" / "scene" / "SceneSplit_Test_Scores_Overall.csv"
    assert culler(["evaluate", "--scores", str(scores), "--predictions", str(pred), "--json"]) == 0
    evaluated = json.loads(capsys.readouterr().out)
    assert evaluated["score"] == pytest.approx(reported["score"], abs=1e-5)
    assert evaluated["srcc"] == pytest.approx(ck["metrics"]["srcc"], abs=1e-5)


def test_synthetic_pretraining_pack_runs_in_the_engine(tiny_piq23: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """pretrain-synthetic -> export -> the engine's pack runtime gives the torch model's score;
    fine-tuning that checkpoint on PIQ23 (--init) makes a non-commercial model."""
    from engine.packs.runtime import PackRuntime
    from training.train import model_from_checkpoint

    out = tmp_path / "pre"
    rc = training_main(["pretrain-synthetic", "--arch", "hyperiqa", "--backbone", "test_efficientnet",
                        "--model-opt", "pretrained=\"none\"", "--input-size", "64x64",
                        "--model-opt", "lda_dims=[8,8,8,8]", "--model-opt", "target_dims=[16,8]",
                        "--model-opt", "hyper_channels=16", "--epochs", "1", "--steps-per-epoch", "2",
                        "--scenes-per-batch", "2", "--val-groups", "4", "--out", str(out)])
    assert rc == 0
    assert "best: SRCC" in capsys.readouterr().out
    pack = tmp_path / "pack"
    assert training_main(["export", str(out / "best.pt"), "--out", str(pack), "--name", "tiny-synthetic"]) == 0
    m = verify_pack(pack)
    assert m.commercial_use and m.licence == "Apache-2.0" and "astronaut" in m.training_data
    assert m.output.range is not None and m.output.range[0] <= m.output.range[1]
    from skimage import data as skdata

    img = skdata.coffee()
    rt = PackRuntime(pack, device="cpu")
    got = rt.score_images([img])
    model, _ = model_from_checkpoint(out / "best.pt")
    from training.data import prepare_inputs, to_tensor

    spec = model.config.inputs()[0]
    x = to_tensor(prepare_inputs(img, [spec])["image"], spec)[None]
    with torch.no_grad():
        want = model({"image": x})["score"].numpy()
    assert np.abs(got - want).max() < 1e-4

    # fine-tune SEM-HyperIQA from the pretrained checkpoint: backbone and HyperIQA head carry over
    ft = tmp_path / "ft"
    rc = training_main(["train", "--arch", "sem_hyperiqa", "--init", str(out / "best.pt"), "--backbone", "test_efficientnet",
                        "--model-opt", "pretrained=\"none\"", "--input-size", "64x64",
                        "--model-opt", "lda_dims=[8,8,8,8]", "--model-opt", "target_dims=[16,8]",
                        "--model-opt", "hyper_channels=16", "--epochs", "1", "--steps-per-epoch", "1",
                        "--piq23", str(tiny_piq23), "--images", str(tiny_piq23 / "images"), "--out", str(ft)])
    assert rc == 0
    log = capsys.readouterr().out
    n, total = (int(v) for v in log.split("init: ", 1)[1].split(" tensors", 1)[0].split(" of "))
    assert total - n == 4  # new: the scene classifier (weight, bias) and the per-scene a_s, b_s
    ck = torch.load(ft / "last.pt", weights_only=False)
    assert ck["non_commercial"] and any("synthetic" in t for t in ck["training_data"])


@pytest.mark.parametrize(
    "argv,needle",
    [
        (["train", "--arch", "hyperiqa", "--out", "{tmp}/x"], "needs --piq23"),
        (["train", "--arch", "nope", "--piq23", "{tiny}", "--images", "{tiny}/images", "--out", "{tmp}/x"], "unknown model"),
        (["train", "--loss", "ssi+wat", "--piq23", "{tiny}", "--images", "{tiny}/images", "--out", "{tmp}/x",
          "--backbone", "test_efficientnet", "--model-opt", "pretrained=\"none\""], "bad loss term"),
        (["train", "--piq23", "{tmp}", "--images", "{tmp}", "--out", "{tmp}/x"], "no such split file"),
        (["export", "{tmp}/missing.pt", "--out", "{tmp}/p"], "no such checkpoint"),
        (["train", "--backbone-weights", "{tmp}/w.pth", "--piq23", "{tiny}", "--images", "{tiny}/images", "--out", "{tmp}/x"], "no such backbone weights file"),
    ],
)
def test_cli_errors_are_one_line(argv: list[str], needle: str, tiny_piq23: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    args = [a.replace("{tmp}", str(tmp_path)).replace("{tiny}", str(tiny_piq23)) for a in argv]
    assert training_main(args) == 2
    err = capsys.readouterr().err
    assert needle in err and "Traceback" not in err


def test_bad_config_file(tmp_path: Path) -> None:
    cfg = tmp_path / "c.toml"
    cfg.write_text("epochs = 1\nwings = 2\n")
    with pytest.raises(SystemExit, match="unknown config key: wings"):
        training_main(["train", "--config", str(cfg)])
    cfg.write_text("epochs = [")
    with pytest.raises(SystemExit, match="not valid toml"):
        training_main(["train", "--config", str(cfg)])


def test_culler_train_forwards(capsys: pytest.CaptureFixture[str]) -> None:
    from engine.cli import main as culler

    assert culler(["train", "models"]) == 0
    out = capsys.readouterr().out
    assert all(a in out for a in ARCHS)


def test_max_steps_stops_reproducibly(tiny_piq23: Path, tmp_path: Path) -> None:
    """--max-steps stops on a step count (mid-epoch too, then evaluates); two runs with the same
    seed end with bit-identical parameters, so a card's command reproduces its model."""
    base = dict(arch="hyperiqa", model=_tiny_model("hyperiqa"), piq23=str(tiny_piq23), epochs=3, steps_per_epoch=2,
                scenes_per_batch=2, images_per_scene=4, log_every=0, max_steps=3, device="cpu")
    logs: list[str] = []
    a = fit(TrainConfig(**base, out=str(tmp_path / "a")), progress=logs.append)  # type: ignore[arg-type]
    b = fit(TrainConfig(**base, out=str(tmp_path / "b")), progress=lambda s: None)  # type: ignore[arg-type]
    assert a["steps"] == 3 and a["epochs_run"] == 2 and [h["epoch"] for h in a["history"]] == [1, 2]
    assert any("stopped after 3 steps (max_steps)" in s for s in logs)
    assert a["param_digest"] == b["param_digest"]
    assert a["best"]["score"] == b["best"]["score"]


def test_validation_scenes_early_stop_and_logs(tiny_piq23: Path, tmp_path: Path) -> None:
    """--validation scenes: best.pt is chosen on held-out training scenes (never on the Test part,
    which is still reported); early stopping on the selection metric; history.csv per epoch."""
    import csv

    from training import piq23
    from training.train import hold_out_scenes

    train_rows = piq23.load_split(tiny_piq23, "scene", "Train", "Overall")
    tr, va = hold_out_scenes(train_rows, 2, seed=0)
    assert len({r.scene for r in va}) == 2 and not {r.scene for r in tr} & {r.scene for r in va}
    assert len({r.condition for r in va}) == 2  # spread over the lighting conditions
    cfg = TrainConfig(arch="hyperiqa", model=_tiny_model("hyperiqa"), piq23=str(tiny_piq23), out=str(tmp_path / "r"),
                      epochs=6, steps_per_epoch=1, scenes_per_batch=2, images_per_scene=2, log_every=0, lr=0.0,
                      warmup_steps=0, validation="scenes", val_scenes=2, select_on="srcc", early_stop=2)
    logs: list[str] = []
    res = fit(cfg, progress=logs.append)
    # lr 0: (almost) nothing changes, so the run stops 2 epochs after its best, well before epoch 6
    srcc = [h["val"]["srcc"] for h in res["history"]]
    assert res["epochs_run"] < 6 and any("early stop" in s for s in logs)
    assert res["epochs_run"] == res["best_epoch"] + 2 and max(srcc[-2:]) <= max(srcc[:-2])
    assert res["test"] is not None and len(res["test"]["scenes"]) == 2
    ck = torch.load(tmp_path / "r" / "best.pt", weights_only=False)
    assert set(ck["metrics"]["scenes"]) == {r.scene for r in va}
    assert "held out for validation" in ck["training_data"][0]
    with open(tmp_path / "r" / "history.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert [r["epoch"] for r in rows] == [str(e) for e in range(1, res["epochs_run"] + 1)]
    assert rows[0]["test_score"] and rows[0]["val_mae"]


def test_resume_restores_rng_and_provenance(tiny_piq23: Path, tmp_path: Path) -> None:
    """2 epochs in one go == 1 epoch + --resume for the second (bit-identical parameters: the
    Python/numpy/torch RNG states are restored); the weights' provenance survives the resume;
    model options that contradict the checkpoint are an error, not silently dropped."""
    base = dict(arch="hyperiqa", model=_tiny_model("hyperiqa"), piq23=str(tiny_piq23), steps_per_epoch=2,
                scenes_per_batch=2, images_per_scene=4, log_every=0, device="cpu")
    full = fit(TrainConfig(**base, epochs=2, out=str(tmp_path / "full")), progress=lambda s: None)  # type: ignore[arg-type]
    fit(TrainConfig(**base, epochs=1, out=str(tmp_path / "part")), progress=lambda s: None)  # type: ignore[arg-type]
    # provenance written by the first run (here: as if its backbone had come from a user's file)
    last = tmp_path / "part" / "last.pt"
    ck = torch.load(last, weights_only=False)
    ck["weights_sources"] = ["test_efficientnet: file imagenet.safetensors"]
    torch.save(ck, last)
    import random as pyrandom

    pyrandom.seed(12345)  # a different process state must not matter: resume restores it
    torch.manual_seed(999)
    res = fit(TrainConfig(**base, epochs=2, out=str(tmp_path / "part"), resume=str(last)),  # type: ignore[arg-type]
              progress=lambda s: None)
    assert res["param_digest"] == full["param_digest"]
    ck = torch.load(last, weights_only=False)
    assert ck["epoch"] == 2 and ck["weights_sources"] == ["test_efficientnet: file imagenet.safetensors"]
    bad = {**base, "model": {**base["model"], "hyper_channels": 32}}  # type: ignore[dict-item]
    with pytest.raises(Exception, match="differ from it: hyper_channels"):
        fit(TrainConfig(**bad, epochs=3, out=str(tmp_path / "part"), resume=str(tmp_path / "part" / "last.pt")),  # type: ignore[arg-type]
            progress=lambda s: None)


@pytest.mark.parametrize("name", ["hyperiqa_piq23", "sem_hyperiqa_piq23", "fhiqa_piq23"])
def test_baseline_config_runs_on_the_download_layout(name: str, tiny_download_tree: Path, tmp_path: Path,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    """The documented command of each baseline (config file, --piq23 on the download) runs, shrunk
    by command-line overrides that beat the config file (--input-size, --model-opt, --backbone)."""
    cfg = Path(__file__).resolve().parents[2] / "training" / "configs" / f"{name}.yaml"
    out = tmp_path / "run"
    rc = training_main(["train", "--config", str(cfg), "--piq23", str(tiny_download_tree), "--out", str(out),
                        "--backbone", "test_resnet", "--model-opt", 'pretrained="none"', "--input-size", "224",
                        "--model-opt", "hyper_stack=[32]", "--epochs", "1", "--steps-per-epoch", "1", "--workers", "0",
                        "--scenes-per-batch", "2", "--images-per-scene", "2", "--json"])
    assert rc == 0, capsys.readouterr().err
    res = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert len(res["best"]["scenes"]) == 2
    ck = torch.load(out / "best.pt", weights_only=False)
    mc, tc = ck["model_config"], ck["train_config"]
    assert mc["name"] == name and mc["input_size"] == [224, 224] and mc["hyper_stack"] == [32]
    assert tc["loss"] == "l1" and tc["select_on"] == "srcc"
    if name != "hyperiqa_piq23":
        assert len(mc["scenes"]) == 6 and tc["scene_ce_weight"] == 1.0


def test_test_time_crops_match_the_runtime(tiny_piq23: Path, tmp_path: Path) -> None:
    """RQ-Net-style options of global_local (random mosaics in training, grid5 crops of the global
    view at test time): training's evaluation averages the crops exactly as the pack runtime."""
    from engine.packs.runtime import PackRuntime
    from training.data import Piq23Dataset, collate, load_rgb
    from training.train import model_from_checkpoint, predict

    model = {**_tiny_model("global_local"), "train_crops": 2, "image_crops": "grid5"}
    cfg = TrainConfig(arch="global_local", model=model, piq23=str(tiny_piq23), out=str(tmp_path / "r"), epochs=1,
                      steps_per_epoch=1, scenes_per_batch=2, images_per_scene=2, log_every=0)
    fit(cfg, progress=lambda s: None)
    pack = tmp_path / "pack"
    assert training_main(["export", str(tmp_path / "r" / "best.pt"), "--out", str(pack)]) == 0
    m = verify_pack(pack)
    assert [i.crops for i in m.inputs] == ["grid5", "mosaic:4"]
    net, _ = model_from_checkpoint(tmp_path / "r" / "best.pt")
    from training import piq23

    rows = piq23.load_split(tiny_piq23, "scene", "Test", "Overall")[:3]
    ds = Piq23Dataset(rows, tiny_piq23 / "images", net.config.inputs())
    p, *_ = predict(net, torch.utils.data.DataLoader(ds, batch_size=3, collate_fn=collate), torch.device("cpu"))
    got = PackRuntime(pack, device="cpu").score_images([load_rgb(r.file_in(tiny_piq23 / "images")) for r in rows])
    assert np.abs(got - p).max() < 1e-4


def test_multi_attribute_heads(tiny_piq23: Path, tmp_path: Path) -> None:
    """extra_attributes: the target network gets Details and Exposure heads trained on those JODs
    (same images, same split) beside the Overall score; the pack still exports the score."""
    from training.train import _attribute_loss, model_from_checkpoint

    model = {**_tiny_model("fhiqa_piq23"), "extra_attributes": ["Details", "Exposure"]}
    cfg = TrainConfig(arch="fhiqa_piq23", model=model, piq23=str(tiny_piq23), out=str(tmp_path / "r"), epochs=1,
                      steps_per_epoch=2, scenes_per_batch=2, images_per_scene=2, log_every=0, loss="l1", lr=1e-3)
    fit(cfg, progress=lambda s: None)
    net, ck = model_from_checkpoint(tmp_path / "r" / "best.pt")
    with torch.no_grad():
        out = net({"image": torch.randn(2, 3, 224, 224)})
    assert out["attributes"].shape == (2, 2) and out["score"].shape == (2,)
    assert ck["model_config"]["extra_attributes"] == ["Details", "Exposure"]
    pack = tmp_path / "pack"
    assert training_main(["export", str(tmp_path / "r" / "best.pt"), "--out", str(pack)]) == 0
    # the extra heads' loss: the run's loss per head, images without a JOD left out
    from training.losses import LossSet

    ls = LossSet("l1", 0.0)
    pred = torch.tensor([[1.0, 0.0], [2.0, 0.0], [3.0, 5.0]])
    tgt = torch.tensor([[0.0, float("nan")], [0.0, float("nan")], [0.0, 1.0]])
    v = _attribute_loss(ls, pred, tgt, torch.tensor([0, 0, 0]))
    assert float(v) == pytest.approx(2.0 + 4.0)


def test_tensorboard_log(tiny_piq23: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every evaluated epoch goes to TensorBoard (val/test metrics, loss, lr) when tensorboard is
    installed: a recording writer with SummaryWriter's API stands in where it is not."""
    from training import train as train_mod

    class Recorder:
        def __init__(self, path: str) -> None:
            self.path, self.scalars, self.closed = path, [], False

        def add_scalar(self, tag: str, value: float, step: int) -> None:
            self.scalars.append((tag, float(value), int(step)))

        def flush(self) -> None:
            pass

        def close(self) -> None:
            self.closed = True

    try:
        import tensorboard  # noqa: F401

        real = True
    except ImportError:
        real = False
    made: list[Recorder] = []
    if not real:
        monkeypatch.setattr(train_mod, "_tensorboard", lambda p: made.append(Recorder(str(p))) or made[-1])
    cfg = TrainConfig(arch="hyperiqa", model=_tiny_model("hyperiqa"), piq23=str(tiny_piq23), out=str(tmp_path / "r"),
                      epochs=2, steps_per_epoch=1, scenes_per_batch=2, images_per_scene=2, log_every=0)
    res = fit(cfg, progress=lambda s: None)
    if real:
        assert any((tmp_path / "r" / "tensorboard").iterdir())
        return
    (rec,) = made
    assert rec.closed and rec.path == str(tmp_path / "r" / "tensorboard")
    got = {(t, s): v for t, v, s in rec.scalars}
    for h in res["history"]:
        assert got[("val/srcc", h["step"])] == pytest.approx(h["val"]["srcc"])
        assert got[("train/loss", h["step"])] == pytest.approx(h["train_loss"])
    cfg.tensorboard, cfg.out = False, str(tmp_path / "r2")
    fit(cfg, progress=lambda s: None)
    assert len(made) == 1  # --no-tensorboard


def test_deterministic_synthetic_run_rebuilds_the_same_onnx(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """The default pack's recipe (pretrain-synthetic --threads 1 --deterministic --max-steps) run
    twice -- once with a data-loader process, once without -- ends with the same parameters, and
    the two exports are byte-identical model.onnx files (what scripts/reproduce-default-pack
    checks on the real pack)."""
    import hashlib

    base = ["pretrain-synthetic", "--arch", "global_local", "--backbone", "test_efficientnet",
            "--model-opt", "pretrained=\"none\"", "--input-size", "64x64", "--epochs", "3", "--steps-per-epoch", "2",
            "--scenes-per-batch", "2", "--val-groups", "2", "--max-steps", "3", "--threads", "1", "--deterministic",
            "--log-every", "0", "--json"]
    digests, hashes = [], []
    try:
        for run, workers in (("a", "0"), ("b", "1")):
            assert training_main([*base, "--workers", workers, "--out", str(tmp_path / run)]) == 0
            assert torch.are_deterministic_algorithms_enabled()
            res = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
            assert res["steps"] == 3
            digests.append(res["param_digest"])
            pack = tmp_path / f"pack-{run}"
            assert training_main(["export", str(tmp_path / run / "best.pt"), "--out", str(pack), "--name", "t"]) == 0
            hashes.append(hashlib.sha256((pack / "model.onnx").read_bytes()).hexdigest())
    finally:
        torch.use_deterministic_algorithms(False)
    assert digests[0] == digests[1]
    assert hashes[0] == hashes[1]
