"""The status bar: counts, the analysis progress with its ETA and Cancel, the catalog's place."""

from __future__ import annotations

from typing import TYPE_CHECKING

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QLabel, QProgressBar, QPushButton, QSizePolicy

from app.analysis import Progress
from app.session import Session

if TYPE_CHECKING:
    from app.window import MainWindow


def fmt_eta(s: float | None) -> str:
    if s is None:
        return ""
    s = int(round(s))
    if s < 60:
        return f"about {s} s left"
    m, s = divmod(s, 60)
    if m < 60:
        return f"about {m} min {s:02d} s left"
    h, m = divmod(m, 60)
    return f"about {h} h {m:02d} min left"


def plural(n: int, word: str, many: str | None = None) -> str:
    return f"{n} {word if n == 1 else (many or word + 's')}"


class StatusArea:
    def __init__(self, win: MainWindow):
        self.w = win
        sb = win.statusBar()
        self.counts = QLabel("")
        # long texts are cut, never widen the window (a 1024-px screen keeps its layout)
        self.counts.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self.counts.setMinimumWidth(120)
        sb.addWidget(self.counts, 1)
        self.progress_label = QLabel("")
        self.progress = QProgressBar()
        self.progress.setFixedWidth(220)
        self.progress.setTextVisible(True)
        self.eta = QLabel("")
        self.cancel = QPushButton("Cancel")
        self.cancel.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self.cancel.clicked.connect(self._cancel)
        for item in (self.progress_label, self.progress, self.eta, self.cancel):
            sb.addPermanentWidget(item)
        self.auto = QLabel("")  # the auto-advance state, always in sight
        self.auto.setToolTip("After a decision, move to the next shot (Ctrl+Shift+A)")
        sb.addPermanentWidget(self.auto)
        self.taste = QLabel("")  # "ranked by your taste (learned from N decisions)"
        self.taste.setToolTip("This session was ranked by the taste learned from your decisions "
                              "(Settings › Rank by my taste turns it off)")
        self.taste.setStyleSheet("color: palette(highlight);")
        self.taste.setVisible(False)
        sb.addPermanentWidget(self.taste)
        self.catalog = QLabel("")  # where the decisions are saved
        self.catalog.setMaximumWidth(280)
        self.catalog.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        sb.addPermanentWidget(self.catalog)
        self.set_progress_visible(False)

    def set_catalog(self, session: Session | None) -> None:
        if session is None:
            self.catalog.setText("")
            self.catalog.setToolTip("")
            return
        p = session.catalog_path
        where = "beside the folder" if not session.fallback else "in your data folder (the folder's parent is read-only)"
        self.catalog.setText(("⚠ " if session.fallback else "") + f"Catalog: {p.name}")
        self.catalog.setToolTip(f"Decisions are saved in {p}\n({where})")
        self.catalog.setStyleSheet("color: #f58220;" if session.fallback else "color: palette(placeholder-text);")

    def set_taste(self, text: str | None) -> None:
        """Which ranking the session shows: the taste's words, or nothing for the default one."""
        self.taste.setText(text or "")
        self.taste.setVisible(bool(text))

    def _cancel(self) -> None:
        self.w.ctl.cancel_analysis()
        self.progress_label.setText("Cancelling…")

    def set_progress_visible(self, on: bool) -> None:
        for w in (self.progress_label, self.progress, self.eta, self.cancel):
            w.setVisible(on)

    def analysis_started(self) -> None:
        self.set_progress_visible(True)
        self.progress.setRange(0, 0)
        self.progress_label.setText("Scanning…")
        self.eta.setText("")

    def analysis_ended(self) -> None:
        self.set_progress_visible(False)

    def show_progress(self, p: Progress) -> None:
        if p.phase == "scan":
            self.progress_label.setText("Scanning…")
            self.progress.setRange(0, 0)
        elif p.phase == "analyse":
            self.progress_label.setText("Analysing")
            self.progress.setRange(0, max(1, p.total))
            self.progress.setValue(p.done)
            self.progress.setFormat(f"{p.done} / {p.total}")
            self.eta.setText(fmt_eta(p.eta_s))
        elif p.phase == "group":
            self.progress_label.setText("Grouping scenes and ranking…")
            self.progress.setRange(0, 0)
            self.eta.setText("")

    def update_counts(self, session: Session | None, shown: list[str] | None = None) -> None:
        """Counts of what the grid shows (its scene and filter), and of the session when that
        is less than all of it."""
        if session is None:
            self.counts.setText("")
            return
        total = len(session.shots)
        keys = list(session.shots) if shown is None else shown
        if len(keys) == total:  # the whole session: its counts are kept up to date, no recount
            c = session.counts()
            picks, rejects = c["pick"], c["reject"]
        else:
            picks = rejects = 0
            for k in keys:
                s = session.shots.get(k)
                f = s.decision.flag if s is not None else None
                picks += f == "pick"
                rejects += f == "reject"
        head = plural(total, "shot") if len(keys) == total else f"Showing {len(keys)} of {plural(total, 'shot')}"
        text = f"{head} · {plural(picks, 'pick')} · {plural(rejects, 'reject')} · {len(keys) - picks - rejects} to decide"
        pending = len(session.pending_writes)
        if pending:
            text += f" · {pending} NOT SAVED"
        self.counts.setText(text)
        self.counts.setToolTip(text)

    def set_auto_advance(self, on: bool) -> None:
        self.auto.setText("Auto-advance ON" if on else "Auto-advance off")
        self.auto.setStyleSheet("color: palette(highlight); font-weight: bold;" if on
                                else "color: palette(placeholder-text);")
