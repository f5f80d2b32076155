"""The export dialog: a thin front to the engine's export (``engine.export``), run off the GUI
thread with a progress bar and the engine's own report as the summary."""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from PySide6.QtWidgets import (
    QButtonGroup,
    QCheckBox,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QMessageBox,
    QPlainTextEdit,
    QProgressBar,
    QPushButton,
    QRadioButton,
    QVBoxLayout,
    QWidget,
)

from app.statusbar import plural
from app.workers import Worker

MODES = ("copy", "xmp", "embed", "csv", "json")


@dataclass(frozen=True)
class ExportRequest:
    root: Path
    catalog: Path
    mode: str
    out: Path | None
    link: bool
    suggested: bool
    style: str


@dataclass(frozen=True)
class ExportProgress:
    done: int
    total: int
    what: str


@dataclass(frozen=True)
class ExportResult:
    ok: bool
    summary: str


def run_export(req: ExportRequest, *, progress: Callable[[ExportProgress], None]) -> ExportResult:
    """Worker body (:class:`app.workers.Worker`): the engine's export, and one summary whose
    first line agrees with the engine's own count of files written."""
    from engine.catalog import Catalog, CatalogError
    from engine.export import Mapping, actions, collect
    from engine.export.exiftool import find_exiftool
    from engine.export.plan import ExportReport
    from engine.safeio import SafeIOError

    def prog(i: int, n: int, what: str) -> None:
        progress(ExportProgress(i, n, what))

    try:
        cat = Catalog(req.catalog, readonly=True)
    except CatalogError as exc:
        return ExportResult(False, str(exc))
    report = ExportReport()
    try:
        items = collect(cat, req.root, suggested=req.suggested, mapping=Mapping(),
                        decided_only=req.mode not in ("csv", "json"), report=report)
        if req.mode in ("csv", "json"):
            assert req.out is not None
            data = actions.render_decisions(items, req.root, req.mode,
                                            {"root": str(req.root), "catalog": str(req.catalog)})
            actions.write_decisions(data, req.out)
            return ExportResult(True, f"Wrote {plural(len(items), 'shot')} to {req.out}")
        if not items:
            return ExportResult(True, "Nothing to export: no decisions yet (or tick 'use suggestions').")
        exe = find_exiftool()
        if req.mode == "xmp":
            what = f"XMP sidecars for {plural(len(items), 'decided shot')}"
            actions.export_xmp(items, style=req.style, report=report, progress=prog)
        elif req.mode == "embed":
            what = f"Embedded XMP in {plural(len(items), 'decided shot')}"
            actions.export_embed(items, exe=exe, style=req.style, report=report, progress=prog,
                                 catalog_path=req.catalog)
        else:
            assert req.out is not None
            picks = sum(1 for i in items if i.flag == "pick")
            what = f"{plural(picks, 'pick')} {'linked' if req.link else 'copied'} into {req.out}"
            actions.export_copies(items, req.root, req.out, link=req.link, style=req.style,
                                  exe=exe, report=report, progress=prog)
    except (SafeIOError, OSError) as exc:
        return ExportResult(False, str(exc))
    finally:
        cat.close()
    lines = report.lines()
    return ExportResult(report.ok, "\n".join([f"{what}: {lines[0]}", *lines[1:]]))


class ExportDialog(QDialog):
    def __init__(self, root: Path, catalog: Path, settings: Any = None, parent: QWidget | None = None):
        super().__init__(parent)
        self.root, self.catalog, self.settings = root, catalog, settings
        self.job: Worker | None = None
        self.asked = ""  # the last question asked (tests)
        self.confirm_embed = True  # the answer to the in-place question when dialogs are off
        self.sidecar_blind = self._count_sidecar_blind()  # shots Lightroom reads no sidecar for
        self.result_ok: bool | None = None
        self.summary = ""
        self.setWindowTitle("Export")
        self.setMinimumWidth(560)
        lay = QVBoxLayout(self)
        lay.addWidget(QLabel("Hand the decisions to Lightroom Classic: pick → Green label, "
                             "reject → rating −1 + Red label, stars as given."))
        self.group = QButtonGroup(self)
        texts = {
            "copy": "Copy the picks, with the XMP embedded (sidecars for RAW), into a folder for a "
                    "fresh Lightroom import (originals untouched)",
            "xmp": "Write XMP sidecars beside the files (then Metadata › Read Metadata from Files; "
                   "RAW files only)",
            "embed": "Embed XMP in JPEG/TIFF/DNG/HEIC originals in place (verified, atomic; asks first)",
            "csv": "Decisions as CSV",
            "json": "Decisions as JSON",
        }
        self.radios: dict[str, QRadioButton] = {}
        for i, m in enumerate(MODES):
            rb = QRadioButton(texts[m])
            self.group.addButton(rb, i)
            self.radios[m] = rb
            lay.addWidget(rb)
        # JPEG-type sessions default to the copy with XMP embedded; all-RAW ones may use sidecars
        self.radios["xmp" if self.n_shots and not self.sidecar_blind else "copy"].setChecked(True)
        self.warning = QLabel("")
        self.warning.setWordWrap(True)
        self.warning.setStyleSheet("color: #f58220;")
        lay.addWidget(self.warning)
        row = QHBoxLayout()
        self.out = QLineEdit(str(root.parent / f"{root.name}-picks"))
        browse = QPushButton("Choose…")
        browse.clicked.connect(self._browse)
        row.addWidget(QLabel("Destination"))
        row.addWidget(self.out, 1)
        row.addWidget(browse)
        lay.addLayout(row)
        self.link = QCheckBox("Hard links instead of copies (same disk only)")
        self.suggested = QCheckBox("Use the engine's suggestion for shots I left undecided")
        self.sidecar_style = QComboBox()
        self.sidecar_style.addItems(["lightroom", "darktable", "both"])
        row2 = QHBoxLayout()
        row2.addWidget(QLabel("Sidecar names"))
        row2.addWidget(self.sidecar_style)
        row2.addStretch(1)
        lay.addWidget(self.link)
        lay.addWidget(self.suggested)
        lay.addLayout(row2)
        self.bar = QProgressBar()
        self.bar.setVisible(False)
        lay.addWidget(self.bar)
        self.report = QPlainTextEdit()
        self.report.setReadOnly(True)
        self.report.setVisible(False)
        self.report.setMinimumHeight(120)
        lay.addWidget(self.report)
        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        self.go = self.buttons.addButton("Export", QDialogButtonBox.ButtonRole.AcceptRole)
        self.go.clicked.connect(self.start)
        self.buttons.rejected.connect(self.reject)
        lay.addWidget(self.buttons)
        self.group.idToggled.connect(lambda *_: self._mode_changed())
        self._mode_changed()

    def _count_sidecar_blind(self) -> int:
        """How many shots have no proprietary RAW file: Lightroom reads XMP embedded in JPEG,
        HEIC, TIFF and DNG files and ignores a ``.xmp`` sidecar beside them."""
        from engine.catalog import Catalog, CatalogError
        from engine.export.formats import kind

        self.n_shots = 0
        try:
            cat = Catalog(self.catalog, readonly=True)
        except CatalogError:
            return 0
        try:
            shots = cat.shots()
        finally:
            cat.close()
        self.n_shots = len(shots)
        return sum(1 for s in shots
                   if not any(kind(p) == "raw" for p in (s.get("primary_path"), s.get("raw_path")) if p))

    def mode(self) -> str:
        return MODES[max(0, self.group.checkedId())]

    def _mode_changed(self) -> None:
        m = self.mode()
        self.out.setEnabled(m in ("copy", "csv", "json"))
        self.link.setEnabled(m == "copy")
        self.sidecar_style.setEnabled(m in ("copy", "xmp", "embed"))
        if m in ("csv", "json"):
            self.out.setText(str(self.root.parent / f"{self.root.name}-decisions.{m}"))
        elif m == "copy" and self.out.text().endswith((".csv", ".json")):
            self.out.setText(str(self.root.parent / f"{self.root.name}-picks"))
        n = self.sidecar_blind
        if m == "xmp" and n:
            self.warning.setText(
                f"⚠ {plural(n, 'shot')} of this session {'is' if n == 1 else 'are'} JPEG, HEIC, TIFF or DNG "
                "without a RAW: Lightroom ignores .xmp sidecars for "
                f"{'it' if n == 1 else 'them'} (it reads the XMP embedded in the file). Choose "
                "'Copy the picks, with the XMP embedded' or 'Embed XMP in place' for them.")
        else:
            self.warning.setText("")
        self.warning.setVisible(bool(self.warning.text()))

    def _browse(self) -> None:
        if self.mode() == "copy":
            d = QFileDialog.getExistingDirectory(self, "Destination folder", self.out.text())
        else:
            d, _ = QFileDialog.getSaveFileName(self, "Decisions file", self.out.text())
        if d:
            self.out.setText(d)

    def start(self) -> None:
        if self.job is not None:
            return
        m = self.mode()
        out = Path(self.out.text().strip()).expanduser() if m in ("copy", "csv", "json") else None
        if out is not None and not str(out).strip():
            self._finish(False, "Choose a destination first.")
            return
        if m == "embed" and not self._confirm_in_place():
            return
        self.go.setEnabled(False)
        self.bar.setVisible(True)
        self.bar.setRange(0, 0)
        req = ExportRequest(self.root, self.catalog, m, out, self.link.isChecked(), self.suggested.isChecked(),
                            self.sidecar_style.currentText())
        self.job = job = Worker(run_export, req, parent=self)
        job.yielded.connect(self._on_progress)
        job.returned.connect(lambda r: self._finish(r.ok, r.summary))
        job.errored.connect(lambda e: self._finish(False, f"{type(e).__name__}: {e}"))
        job.start()

    def _confirm_in_place(self) -> bool:
        text = ("Embed the decisions in the original files, in place? Each file is rewritten "
                "atomically and verified, but the originals change.")
        if os.environ.get("CULLER_GUI_NO_DIALOGS"):
            self.asked = text
            return self.confirm_embed
        ans = QMessageBox.question(self, "Embed in the originals", text,
                                   QMessageBox.StandardButton.Ok | QMessageBox.StandardButton.Cancel,
                                   QMessageBox.StandardButton.Cancel)
        return ans == QMessageBox.StandardButton.Ok

    def _on_progress(self, p: ExportProgress) -> None:
        self.bar.setRange(0, max(1, p.total))
        self.bar.setValue(p.done)
        self.bar.setFormat(f"{p.done} / {p.total}")

    def _finish(self, ok: bool, summary: str) -> None:
        if self.job is not None:
            self.job.wait()
        self.job = None
        self.result_ok, self.summary = ok, summary
        self.bar.setRange(0, 1)
        self.bar.setValue(1)
        self.report.setVisible(True)
        self.report.setPlainText(("Done. " if ok else "Finished with problems. ") + "\n" + summary)
        self.go.setEnabled(True)
