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
    seconds REAL
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
    updated_at REAL
);
CREATE INDEX IF NOT EXISTS idx_files_shot ON files(shot);
CREATE INDEX IF NOT EXISTS idx_shots_group ON shots(group_id);
CREATE INDEX IF NOT EXISTS idx_shots_hash ON shots(hash);
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


class Catalog:
    """A session catalog.  ``Catalog(path)`` creates it when missing."""

    def __init__(self, path: str | os.PathLike[str], root: Path | None = None, *, readonly: bool = False):
        import sqlite_utils

        self.path = Path(path)
        if readonly and not self.path.exists():
            raise CatalogError(f"no catalog at {self.path}")
        if not readonly:
            try:
                self.path.parent.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise CatalogError(f"cannot create the catalog folder {self.path.parent}: {exc.strerror}") from exc
        try:
            if readonly:
                conn = sqlite3.connect(f"file:{self.path}?mode=ro", uri=True, timeout=30)
            else:
                conn = sqlite3.connect(str(self.path), timeout=30, isolation_level=None)
            conn.execute("PRAGMA busy_timeout = 30000")
            if not readonly:
                conn.execute("PRAGMA journal_mode = WAL")
                conn.execute("PRAGMA synchronous = NORMAL")
            conn.execute("PRAGMA foreign_keys = ON")
            self.db = sqlite_utils.Database(conn)
            self.conn = conn
            if not readonly:
                self._migrate()
            else:
                self._check_version()
        except sqlite3.DatabaseError as exc:
            raise CatalogError(f"{self.path} is not a usable catalog: {exc}") from exc
        if root is not None and not readonly:
            self.set_meta("root", str(Path(root).resolve()))

    # -- schema ---------------------------------------------------------------
    def _check_version(self) -> None:
        row = self.conn.execute(
            "SELECT name FROM sqlite_master WHERE type='table' AND name='meta'"
        ).fetchone()
        if row is None:
            return
        got = self.get_meta("schema_version")
        if got is not None and int(got) > SCHEMA_VERSION:
            raise CatalogError(
                f"{self.path} was written by a newer portrait-culler (catalog schema {got}, "
                f"this version reads up to {SCHEMA_VERSION}); update portrait-culler to open it"
            )

    def _migrate(self) -> None:
        self._check_version()
        self.conn.executescript(_SCHEMA)
        self._migrate_score_identity()
        self._migrate_face_scores()
        if self.get_meta("schema_version") is None:
            self.set_meta("schema_version", str(SCHEMA_VERSION))
            self.set_meta("created_at", str(time.time()))

    def _add_missing_column(self, table: str, column: str, decl: str) -> None:
        cols = {r[1] for r in self.conn.execute(f"PRAGMA table_info({table})")}
        if column not in cols:
            self.conn.execute(f"ALTER TABLE {table} ADD COLUMN {column} {decl}")

    def _migrate_score_identity(self) -> None:
        """Catalogs written before scores carried the member's cache identity (NULL: a
        built-in member's score, or a pack's of unknown version, which is never fused)."""
        self._add_missing_column("scores", "identity", "TEXT")

    def _migrate_face_scores(self) -> None:
        """Catalogs written before the per-face member qualities were kept."""
        self._add_missing_column("faces", "scores", "TEXT")

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

    # -- analysis cache ---------------------------------------------------------
    def has_analysis(self, content_hash: str, engine_version: str) -> bool:
        row = self.conn.execute(
            "SELECT engine_version FROM analysis WHERE hash = ?", (content_hash,)
        ).fetchone()
        return row is not None and row[0] == engine_version

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
        (``identities``: member -> cache identity, see ``MemberSpec.cache_id``)."""
        with self.transaction() as c:
            c.execute("DELETE FROM faces WHERE hash = ?", (content_hash,))
            c.execute("DELETE FROM scores WHERE hash = ?", (content_hash,))
            self.db.table("analysis").upsert({"hash": content_hash, **analysis}, pk="hash")
            for i, f in enumerate(faces):
                row = dict(f)
                row["hash"] = content_hash
                row["idx"] = i
                for k in ("landmarks", "signals", "scores"):
                    if k in row and not isinstance(row[k], str):
                        row[k] = json.dumps(row[k])
                self.db.table("faces").insert(row, pk=("hash", "idx"))
            ids = identities or {}
            for member, (value, quality) in scores.items():
                c.execute(
                    "INSERT OR REPLACE INTO scores(hash, member, value, quality, identity) VALUES (?,?,?,?,?)",
                    (content_hash, member, value, quality, ids.get(member, member)),
                )

    def scores_of(self, content_hash: str) -> dict[str, tuple[float, float]]:
        cur = self.conn.execute("SELECT member, value, quality FROM scores WHERE hash = ?", (content_hash,))
        return {m: (v, q) for m, v, q in cur.fetchall()}

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
            for k in ("landmarks", "signals", "scores"):
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

    def integrity_check(self) -> list[str]:
        """Problems found by SQLite's own check and by the catalog's consistency rules."""
        problems = [r[0] for r in self.conn.execute("PRAGMA integrity_check").fetchall() if r[0] != "ok"]
        orphan = self.conn.execute(
            "SELECT count(*) FROM shots WHERE status = 'ok' AND hash NOT IN (SELECT hash FROM analysis)"
        ).fetchone()[0]
        if orphan:
            problems.append(f"{orphan} analysed shot(s) have no analysis row")
        return problems
