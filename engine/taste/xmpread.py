"""Decisions made in another tool, read from XMP: ``xmp:Rating`` (-1..5) and ``xmp:Label``.

Where Lightroom, Photo Mechanic, Bridge, Capture One and darktable put them: sidecars
``STEM.xmp`` and ``STEM.EXT.xmp`` (any case), else the packet embedded in a JPEG (APP1),
TIFF/DNG (tag 700) or HEIC/HEIF.  Every packet goes through the export path's hardened
parser (:func:`engine.export.xmp.read_rating_label`: no DTD, no entities, size-capped), so
a hostile sidecar costs one line and nothing else.

The reading inverts ``culler export``'s mapping: rating -1 is a reject, the pick label
(Green by default) on a rating >= 0 is a pick, stars are the rating, any other known label
is kept as the label.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from engine.catalog import LABELS, Decision
from engine.export.packets import embedded_packet

MAX_SIDECAR = 8 * 1024 * 1024


@dataclass
class Found:
    rating: int | None
    label: str | None
    source: Path


def read_decision(files: Sequence[Path]) -> tuple[Found | None, list[str]]:
    """The rating/label of a shot from its files' sidecars (first) or embedded XMP.

    Returns (what was found or None, one line per unreadable or hostile packet).
    """
    from engine.export.sidecar import existing_sidecars
    from engine.export.xmp import XmpError, read_rating_label
    from engine.safeio import SafeIOError, read_bytes

    problems: list[str] = []
    for f in files:
        for sc in existing_sidecars(f):
            if sc.is_symlink():
                problems.append(f"{sc}: a symlink; not followed")
                continue
            try:
                r, lab = read_rating_label(read_bytes(sc, MAX_SIDECAR), str(sc))
            except (XmpError, SafeIOError) as exc:
                problems.append(str(exc))
                continue
            if r is not None or lab is not None:
                return Found(r, lab, sc), problems
    for f in files:
        try:
            packet = embedded_packet(f)
            if packet is None:
                continue
            r, lab = read_rating_label(packet, f"{f} (embedded XMP)")
        except XmpError as exc:
            problems.append(str(exc))
            continue
        except Exception as exc:  # a corrupt image container: one line, never a crash
            problems.append(
                f"{f}: cannot read its embedded XMP ({type(exc).__name__}: {exc})".splitlines()[0]
            )
            continue
        if r is not None or lab is not None:
            return Found(r, lab, f), problems
    return None, problems


def to_decision(shot: str, found: Found, mapping: object | None = None) -> Decision:
    """Invert the export mapping (``engine.export.mapping.Mapping``, default when None)."""
    from engine.export.mapping import Mapping

    m = mapping if isinstance(mapping, Mapping) else Mapping()
    rating = found.rating if found.rating is not None else 0
    rating = max(-1, min(5, int(rating)))
    names = {v.lower(): k for k, v in m.labels.items() if v}
    label = names.get((found.label or "").strip().lower())
    if found.label and label is None and found.label.strip().title() in LABELS:
        label = found.label.strip().title()
    pick_label = (m.pick.label or "").lower()
    reject_label = (m.reject.label or "").lower()
    if rating < 0:
        return Decision(
            shot, "reject", 0, None if label and label.lower() == reject_label else label
        )
    if label and label.lower() == pick_label:
        return Decision(shot, "pick", rating, None)
    return Decision(shot, None, rating, label)


@dataclass
class ImportReport:
    catalog_path: Path
    n_shots: int = 0
    imported: int = 0
    picks: int = 0
    rejects: int = 0
    starred: int = 0
    kept: int = 0  # shots that already had a decision in the catalog (kept unless overwrite)
    without: int = 0  # shots with no rating or label anywhere
    problems: list[str] | None = None


def import_folder(
    root: Path,
    catalog: Path | None = None,
    *,
    recursive: bool = False,
    overwrite: bool = False,
    mapping: object | None = None,
) -> ImportReport:
    """Read the ratings and labels of a folder culled elsewhere into its catalog, as decisions.

    Decisions already in the catalog win unless ``overwrite``.  Nothing but the catalog is
    written; the photos and sidecars are only read.
    """
    from engine.catalog import Catalog, default_catalog_path
    from engine.scan import scan_folder

    root = Path(root).expanduser().resolve()
    cat_path = Path(catalog) if catalog else default_catalog_path(root)
    scan = scan_folder(root, recursive)
    rep = ImportReport(cat_path, len(scan.shots), problems=[])
    out = []
    with Catalog(cat_path, root) as cat:
        have = cat.decisions()
        for s in scan.shots:
            found, problems = read_decision([s.primary, *s.companions])
            rep.problems.extend(problems)  # type: ignore[union-attr]
            if found is None:
                rep.without += 1
                continue
            d = to_decision(s.key, found, mapping)
            old = have.get(s.key)
            if old is not None and (old.flag or old.stars or old.label) and not overwrite:
                rep.kept += 1
                continue
            out.append(d)
            rep.imported += 1
            rep.picks += d.flag == "pick"
            rep.rejects += d.flag == "reject"
            rep.starred += d.stars > 0
        cat.set_decisions(out)
        if out:
            import json
            import time

            cat.set_meta(
                "imported_decisions", json.dumps({"at": time.time(), "n": len(out), "from": "xmp"})
            )
    return rep
