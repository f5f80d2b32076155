"""The ranked thumbnail grid and the groups side list (views and their delegates)."""

from __future__ import annotations

from collections import OrderedDict
from typing import Any

from PySide6.QtCore import (
    QModelIndex,
    QPersistentModelIndex,
    QPointF,
    QRect,
    QRectF,
    QSize,
    Qt,
    QTimer,
)
from PySide6.QtGui import (
    QColor,
    QFont,
    QFontMetrics,
    QGradient,
    QImage,
    QPainter,
    QPainterPath,
    QPalette,
    QPen,
)
from PySide6.QtWidgets import (
    QAbstractItemView,
    QListView,
    QStyle,
    QStyledItemDelegate,
    QStyleOptionViewItem,
    QWidget,
)

from app import theme
from app import warnings as W
from app.item_models import GROUP_ROLE, RECORD_ROLE, SCENE_START_ROLE, GroupListModel, ShotListModel
from app.session import PENDING_GROUP, GroupRecord, Session, ShotRecord
from app.thumbs import ImageCache
from app.tiles import (
    RenderBudget,
    TileCache,
    _pill,
    draw_face_icon,
    draw_flag,
    draw_stars,
    fit_rect,
    paint_tile,
)

_Index = QModelIndex | QPersistentModelIndex

# PySide6 builds its Python enums on first use; QGradient's (Preset has 180 members, ~7 ms) are
# first looked up when a brush is set in a paint.  Build them now, not in the first paint.
_ = (QGradient.Type, QGradient.Spread, QGradient.CoordinateMode, QGradient.InterpolationMode,
     QGradient.Preset)
CAPTION_H = 38
PAD = 6


class ShotDelegate(QStyledItemDelegate):
    """A thumbnail tile: image, rank/score badge, face count, warnings, best-shot mark, decision."""

    def __init__(self, cache: ImageCache, parent: Any = None):
        super().__init__(parent)
        self.cache = cache
        self.thumb = 180
        self._scaled: OrderedDict[str, tuple[int, QImage, QImage]] = OrderedDict()
        self.small = QFont()
        self.small.setPointSizeF(max(7.0, self.small.pointSizeF() * 0.8))
        self.bold = QFont(self.small)
        self.bold.setBold(True)
        self.fm_small = QFontMetrics(self.small)
        self.fm_bold = QFontMetrics(self.bold)
        self.white = QColor(255, 255, 255)
        self.shade = QColor(0, 0, 0, 165)
        self.best_fg = QColor(30, 24, 0)
        self.tiles = TileCache()
        self.budget = RenderBudget(0.005)

    def sizeHint(self, option: QStyleOptionViewItem, index: _Index) -> QSize:
        return QSize(self.thumb + 2 * PAD, self.thumb + CAPTION_H + 2 * PAD)

    def _scaled_image(self, key: str, img: QImage, target: QRectF) -> QImage:
        """The thumbnail scaled once to the tile (smooth), then blitted on every repaint."""
        w, h = max(1, round(target.width())), max(1, round(target.height()))
        hit = self._scaled.get(key)
        if hit is not None and hit[1] is img and hit[2].width() == w and hit[2].height() == h:
            self._scaled.move_to_end(key)
            return hit[2]
        scaled = img.scaled(w, h, Qt.AspectRatioMode.IgnoreAspectRatio,
                            Qt.TransformationMode.SmoothTransformation)
        self._scaled[key] = (0, img, scaled)
        while len(self._scaled) > 300:
            self._scaled.popitem(last=False)
        return scaled

    def paint(self, p: QPainter, option: QStyleOptionViewItem, index: _Index) -> None:
        s: ShotRecord | None = index.data(RECORD_ROLE)
        if s is None:
            return
        r = option.rect  # type: ignore[attr-defined]
        state = option.state  # type: ignore[attr-defined]
        selected = bool(state & QStyle.StateFlag.State_Selected)
        current = bool(state & QStyle.StateFlag.State_HasFocus)
        img: QImage | None = self.cache.get(s.key)
        err = None
        if img is None and not s.missing:
            err = self.cache.error(s.key)
            if err is None:
                self.cache.request(s.key, s.path)
        w, h = r.width(), r.height()
        dpr = p.device().devicePixelRatioF()
        m = s.decision
        scene: str | None = index.data(SCENE_START_ROLE)
        sig = (w, h, dpr, selected, current, theme.GENERATION, s.rank, s.score, s.is_best, s.status,
               s.n_faces, tuple(s.warnings), m.flag, m.stars, m.label, s.missing, err, s.key, scene)
        pal = option.palette  # type: ignore[attr-defined]
        paint_tile(p, r, dpr, self.tiles, self.budget, s.key, sig, img, QPalette.ColorRole.AlternateBase, 3, pal,
                   lambda tp, tile: self._draw(tp, tile, pal, selected, current, s, img, err, scene))

    def _draw(self, p: QPainter, tile: QRectF, pal: QPalette, selected: bool, current: bool,
              s: ShotRecord, img: QImage | None, err: str | None, scene: str | None = None) -> None:
        rect = tile.adjusted(3, 3, -3, -3)
        dark = theme.is_dark()
        p.save()
        p.setRenderHint(QPainter.RenderHint.Antialiasing)
        p.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform)
        bg = pal.color(QPalette.ColorRole.AlternateBase)
        if selected:
            bg = QColor(bg).lighter(135) if dark else QColor(bg).darker(112)
        p.setPen(Qt.PenStyle.NoPen)
        p.setBrush(bg)
        p.drawRoundedRect(rect, 6, 6)
        if s.is_best:
            p.setPen(QPen(theme.GOLD, 2))
            p.setBrush(Qt.BrushStyle.NoBrush)
            p.drawRoundedRect(rect.adjusted(1, 1, -1, -1), 6, 6)
        if selected or current:
            p.setPen(QPen(pal.color(QPalette.ColorRole.Highlight), 2.5))
            p.setBrush(Qt.BrushStyle.NoBrush)
            p.drawRoundedRect(rect.adjusted(1, 1, -1, -1), 6, 6)

        box = QRectF(rect.x() + PAD - 3, rect.y() + PAD - 3, rect.width() - 2 * PAD + 6,
                     rect.height() - CAPTION_H - 2 * PAD + 6)
        if img is not None:
            target = fit_rect(img.width(), img.height(), box)
            if s.decision.flag == "reject":
                p.setOpacity(0.35)
            p.drawImage(target.topLeft(), self._scaled_image(s.key, img, target))
            p.setOpacity(1.0)
            img_rect = target
        else:
            img_rect = fit_rect(3, 2, box)
            p.setPen(Qt.PenStyle.NoPen)
            p.setBrush(pal.color(QPalette.ColorRole.Base))
            p.drawRoundedRect(img_rect, 3, 3)
            msg = ""
            if s.missing or "no longer on disk" in (err or ""):
                msg = "File missing"
            elif err:
                msg = "Cannot read"
            if msg:
                p.setPen(theme.REJECT)
                p.setFont(self.bold)
                p.drawText(img_rect, Qt.AlignmentFlag.AlignCenter, msg)

        # badges on the image
        white, fmb = self.white, self.fm_bold
        x0, y0 = img_rect.x() + 4, img_rect.y() + 4
        if s.rank is not None:
            if s.is_best:
                text = "BEST" + (f" {s.score:.0f}" if s.score is not None else "")
                _pill(p, x0, y0, text, theme.GOLD, self.best_fg, self.bold, fm=fmb)
            else:
                text = f"#{s.rank}" + (f" · {s.score:.0f}" if s.score is not None else "")
                _pill(p, x0, y0, text, self.shade, white, self.bold, fm=fmb)
        elif s.status == "pending":
            _pill(p, x0, y0, "analysing…", self.shade, white, self.small, fm=self.fm_small)
        if s.n_faces:
            fm = fmb
            text = str(s.n_faces)
            w = fm.horizontalAdvance(text) + 24
            r = QRectF(img_rect.right() - 4 - w, y0, w, fm.height() + 2)
            p.setPen(Qt.PenStyle.NoPen)
            p.setBrush(self.shade)
            p.drawRoundedRect(r, r.height() / 2, r.height() / 2)
            draw_face_icon(p, r.x() + 5, r.y() + 2, r.height() - 4, white)
            p.setPen(white)
            p.setFont(self.bold)
            p.drawText(r.adjusted(16, 0, -4, 0), Qt.AlignmentFlag.AlignCenter, text)
        wy = img_rect.bottom() - fmb.height() - 6
        wx = img_rect.x() + 4
        for wtext in s.warnings:
            color = theme.REJECT if wtext in (W.EYES_CLOSED, W.SOFT, W.MISSING, W.UNREADABLE) else theme.WARN
            wx += _pill(p, wx, wy, W.SHORT.get(wtext, wtext), color, white, self.bold, fm=fmb) + 3
            if wx > img_rect.right() - 30:
                break

        # caption: name, decision
        cap = QRectF(rect.x() + PAD, rect.bottom() - CAPTION_H + 2, rect.width() - 2 * PAD, CAPTION_H - 6)
        fm = self.fm_small
        line1 = QRectF(cap.x(), cap.y() - 1, cap.width() - 22, fm.height() + 3)
        p.setFont(self.small)
        p.setPen(pal.color(QPalette.ColorRole.Text))
        p.drawText(line1, Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter,
                   fm.elidedText(s.name, Qt.TextElideMode.ElideMiddle, int(line1.width())))
        draw_flag(p, QPointF(cap.right() - 8, cap.y() + fm.height() / 2 + 1), 8, s.decision.flag)
        y2 = cap.y() + fm.height() + 2
        dim = pal.color(QPalette.ColorRole.PlaceholderText)
        draw_stars(p, cap.x(), y2, s.decision.stars, self.small, theme.GOLD, dim, fm)
        if s.decision.label:
            p.setPen(Qt.PenStyle.NoPen)
            p.setBrush(theme.LABEL_COLORS.get(s.decision.label, QColor(128, 128, 128)))
            p.drawRoundedRect(QRectF(cap.right() - 28, y2 + 2, 28, fm.height() - 4), 3, 3)
        if scene:  # a scene starts here (all shots): an accent bar on the left and its title
            p.setPen(Qt.PenStyle.NoPen)
            p.setBrush(theme.ACCENT)
            p.drawRoundedRect(QRectF(tile.x(), rect.y(), 3, rect.height()), 1.5, 1.5)
            tw = self.fm_bold.horizontalAdvance(scene) + 10
            pill = QRectF(rect.x() + PAD, rect.bottom() - CAPTION_H - self.fm_bold.height() - 6, tw,
                          self.fm_bold.height() + 2)
            p.drawRoundedRect(pill, 4, 4)
            p.setPen(self.white)
            p.setFont(self.bold)
            p.drawText(pill, Qt.AlignmentFlag.AlignCenter, scene)
        p.restore()


class _NextFrame:
    """Paints the tiles a budgeted paint of ``view`` left for later, on the next turn of the
    event loop (only those rectangles: the rest of the viewport is up to date)."""

    def __init__(self, view: QAbstractItemView):
        self.view = view
        self.rects: list[QRect] = []
        self.timer = QTimer(view)
        self.timer.setSingleShot(True)
        self.timer.setInterval(0)
        self.timer.timeout.connect(self._paint)

    def schedule(self, rects: list[QRect]) -> None:
        if rects:
            self.rects.extend(rects)
            self.timer.start()

    def isActive(self) -> bool:
        return self.timer.isActive()

    def _paint(self) -> None:
        rects, self.rects = self.rects, []
        vp = self.view.viewport()
        for r in rects:
            vp.update(r)


class _TileList(QListView):
    """A list view whose delegate paints cached tiles within a render budget (see
    :class:`RenderBudget`): after each paint, the tiles it left wait for the next turn."""

    delegate: ShotDelegate | GroupDelegate

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self._more = _NextFrame(self)

    def paintEvent(self, e: Any) -> None:
        self.delegate.budget.begin()
        try:
            super().paintEvent(e)
        finally:
            self._more.schedule(self.delegate.budget.end())

    def keyboardSearch(self, search: str) -> None:  # letters are culling keys, not type-ahead
        return


class ShotGrid(_TileList):
    """QListView in IconMode showing the ranked shots; repaints tiles as thumbnails arrive."""

    delegate: ShotDelegate

    def __init__(self, model: ShotListModel, cache: ImageCache, parent: QWidget | None = None):
        super().__init__(parent)
        self.cache = cache
        self.delegate = ShotDelegate(cache, self)
        self.setModel(model)
        self.setItemDelegate(self.delegate)
        self.setViewMode(QListView.ViewMode.IconMode)
        self.setResizeMode(QListView.ResizeMode.Adjust)
        self.setMovement(QListView.Movement.Static)
        self.setUniformItemSizes(True)
        # lay 2,000 tiles out a few hundred per event-loop turn: a reset never freezes the window
        self.setLayoutMode(QListView.LayoutMode.Batched)
        self.setBatchSize(150)
        self.setSpacing(2)
        self.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        self.setVerticalScrollMode(QAbstractItemView.ScrollMode.ScrollPerPixel)
        self.setMouseTracking(False)
        self.setWordWrap(False)
        self.setFrameShape(QListView.Shape.NoFrame)
        self._ready_keys: set[str] = set()
        self._ready_timer = QTimer(self)
        self._ready_timer.setSingleShot(True)
        self._ready_timer.setInterval(25)
        self._ready_timer.timeout.connect(self._repaint_ready)
        cache.ready.connect(self._on_ready)

    def shot_model(self) -> ShotListModel:
        m = self.model()
        assert isinstance(m, ShotListModel)
        return m

    def set_thumb_size(self, px: int) -> None:
        self.delegate.thumb = px
        self.setGridSize(QSize())  # let uniform sizes recompute
        self.scheduleDelayedItemsLayout()

    def _on_ready(self, key: str) -> None:
        """Thumbnails arrive one by one; repaint their tiles together a moment later."""
        self._ready_keys.add(key)
        if not self._ready_timer.isActive():
            self._ready_timer.start()

    def _repaint_ready(self) -> None:
        keys, self._ready_keys = self._ready_keys, set()
        m = self.shot_model()
        vp = self.viewport().rect()
        for key in keys:
            row = m.row_of(key)
            if row >= 0:
                r = self.visualRect(m.index(row))
                if r.intersects(vp):
                    self.viewport().update(r)


class GroupDelegate(QStyledItemDelegate):
    """A row of the groups list: the best shot's thumbnail, title, counts, problem mark."""

    H = 64

    def __init__(self, cache: ImageCache, session_getter: Any, parent: Any = None):
        super().__init__(parent)
        self.cache = cache
        self.session_getter = session_getter
        self.small = QFont()
        self.small.setPointSizeF(max(7.0, self.small.pointSizeF() * 0.85))
        self.title = QFont()
        self.title.setBold(True)
        self.tiles = TileCache(16 << 20)
        self.budget = RenderBudget(0.003)

    def sizeHint(self, option: QStyleOptionViewItem, index: _Index) -> QSize:
        return QSize(200, self.H)

    def paint(self, p: QPainter, option: QStyleOptionViewItem, index: _Index) -> None:
        g: GroupRecord | None = index.data(GROUP_ROLE)
        session: Session | None = self.session_getter()
        if g is None or session is None:
            return
        r = option.rect  # type: ignore[attr-defined]
        selected = bool(option.state & QStyle.StateFlag.State_Selected)  # type: ignore[attr-defined]
        best_key = g.best or (g.keys[0] if g.keys else None)
        img = None
        if g.id == GroupListModel.ALL:
            counts = session.counts()
            state: tuple[Any, ...] = (sum(1 for x in session.groups if x.id >= 0), counts["pick"], counts["reject"])
        else:
            img = self.cache.get(best_key) if best_key else None
            if best_key and img is None and self.cache.error(best_key) is None:
                shot = session.shots.get(best_key)
                if shot is not None:
                    self.cache.request(best_key, shot.path)
            state = session.group_counts(g) if g.id >= 0 else (0, 0)
        w, h = r.width(), r.height()
        dpr = p.device().devicePixelRatioF()
        sig = (w, h, dpr, selected, theme.GENERATION, g.title, best_key, len(g.keys), g.start_time,
               g.problem, state)
        pal = option.palette  # type: ignore[attr-defined]
        paint_tile(p, r, dpr, self.tiles, self.budget, g.id, sig, img, QPalette.ColorRole.Window, 4, pal,
                   lambda tp, tile: self._draw(tp, tile, pal, selected, g, img, state))

    def _draw(self, p: QPainter, tile: QRectF, pal: QPalette, selected: bool, g: GroupRecord,
              img: QImage | None, state: tuple[Any, ...]) -> None:
        rect = tile.adjusted(4, 2, -4, -2)
        p.save()
        p.setRenderHint(QPainter.RenderHint.Antialiasing)
        p.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform)
        if selected:
            hl = QColor(pal.color(QPalette.ColorRole.Highlight))
            hl.setAlpha(90)
            p.setPen(Qt.PenStyle.NoPen)
            p.setBrush(hl)
            p.drawRoundedRect(rect, 6, 6)
        thumb_box = QRectF(rect.x() + 4, rect.y() + 4, rect.height() - 8, rect.height() - 8)
        if g.id == GroupListModel.ALL:
            n_groups, n_picks, n_rejects = state
            p.setPen(pal.color(QPalette.ColorRole.Text))
            p.setFont(self.title)
            p.drawText(QRectF(rect.x() + 10, rect.y() + 6, rect.width() - 20, 20),
                       Qt.AlignmentFlag.AlignLeft, g.title)
            p.setFont(self.small)
            p.setPen(pal.color(QPalette.ColorRole.PlaceholderText))
            p.drawText(QRectF(rect.x() + 10, rect.y() + 28, rect.width() - 20, 30),
                       Qt.AlignmentFlag.AlignLeft,
                       f"{n_groups} scenes · {n_picks} picks · {n_rejects} rejects")
            p.restore()
            return
        p.setPen(Qt.PenStyle.NoPen)
        p.setBrush(pal.color(QPalette.ColorRole.Base))
        p.drawRoundedRect(thumb_box, 4, 4)
        if img is not None:
            # centre-crop to a square
            side = min(img.width(), img.height())
            src = QRect((img.width() - side) // 2, (img.height() - side) // 2, side, side)
            clip = QPainterPath()
            clip.addRoundedRect(thumb_box, 4, 4)
            p.setClipPath(clip)
            p.drawImage(thumb_box, img, QRectF(src))
            p.setClipping(False)
        tx = thumb_box.right() + 10
        p.setPen(pal.color(QPalette.ColorRole.Text))
        p.setFont(self.title)
        p.drawText(QRectF(tx, rect.y() + 6, rect.right() - tx - 24, 20), Qt.AlignmentFlag.AlignLeft, g.title)
        picks, undecided = state
        line = f"{len(g.keys)} shot{'' if len(g.keys) == 1 else 's'}"
        if g.start_time and g.id >= 0:
            t = g.start_time
            line += " · " + (t[11:16] if len(t) >= 16 else t)
        p.setFont(self.small)
        p.setPen(pal.color(QPalette.ColorRole.PlaceholderText))
        p.drawText(QRectF(tx, rect.y() + 26, rect.right() - tx - 4, 18), Qt.AlignmentFlag.AlignLeft, line)
        if g.id >= 0:
            status = "done" if undecided == 0 else f"{picks} picked · {undecided} to do"
            p.setPen(theme.PICK if undecided == 0 else pal.color(QPalette.ColorRole.PlaceholderText))
            p.drawText(QRectF(tx, rect.y() + 42, rect.right() - tx - 4, 18), Qt.AlignmentFlag.AlignLeft, status)
        elif g.id == PENDING_GROUP:
            p.setPen(theme.ACCENT)
            p.drawText(QRectF(tx, rect.y() + 42, rect.right() - tx - 4, 18), Qt.AlignmentFlag.AlignLeft,
                       "analysis running…")
        if g.problem:
            c = QPointF(rect.right() - 14, rect.y() + 16)
            tri = QPainterPath()
            tri.moveTo(c.x(), c.y() - 8)
            tri.lineTo(c.x() + 8, c.y() + 6)
            tri.lineTo(c.x() - 8, c.y() + 6)
            tri.closeSubpath()
            p.setPen(Qt.PenStyle.NoPen)
            p.setBrush(theme.WARN)
            p.drawPath(tri)
            p.setPen(QColor(0, 0, 0))
            p.setFont(self.title)
            p.drawText(QRectF(c.x() - 8, c.y() - 6, 16, 13), Qt.AlignmentFlag.AlignCenter, "!")
        p.restore()


class GroupList(_TileList):
    def __init__(self, model: GroupListModel, delegate: GroupDelegate, parent: QWidget | None = None):
        super().__init__(parent)
        self.setModel(model)
        self.setItemDelegate(delegate)
        self.setUniformItemSizes(True)
        self.setFrameShape(QListView.Shape.NoFrame)
        self.setVerticalScrollMode(QAbstractItemView.ScrollMode.ScrollPerPixel)
        self.setFocusPolicy(Qt.FocusPolicy.ClickFocus)
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.setInterval(60)
        self._timer.timeout.connect(self.viewport().update)
        delegate.cache.ready.connect(lambda _k: self._timer.isActive() or self._timer.start())
        self.delegate = delegate
