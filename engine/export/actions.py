"""The export modes: sidecars (``--xmp``), copies/links of the picks (``--to``), embedding in
place (``--embed``) and the decisions as CSV/JSON (``--format``)."""

from __future__ import annotations

import csv
import io
import json
import os
import sqlite3
from collections.abc import Callable, Iterable
from pathlib import Path

from engine.export import exiftool as et
from engine.export.embed import EmbedError, current_values, embed_in_place, embed_into
from engine.export.formats import EMBEDDABLE, kind
from engine.export.imagedata import ImageDataError, image_digest
from engine.export.jpeg import JpegError, image_parts
from engine.export.paths import as_text, link_leaves
from engine.export.plan import ExportItem, ExportReport
from engine.export.sidecar import existing_sidecars, sidecar_names, write_sidecar
from engine.export.xmp import XmpError
from engine.safeio import (
    SafeIOError,
    clean_stale_temps,
    copy_atomic,
    ensure_dir,
    file_digest,
    link_file,
    read_bytes,
    write_bytes_atomic,
)
from engine.scan import path_key

Progress = Callable[[int, int, str], None]
# Failures of one file: reported, the export goes on with the next one.
FILE_ERRORS = (SafeIOError, XmpError, EmbedError, et.ExiftoolError, ImageDataError, JpegError)


class _Dirs:
    """Folders written to: stale temporary files of a killed run are removed once per folder."""

    def __init__(self, report: ExportReport):
        self.seen: set[Path] = set()
        self.report = report

    def touch(self, folder: Path) -> None:
        if folder not in self.seen:
            self.seen.add(folder)
            self.report.cleaned += clean_stale_temps(folder)


def _sidecar_jobs(
    pairs: Iterable[tuple[ExportItem, Path]], style: str, report: ExportReport
) -> list[tuple[ExportItem, Path]]:
    """``(item, sidecar path)`` to write; two shots wanting one sidecar name is a collision:
    a proprietary RAW keeps the name, anything else is refused with a message."""
    wanted: dict[str, list[tuple[ExportItem, Path, Path]]] = {}
    for item, f in pairs:
        for sc in sidecar_names(f, style):
            wanted.setdefault(str(sc).lower(), []).append((item, f, sc))
    jobs: list[tuple[ExportItem, Path]] = []
    for claims in wanted.values():
        shots = {c[0].key for c in claims}
        if len(shots) == 1:
            jobs.append((claims[0][0], claims[0][2]))
            continue
        raw_claims = [c for c in claims if kind(c[1]) == "raw"]
        winner = raw_claims[0] if len({c[0].key for c in raw_claims}) == 1 else None
        if winner is not None:
            jobs.append((winner[0], winner[2]))
        for item, f, sc in claims:
            if winner is not None and item.key == winner[0].key:
                continue
            others = sorted({c[1].name for c in claims if c[0].key != item.key})
            report.problem(
                f,
                f"{f.name}: its sidecar {sc.name} would also be the sidecar of {', '.join(others)} "
                f"(a different shot); not written, nothing overwritten "
                f"(use --sidecars darktable for STEM.EXT.xmp names, or --embed / --to)",
            )
    return jobs


def _write_sidecars(jobs: list[tuple[ExportItem, Path]], report: ExportReport, dirs: _Dirs,
                    progress: Progress | None, backup: bool = True) -> None:
    for i, (item, target) in enumerate(jobs):
        if report.stopped:
            break
        try:
            dirs.touch(target.parent)
            res = write_sidecar(target, item.rating, item.xmp_label, backup=backup)
        except FILE_ERRORS as exc:
            report.problem(target, exc)
        else:
            (report.written if res.changed else report.unchanged).append(res.path)
            if res.backup is not None and res.changed:
                report.backups.append(res.backup)
        if progress:
            progress(i + 1, len(jobs), str(target))


def _present(item: ExportItem, report: ExportReport) -> list[Path]:
    files = []
    for f in item.files:
        if os.path.isfile(f):  # never raises (a name too long for the disk is simply not there)
            files.append(f)
        else:
            report.problem(f, f"{f} is missing (moved or deleted since the catalog was made); skipped")
    return files


def export_xmp(
    items: list[ExportItem], *, style: str = "lightroom", report: ExportReport | None = None,
    progress: Progress | None = None, backup: bool = True,
) -> ExportReport:
    """Sidecars for every decided shot: the RAW's for RAW+JPEG pairs (Lightroom style), every
    file's with darktable names."""
    report = report or ExportReport()
    main_pairs: list[tuple[ExportItem, Path]] = []
    dt_pairs: list[tuple[ExportItem, Path]] = []
    for item in items:
        files = _present(item, report)
        if not files:
            continue
        if style in ("lightroom", "both"):
            main_pairs.append((item, item.raw if item.raw in files else files[0]))
        if style in ("darktable", "both"):
            dt_pairs += [(item, f) for f in files if kind(f) in EMBEDDABLE or kind(f) == "raw"]
    jobs = _sidecar_jobs(main_pairs, "lightroom", report) + _sidecar_jobs(dt_pairs, "darktable", report)
    _write_sidecars(jobs, report, _Dirs(report), progress, backup)
    return report


def export_embed(
    items: list[ExportItem], *, exe: et.ExiftoolLike | None, style: str = "lightroom",
    report: ExportReport | None = None, progress: Progress | None = None, backup: bool = True,
    catalog_path: Path | None = None,
) -> ExportReport:
    """Embed in JPEG/TIFF/DNG/HEIC in place (verified, atomic); proprietary RAW get sidecars.

    With ``catalog_path``, each rewritten primary's new bytes are recorded in the catalog as the
    same photo (before the new file is renamed into place, so a killed run loses nothing): its
    decision still holds, and the next export does not see "another photo"."""
    report = report or ExportReport()
    dirs = _Dirs(report)
    raw_pairs: list[tuple[ExportItem, Path]] = []
    embeds: list[tuple[ExportItem, Path]] = []
    for item in items:
        for f in _present(item, report):
            k = kind(f)
            if k == "raw":
                raw_pairs.append((item, f))
            elif k in EMBEDDABLE:
                embeds.append((item, f))
    total = len(embeds)
    aliases = _Aliases(catalog_path)
    try:
        for i, (item, f) in enumerate(embeds):
            if report.stopped:
                break
            try:
                if f.is_symlink():
                    raise SafeIOError(
                        f"{f} is a symbolic link; not embedded (nothing is written through a link)", path=f
                    )
                dirs.touch(f.parent)
                hook = aliases.record if catalog_path is not None and f == item.primary else None
                changed = embed_in_place(f, kind(f), item.rating, item.xmp_label, exe=exe, before_publish=hook)
            except FILE_ERRORS as exc:
                report.problem(f, exc)
            else:
                (report.written if changed else report.unchanged).append(f)
            if progress:
                progress(i + 1, total, str(f))
    finally:
        aliases.close()
    _write_sidecars(_sidecar_jobs(raw_pairs, style, report), report, dirs, None, backup)
    return report


class _Aliases:
    """Records in the catalog that an embedded file's new bytes are the same photo."""

    def __init__(self, catalog_path: Path | None):
        self.path = catalog_path
        self.cat: object = None

    def record(self, src: Path, new: Path) -> None:
        from engine.catalog import Catalog, CatalogError
        from engine.export.plan import content_hash

        assert self.path is not None
        try:
            if self.cat is None:
                self.cat = Catalog(self.path)
            assert isinstance(self.cat, Catalog)
            self.cat.add_content_alias(content_hash(src), content_hash(new))
        except (CatalogError, OSError, sqlite3.Error) as exc:
            raise SafeIOError(
                f"{src}: not embedded: the catalog {self.path} cannot record the new file ({exc}); "
                "nothing was changed", path=src,
            ) from exc

    def close(self) -> None:
        if self.cat is not None:
            self.cat.close()  # type: ignore[attr-defined]


def _same_photo(src: Path, dst: Path, k: str, *, by_image_data: bool) -> bool:
    """Is ``dst`` a copy of ``src`` (possibly with different embedded metadata)?"""
    try:
        if not dst.is_file() or dst.is_symlink():
            return False
        if by_image_data and k == "jpeg":
            return image_parts(read_bytes(src), str(src)) == image_parts(read_bytes(dst), str(dst))
        if by_image_data and k in ("tiff", "dng", "heif"):
            return image_digest(src, k) == image_digest(dst, k)
        return os.path.getsize(src) == os.path.getsize(dst) and file_digest(src) == file_digest(dst)
    except (OSError, SafeIOError, ImageDataError, JpegError):
        return False


def _rel(root: Path, f: Path) -> Path:
    try:
        return f.relative_to(root)
    except ValueError:
        return Path(f.name)


def export_copies(
    items: list[ExportItem], root: Path, out: Path, *, link: bool = False, metadata: bool = True,
    style: str = "lightroom", exe: et.ExiftoolLike | None = None, report: ExportReport | None = None,
    progress: Progress | None = None,
) -> ExportReport:
    """Copy (or hard-link) the picks into ``out``, keeping the folder structure, RAW+JPEG pairs
    and existing sidecars together.  With ``metadata`` the copies carry the rating and label
    (embedded in JPEG/TIFF/DNG/HEIC copies, sidecars for RAW); originals are only read."""
    report = report or ExportReport()
    root, out = Path(root).resolve(), Path(out).resolve()
    if out == root:
        report.problem(out, f"{out} is the session folder itself; choose another folder for --to")
        report.stopped = "nothing exported"
        return report
    try:
        ensure_dir(out)
    except SafeIOError as exc:
        report.problem(out, exc)
        report.stopped = "nothing exported"
        return report
    if out.is_relative_to(root):
        report.note(f"{out} is inside the session folder: a recursive `culler rank` would see the copies")
    dirs = _Dirs(report)
    picks = [i for i in items if i.flag == "pick"]
    sidecar_pairs: list[tuple[ExportItem, Path]] = []
    for n, item in enumerate(picks):
        if report.stopped:
            break
        files = _present(item, report)
        carried: list[Path] = []
        for f in files:
            for sc in existing_sidecars(f):
                if sc in carried:
                    continue
                if link_leaves(root, sc):
                    report.problem(
                        sc,
                        f"{sc} is a symbolic link leading out of the session folder "
                        f"(to {os.path.realpath(sc)}); not copied, nothing read through it",
                    )
                    continue
                carried.append(sc)
        for f in files:
            _place(f, out / _rel(root, f), item, out=out, link=link, metadata=metadata, exe=exe,
                   report=report, dirs=dirs)
        carried_names = {str(out / _rel(root, sc)).lower() for sc in carried}
        for sc in carried:
            dst = out / _rel(root, sc)
            try:
                _dest_inside(out, dst)
                dirs.touch(dst.parent)
                ensure_dir(dst.parent)
                if metadata:
                    res = write_sidecar(dst, item.rating, item.xmp_label, template=read_bytes(sc))
                    (report.written if res.changed else report.unchanged).append(res.path)
                    if res.backup is not None:
                        report.backups.append(res.backup)
                elif os.path.lexists(dst):
                    if _same_photo(sc, dst, "xmp", by_image_data=False):
                        report.unchanged.append(dst)
                    else:
                        report.problem(dst, f"{dst} exists and differs from {sc}; nothing overwritten")
                else:
                    copy_atomic(sc, dst)
                    report.written.append(dst)
            except FILE_ERRORS as exc:
                report.problem(dst, exc)
        if metadata:
            for f in files:
                if kind(f) != "raw":
                    continue
                dst_raw = out / _rel(root, f)
                if link_leaves(out, dst_raw.parent):
                    continue  # reported by _place
                if not any(str(sc).lower() in carried_names for sc in sidecar_names(dst_raw, style)):
                    sidecar_pairs.append((item, dst_raw))
        if progress:
            progress(n + 1, len(picks), item.key)
    if metadata and not report.stopped:
        _write_sidecars(_sidecar_jobs(sidecar_pairs, style, report), report, dirs, None)
    return report


def _dest_inside(out: Path, dst: Path) -> None:
    """Refuse a destination whose folder leads out of ``out`` through a symbolic link."""
    if link_leaves(out, dst.parent):
        raise SafeIOError(
            f"{dst.parent} leads out of {out} through a symbolic link (to {os.path.realpath(dst.parent)}); "
            "nothing written there", path=dst,
        )  # fmt: skip


def _place(
    src: Path, dst: Path, item: ExportItem, *, out: Path, link: bool, metadata: bool,
    exe: et.ExiftoolLike | None, report: ExportReport, dirs: _Dirs,
) -> None:
    k = kind(src)
    embed = metadata and not link and k in EMBEDDABLE and (k == "jpeg" or exe is not None)
    if metadata and not link and k in ("tiff", "dng", "heif") and exe is None:
        report.note(
            "exiftool not found: TIFF/DNG/HEIC copies carry no rating/label "
            "(Debian/Ubuntu: apt install libimage-exiftool-perl)"
        )
    try:
        _dest_inside(out, dst)
        ensure_dir(dst.parent)
        dirs.touch(dst.parent)
        if os.path.lexists(dst):
            if link and dst.exists() and os.path.samefile(src, dst):
                report.unchanged.append(dst)
                return
            if os.path.exists(dst) and os.path.samefile(src, dst):
                report.problem(dst, f"{dst} is the original itself; left untouched")
                return
            if not _same_photo(src, dst, k, by_image_data=k in EMBEDDABLE):
                report.problem(
                    dst,
                    f"{dst} already exists and is a different file (another card or session with "
                    "the same names?); nothing overwritten, export to an empty folder",
                )
                return
            if embed and current_values(dst, k, exe) != (item.rating, item.xmp_label):
                embed_into(dst, dst, k, item.rating, item.xmp_label, exe=exe, replace=True, keep_mtime=True)
                report.written.append(dst)
            else:
                report.unchanged.append(dst)
            return
        if link:
            link_file(src, dst)
        elif embed:
            try:
                embed_into(src, dst, k, item.rating, item.xmp_label, exe=exe, replace=False, keep_mtime=True)
            except (EmbedError, et.ExiftoolError, ImageDataError) as exc:
                report.note(f"{src.name}: copied without embedded rating/label ({exc})")
                copy_atomic(src, dst)
        else:
            copy_atomic(src, dst)
        report.written.append(dst)
    except FILE_ERRORS as exc:
        report.problem(dst, exc)


# -- decisions as data -------------------------------------------------------------------------------
FIELDS = [
    "key", "files", "flag", "stars", "label", "source", "xmp_rating", "xmp_label",
    "group_id", "rank", "score", "suggested",
]  # fmt: skip


def decision_rows(items: list[ExportItem], root: Path) -> list[dict[str, object]]:
    rows = []
    for it in items:
        rows.append({
            "key": str(as_text(it.key)),  # a non-UTF-8 name kept as bytes: surrogate-escaped
            "files": [path_key(_rel(root, f).as_posix()) for f in it.files],  # as the catalog stores names
            "flag": it.flag,
            "stars": it.stars,
            "label": it.label,
            "source": it.source,
            "xmp_rating": it.rating,
            "xmp_label": it.xmp_label,
            "group_id": it.shot.get("group_id"),
            "rank": it.shot.get("rank"),
            "score": it.shot.get("score"),
            "suggested": it.shot.get("suggested"),
        })  # fmt: skip
    return rows


def render_decisions(items: list[ExportItem], root: Path, fmt: str, extra: dict[str, object]) -> bytes:
    rows = decision_rows(items, root)
    if fmt == "json":
        text = json.dumps({**extra, "shots": rows}, indent=2, ensure_ascii=False) + "\n"
        return text.encode("utf-8", "surrogateescape")
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=FIELDS, lineterminator="\n")
    w.writeheader()
    for r in rows:
        w.writerow({k: (";".join(v) if isinstance(v, list) else "" if v is None else v) for k, v in r.items()})  # type: ignore[arg-type]
    return buf.getvalue().encode("utf-8", "surrogateescape")


SAFE_OUTPUT_SUFFIXES = {".csv", ".json", ".txt", ".tsv"}


def write_decisions(data: bytes, path: Path) -> None:
    """Write the CSV/JSON atomically; an existing file is replaced only if it is a data file."""
    path = Path(path)
    if os.path.lexists(path) and path.suffix.lower() not in SAFE_OUTPUT_SUFFIXES:
        raise SafeIOError(
            f"{path} exists and is not a .csv/.json file; refusing to overwrite it", path=path
        )
    write_bytes_atomic(path, data, replace=True)
