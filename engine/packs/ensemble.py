"""The deep ensemble: which packs run, their fusion weights and how raw outputs map to quality.

A pack member has four settings: ``weight``, ``targets``, ``face_weight`` and ``map``.  Each
is resolved in one place, :func:`resolve_member_settings`, from four layers; the first layer
that sets a setting wins, setting by setting (:data:`PRECEDENCE`):

1. ``options``: the keyword arguments of ``create_member("pack:NAME", weight=...)``;
2. ``ensemble``: the ``[members."NAME"]`` tables of the ``ensemble.toml`` files on the model
   search path, themselves highest priority first (``CULLER_MODELS_PATH``, the user's models
   folder, then ``resources/models/ensemble.toml``, which ships the default ensemble) -- this
   is where a user tunes a pack;
3. ``pack``: the pack's own defaults, given in exactly one place: ``member.toml``,
   ``member.json`` or the manifest's ``extra.member`` (a pack with more than one is refused);
4. ``default``: :data:`DEFAULT_SETTINGS`.

``targets`` is the exception: a pack whose inputs are a face crop (or an image and a face)
scores face crops whatever the layers say (source ``"inputs"``).  The resolved
:class:`MemberSettings` records, per setting, the layer (and file) it came from; ``culler
models info`` prints it.

Example (``resources/models/ensemble.toml``)::

    [ensemble]
    default = ["portrait-lite-synth"]   # packs that `culler rank` runs by default

    [members."portrait-lite-synth"]
    weight = 1.0                         # fusion weight beside the technical members
    targets = ["image", "faces"]         # score the full frame and each face crop
    face_weight = 0.5                    # share of the weakest important face in the quality
    map = "logistic"                     # raw output -> quality: "logistic" or "linear"

An image-only pack can score face crops too (``targets`` with ``"faces"``); a
face-input pack scores face crops; a two-input pack (image + face) scores
each (frame, face) pair.  On multi-face shots the weakest *important* face
(``ShotInput.important_faces()``) counts.
"""

from __future__ import annotations

import json
import logging
import math
import os
import tomllib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from engine.packs.pack import PackError, PackOutput
from engine.quality.base import MemberScore, QualityMember, ShotInput, clamp_quality

log = logging.getLogger("engine.packs")

TARGETS = ("image", "faces")
MAPS = ("logistic", "linear")
PACK_CONFIG_FILES = ("member.toml", "member.json")


@dataclass
class MemberConfig:
    weight: float | None = None
    targets: tuple[str, ...] | None = None
    face_weight: float | None = None
    map: str | None = None
    source: dict[str, str] = field(default_factory=dict, compare=False)  # setting -> where it was set

    def merged(self, other: MemberConfig) -> MemberConfig:
        """Fields of ``self`` where set, else those of ``other`` (with their sources)."""
        out = MemberConfig()
        for key in ("weight", "targets", "face_weight", "map"):
            mine = getattr(self, key)
            src = self if mine is not None else other
            setattr(out, key, getattr(src, key))
            if key in src.source and getattr(src, key) is not None:
                out.source[key] = src.source[key]
        return out

    @classmethod
    def from_mapping(cls, d: Mapping[str, Any], where: str) -> MemberConfig:
        unknown = set(d) - {"weight", "targets", "face_weight", "map"}
        if unknown:
            raise PackError(f"{where}: unknown member settings {sorted(unknown)} (weight, targets, face_weight, map)")
        cfg = cls()
        try:
            if "weight" in d:
                cfg.weight = float(d["weight"])
                if not cfg.weight >= 0:
                    raise ValueError("weight must be >= 0")
            if "targets" in d:
                t = d["targets"]
                t = [t] if isinstance(t, str) else list(t)
                bad = [x for x in t if x not in TARGETS]
                if bad or not t:
                    raise ValueError(f"targets must be a non-empty list of {TARGETS}, got {t}")
                cfg.targets = tuple(t)
            if "face_weight" in d:
                cfg.face_weight = float(d["face_weight"])
                if not 0.0 <= cfg.face_weight <= 1.0:
                    raise ValueError("face_weight must be within [0, 1]")
            if "map" in d:
                if d["map"] not in MAPS:
                    raise ValueError(f"map must be one of {MAPS}, got {d['map']!r}")
                cfg.map = str(d["map"])
        except (TypeError, ValueError) as exc:
            raise PackError(f"{where}: {exc}") from exc
        cfg.source = {k: where for k in ("weight", "targets", "face_weight", "map") if k in d}
        return cfg


@dataclass
class EnsembleConfig:
    default: list[str] | None = None  # pack names in the default ensemble
    members: dict[str, MemberConfig] = field(default_factory=dict)
    sources: list[Path] = field(default_factory=list)

    def member(self, name: str) -> MemberConfig:
        return self.members.get(name, MemberConfig())


def read_config_file(path: str | os.PathLike[str]) -> EnsembleConfig:
    p = Path(path)
    try:
        text = p.read_text()
        data = json.loads(text) if p.suffix.lower() == ".json" else tomllib.loads(text)
    except (OSError, ValueError) as exc:  # JSONDecodeError and TOMLDecodeError are ValueErrors
        raise PackError(f"cannot read the ensemble config {p}: {exc}") from exc
    if not isinstance(data, dict):
        raise PackError(f"{p}: the ensemble config must be a table / object")
    cfg = EnsembleConfig(sources=[p])
    ens = data.get("ensemble", {})
    if not isinstance(ens, dict):
        raise PackError(f"{p}: [ensemble] must be a table")
    if "default" in ens:
        d = ens["default"]
        if not isinstance(d, list) or not all(isinstance(x, str) for x in d):
            raise PackError(f"{p}: ensemble.default must be a list of pack names")
        cfg.default = list(d)
    members = data.get("members", {})
    if not isinstance(members, dict):
        raise PackError(f"{p}: [members] must be a table of pack names")
    for name, m in members.items():
        if not isinstance(m, dict):
            raise PackError(f"{p}: members.{name} must be a table")
        cfg.members[name] = MemberConfig.from_mapping(m, f"{p}: members.{name}")
    return cfg


def load_config(files: Iterable[str | os.PathLike[str]] | None = None) -> EnsembleConfig:
    """Merge the ensemble configs (first file has priority); unreadable files are warned about and skipped."""
    if files is None:
        from engine.packs.search import config_files

        files = config_files()
    merged = EnsembleConfig()
    for f in files:
        try:
            cfg = read_config_file(f)
        except PackError as exc:
            log.warning("%s; ignoring it", exc)
            continue
        merged.sources.append(Path(f))
        if merged.default is None and cfg.default is not None:
            merged.default = cfg.default
        for name, m in cfg.members.items():
            merged.members[name] = merged.members[name].merged(m) if name in merged.members else m
    return merged


def pack_member_config(pack_dir: Path, extra: Mapping[str, Any] | None) -> MemberConfig:
    """A pack's own member settings: ``member.toml``, ``member.json`` or ``extra.member`` of its
    manifest, whichever it has; a pack that gives them in more than one place is a PackError."""
    places = [pack_dir / f for f in PACK_CONFIG_FILES if (pack_dir / f).is_file()]
    has_extra = bool(extra) and extra is not None and "member" in extra
    named = [p.name for p in places] + (["manifest extra.member"] if has_extra else [])
    if len(named) > 1:
        raise PackError(f"{pack_dir}: member settings are given in {' and '.join(named)}; keep one")
    if places:
        f = places[0]
        try:
            text = f.read_text()
            data = json.loads(text) if f.suffix == ".json" else tomllib.loads(text)
        except (OSError, ValueError) as exc:
            raise PackError(f"cannot read {f}: {exc}") from exc
        data = data.get("member", data) if isinstance(data, dict) else data
        if not isinstance(data, dict):
            raise PackError(f"{f}: member settings must be a table")
        return MemberConfig.from_mapping(data, str(f))
    if has_extra:
        assert extra is not None
        if not isinstance(extra["member"], dict):
            raise PackError(f"{pack_dir}: manifest extra.member must be a table")
        return MemberConfig.from_mapping(extra["member"], f"{pack_dir}: manifest extra.member")
    return MemberConfig()


#: The layers of a pack member's settings, highest priority first (see the module docstring).
PRECEDENCE = ("options", "ensemble", "pack", "default")
SETTINGS = ("weight", "targets", "face_weight", "map")
DEFAULT_SETTINGS = MemberConfig(weight=1.0, targets=("image",), face_weight=0.5, map="logistic")


@dataclass(frozen=True)
class MemberSettings:
    """A pack member's resolved settings; ``source``: setting -> the layer it came from
    (``options``, ``ensemble (<file>: members.NAME)``, ``pack (<file>)``, ``default`` or
    ``inputs``)."""

    weight: float
    targets: tuple[str, ...]
    face_weight: float
    map: str
    source: Mapping[str, str]


def resolve_member_settings(
    manifest: Any,
    *,
    options: MemberConfig | None = None,
    ensemble: MemberConfig | None = None,
    pack: MemberConfig | None = None,
) -> MemberSettings:
    """The one place a pack member's settings are merged (``PRECEDENCE``: options, ensemble,
    pack, default; setting by setting).  ``manifest``: the pack's :class:`Manifest` (its inputs
    decide ``targets`` for face packs); ``ensemble``: ``load_config().member(NAME)``;
    ``pack``: :func:`pack_member_config`."""
    layers = {"options": options, "ensemble": ensemble, "pack": pack, "default": DEFAULT_SETTINGS}
    values: dict[str, Any] = {}
    source: dict[str, str] = {}
    for key in SETTINGS:
        for layer in PRECEDENCE:
            cfg = layers[layer]
            v = getattr(cfg, key) if cfg is not None else None
            if v is None:
                continue
            values[key] = v
            where = cfg.source.get(key, "") if cfg is not None and layer in ("ensemble", "pack") else ""
            source[key] = f"{layer} ({where})" if where else layer
            break
    if "face" in {i.kind for i in manifest.inputs}:  # a face crop (or image + face) per face
        values["targets"], source["targets"] = ("faces",), "inputs"
    return MemberSettings(
        weight=float(values["weight"]),
        targets=tuple(values["targets"]),
        face_weight=float(values["face_weight"]),
        map=str(values["map"]),
        source=source,
    )


# ------------------------------------------------------------------------------------ quality map


def quality_of(raw: float, output: PackOutput, mode: str = "logistic") -> float:
    """Map a raw model output to a quality in (0, 1].

    With a declared ``range`` (lo, hi) — the typical span of the output —
    ``linear`` maps lo..hi to 0..1 and clamps; ``logistic`` centres a sigmoid on
    the middle of the range with lo -> 0.12 and hi -> 0.88 (never saturates, so
    shots beyond the range still rank).  Without a range the output is taken as a
    logit.  ``lower_is_better`` outputs are flipped first.
    """
    v = float(raw)
    if not math.isfinite(v):
        return clamp_quality(float("nan"))
    lower = output.direction == "lower_is_better"
    if output.range is not None:
        lo, hi = float(output.range[0]), float(output.range[1])
        if hi <= lo:
            raise PackError(f"output range {output.range} must be increasing")
        if lower:
            v = lo + hi - v
        if mode == "linear":
            return clamp_quality((v - lo) / (hi - lo))
        z = (v - 0.5 * (lo + hi)) / (0.25 * (hi - lo))
    else:
        z = -v if lower else v
        if mode == "linear":
            return clamp_quality(v)
    z = max(-50.0, min(50.0, z))
    return clamp_quality(1.0 / (1.0 + math.exp(-z)))


# -------------------------------------------------------------------------------------- ensemble


@dataclass
class EnsembleResult:
    score: float | None  # 0..100, None when no member applied
    members: dict[str, MemberScore | None]


class Ensemble:
    """Members (technical and deep) fused into one 0..100 score per shot.

    The fusion is the engine's contract (weighted geometric mean of the members'
    qualities); members returning ``None`` for a shot are left out of it.
    """

    def __init__(self, members: Sequence[QualityMember], weights: Mapping[str, float] | None = None) -> None:
        if not members:
            raise ValueError("an ensemble needs at least one member")
        import dataclasses

        self.members = list(members)
        self.specs = {
            m.name: dataclasses.replace(m.spec(), weight=float((weights or {}).get(m.name, m.weight))) for m in self.members
        }
        self.weights = {n: s.weight for n, s in self.specs.items()}

    @classmethod
    def from_names(cls, names: Sequence[str] | None = None, **member_kwargs: Any) -> Ensemble:
        from engine.quality.registry import create_member, default_member_names

        chosen = list(names) if names else default_member_names()
        return cls([create_member(n, **member_kwargs) if n.startswith("pack:") else create_member(n) for n in chosen])

    def fuse(self, scores: Mapping[str, MemberScore | None]) -> float | None:
        """The engine's fusion of one shot on its own (no group comparison)."""
        from engine.quality.fusion import fused_score

        q = {n: s.quality for n, s in scores.items() if s is not None and n in self.specs}
        if not any(self.specs[n].weight > 0 for n in q):
            return None
        return fused_score(q, self.specs)

    def score_batch(self, shots: Sequence[ShotInput]) -> list[EnsembleResult]:
        """Absolute scores: each shot on its own (no comparison with a group)."""
        per_member = {m.name: m.score_batch(shots) for m in self.members}
        out = []
        for i in range(len(shots)):
            scores = {name: res[i] for name, res in per_member.items()}
            out.append(EnsembleResult(self.fuse(scores), scores))
        return out

    def rank_group(self, shots: Sequence[ShotInput]) -> tuple[list[float], list[int]]:
        """Scores and ranks (1 = best) of the shots of one scene group, as ``culler rank`` does
        (the engine's fusion, with the members' group comparisons)."""
        from engine.quality.fusion import rank_group

        per_member = {m.name: m.score_batch(shots) for m in self.members}
        group = [
            {n: (r[i].value, r[i].quality) for n, r in per_member.items() if r[i] is not None}  # type: ignore[union-attr]
            for i in range(len(shots))
        ]
        faces = []
        for i, shot in enumerate(shots):
            h, w = shot.image.shape[:2]
            recs = []
            for k, f in enumerate(shot.faces):
                per = {n: r[i].per_face[k] for n, r in per_member.items()  # type: ignore[union-attr,index]
                       if r[i] is not None and r[i].per_face and k < len(r[i].per_face) and r[i].per_face[k] is not None}  # type: ignore[union-attr,index,arg-type]
                recs.append({"x": f.box[0] / w, "y": f.box[1] / h, "w": f.box[2] / w, "h": f.box[3] / h,
                             "signals": f.signals, "scores": per})
            faces.append(recs)
        ranking = rank_group(group, self.specs, faces=faces)
        return ranking.scores, ranking.ranks
