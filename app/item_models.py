"""Qt item models over a :class:`app.session.Session` (data only; the views live elsewhere)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from PySide6.QtCore import QAbstractListModel, QModelIndex, QPersistentModelIndex, Qt

from app.session import PENDING_GROUP, SORTS, GroupRecord, Session, ShotRecord

KEY_ROLE = Qt.ItemDataRole.UserRole + 1
RECORD_ROLE = Qt.ItemDataRole.UserRole + 2
GROUP_ROLE = Qt.ItemDataRole.UserRole + 3
SCENE_START_ROLE = Qt.ItemDataRole.UserRole + 4  # the scene's title on its first tile (all shots)

FLAG_FILTERS = ("all", "picks", "rejects", "unflagged")

_Index = QModelIndex | QPersistentModelIndex


@dataclass
class ShotFilter:
    flags: str = "all"  # all / picks / rejects / unflagged
    min_stars: int = 0
    label: str | None = None  # colour label, or None for any

    def accepts(self, s: ShotRecord) -> bool:
        f = s.decision.flag
        if self.flags == "picks" and f != "pick":
            return False
        if self.flags == "rejects" and f != "reject":
            return False
        if self.flags == "unflagged" and f is not None:
            return False
        if s.decision.stars < self.min_stars:
            return False
        return not (self.label and s.decision.label != self.label)

    @property
    def active(self) -> bool:
        return self.flags != "all" or self.min_stars > 0 or self.label is not None


FLAG_OF = {"picks": "pick", "rejects": "reject", "unflagged": None}


class ShotListModel(QAbstractListModel):
    """The shots of the selected group(s), filtered and sorted."""

    def __init__(self, parent: Any = None):
        super().__init__(parent)
        self.session: Session | None = None
        self.keys: list[str] = []
        self.scope: list[int] | None = None  # group ids, None = all groups
        self.filter = ShotFilter()
        self.sort_mode = "rank"
        self._row: dict[str, int] = {}
        self._starts: dict[int, str] = {}  # row -> title of the scene that starts there

    def set_session(self, session: Session | None) -> None:
        self.session = session
        self.rebuild()

    def set_scope(self, group_ids: list[int] | None) -> None:
        self.scope = group_ids
        self.rebuild()

    def set_filter(self, flt: ShotFilter) -> None:
        self.filter = flt
        self.rebuild()

    def set_sort(self, sort: str) -> None:
        if sort not in SORTS:
            raise ValueError(sort)
        self.sort_mode = sort
        self.rebuild()

    def _ordered(self) -> list[str]:
        s = self.session
        if s is None:
            return []
        flt = self.filter
        if self.scope is None:
            # every scene (50,000 shots): the session's cached order, filtered; a filter keeps
            # the order, so this is the order of sorting the filtered keys
            keys = s.ordered_keys(self.sort_mode)
            if not flt.active:
                return keys  # shared with the session's cache: never modified
            shots = s.shots
            if flt.min_stars == 0 and flt.label is None and flt.flags in FLAG_OF:
                have = s.flag_index().get(FLAG_OF[flt.flags], set())
                return [k for k in keys if k in have]
            return [k for k in keys if flt.accepts(shots[k])]
        groups = [g for g in s.groups if g.id in self.scope]
        keys = [k for g in groups for k in g.keys]
        shots = s.shots
        # 50,000 shots: the common filters without a method call per shot
        if not flt.active:
            keys = [k for k in keys if k in shots]
        elif flt.min_stars == 0 and flt.label is None and flt.flags in FLAG_OF:
            want = FLAG_OF[flt.flags]
            keys = [k for k in keys if (r := shots.get(k)) is not None and r.decision.flag == want]
        else:
            keys = [k for k in keys if k in shots and flt.accepts(shots[k])]
        if self.sort_mode == "time":
            keys.sort(key=lambda k: (shots[k].capture_ts is None, shots[k].capture_ts or 0.0, k))
        elif self.sort_mode == "name":
            keys.sort(key=lambda k: shots[k].name.lower())
        return keys

    def _scene_starts(self) -> dict[int, str]:
        """In "All shots" by rank, where each scene starts (the grid draws a separator there)."""
        s = self.session
        if s is None or self.scope is not None or self.sort_mode != "rank":
            return {}
        starts: dict[int, str] = {}
        row = self._row
        for g in s.groups:
            # by rank, the rows follow the groups and their keys: a scene starts at its first key shown
            for k in g.keys:
                r = row.get(k)
                if r is not None:
                    starts[r] = g.title
                    break
        return starts

    def scene_start(self, row: int) -> str | None:
        return self._starts.get(row)

    def _rows_of(self, keys: list[str]) -> dict[str, int]:
        s = self.session
        if s is not None and self.scope is None and keys is s.ordered_keys(self.sort_mode):
            return s.order_rows(self.sort_mode)  # cached with the order
        return dict(zip(keys, range(len(keys))))

    def rebuild(self) -> None:
        self.beginResetModel()
        self.keys = self._ordered()
        self._row = self._rows_of(self.keys)
        self._starts = self._scene_starts()
        self.endResetModel()

    def refresh_layout(self) -> None:
        """Reload after a re-grouping, keeping persistent indexes (selection) where possible."""
        self.layoutAboutToBeChanged.emit()
        new_keys = self._ordered()
        new_row = self._rows_of(new_keys)
        from_list, to_list = [], []
        for idx in self.persistentIndexList():
            key = self.keys[idx.row()] if 0 <= idx.row() < len(self.keys) else None
            from_list.append(idx)
            to_list.append(self.index(new_row[key]) if key in new_row else QModelIndex())
        self.keys, self._row = new_keys, new_row
        self._starts = self._scene_starts()
        self.changePersistentIndexList(from_list, to_list)
        self.layoutChanged.emit()

    def row_of(self, key: str) -> int:
        return self._row.get(key, -1)

    def key_at(self, row: int) -> str | None:
        return self.keys[row] if 0 <= row < len(self.keys) else None

    def record(self, row: int) -> ShotRecord | None:
        k = self.key_at(row)
        return self.session.shots.get(k) if (k and self.session) else None

    def shots_changed(self, keys: Iterable[str]) -> None:
        rows = sorted(self._row[k] for k in keys if k in self._row)
        if not rows:
            return
        # contiguous runs keep the number of signals small
        start = prev = rows[0]
        for r in rows[1:] + [None]:  # type: ignore[list-item]
            if r is not None and r == prev + 1:
                prev = r
                continue
            self.dataChanged.emit(self.index(start), self.index(prev))
            if r is not None:
                start = prev = r

    # -- QAbstractListModel ---------------------------------------------------------------
    def rowCount(self, parent: _Index = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self.keys)

    def data(self, index: _Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid() or self.session is None:
            return None
        key = self.keys[index.row()]
        s = self.session.shots.get(key)
        if s is None:
            return None
        if role == Qt.ItemDataRole.DisplayRole:
            return s.name
        if role == KEY_ROLE:
            return key
        if role == RECORD_ROLE:
            return s
        if role == SCENE_START_ROLE:
            return self._starts.get(index.row())
        if role == Qt.ItemDataRole.ToolTipRole:
            parts = [s.key]
            if s.rank is not None:
                parts.append(f"rank {s.rank}" + (f", score {s.score:.0f}" if s.score is not None else ""))
            if s.n_faces is not None:
                parts.append(f"{s.n_faces} face{'' if s.n_faces == 1 else 's'}")
            if s.warnings:
                parts.append("; ".join(s.warnings))
            if s.reason:
                parts.append(s.reason)
            return "\n".join(parts)
        return None

    def flags(self, index: _Index) -> Qt.ItemFlag:
        if not index.isValid():
            return Qt.ItemFlag.NoItemFlags
        return Qt.ItemFlag.ItemIsEnabled | Qt.ItemFlag.ItemIsSelectable


class GroupListModel(QAbstractListModel):
    """Scene groups (plus "All shots" on top), optionally only those with a problem."""

    ALL = -100

    def __init__(self, parent: Any = None):
        super().__init__(parent)
        self.session: Session | None = None
        self.only_problems = False
        self.rows: list[GroupRecord] = []

    def set_session(self, session: Session | None) -> None:
        self.session = session
        self.rebuild()

    def set_only_problems(self, on: bool) -> None:
        self.only_problems = on
        self.rebuild()

    def _rows(self) -> list[GroupRecord]:
        if self.session is None:
            return []
        groups = [g for g in self.session.groups if g.problem or not self.only_problems]
        n = sum(len(g.keys) for g in self.session.groups)
        return [GroupRecord(self.ALL, [], f"All shots ({n})")] + groups

    def rebuild(self) -> None:
        self.beginResetModel()
        self.rows = self._rows()
        self.endResetModel()

    def refresh_layout(self) -> None:
        self.layoutAboutToBeChanged.emit()
        new = self._rows()
        pos = {g.id: i for i, g in enumerate(new)}
        frm, to = [], []
        for idx in self.persistentIndexList():
            gid = self.rows[idx.row()].id if 0 <= idx.row() < len(self.rows) else None
            frm.append(idx)
            to.append(self.index(pos[gid]) if gid in pos else QModelIndex())
        self.rows = new
        self.changePersistentIndexList(frm, to)
        self.layoutChanged.emit()

    def row_of(self, gid: int) -> int:
        for i, g in enumerate(self.rows):
            if g.id == gid:
                return i
        return -1

    def group_ids(self, row: int) -> list[int] | None:
        if not 0 <= row < len(self.rows):
            return None
        g = self.rows[row]
        if g.id == self.ALL:
            return None
        return [g.id]

    def rowCount(self, parent: _Index = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self.rows)

    def data(self, index: _Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid():
            return None
        g = self.rows[index.row()]
        if role == Qt.ItemDataRole.DisplayRole:
            return g.title
        if role == GROUP_ROLE:
            return g
        if role == Qt.ItemDataRole.ToolTipRole and g.id >= 0:
            tip = f"{g.title}: {len(g.keys)} shot{'' if len(g.keys) == 1 else 's'}"
            if g.start_time:
                tip += f", from {g.start_time}"
            if g.problem:
                tip += "\nThe best shot has a problem: check it"
            return tip
        if role == Qt.ItemDataRole.ToolTipRole and g.id == PENDING_GROUP:
            return "Shots whose analysis has not finished"
        return None
