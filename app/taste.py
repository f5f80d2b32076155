"""Your taste in the window: which profile ranked the session, the on/off setting, the offer to
learn from the decisions just made, and the learned part of a shot's rank.

The engine does the work (:mod:`engine.taste`, see docs/taste.md); this module only says what
it did and runs the learning in an :class:`app.workers.Worker`, never on the GUI thread:

* the status bar shows ``"ranked by your taste (learned from N decisions)"`` when the
  catalog records (meta ``ranked_by``) that a taste profile ranked the session;
* Settings › "Rank by my taste" is kept in the app's settings and in the engine's state
  (:func:`engine.taste.profile.set_enabled`), and the open session is ranked again;
* after a session with new decisions the photographer is offered, once, to learn from them
  (when switching or closing the folder, and at any time with Cull › "Learn my taste…");
* :class:`TasteChart` draws a shot's learned adjustments (``Profile.contributions``).
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QObject, QRectF, QSize, Qt, Signal
from PySide6.QtGui import QColor, QFont, QFontMetrics, QPainter, QPaintEvent, QPalette
from PySide6.QtWidgets import QMessageBox, QSizePolicy, QWidget

from app import theme
from app.workers import Worker

if TYPE_CHECKING:
    from app.session import GroupRecord, Session, ShotRecord
    from app.window import MainWindow

MIN_NEW_DECISIONS = 2  # fewer decided shots say nothing about a preference within a burst


def learn_and_save(catalogs: list[Path]) -> tuple[Any, list[str]]:
    """Worker thread: learn a profile from these session catalogs and store it as the next
    version (it is then on).  Returns (the profile, the engine's summary lines)."""
    from engine.taste.learn import learn_from_catalogs, summary_lines, to_profile
    from engine.taste.profile import save_profile

    result = learn_from_catalogs(catalogs)
    prof = to_profile(result, [str(p) for p in catalogs])
    save_profile(prof)
    return prof, summary_lines(result)


def ranked_by_text(record: dict[str, Any] | None) -> str | None:
    """The status bar's words for a catalog's ``ranked_by`` record (None: the default ranking)."""
    if not record or record.get("profile") in (None, "default"):
        return None
    from engine.taste.profile import active_profile, status_line

    prof = active_profile()
    if prof is not None and prof.ident == record.get("profile"):
        return status_line()
    try:
        n = int(record.get("n_decisions") or 0)
    except (TypeError, ValueError):
        n = 0
    return f"ranked by your taste (learned from {n} decisions)"


def pretty_feature(name: str) -> str:
    """``d:exposure`` -> "exposure vs the burst", ``f:eyes_open`` -> "face: eyes open", ..."""
    kind, _, base = name.partition(":")
    if not base:
        return name.replace("_", " ")
    base = base.replace("_", " ")
    return {
        "q": f"{base} (quality)", "v": f"{base} (value)", "d": f"{base} vs the burst",
        "r": f"{base} vs the burst's best", "k": f"{base}: place in the burst",
        "f": f"face: {base}", "fd": f"face: {base} vs the burst",
    }.get(kind, name)  # fmt: skip


class TasteChart(QWidget):
    """The learned part of a shot's rank: one signed bar per feature (what the taste adds to or
    takes from the default score, in %), hidden when no taste profile is on."""

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Minimum)
        self.items: list[tuple[str, float]] = []  # (feature, log-score adjustment), largest first
        self.head = ""
        self.font_small = QFont()
        self.font_small.setPointSizeF(max(7.0, self.font_small.pointSizeF() * 0.85))

    def set_data(self, contributions: dict[str, float] | None, head: str = "",
                 weights: dict[str, float] | None = None) -> None:
        self.items = list((contributions or {}).items())
        self.head = head
        top = sorted((weights or {}).items(), key=lambda kv: -abs(kv[1]))[:8]
        self.setToolTip("Learned weights, relative to the default fusion's:\n" + "\n".join(
            f"{pretty_feature(k)}: {v:+.3f}" for k, v in top) if top else "")
        self.updateGeometry()
        self.update()

    def percent(self, c: float) -> float:
        return 100.0 * (math.exp(c) - 1.0)

    def row_h(self) -> int:
        return QFontMetrics(self.font_small).height() + 6

    def sizeHint(self) -> QSize:
        return QSize(280, 22 + max(1, len(self.items)) * self.row_h())

    def minimumSizeHint(self) -> QSize:
        return self.sizeHint()

    def paintEvent(self, event: QPaintEvent) -> None:
        p = QPainter(self)
        p.setRenderHint(QPainter.RenderHint.Antialiasing)
        pal = self.palette()
        text = pal.color(QPalette.ColorRole.WindowText)
        dim = pal.color(QPalette.ColorRole.PlaceholderText)
        w = self.width()
        p.setFont(self.font_small)
        p.setPen(dim)
        p.drawText(QRectF(0, 0, w, 18), Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter,
                   self.head or "learned adjustments of the score")
        if not self.items:
            p.drawText(QRectF(0, 20, w, 18), Qt.AlignmentFlag.AlignLeft, "none for this shot")
            p.end()
            return
        label_w = min(150.0, w * 0.45)
        value_w = 44.0
        bar_x = label_w + 6
        bar_w = max(30.0, w - bar_x - value_w - 6)
        mid = bar_x + bar_w / 2
        big = max(abs(c) for _n, c in self.items) or 1.0
        fm = QFontMetrics(self.font_small)
        y, rh = 20.0, self.row_h()
        for name, c in self.items:
            p.setPen(text)
            p.drawText(QRectF(0, y, label_w, rh), Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter,
                       fm.elidedText(pretty_feature(name), Qt.TextElideMode.ElideRight, int(label_w)))
            p.setPen(Qt.PenStyle.NoPen)
            p.setBrush(pal.color(QPalette.ColorRole.AlternateBase))
            p.drawRoundedRect(QRectF(bar_x, y + 3, bar_w, rh - 6), 3, 3)
            p.setBrush(QColor(theme.PICK) if c > 0 else QColor(theme.REJECT))
            length = max(2.0, bar_w / 2 * abs(c) / big)
            p.drawRoundedRect(QRectF(mid if c > 0 else mid - length, y + 3, length, rh - 6), 2, 2)
            p.setPen(text)
            p.drawText(QRectF(bar_x + bar_w + 4, y, value_w, rh), Qt.AlignmentFlag.AlignRight
                       | Qt.AlignmentFlag.AlignVCenter, f"{self.percent(c):+.0f}%")
            y += rh
        p.end()


class TasteController(QObject):
    """The window's side of the taste profile (see the module's docstring)."""

    learned = Signal(object)  # the new Profile
    learn_failed = Signal(str)

    def __init__(self, win: MainWindow):
        super().__init__(win)
        self.w = win
        self.new_decisions: set[str] = set()  # shots decided since the session was opened
        self.offered = False  # the offer is made once per session
        # with dialogs off (tests) the offer is recorded and answered by this (None: not now)
        self.auto_answer: bool | None = None
        self.worker: Worker | None = None
        self.status_text: str | None = None
        self._profile: Any = None
        self._profile_read = False
        self._shots_cache: tuple[Any, int, list[Any]] | None = None  # (groups, gid, Shots)
        self.close_after = False  # the window closes once the learning it started ends

    # -- the profile --------------------------------------------------------------------------
    def profile(self) -> Any:
        """The active profile (None when off, absent or unreadable), read once until it changes."""
        if not self._profile_read:
            from engine.taste.profile import active_profile

            self._profile, self._profile_read = active_profile(), True
        return self._profile

    def forget_profile(self) -> None:
        self._profile_read = False
        self._shots_cache = None

    def enabled(self) -> bool:
        from engine.taste.profile import enabled

        return enabled()

    def set_enabled(self, on: bool) -> None:
        """The setting: kept in the app's settings and in the engine's state; the open session
        is ranked again so that what it shows follows."""
        from engine.taste.profile import ProfileError, set_enabled

        self.w.settings.set("taste", bool(on))
        try:
            set_enabled(bool(on))
        except ProfileError as exc:
            self.w.show_message("Cannot change the taste setting", str(exc))
            return
        self.forget_profile()
        if self.w.session is not None:
            self.w.regroup()

    # -- the status bar -------------------------------------------------------------------------
    def refresh_status(self, session: Session | None) -> None:
        text = None
        if session is not None:
            from engine.taste.apply import ranked_by

            try:
                text = ranked_by_text(ranked_by(session.catalog))
            except Exception:  # an unreadable meta row: the default's words (nothing)
                text = None
        self.status_text = text
        self.w.status_area.set_taste(text)

    # -- the offer to learn ------------------------------------------------------------------------
    def session_opened(self) -> None:
        self.new_decisions.clear()
        self.offered = False
        self.forget_profile()  # `culler taste learn` may have changed it meanwhile

    def decisions_applied(self, changes: dict[str, Any]) -> None:
        self.new_decisions.update(changes)

    def should_offer(self) -> bool:
        return not self.offered and len(self.new_decisions) >= MIN_NEW_DECISIONS and not self.learning()

    def learning(self) -> bool:
        return self.worker is not None

    def offer(self, catalog: Path, on_quit: bool = False) -> bool:
        """Offer once to learn from this session's new decisions; True when learning started."""
        if not self.should_offer():
            return False
        self.offered = True
        n = len(self.new_decisions)
        title = "Learn your taste?"
        text = (f"You decided {n} shots in this session. Learn how you choose within a burst from "
                "them, so that future sessions are ranked your way? It runs on this computer only "
                "and takes a few seconds; Settings › \"Rank by my taste\" turns it off.")
        self.w.messages.append((title, text))
        if os.environ.get("CULLER_GUI_NO_DIALOGS"):
            if self.auto_answer:
                self.learn([catalog])
                return True
            return False
        if on_quit:  # the window is going: ask now
            ans = QMessageBox.question(self.w, title, text, QMessageBox.StandardButton.Yes
                                       | QMessageBox.StandardButton.No, QMessageBox.StandardButton.Yes)
            if ans == QMessageBox.StandardButton.Yes:
                self.learn([catalog])
                return True
            return False
        box = QMessageBox(QMessageBox.Icon.Question, title, text, QMessageBox.StandardButton.NoButton, self.w)
        box.addButton("Learn", QMessageBox.ButtonRole.AcceptRole)
        box.addButton("Not now", QMessageBox.ButtonRole.RejectRole)
        box.setWindowModality(Qt.WindowModality.NonModal)  # culling the next folder goes on
        box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        box.buttonClicked.connect(
            lambda b: self.learn([catalog]) if box.buttonRole(b) == QMessageBox.ButtonRole.AcceptRole else None)
        box.show()
        return False

    def learn_now(self) -> None:
        """Cull › Learn my taste from this session."""
        session = self.w.session
        if session is None:
            self.w.show_message("Learn your taste", "Open a culled folder first.")
            return
        try:
            self.w.decisions.flush()
        except Exception as exc:
            self.w.show_message("Decisions not saved yet", str(exc))
            return
        self.offered = True
        self.learn([session.catalog_path])

    def learn(self, catalogs: list[Path], then: Callable[[], None] | None = None) -> None:
        if self.worker is not None:
            return
        self.w.statusBar().showMessage("Learning your taste from your decisions…", 0)
        w = Worker(learn_and_save, list(catalogs), parent=self)
        self.worker = w

        def done(out: tuple[Any, list[str]]) -> None:
            w.wait()
            self.worker = None
            prof, lines = out
            self.forget_profile()
            self.w.statusBar().showMessage(f"Learned your taste: {lines[0]}" if lines else "Learned your taste",
                                           15000)
            session = self.w.session
            if (not self.close_after and session is not None
                    and session.catalog_path in [Path(c) for c in catalogs]):
                self.w.regroup()  # this session, ranked your way now
            self.learned.emit(prof)
            if self.close_after:
                self.w.close()

        def failed(exc: BaseException) -> None:
            w.wait()
            self.worker = None
            self.w.statusBar().clearMessage()
            self.w.show_message("Cannot learn your taste", str(exc) or type(exc).__name__)
            self.learn_failed.emit(str(exc))
            if self.close_after:
                self.w.close()

        w.returned.connect(done)
        w.errored.connect(failed)
        w.start()

    def wait(self, ms: int = 60000) -> None:
        if self.worker is not None:
            self.worker.wait(ms)

    # -- the learned part of a shot's rank --------------------------------------------------------
    def contributions(self, session: Session, s: ShotRecord, g: GroupRecord | None) -> dict[str, float] | None:
        """The active profile's learned adjustments of shot ``s`` within its scene (None when no
        learned profile is on or the shot is not ranked)."""
        prof = self.profile()
        if prof is None or prof.is_default or g is None or g.id < 0 or s.key not in g.keys:
            return None
        shots = self._group_shots(session, g)
        try:
            i = g.keys.index(s.key)
            return dict(prof.contributions(shots, i))
        except (ValueError, IndexError):
            return None

    def _group_shots(self, session: Session, g: GroupRecord) -> list[Any]:
        c = self._shots_cache
        if c is not None and c[0] is session.groups and c[1] == g.id:
            return c[2]
        from engine.taste.features import FACE_SIGNALS, Shot

        recs = [session.shots[k] for k in g.keys]
        faces = session.catalog.face_signals([r.hash for r in recs if r.hash], FACE_SIGNALS)
        shots = []
        for r in recs:
            fs = faces.get(r.hash or "", [])
            largest = max(fs, key=lambda f: float(f["w"] or 0) * float(f["h"] or 0)) if fs else None
            sig = {k: float(v) for k, v in (largest or {}).get("signals", {}).items()
                   if isinstance(v, (int, float)) and math.isfinite(v)}
            scores = session.scores(r.key) if r.hash else {}
            d = math.log(max(r.score or 1e-4, 1e-4) / 100.0)
            shots.append(Shot(r.key, r.hash or "", dict(scores), sig, len(fs), d))
        self._shots_cache = (session.groups, g.id, shots)
        return shots
