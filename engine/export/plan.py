"""Which shots an export touches, with what rating and label; and the report of what happened."""

from __future__ import annotations

import os
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from engine.catalog import Catalog, _check_decision
from engine.export.formats import kind
from engine.export.mapping import Mapping
from engine.export.paths import inside_root
from engine.safeio import SafeIOError, describe_oserror


@dataclass
class ExportItem:
    key: str
    primary: Path
    files: list[Path]  # every file of the shot, primary first (sidecars excluded)
    flag: str | None
    stars: int
    label: str | None
    source: str  # 'user' (the photographer decided), 'suggested' (the engine's suggestion)
    rating: int  # xmp:Rating to write
    xmp_label: str | None  # xmp:Label to write (None: no label)
    shot: dict[str, Any] = field(default_factory=dict)

    @property
    def raw(self) -> Path | None:
        return next((f for f in self.files if kind(f) == "raw"), None)


def _abs(root: Path, value: Any, what: str) -> Path | None:
    """``root / value`` for a catalog path, refused (:class:`UnsafePathError`) unless it is a
    file inside the session folder."""
    if value is None or value == "":
        return None
    return inside_root(root, value, what)


class FileIndex:
    """Every ``files`` row, read in one query (an export looks at all of them)."""

    def __init__(self, catalog: Catalog):
        self.by_shot: dict[Any, list[dict[str, Any]]] = defaultdict(list)
        self.by_path: dict[Any, dict[str, Any]] = {}
        for row in catalog.all_files():
            self.by_shot[row["shot"]].append(row)
            self.by_path[row["path"]] = row


def shot_files(catalog: Catalog, root: Path, shot: dict[str, Any], index: FileIndex | None = None) -> list[Path]:
    """Every file of a shot, primary first; :class:`UnsafePathError` when the catalog names one
    outside the session folder."""
    key = shot["key"]
    primary = _abs(root, shot.get("primary_path"), "path") or inside_root(root, key, "shot key")
    files = [primary]
    for row in index.by_shot.get(key, []) if index is not None else catalog.files_of(key):
        p = _abs(root, row["path"], "file path")
        if p is not None and p not in files and kind(p) != "xmp":
            files.append(p)
    raw = _abs(root, shot.get("raw_path"), "RAW path")
    if raw is not None and raw not in files:
        files.append(raw)
    return files


def _invalid_decision(flag: Any, stars: Any, label: Any) -> str | None:
    """What is wrong with a stored decision row (``None``: it is usable)."""
    if isinstance(stars, bool) or not isinstance(stars, int):
        return f"stars {stars!r} (not a number 0-5)"
    try:
        _check_decision(flag, stars, label)
    except ValueError as exc:
        return f"an invalid value ({exc})"
    return None


def undecided(flag: str | None, stars: int, label: str | None) -> bool:
    return flag is None and not stars and not label


def content_hash(path: Path) -> str:
    """The content hash the catalog keeps for a file (the scanner's own function)."""
    from engine.scan import file_hash

    try:
        return file_hash(path)
    except OSError as exc:
        raise describe_oserror(exc, path, "cannot read") from exc


def content_changed(catalog: Catalog, root: Path, shot: dict[str, Any], bound: str | None,
                    primary: Path, index: FileIndex | None = None) -> bool:
    """Is the primary file's content now other than ``bound`` (the hash the decision was made
    on)?  The catalogued hash is trusted while size and mtime are those it was taken at; any
    other file is hashed again.  A missing file is not "changed" (it is reported as missing)."""
    if not bound:
        return False
    try:
        st = os.stat(primary)
    except OSError:
        return False
    rel = shot.get("primary_path") or shot["key"]
    row = index.by_path.get(rel) if index is not None else catalog.file_row(rel)
    if row and row.get("hash") and row.get("size") == st.st_size and row.get("mtime_ns") == st.st_mtime_ns:
        current = row["hash"]
    else:
        current = content_hash(primary)
    return current != bound and current not in catalog.same_photo_hashes(bound)


def collect(
    catalog: Catalog, root: Path, *, suggested: bool, mapping: Mapping, decided_only: bool = True,
    report: ExportReport | None = None, include_changed: bool = False,
) -> list[ExportItem]:
    """The shots to export: those the photographer decided and, with ``suggested``, the engine's
    suggestion for the shots the photographer left undecided (never overriding a decision).

    A shot whose catalog paths leave the session folder is skipped with one line in ``report``,
    and so is a decision whose photo's content changed since it was made (another photo under
    the same name), unless ``include_changed`` (then it is exported with a note)."""
    report = report if report is not None else ExportReport()
    decisions = {r["shot"]: r for r in catalog.decision_rows()}
    index = FileIndex(catalog)
    items: list[ExportItem] = []
    for shot in catalog.shots():
        d = decisions.get(shot["key"])
        flag, stars, label = (d["flag"], d["stars"], d["label"]) if d else (None, 0, None)
        stars = 0 if stars is None else stars
        problem = _invalid_decision(flag, stars, label)
        if problem is not None:
            report.problem(
                str(shot["key"]),
                f"{shot['key']}: its decision holds {problem}; skipped, the rest is exported "
                "(set it again in `culler gui`; `culler check` lists such rows)",
            )
            continue
        source = "user"
        if undecided(flag, stars, label):
            if suggested and shot.get("suggested") in ("pick", "reject"):
                flag, source = shot["suggested"], "suggested"
            elif decided_only:
                continue
            else:
                source = "none"
        rating, xmp_label = mapping.resolve(flag, stars, label)
        try:
            files = shot_files(catalog, root, shot, index)
            changed = source == "user" and d is not None and content_changed(
                catalog, root, shot, d.get("hash") or shot.get("hash"), files[0], index
            )
        except SafeIOError as exc:
            report.problem(str(shot["key"]), exc)
            continue
        if changed:
            what = (
                f"{shot['key']}: the photo changed since you decided on it (replaced by another "
                "photo with the same name, or edited)"
            )
            if not include_changed:
                report.problem(
                    str(shot["key"]),
                    f"{what}; not exported: run `culler rank` and decide it again "
                    "(or export it anyway with --include-changed)",
                )
                continue
            report.note(f"{what}; exported anyway (--include-changed)")
        items.append(
            ExportItem(shot["key"], files[0], files, flag, stars, label, source, rating, xmp_label, shot)
        )
    return items


@dataclass
class ExportReport:
    written: list[Path] = field(default_factory=list)
    unchanged: list[Path] = field(default_factory=list)
    backups: list[Path] = field(default_factory=list)
    problems: list[tuple[str, str]] = field(default_factory=list)  # (what, message)
    notes: list[str] = field(default_factory=list)
    stopped: str | None = None
    cleaned: list[Path] = field(default_factory=list)

    def problem(self, what: str | Path, exc: Exception | str) -> None:
        self.problems.append((str(what), str(exc)))
        if isinstance(exc, SafeIOError) and exc.fatal:
            self.stopped = str(exc)

    def note(self, text: str) -> None:
        if text not in self.notes:
            self.notes.append(text)

    @property
    def ok(self) -> bool:
        return not self.problems and self.stopped is None

    def lines(self, verbose: bool = False) -> list[str]:
        out = [
            f"{len(self.written)} file(s) written, {len(self.unchanged)} already up to date"
            + (f", {len(self.backups)} previous sidecar(s) backed up" if self.backups else "")
        ]
        if verbose:
            out += [f"  wrote {p}" for p in self.written]
        if self.cleaned:
            out.append(f"removed {len(self.cleaned)} temporary file(s) left by an interrupted run")
        # Group identical causes (a write-protected card fails every file the same way).
        by_msg: dict[str, list[str]] = defaultdict(list)
        for what, msg in self.problems:
            by_msg[msg].append(what)
        for msg, whats in by_msg.items():
            if len(whats) > 1:
                out.append(f"problem: {msg} ({len(whats)} files, first {whats[0]})")
            elif whats[0] in msg or Path(whats[0]).name in msg:
                out.append(f"problem: {msg}")
            else:
                out.append(f"problem: {whats[0]}: {msg}")
        out += [f"note: {n}" for n in self.notes]
        if self.stopped:
            out.append(f"stopped: {self.stopped}; nothing was replaced by a partial file")
        return out
