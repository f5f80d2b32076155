""""Explain the rank": each quality member's contribution to a shot's score, drawn with QPainter.

The engine's fusion is a weighted geometric mean of member qualities::

    score = 100 * exp(sum_i w_i * ln q_i / sum_i w_i)

so in log space every member adds ``c_i = w_i * ln q_i / W`` (zero when the member is perfect,
negative otherwise) and the score is ``100 * exp(sum c_i)``.  The chart shows ``-c_i`` as a bar
per member, labelled with the points the shot would gain if that member were perfect, and
marks the same member's bar for the best shot of the group for comparison.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from PySide6.QtCore import QPointF, QRectF, QSize, Qt
from PySide6.QtGui import QColor, QFont, QFontMetrics, QPainter, QPaintEvent, QPalette, QPen
from PySide6.QtWidgets import QSizePolicy, QWidget

from app import theme


@dataclass
class Contribution:
    member: str
    quality: float
    weight: float
    log_c: float  # w ln q / W  (<= 0)
    gain: float  # points gained if this member were perfect


def member_weights(names: list[str]) -> dict[str, float]:
    """Fusion weights for ``names`` from the engine's member specs; a member that is no longer
    installed (a removed pack) gets weight 1.0."""
    from engine.quality.registry import available_members, member_specs

    known = set(available_members())
    specs = member_specs([n for n in names if n in known])
    return {n: specs[n].weight if n in specs else 1.0 for n in names}


def _rows(record: dict[str, dict[str, float]]) -> tuple[float, list[Contribution]]:
    rows = []
    for m, d in record.items():
        try:
            q, w, c = float(d["quality"]), float(d["weight"]), float(d["contribution"])
        except (KeyError, TypeError, ValueError):
            continue
        if math.isfinite(c):
            rows.append((m, q, w, c))
    if not rows:
        return 0.0, []
    total = sum(c for *_x, c in rows)
    score = 100.0 * math.exp(total)
    out = [Contribution(m, q, w, c, 100.0 * math.exp(total - c) - score) for m, q, w, c in rows]
    out.sort(key=lambda c: c.log_c)
    return score, out


def contributions(scores: dict[str, tuple[float, float]],
                  weights: dict[str, float] | None = None) -> tuple[float, list[Contribution]]:
    """(fused score 0..100, contributions sorted by cost, largest first) of one shot's raw
    member scores, through the engine's fusion (``engine.quality.fusion.rank_group`` on a
    group of one: no group comparison)."""
    from engine.quality.base import MemberSpec
    from engine.quality.fusion import rank_group

    items = {m: (float(v), float(q)) for m, (v, q) in scores.items() if q is not None and math.isfinite(q)}
    if not items:
        return 0.0, []
    weights = weights or member_weights(list(items))
    specs = {m: MemberSpec(m, max(float(weights.get(m, 1.0)), 0.0)) for m in items}
    ranking = rank_group([items], specs)
    return _rows(ranking.explain[0])


def from_explain(explain: dict[str, dict[str, float]]) -> tuple[float, list[Contribution]]:
    """(score, contributions) from the engine's own record of a rank (``shots.explain``): the
    effective qualities after the group comparison, the weights and the log contributions."""
    return _rows(explain)


def pretty_member(name: str) -> str:
    base = name.split(":", 1)[-1]
    return base.replace("_", " ")


class RankChart(QWidget):
    """Horizontal bars: how much each member pulls the score down (longer = costs more)."""

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Minimum)
        self.score: float | None = None
        self.stored_score: float | None = None
        self.items: list[Contribution] = []
        self.best: dict[str, Contribution] = {}
        self.rank_text = ""
        self.font_small = QFont()
        self.font_small.setPointSizeF(max(7.0, self.font_small.pointSizeF() * 0.85))
        self.font_bold = QFont(self.font_small)
        self.font_bold.setBold(True)

    def set_data(self, scores: dict[str, tuple[float, float]], best_scores: dict[str, tuple[float, float]] | None,
                 stored_score: float | None, rank_text: str = "",
                 explain: dict[str, dict[str, float]] | None = None,
                 best_explain: dict[str, dict[str, float]] | None = None) -> None:
        """Prefer the engine's record of the rank (``explain``); else decompose the raw member
        scores with the fusion weights (before the group comparison)."""
        self.best = {}
        if explain:
            self.score, self.items = from_explain(explain)
            if best_explain:
                self.best = {c.member: c for c in from_explain(best_explain)[1]}
        else:
            names = list(scores) + [m for m in (best_scores or {}) if m not in scores]
            weights = member_weights(names)
            self.score, self.items = contributions(scores, weights) if scores else (None, [])
            if best_scores:
                _s, best = contributions(best_scores, weights)
                self.best = {c.member: c for c in best}
        self.stored_score = stored_score
        self.rank_text = rank_text
        self.updateGeometry()
        self.update()

    def row_h(self) -> int:
        return QFontMetrics(self.font_small).height() + 8

    def sizeHint(self) -> QSize:
        return QSize(280, 44 + max(1, len(self.items)) * self.row_h() + 18)

    def minimumSizeHint(self) -> QSize:
        return self.sizeHint()

    def paintEvent(self, event: QPaintEvent) -> None:
        p = QPainter(self)
        p.setRenderHint(QPainter.RenderHint.Antialiasing)
        pal = self.palette()
        text = pal.color(QPalette.ColorRole.WindowText)
        dim = pal.color(QPalette.ColorRole.PlaceholderText)
        w = self.width()
        p.setFont(self.font_bold)
        p.setPen(text)
        if not self.items:
            p.setFont(self.font_small)
            p.setPen(dim)
            p.drawText(QRectF(0, 0, w, 40), Qt.AlignmentFlag.AlignLeft | Qt.TextFlag.TextWordWrap,
                       "No scores yet: the shot has not been analysed.")
            p.end()
            return
        head = f"Score {self.score:.0f}" if self.score is not None else "Score –"
        if self.rank_text:
            head += f"  ·  {self.rank_text}"
        p.drawText(QRectF(0, 0, w, 18), Qt.AlignmentFlag.AlignLeft, head)
        p.setFont(self.font_small)
        p.setPen(dim)
        p.drawText(QRectF(0, 18, w, 18), Qt.AlignmentFlag.AlignLeft,
                   "= 100·exp(Σ wᵢ ln qᵢ / Σ w)   bar: points lost to each member")
        label_w = min(130.0, w * 0.38)
        value_w = 44.0
        bar_x = label_w + 6
        bar_w = max(30.0, w - bar_x - value_w - 6)
        max_cost = max([-c.log_c for c in self.items] + [-c.log_c for c in self.best.values()] + [0.05])
        y = 40.0
        rh = self.row_h()
        fm = QFontMetrics(self.font_small)
        for c in self.items:
            p.setPen(text)
            p.drawText(QRectF(0, y, label_w, rh), Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter,
                       fm.elidedText(pretty_member(c.member), Qt.TextElideMode.ElideRight, int(label_w)))
            track = QRectF(bar_x, y + 3, bar_w, rh - 6)
            p.setPen(Qt.PenStyle.NoPen)
            p.setBrush(pal.color(QPalette.ColorRole.AlternateBase))
            p.drawRoundedRect(track, 3, 3)
            frac = min(1.0, -c.log_c / max_cost)
            color = QColor(theme.PICK)
            if c.quality < 0.5:
                color = QColor(theme.REJECT)
            elif c.quality < 0.75:
                color = QColor(theme.WARN)
            p.setBrush(color)
            if frac > 0:
                p.drawRoundedRect(QRectF(bar_x, y + 3, max(2.0, bar_w * frac), rh - 6), 3, 3)
            b = self.best.get(c.member)
            if b is not None:
                bx = bar_x + bar_w * min(1.0, -b.log_c / max_cost)
                p.setPen(QPen(theme.GOLD, 2))
                p.drawLine(QPointF(bx, y + 1), QPointF(bx, y + rh - 1))
            p.setPen(text)
            p.drawText(QRectF(bar_x + bar_w + 4, y, value_w, rh), Qt.AlignmentFlag.AlignRight
                       | Qt.AlignmentFlag.AlignVCenter, f"−{c.gain:.0f}" if c.gain >= 0.5 else "0")
            y += rh
        if self.best:
            p.setPen(QPen(theme.GOLD, 2))
            p.drawLine(QPointF(0, y + 8), QPointF(10, y + 8))
            p.setPen(dim)
            p.drawText(QRectF(14, y, w - 14, 16), Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter,
                       "best shot of the group; q = member quality 0–1")
        p.end()

    def tooltip_text(self) -> str:
        lines = []
        for c in self.items:
            lines.append(f"{c.member}: quality {c.quality:.2f}, weight {c.weight:g}, "
                         f"log contribution {c.log_c:+.3f}, +{c.gain:.1f} points if perfect")
        return "\n".join(lines)
