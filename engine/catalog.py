"""The session catalog: one SQLite database per culling session.

Everything the engine learns about a folder and every decision the photographer
makes lands here, written in small transactions in WAL mode so that a run
killed at any point (SIGKILL included) resumes without redoing finished files
and without corrupting the database.

Analysis results are keyed by the *content hash* of the primary file, so a
renamed, moved or duplicated file is not analysed twice; decisions are keyed by
the shot's relative path (what the photographer sees).
"""

from __future__ import annotations

import json
import os
import sqlite3
import sys
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any

SCHEMA_VERSION = 1
CATALOG_SUFFIX = ".culler.sqlite"

FLAGS = ("pick", "reject")
LABELS = ("Red", "Yellow", "Green", "Blue", "Purple")


class CatalogError(Exception):
    """A catalog that cannot be opened or used; the message is user-facing."""


def default_catalog_path(folder: Path) -> Path:
    """Default location: beside the folder (``/photos/shoot`` -> ``/photos/shoot.culler.sqlite``).

    When the parent is not writable, the user's data directory is used instead.
    """
    folder = Path(folder).resolve()
    beside = folder.parent / f"{folder.name}{CATALOG_SUFFIX}"
    if beside.exists() or os.access(folder.parent, os.W_OK):
        return beside
    import hashlib

    import platformdirs

    digest = hashlib.sha1(str(folder).encode()).hexdigest()[:12]
    base = Path(platformdirs.user_data_dir("portrait-culler")) / "catalogs"
    return base / f"{folder.name}-{digest}{CATALOG_SUFFIX}"


_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT);
CREATE TABLE IF NOT EXISTS files (
    path TEXT PRIMARY KEY,          -- relative to the root, '/' separators
    shot TEXT,                      -- key of the shot this file belongs to
    role TEXT,                      -- 'primary' or 'companion' (RAW+JPEG pair, sidecar)
    size INTEGER,
    mtime_ns INTEGER,
    hash TEXT,                      -- blake2b of the content
    status TEXT,                    -- 'ok', 'skipped'
    reason TEXT
);
CREATE TABLE IF NOT EXISTS shots (
    key TEXT PRIMARY KEY,           -- relative path of the primary file
    primary_path TEXT,
    raw_path TEXT,                  -- the RAW of a RAW+JPEG pair, when any
    hash TEXT,
    status TEXT,                    -- 'pending', 'ok', 'skipped'
    reason TEXT,
    group_id INTEGER,
    rank INTEGER,
    score REAL,
    n_faces INTEGER,
    suggested TEXT,                 -- 'pick' / 'reject' from the ranking
    explain TEXT,                   -- JSON {member: {quality, weight, contribution}} of the rank
    seen_at REAL
);
CREATE TABLE IF NOT EXISTS metadata (
    shot TEXT PRIMARY KEY,
    capture_time TEXT,              -- ISO 8601, with offset where known
    capture_ts REAL,                -- seconds, UTC where the offset is known
    time_source TEXT,               -- 'exif' or 'file'
    subsec TEXT,
    utc_offset TEXT,
    make TEXT, model TEXT, serial TEXT, lens TEXT,
    exposure_time REAL, fnumber REAL, iso REAL, focal_length REAL,
    orientation INTEGER,
    width INTEGER, height INTEGER
);
CREATE TABLE IF NOT EXISTS analysis (
    hash TEXT PRIMARY KEY,
    engine_version TEXT,
    width INTEGER, height INTEGER,  -- of the analysed (reduced) image
    full_width INTEGER, full_height INTEGER,
    embedding BLOB,                 -- float32 content descriptor for grouping
    n_faces INTEGER,
    members TEXT,                   -- JSON list of the members that ran (a member may decline)
    analysed_at REAL,
    seconds REAL,
    image_key TEXT                  -- digest of the image data + orientation (engine.imagekey), or NULL
);
CREATE TABLE IF NOT EXISTS faces (
    hash TEXT,
    idx INTEGER,
    x REAL, y REAL, w REAL, h REAL, -- in full-image relative coordinates (0-1)
    det_score REAL,
    landmarks TEXT,                 -- JSON [[x,y]*5], relative coordinates
    signals TEXT,                   -- JSON {name: value}
    crop BLOB,                      -- JPEG of the aligned, padded crop
    PRIMARY KEY (hash, idx)
);
CREATE TABLE IF NOT EXISTS scores (
    hash TEXT,
    member TEXT,
    value REAL,                     -- raw signal, natural units
    quality REAL,                   -- 0..1, higher is better
    PRIMARY KEY (hash, member)
);
CREATE TABLE IF NOT EXISTS groups (
    id INTEGER PRIMARY KEY,
    n_shots INTEGER,
    best TEXT,                      -- shot key of the rank-1 shot
    start_time TEXT
);
CREATE TABLE IF NOT EXISTS decisions (
    shot TEXT PRIMARY KEY,
    flag TEXT,                      -- 'pick', 'reject' or NULL (unflagged)
    stars INTEGER,                  -- 0..5
    label TEXT,                     -- Red, Yellow, Green, Blue, Purple or NULL
    updated_at REAL
);
CREATE INDEX IF NOT EXISTS idx_files_shot ON files(shot);
CREATE INDEX IF NOT EXISTS idx_shots_group ON shots(group_id);
CREATE INDEX IF NOT EXISTS idx_shots_hash ON shots(hash);
CREATE INDEX IF NOT EXISTS idx_analysis_image_key ON analysis(image_key);
"""


@dataclass
class Decision:
    shot: str
    flag: str | None = None
    stars: int = 0
    label: str | None = None


def _check_decision(flag: Any = ..., stars: Any = ..., label: Any = ...) -> None:
    """ValueError for a field outside its vocabulary (``...``: the field is not being set)."""
    if flag is not ... and flag is not None and flag not in FLAGS:
        raise ValueError(f"flag must be one of {FLAGS} or None, not {flag!r}")
    if stars is not ... and (not isinstance(stars, int) or not 0 <= stars <= 5):
        raise ValueError(f"stars must be 0-5, not {stars!r}")
    if label is not ... and label is not None and label not in LABELS:
        raise ValueError(f"label must be one of {LABELS} or None, not {label!r}")


class CatalogLocked(CatalogError):
    """Another culler process holds the catalog's lock."""


@contextmanager
def catalog_lock(path: str | os.PathLike[str], purpose: str = "culler") -> Iterator[None]:
    """Hold the catalog's advisory lock (``CATALOG.lock`` beside it) for a run that writes.

    Two ``rank`` runs on one catalog would both analyse everything, and ``rank`` beside an
    export gives spurious "already exists" problems; the second one is refused at once
    (:class:`CatalogLocked`, naming the pid that holds it).  The lock is an OS file lock
    (``flock``): it dies with its process, so a killed run never leaves a stale lock.  Where the
    lock file cannot be created (read-only media) nothing can be written either, and the run
    goes on unlocked."""
    lock = Path(str(path) + ".lock")
    with suppress(OSError):
        lock.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(lock, os.O_RDWR | os.O_CREAT | getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_NOFOLLOW", 0), 0o644)
    except OSError:
        yield
        return
    try:
        if not _try_lock(fd):
            try:
                holder = os.pread(fd, 200, 0).decode("utf-8", "replace").split()
            except OSError:
                holder = []
            who = f"pid {holder[0]}" if holder and holder[0].isdigit() else "pid unknown"
            what = f", {' '.join(holder[1:])}" if len(holder) > 1 else ""
            raise CatalogLocked(
                f"another culler is using this catalog ({who}{what}): {path}; wait for it to finish"
            )
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()} {purpose}\n".encode(), 0)
        try:
            yield
        finally:
            with suppress(OSError):
                os.ftruncate(fd, 0)
    finally:
        os.close(fd)  # releases the lock


def _try_lock(fd: int) -> bool:
    if sys.platform == "win32":  # pragma: no cover
        import msvcrt

        try:
            msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)
        except OSError:
            return False
        return True
    import fcntl

    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    except OSError:
        return True  # a file system without locks (some network shares): go on unlocked
    return True


REQUIRED_TABLES = ("meta", "files", "shots", "metadata", "analysis", "faces", "scores", "groups", "decisions")


def describe_sqlite_error(path: Path, exc: BaseException) -> str:
    """One line naming the real cause of an SQLite failure on the catalog ``path``."""
    name = getattr(exc, "sqlite_errorname", "") or ""
    text = str(exc)
    if name.startswith("SQLITE_FULL") or "disk is full" in text:
        return f"the disk holding {path.parent} is full; nothing was lost, free some space and run again"
    if name.startswith("SQLITE_READONLY") or "readonly" in text or "read-only" in text:
        return (
            f"the catalog {path} is read-only (read-only disk, write-protected card, immutable file "
            "or no permission); nothing was changed; copy it to a writable disk to work on it"
        )
    if name.startswith("SQLITE_BUSY") or "locked" in text:
        return f"the catalog {path} is busy: another program holds it; try again when it has finished"
    if name.startswith(("SQLITE_NOTADB", "SQLITE_CORRUPT")) or "not a database" in text or "malformed" in text:
        return f"{path} is not a usable catalog: damaged or not a catalog at all ({text}); `culler check` tells more"
    if name.startswith(("SQLITE_CANTOPEN", "SQLITE_IOERR", "SQLITE_PERM")):
        if not _writable(path):
            return (
                f"the catalog {path} is on a read-only disk or folder (SQLite cannot create its "
                f"-wal/-shm files there); nothing was changed; copy it to a writable disk"
            )
        return f"cannot open the catalog {path}: {text}"
    return f"{path} is not a usable catalog: {text}"


def _writable(path: Path) -> bool:
    folder = path.parent if str(path.parent) else Path(".")
    if path.exists() and not os.access(path, os.W_OK):
        return False
    if not os.access(folder, os.W_OK):
        return False
    try:
        st = os.statvfs(folder)
    except (OSError, AttributeError):
        return True
    return not (st.f_flag & getattr(os, "ST_RDONLY", 1))


def connect_readonly(path: Path) -> tuple[sqlite3.Connection, bool]:
    """A connection that can never change the catalog file nor its write-ahead log.

    ``mode=ro`` reads a pending WAL (SQLite may create or refresh the transient ``-shm``
    index beside it).  On read-only media without a ``-shm`` file that fails, and a catalog
    with no pending ``-wal`` is then opened ``immutable=1``: nothing is pending, so nothing is
    missed.  A pending WAL that cannot be read there is a clear error, never "damaged".
    Returns the connection and whether it is immutable."""
    from urllib.parse import quote

    uri = "file:" + quote(os.fsencode(Path(path).absolute()))
    try:
        conn = sqlite3.connect(f"{uri}?mode=ro", uri=True, timeout=30, isolation_level=None)
        conn.execute("SELECT count(*) FROM sqlite_master").fetchone()
        return conn, False
    except sqlite3.OperationalError as exc:
        wal = Path(str(path) + "-wal")
        if wal.exists() and wal.stat().st_size > 0:
            raise CatalogError(
                f"the catalog {path} is on a read-only disk with unsaved changes in {wal.name}, which "
                "SQLite can only read where it may write; copy the catalog with its -wal file to a "
                "writable disk"
            ) from exc
        if _writable(path):
            raise
    conn = sqlite3.connect(f"{uri}?mode=ro&immutable=1", uri=True, timeout=30, isolation_level=None)
    conn.execute("SELECT count(*) FROM sqlite_master").fetchone()
    return conn, True


def expected_columns() -> dict[str, list[str]]:
    """Columns of every catalog table as ``_SCHEMA`` creates them."""
    mem = sqlite3.connect(":memory:")
    try:
        mem.executescript(_SCHEMA)
        return {t: [r[1] for r in mem.execute(f"PRAGMA table_info({t})")] for t in REQUIRED_TABLES}
    finally:
        mem.close()


def parse_schema_version(value: str | None) -> int | None:
    """The stored schema version; CatalogError for one that is not a number."""
    if value is None:
        return None
    try:
        return int(value)
    except (TypeError, ValueError):
        raise CatalogError(f"the catalog's schema version {value!r} is not a number: the catalog is damaged") from None


class Catalog:
    """A session catalog.  ``Catalog(path)`` creates it when missing."""

    def __init__(
        self, path: str | os.PathLike[str], root: Path | None = None, *, readonly: bool = False, strict: bool = True
    ):
        """``readonly``: never change the file (nor its WAL); ``strict=False`` (``culler check``)
        opens an incomplete read-only catalog too, so that it can be reported on."""
        import sqlite_utils

        self.path = Path(path)
        self.readonly = readonly
        if readonly and not self.path.exists():
            raise CatalogError(f"no catalog at {self.path}")
        if not readonly:
            try:
                self.path.parent.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise CatalogError(f"cannot create the catalog folder {self.path.parent}: {exc.strerror}") from exc
        conn: sqlite3.Connection | None = None
        self.immutable = False
        try:
            if readonly:
                conn, self.immutable = connect_readonly(self.path)
            else:
                if self.path.exists() and not _writable(self.path):
                    raise CatalogError(describe_sqlite_error(self.path, sqlite3.OperationalError("readonly")))
                conn = sqlite3.connect(str(self.path), timeout=30, isolation_level=None)
            conn.execute("PRAGMA busy_timeout = 30000")
            self.db = sqlite_utils.Database(conn)
            self.conn = conn
            self._check_foreign()
            if not readonly:
                conn.execute("PRAGMA journal_mode = WAL")
                conn.execute("PRAGMA synchronous = NORMAL")
            conn.execute("PRAGMA foreign_keys = ON")
            if not readonly:
                self._migrate()
            elif strict:
                self._check_version()
                self._check_complete()
        except CatalogError:
            if conn is not None:
                conn.close()
            raise
        except sqlite3.Error as exc:
            if conn is not None:
                conn.close()
            raise CatalogError(describe_sqlite_error(self.path, exc)) from exc
        if root is not None and not readonly:
            self.set_meta("root", str(Path(root).resolve()))

    # -- schema ---------------------------------------------------------------
    def _tables(self) -> set[str]:
        return {r[0] for r in self.conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}

    def _check_foreign(self) -> None:
        """Refuse another program's SQLite database (never add our tables to it)."""
        tables = self._tables()
        if tables and "meta" not in tables:
            raise CatalogError(
                f"{self.path} is an SQLite database of another program, not a portrait-culler catalog; "
                "nothing was changed"
            )
        if "meta" in tables:
            cols = {r[1] for r in self.conn.execute("PRAGMA table_info(meta)")}
            if not {"key", "value"} <= cols:
                raise CatalogError(f"{self.path} is not a portrait-culler catalog (its meta table is foreign)")

    def _check_complete(self) -> None:
        """A read-only catalog must already have every table and column (nothing can be repaired)."""
        tables = self._tables()
        missing = [t for t in REQUIRED_TABLES if t not in tables]
        if missing:
            raise CatalogError(
                f"{self.path} is an empty or half-created catalog (no table {', '.join(missing)}); "
                "run `culler rank` on its folder to complete it"
            )
        gaps = self.missing_columns()
        if gaps:
            raise CatalogError(
                f"{self.path} lacks column(s) {', '.join(gaps)} (damaged or edited); "
                "run `culler rank` on its folder to repair it"
            )

    def missing_columns(self) -> list[str]:
        """``table.column`` names the schema has and this catalog lacks."""
        have_tables = self._tables()
        out = []
        for table, cols in expected_columns().items():
            if table not in have_tables:
                continue
            have = {r[1] for r in self.conn.execute(f"PRAGMA table_info({table})")}
            out += [f"{table}.{c}" for c in cols if c not in have]
        return out

    def _check_version(self) -> None:
        if "meta" not in self._tables():
            return
        got = parse_schema_version(self.get_meta("schema_version"))
        if got is not None and got > SCHEMA_VERSION:
            raise CatalogError(
                f"{self.path} was written by a newer portrait-culler (catalog schema {got}, "
                f"this version reads up to {SCHEMA_VERSION}); update portrait-culler to open it"
            )

    def _migrate(self) -> None:
        self._check_version()
        self.conn.executescript(_SCHEMA)
        self._add_missing_columns()
        if self.get_meta("schema_version") is None:
            self.set_meta("schema_version", str(SCHEMA_VERSION))
            self.set_meta("created_at", str(time.time()))

    def _add_missing_columns(self) -> None:
        """Additive repair: a column the schema has and the catalog lacks (an older catalog, or one
        whose column was dropped) is added back empty; a missing key column cannot be, and refuses."""
        mem = sqlite3.connect(":memory:")
        try:
            mem.executescript(_SCHEMA)
            for table in REQUIRED_TABLES:
                have = {r[1] for r in self.conn.execute(f"PRAGMA table_info({table})")}
                for _cid, name, typ, _notnull, _default, pk in mem.execute(f"PRAGMA table_info({table})"):
                    if name in have:
                        continue
                    if pk:
                        raise CatalogError(
                            f"{self.path} is damaged: table {table} lacks its key column {name}"
                        )
                    self.conn.execute(f'ALTER TABLE {table} ADD COLUMN "{name}" {typ}')
        finally:
            mem.close()

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """One atomic write; nested use joins the outer transaction."""
        if self.conn.in_transaction:
            yield self.conn
            return
        self.conn.execute("BEGIN IMMEDIATE")
        try:
            yield self.conn
        except BaseException:
            self.conn.execute("ROLLBACK")
            raise
        else:
            self.conn.execute("COMMIT")

    def close(self) -> None:
        with suppress(sqlite3.Error):
            self.conn.close()

    def __enter__(self) -> Catalog:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- meta -----------------------------------------------------------------
    def get_meta(self, key: str) -> str | None:
        row = self.conn.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return None if row is None else row[0]

    def set_meta(self, key: str, value: str) -> None:
        with self.transaction() as c:
            c.execute("INSERT OR REPLACE INTO meta(key, value) VALUES (?, ?)", (key, value))

    @property
    def root(self) -> Path | None:
        r = self.get_meta("root")
        return Path(r) if r else None

    # -- files and shots --------------------------------------------------------
    def file_row(self, rel: str) -> dict[str, Any] | None:
        cur = self.conn.execute("SELECT * FROM files WHERE path = ?", (rel,))
        row = cur.fetchone()
        if row is None:
            return None
        return dict(zip([d[0] for d in cur.description], row))

    def upsert_file(self, row: dict[str, Any]) -> None:
        with self.transaction():
            self.db.table("files").upsert(row, pk="path")

    def upsert_shot(self, row: dict[str, Any]) -> None:
        with self.transaction():
            self.db.table("shots").upsert(row, pk="key")

    def shots(self, where: str | None = None, params: Iterable[Any] = ()) -> list[dict[str, Any]]:
        return list(self.db.table("shots").rows_where(where, list(params), order_by="key"))

    def shot(self, key: str) -> dict[str, Any] | None:
        rows = list(self.db.table("shots").rows_where("key = ?", [key]))
        return rows[0] if rows else None

    def files_of(self, shot: str) -> list[dict[str, Any]]:
        return list(self.db.table("files").rows_where("shot = ?", [shot], order_by="path"))

    def forget_missing(self, present: set[str]) -> list[str]:
        """Drop shots whose files are gone (their decisions are kept)."""
        gone = [r["key"] for r in self.db.table("shots").rows if r["key"] not in present]
        with self.transaction() as c:
            for key in gone:
                c.execute("DELETE FROM shots WHERE key = ?", (key,))
                c.execute("DELETE FROM files WHERE shot = ?", (key,))
                c.execute("DELETE FROM metadata WHERE shot = ?", (key,))
        return gone

    def shots_with_time_source(self, source: str) -> list[str]:
        """Keys of the shots whose capture time came from ``source`` (e.g. 'file-bad-exif')."""
        cur = self.conn.execute("SELECT shot FROM metadata WHERE time_source = ? ORDER BY shot", (source,))
        return [r[0] for r in cur.fetchall()]

    # -- analysis cache ---------------------------------------------------------
    def has_analysis(self, content_hash: str, engine_version: str) -> bool:
        row = self.conn.execute(
            "SELECT engine_version FROM analysis WHERE hash = ?", (content_hash,)
        ).fetchone()
        return row is not None and row[0] == engine_version

    def current_analyses(self, engine_version: str) -> list[tuple[str, list[str], str | None]]:
        """``(hash, members that ran, image key)`` of every analysis made by ``engine_version``."""
        rows = self.conn.execute(
            "SELECT hash, members, image_key FROM analysis WHERE engine_version = ?", (engine_version,)
        ).fetchall()
        return [(h, json.loads(ran) if ran else [], key) for h, ran, key in rows]

    def carry_analysis(self, old: str, new: str, shot: str) -> bool:
        """Give the analysis of content hash ``old`` to ``new`` (the same image data with other
        metadata, e.g. after ``export --embed``): moved when no other shot still uses ``old``,
        copied otherwise, so the table does not grow.  False when ``old`` has no analysis."""
        with self.transaction() as c:
            if c.execute("SELECT 1 FROM analysis WHERE hash = ?", (new,)).fetchone():
                return True
            if not c.execute("SELECT 1 FROM analysis WHERE hash = ?", (old,)).fetchone():
                return False
            shared = c.execute("SELECT 1 FROM shots WHERE hash = ? AND key != ? LIMIT 1", (old, shot)).fetchone()
            for table in ("analysis", "faces", "scores"):
                if shared:
                    cols = [r[1] for r in c.execute(f"PRAGMA table_info({table})") if r[1] != "hash"]
                    names = ", ".join(f'"{n}"' for n in cols)
                    c.execute(f"INSERT INTO {table} (hash, {names}) SELECT ?, {names} FROM {table} WHERE hash = ?", (new, old))
                else:
                    c.execute(f"UPDATE {table} SET hash = ? WHERE hash = ?", (new, old))
        return True

    def analysis(self, content_hash: str) -> dict[str, Any] | None:
        rows = list(self.db.table("analysis").rows_where("hash = ?", [content_hash]))
        return rows[0] if rows else None

    def store_analysis(
        self,
        content_hash: str,
        analysis: dict[str, Any],
        faces: list[dict[str, Any]],
        scores: dict[str, tuple[float, float]],
    ) -> None:
        """Store one shot's analysis atomically: the analysis row, its faces and member scores."""
        with self.transaction() as c:
            c.execute("DELETE FROM faces WHERE hash = ?", (content_hash,))
            c.execute("DELETE FROM scores WHERE hash = ?", (content_hash,))
            self.db.table("analysis").upsert({"hash": content_hash, **analysis}, pk="hash")
            for i, f in enumerate(faces):
                row = dict(f)
                row["hash"] = content_hash
                row["idx"] = i
                for k in ("landmarks", "signals"):
                    if k in row and not isinstance(row[k], str):
                        row[k] = json.dumps(row[k])
                self.db.table("faces").insert(row, pk=("hash", "idx"))
            for member, (value, quality) in scores.items():
                c.execute(
                    "INSERT OR REPLACE INTO scores(hash, member, value, quality) VALUES (?,?,?,?)",
                    (content_hash, member, value, quality),
                )

    def scores_of(self, content_hash: str) -> dict[str, tuple[float, float]]:
        cur = self.conn.execute("SELECT member, value, quality FROM scores WHERE hash = ?", (content_hash,))
        return {m: (v, q) for m, v, q in cur.fetchall()}

    def faces_of(self, content_hash: str) -> list[dict[str, Any]]:
        rows = list(self.db.table("faces").rows_where("hash = ?", [content_hash], order_by="idx"))
        for r in rows:
            for k in ("landmarks", "signals"):
                if r.get(k):
                    r[k] = json.loads(r[k])
        return rows

    # -- decisions ----------------------------------------------------------------
    def decision(self, shot: str) -> Decision:
        row = self.conn.execute(
            "SELECT flag, stars, label FROM decisions WHERE shot = ?", (shot,)
        ).fetchone()
        if row is None:
            return Decision(shot)
        return Decision(shot, row[0], int(row[1] or 0), row[2])

    def decisions(self) -> dict[str, Decision]:
        cur = self.conn.execute("SELECT shot, flag, stars, label FROM decisions")
        return {s: Decision(s, f, int(st or 0), lab) for s, f, st, lab in cur.fetchall()}

    def set_decision(self, shot: str, *, flag: Any = ..., stars: Any = ..., label: Any = ...) -> Decision:
        """Change some fields of a shot's decision (``...`` leaves a field as it is); returns the new one."""
        _check_decision(flag, stars, label)
        with self.transaction():
            d = self.decision(shot)
            if flag is not ...:
                d.flag = flag
            if stars is not ...:
                d.stars = stars
            if label is not ...:
                d.label = label
            self.conn.execute(
                "INSERT OR REPLACE INTO decisions(shot, flag, stars, label, updated_at) VALUES (?,?,?,?,?)",
                (shot, d.flag, d.stars, d.label, time.time()),
            )
        return d

    def set_decisions(self, decisions: Iterable[Decision]) -> None:
        """Write whole decisions (flag, stars and label each) in one transaction and one
        statement: 2,000 of them (accept-all in the GUI) take a few milliseconds."""
        now = time.time()
        rows = []
        for d in decisions:
            _check_decision(d.flag, d.stars, d.label)
            rows.append((d.shot, d.flag, d.stars, d.label, now))
        with self.transaction() as c:
            c.executemany(
                "INSERT OR REPLACE INTO decisions(shot, flag, stars, label, updated_at) VALUES (?,?,?,?,?)", rows
            )

    # -- groups and ranks ------------------------------------------------------------
    def write_groups(self, assignments: list[dict[str, Any]], groups: list[dict[str, Any]]) -> None:
        """Replace grouping and ranking in one transaction.

        ``assignments``: rows with key, group_id, rank, score, suggested (and explain).
        """
        with self.transaction() as c:
            c.execute("DELETE FROM groups")
            c.execute("UPDATE shots SET group_id = NULL, rank = NULL, suggested = NULL, explain = NULL")
            if groups:
                self.db.table("groups").insert_all(groups, pk="id")
            c.executemany(
                "UPDATE shots SET group_id = :group_id, rank = :rank, score = :score, "
                "suggested = :suggested, explain = :explain WHERE key = :key",
                [{"explain": None, **a} for a in assignments],
            )

    def groups(self) -> list[dict[str, Any]]:
        return list(self.db.table("groups").rows_where(order_by="id"))

    # -- what `culler check` reads (never writes) ------------------------------------------------
    def journal_mode(self) -> str:
        if self.immutable:  # SQLite reports 'delete' then; the file header still says WAL (version 2)
            with open(self.path, "rb") as f:
                head = f.read(20)
            if len(head) == 20 and head[18] == 2 and head[19] == 2:
                return "wal"
        return str(self.conn.execute("PRAGMA journal_mode").fetchone()[0])

    def sqlite_integrity(self) -> list[str]:
        """SQLite's own integrity check: ``['ok']`` when healthy."""
        return [r[0] for r in self.conn.execute("PRAGMA integrity_check").fetchall()]

    def table_names(self) -> set[str]:
        return self._tables()

    def all_meta(self) -> dict[str, str]:
        return dict(self.conn.execute("SELECT key, value FROM meta").fetchall())

    def count_shots(self, analysed_only: bool = False) -> int:
        sql = "SELECT count(*) FROM shots" + (" WHERE status = 'ok'" if analysed_only else "")
        return int(self.conn.execute(sql).fetchone()[0])

    def count_files(self) -> int:
        return int(self.conn.execute("SELECT count(*) FROM files").fetchone()[0])

    def count_groups(self) -> int:
        return int(self.conn.execute("SELECT count(*) FROM groups").fetchone()[0])

    def count_decisions(self) -> int:
        """Decisions that say something (a flag, stars or a label)."""
        return int(self.conn.execute(
            "SELECT count(*) FROM decisions WHERE flag IS NOT NULL OR stars > 0 OR label IS NOT NULL"
        ).fetchone()[0])  # fmt: skip

    def count_orphan_shots(self) -> int:
        """Analysed shots without an analysis row."""
        return int(self.conn.execute(
            "SELECT count(*) FROM shots WHERE status = 'ok' AND hash NOT IN (SELECT hash FROM analysis)"
        ).fetchone()[0])  # fmt: skip

    def count_invalid_decisions(self) -> int:
        flags = ",".join(f"'{f}'" for f in FLAGS)
        labels = ",".join(f"'{lab}'" for lab in LABELS)
        return int(self.conn.execute(
            f"SELECT count(*) FROM decisions WHERE (flag IS NOT NULL AND flag NOT IN ({flags})) "
            f"OR typeof(stars) NOT IN ('integer', 'null') OR stars < 0 OR stars > 5 "
            f"OR (label IS NOT NULL AND label NOT IN ({labels}))"
        ).fetchone()[0])  # fmt: skip

    def count_dangling_files(self) -> int:
        """File rows that point to no shot."""
        return int(self.conn.execute(
            "SELECT count(*) FROM files WHERE shot IS NOT NULL AND shot NOT IN (SELECT key FROM shots)"
        ).fetchone()[0])  # fmt: skip

    def count_decisions_without_shot(self) -> int:
        return int(self.conn.execute(
            "SELECT count(*) FROM decisions WHERE shot NOT IN (SELECT key FROM shots)"
        ).fetchone()[0])  # fmt: skip

    def shot_keys(self) -> list[str]:
        return [r[0] for r in self.conn.execute("SELECT key FROM shots ORDER BY key")]

    def integrity_check(self) -> list[str]:
        """Problems found by SQLite's own check and by the catalog's consistency rules."""
        problems = [r[0] for r in self.conn.execute("PRAGMA integrity_check").fetchall() if r[0] != "ok"]
        orphan = self.conn.execute(
            "SELECT count(*) FROM shots WHERE status = 'ok' AND hash NOT IN (SELECT hash FROM analysis)"
        ).fetchone()[0]
        if orphan:
            problems.append(f"{orphan} analysed shot(s) have no analysis row")
        return problems
