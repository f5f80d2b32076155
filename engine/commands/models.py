"""``culler models``: list, inspect, verify and install model packs."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

HELP = "list, inspect, verify and install deep model packs"
DESCRIPTION = """\
Model packs are folders with model.onnx, manifest.json (inputs, output, training
data, licence, measured figures, sha256 of every file) and MODEL_CARD.md.

Search path (first match wins): CULLER_MODELS_PATH, the user's models folder
(where `install` puts packs), then resources/models of the installation.

  culler models list                      installed packs (and whether they verify)
  culler models list --architectures      model architectures the training module can build
  culler models info portrait-lite-synth  manifest, files, figures, member settings
  culler models verify                    check the sha256 of every installed pack
  culler models install pack.zip          verify, then copy into the user's models folder
  culler models install https://example.org/pack.zip --sha256 HEX
  culler models fp16 my-pack              add a float16 variant for GPUs (needs onnx)
  culler models remove my-pack            remove an installed pack (by name, never a path)

An install is refused, with nothing installed, when the pack holds a link, a folder or a file
its manifest does not list, when a manifest entry names something outside the pack, when it
would unpack to more than 4 GiB (CULLER_MAX_PACK_BYTES), or when a pack of that name is
already on the search path (installed, or shipped: the default pack); --replace replaces or
shadows it deliberately.
"""


def add_arguments(p: argparse.ArgumentParser) -> None:
    sub = p.add_subparsers(dest="models_command", metavar="ACTION")
    ls = sub.add_parser("list", help="installed packs")
    ls.add_argument("--architectures", action="store_true", help="also list the architectures the training module can build")
    ls.add_argument("--json", action="store_true", help="machine-readable output")
    info = sub.add_parser("info", help="details of one pack")
    info.add_argument("pack", metavar="NAME|PATH")
    info.add_argument("--json", action="store_true", help="machine-readable output")
    info.add_argument("--device", default=None, help="also open the pack on this device (auto, cpu, cuda, ...) and report the provider")
    ver = sub.add_parser("verify", help="check the checksums of a pack (all installed packs without PATH)")
    ver.add_argument("paths", nargs="*", metavar="PATH|NAME")
    inst = sub.add_parser("install", help="install a pack from a folder, .zip/.tar.gz or https URL")
    inst.add_argument("source", metavar="PATH_OR_URL")
    inst.add_argument("--sha256", default=None, metavar="HEX", help="expected sha256 of the archive (required for URLs)")
    inst.add_argument(
        "--replace", "--force", dest="replace", action="store_true",
        help="replace an installed pack of the same name, or shadow a shipped one (the default pack) "
        "deliberately; without it a name already on the search path is refused",
    )  # fmt: skip
    inst.add_argument("--dest", default=None, metavar="DIR", help="install into DIR instead of the user's models folder")
    f16 = sub.add_parser("fp16", help="add an fp16 variant (model_fp16.onnx) to a pack, used on GPUs")
    f16.add_argument("pack", metavar="NAME|PATH")
    rm = sub.add_parser("remove", help="remove a pack installed in the user's models folder")
    rm.add_argument("name", help="the pack's name (as `models list` shows it), never a path")
    rm.add_argument("--dest", default=None, metavar="DIR", help="the folder it was installed into")
    p.set_defaults(_parser=p)


def _err(msg: str) -> int:
    print(f"culler models: {msg}", file=sys.stderr)
    return 1


ARCHITECTURES_GROUP = "portrait_culler.architectures"


def architectures() -> tuple[list[str], str | None]:
    """Architecture names the installed training module can build, or ([], reason).

    The engine does not import the training module: a module that can build architectures
    registers a callable returning their names in the ``portrait_culler.architectures``
    entry-point group (the training module registers ``training.architectures:list_models``).
    """
    from importlib.metadata import entry_points

    eps = list(entry_points(group=ARCHITECTURES_GROUP))
    if not eps:
        return [], (
            f"no training module is registered in the {ARCHITECTURES_GROUP!r} entry points; "
            "install portrait-culler with its training module: pip install 'portrait-culler[train]'"
        )
    names: set[str] = set()
    for ep in eps:
        try:
            names.update(str(n) for n in ep.load()())
        except Exception as exc:  # a broken provider must not crash `models list`
            return [], f"the architecture list {ep.value} failed: {type(exc).__name__}: {exc}"
    return sorted(names), None


def _pack_row(fp: Any, sizes: bool = True) -> dict[str, Any]:
    from engine.packs.search import pack_size

    m = fp.manifest
    row: dict[str, Any] = {"name": fp.name, "path": str(fp.path), "ok": fp.ok, "error": fp.error}
    if m is not None:
        row.update(
            version=m.version,
            architecture=m.architecture,
            inputs=[f"{i.kind} {i.size[0]}x{i.size[1]} {i.crops}" for i in m.inputs],
            licence=m.licence,
            commercial_use=m.commercial_use,
        )
    if sizes:
        row["bytes"] = pack_size(fp.path)
    return row


def _list(args: argparse.Namespace) -> int:
    from engine.packs.ensemble import load_config
    from engine.packs.search import find_packs, search_path

    packs = find_packs(verify=True)
    cfg = load_config()
    default = set(cfg.default or [])
    rows = [_pack_row(fp) | {"default": fp.name in default} for fp in packs]
    archs, note = architectures() if args.architectures else ([], None)
    if args.json:
        out: dict[str, Any] = {"packs": rows, "search_path": [str(p) for p in search_path()]}
        if args.architectures:
            out["architectures"] = archs
            out["note"] = note
        print(json.dumps(out, indent=2))
        return 0
    if not rows:
        print("no model packs installed; search path:")
        for p in search_path():
            print(f"  {p}")
    for r in rows:
        status = "ok" if r["ok"] else "FAILED"
        if r["ok"]:
            use = "" if r["commercial_use"] else "  [non-commercial]"
            dflt = "  [default]" if r["default"] else ""
            print(f"{r['name']:<28} {r['version']:<8} {r['architecture']:<24} {r['bytes'] / 1e6:6.1f} MB  {status}{dflt}{use}")
            print(f"  {r['path']}  inputs: {'; '.join(r['inputs'])}  licence: {r['licence']}")
        else:
            print(f"{r['name']:<28} {status}: {r['error']}")
    if args.architectures:
        print()
        if archs:
            print("architectures (training module): " + ", ".join(archs))
        else:
            print(f"architectures: not available: {note}")
    return 0


def _info(args: argparse.Namespace) -> int:
    from dataclasses import asdict

    from engine.packs.ensemble import load_config, pack_member_config, resolve_member_settings
    from engine.packs.pack import PackError, read_manifest, verify_pack
    from engine.packs.search import pack_size, resolve_pack

    try:
        path = resolve_pack(args.pack)
        m = read_manifest(path)
    except PackError as exc:
        return _err(str(exc))
    error = None
    try:
        verify_pack(path)
    except PackError as exc:
        error = str(exc)
    try:
        member = resolve_member_settings(m, ensemble=load_config().member(m.name), pack=pack_member_config(path, m.extra))
    except PackError as exc:
        member = None
        error = error or str(exc)
    runtime = None
    if args.device is not None and error is None:
        from engine.packs.runtime import PackRuntime

        try:
            rt = PackRuntime(path, device=args.device, verify=False, manifest=m)
            runtime = rt.info()
        except (PackError, ValueError) as exc:
            return _err(str(exc))
    d = asdict(m)
    d.update(path=str(path), bytes=pack_size(path), verified=error is None, error=error)
    d["member"] = {k: v if k != "source" else dict(v) for k, v in asdict(member).items()} if member else None
    if runtime:
        d["runtime"] = runtime
    if args.json:
        print(json.dumps(d, indent=2, default=str))
        return 0 if error is None else 1
    print(f"{m.name} {m.version}  ({m.architecture})")
    print(f"  path:        {path}  ({d['bytes'] / 1e6:.1f} MB)")
    print(f"  checksums:   {'ok' if error is None else 'FAILED: ' + error}")
    if m.description:
        print(f"  description: {m.description}")
    for i in m.inputs:
        print(f"  input:       {i.name}: {i.kind} {i.size[0]}x{i.size[1]} crops={i.crops} {i.dtype} mean={i.mean} std={i.std}")
    o = m.output
    print(f"  output:      {o.name}: {o.direction}, typical range {o.range}")
    print(f"  licence:     {m.licence}{'' if m.commercial_use else ' (non-commercial use only)'}")
    if m.training_data:
        print(f"  trained on:  {m.training_data}")
    for k, v in m.metrics.items():
        print(f"  metric:      {k}: {v}")
    if member:
        print(f"  member:      pack:{m.name} weight={member.weight} targets={list(member.targets)} face_weight={member.face_weight} map={member.map}")
        for key, where in member.source.items():
            print(f"               {key} from {where}")
    if runtime:
        print(f"  runtime:     {runtime['device']} ({', '.join(runtime['providers'])})")
        if runtime["message"]:
            print(f"  note:        {runtime['message']}")
    card = path / "MODEL_CARD.md"
    if card.is_file():
        print(f"  model card:  {card}")
    return 0 if error is None else 1


def _verify(args: argparse.Namespace) -> int:
    from engine.packs.pack import PackError, verify_pack
    from engine.packs.search import find_packs, resolve_pack

    failures = 0
    if args.paths:
        for p in args.paths:
            try:
                path = resolve_pack(p)
                m = verify_pack(path)
            except PackError as exc:
                print(f"FAILED {p}: {exc}")
                failures += 1
                continue
            print(f"ok     {m.name} {m.version}: {len(m.files)} files match ({path})")
    else:
        packs = find_packs(verify=True)
        if not packs:
            print("no model packs installed")
        for fp in packs:
            if fp.ok:
                assert fp.manifest is not None
                print(f"ok     {fp.name} {fp.manifest.version}: {len(fp.manifest.files)} files match ({fp.path})")
            else:
                print(f"FAILED {fp.name}: {fp.error}")
                failures += 1
    if failures:
        print(f"{failures} pack(s) failed verification", file=sys.stderr)
    return 1 if failures else 0


def _install(args: argparse.Namespace) -> int:
    from engine.packs.pack import PackError
    from engine.packs.search import install_pack

    try:
        fp = install_pack(args.source, args.dest, sha256=args.sha256, replace=args.replace)
    except PackError as exc:
        return _err(f"not installed: {exc}")
    except OSError as exc:
        return _err(f"not installed: {exc}")
    m = fp.manifest
    assert m is not None
    print(f"installed {m.name} {m.version} ({m.architecture}) into {fp.path}; checksums verified")
    if not m.commercial_use:
        print(f"note: {m.name} is for non-commercial use only ({m.licence}); set CULLER_ALLOW_NONCOMMERCIAL=1 to rank with it")
    return 0


def _fp16(args: argparse.Namespace) -> int:
    from engine.packs.fp16 import FP16_FILE, add_fp16_variant
    from engine.packs.pack import PackError
    from engine.packs.search import resolve_pack

    try:
        path = add_fp16_variant(resolve_pack(args.pack))
    except (PackError, OSError) as exc:
        return _err(str(exc))
    size = (path / FP16_FILE).stat().st_size / 1e6
    print(f"added {FP16_FILE} ({size:.1f} MB) to {path}; GPU devices use it, the CPU keeps model.onnx")
    return 0


def _remove(args: argparse.Namespace) -> int:
    from engine.packs.pack import PackError
    from engine.packs.search import uninstall_pack

    try:
        path = uninstall_pack(args.name, args.dest)
    except (PackError, OSError) as exc:
        return _err(str(exc))
    print(f"removed {path}")
    return 0


def run(args: argparse.Namespace) -> int:
    actions = {"list": _list, "info": _info, "verify": _verify, "install": _install, "fp16": _fp16, "remove": _remove}
    action = getattr(args, "models_command", None)
    if action is None:
        args._parser.print_help()
        return 2
    try:
        return actions[action](args)
    except ValueError as exc:
        return _err(str(exc))
