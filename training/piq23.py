"""PIQ23 as distributed: where the score files, official splits and images lie.  No torch here.

The score-file and prediction-file readers live in ``engine.piq23`` (``culler evaluate`` needs
them without the training module); this module finds the files in the two layouts PIQ23 comes in
and re-exports the readers.

The DXOMARK download (and the PIQ2023 GitHub repository beside it)::

    Overall/ Details/ Exposure/                          the images ({attribute}/{image})
    Scores_{Overall,Details,Exposure}.csv                at the top (download) ...
    Scores/Scores_{Overall,Details,Exposure}.csv         ... or in Scores/ (GitHub repository)
    Test split/Scene Split.csv, Test split/Device Split.csv
    Test split/Scene Split/SceneSplit_{Train,Test}_Scores_{Attribute}.csv
    Test split/Device Split/DeviceSplit_{Train,Test}_Scores_{Attribute}.csv
    Metadata/Image Metadata.csv

The compact layout (``../shared/data/piq23`` in development, ``make-tiny``)::

    scores/Scores_{Attribute}.csv
    splits/scene_split.csv, splits/device_split.csv
    splits/{scene,device}/{Scene,Device}Split_{Train,Test}_Scores_{Attribute}.csv
    image_metadata.csv

Split files are found by their upstream names (``SceneSplit_Test_Scores_Overall.csv``) in the
folders above, else anywhere up to three folders below ``--piq23``.
"""

from __future__ import annotations

import os
from pathlib import Path

from engine.piq23 import (
    REQUIRED_COLUMNS,
    Piq23Error,
    ScoreRow,
    _open_csv,
    normalise_image_key,
    read_predictions,
    read_scores,
    score_predictions,
    write_predictions,
)

__all__ = [
    "ATTRIBUTES", "SPLITS", "PARTS", "REQUIRED_COLUMNS", "Piq23Error", "ScoreRow", "normalise_image_key",
    "read_scores", "read_predictions", "write_predictions", "score_predictions", "find_score_file", "split_file",
    "load_split", "scene_split_table", "device_split_table", "images_root",
]

ATTRIBUTES = ("Overall", "Details", "Exposure")
SPLITS = ("scene", "device")
PARTS = ("Train", "Test")
_PREFIX = {"scene": "Scene", "device": "Device"}
_SEARCH_DEPTH = 3


def _find_by_name(root: Path, name: str, candidates: list[Path]) -> Path | None:
    """``name`` in one of ``candidates`` (folders), else the shallowest match below ``root``."""
    for d in candidates:
        f = d / name
        if f.is_file():
            return f
    low = name.lower()
    found: list[Path] = []
    base_depth = len(root.parts)
    for dirpath, dirnames, filenames in os.walk(root):
        depth = len(Path(dirpath).parts) - base_depth
        if depth >= _SEARCH_DEPTH:
            dirnames[:] = []
        dirnames[:] = sorted(d for d in dirnames if not d.startswith(".") and d not in ATTRIBUTES)
        for fn in filenames:
            if fn.lower() == low:
                found.append(Path(dirpath) / fn)
    if not found:
        return None
    return min(found, key=lambda p: (len(p.parts), str(p)))


def _check(kind: str, value: str, allowed: tuple[str, ...]) -> None:
    if value not in allowed:
        raise Piq23Error(f"unknown {kind} {value!r}; use one of {', '.join(allowed)}")


def find_score_file(piq23_dir: str | os.PathLike[str], attribute: str = "Overall") -> Path:
    _check("attribute", attribute, ATTRIBUTES)
    d = Path(piq23_dir)
    name = f"Scores_{attribute}.csv"
    cands = [d / "scores", d / "Scores", d]
    for c in cands:
        if (c / name).is_file():
            return c / name
    raise Piq23Error(f"{d}: no {name} (looked in {', '.join(str(c) for c in cands)})")


def split_file(piq23_dir: str | os.PathLike[str], split: str, part: str, attribute: str = "Overall") -> Path:
    """The official split file ``{Scene,Device}Split_{part}_Scores_{attribute}.csv``."""
    _check("split", split, SPLITS)
    _check("part", part, PARTS)
    _check("attribute", attribute, ATTRIBUTES)
    d = Path(piq23_dir)
    name = f"{_PREFIX[split]}Split_{part}_Scores_{attribute}.csv"
    cands = [d / "splits" / split, d / "Test split" / f"{_PREFIX[split]} Split", d / f"{_PREFIX[split]} Split", d]
    f = _find_by_name(d, name, cands) if d.is_dir() else None
    if f is None:
        raise Piq23Error(
            f"{d}: no such split file {name} (looked in splits/{split}/, 'Test split/{_PREFIX[split]} Split/' "
            f"and below; is {piq23_dir} the PIQ23 folder?)"
        )
    return f


def load_split(
    piq23_dir: str | os.PathLike[str], split: str = "scene", part: str = "Train", attribute: str = "Overall"
) -> list[ScoreRow]:
    """Rows of one part of an official split, e.g. the scene split's Test part (NTIRE 2024 test)."""
    return read_scores(split_file(piq23_dir, split, part, attribute))


def _split_table(piq23_dir: str | os.PathLike[str], split: str, key: str) -> dict[str, str]:
    d = Path(piq23_dir)
    cands = [d / "splits" / f"{split}_split.csv", d / "Test split" / f"{_PREFIX[split]} Split.csv"]
    f = next((c for c in cands if c.is_file()), None)
    if f is None:
        raise Piq23Error(f"{d}: no {split} split table (looked for {', '.join(str(c) for c in cands)})")
    rows = _open_csv(f)
    try:
        return {r[key]: r["SPLIT"] for r in rows}
    except KeyError as exc:
        raise Piq23Error(f"{f}: missing column {exc}") from None


def scene_split_table(piq23_dir: str | os.PathLike[str]) -> dict[str, str]:
    """The scene split table (``splits/scene_split.csv`` or ``Test split/Scene Split.csv``) as {scene: part}."""
    return _split_table(piq23_dir, "scene", "SCENE")


def device_split_table(piq23_dir: str | os.PathLike[str]) -> dict[str, str]:
    """The device split table (``splits/device_split.csv`` or ``Test split/Device Split.csv``) as {image: part}."""
    return _split_table(piq23_dir, "device", "IMAGE")


def images_root(piq23_dir: str | os.PathLike[str], images: str | os.PathLike[str] | None = None) -> Path:
    """Where ``{attribute}/{image}`` lie: ``images`` when given, else ``piq23_dir`` itself when it
    holds an attribute folder (the download), else ``piq23_dir/images`` (``make-tiny``)."""
    if images:
        return Path(images)
    d = Path(piq23_dir)
    if any((d / a).is_dir() for a in ATTRIBUTES):
        return d
    if (d / "images").is_dir():
        return d / "images"
    raise Piq23Error(f"{d}: no Overall/, Details/ or Exposure/ image folder here; pass --images ROOT")
