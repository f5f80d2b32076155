"""``culler check``: verify a session catalog (after a crash, a power cut, a copy...)."""

from __future__ import annotations

import argparse
import json
import os
import sqlite3
import sys
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from engine.catalog import Catalog

HELP = "verify a session catalog: SQLite integrity, WAL, schema, consistency"
DESCRIPTION = """\
Checks a catalog without changing anything in it: SQLite's own integrity check,
journal mode (WAL) and pending write-ahead log, schema version, the catalog's
consistency rules, and which catalogued files are missing from the folder.

  culler check ~/Pictures/shoot              the catalog beside the folder
  culler check --catalog shoot.culler.sqlite

Exit status: 0 healthy, 1 problems found, 2 no usable catalog.
"""


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("folder", metavar="DIR", nargs="?", default=None, help="the session folder")
    p.add_argument("--catalog", metavar="PATH", default=None, help="the catalog file")
    p.add_argument("--json", action="store_true", help="machine-readable report")


def check_catalog(cat_path: Path, folder: Path | None = None) -> dict[str, Any]:
    """Report on a catalog; never modifies it (nor its WAL).  ``report["problems"]`` empty means
    healthy; ``report["fatal"]`` set means it is not a usable catalog at all."""
    from engine.catalog import (
        REQUIRED_TABLES,
        SCHEMA_VERSION,
        Catalog,
        CatalogError,
        parse_schema_version,
    )
    from engine.scan import key_path

    rep: dict[str, Any] = {"catalog": str(cat_path), "problems": [], "fatal": None}
    wal = Path(str(cat_path) + "-wal")
    rep["wal_bytes"] = wal.stat().st_size if wal.exists() else 0
    with open(cat_path, "rb") as f:
        head = f.read(16)
    if not head:
        rep["fatal"] = f"{cat_path} is empty (0 bytes): a catalog that was never written"
        return rep
    if head != b"SQLite format 3\x00":
        rep["fatal"] = f"{cat_path} is not an SQLite database (not a portrait-culler catalog)"
        return rep
    try:
        # read-only: a pending WAL is read, never checkpointed nor deleted
        cat = Catalog(cat_path, readonly=True, strict=False)
    except CatalogError as exc:
        rep["fatal"] = str(exc)
        return rep
    try:
        rep["journal_mode"] = cat.journal_mode()
        if rep["journal_mode"].lower() != "wal":
            rep["problems"].append(f"journal mode is {rep['journal_mode']}, expected wal")
        rep["integrity"] = cat.sqlite_integrity()
        if rep["integrity"] != ["ok"]:
            rep["problems"] += [f"sqlite: {m}" for m in rep["integrity"][:20]]
        tables = cat.table_names()
        missing_tables = [t for t in REQUIRED_TABLES if t not in tables]
        if "meta" not in tables or {"shots", "decisions"} - tables:
            rep["fatal"] = (
                f"{cat_path} is an SQLite file but not a portrait-culler catalog "
                f"(missing tables {missing_tables})"
            )
            return rep
        if missing_tables:
            rep["problems"].append(f"half-created catalog: no table {', '.join(missing_tables)} (`culler rank` completes it)")
            return rep
        gaps = cat.missing_columns()
        if gaps:
            rep["problems"].append(f"missing column(s) {', '.join(gaps)} (`culler rank` adds them back)")
            return rep
        meta = cat.all_meta()
        rep["schema_version"] = meta.get("schema_version")
        rep["root"] = meta.get("root")
        try:
            version = parse_schema_version(rep["schema_version"])
        except CatalogError as exc:
            rep["fatal"] = str(exc)
            return rep
        if version is not None and version > SCHEMA_VERSION:
            rep["fatal"] = (
                f"written by a newer portrait-culler (schema {rep['schema_version']}, this version "
                f"reads up to {SCHEMA_VERSION})"
            )
            return rep
        rep["counts"] = {
            "shots": cat.count_shots(),
            "analysed": cat.count_shots(analysed_only=True),
            "files": cat.count_files(),
            "groups": cat.count_groups(),
            "decisions": cat.count_decisions(),
        }
        if orphan := cat.count_orphan_shots():
            rep["problems"].append(f"{orphan} analysed shot(s) have no analysis row")
        if bad := cat.count_invalid_decisions():
            rep["problems"].append(f"{bad} decision(s) hold invalid values")
        if dangling := cat.count_dangling_files():
            rep["problems"].append(f"{dangling} file row(s) point to no shot")
        rep["decisions_without_shot"] = cat.count_decisions_without_shot()
        base = folder or (Path(rep["root"]) if rep["root"] else None)
        if base is not None:
            _check_paths(cat, base, rep)
        if folder is not None and rep["root"] and rep["root"] != str(folder.resolve()):
            from engine.catalog import root_mismatch_message

            rep["root_mismatch"] = True
            rep["problems"].append(root_mismatch_message(cat_path, rep["root"], folder.resolve()))
        elif base is not None and base.is_dir():
            _check_decision_content(cat, base, rep)
        if base is not None and base.is_dir():
            from engine.export.paths import as_text, lexical_problem

            rep["missing_files"] = [
                str(as_text(k)) for k in cat.shot_keys()
                if lexical_problem(k) is None and not os.path.exists(base / PurePosixPath(key_path(str(as_text(k)))))
            ]  # fmt: skip  (unsafe keys are reported above, never looked up)
        elif base is not None:
            rep["missing_files"] = None
            rep["folder_missing"] = str(base)
    except sqlite3.DatabaseError as exc:
        rep["fatal"] = f"{cat_path} is damaged: {exc}"
    finally:
        cat.close()
    return rep


def _check_paths(cat: Catalog, base: Path, rep: dict[str, Any]) -> None:
    """Every path the catalog holds must name a file inside the session folder."""
    from engine.export.paths import path_problems

    n, first = path_problems(base.resolve(), cat.stored_paths())
    rep["unsafe_paths"] = n
    if n:
        rep["problems"].append(
            f"{n} catalog path(s) lead out of the session folder (export refuses them); first: {first[0]}"
        )


def _check_decision_content(cat: Catalog, base: Path, rep: dict[str, Any]) -> None:
    """Decisions whose photo is no longer the content they were made on (a replaced file): a
    stat per decision, and a hash only of files whose size or mtime moved since the scan."""
    from engine.catalog import same_photo_hashes
    from engine.export.paths import UnsafePathError, inside_root
    from engine.scan import file_hash

    changed = []
    for shot, bound, rel, size, mtime_ns, fhash in cat.bound_decisions():
        try:
            p = inside_root(base.resolve(), rel)
            st = p.stat()
            current = fhash if (size, mtime_ns) == (st.st_size, st.st_mtime_ns) and fhash else file_hash(p)
        except (UnsafePathError, OSError):
            continue  # reported as an unsafe path or a missing file
        if current != bound and current not in same_photo_hashes(cat.conn, bound):
            changed.append(str(shot))
    rep["changed_decisions"] = changed
    if changed:
        rep["problems"].append(
            f"{len(changed)} decision(s) were made on a photo that has since changed (e.g. {changed[0]}); "
            "export skips them until they are decided again"
        )


def run(args: argparse.Namespace) -> int:
    from engine.catalog import default_catalog_path

    folder = Path(args.folder).expanduser().resolve() if args.folder else None
    if args.catalog:
        cat = Path(args.catalog).expanduser()
    elif folder is not None:
        cat = default_catalog_path(folder)
    else:
        print("culler check: give a session folder or --catalog PATH", file=sys.stderr)
        return 2
    if folder is not None and not folder.is_dir():
        print(f"culler check: {folder} is not a folder", file=sys.stderr)
        return 2
    if not cat.is_file():
        print(f"culler check: no catalog at {cat}", file=sys.stderr)
        return 2
    try:
        rep = check_catalog(cat, folder)
    except OSError as exc:
        print(f"culler check: cannot read {cat}: {exc.strerror}", file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps(rep, indent=2))
    else:
        print(f"catalog: {cat}")
        if rep["fatal"]:
            print(f"NOT USABLE: {rep['fatal']}")
        else:
            c = rep.get("counts", {})
            print(f"schema {rep.get('schema_version')}, journal {rep.get('journal_mode')}, "
                  f"pending WAL {rep['wal_bytes']} bytes, root {rep.get('root')}")
            print(f"{c.get('shots', 0)} shots ({c.get('analysed', 0)} analysed), {c.get('files', 0)} files, "
                  f"{c.get('groups', 0)} groups, {c.get('decisions', 0)} decisions")
            if rep.get("decisions_without_shot"):
                print(f"{rep['decisions_without_shot']} decision(s) kept for shots no longer in the folder")
            missing = rep.get("missing_files")
            if missing:
                print(f"{len(missing)} catalogued shot(s) missing from the folder, e.g. {missing[0]}")
            if rep.get("folder_missing"):
                print(f"the folder {rep['folder_missing']} is not there (moved?)")
            for p in rep["problems"]:
                print(f"problem: {p}")
            print("OK" if not rep["problems"] else f"{len(rep['problems'])} problem(s)")
    if rep["fatal"]:
        return 2
    return 1 if rep["problems"] else 0
