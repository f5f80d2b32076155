"""Face-by-face review: the same face across every frame of a burst, side by side, with its
eyes-open and eye-sharpness per frame: the fastest way to find the frame where everyone in a
group has open, sharp eyes.

Faces are matched across frames by position (a burst barely moves): each face of the frame
with the most faces is followed into every other frame by the nearest face centre, at most
one face width away, one-to-one.

Open or closed is the engine's judgement when the rank's record has it (each person against
their own frames, :func:`app.warnings.eyes_judged`, as the EYES badge): a squint held through
the burst is not "closed"; for older catalogs, a fixed threshold on the eye-state signal.
"""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import QSize, Qt, Signal
from PySide6.QtGui import QFont, QMouseEvent, QPixmap
from PySide6.QtWidgets import QFrame, QGridLayout, QLabel, QScrollArea, QVBoxLayout, QWidget

from app.imaging import qimage_from_jpeg

EYES_OPEN = 0.5  # eyes_open at or above: open
Box = tuple[float, float, float, float]


def match_faces(frames: list[list[Box]]) -> list[list[int | None]]:
    """Tracks: for each face of the reference frame (the one with most faces), its index in
    every frame (None where it is not found)."""
    if not frames or not any(frames):
        return []
    ref = max(range(len(frames)), key=lambda i: (len(frames[i]), -i))
    tracks: list[list[int | None]] = [[None] * len(frames) for _ in frames[ref]]
    for fi, boxes in enumerate(frames):
        pairs = []
        for ti, (rx, ry, rw, rh) in enumerate(frames[ref]):
            cx, cy = rx + rw / 2, ry + rh / 2
            for bi, (x, y, w, h) in enumerate(boxes):
                d = ((x + w / 2 - cx) ** 2 + (y + h / 2 - cy) ** 2) ** 0.5 / max(rw, 1e-6)
                if d <= 1.0:
                    pairs.append((d, ti, bi))
        used_t: set[int] = set()
        used_b: set[int] = set()
        for _d, ti, bi in sorted(pairs):
            if ti not in used_t and bi not in used_b:
                tracks[ti][fi] = bi
                used_t.add(ti)
                used_b.add(bi)
    # people from left to right
    order = sorted(range(len(tracks)), key=lambda t: frames[ref][t][0])
    return [tracks[t] for t in order]


Verdicts = list[dict[int, bool] | None]  # per frame: face -> eyes closed, as the engine judged


def eyes_closed(faces: list[list[dict[str, Any]]], verdicts: Verdicts | None, fi: int, bi: int) -> bool | None:
    """Face ``bi`` of frame ``fi``: eyes closed?  The engine's per-person judgement of that
    face (``verdicts[fi]``, :func:`app.warnings.eyes_verdicts`) when it judged it, else the
    threshold; None when the eyes were not read at all."""
    v = verdicts[fi] if verdicts is not None and fi < len(verdicts) else None
    if v is not None and bi in v:
        return v[bi]
    eo = (faces[fi][bi].get("signals") or {}).get("eyes_open")
    return None if eo is None else float(eo) < EYES_OPEN


def best_frames(tracks: list[list[int | None]], faces: list[list[dict[str, Any]]],
                flagged: Verdicts | None = None) -> list[int | None]:
    """Per track, the frame whose face has open eyes and the sharpest eyes."""
    out: list[int | None] = []
    for tr in tracks:
        best, best_v = None, -1.0
        for fi, bi in enumerate(tr):
            if bi is None:
                continue
            sig = faces[fi][bi].get("signals") or {}
            if eyes_closed(faces, flagged, fi, bi):
                continue
            v = float(sig.get("eye_sharpness", 0.0) or 0.0)
            if v > best_v:
                best, best_v = fi, v
        out.append(best)
    return out


class FaceCell(QFrame):
    clicked = Signal()

    def __init__(self, face: dict[str, Any] | None, best: bool, parent: QWidget | None = None,
                 closed: bool | None = None):
        super().__init__(parent)
        self.setFrameShape(QFrame.Shape.StyledPanel)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(3, 3, 3, 3)
        lay.setSpacing(1)
        self.image = QLabel()
        self.image.setFixedSize(QSize(96, 96))
        self.image.setAlignment(Qt.AlignmentFlag.AlignCenter)
        lay.addWidget(self.image)
        self.eyes = QLabel()
        self.sharp = QLabel()
        small = QFont()
        small.setPointSizeF(max(7.0, small.pointSizeF() * 0.85))
        for lab in (self.eyes, self.sharp):
            lab.setFont(small)
            lay.addWidget(lab)
        self.face = face
        self.open_eyes: bool | None = None
        if face is None:
            self.image.setText("–")
            self.eyes.setText("not found")
            return
        img = qimage_from_jpeg(face.get("crop"))
        if not img.isNull():
            self.image.setPixmap(QPixmap.fromImage(img.scaled(96, 96, Qt.AspectRatioMode.KeepAspectRatio,
                                                              Qt.TransformationMode.SmoothTransformation)))
        sig = face.get("signals") or {}
        eo, es = sig.get("eyes_open"), sig.get("eye_sharpness")
        if eo is not None:
            self.open_eyes = float(eo) >= EYES_OPEN if closed is None else not closed
            color = "#3fb950" if self.open_eyes else "#e5484d"
            self.eyes.setText(f"<span style='color:{color}'>eyes {'open' if self.open_eyes else 'closed'} "
                              f"{float(eo) * 100:.0f}%</span>")
        self.sharp.setText(f"eye sharpness {float(es):.3g}" if es is not None else "")
        if best:
            self.setStyleSheet("FaceCell { border: 2px solid #f4b626; border-radius: 4px; }")

    def mousePressEvent(self, event: QMouseEvent) -> None:
        self.clicked.emit()
        super().mousePressEvent(event)


class FaceReview(QWidget):
    """Rows: the people of the scene; columns: its frames (in the grid's order)."""

    frame_clicked = Signal(str)

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        outer = QVBoxLayout(self)
        outer.setContentsMargins(6, 6, 6, 6)
        self.title = QLabel("")
        outer.addWidget(self.title)
        self.scroll_area = QScrollArea()
        self.scroll_area.setWidgetResizable(True)
        outer.addWidget(self.scroll_area, 1)
        self.keys: list[str] = []
        self.tracks: list[list[int | None]] = []
        self.cells: list[list[FaceCell]] = []
        self.headers: list[QLabel] = []
        self.all_open: list[bool] = []  # per frame: every face found has open eyes
        self.current: str | None = None

    def set_scene(self, title: str, keys: list[str], names: list[str], faces: list[list[dict[str, Any]]],
                  flagged: Verdicts | None = None) -> None:
        """``flagged``: per frame, the engine's verdict on each face's eyes (None: not judged)."""
        self.keys = keys
        boxes = [[(float(f["x"]), float(f["y"]), float(f["w"]), float(f["h"])) for f in fs] for fs in faces]
        self.tracks = match_faces(boxes)
        best = best_frames(self.tracks, faces, flagged)
        body = QWidget()
        grid = QGridLayout(body)
        grid.setSpacing(4)
        self.headers, self.cells, self.all_open = [], [], []
        for fi, name in enumerate(names):
            found = [bi for bi in (tr[fi] for tr in self.tracks) if bi is not None]
            ok = bool(found) and not any(eyes_closed(faces, flagged, fi, bi) for bi in found) \
                and all(tr[fi] is not None for tr in self.tracks)
            self.all_open.append(ok)
            h = QLabel(("✓ " if ok else "") + name)
            h.setToolTip("Every face found with its eyes open" if ok else "")
            h.setAlignment(Qt.AlignmentFlag.AlignCenter)
            grid.addWidget(h, 0, fi + 1)
            self.headers.append(h)
        for ti, tr in enumerate(self.tracks):
            grid.addWidget(QLabel(f"Face {ti + 1}"), ti + 1, 0)
            row = []
            for fi, bi in enumerate(tr):
                cell = FaceCell(faces[fi][bi] if bi is not None else None, best[ti] == fi,
                                closed=eyes_closed(faces, flagged, fi, bi) if bi is not None else None)
                cell.clicked.connect(lambda k=keys[fi]: self.frame_clicked.emit(k))
                grid.addWidget(cell, ti + 1, fi + 1)
                row.append(cell)
            self.cells.append(row)
        grid.setRowStretch(len(self.tracks) + 1, 1)
        grid.setColumnStretch(len(names) + 1, 1)
        self.scroll_area.setWidget(body)
        n_ok = sum(self.all_open)
        self.title.setText(f"{title}: {len(self.tracks)} face{'' if len(self.tracks) == 1 else 's'} across "
                           f"{len(keys)} frames · ✓ {n_ok} frame{'' if n_ok == 1 else 's'} with every face's "
                           "eyes open · gold: the sharpest open eyes of each face"
                           if self.tracks else f"{title}: no face found in this scene")
        self.set_current(self.current)

    def set_current(self, key: str | None) -> None:
        self.current = key
        for fi, h in enumerate(self.headers):
            on = fi < len(self.keys) and self.keys[fi] == key
            f = h.font()
            f.setBold(on)
            h.setFont(f)
            h.setStyleSheet("background: palette(highlight); color: palette(highlighted-text);" if on else "")
        if key in self.keys:
            fi = self.keys.index(key)
            if self.cells and fi < len(self.cells[0]):
                self.scroll_area.ensureWidgetVisible(self.cells[0][fi])
