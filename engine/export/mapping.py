"""How a photographer's decision becomes ``xmp:Rating`` and ``xmp:Label``.

Lightroom Classic reads no pick/reject flag from files: it reads the rating (-1 rejected,
0 unrated, 1-5 stars) and the colour label *name*.  The default mapping:

* pick   -> ``xmp:Label="Green"``, rating = the stars given;
* reject -> ``xmp:Rating="-1"`` and ``xmp:Label="Red"``;
* stars are written as given; a colour label the photographer set explicitly wins over the
  flag's label.

A mapping file (TOML or JSON) can change any of it::

    [pick]
    label = "Green"      # "" for no label
    rating = ""          # "" = the stars given; or a number -1..5 forced for every pick
    [reject]
    label = "Red"
    rating = -1
    [labels]             # names of your Lightroom label set (e.g. a German Lightroom)
    Red = "Rot"
    Green = "Grün"
    [options]
    explicit_label_wins = true
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from engine.catalog import LABELS
from engine.export.xmp import validate_label, validate_rating


class MappingError(Exception):
    """An unusable mapping; message for the user."""


@dataclass
class FlagRule:
    label: str | None
    rating: int | None  # None: the stars given


@dataclass
class Mapping:
    pick: FlagRule = field(default_factory=lambda: FlagRule("Green", None))
    reject: FlagRule = field(default_factory=lambda: FlagRule("Red", -1))
    labels: dict[str, str] = field(default_factory=lambda: {n: n for n in LABELS})
    explicit_label_wins: bool = True

    def resolve(self, flag: str | None, stars: int, label: str | None) -> tuple[int, str | None]:
        """``(rating, label name)`` to write for a decision."""
        rule = self.pick if flag == "pick" else self.reject if flag == "reject" else None
        rating = stars
        if rule is not None and rule.rating is not None:
            rating = rule.rating
        out_label: str | None
        if label and (self.explicit_label_wins or rule is None or rule.label is None):
            out_label = label
        else:
            out_label = rule.label if rule is not None else None
        if out_label in self.labels:
            out_label = self.labels[out_label]
        return rating, out_label

    def describe(self) -> str:
        def lab(v: str | None) -> str:
            return f'xmp:Label="{v}"' if v else "no label"

        def rat(v: int | None) -> str:
            return "rating = stars" if v is None else f'xmp:Rating="{v}"'

        return (
            f"pick -> {lab(self.pick.label)}, {rat(self.pick.rating)}; "
            f"reject -> {lab(self.reject.label)}, {rat(self.reject.rating)}"
        )


def _label(value: Any, where: str) -> str | None:
    if value is None or (isinstance(value, str) and value.strip().lower() in ("", "none")):
        return None
    if not isinstance(value, str):
        raise MappingError(f"{where}: a label must be a text, not {value!r}")
    try:
        return validate_label(value.strip())
    except ValueError as exc:
        raise MappingError(f"{where}: {exc}") from None


def _rating(value: Any, where: str) -> int | None:
    if value is None or (isinstance(value, str) and value.strip().lower() in ("", "none", "stars")):
        return None
    try:
        number = int(str(value).strip())
        return validate_rating(number)
    except ValueError:
        raise MappingError(f"{where}: a rating must be -1..5 or 'stars', not {value!r}") from None


def parse_label(value: str, where: str = "label") -> str | None:
    return _label(value, where)


def parse_rating(value: str, where: str = "rating") -> int | None:
    return _rating(value, where)


def from_dict(data: dict[str, Any], source: str = "mapping") -> Mapping:
    m = Mapping()
    known = {"pick", "reject", "labels", "options"}
    unknown = set(data) - known
    if unknown:
        raise MappingError(f"{source}: unknown section(s) {sorted(unknown)}; expected {sorted(known)}")
    for name in ("pick", "reject"):
        sec = data.get(name)
        if sec is None:
            continue
        if not isinstance(sec, dict) or set(sec) - {"label", "rating"}:
            raise MappingError(f"{source}: [{name}] takes 'label' and 'rating' only")
        rule: FlagRule = getattr(m, name)
        if "label" in sec:
            rule.label = _label(sec["label"], f"{source} [{name}] label")
        if "rating" in sec:
            rule.rating = _rating(sec["rating"], f"{source} [{name}] rating")
    labels = data.get("labels")
    if labels is not None:
        if not isinstance(labels, dict):
            raise MappingError(f"{source}: [labels] must map colour names to label names")
        for k, v in labels.items():
            if k not in LABELS:
                raise MappingError(f"{source}: [labels] {k!r} is not one of {', '.join(LABELS)}")
            m.labels[k] = _label(v, f"{source} [labels] {k}") or k
    options = data.get("options")
    if options is not None:
        if not isinstance(options, dict) or set(options) - {"explicit_label_wins"}:
            raise MappingError(f"{source}: [options] takes 'explicit_label_wins' only")
        if "explicit_label_wins" in options:
            m.explicit_label_wins = bool(options["explicit_label_wins"])
    return m


def load_mapping(path: Path) -> Mapping:
    """Read a TOML (``.toml``) or JSON mapping file."""
    path = Path(path)
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise MappingError(f"cannot read the mapping file {path}: {exc.strerror}") from None
    try:
        if path.suffix.lower() == ".toml":
            import tomllib

            data = tomllib.loads(raw.decode("utf-8"))
        else:
            data = json.loads(raw.decode("utf-8"))
    except (ValueError, UnicodeDecodeError) as exc:
        raise MappingError(f"{path} is not valid {'TOML' if path.suffix.lower() == '.toml' else 'JSON'}: {exc}") from None
    if not isinstance(data, dict):
        raise MappingError(f"{path}: expected a table/object at the top level")
    return from_dict(data, str(path))
