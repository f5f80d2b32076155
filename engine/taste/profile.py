"""The taste profile: JSON coefficients in the user's data dir, versioned, on/off.

``taste/profile.json`` is the active profile (format :data:`FORMAT`, and a ``version`` that
grows with every ``culler taste learn``; earlier versions are kept in ``taste/history/``),
``taste/state.json`` says whether it is on.  ``CULLER_TASTE_DIR`` overrides the folder.
Ranking with a profile needs numpy only: ``T = a * D + w . (x - mean) / scale``.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import time
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from engine.taste.features import Shot, group_features, vectorise

FORMAT = 1


class ProfileError(Exception):
    """A profile that cannot be read or written; user-facing."""


def taste_dir() -> Path:
    env = os.environ.get("CULLER_TASTE_DIR")
    if env:
        return Path(env)
    import platformdirs

    return Path(platformdirs.user_data_dir("portrait-culler")) / "taste"


@dataclass
class Profile:
    features: list[str]
    mean: list[float]
    scale: list[float]
    coef: list[float]
    default_coef: float = 1.0
    version: int = 1
    format: int = FORMAT
    created_at: float = field(default_factory=time.time)
    n_decisions: int = 0
    n_groups: int = 0
    n_shoots: int = 0
    n_pairs: int = 0
    c: float | None = None
    method: str = ""
    agreement_default: float | None = None
    agreement_learned: float | None = None
    sources: list[str] = field(default_factory=list)
    library: str = ""
    phrases: list[str] = field(default_factory=list)

    @property
    def ident(self) -> str:
        return f"taste-v{self.version}"

    @property
    def is_default(self) -> bool:
        return not any(self.coef)

    # -- ranking ---------------------------------------------------------------------------
    def group_scores(self, shots: Sequence[Shot]) -> np.ndarray:
        """Taste key of each shot of a group, ``a * D + w . z`` (higher is better; ``shots[i].default``
        must be set).  With ``w = 0`` and ``a > 0`` it orders shots exactly as the default does."""
        d = np.array([s.default for s in shots], dtype=np.float64)
        if self.is_default:
            return d
        mean, scale, w = (
            np.asarray(v, dtype=np.float64) for v in (self.mean, self.scale, self.coef)
        )
        z = (vectorise(group_features(shots), self.features, mean) - mean) / scale
        return self.default_coef * d + z @ w

    def display_scores(self, keys: np.ndarray) -> list[float]:
        """Taste keys on the default's 0-100 scale (the default's own score when ``w = 0``)."""
        if self.default_coef > 0.05:
            return [100.0 * math.exp(min(float(k) / self.default_coef, 0.7)) for k in keys]
        return [
            100.0 / (1.0 + math.exp(-float(k))) for k in keys
        ]  # a taste that ignores the default

    def contributions(self, shots: Sequence[Shot], i: int, top: int = 6) -> dict[str, float]:
        """The learned adjustments of shot ``i`` of a group, largest first (log-score units)."""
        mean, scale, w = (
            np.asarray(v, dtype=np.float64) for v in (self.mean, self.scale, self.coef)
        )
        z = (vectorise(group_features(shots), self.features, mean) - mean) / scale
        a = self.default_coef if self.default_coef > 1e-6 else 1.0
        c = z[i] * w / a
        order = np.argsort(-np.abs(c))[:top]
        return {self.features[k]: float(c[k]) for k in order if c[k] != 0}

    def weights(self) -> dict[str, float]:
        """Learned weight of each feature relative to the default fusion's (0: as the default)."""
        a = self.default_coef if self.default_coef > 1e-6 else 1.0
        return {n: float(v) / a for n, v in zip(self.features, self.coef) if v}

    # -- storage -----------------------------------------------------------------------------
    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=1)

    @classmethod
    def from_dict(cls, d: Mapping[str, Any], source: str = "profile") -> Profile:
        if not isinstance(d, Mapping) or d.get("format") != FORMAT:
            raise ProfileError(
                f"{source}: not a taste profile of format {FORMAT} (found {d.get('format') if isinstance(d, Mapping) else type(d).__name__})"
            )
        try:
            p = cls(**{k: d[k] for k in cls.__dataclass_fields__ if k in d})
            n = len(p.features)
            if not (len(p.mean) == len(p.scale) == len(p.coef) == n):
                raise ValueError("feature, mean, scale and coefficient lists differ in length")
            if not all(
                isinstance(v, (int, float)) and math.isfinite(v)
                for v in [*p.mean, *p.scale, *p.coef, p.default_coef]
            ):
                raise ValueError("non-finite coefficients")
            if any(s <= 0 for s in p.scale):
                raise ValueError("scales must be positive")
        except (TypeError, ValueError, KeyError) as exc:
            raise ProfileError(f"{source}: corrupt taste profile ({exc})") from None
        return p


def _write(path: Path, text: str) -> None:
    from engine.safeio import SafeIOError, ensure_dir, write_bytes_atomic

    try:
        ensure_dir(path.parent)
        write_bytes_atomic(path, text.encode(), replace=True)
    except SafeIOError as exc:
        raise ProfileError(str(exc)) from exc


def profile_path() -> Path:
    return taste_dir() / "profile.json"


def load_profile() -> Profile | None:
    p = profile_path()
    if not p.is_file():
        return None
    try:
        data = json.loads(p.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ProfileError(f"{p}: unreadable taste profile ({exc})") from None
    return Profile.from_dict(data, str(p))


def save_profile(profile: Profile) -> Path:
    """Store ``profile`` as the next version (the previous one goes to history/)."""
    old = None
    with contextlib.suppress(ProfileError):  # an unreadable profile is replaced, not versioned
        old = load_profile()
    profile.version = (old.version + 1) if old else max(1, profile.version)
    if old is not None:
        _write(taste_dir() / "history" / f"profile-v{old.version}.json", old.to_json())
    _write(profile_path(), profile.to_json())
    set_enabled(True)
    return profile_path()


def enabled() -> bool:
    p = taste_dir() / "state.json"
    try:
        return bool(json.loads(p.read_text(encoding="utf-8")).get("enabled", True))
    except (OSError, ValueError, AttributeError):
        return True


def set_enabled(on: bool) -> None:
    _write(taste_dir() / "state.json", json.dumps({"enabled": bool(on)}))


def reset() -> int:
    """Forget the profile and its history; returns how many files were removed."""
    n = 0
    d = taste_dir()
    for p in [
        d / "profile.json",
        d / "state.json",
        *sorted((d / "history").glob("profile-v*.json")),
    ]:
        if p.is_file() and not p.is_symlink():
            p.unlink()
            n += 1
    return n


def active_profile() -> Profile | None:
    """The profile ``culler rank`` and the GUI use: None when off, absent or unreadable."""
    if not enabled():
        return None
    try:
        return load_profile()
    except ProfileError:
        return None


def status_line() -> str | None:
    """What the GUI's status bar shows, or None when ranking is the default one."""
    p = active_profile()
    if p is None:
        return None
    return f"ranked by your taste (learned from {p.n_decisions} decisions)"


# -- in words ---------------------------------------------------------------------------------

_MEMBER_WORDS = {
    "sharpness": ("sharpness of the frame", "sharpness of the frame"),
    "face_sharpness": ("sharp eyes", "sharp eyes"),
    "noise": ("a clean, noise-free frame", "noise"),
    "eyes_open": ("open eyes", "half-closed eyes"),
    "motion_blur": ("no motion blur", "motion blur"),
    "clipping": ("unclipped highlights and shadows", "clipping"),
    "jpeg_artefacts": ("clean JPEG compression", "JPEG artefacts"),
}


def describe(profile: Profile, prepared: Any = None) -> list[str]:
    """What the learned ranking weighs differently from the default, in words."""
    if profile.is_default:
        return ["ranks as the default does (your decisions agree with it)"]
    w = dict(
        zip(
            profile.features,
            np.asarray(profile.coef)
            / (profile.default_coef if profile.default_coef > 1e-6 else 1.0),
        )
    )
    scale = dict(zip(profile.features, profile.scale))
    out: list[tuple[float, str]] = []
    # exposure: the signed deviation from the burst, in EV
    for key, what in (("exposure", "exposure"), ("face_exposure", "face")):
        names = [f"d:{key}", f"v:{key}"] if key == "exposure" else [f"fd:{key}", f"f:{key}"]
        slope = sum(w.get(n, 0.0) / scale.get(n, 1.0) for n in names)  # log-score per EV
        if abs(slope) > 0.05:
            shift = _pick_shift(prepared, names[0]) if prepared is not None else None
            ev = f" ({shift:+.1f} EV)" if shift is not None and abs(shift) >= 0.1 else ""
            word = "brighter" if slope > 0 else "darker"
            noun = "faces" if what == "face" else "frames"
            out.append((abs(slope), f"prefers {word} {noun} than the burst{ev}"))
    for m, (good, bad) in _MEMBER_WORDS.items():
        # the learned change of the log-score when this member's quality rises by one std
        tot = w.get(f"q:{m}", 0.0)
        sign = 1.0
        from engine.quality.registry import available_members, create_member

        if m in available_members():
            sign = 1.0 if create_member(m).higher_is_better else -1.0
        tot += sign * (w.get(f"v:{m}", 0.0) + w.get(f"d:{m}", 0.0))
        if abs(tot) < 0.05:
            continue
        if m == "eyes_open":
            out.append(
                (
                    abs(tot),
                    "insists on open eyes more than the default"
                    if tot > 0
                    else "keeps the sharpest frame even with half-closed eyes",
                )
            )
        elif m == "noise":
            out.append(
                (
                    abs(tot),
                    "never keeps a noisy frame (stricter about noise than the default)"
                    if tot > 0
                    else "tolerates noise",
                )
            )
        else:
            out.append(
                (
                    abs(tot),
                    f"weighs {good} more than the default"
                    if tot > 0
                    else f"tolerates {bad} more than the default",
                )
            )
    out.sort(key=lambda t: -t[0])
    phrases = [s for m, s in out if m >= 0.3 * out[0][0]][:4] if out else []
    return phrases or ["small changes only: close to the default ranking"]


def _pick_shift(prepared: Any, name: str) -> float | None:
    """Mean signed deviation from the burst of the photographer's top choices (e.g. +1.0 EV)."""
    vals: list[float] = []
    for feats, prefs in zip(prepared.feats, prepared.prefs):
        best = max(prefs)
        vals.extend(f[name] for f, p in zip(feats, prefs) if p == best and name in f)
    return float(np.mean(vals)) if vals else None
