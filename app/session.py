"""A culling session: the catalog of one folder, held in memory for the views.

Plain Python (no Qt): the item models in :mod:`app.item_models` sit on top of it.  Every decision is
written to the catalog at once; when a write fails (disk full, catalog locked) the decision is
kept in memory, queued, and retried, so nothing the photographer did is lost.  Every query goes
through :class:`engine.catalog.Catalog` (the only door to SQL); a decision is the catalog's
:class:`engine.catalog.Decision`.
"""

from __future__ import annotations

import dataclasses
import gc
import math
import os
import sqlite3
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from app import warnings as W
from app.pacing import no_pace
from engine.catalog import Catalog, CatalogError, Decision

PENDING_GROUP = -1  # shots not analysed yet
SKIPPED_GROUP = -2  # unreadable files


class SessionError(Exception):
    """A folder or catalog that cannot be opened; the message is user-facing."""


class DecisionWriteError(Exception):
    """Decisions could not be written to the catalog (kept in memory and retried)."""


def with_changes(d: Decision, **changes: Any) -> Decision:
    """A copy of ``d`` with some fields changed (decisions held in memory are never mutated)."""
    return dataclasses.replace(d, **changes)


@dataclass
class ShotRecord:
    key: str
    file: str  # absolute path of the primary file (a str: 2,000 Path objects cost ~50 ms)
    raw_path: Path | None = None
    hash: str | None = None
    status: str = "pending"
    reason: str | None = None
    group_id: int | None = None
    rank: int | None = None
    score: float | None = None
    n_faces: int | None = None
    suggested: str | None = None
    capture_ts: float | None = None
    capture_time: str | None = None
    width: int | None = None
    height: int | None = None
    explain: str | None = None  # the engine's JSON record of the rank (member contributions)
    decision: Decision = None  # type: ignore[assignment]  # Decision(key) when not given
    warnings: list[str] = field(default_factory=list)
    missing: bool = False
    sharpness: float | None = None
    faces: list[dict[str, Any]] = field(default_factory=list)  # boxes + warning signals
    # RAW: the embedded preview the analysis read (Catalog.previews()): kind, size and its note
    preview: str | None = None
    preview_size: tuple[int, int] | None = None
    preview_note: str | None = None  # "preview too small to judge focus" under 1,000 px

    def __post_init__(self) -> None:
        if self.decision is None:
            self.decision = Decision(self.key)

    @property
    def decided(self) -> bool:
        """A flag, stars or a colour label: the photographer has looked at it."""
        d = self.decision
        return d.flag is not None or bool(d.stars) or d.label is not None

    @property
    def name(self) -> str:
        return self.key.rsplit("/", 1)[-1]

    @property
    def path(self) -> Path:
        return Path(self.file)

    @property
    def is_best(self) -> bool:
        return self.rank == 1 and self.group_id is not None and self.group_id >= 0


@dataclass
class GroupRecord:
    id: int
    keys: list[str]
    title: str
    start_time: str | None = None
    best: str | None = None
    problem: bool = False


def quick_listing(root: Path, recursive: bool,
                  pace: Callable[[], None] = no_pace) -> dict[str, tuple[Path, Path | None]]:
    """Shots found by a fast directory walk (no hashing, no decoding), before the engine's
    analysis has written them: key -> (primary path, raw path).  Uses the engine's scanner, so
    keys and RAW+JPEG pairing are the catalog's.  ``pace``: see :mod:`app.pacing`."""
    from engine.scan import scan_folder

    res = scan_folder(root, recursive=recursive, pace=freezing(pace))  # 50,000 paths: see freezing
    gc.freeze()
    if not res.shots and res.skipped and res.skipped[0][0] in (".", ""):
        raise PermissionError(res.skipped[0][1])
    out: dict[str, tuple[Path, Path | None]] = {}
    for sh in res.shots:
        raw = sh.raw if (sh.raw is not None and sh.raw != sh.primary) else None
        out[sh.key] = (sh.primary, raw)
    return out


SORTS = ("rank", "time", "name")


def build_order(shots: dict[str, ShotRecord], groups: list[GroupRecord], sort: str,
                by_rank: list[str] | None = None) -> list[str]:
    """Every key of every scene in the grid's order for ``sort`` ("rank": scene by scene;
    "time": capture time, then key, shots without one last; "name": file name, case ignored,
    then rank order).  ``by_rank``: the "rank" order when it is known already."""
    if sort == "rank":
        return [k for g in groups for k in g.keys if k in shots]
    keys = build_order(shots, groups, "rank") if by_rank is None else by_rank
    if sort == "time":
        # two stable sorts with plain keys (no tuple per shot): by key, then by time
        inf = math.inf
        ts = {k: (inf if (v := shots[k].capture_ts) is None else v) for k in keys}
        keys = sorted(keys)
        keys.sort(key=ts.__getitem__)
        return keys
    if sort == "name":
        names = {k: k.rsplit("/", 1)[-1].lower() for k in keys}
        return sorted(keys, key=names.__getitem__)
    raise ValueError(sort)


def freezing(pace: Callable[[], None], every: int = 2000) -> Callable[[], None]:
    """``pace``, calling ``gc.freeze()`` every ``every`` calls.  A worker building 50,000
    records set off full collections (the heap is frozen, so each walks everything built so
    far: 25-90 ms, GIL held, the window frozen meanwhile); frozen in steps, each walks only the
    last step's records.  They are long-lived (the snapshot the window takes in) and hold no
    reference cycles, so freezing them keeps nothing alive: see :func:`app.startup.settle_heap`."""
    n = 0

    def step() -> None:
        nonlocal n
        n += 1
        if n % every == 0:
            gc.freeze()
        pace()

    return step


@dataclass
class Snapshot:
    shots: dict[str, ShotRecord]
    groups: list[GroupRecord]
    sharpness: dict[int, float]  # sharpest face per group (for "out of focus")
    # worked out with the snapshot (off the GUI thread), for the catalog's decisions
    orders: dict[str, tuple[list[str], dict[str, int]]] = field(default_factory=dict)
    counts: dict[str, int] | None = None
    flags: dict[str | None, set[str]] | None = None


def count_flags(shots: dict[str, ShotRecord]) -> tuple[dict[str, int], dict[str | None, set[str]]]:
    """The session's counts ({"pick", "reject", "unflagged", "total"}) and its flag index
    (flag -> keys, see :meth:`Session.flag_index`)."""
    fi: dict[str | None, set[str]] = {"pick": set(), "reject": set(), None: set()}
    for key, s in shots.items():
        fi.setdefault(s.decision.flag, set()).add(key)
    c = {"pick": 0, "reject": 0, "unflagged": 0, "total": len(shots)}
    for flag, keys in fi.items():
        c[flag or "unflagged"] += len(keys)
    return c, fi


def check_folder(folder: Path) -> Path:
    """The resolved folder, or SessionError with a clear reason."""
    folder = Path(folder).expanduser()
    if not folder.exists():
        raise SessionError(f"The folder {folder} does not exist.")
    if not folder.is_dir():
        raise SessionError(f"{folder} is a file, not a folder. Choose the folder that holds the photos.")
    try:
        with os.scandir(folder) as it:
            next(it, None)
    except PermissionError:
        raise SessionError(
            f"The folder {folder} cannot be read (permission denied). "
            "Check its permissions or choose another folder."
        ) from None
    except OSError as exc:
        raise SessionError(f"The folder {folder} cannot be read: {exc.strerror or exc}.") from None
    return folder.resolve()


class Session:
    """One folder and its catalog."""

    def __init__(self, root: Path, catalog_path: Path, recursive: bool = False):
        self.root = root
        self.catalog_path = catalog_path
        self.recursive = recursive
        try:
            self.catalog = Catalog(catalog_path, root)
        except CatalogError as exc:
            raise SessionError(str(exc)) from None
        except sqlite3.OperationalError as exc:
            raise SessionError(f"The catalog {catalog_path} cannot be opened: {exc}") from None
        self.created = False  # the catalog did not exist before this session
        self.fallback = False  # the catalog is in the user's data folder, not beside the folder
        self.shots: dict[str, ShotRecord] = {}
        self.groups: list[GroupRecord] = []
        self.pending_writes: dict[str, Decision] = {}
        self.listing: dict[str, tuple[Path, Path | None]] = {}
        self.listed = False  # True once the directory listing is known
        self.missing: set[str] = set()  # files found gone during the session
        self.version = 0  # bumped on every change of decisions (caches key on it)
        self._counts: tuple[int, dict[str, int]] | None = None
        self._group_counts: dict[int, tuple[int, int, int]] = {}
        self._sharp_by_group: dict[int, float] = {}
        # the grid's orders of every scene's keys (see ordered_keys): bumped when the scenes,
        # the shots or their capture times change, not by a decision
        self.order_version = 0
        self._orders: dict[str, tuple[int, list[str], dict[str, int]]] = {}
        self._flag_index: dict[str | None, set[str]] | None = None  # flag -> keys (see flag_index)

    @classmethod
    def open(cls, folder: Path, catalog_path: Path | None = None, recursive: bool = False,
             listing: bool = True, load: bool = True) -> Session:
        """Open the folder's catalog.  ``listing=False`` leaves the directory listing to the
        caller (the GUI lists in a worker thread and calls :meth:`set_listing`)."""
        from engine.catalog import CATALOG_SUFFIX, default_catalog_path

        root = check_folder(folder)
        cat = Path(catalog_path) if catalog_path else default_catalog_path(root)
        created = not cat.exists()
        s = cls(root, cat, recursive)
        s.created = created
        # the parent folder is read-only: the catalog went to the user's data folder instead
        s.fallback = catalog_path is None and cat != root.parent / f"{root.name}{CATALOG_SUFFIX}"
        try:
            if listing:
                s.listing = quick_listing(root, recursive)
                s.listed = True
            if load:
                s.reload()
        except sqlite3.DatabaseError as exc:
            s.close()
            raise SessionError(f"The catalog {cat} cannot be read: {exc}") from None
        except OSError as exc:
            s.close()
            raise SessionError(f"The folder {root} cannot be read: {exc.strerror or exc}.") from None
        return s

    def close(self) -> None:
        """Close the catalog; one this session created and never filled (an empty folder) is
        removed, so that opening a folder by mistake leaves nothing behind."""
        empty = self.created and not self.pending_writes and self.catalog.is_empty()
        self.catalog.close()
        if empty:
            for p in (self.catalog_path, Path(f"{self.catalog_path}-wal"), Path(f"{self.catalog_path}-shm")):
                if p.is_file() and not p.is_symlink():
                    p.unlink(missing_ok=True)

    # -- loading ------------------------------------------------------------------
    def needs_analysis(self) -> bool:
        """True when some file on disk is not in the catalog or some shot is not analysed yet."""
        if not self.listed:
            return False
        known = self.catalog.known_paths()
        if any(k not in known for k in self.listing):
            return True
        return any(s.status == "pending" for s in self.shots.values()) or not self.groups_analysed()

    def groups_analysed(self) -> bool:
        return any(g.id >= 0 for g in self.groups) or not self.shots

    def _abs(self, p: str | None) -> Path | None:
        if not p:
            return None
        q = Path(p)
        return q if q.is_absolute() else self.root / q

    def reload(self) -> None:
        """Read everything from the catalog (falls back to the directory listing before a scan)."""
        self.apply_snapshot(self.read_snapshot(self.catalog))

    def read_snapshot_async(self, pace: Callable[[], None] = no_pace) -> Snapshot:
        """:meth:`read_snapshot` through a read-only catalog of its own (for a worker thread)."""
        try:
            cat = Catalog(self.catalog_path, readonly=True)
        except CatalogError as exc:
            raise SessionError(f"The catalog {self.catalog_path} cannot be read: {exc}") from None
        try:
            return self.read_snapshot(cat, pace)
        except sqlite3.Error as exc:
            raise SessionError(f"The catalog {self.catalog_path} cannot be read: {exc}") from None
        finally:
            cat.close()

    def read_snapshot(self, cat: Catalog, pace: Callable[[], None] = no_pace) -> Snapshot:
        """Every shot and group as the catalog has them now.  Reads only through ``cat`` and
        the session's settled attributes, so it may run in a worker thread with its own
        catalog while the GUI goes on (a 2,000-shot catalog takes ~0.05 s of Python);
        ``pace`` is called once per shot in each pass (see :mod:`app.pacing`)."""
        pace = freezing(pace)
        rows = cat.shot_view_rows()
        decisions = cat.decisions()
        shots: dict[str, ShotRecord] = {}
        root = str(self.root)
        for (key, pp, rp, h, status, reason, gid, rank, score, nf, sug, cts, ctime, w, hh, ex) in rows:
            pace()
            if not pp or pp == key:
                file = f"{root}/{key}"  # the common case, without pathlib
            else:
                file = str(self._abs(pp) or f"{root}/{key}")
            shots[key] = ShotRecord(
                key=key, file=file, raw_path=self._abs(rp) if rp else None, hash=h,
                status=status or "pending", reason=reason, group_id=gid, rank=rank, score=score,
                n_faces=nf, suggested=sug, capture_ts=cts, capture_time=ctime, width=w, height=hh,
                explain=ex,
            )
        if not shots:
            for key, (primary, raw) in dict(self.listing).items():
                shots[key] = ShotRecord(key=key, file=str(primary), raw_path=raw)
        for key, d in decisions.items():
            if key in shots:
                shots[key].decision = d
        for key in list(self.missing):
            if key in shots:
                shots[key].missing = True
        for key, pv in cat.previews().items():
            s = shots.get(key)
            if s is not None:
                s.preview, s.preview_note = pv.get("preview"), pv.get("note")
                if pv.get("width") and pv.get("height"):
                    s.preview_size = (int(pv["width"]), int(pv["height"]))
        faces = cat.face_signals((s.hash for s in shots.values() if s.hash), self._SIGNALS, pace)
        for s in shots.values():
            pace()
            s.faces = faces.get(s.hash or "", [])
            s.sharpness = W.shot_sharpness(s.faces)
        sharp: dict[int, float] = {}
        for s in shots.values():
            if s.group_id is not None and s.sharpness is not None:
                sharp[s.group_id] = max(sharp.get(s.group_id, 0.0), s.sharpness)
        for s in shots.values():
            pace()
            self._warn(s, sharp)
        groups = self._build_groups(shots, cat.group_meta())
        snap = Snapshot(shots, groups, sharp)
        by_rank = build_order(shots, groups, "rank")
        for sort in SORTS:
            keys = by_rank if sort == "rank" else build_order(shots, groups, sort, by_rank)
            snap.orders[sort] = (keys, dict(zip(keys, range(len(keys)))))
        snap.counts, snap.flags = count_flags(shots)
        gc.freeze()
        return snap

    def apply_snapshot(self, snap: Snapshot) -> None:
        """Take a snapshot in (GUI thread).  Decisions made in memory since it was read win: every
        decision is applied in memory first, so memory is never behind the catalog."""
        old = self.shots
        fresh = not old and not self.pending_writes  # the catalog's decisions stand as read
        for key, s in snap.shots.items():
            o = old.get(key)
            if o is not None:
                s.decision = o.decision
            if key in self.pending_writes:
                s.decision = self.pending_writes[key]
        self.shots = snap.shots
        self.groups = snap.groups
        self._sharp_by_group = snap.sharpness
        self.version += 1
        self.order_version += 1
        self._orders = {sort: (self.order_version, keys, rows) for sort, (keys, rows) in snap.orders.items()}
        self._flag_index = snap.flags if fresh else None
        if fresh and snap.counts is not None:
            self._counts = (self.version, snap.counts)

    _SIGNALS = ("eye_sharpness", "eyes_open", "face_exposure", "face_clip_low", "face_clip_high")

    def _load_faces(self, shots: list[ShotRecord]) -> None:
        faces = self.catalog.face_signals((s.hash for s in shots if s.hash), self._SIGNALS)
        for s in shots:
            s.faces = faces.get(s.hash or "", [])
            s.sharpness = W.shot_sharpness(s.faces)

    def _warn(self, s: ShotRecord, sharp: dict[int, float] | None = None) -> None:
        sharp = self._sharp_by_group if sharp is None else sharp
        ws = W.face_warnings(s.faces, sharp.get(s.group_id or 0), self._eyes_record(s))
        if s.status == "skipped":
            ws.insert(0, W.UNREADABLE)
        if s.missing:
            ws.insert(0, W.MISSING)
        if s.preview_note:
            ws.append(W.SMALL_PREVIEW if s.preview_note == W.SMALL_PREVIEW else s.preview_note)
        s.warnings = ws

    @staticmethod
    def _explain_of(s: ShotRecord) -> dict[str, Any] | None:
        """The shot's explain record, parsed (None without one, or when it is not a JSON object)."""
        if not s.explain:
            return None
        import json

        try:
            d = json.loads(s.explain)
        except ValueError:
            return None
        return d if isinstance(d, dict) else None

    @staticmethod
    def _eyes_record(s: ShotRecord) -> dict[str, Any] | None:
        """The rank's record when it judged eyes per person (else None: no JSON parsed)."""
        if not s.explain or '"eyes_open"' not in s.explain or '"faces"' not in s.explain:
            return None
        return Session._explain_of(s)

    @staticmethod
    def _build_groups(shots: dict[str, ShotRecord],
                      meta: dict[int, tuple[str | None, str | None]]) -> list[GroupRecord]:
        by_gid: dict[int, list[ShotRecord]] = {}
        for s in shots.values():
            if s.status == "skipped":
                gid = SKIPPED_GROUP
            elif s.group_id is None:
                gid = PENDING_GROUP
            else:
                gid = int(s.group_id)
            by_gid.setdefault(gid, []).append(s)
        groups: list[GroupRecord] = []
        real = sorted((g for g in by_gid if g >= 0),
                      key=lambda g: (min((s.capture_ts or 0.0) for s in by_gid[g]), g))
        for n, gid in enumerate(real, 1):
            members = sorted(by_gid[gid], key=lambda s: (s.rank if s.rank is not None else 1 << 30, s.key))
            best, start = meta.get(gid, (None, None))
            best = best or (members[0].key if members else None)
            start = start or members[0].capture_time
            b = shots.get(best) if best else None
            problem = bool(b and b.warnings) or any(s.missing for s in members)
            groups.append(GroupRecord(gid, [s.key for s in members], f"Scene {n}", start, best, problem))
        if PENDING_GROUP in by_gid:
            keys = sorted(s.key for s in by_gid[PENDING_GROUP])
            groups.append(GroupRecord(PENDING_GROUP, keys, "Not analysed yet"))
        if SKIPPED_GROUP in by_gid:
            keys = sorted(s.key for s in by_gid[SKIPPED_GROUP])
            groups.append(GroupRecord(SKIPPED_GROUP, keys, "Unreadable files", problem=True))
        return groups

    def refresh_shots(self, keys: Iterable[str]) -> list[str]:
        """Re-read some shots' analysis (during a run); returns the keys that changed."""
        keys = [k for k in keys if k]
        if not keys:
            return []
        changed: list[str] = []
        rows = self.catalog.shot_states(keys)
        touched: list[ShotRecord] = []
        for key, h, status, reason, nf in rows:
            s = self.shots.get(key)
            if s is None:
                continue
            s.hash, s.status, s.reason, s.n_faces = h, status or s.status, reason, nf
            touched.append(s)
            changed.append(key)
        self._load_faces(touched)
        for s in touched:
            self._warn(s)
        return changed

    def apply_provisional_groups(self, groups: dict[str, int]) -> bool:
        """Scenes formed while the analysis runs ({key: scene id}): the analysed shots move into
        them (ranks come with the engine's grouping at the end).  True when anything moved."""
        changed = False
        for key, gid in groups.items():
            s = self.shots.get(key)
            if s is not None and s.status == "ok" and s.group_id != gid:
                s.group_id = gid
                changed = True
        if changed:
            self.groups = self._build_groups(self.shots, {})
            self.version += 1
            self.order_version += 1
        return changed

    def group(self, gid: int) -> GroupRecord | None:
        for g in self.groups:
            if g.id == gid:
                return g
        return None

    def set_listing(self, listing: dict[str, tuple[Path, Path | None]], reload: bool = True) -> bool:
        """Take the directory listing; returns True when the shots shown change (no catalog yet).
        Then the shots are re-read at once, or with ``reload=False`` by the caller (the GUI reads
        a snapshot in a worker)."""
        self.listing = listing
        self.listed = True
        if any(s.hash for s in self.shots.values()) or set(self.shots) == set(listing):
            return False
        if reload:
            self.reload()
        return True

    def mark_missing(self, key: str) -> bool:
        s = self.shots.get(key)
        if s is None or s.missing:
            return False
        s.missing = True
        self.missing.add(key)
        self._warn(s)
        for g in self.groups:
            if key in g.keys:
                g.problem = True
        return True

    # -- details ----------------------------------------------------------------------
    def faces(self, key: str) -> list[dict[str, Any]]:
        s = self.shots.get(key)
        if s is None or not s.hash:
            return []
        return self.catalog.faces_of(s.hash)

    def scores(self, key: str) -> dict[str, tuple[float, float]]:
        s = self.shots.get(key)
        if s is None or not s.hash:
            return {}
        return self.catalog.scores_of(s.hash)

    def explain(self, key: str) -> dict[str, dict[str, float]] | None:
        s = self.shots.get(key)
        return None if s is None else self._explain_of(s)

    def full_size(self, key: str) -> tuple[int, int] | None:
        s = self.shots.get(key)
        if s is None:
            return None
        if s.hash:
            size = self.catalog.full_size(s.hash)
            if size is not None:
                return size
        if s.width and s.height:
            return int(s.width), int(s.height)
        return None

    # -- decisions ------------------------------------------------------------------------
    def set_decisions(self, changes: dict[str, Decision], write: bool = True) -> None:
        """Apply decisions in memory and write them to the catalog in one transaction.

        On a write error the decisions stay applied in memory and queued for a retry, and
        :class:`DecisionWriteError` is raised with a user-facing message.  ``write=False``
        leaves them queued in :attr:`pending_writes` (the caller writes them off the GUI thread).
        """
        shots = self.shots
        c = self._counts[1] if self._counts is not None and self._counts[0] == self.version else None
        fi = self._flag_index
        for key, d in changes.items():
            s = shots.get(key)
            if s is not None:
                if c is not None:  # kept up to date: recounting 50,000 shots per change stalls
                    c[s.decision.flag or "unflagged"] -= 1
                    c[d.flag or "unflagged"] += 1
                if fi is not None and s.decision.flag != d.flag:
                    fi.setdefault(s.decision.flag, set()).discard(key)
                    fi.setdefault(d.flag, set()).add(key)
                s.decision = d
        self.version += 1
        if c is not None:
            self._counts = (self.version, c)
        self.pending_writes.update(changes)
        if write:
            self.flush_pending()

    def flush_pending(self) -> None:
        if not self.pending_writes:
            return
        todo = dict(self.pending_writes)
        try:
            self.catalog.set_decisions(todo.values())
        except sqlite3.Error as exc:
            n = len(self.pending_writes)
            reason = str(exc)
            hint = " The disk holding the catalog is full: free some space." if "full" in reason else ""
            raise DecisionWriteError(
                f"{n} decision(s) could not be saved to the catalog {self.catalog_path} "
                f"({reason}).{hint} They are kept in memory and saved as soon as writing works again."
            ) from None
        for key, m in todo.items():
            if self.pending_writes.get(key) == m:
                del self.pending_writes[key]

    # -- the grid's orders (50,000 shots: no Python sort or filter per shot on each change) -----
    def ordered_keys(self, sort: str) -> list[str]:
        """Every key of every scene in the grid's order for ``sort`` ("rank": scene by scene,
        "time": capture time, then key, shots without one last; "name": file name, case
        ignored, then rank order).  Cached until the scenes change: never modify it."""
        return self._order(sort)[0]

    def order_rows(self, sort: str) -> dict[str, int]:
        """key -> position in :meth:`ordered_keys` (cached with it: never modify it)."""
        return self._order(sort)[1]

    def _order(self, sort: str) -> tuple[list[str], dict[str, int]]:
        hit = self._orders.get(sort)
        if hit is not None and hit[0] == self.order_version:
            return hit[1], hit[2]
        keys = build_order(self.shots, self.groups, sort,
                           None if sort == "rank" else self.ordered_keys("rank"))
        rows = dict(zip(keys, range(len(keys))))
        self._orders[sort] = (self.order_version, keys, rows)
        return keys, rows

    def flag_index(self) -> dict[str | None, set[str]]:
        """flag ("pick", "reject" or None) -> the keys of the shots with it; built on first
        use after a catalog read, then kept up to date by :meth:`set_decisions`."""
        if self._flag_index is None:
            self._flag_index = count_flags(self.shots)[1]
        return self._flag_index

    def counts(self) -> dict[str, int]:
        if self._counts is not None and self._counts[0] == self.version:
            return self._counts[1]
        c = count_flags(self.shots)[0]
        self._counts = (self.version, c)
        return c

    def group_counts(self, g: GroupRecord) -> tuple[int, int]:
        """(picks, undecided) of a group, cached until the next change of decisions."""
        hit = self._group_counts.get(g.id)
        if hit is not None and hit[0] == self.version:
            return hit[1], hit[2]
        picks = undecided = 0
        for k in g.keys:
            f = self.shots[k].decision.flag
            picks += f == "pick"
            undecided += f is None
        self._group_counts[g.id] = (self.version, picks, undecided)
        return picks, undecided
