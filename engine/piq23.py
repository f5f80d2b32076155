"""PIQ23 score files and NTIRE prediction files (no torch): what ``culler evaluate`` reads.

Score files (``Scores_{Overall,Details,Exposure}.csv`` and the split files such as
``SceneSplit_Test_Scores_Overall.csv``) have the columns ``IMAGE PATH`` (with a backslash:
``Overall\\66_Indoor_Scene_0.jpg``), ``JOD``, ``IMAGE``, ``SCENE``, ``ATTRIBUTE``, ``SCENE IDX``,
``CONDITION`` and more.  Prediction files have the columns ``IMAGE`` and ``SCORE`` (the NTIRE 2024
submission format).  The training module (``training.piq23``) adds the dataset layout on top.
"""

from __future__ import annotations

import csv
import os
from dataclasses import dataclass
from pathlib import Path, PureWindowsPath

from engine.metrics import ChallengeMetrics, challenge_metrics

REQUIRED_COLUMNS = ("IMAGE PATH", "JOD", "SCENE")


class Piq23Error(Exception):
    """A PIQ23 file that cannot be used; the message is user-facing."""


@dataclass(frozen=True)
class ScoreRow:
    image_path: str  # as in the file, with forward slashes: "Overall/66_Indoor_Scene_0.jpg"
    image: str  # file name: "66_Indoor_Scene_0.jpg"
    jod: float
    scene: str  # "Indoor_Scene_0"
    attribute: str
    condition: str
    split: str = ""

    def file_in(self, images_root: str | os.PathLike[str]) -> Path:
        """Where the image lies under ``images_root`` (``{root}/{attribute}/{image}``)."""
        return Path(images_root).joinpath(*self.image_path.split("/"))


def normalise_image_key(name: str) -> str:
    """The file name of an ``IMAGE``/``IMAGE PATH`` value, whatever its separators."""
    return PureWindowsPath(name.strip()).name


def _open_csv(path: Path) -> list[dict[str, str]]:
    try:
        with open(path, newline="", encoding="utf-8-sig") as f:
            reader = csv.DictReader(f)
            rows = list(reader)
            fields = reader.fieldnames or []
    except FileNotFoundError:
        raise Piq23Error(f"{path}: no such file") from None
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise Piq23Error(f"cannot read {path}: {exc}") from exc
    if not fields:
        raise Piq23Error(f"{path}: empty file (expected a CSV with a header row)")
    return [{(k or "").strip(): (v or "").strip() for k, v in r.items() if k} for r in rows]


def read_scores(path: str | os.PathLike[str]) -> list[ScoreRow]:
    """Read a PIQ23 score file (full or split); raise ``Piq23Error`` with a clear message."""
    p = Path(path)
    rows = _open_csv(p)
    if not rows:
        raise Piq23Error(f"{p}: no rows")
    missing = [c for c in REQUIRED_COLUMNS if c not in rows[0]]
    if missing:
        raise Piq23Error(
            f"{p}: not a PIQ23 score file (missing column{'s' if len(missing) > 1 else ''} "
            f"{', '.join(repr(m) for m in missing)}; found {', '.join(repr(k) for k in rows[0])})"
        )
    out: list[ScoreRow] = []
    seen: set[str] = set()
    for i, r in enumerate(rows, start=2):
        raw = r["IMAGE PATH"]
        parts = PureWindowsPath(raw).parts
        if not raw or not parts:
            raise Piq23Error(f"{p}:{i}: empty IMAGE PATH")
        try:
            jod = float(r["JOD"])
        except ValueError:
            raise Piq23Error(f"{p}:{i}: JOD {r['JOD']!r} is not a number") from None
        image = parts[-1]
        attribute = r.get("ATTRIBUTE") or (parts[0] if len(parts) > 1 else "")
        if image in seen:
            raise Piq23Error(f"{p}:{i}: image {image} listed twice")
        seen.add(image)
        out.append(
            ScoreRow(
                image_path="/".join(parts),
                image=image,
                jod=jod,
                scene=r["SCENE"],
                attribute=attribute,
                condition=r.get("CONDITION", "") or r["SCENE"].split("_")[0],
                split=r.get("SPLIT", ""),
            )
        )
    return out


def read_predictions(path: str | os.PathLike[str]) -> dict[str, float]:
    """An NTIRE-style predictions file (columns ``IMAGE``, ``SCORE``) as {image file name: score}."""
    p = Path(path)
    rows = _open_csv(p)
    if not rows:
        raise Piq23Error(f"{p}: no rows")
    cols = {k.upper(): k for k in rows[0]}
    if "IMAGE" not in cols or "SCORE" not in cols:
        raise Piq23Error(
            f"{p}: a predictions file needs the columns IMAGE and SCORE (found {', '.join(repr(k) for k in rows[0])})"
        )
    out: dict[str, float] = {}
    for i, r in enumerate(rows, start=2):
        key = normalise_image_key(r[cols["IMAGE"]])
        if not key:
            raise Piq23Error(f"{p}:{i}: empty IMAGE")
        try:
            v = float(r[cols["SCORE"]])
        except ValueError:
            raise Piq23Error(f"{p}:{i}: SCORE {r[cols['SCORE']]!r} is not a number") from None
        if v != v or v in (float("inf"), float("-inf")):
            raise Piq23Error(f"{p}:{i}: SCORE {r[cols['SCORE']]!r} is not a finite number")
        if key in out:
            raise Piq23Error(f"{p}:{i}: image {key} predicted twice")
        out[key] = v
    return out


def write_predictions(path: str | os.PathLike[str], scores: dict[str, float]) -> None:
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    with open(p, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["IMAGE", "SCORE"])
        for k, v in scores.items():
            w.writerow([k, f"{v:.9g}"])  # full float32 precision: evaluate must reproduce the report


def score_predictions(
    rows: list[ScoreRow], predictions: dict[str, float], partial: bool = False
) -> ChallengeMetrics:
    """Challenge metrics of ``predictions`` ({image: score}) against score rows.

    Every predicted image must be in the score file.  Every image of the score file must be
    predicted unless ``partial`` (then only the predicted images count).
    """
    by_image = {r.image: r for r in rows}
    unknown = [k for k in predictions if k not in by_image]
    if unknown:
        raise Piq23Error(
            f"{len(unknown)} predicted image{'s are' if len(unknown) > 1 else ' is'} not in the score file "
            f"(e.g. {', '.join(unknown[:3])}); is it the right attribute / split?"
        )
    missing = [r.image for r in rows if r.image not in predictions]
    if missing and not partial:
        raise Piq23Error(
            f"{len(missing)} of {len(rows)} images of the score file have no prediction "
            f"(e.g. {', '.join(missing[:3])}); pass --partial to score only the predicted images"
        )
    used = [r for r in rows if r.image in predictions]
    try:
        return challenge_metrics(
            [predictions[r.image] for r in used], [r.jod for r in used], [r.scene for r in used]
        )
    except ValueError as exc:
        raise Piq23Error(str(exc)) from None
