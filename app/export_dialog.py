"""The export dialog: a thin front to the engine's export (``engine.export``), run off the GUI
thread with a progress bar and the engine's own report as the summary."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from PySide6.QtCore import QThread, Signal
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
    QPlainTextEdit,
    QProgressBar,
    QPushButton,
    QRadioButton,
    QVBoxLayout,
    QWidget,
)

MODES = ("copy", "xmp", "embed", "csv", "json")


class ExportJob(QThread):
    progress = Signal(int, int, str)
    done = Signal(bool, str)  # ok, summary

    def __init__(self, root: Path, catalog: Path, mode: str, out: Path | None, link: bool,
                 suggested: bool, style: str, parent: Any = None):
        super().__init__(parent)
        self.root, self.catalog, self.mode, self.out = root, catalog, mode, out
        self.link, self.suggested, self.style = link, suggested, style

    def run(self) -> None:  # worker thread
        from engine.catalog import Catalog, CatalogError
        from engine.export import Mapping, actions, collect
        from engine.export.exiftool import find_exiftool
        from engine.export.plan import ExportReport
        from engine.safeio import SafeIOError

        def prog(i: int, n: int, what: str) -> None:
            self.progress.emit(i, n, what)

        try:
            cat = Catalog(self.catalog, readonly=True)
        except CatalogError as exc:
            self.done.emit(False, str(exc))
            return
        report = ExportReport()
        head = ""
        try:
            items = collect(cat, self.root, suggested=self.suggested, mapping=Mapping(),
                            decided_only=self.mode not in ("csv", "json"), report=report)
            if self.mode in ("csv", "json"):
                assert self.out is not None
                data = actions.render_decisions(items, self.root, self.mode,
                                                {"root": str(self.root), "catalog": str(self.catalog)})
                actions.write_decisions(data, self.out)
                self.done.emit(True, f"Wrote {len(items)} shot(s) to {self.out}")
                return
            if not items:
                self.done.emit(True, "Nothing to export: no decisions yet (or tick 'use suggestions').")
                return
            exe = find_exiftool()
            if self.mode == "xmp":
                head = f"XMP sidecars for {len(items)} decided shot(s)"
                actions.export_xmp(items, style=self.style, report=report, progress=prog)
            elif self.mode == "embed":
                head = f"Embedded XMP in {len(items)} decided shot(s)"
                actions.export_embed(items, exe=exe, style=self.style, report=report, progress=prog,
                                     catalog_path=self.catalog)
            else:
                assert self.out is not None
                picks = sum(1 for i in items if i.flag == "pick")
                head = f"{'Linked' if self.link else 'Copied'} {picks} pick(s) into {self.out}"
                actions.export_copies(items, self.root, self.out, link=self.link, style=self.style,
                                      exe=exe, report=report, progress=prog)
        except (SafeIOError, OSError) as exc:
            self.done.emit(False, str(exc))
            return
        finally:
            cat.close()
        self.done.emit(report.ok, "\n".join([head, *report.lines()]))


class ExportDialog(QDialog):
    def __init__(self, root: Path, catalog: Path, settings: Any = None, parent: QWidget | None = None):
        super().__init__(parent)
        self.root, self.catalog, self.settings = root, catalog, settings
        self.job: ExportJob | None = None
        self.result_ok: bool | None = None
        self.summary = ""
        self.setWindowTitle("Export")
        self.setMinimumWidth(560)
        lay = QVBoxLayout(self)
        lay.addWidget(QLabel("Hand the decisions to Lightroom Classic: pick → Green label, "
                             "reject → rating −1 + Red label, stars as given."))
        self.group = QButtonGroup(self)
        texts = {
            "copy": "Copy the picks into a folder, for a fresh Lightroom import (originals untouched)",
            "xmp": "Write XMP sidecars beside the files (then Metadata › Read Metadata from Files)",
            "embed": "Embed XMP in JPEG/TIFF/DNG/HEIC originals in place (verified, atomic)",
            "csv": "Decisions as CSV",
            "json": "Decisions as JSON",
        }
        self.radios: dict[str, QRadioButton] = {}
        for i, m in enumerate(MODES):
            rb = QRadioButton(texts[m])
            self.group.addButton(rb, i)
            self.radios[m] = rb
            lay.addWidget(rb)
        self.radios["copy"].setChecked(True)
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
        self.go.setEnabled(False)
        self.bar.setVisible(True)
        self.bar.setRange(0, 0)
        self.job = ExportJob(self.root, self.catalog, m, out, self.link.isChecked(),
                             self.suggested.isChecked(), self.sidecar_style.currentText(), self)
        self.job.progress.connect(self._on_progress)
        self.job.done.connect(self._finish)
        self.job.start()

    def _on_progress(self, i: int, n: int, what: str) -> None:
        self.bar.setRange(0, max(1, n))
        self.bar.setValue(i)
        self.bar.setFormat(f"{i} / {n}")

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
