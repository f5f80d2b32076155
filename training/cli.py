"""Command line of the training module: ``python -m training COMMAND`` or ``culler train COMMAND``.

Commands:

``train``               fine-tune / train on PIQ23 (challenge protocol, official splits)
``pretrain-synthetic``  RankIQA-style pretraining on synthetic defects of permissive photos
``predict``             NTIRE-format predictions (IMAGE,SCORE) of a checkpoint on a PIQ23 split
``export``              checkpoint -> ONNX model pack (parity-checked)
``make-tiny``           write a tiny dataset in the PIQ23 layout (for smoke tests)
``models``              list the registered architectures

Options may come from a config file (``--config run.yaml``; YAML, JSON or TOML with the keys of
``training.train.TrainConfig``); command-line options override it.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

PROG = "python -m training"


def _load_config_file(path: str) -> dict[str, Any]:
    p = Path(path)
    try:
        text = p.read_text()
    except OSError as exc:
        raise SystemExit(f"{PROG}: cannot read config {p}: {exc}") from None
    try:
        if p.suffix in (".yaml", ".yml"):
            import yaml

            data = yaml.safe_load(text) or {}
        elif p.suffix == ".toml":
            import tomllib

            data = tomllib.loads(text)
        else:
            data = json.loads(text)
    except Exception as exc:  # noqa: BLE001 - any parse error is the user's file
        raise SystemExit(f"{PROG}: config {p} is not valid {p.suffix.lstrip('.') or 'JSON'}: {exc}") from None
    if not isinstance(data, dict):
        raise SystemExit(f"{PROG}: config {p} must be a mapping of option names to values")
    return {k.replace("-", "_"): v for k, v in data.items()}


def _common_train_args(p: argparse.ArgumentParser) -> None:
    S = argparse.SUPPRESS
    p.add_argument("--config", help="YAML / JSON / TOML file with TrainConfig keys")
    p.add_argument("--arch", default=S, help="model name (python -m training models)")
    p.add_argument("--backbone", default=S, help="timm backbone name (default efficientnet_lite0)")
    p.add_argument("--backbone-weights", default=S, metavar="PATH", help="timm-format weights file for the backbone")
    p.add_argument("--input-size", default=S, metavar="HxW", help="whole-frame input size, e.g. 224x224")
    p.add_argument("--model-opt", action="append", default=S, metavar="KEY=VALUE", help="model config override (JSON value), repeatable")
    p.add_argument("--init", default=S, metavar="CKPT", help="start from the matching weights of a checkpoint")
    p.add_argument("--out", default=S, help="output folder (checkpoints, history, learning curve)")
    p.add_argument("--resume", default=S, metavar="CKPT", help="resume from out/last.pt")
    p.add_argument("--epochs", type=int, default=S)
    p.add_argument("--steps-per-epoch", type=int, default=S)
    p.add_argument("--scenes-per-batch", type=int, default=S, help="S scenes (groups) per batch")
    p.add_argument("--images-per-scene", type=int, default=S, help="K images per scene per batch")
    p.add_argument("--loss", default=S, help="e.g. l1, ssi+fidelity, bdvqa, huber, 'ssi+0.5*fidelity' (terms: mse l1 huber ssi fidelity rank rank_mse bdvqa)")
    p.add_argument("--scene-ce-weight", type=float, default=S)
    p.add_argument("--huber-delta", type=float, default=S, help="delta of the huber loss term (default 1)")
    p.add_argument("--fidelity-target", choices=["gaussian", "binary"], default=S, help="fidelity loss target: gaussian (Thurstone, default) or binary (PQE)")
    p.add_argument("--attribute-weight", type=float, default=S, help="loss weight of each extra attribute head (--model-opt extra_attributes='[\"Details\",\"Exposure\"]')")
    p.add_argument("--bdvqa-lambda", type=float, default=S, help="weight of the rank hinge in the bdvqa loss (default 1)")
    p.add_argument("--lr", type=float, default=S)
    p.add_argument("--backbone-lr-mult", type=float, default=S)
    p.add_argument("--weight-decay", type=float, default=S)
    p.add_argument("--warmup-steps", type=int, default=S)
    p.add_argument("--freeze-backbone", type=float, default=S, metavar="FRACTION", help="freeze this fraction of the backbone (input side)")
    p.add_argument("--seed", type=int, default=S)
    p.add_argument("--no-amp", dest="amp", action="store_const", const="off", default=S, help="no bf16 autocast (same as --amp off)")
    p.add_argument("--amp", choices=["auto", "bf16", "off"], default=S, help="bf16 autocast: auto = on CUDA only (default), bf16 = on CPU too, off")
    p.add_argument("--ddp-find-unused", dest="ddp_find_unused", action="store_true", default=S, help="DDP find_unused_parameters (on by itself when the scene head gets no gradient)")
    p.add_argument("--device", default=S, help="auto, cpu, cuda, cuda:N")
    p.add_argument("--workers", type=int, default=S, help="data loader processes")
    p.add_argument("--threads", type=int, default=S, help="torch CPU threads (bit-identical reruns need the same count)")
    p.add_argument("--deterministic", action="store_true", default=S, help="deterministic kernels only (torch.use_deterministic_algorithms; an op without one stops the run, as some CUDA backward passes do); with --threads a CPU rerun is bit-identical on the same torch build")
    p.add_argument("--eval-batch", type=int, default=S)
    p.add_argument("--eval-at-start", action="store_true", default=S, help="evaluate the untrained model first")
    p.add_argument("--max-minutes", type=float, default=S, help="stop past this wall-clock time (rank 0 decides for all ranks), then evaluate")
    p.add_argument("--max-steps", type=int, default=S, help="stop after this many optimiser steps, then evaluate (reproducible, unlike --max-minutes)")
    p.add_argument("--log-every", type=int, default=S)
    p.add_argument("--select-on", choices=["score", "srcc", "plcc", "krcc"], default=S, help="validation metric choosing best.pt (default score, the challenge score)")
    p.add_argument("--early-stop", type=int, default=S, metavar="EPOCHS", help="stop after this many epochs without a better --select-on value")
    p.add_argument("--no-tensorboard", dest="tensorboard", action="store_false", default=S, help="no TensorBoard log even when tensorboard is installed")
    p.add_argument("--json", action="store_true", help="print the final result as one JSON object")


def _parse_size(s: Any) -> tuple[int, int]:
    if isinstance(s, list | tuple):
        return int(s[0]), int(s[1])
    parts = str(s).lower().replace(",", "x").split("x")
    try:
        if len(parts) == 1:
            return int(parts[0]), int(parts[0])
        return int(parts[0]), int(parts[1])
    except ValueError:
        raise SystemExit(f"{PROG}: bad size {s!r}; use HxW, e.g. 224x224") from None


def _train_config(args: argparse.Namespace, mode: str) -> Any:
    from training.train import TrainConfig

    d: dict[str, Any] = _load_config_file(args.config) if getattr(args, "config", None) else {}
    cli = {k: v for k, v in vars(args).items() if k not in ("config", "command", "json", "_func")}
    model = dict(d.pop("model", {}) or {})
    opt_keys: set[str] = set()
    for kv in cli.pop("model_opt", []) or []:
        k, sep, v = kv.partition("=")
        if not sep:
            raise SystemExit(f"{PROG}: --model-opt needs KEY=VALUE, got {kv!r}")
        opt_keys.add(k.strip())
        try:
            model[k.strip()] = json.loads(v)
        except json.JSONDecodeError:
            model[k.strip()] = v
    # the config file's input_size (top level or under model:) loses to --input-size / --model-opt
    file_size = d.pop("input_size", None)
    if "input_size" in cli:
        model["input_size"] = list(_parse_size(cli.pop("input_size")))
    elif file_size is not None and "input_size" not in opt_keys:
        model["input_size"] = list(_parse_size(file_size))
    d.update(cli)
    d["model"] = model
    d["mode"] = mode
    try:
        return TrainConfig.from_dict(d)
    except Exception as exc:  # noqa: BLE001
        raise SystemExit(f"{PROG}: {exc}") from None


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=PROG, description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    p = sub.add_parser("train", help="train / fine-tune on PIQ23 (official splits, challenge metrics)")
    _common_train_args(p)
    p.add_argument("--piq23", default=argparse.SUPPRESS, metavar="DIR", help="the PIQ23 download (Scores_*.csv, 'Test split/') or a folder with scores/ and splits/")
    p.add_argument("--images", default=argparse.SUPPRESS, metavar="ROOT", help="images root ({attribute}/{image}; default: the --piq23 folder)")
    p.add_argument("--split", choices=["scene", "device"], default=argparse.SUPPRESS)
    p.add_argument("--attribute", choices=["Overall", "Details", "Exposure"], default=argparse.SUPPRESS)
    p.add_argument("--val-part", choices=["Test", "Train"], default=argparse.SUPPRESS, help="with --validation test: validate on this part of the split (default Test)")
    p.add_argument("--validation", choices=["test", "scenes"], default=argparse.SUPPRESS,
                   help="test: choose best.pt on the split's Test part (upstream protocol, default); scenes: on held-out training scenes (the Test part is still reported)")
    p.add_argument("--val-scenes", type=int, default=argparse.SUPPRESS, help="training scenes held out with --validation scenes (default 5)")
    p.add_argument("--cache-dir", default=argparse.SUPPRESS, help="prepared inputs / face crops (default OUT/cache)")
    p.set_defaults(_func=cmd_train)

    p = sub.add_parser("pretrain-synthetic", help="RankIQA-style pretraining on synthetic defects of permissive photos")
    _common_train_args(p)
    p.add_argument("--photos", action="append", default=argparse.SUPPRESS, metavar="DIR", help="extra folder of permissively licensed photos (repeatable)")
    p.add_argument("--no-skimage", action="store_true", default=argparse.SUPPRESS, help="do not use scikit-image's photos")
    p.add_argument("--group-size", type=int, default=argparse.SUPPRESS, help="images per ranked group (default 4)")
    p.add_argument("--val-groups", type=int, default=argparse.SUPPRESS)
    p.set_defaults(_func=cmd_pretrain)

    p = sub.add_parser("predict", help="predictions CSV (IMAGE,SCORE) of a checkpoint on a PIQ23 split")
    p.add_argument("checkpoint")
    p.add_argument("--piq23", required=True, metavar="DIR")
    p.add_argument("--images", default=None, metavar="ROOT", help="default: the --piq23 folder")
    p.add_argument("--split", choices=["scene", "device"], default="scene")
    p.add_argument("--part", choices=["Train", "Test"], default="Test")
    p.add_argument("--attribute", choices=["Overall", "Details", "Exposure"], default="Overall")
    p.add_argument("--out", required=True, help="predictions CSV to write")
    p.add_argument("--cache-dir", default=None)
    p.add_argument("--device", default="auto")
    p.add_argument("--batch", type=int, default=16)
    p.add_argument("--json", action="store_true")
    p.set_defaults(_func=cmd_predict)

    p = sub.add_parser("export", help="checkpoint -> ONNX model pack with a parity check")
    p.add_argument("checkpoint")
    p.add_argument("--out", required=True, metavar="PACKDIR")
    p.add_argument("--name", default=None, help="pack name (default ARCH-BACKBONE)")
    p.add_argument("--version", default="0.1.0")
    p.add_argument("--description", default=None)
    p.add_argument("--parity-batch", type=int, default=4)
    p.add_argument("--tol", type=float, default=1e-4)
    p.set_defaults(_func=cmd_export)

    p = sub.add_parser("make-tiny", help="write a tiny dataset in the PIQ23 layout")
    p.add_argument("out")
    p.add_argument("--scenes", type=int, default=8)
    p.add_argument("--per-scene", type=int, default=8)
    p.add_argument("--size", default="120x90", help="image size HxW (portrait; landscape scenes swap)")
    p.add_argument("--test-scenes", type=int, default=2)
    p.add_argument("--sources", default=None, metavar="DIR", help="source photos (default: scikit-image's)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--defects", default=None, help="comma-separated defect kinds (default: all)")
    p.set_defaults(_func=cmd_make_tiny)

    p = sub.add_parser("models", help="list registered architectures")
    p.set_defaults(_func=cmd_models)
    return parser


def _print_result(res: dict[str, Any], as_json: bool) -> None:
    if as_json:
        print(json.dumps({k: v for k, v in res.items() if k != "history"}, default=str))
        return
    b = res.get("best")
    if b:
        print(
            f"best: SRCC {b['srcc']:.4f}  PLCC {b['plcc']:.4f}  KRCC {b['krcc']:.4f}  challenge score {b['score']:.4f}"
        )
    print(f"checkpoint: {res['checkpoint']}  (last: {res['last']})")


def cmd_train(args: argparse.Namespace) -> int:
    from training.train import fit

    res = fit(_train_config(args, "piq23"))
    _print_result(res, args.json)
    return 0


def cmd_pretrain(args: argparse.Namespace) -> int:
    from training.train import fit

    cfg = _train_config(args, "synthetic")
    if "loss" not in vars(args) and not (args.config and "loss" in _load_config_file(args.config)):
        cfg.loss = "fidelity+rank"
    res = fit(cfg)
    _print_result(res, args.json)
    return 0


def cmd_predict(args: argparse.Namespace) -> int:
    from torch.utils.data import DataLoader

    from training import piq23
    from training.data import Piq23Dataset, collate
    from training.train import model_from_checkpoint, pick_device, predict

    model, ck = model_from_checkpoint(args.checkpoint)
    device = pick_device(args.device)
    model.to(device)
    rows = piq23.load_split(args.piq23, args.split, args.part, args.attribute)
    ds = Piq23Dataset(rows, piq23.images_root(args.piq23, args.images), model.config.inputs(), cache_dir=args.cache_dir)
    loader = DataLoader(ds, batch_size=args.batch, collate_fn=collate)
    p, _, _, idx = predict(model, loader, device)
    preds = {rows[int(i)].image: float(v) for v, i in zip(p, idx)}
    piq23.write_predictions(args.out, preds)
    m = piq23.score_predictions(rows, preds)
    if args.json:
        print(json.dumps(m.to_dict(), sort_keys=True))
    else:
        print(f"{len(preds)} predictions written to {args.out}")
        print(m.summary())
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    from training.export import export_pack

    out = export_pack(
        args.checkpoint, args.out, name=args.name, version=args.version, description=args.description,
        parity_batch=args.parity_batch, tol=args.tol,
    )
    from engine.packs.pack import read_manifest

    m = read_manifest(out)
    print(f"pack written to {out}: {m.name} {m.version} ({m.architecture}), licence {m.licence}, commercial use {m.commercial_use}")
    print(f"parity max abs diff (batch: diff): {m.extra.get('parity_max_abs_diff')}")
    return 0


def cmd_make_tiny(args: argparse.Namespace) -> int:
    from training.defects import DEFECTS
    from training.synthetic import make_tiny_piq23, tiny_sources

    defects = [d.strip() for d in args.defects.split(",")] if args.defects else list(DEFECTS)
    bad = [d for d in defects if d not in DEFECTS]
    if bad:
        raise SystemExit(f"{PROG}: unknown defects {bad}; use {', '.join(DEFECTS)}")
    out = make_tiny_piq23(
        args.out, tiny_sources(args.sources), n_scenes=args.scenes, per_scene=args.per_scene,
        size=_parse_size(args.size), test_scenes=args.test_scenes, seed=args.seed, defects=defects,
    )
    print(f"tiny PIQ23-layout dataset in {out}: --piq23 {out} --images {out / 'images'}")
    return 0


def cmd_models(args: argparse.Namespace) -> int:
    from training.architectures import list_models, model_config

    for name in list_models():
        c = model_config(name)
        ins = ", ".join(f"{i.name}:{i.kind} {i.size[0]}x{i.size[1]} {i.crops}" for i in c.inputs())
        print(f"{name:<14} {ins:<52} {c.description}")
    return 0


def main(argv: Sequence[str] | None = None, prog: str | None = None) -> int:
    global PROG
    if prog:
        PROG = prog
    parser = build_parser()
    parser.prog = PROG
    args = parser.parse_args(argv)
    if not getattr(args, "_func", None):
        parser.print_help()
        return 2
    from training.architectures import ConfigError
    from training.backbones import BackboneError
    from training.data import DataError
    from training.export import ExportError
    from training.losses import LossSpecError
    from training.piq23 import Piq23Error

    try:
        return int(args._func(args) or 0)
    except (BackboneError, DataError, ExportError, LossSpecError, Piq23Error, ConfigError) as exc:
        print(f"{PROG}: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"{PROG}: interrupted; resume with --resume OUT/last.pt", file=sys.stderr)
        return 130
    except RuntimeError as exc:
        if "deterministic" not in str(exc):
            raise
        first = str(exc).strip().splitlines()[0]
        print(f"{PROG}: --deterministic: {first} (run on the CPU with --device cpu, or drop --deterministic)", file=sys.stderr)
        return 2
