"""Model packs as quality members: ``pack:<name>`` in the member registry.

:func:`register_installed_packs` (called by :mod:`engine.quality.registry` when
it loads) registers every verified pack on the search path that allows
commercial use (set ``CULLER_ALLOW_NONCOMMERCIAL=1`` to also register
research-only packs, e.g. ones fine-tuned on PIQ23).  Packs named in the
ensemble config's ``default`` list run by default in ``culler rank``.  A pack
that fails verification is skipped with one warning; ranking goes on without it.

Member options (``create_member("pack:NAME", device=..., threads=..., batch_size=...)``, and
``weight=``, ``targets=``, ``face_weight=``, ``map=``) override the config (the precedence of
each setting: :mod:`engine.packs.ensemble`); the onnxruntime session is made on first use, so building
a member is cheap.
"""

from __future__ import annotations

import functools
import logging
import os
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from engine.packs.ensemble import (
    EnsembleConfig,
    MemberConfig,
    load_config,
    pack_member_config,
    quality_of,
    resolve_member_settings,
)
from engine.packs.pack import Manifest, PackError, verify_pack
from engine.packs.runtime import PackRuntime, parse_device
from engine.packs.search import FoundPack, find_packs
from engine.quality.base import FACES, IMAGE, MemberScore, QualityMember, ShotInput, clamp_quality

log = logging.getLogger("engine.packs")

ENV_NONCOMMERCIAL = "CULLER_ALLOW_NONCOMMERCIAL"
_ENV_WARNED = "_CULLER_PACK_WARNINGS_SHOWN"  # inherited by worker processes: warn once per session

def member_name(pack_name: str) -> str:
    return f"pack:{pack_name}"


class PackMember(QualityMember):
    """A deep quality member backed by a model pack.

    Scores the full frame and/or each face crop (``targets``).  The raw output
    maps to a quality through the manifest's output range and direction; with
    faces, the weakest important face's quality counts, mixed with the frame's
    as ``q_image ** (1 - face_weight) * q_face ** face_weight``.
    """

    def __init__(
        self,
        pack_dir: str | os.PathLike[str],
        manifest: Manifest,
        config: MemberConfig | None = None,
        *,
        pack_config: MemberConfig | None = None,
        device: str | None = None,
        threads: int | None = None,
        batch_size: int = 8,
        weight: float | None = None,
        targets: Sequence[str] | None = None,
        face_weight: float | None = None,
        map: str | None = None,
        **unused: Any,
    ) -> None:
        """``config``: the ensemble layer (``load_config().member(NAME)``); ``pack_config``: the
        pack's own layer (read from the pack when not given); ``weight``, ``targets``,
        ``face_weight``, ``map``: the options layer.  They are merged by
        :func:`~engine.packs.ensemble.resolve_member_settings`, the one place that does."""
        self.pack_dir = Path(pack_dir)
        self.manifest = manifest
        self.name = member_name(manifest.name)
        options = MemberConfig.from_mapping(
            {
                k: v
                for k, v in {"weight": weight, "targets": targets, "face_weight": face_weight, "map": map}.items()
                if v is not None
            },
            f"{self.name} options",
        )
        own = pack_config if pack_config is not None else pack_member_config(self.pack_dir, manifest.extra)
        self.settings = resolve_member_settings(manifest, options=options, ensemble=config, pack=own)
        self.weight = self.settings.weight
        self.face_weight = self.settings.face_weight
        self.map = self.settings.map
        self.targets: tuple[str, ...] = self.settings.targets
        self.pair = {i.kind for i in manifest.inputs} == {"image", "face"}
        self.needs = frozenset({IMAGE, FACES} if "faces" in self.targets else {IMAGE})
        self.higher_is_better = manifest.output.direction != "lower_is_better"
        self.description = manifest.description or f"deep quality model {manifest.architecture}"
        self.licence = manifest.licence
        if device is not None:
            try:
                parse_device(device)
            except ValueError as exc:  # a typo must not stop a culling session: say so, use auto
                _warn_once(f"device {device}", f"{exc}; deep members run with device 'auto'")
                device = "auto"
        self.device = device
        self.threads = threads
        self.batch_size = batch_size
        if unused:
            log.debug("%s: ignoring options %s", self.name, sorted(unused))
        self._runtime: PackRuntime | None = None
        self._broken: str | None = None

    @property
    def runtime(self) -> PackRuntime:
        if self._runtime is None:
            self._runtime = PackRuntime(
                self.pack_dir,
                device=self.device,
                threads=self.threads,
                batch_size=self.batch_size,
                verify=False,
                manifest=self.manifest,
            )
        return self._runtime

    def cache_id(self) -> str:
        """``pack:<name>@<version>#<model sha256 prefix>``: scores of another version or another
        model file of the same pack are never mixed with this one's in a catalog."""
        sha = (self.manifest.files or {}).get("model.onnx", "")
        return f"{self.name}@{self.manifest.version}#{sha[:16]}"

    def _q(self, raw: float) -> float:
        return quality_of(raw, self.manifest.output, self.map)

    def quality_of(self, value: float, faces: bool = False) -> float:
        """The quality of a raw output ``value``.  Exact unless the member also scores faces and
        the shot has some: then the stored quality mixes in the weakest face (NotImplementedError)."""
        if faces and "faces" in self.targets:
            raise NotImplementedError(f"{self.name}: with faces the quality also depends on the face crops")
        return self._q(value)

    def score(self, shot: ShotInput) -> MemberScore | None:
        return self.score_batch([shot])[0]

    def score_batch(self, shots: Sequence[ShotInput]) -> list[MemberScore | None]:
        if not shots:
            return []
        if self._broken is not None:
            return [None] * len(shots)
        try:
            rt = self.runtime
        except (PackError, OSError) as exc:  # ranking goes on without this member
            self._broken = str(exc)
            _warn_once(f"runtime {self.pack_dir}", f"model pack {self.manifest.name!r} cannot run and is skipped: {exc}")
            return [None] * len(shots)
        image_raw: np.ndarray | None = None
        if "image" in self.targets:
            image_raw = rt.score_images([s.image for s in shots])
        face_raw: list[np.ndarray] = []
        if "faces" in self.targets:
            samples: list[dict[str, np.ndarray]] = []
            owner: list[int] = []
            for i, s in enumerate(shots):
                for f in s.faces:
                    if self.pair:
                        samples.append({"image": s.image, "face": f.crop})
                    else:
                        samples.append({rt.inputs[0].kind: f.crop})
                    owner.append(i)
            flat = rt.score(samples) if samples else np.zeros(0, np.float32)
            own = np.asarray(owner, int)
            face_raw = [flat[own == i] for i in range(len(shots))]
        out: list[MemberScore | None] = []
        for i, s in enumerate(shots):
            q_img = raw_img = None
            if image_raw is not None:
                raw_img = float(image_raw[i])
                q_img = self._q(raw_img)
            per_face: list[tuple[float, float] | None] | None = None
            q_face = raw_face = None
            if face_raw and len(face_raw[i]):
                pf = [self._q(float(r)) for r in face_raw[i]]
                important = {id(f) for f in s.important_faces()}
                idx = [j for j, f in enumerate(s.faces) if id(f) in important] or list(range(len(s.faces)))
                worst = min(idx, key=lambda j: pf[j])
                per_face = [(float(r), q) for r, q in zip(face_raw[i], pf)]
                q_face, raw_face = pf[worst], float(face_raw[i][worst])
            if q_img is not None and raw_img is not None:
                value = raw_img
                q = q_img if q_face is None else q_img ** (1.0 - self.face_weight) * q_face**self.face_weight
            elif q_face is not None and raw_face is not None:
                value, q = raw_face, q_face
            else:
                out.append(None)
                continue
            out.append(MemberScore(value=value, quality=clamp_quality(q), per_face=per_face))
        return out

    def info(self) -> dict[str, Any]:
        d = super().info()
        d.update(
            pack=str(self.pack_dir),
            version=self.manifest.version,
            architecture=self.manifest.architecture,
            targets=list(self.targets),
            face_weight=self.face_weight,
            map=self.map,
        )
        return d


def member_class(pack_dir: str | os.PathLike[str], manifest: Manifest, config: MemberConfig | None = None) -> Callable[..., PackMember]:
    """The member factory of one pack: ``member_class(dir, manifest)(device=...)`` builds a
    :class:`PackMember` bound to it (its name, needs, direction and licence come from the
    manifest; its spec from :meth:`PackMember.spec`)."""
    pdir = Path(pack_dir)
    own = pack_member_config(pdir, manifest.extra)  # read once; a malformed member.toml fails here
    return functools.partial(PackMember, pdir, manifest, config, pack_config=own)


def _warn_once(key: str, msg: str) -> None:
    shown = set(filter(None, os.environ.get(_ENV_WARNED, "").split("\n")))
    if key in shown:
        return
    log.warning("%s", msg)
    shown.add(key)
    os.environ[_ENV_WARNED] = "\n".join(sorted(shown))


def allow_noncommercial() -> bool:
    return os.environ.get(ENV_NONCOMMERCIAL, "").strip().lower() in ("1", "true", "yes")


def register_pack(
    pack_dir: str | os.PathLike[str], *, default: bool = False, config: EnsembleConfig | None = None
) -> str:
    """Verify one pack folder and register it as ``pack:<name>``; PackError if it fails."""
    from engine.quality.registry import register_member

    m = verify_pack(pack_dir)
    cfg = config if config is not None else load_config()
    factory = member_class(pack_dir, m, cfg.member(m.name))
    register_member(member_name(m.name), factory, default=default)
    return member_name(m.name)


def register_installed_packs(extra: Iterable[str | os.PathLike[str]] = ()) -> list[FoundPack]:
    """Register every verified, commercial-use pack on the search path; returns the registered ones."""
    from engine.quality.registry import register_member

    try:
        cfg = load_config()
    except PackError as exc:  # pragma: no cover - load_config already warns per file
        log.warning("%s", exc)
        cfg = EnsembleConfig()
    default = set(cfg.default or [])
    registered = []
    for fp in find_packs(extra, verify=True):
        if not fp.ok:
            _warn_once(str(fp.path), f"model pack {fp.name!r} skipped: {fp.error}")
            continue
        m = fp.manifest
        assert m is not None
        if not m.commercial_use and not allow_noncommercial():
            _warn_once(
                f"non-commercial {fp.path}",
                f"model pack {fp.name!r} is for non-commercial use only ({m.licence}); not used "
                f"(set {ENV_NONCOMMERCIAL}=1 to use it)",
            )
            continue
        try:
            factory = member_class(fp.path, m, cfg.member(m.name))
        except (PackError, OSError) as exc:
            _warn_once(str(fp.path), f"model pack {fp.name!r} skipped: {exc}")
            continue
        register_member(member_name(m.name), factory, default=m.name in default)
        registered.append(fp)
    return registered
