"""The right-hand panel: the selected shot's facts, its decision, its faces and why it ranked so."""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import QRectF, QSize, Qt, Signal
from PySide6.QtGui import QColor, QFont, QMouseEvent, QPainter, QPaintEvent, QPalette, QPixmap
from PySide6.QtWidgets import (
    QFrame,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QScrollArea,
    QSizePolicy,
    QVBoxLayout,
    QWidget,
)

from app import theme
from app import warnings as W
from app.explain import RankChart
from app.facecosts import FaceCost, costs_by_face, face_costs
from app.imaging import qimage_from_jpeg
from app.session import ShotRecord
from app.taste import TasteChart

SIGNAL_ROWS = [
    ("eyes_open", "Eyes open", "{:.0%}"),
    ("eye_sharpness", "Eye sharpness", "{:.3g}"),
    ("face_exposure", "Exposure", "{:.2f}"),
    ("face_size", "Face size", "{:.0%}"),
    ("yaw", "Yaw", "{:+.0f}°"),
    ("pitch", "Pitch", "{:+.0f}°"),
]


class FaceCard(QFrame):
    """One face crop with its own signals; click to see it at 100% in the loupe.  Cards are
    built once and refilled with :meth:`set_face` as the selection moves (building widgets on
    every step cost more than showing the shot)."""

    clicked = Signal(int)

    def __init__(self, idx: int, face: dict[str, Any] | None = None, parent: QWidget | None = None):
        super().__init__(parent)
        self.idx = idx
        self.setFrameShape(QFrame.Shape.StyledPanel)
        self.setCursor(Qt.CursorShape.PointingHandCursor)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(4, 4, 4, 4)
        lay.setSpacing(2)
        self.pic = QLabel()
        self.pic.setFixedSize(96, 96)
        self.pic.setAlignment(Qt.AlignmentFlag.AlignCenter)
        lay.addWidget(self.pic, 0, Qt.AlignmentFlag.AlignHCenter)
        f = QFont()
        f.setPointSizeF(max(7.0, f.pointSizeF() * 0.8))
        grid = QGridLayout()
        grid.setContentsMargins(2, 0, 2, 0)
        grid.setHorizontalSpacing(6)
        grid.setVerticalSpacing(0)
        self.rows: dict[str, tuple[QLabel, QLabel]] = {}
        for row, (k, label, _fmt) in enumerate(SIGNAL_ROWS):
            name, val = QLabel(label), QLabel()
            for w in (name, val):
                w.setFont(f)
            val.setAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
            grid.addWidget(name, row, 0)
            grid.addWidget(val, row, 1)
            self.rows[k] = (name, val)
        lay.addLayout(grid)
        self.cost = QLabel()  # what this face cost the shot (from the engine's record of the rank)
        self.cost.setFont(f)
        self.cost.setWordWrap(True)
        self.cost.setStyleSheet("color: #e5484d; font-weight: bold;")
        lay.addWidget(self.cost)
        self.setFixedWidth(132)
        if face is not None:
            self.set_face(face)

    def set_face(self, face: dict[str, Any], costs: list[FaceCost] | None = None,
                 eyes_closed: bool | None = None) -> None:
        """``eyes_closed``: the engine's per-person judgement of this face's eyes (None: not
        judged; then a fixed threshold on the eye-state signal marks them)."""
        costs = costs or []
        self.cost.setText("\n".join(f"{c.what} −{c.points:.0f}" for c in costs))
        self.cost.setVisible(bool(costs))
        img = qimage_from_jpeg(face.get("crop"))
        if not img.isNull():
            self.pic.setPixmap(QPixmap.fromImage(img).scaled(96, 96, Qt.AspectRatioMode.KeepAspectRatio,
                                                             Qt.TransformationMode.SmoothTransformation))
        else:
            self.pic.setPixmap(QPixmap())
            self.pic.setText("no crop")
        sig = face.get("signals") or {}
        for k, _label, fmt in SIGNAL_ROWS:
            name, val = self.rows[k]
            try:
                x: float | None = float(sig[k]) if sig.get(k) is not None else None
            except (TypeError, ValueError):
                x = None
            name.setVisible(x is not None)
            val.setVisible(x is not None)
            if x is not None:
                val.setText(fmt.format(x))
                closed = k == "eyes_open" and (x < 0.35 if eyes_closed is None else eyes_closed)
                val.setStyleSheet("color: #e5484d; font-weight: bold;" if closed else "")
        self.setToolTip("\n".join([c.text() for c in costs] + [f"{k}: {v}" for k, v in sorted(sig.items())]))

    def mousePressEvent(self, event: QMouseEvent) -> None:
        self.clicked.emit(self.idx)


class StarsLabel(QWidget):
    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.stars = 0
        self.label: str | None = None
        self.setFixedHeight(20)
        self.setMinimumWidth(130)

    def set_value(self, stars: int, label: str | None) -> None:
        self.stars, self.label = stars, label
        self.update()

    def paintEvent(self, event: QPaintEvent) -> None:
        p = QPainter(self)
        p.setRenderHint(QPainter.RenderHint.Antialiasing)
        f = QFont()
        f.setPointSizeF(f.pointSizeF() * 1.15)
        p.setFont(f)
        dim = self.palette().color(QPalette.ColorRole.PlaceholderText)
        x = 0.0
        for i in range(5):
            p.setPen(theme.GOLD if i < self.stars else dim)
            p.drawText(QRectF(x, 0, 18, 20), Qt.AlignmentFlag.AlignCenter, "★" if i < self.stars else "☆")
            x += 18
        if self.label:
            p.setPen(Qt.PenStyle.NoPen)
            p.setBrush(theme.LABEL_COLORS.get(self.label, QColor(128, 128, 128)))
            p.drawRoundedRect(QRectF(x + 8, 4, 34, 12), 3, 3)
        p.end()


def _section(title: str) -> QLabel:
    lab = QLabel(title.upper())
    f = QFont()
    f.setBold(True)
    f.setPointSizeF(max(7.0, f.pointSizeF() * 0.8))
    f.setLetterSpacing(QFont.SpacingType.PercentageSpacing, 108)
    lab.setFont(f)
    lab.setStyleSheet("color: palette(placeholder-text); padding-top: 8px;")
    return lab


class Inspector(QWidget):
    decide = Signal(str)  # "pick" / "reject" / "unflag"
    face_clicked = Signal(int)

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        outer = QVBoxLayout(self)
        outer.setContentsMargins(0, 0, 0, 0)
        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setFrameShape(QFrame.Shape.NoFrame)
        outer.addWidget(scroll)
        body = QWidget()
        scroll.setWidget(body)
        lay = QVBoxLayout(body)
        lay.setContentsMargins(12, 8, 12, 12)
        lay.setSpacing(4)
        self.title = QLabel("No shot selected")
        f = QFont()
        f.setBold(True)
        f.setPointSizeF(f.pointSizeF() * 1.15)
        self.title.setFont(f)
        self.title.setWordWrap(True)
        lay.addWidget(self.title)
        self.facts = QLabel("")
        self.facts.setWordWrap(True)
        self.facts.setTextFormat(Qt.TextFormat.RichText)
        lay.addWidget(self.facts)
        outer_lay = lay
        self.details = QWidget()  # hidden while no shot is selected
        lay = QVBoxLayout(self.details)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.setSpacing(4)
        outer_lay.addWidget(self.details)

        lay.addWidget(_section("Decision"))
        row = QHBoxLayout()
        self.btn_pick = QPushButton("Pick  P")
        self.btn_reject = QPushButton("Reject  X")
        self.btn_unflag = QPushButton("Unflag  U")
        for b, what in ((self.btn_pick, "pick"), (self.btn_reject, "reject"), (self.btn_unflag, "unflag")):
            b.setCheckable(what != "unflag")
            b.setFocusPolicy(Qt.FocusPolicy.NoFocus)
            b.clicked.connect(lambda _=False, w=what: self.decide.emit(w))
            row.addWidget(b)
        lay.addLayout(row)
        self.stars = StarsLabel()
        lay.addWidget(self.stars)

        lay.addWidget(_section("Faces"))
        self.faces_area = QScrollArea()
        self.faces_area.setWidgetResizable(True)
        self.faces_area.setFrameShape(QFrame.Shape.NoFrame)
        self.faces_area.setVerticalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.faces_area.setFixedHeight(236)
        self.faces_host = QWidget()
        self.faces_lay = QHBoxLayout(self.faces_host)
        self.faces_lay.setContentsMargins(0, 0, 0, 0)
        self.faces_lay.setSpacing(6)
        self.faces_lay.addStretch(1)
        self.faces_area.setWidget(self.faces_host)
        lay.addWidget(self.faces_area)
        self.no_faces = QLabel("No face found.")
        self.no_faces.setStyleSheet("color: palette(placeholder-text);")
        lay.addWidget(self.no_faces)

        lay.addWidget(_section("Why this rank"))
        self.costs = QLabel()  # "face 2: eyes closed (−18 points)": the faces that cost the rank
        self.costs.setWordWrap(True)
        self.costs.setStyleSheet("color: #e5484d;")
        lay.addWidget(self.costs)
        self.face_costs: list[FaceCost] = []
        self._eyes: dict[int, bool] | None = None  # face -> eyes closed, as the engine judged them
        self.chart = RankChart()
        lay.addWidget(self.chart)
        self.taste_title = _section("Your taste")
        self.taste_chart = TasteChart()  # the learned part of the rank, when a taste profile is on
        lay.addWidget(self.taste_title)
        lay.addWidget(self.taste_chart)
        self.set_taste(None)
        outer_lay.addStretch(1)
        # never narrower than the explanation chart (its values would be cut off)
        scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.scroll_area = scroll
        self.setMinimumWidth(max(300, self.chart.minimumSizeHint().width() + 24
                                 + scroll.verticalScrollBar().sizeHint().width() + 4))
        self.setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Expanding)
        self.face_cards: list[FaceCard] = []  # the cards showing the current shot's faces
        self._card_pool: list[FaceCard] = []
        self.show_shot(None)

    def sizeHint(self) -> QSize:
        return QSize(340, 600)

    def show_shot(self, s: ShotRecord | None, group_title: str = "", group_size: int = 0,
                  faces: list[dict[str, Any]] | None = None,
                  scores: dict[str, tuple[float, float]] | None = None,
                  best_scores: dict[str, tuple[float, float]] | None = None,
                  explain: dict[str, Any] | None = None, best_explain: dict[str, Any] | None = None) -> None:
        self.details.setVisible(s is not None)
        if s is None:
            self.title.setText("No shot selected")
            self.facts.setText("")
            self.set_mark(None, 0, None)
            self._set_costs([])
            self._eyes = None
            self._set_faces([])
            self.chart.set_data({}, None, None)
            self.set_taste(None)
            return
        self.title.setText(s.name)
        parts = []
        if s.rank is not None and group_title:
            parts.append(f"{group_title} · rank <b>{s.rank}</b> of {group_size}")
        if s.score is not None:
            parts.append(f"score <b>{s.score:.0f}</b>" + (" · <span style='color:#f4b626'>best of group</span>"
                                                           if s.is_best else ""))
        if s.suggested:
            parts.append(f"suggestion: {s.suggested}")
        if s.capture_time:
            parts.append(s.capture_time.replace("T", " ")[:19])
        if s.raw_path is not None:
            parts.append(f"RAW: {s.raw_path.name}")
        if s.preview is not None:
            size = f" {s.preview_size[0]}×{s.preview_size[1]}" if s.preview_size else ""
            parts.append(f"analysed from the embedded preview{size} ({s.preview})")
        if s.status == "pending":
            parts.append("<i>analysis pending</i>")
        if s.reason:
            parts.append(f"<span style='color:#e5484d'>{s.reason}</span>")
        if s.warnings:
            parts.append("<span style='color:#f58220'>⚠ " + ", ".join(s.warnings) + "</span>")
        self.facts.setText("<br>".join(parts))
        self.set_mark(s.decision.flag, s.decision.stars, s.decision.label)
        # against the scene's best shot (the best against itself: nothing cost it its rank)
        self._set_costs(face_costs(explain, explain if s.is_best else best_explain) if explain else [])
        self._eyes = W.eyes_verdicts(explain)
        self._set_faces(faces or [])
        if not faces:
            self.no_faces.setText("Faces: pending (not analysed yet)" if s.status == "pending"
                                  else "No face found.")
        rank_text = f"rank {s.rank} of {group_size}" if s.rank is not None else ""
        self.chart.set_data(scores or {}, best_scores if not s.is_best else None, s.score, rank_text,
                            explain, best_explain if not s.is_best else None)
        self.chart.setToolTip(self.chart.tooltip_text())

    def set_taste(self, contributions: dict[str, float] | None, head: str = "",
                  weights: dict[str, float] | None = None) -> None:
        """The learned adjustments of the shot's score (None: no taste profile is on)."""
        on = contributions is not None
        self.taste_title.setVisible(on)
        self.taste_chart.setVisible(on)
        if on:
            self.taste_chart.set_data(contributions, head, weights)

    def set_mark(self, flag: str | None, stars: int, label: str | None) -> None:
        self.btn_pick.setChecked(flag == "pick")
        self.btn_reject.setChecked(flag == "reject")
        self.stars.set_value(stars, label)

    def _set_costs(self, costs: list[FaceCost]) -> None:
        self.face_costs = costs
        self.costs.setText("<br>".join(c.text() for c in costs))
        self.costs.setVisible(bool(costs))

    def _set_faces(self, faces: list[dict[str, Any]]) -> None:
        faces = faces[:12]
        by_face = costs_by_face(self.face_costs)
        while len(self._card_pool) < len(faces):  # cards are made once, then reused
            card = FaceCard(len(self._card_pool))
            card.clicked.connect(self.face_clicked.emit)
            self.faces_lay.insertWidget(card.idx, card)
            self._card_pool.append(card)
        for k, (card, face) in enumerate(zip(self._card_pool, faces)):
            card.set_face(face, by_face.get(k), (self._eyes or {}).get(k))
            card.show()
        for card in self._card_pool[len(faces):]:
            card.hide()
        self.face_cards = self._card_pool[: len(faces)]
        self.faces_area.setVisible(bool(faces))
        self.no_faces.setVisible(not faces)
