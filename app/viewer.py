"""The viewer: what the loupe, compare and inspector show of the current shot, and the image
caches behind them (thumbnails, screen-sized previews, full images), with prefetching.

It reads the window's navigation (current shot, grid order) and never decides anything.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QObject, QTimer, Signal
from PySide6.QtWidgets import QApplication

from app import warnings as W
from app.imaging import full_size_of, preview_note_of
from app.loupe import FIT, ViewAnchor, face_boxes
from app.overlays import OverlayCache
from app.session import ShotRecord
from app.thumbs import ImageCache

if TYPE_CHECKING:
    from app.window import MainWindow

PREFETCH_AHEAD = 3
PREFETCH_BEHIND = 1


def _preview_side() -> int:
    """Long side of loupe previews: the screen's (sharp when fitted), 1024-2560 px."""
    screen = QApplication.primaryScreen()
    if screen is None:
        return 2048
    size = screen.size() * screen.devicePixelRatio()
    return int(min(2560, max(1024, max(size.width(), size.height()))))


class Viewer(QObject):
    shot_shown = Signal(str)  # the loupe finished showing a shot (benchmarks)
    missing_found = Signal(list)  # keys whose files vanished since the folder was opened

    def __init__(self, win: MainWindow):
        super().__init__(win)
        self.w = win
        self.thumbs = ImageCache(320, 256 << 20, parent=self)
        # the loupe's caches: a RAW shows its largest embedded preview, never developed sensor data
        self.previews = ImageCache(_preview_side(), 384 << 20, threads=2, parent=self, max_queue=16, view=True)
        self.fulls = ImageCache(None, 600 << 20, threads=1, parent=self, max_queue=4, view=True)
        self.thumbs.ready.connect(self._on_thumb_ready)
        self.previews.ready.connect(self._on_preview_ready)
        self.fulls.ready.connect(self._on_full_ready)
        self.compare_keys: list[str] = []
        self.first_thumb_at: float | None = None
        self._missing_new: list[str] = []
        self.direction = 1  # of travel: prefetch ahead in it
        # the zoom and face-relative position that carry over to the next frame and to compare
        # (Z resets it); set by every zoom or pan the photographer makes
        self.sticky: ViewAnchor = FIT
        self.reapply = False  # apply it to the loupe at the next show, even for the same shot
        self.overlays = OverlayCache(self)
        self.overlays.ready.connect(lambda key, _mode: self._refresh_if_shown(key))
        # compare asks for several overlays at once: the cache computes the newest first
        self.overlay_mode: str | None = None  # "focus" (heat map) or "peaking", in the loupe
        self._faces_sig: tuple[int, tuple[str, ...]] | None = None  # what the faces page shows
        win.loupe.zoomed.connect(lambda *_a: self.remember(win.loupe.anchor()))
        win.loupe.panned.connect(lambda *_a: self.remember(win.loupe.anchor()))
        win.compare.view_changed.connect(lambda: self.remember(win.compare.anchor()))

    def remember(self, a: ViewAnchor) -> None:
        self.sticky = a

    # -- caches ------------------------------------------------------------------------------
    def clear(self) -> None:
        for c in (self.thumbs, self.previews, self.fulls):
            c.clear()
        self.overlays.clear()
        self._faces_sig = None
        self.first_thumb_at = None

    def shutdown(self) -> None:
        for c in (self.thumbs, self.previews, self.fulls):
            c.shutdown()
        self.overlays.shutdown()

    def _on_thumb_ready(self, key: str) -> None:
        if self.first_thumb_at is None and self.thumbs.has(key):
            self.first_thumb_at = time.monotonic()
        self._check_missing(key, self.thumbs)
        if key == self.w.loupe.key and self.w.loupe.pix is None:  # something to show meanwhile
            self._refresh_if_shown(key)

    def _on_preview_ready(self, key: str) -> None:
        self._check_missing(key, self.previews)
        self._refresh_if_shown(key)

    def _on_full_ready(self, key: str) -> None:
        self._refresh_if_shown(key)

    def _refresh_if_shown(self, key: str) -> None:
        w = self.w
        if w.page() == w.PAGE_LOUPE and key == w.current_key:
            s = w.current_shot()
            if s is not None:
                self.show_in_loupe(s)
        elif w.page() == w.PAGE_COMPARE and key in self.compare_keys:
            self.fill_compare()

    def request_full(self, key: str) -> None:
        s = self.w.session.shots.get(key) if self.w.session else None
        if s is not None:
            self.fulls.request(key, s.path)

    def _check_missing(self, key: str, cache: ImageCache) -> None:
        err = cache.error(key)
        session = self.w.session
        if not err or session is None or "no longer on disk" not in err:
            return
        if session.mark_missing(key):
            self.w.shots_model.shots_changed([key])
            self.w.group_list.viewport().update()
            self._missing_new.append(key)
            QTimer.singleShot(300, self._report_missing)

    def _report_missing(self) -> None:
        if not self._missing_new:
            return
        keys, self._missing_new = self._missing_new, []
        self.missing_found.emit(keys)

    # -- the current shot --------------------------------------------------------------------------
    def show_current(self) -> None:
        w = self.w
        s = w.current_shot()
        session = w.session
        if s is None or session is None:
            w.inspector.show_shot(None)
            return
        g = w.group_of(s)
        faces = session.faces(s.key) if s.hash else []
        scores = session.scores(s.key) if s.hash else {}
        best_scores = best_explain = None
        if g is not None and g.best and g.best != s.key:
            best_scores = session.scores(g.best)
            best_explain = session.explain(g.best)
        w.inspector.show_shot(s, g.title if g else "", len(g.keys) if g else 0, faces, scores, best_scores,
                              session.explain(s.key), best_explain)
        self.show_taste(s, g)
        if w.page() == w.PAGE_LOUPE:
            self.show_in_loupe(s, faces)
        elif w.page() == w.PAGE_FACES:
            self.show_faces(s)
        self.prefetch()

    def show_taste(self, s: ShotRecord, g: Any) -> None:
        """The learned weights' share of this shot's rank, when a taste profile is on."""
        w = self.w
        session = w.session
        prof = w.taste.profile() if session is not None else None
        c = w.taste.contributions(session, s, g) if session is not None and prof is not None else None
        if c is None or prof is None:
            w.inspector.set_taste(None)
            return
        head = f"learned from {prof.n_decisions} decisions (taste v{prof.version}): vs the default score"
        w.inspector.set_taste(c, head, prof.weights())

    def show_faces(self, s: ShotRecord) -> None:
        """The face-by-face review of the current shot's scene (built once per scene)."""
        w = self.w
        session = w.session
        assert session is not None
        keys = [k for k in w.shots_model.keys if k in session.shots]
        g = w.group_of(s)
        if w.shots_model.scope is None and g is not None:  # all shots: this shot's scene
            keys = [k for k in g.keys if w.shots_model.row_of(k) >= 0]
        sig = (id(session.groups), tuple(keys))  # a new snapshot (new faces) rebuilds it
        if self._faces_sig != sig:
            self._faces_sig = sig
            names = [f"#{session.shots[k].rank} {session.shots[k].name}" if session.shots[k].rank
                     else session.shots[k].name for k in keys]
            w.faces_view.set_scene(g.title if g else "", keys, names, [session.faces(k) for k in keys],
                                   [W.eyes_verdicts(session.explain(k)) for k in keys])
        w.faces_view.set_current(s.key)

    def show_in_loupe(self, s: ShotRecord, faces: list[dict[str, Any]] | None = None) -> None:
        w = self.w
        session = w.session
        if session is None:
            return
        if faces is None:
            faces = session.faces(s.key) if s.hash else []
        img, full, msg = self.best_image(s)
        size = (full_size_of(img) if img is not None else None) or session.full_size(s.key)
        loupe = w.loupe
        loupe.caption = caption(s)
        loupe.flag = s.decision.flag
        loupe.note = loupe_note(s, img)
        keep = loupe.key == s.key and not self.reapply
        loupe.set_image(s.key, img, size, face_boxes(faces), msg, keep_view=keep, full=full is not None)
        self._set_overlay(s)
        if not keep:
            self.reapply = False
            loupe.apply_anchor(self.sticky)
        if img is not None:
            self.shot_shown.emit(s.key)

    def toggle_overlay(self, mode: str) -> None:
        """M: the focus map, K: focus peaking; the same key again hides it."""
        self.overlay_mode = None if self.overlay_mode == mode else mode
        s = self.w.current_shot()
        if s is not None and self.w.page() == self.w.PAGE_LOUPE:
            self._set_overlay(s)
            self.w.loupe.update()
        elif self.w.page() == self.w.PAGE_COMPARE:
            self.fill_compare()

    def _set_overlay(self, s: ShotRecord, view: Any = None) -> None:
        loupe = view if view is not None else self.w.loupe
        mode = self.overlay_mode
        names = {"focus": "focus map", "peaking": "focus peaking"}
        if mode is None or s.missing:
            loupe.overlay, loupe.overlay_name = None, ""
            return
        img = self.overlays.get(s.key, mode)
        if img is None:
            self.overlays.request(s.key, mode, s.path)
        err = self.overlays.errors.get((s.key, mode))
        loupe.overlay = img
        loupe.overlay_name = names[mode] + ("" if img is not None else " (cannot compute)" if err else "…")

    def best_image(self, s: ShotRecord) -> tuple[Any, bool, str]:
        """(the best image cached now, whether it is the full one, an error): the full image,
        else the screen-sized preview, else the grid's thumbnail, shown at once and refined when
        the better one arrives (stepping fast never shows a blank "Loading…").  What is missing
        is requested."""
        full = self.fulls.get(s.key)
        if full is not None:
            return full, True, ""
        img = self.previews.get(s.key)
        if img is not None:
            return img, False, ""
        err = self.previews.error(s.key)
        if err:
            return None, False, err
        self.previews.request(s.key, s.path)
        thumb = self.thumbs.get(s.key)
        if thumb is None and self.thumbs.error(s.key) is None:
            self.thumbs.request(s.key, s.path)
        return thumb, False, ""

    def prefetch(self) -> None:
        """Decode the next shots of the grid order ahead (loupe and compare move fast)."""
        w = self.w
        if w.session is None or w.page() not in (w.PAGE_LOUPE, w.PAGE_COMPARE):
            return
        row = w.grid.currentIndex().row()
        d = self.direction
        ahead = [row + d * i for i in range(1, 1 + PREFETCH_AHEAD)]
        behind = [row - d * i for i in range(1, 1 + PREFETCH_BEHIND)]
        items = []
        for r in ahead + behind:
            s = w.shots_model.record(r)
            if s is not None and not self.previews.has(s.key):
                items.append((s.key, s.path))
        cur = w.current_shot()
        if cur is not None and not self.previews.has(cur.key):
            items.insert(0, (cur.key, cur.path))
        self.previews.prefetch(items)
        # thumbnails further ahead (fast to decode): what stepping faster than the previews shows
        thumbs = []
        for r in (row + d * i for i in range(1, 1 + 2 * PREFETCH_AHEAD)):
            s = w.shots_model.record(r)
            if s is not None and not self.thumbs.has(s.key):
                thumbs.append((s.key, s.path))
        self.thumbs.prefetch(thumbs)

    def fit_previews(self) -> None:
        """Previews are decoded at the loupe's size, so that showing one needs no scaling."""
        dpr = self.w.devicePixelRatioF()
        size = self.w.stack.size()
        box = (max(256, round(size.width() * dpr)), max(256, round(size.height() * dpr)))
        old = self.previews.box
        if old is None or abs(old[0] - box[0]) > 8 or abs(old[1] - box[1]) > 8:
            self.previews.set_box(box)

    def refit(self) -> None:
        old = self.previews.box
        self.fit_previews()
        if self.previews.box != old:
            self.show_current()

    # -- compare -----------------------------------------------------------------------------------
    def compare_candidates(self) -> list[str]:
        """The selection (2-4), else this shot with the scene's best (or its neighbour)."""
        w = self.w
        rows = sorted(i.row() for i in w.grid.selectionModel().selectedIndexes())
        keys = [k for k in (w.shots_model.key_at(r) for r in rows) if k][:4]
        if len(keys) >= 2:
            return keys
        s = w.current_shot()
        if s is None:
            return []
        g = w.group_of(s)
        others = [k for k in (g.keys if g else []) if k != s.key]
        keys = [s.key] + others[:1]
        if s.rank is not None and g is not None and g.best and g.best != s.key:
            keys = [g.best, s.key]
        return keys

    def start_compare(self, keys: list[str]) -> None:
        self.compare_keys = keys
        self.w.compare.set_count(len(keys))
        self.fill_compare(reset=True)
        self.w.compare.apply_anchor(self.sticky)
        self.w.compare.set_active(0)

    def fill_compare(self, reset: bool = False) -> None:
        session = self.w.session
        if session is None:
            return
        for v, k in zip(self.w.compare.visible_views(), self.compare_keys):
            s = session.shots.get(k)
            if s is None:
                continue
            img, full, err = self.best_image(s)
            size = (full_size_of(img) if img is not None else None) or session.full_size(k)
            v.caption = caption(s)
            v.flag = s.decision.flag
            v.note = loupe_note(s, img)
            fit, zoom = v.fit, v.zoom
            v.set_image(k, img, size, face_boxes(session.faces(k)), err, keep_view=not reset, full=full)
            self._set_overlay(s, v)
            if not reset:
                v.fit, v.zoom = fit, zoom
            v.update()

    def decisions_changed(self, keys: set[str]) -> None:
        """Refresh the flags the loupe and compare draw."""
        w = self.w
        session = w.session
        if session is None:
            return
        s = w.current_shot()
        if s is not None and s.key in keys:
            d = s.decision
            w.inspector.set_mark(d.flag, d.stars, d.label)
            if w.page() == w.PAGE_LOUPE:
                w.loupe.flag = d.flag
                w.loupe.update()
        if w.page() == w.PAGE_COMPARE:
            for v, k in zip(w.compare.visible_views(), self.compare_keys):
                if k in keys:
                    v.flag = session.shots[k].decision.flag
                    v.update()


def loupe_note(s: ShotRecord, img: Any) -> str:
    """The loupe's warning for a RAW whose largest embedded preview is under 1,000 px: from the
    image shown (:func:`app.imaging.decode_view`), else from the catalog (``Catalog.previews``)."""
    return (preview_note_of(img) if img is not None else None) or s.preview_note or ""


def caption(s: ShotRecord) -> str:
    parts = [s.name]
    if s.rank is not None:
        parts.append(f"#{s.rank}")
    if s.score is not None:
        parts.append(f"{s.score:.0f}")
    return "  ·  ".join(parts)
