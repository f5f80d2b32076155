"""The "Open folder" dialog: folder, sub-folders, catalog location."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtWidgets import (
    QCheckBox,
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLineEdit,
    QPushButton,
    QVBoxLayout,
    QWidget,
)


class ImportDialog(QDialog):
    def __init__(self, folder: str = "", recursive: bool = False, parent: QWidget | None = None):
        super().__init__(parent)
        self.setWindowTitle("Open a folder of photos")
        self.setMinimumWidth(560)
        lay = QVBoxLayout(self)
        form = QFormLayout()
        self.folder = QLineEdit(folder)
        self.folder.setPlaceholderText("/path/to/the/session")
        browse = QPushButton("Browse…")
        browse.clicked.connect(self._browse_folder)
        row = QHBoxLayout()
        row.addWidget(self.folder)
        row.addWidget(browse)
        form.addRow("Folder", row)
        self.recursive = QCheckBox("Include sub-folders")
        self.recursive.setChecked(recursive)
        form.addRow("", self.recursive)
        self.catalog = QLineEdit()
        self.catalog.setPlaceholderText("beside the folder (FOLDER.culler.sqlite)")
        browse_cat = QPushButton("Choose…")
        browse_cat.clicked.connect(self._browse_catalog)
        row2 = QHBoxLayout()
        row2.addWidget(self.catalog)
        row2.addWidget(browse_cat)
        form.addRow("Catalog", row2)
        lay.addLayout(form)
        bb = QDialogButtonBox(QDialogButtonBox.StandardButton.Open | QDialogButtonBox.StandardButton.Cancel)
        bb.accepted.connect(self.accept)
        bb.rejected.connect(self.reject)
        lay.addWidget(bb)

    def _browse_folder(self) -> None:
        d = QFileDialog.getExistingDirectory(self, "Folder of photos", self.folder.text())
        if d:
            self.folder.setText(d)

    def _browse_catalog(self) -> None:
        f, _ = QFileDialog.getSaveFileName(self, "Catalog file", self.catalog.text(),
                                           "Catalogs (*.culler.sqlite *.sqlite)")
        if f:
            self.catalog.setText(f)

    def values(self) -> tuple[Path, Path | None, bool]:
        cat = self.catalog.text().strip()
        return Path(self.folder.text().strip()), (Path(cat) if cat else None), self.recursive.isChecked()
