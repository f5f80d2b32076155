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
_FACE_JSON = ("landmarks", "signals", "scores")  # face columns stored as JSON text
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
    preview TEXT,                   -- RAW: which embedded preview was analysed ("cr3:trak1", ...)
    preview_width INTEGER, preview_height INTEGER,
    preview_note TEXT,              -- RAW: "preview too small to judge focus" under 1,000 px
    image_key TEXT                  -- digest of the image data + orientation (engine.imagekey), or NULL
);
CREATE TABLE IF NOT EXISTS faces (
    hash TEXT,
    idx INTEGER,
    x REAL, y REAL, w REAL, h REAL, -- in full-image relative coordinates (0-1)
    det_score REAL,
    landmarks TEXT,                 -- JSON [[x,y]*5], relative coordinates
    signals TEXT,                   -- JSON {name: value}
    scores TEXT,                    -- JSON {member: [value, quality]} of this face
    crop BLOB,                      -- JPEG of the aligned, padded crop
    PRIMARY KEY (hash, idx)
);
CREATE TABLE IF NOT EXISTS scores (
    hash TEXT,
    member TEXT,
    value REAL,                     -- raw signal, natural units
    quality REAL,                   -- 0..1, higher is better
    identity TEXT,                  -- the member's cache identity (packs: name@version#model sha256)
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
    updated_at REAL,
    hash TEXT                       -- content hash of the primary file the decision was made on
);
CREATE TABLE IF NOT EXISTS content_aliases (
    hash TEXT,                      -- content hash of a photo's file
    alias TEXT,                     -- the same photo after `export --embed` rewrote its metadata
    PRIMARY KEY (hash, alias)
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


def is_decided(decision: Decision | None) -> bool:
    """The photographer has decided about this shot: a flag, stars or a colour label.
    Accepting suggestions must never change such a shot (see ``engine.quality.suggest``)."""
    from engine.quality.suggest import is_decided as decided

    return decided(decision)


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


class LockHandle:
    """The held catalog lock.  ``previous`` is what the last holder left in the lock file; a
    holder that died (SIGKILL, a native crash) leaves the file it was working on there
    (:meth:`working_on`), so the next run can try that file apart from the run."""

    def __init__(self, fd: int | None, head: str, previous: str):
        self.fd, self.head, self.previous = fd, head, previous

    def working_on(self, key: str | None) -> None:
        """Record (or clear, ``None``) the shot being analysed in this process."""
        if self.fd is None:
            return
        text = self.head + (f"analysing {json.dumps(key)}\n" if key is not None else "")
        with suppress(OSError):
            os.ftruncate(self.fd, 0)
            os.pwrite(self.fd, text.encode(), 0)

    def left_working_on(self) -> set[str]:
        """Shots the previous holder was analysing when it died."""
        out = set()
        for line in self.previous.splitlines()[1:]:
            if line.startswith("analysing "):
                with suppress(ValueError):
                    key = json.loads(line[len("analysing "):])
                    if isinstance(key, str):
                        out.add(key)
        return out


@contextmanager
def catalog_lock(path: str | os.PathLike[str], purpose: str = "culler") -> Iterator[LockHandle]:
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
        yield LockHandle(None, "", "")
        return
    try:
        try:
            text = os.pread(fd, 4096, 0).decode("utf-8", "replace")
        except OSError:
            text = ""
        if not _try_lock(fd):
            holder = text.splitlines()[0].split() if text else []
            who = f"pid {holder[0]}" if holder and holder[0].isdigit() else "pid unknown"
            what = f", {' '.join(holder[1:])}" if len(holder) > 1 else ""
            raise CatalogLocked(
                f"another culler is using this catalog ({who}{what}): {path}; wait for it to finish"
            )
        with suppress(OSError):
            text = os.pread(fd, 4096, 0).decode("utf-8", "replace")  # as left by a holder now gone
        head = f"{os.getpid()} {purpose}\n"
        os.ftruncate(fd, 0)
        os.pwrite(fd, head.encode(), 0)
        try:
            yield LockHandle(fd, head, text)
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


def same_photo_hashes(conn: sqlite3.Connection, content_hash: str) -> set[str]:
    """``content_hash`` and every hash recorded as the same photo after it (embeds in a row)."""
    out, todo = {content_hash}, [content_hash]
    try:
        while todo and len(out) < 1000:
            rows = conn.execute("SELECT alias FROM content_aliases WHERE hash = ?", (todo.pop(),)).fetchall()
            for (a,) in rows:
                if a not in out:
                    out.add(a)
                    todo.append(a)
    except sqlite3.OperationalError:  # a catalog from before the table (opened read-only)
        pass
    return out


class RootMismatchError(CatalogError):
    """The catalog was made for another folder (``--relink`` moves it with its folder)."""


def root_mismatch_message(path: Path, stored: str, root: Path) -> str:
    return (
        f"the catalog {path} was made for {stored}, not {root}: its decisions belong to the photos "
        f"there, not to these; if you moved that folder here, pass --relink to move the catalog with it"
    )


class Catalog:
    """A session catalog.  ``Catalog(path)`` creates it when missing.

    With ``root``, the catalog is the one of that folder: a catalog made for another folder is
    refused (:class:`RootMismatchError`) unless ``relink`` moves it to ``root``."""

    def __init__(
        self, path: str | os.PathLike[str], root: Path | None = None, *, readonly: bool = False, strict: bool = True,
        relink: bool = False,
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
            self._bind_root(Path(root), relink)

    def _bind_root(self, root: Path, relink: bool) -> None:
        new = str(Path(root).resolve())
        stored = self.get_meta("root")
        if stored and stored != new and not relink:
            self.close()
            raise RootMismatchError(root_mismatch_message(self.path, stored, Path(new)))
        if stored and stored != new:
            self.set_meta("relinked_from", stored)
        if stored != new:
            self.set_meta("root", new)

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
        # tables, then the columns an older catalog lacks, then the indexes (which may need them)
        statements = [st.strip() for st in _SCHEMA.split(";") if st.strip()]
        indexes = [st for st in statements if st.upper().startswith("CREATE INDEX")]
        self.conn.executescript(";\n".join(st for st in statements if st not in indexes) + ";")
        self._add_missing_columns()
        self.conn.executescript(";\n".join(indexes) + ";")
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

    def file_index(self) -> dict[str, tuple[int | None, int | None, str | None]]:
        """Every file's (size, mtime_ns, hash) by path, in one query (planning a run over 50,000 shots)."""
        return {p: (sz, mt, h) for p, sz, mt, h in self.conn.execute("SELECT path, size, mtime_ns, hash FROM files")}

    def shot_statuses(self) -> dict[str, str | None]:
        """Every shot's status by key, in one query."""
        return dict(self.conn.execute("SELECT key, status FROM shots").fetchall())

    def _upsert_many(self, table: str, pk: str, rows: Iterable[dict[str, Any]]) -> None:
        """INSERT ... ON CONFLICT DO UPDATE of the given columns (others are kept), one statement per column set."""
        by_cols: dict[tuple[str, ...], list[tuple[Any, ...]]] = {}
        for r in rows:
            by_cols.setdefault(tuple(r), []).append(tuple(r.values()))
        for cols, values in by_cols.items():
            if not all(c.isidentifier() for c in cols) or pk not in cols:
                raise ValueError(f"bad column set for {table}: {cols}")
            sets = ", ".join(f"{c} = excluded.{c}" for c in cols if c != pk) or f"{pk} = excluded.{pk}"
            self.conn.executemany(
                f"INSERT INTO {table} ({', '.join(cols)}) VALUES ({', '.join('?' * len(cols))}) "
                f"ON CONFLICT({pk}) DO UPDATE SET {sets}",
                values,
            )

    def store_batch(
        self,
        analyses: Iterable[tuple[str, dict[str, Any], list[dict[str, Any]], dict[str, tuple[float, float]], dict[str, str] | None]] = (),
        files: Iterable[dict[str, Any]] = (),
        shots: Iterable[dict[str, Any]] = (),
        metadata: Iterable[dict[str, Any]] = (),
    ) -> None:
        """Store many shots' results in one transaction: analyses (hash, analysis, faces, scores, identities) as
        :meth:`store_analysis`, then file, shot and metadata rows as upserts (columns not given are kept)."""
        with self.transaction() as c:
            face_rows: list[dict[str, Any]] = []
            score_rows: list[tuple[str, str, float, float, str]] = []
            analysis_rows: list[dict[str, Any]] = []
            for content_hash, analysis, faces, scores, identities in analyses:
                c.execute("DELETE FROM faces WHERE hash = ?", (content_hash,))
                c.execute("DELETE FROM scores WHERE hash = ?", (content_hash,))
                analysis_rows.append({"hash": content_hash, **analysis})
                for i, f in enumerate(faces):
                    row = {**f, "hash": content_hash, "idx": i}
                    for k in _FACE_JSON:
                        if k in row and not isinstance(row[k], str):
                            row[k] = json.dumps(row[k])
                    face_rows.append(row)
                ids = identities or {}
                score_rows.extend((content_hash, m, v, q, ids.get(m, m)) for m, (v, q) in scores.items())
            self._upsert_many("analysis", "hash", analysis_rows)
            by_cols: dict[tuple[str, ...], list[tuple[Any, ...]]] = {}
            for r in face_rows:
                by_cols.setdefault(tuple(r), []).append(tuple(r.values()))
            for cols, values in by_cols.items():
                if not all(k.isidentifier() for k in cols):
                    raise ValueError(f"bad face columns: {cols}")
                c.executemany(f"INSERT OR REPLACE INTO faces ({', '.join(cols)}) VALUES ({', '.join('?' * len(cols))})", values)
            c.executemany(
                "INSERT OR REPLACE INTO scores(hash, member, value, quality, identity) VALUES (?,?,?,?,?)", score_rows
            )
            self._upsert_many("files", "path", files)
            self._upsert_many("shots", "key", shots)
            self._upsert_many("metadata", "shot", metadata)

    def n_faces_of(self, hashes: Iterable[str]) -> dict[str, int]:
        """n_faces of each analysed hash among ``hashes``, in one query per 500."""
        hs = list(dict.fromkeys(hashes))
        out: dict[str, int] = {}
        for k in range(0, len(hs), 500):
            part = hs[k : k + 500]
            q = f"SELECT hash, n_faces FROM analysis WHERE hash IN ({', '.join('?' * len(part))})"
            out.update({h: int(n or 0) for h, n in self.conn.execute(q, part)})
        return out

    def shots(self, where: str | None = None, params: Iterable[Any] = ()) -> list[dict[str, Any]]:
        return list(self.db.table("shots").rows_where(where, list(params), order_by="key"))

    def ranked_shots(self) -> list[dict[str, Any]]:
        """The analysed shots (status 'ok') by group, rank and key, each with its capture
        metadata: key, group_id, rank, score, n_faces, suggested, hash, raw_path, capture_time,
        time_source, make, model (the metadata columns are None when the shot has none)."""
        cur = self.conn.execute(
            "SELECT s.key, s.group_id, s.rank, s.score, s.n_faces, s.suggested, s.hash, s.raw_path, "
            "m.capture_time, m.time_source, m.make, m.model FROM shots s LEFT JOIN metadata m ON m.shot = s.key "
            "WHERE s.status = 'ok' ORDER BY s.group_id, s.rank, s.key"
        )
        cols = [d[0] for d in cur.description]
        return [dict(zip(cols, row)) for row in cur.fetchall()]

    def shots_with_status(self, status: str) -> list[dict[str, Any]]:
        """Shots whose status is ``status`` ('ok', 'skipped', 'pending'), by key."""
        return list(self.db.table("shots").rows_where("status = ?", [status], order_by="key"))

    def shot(self, key: str) -> dict[str, Any] | None:
        rows = list(self.db.table("shots").rows_where("key = ?", [key]))
        return rows[0] if rows else None

    def files_of(self, shot: str) -> list[dict[str, Any]]:
        return list(self.db.table("files").rows_where("shot = ?", [shot], order_by="path"))

    def known_paths(self) -> set[str]:
        """Relative paths of every file the catalog knows."""
        return {r[0] for r in self.conn.execute("SELECT path FROM files")}

    def shot_view_rows(self) -> list[tuple[Any, ...]]:
        """Every shot with what a viewer shows of it, one tuple each: key, primary_path, raw_path,
        hash, status, reason, group_id, rank, score, n_faces, suggested, capture_ts,
        capture_time, width, height, explain (NULL in catalogs older than that column)."""
        cols = {r[1] for r in self.conn.execute("PRAGMA table_info(shots)")}
        explain = "s.explain" if "explain" in cols else "NULL"
        return self.conn.execute(
            "SELECT s.key, s.primary_path, s.raw_path, s.hash, s.status, s.reason, s.group_id, "
            "s.rank, s.score, s.n_faces, s.suggested, m.capture_ts, m.capture_time, m.width, m.height, "
            f"{explain} FROM shots s LEFT JOIN metadata m ON m.shot = s.key"
        ).fetchall()

    def shot_states(self, keys: list[str]) -> list[tuple[str, str | None, str | None, str | None, int | None]]:
        """(key, hash, status, reason, n_faces) of some shots (during an analysis)."""
        out: list[tuple[str, str | None, str | None, str | None, int | None]] = []
        for i in range(0, len(keys), 900):
            chunk = keys[i:i + 900]
            q = ",".join("?" * len(chunk))
            out += self.conn.execute(
                f"SELECT key, hash, status, reason, n_faces FROM shots WHERE key IN ({q})", chunk).fetchall()
        return out

    def upsert_metadata(self, shot: str, row: dict[str, Any]) -> None:
        """Insert or update a shot's capture metadata (columns of the ``metadata`` table)."""
        with self.transaction():
            self.db.table("metadata").upsert({"shot": shot, **row}, pk="shot")

    def is_empty(self) -> bool:
        """No file, shot or decision recorded (a catalog made for a folder without photos)."""
        return not any(self.conn.execute(f"SELECT 1 FROM {t} LIMIT 1").fetchone()
                       for t in ("files", "shots", "decisions"))

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
        identities: dict[str, str] | None = None,
    ) -> None:
        """Store one shot's analysis atomically: the analysis row, its faces and member scores
        (``identities``: member -> cache identity, see ``MemberSpec.cache_id``); one
        :meth:`store_batch` entry."""
        self.store_batch([(content_hash, analysis, faces, scores, identities)])

    def previews(self) -> dict[str, dict[str, Any]]:
        """Per analysed RAW shot: the embedded preview it was analysed from, its size and note."""
        cur = self.conn.execute(
            "SELECT s.key, a.preview, a.preview_width, a.preview_height, a.preview_note FROM shots s "
            "JOIN analysis a ON a.hash = s.hash WHERE a.preview IS NOT NULL ORDER BY s.key"
        )
        return {k: {"preview": p, "width": w, "height": h, "note": n} for k, p, w, h, n in cur.fetchall()}

    def full_size(self, content_hash: str) -> tuple[int, int] | None:
        """Full-resolution (w, h) recorded by the analysis, when known."""
        row = self.conn.execute(
            "SELECT full_width, full_height FROM analysis WHERE hash = ?", (content_hash,)).fetchone()
        return (int(row[0]), int(row[1])) if row and row[0] and row[1] else None

    def face_signals(self, hashes: Iterable[str], names: tuple[str, ...],
                     pace: Any = None) -> dict[str, list[dict[str, Any]]]:
        """Per hash, its faces in order as ``{"w", "h", "signals": {name: value}}`` with only the
        signals ``names`` (extracted by SQLite's JSON functions, not by Python's json: fast for
        2,000 shots).  A row with malformed JSON keeps its box and loses its signals.
        ``pace()`` (optional) is called once per face row."""
        hs = [h for h in set(hashes) if h]
        out: dict[str, list[dict[str, Any]]] = {}
        sig_cols = ", ".join(f"json_extract(signals, '$.{k}')" for k in names)
        for i in range(0, len(hs), 900):
            chunk = hs[i:i + 900]
            q = ",".join("?" * len(chunk))
            try:
                rows = self.conn.execute(
                    f"SELECT hash, w, h, {sig_cols} FROM faces WHERE hash IN ({q}) ORDER BY hash, idx", chunk
                ).fetchall()
            except sqlite3.OperationalError:  # malformed JSON in a row: skip the signals
                rows = [(*r, *([None] * len(names))) for r in self.conn.execute(
                    f"SELECT hash, w, h FROM faces WHERE hash IN ({q}) ORDER BY hash, idx", chunk)]
            for h, w, hh, *vals in rows:
                if pace is not None:
                    pace()
                signals = {k: v for k, v in zip(names, vals) if v is not None}
                out.setdefault(h, []).append({"w": w, "h": hh, "signals": signals})
        return out

    def scores_of(self, content_hash: str) -> dict[str, tuple[float, float]]:
        cur = self.conn.execute("SELECT member, value, quality FROM scores WHERE hash = ?", (content_hash,))
        return {m: (v, q) for m, v, q in cur.fetchall()}

    def all_scores(self) -> dict[str, dict[str, tuple[float, float]]]:
        """Every member score: {content hash: {member: (value, quality)}}."""
        out: dict[str, dict[str, tuple[float, float]]] = {}
        for h, member, value, quality in self.conn.execute("SELECT hash, member, value, quality FROM scores"):
            out.setdefault(h, {})[member] = (value, quality)
        return out

    def scored_members(self) -> set[str]:
        """The names of every member with at least one stored score."""
        return {m for (m,) in self.conn.execute("SELECT DISTINCT member FROM scores")}

    def scores_by_hash(self, identities: dict[str, str]) -> dict[str, dict[str, tuple[float, float]]]:
        """hash -> {member: (value, quality)} for the members of ``identities`` (member -> cache
        identity), keeping only scores stored under that identity: an older model's scores
        are never mixed with the current one's.  A score without an identity (older catalog)
        counts only for a member whose identity is its name (the built-in members)."""
        out: dict[str, dict[str, tuple[float, float]]] = {}
        cur = self.conn.execute("SELECT hash, member, value, quality, identity FROM scores")
        for h, member, value, quality, ident in cur:
            want = identities.get(member)
            if want is None or (ident or member) != want:
                continue
            out.setdefault(h, {})[member] = (value, quality)
        return out

    def face_records(self) -> dict[str, list[dict[str, Any]]]:
        """hash -> its faces (x, y, w, h, signals, scores; no crops), in index order: what
        the ranking needs to match faces across a burst and judge each person."""
        out: dict[str, list[dict[str, Any]]] = {}
        cur = self.conn.execute("SELECT hash, idx, x, y, w, h, signals, scores FROM faces ORDER BY hash, idx")
        for h, idx, x, y, w, hh, sig, sc in cur:
            out.setdefault(h, []).append(
                {"idx": idx, "x": x, "y": y, "w": w, "h": hh,
                 "signals": json.loads(sig) if sig else {}, "scores": json.loads(sc) if sc else {}}
            )  # fmt: skip
        return out

    def faces_of(self, content_hash: str) -> list[dict[str, Any]]:
        rows = list(self.db.table("faces").rows_where("hash = ?", [content_hash], order_by="idx"))
        for r in rows:
            for k in _FACE_JSON:
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

    def decision_rows(self) -> list[dict[str, Any]]:
        """Every decision row as stored, not validated: an edited or damaged catalog may hold
        anything, and the export checks each row itself (one bad row costs one line)."""
        cur = self.conn.execute("SELECT * FROM decisions")
        names = [d[0] for d in cur.description]
        return [dict(zip(names, row)) for row in cur.fetchall()]

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
                "INSERT OR REPLACE INTO decisions(shot, flag, stars, label, updated_at, hash) "
                "VALUES (?,?,?,?,?,(SELECT hash FROM shots WHERE key = ?))",
                (shot, d.flag, d.stars, d.label, time.time(), shot),
            )
        return d

    def set_decisions(self, decisions: Iterable[Decision]) -> None:
        """Write whole decisions (flag, stars and label each) in one transaction and one
        statement: 2,000 of them (accept-all in the GUI) take a few milliseconds."""
        now = time.time()
        rows = []
        for d in decisions:
            _check_decision(d.flag, d.stars, d.label)
            rows.append((d.shot, d.flag, d.stars, d.label, now, d.shot))
        with self.transaction() as c:
            c.executemany(
                "INSERT OR REPLACE INTO decisions(shot, flag, stars, label, updated_at, hash) "
                "VALUES (?,?,?,?,?,(SELECT hash FROM shots WHERE key = ?))", rows
            )

    def add_content_alias(self, content_hash: str, alias: str) -> None:
        """``alias`` is the same photo as ``content_hash`` with other metadata (``--embed``
        verified the image data unchanged): decisions made on one hold for the other."""
        if alias != content_hash:
            with self.transaction() as c:
                c.execute("INSERT OR IGNORE INTO content_aliases(hash, alias) VALUES (?, ?)", (content_hash, alias))

    def same_photo_hashes(self, content_hash: str) -> set[str]:
        return same_photo_hashes(self.conn, content_hash)

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

    def grouping_rows(self) -> list[tuple[Any, ...]]:
        """What grouping needs of every analysed shot, by key: (key, hash, capture_ts,
        time_source, make, model, serial, embedding)."""
        return self.conn.execute(
            "SELECT s.key, s.hash, m.capture_ts, m.time_source, m.make, m.model, m.serial, a.embedding "
            "FROM shots s JOIN analysis a ON a.hash = s.hash LEFT JOIN metadata m ON m.shot = s.key "
            "WHERE s.status = 'ok' ORDER BY s.key"
        ).fetchall()

    def group_meta(self) -> dict[int, tuple[str | None, str | None]]:
        """{group id: (best shot, start time)}."""
        return {r[0]: (r[1], r[2]) for r in self.conn.execute("SELECT id, best, start_time FROM groups")}

    def stored_paths(self) -> list[tuple[str, object]]:
        """Every path the catalog holds, with what it is: ``("shot key" | "path" | "RAW path" |
        "file path", value)`` (``culler check`` verifies each stays inside the session)."""
        values: list[tuple[str, object]] = []
        for key, primary, raw in self.conn.execute("SELECT key, primary_path, raw_path FROM shots"):
            values += [("shot key", key), ("path", primary), ("RAW path", raw)]
        values += [("file path", r[0]) for r in self.conn.execute("SELECT path FROM files")]
        return values

    def bound_decisions(self) -> list[tuple[str, str, str, int | None, int | None, str | None]]:
        """Decisions that say something and carry the content hash they were made on:
        ``(shot, bound hash, primary path, catalogued size, mtime_ns, hash)``; empty for a
        catalog from before decisions carried their hash."""
        if "hash" not in {r[1] for r in self.conn.execute("PRAGMA table_info(decisions)")}:
            return []
        return self.conn.execute(
            "SELECT d.shot, d.hash, coalesce(s.primary_path, s.key), f.size, f.mtime_ns, f.hash FROM decisions d "
            "JOIN shots s ON s.key = d.shot LEFT JOIN files f ON f.path = coalesce(s.primary_path, s.key) "
            "WHERE d.hash IS NOT NULL AND (d.flag IS NOT NULL OR d.stars > 0 OR d.label IS NOT NULL)"
        ).fetchall()

    def integrity_check(self) -> list[str]:
        """Problems found by SQLite's own check and by the catalog's consistency rules."""
        problems = [r[0] for r in self.conn.execute("PRAGMA integrity_check").fetchall() if r[0] != "ok"]
        orphan = self.conn.execute(
            "SELECT count(*) FROM shots WHERE status = 'ok' AND hash NOT IN (SELECT hash FROM analysis)"
        ).fetchone()[0]
        if orphan:
            problems.append(f"{orphan} analysed shot(s) have no analysis row")
        return problems

    # -- taste and export reads -----------------------------------------------------------
    def face_boxes(self) -> list[tuple[str, Any, Any, str | None]]:
        """Every face row as ``(hash, w, h, signals JSON text)``, unordered (the taste
        features keep each photo's largest face)."""
        return self.conn.execute("SELECT hash, w, h, signals FROM faces").fetchall()

    def grouped_shots(self) -> list[tuple[str, str, int, int | None]]:
        """Analysed shots that belong to a group, as ``(key, hash, group id, n_faces)``,
        by group then key."""
        return self.conn.execute(
            "SELECT key, hash, group_id, n_faces FROM shots WHERE status = 'ok' AND group_id IS NOT NULL "
            "ORDER BY group_id, key"
        ).fetchall()

    def all_files(self) -> list[dict[str, Any]]:
        """Every ``files`` row as a dict, by path (an export looks at all of them at once)."""
        cur = self.conn.execute("SELECT * FROM files ORDER BY path")
        names = [d[0] for d in cur.description]
        return [dict(zip(names, values)) for values in cur.fetchall()]
