"""Settings remembered across runs (QSettings) and the settings dialog."""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import QSettings, Qt
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QDoubleSpinBox,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

ORG = "portrait-culler"
APP = "portrait-culler"

# The grouping sensitivity and the strictness of the suggestions belong to a folder: they are
# kept in its catalog (engine.pipeline.ranking_settings), where `culler rank -s / --keep` reads
# and writes them too, never here.
DEFAULTS: dict[str, Any] = {
    "members": [],  # empty: the engine's default members
    "device": "auto",
    "auto_advance": True,
    "recursive": False,
    "theme": "system",
    "thumb_size": 180,
    "sort": "rank",
    "workers": 0,  # 0: the engine decides
    "taste": True,  # rank by the taste profile learned from your decisions (when there is one)
}


class AppSettings:
    def __init__(self, qs: QSettings | None = None):
        self.qs = qs or QSettings(ORG, APP)

    def get(self, key: str) -> Any:
        default = DEFAULTS.get(key)
        v = self.qs.value(key, default)
        if isinstance(default, bool):
            return v if isinstance(v, bool) else str(v).lower() in ("1", "true", "yes")
        if isinstance(default, int):
            try:
                return int(v)  # type: ignore[call-overload,arg-type]
            except (TypeError, ValueError):
                return default
        if isinstance(default, float):
            try:
                return float(v)  # type: ignore[call-overload,arg-type]
            except (TypeError, ValueError):
                return default
        if isinstance(default, list):
            if v is None or v == "":
                return []
            return [str(x) for x in (v if isinstance(v, list) else [v])]
        return v

    def set(self, key: str, value: Any) -> None:
        self.qs.setValue(key, value)

    def sync(self) -> None:
        self.qs.sync()

    # the shot each folder was left on (reopening returns to it); the 50 newest folders
    def last_shot(self, root: Any) -> str | None:
        import json

        try:
            d = json.loads(str(self.qs.value("last_shots", "{}") or "{}"))
        except ValueError:
            return None
        v = d.get(str(root)) if isinstance(d, dict) else None
        return v if isinstance(v, str) else None

    def set_last_shot(self, root: Any, key: str) -> None:
        import json

        try:
            d = json.loads(str(self.qs.value("last_shots", "{}") or "{}"))
        except ValueError:
            d = {}
        if not isinstance(d, dict):
            d = {}
        d.pop(str(root), None)
        d[str(root)] = key
        self.qs.setValue("last_shots", json.dumps(dict(list(d.items())[-50:])))


def taste_enabled() -> bool:
    """Whether ranking by the learned taste is on (the engine's state, shared with ``culler taste``)."""
    try:
        from engine.taste.profile import enabled

        return enabled()
    except Exception:
        return True


def available_devices() -> list[str]:
    devs = ["auto", "cpu"]
    try:
        import onnxruntime as ort

        prov = ort.get_available_providers()
        if "CUDAExecutionProvider" in prov:
            devs.append("cuda")
        if "CoreMLExecutionProvider" in prov:
            devs.append("coreml")
    except Exception:
        pass
    return devs


def available_members() -> tuple[list[str], list[str]]:
    """(all members, default members) from the engine's registry (empty when unavailable)."""
    try:
        from engine.quality.registry import available_members as av
        from engine.quality.registry import default_member_names

        return av(), default_member_names()
    except Exception:
        return [], []


STRICTNESS_MODES = [
    ("moments", "Distinct good moments (the best, and every other pose nearly as good)"),
    ("best", "The best N of each scene"),
    ("margin", "Every shot within a margin of the best"),
]


class StrictnessEdit(QWidget):
    """The strictness of the suggestions (:class:`engine.quality.suggest.Strictness`): a mode
    and its number; :meth:`value` is the text ``culler rank --keep`` takes."""

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        row = QHBoxLayout(self)
        row.setContentsMargins(0, 0, 0, 0)
        self.mode = QComboBox()
        for mode, text in STRICTNESS_MODES:
            self.mode.addItem(text, mode)
        self.n = QSpinBox()
        self.n.setRange(1, 99)
        self.n.setPrefix("N = ")
        self.margin = QDoubleSpinBox()
        self.margin.setRange(0.0, 100.0)
        self.margin.setSingleStep(1.0)
        self.margin.setDecimals(1)
        self.margin.setSuffix(" points")
        row.addWidget(self.mode, 1)
        row.addWidget(self.n)
        row.addWidget(self.margin)
        self.mode.currentIndexChanged.connect(self._show_arg)
        self.set_value("moments")

    def _show_arg(self) -> None:
        m = self.mode.currentData()
        self.n.setVisible(m == "best")
        self.margin.setVisible(m == "margin")

    def set_value(self, text: str) -> None:
        from engine.quality.suggest import Strictness

        st = Strictness.parse(text)
        self.mode.setCurrentIndex(max(0, self.mode.findData(st.mode)))
        self.n.setValue(st.n)
        self.margin.setValue(st.margin)
        self._show_arg()

    def value(self) -> str:
        m = self.mode.currentData()
        if m == "best":
            return f"best:{self.n.value()}"
        if m == "margin":
            return f"margin:{self.margin.value():g}"
        return "moments"


class SettingsDialog(QDialog):
    """The app's settings; with ``ranking`` (the open folder's (sensitivity, strictness), from
    its catalog) also those of the folder, which :meth:`ranking` returns for the caller to store
    in the catalog (``SessionController.set_ranking``)."""

    def __init__(self, settings: AppSettings, parent: QWidget | None = None,
                 ranking: tuple[float, str] | None = None):
        super().__init__(parent)
        self.setWindowTitle("Settings")
        self.settings = settings
        self._ranking = ranking
        lay = QVBoxLayout(self)
        folder = QGroupBox("This folder (kept in its catalog; culler rank uses it too)")
        ff = QFormLayout(folder)
        self.sensitivity = QDoubleSpinBox()
        self.sensitivity.setRange(0.0, 1.0)
        self.sensitivity.setSingleStep(0.05)
        self.sensitivity.setToolTip("Higher: more, smaller scene groups. Lower: fewer, larger groups "
                                    "(culler rank -s).")
        ff.addRow("Grouping sensitivity", self.sensitivity)
        self.strictness = StrictnessEdit()
        self.strictness.setToolTip("Which shots of each scene are suggested as picks; the rest, near-duplicates "
                                   "of the picks first, are suggested rejects (culler rank --keep).")
        ff.addRow("Suggest keeping", self.strictness)
        self._shown: tuple[float, str] | None = None
        if ranking is not None:
            self.sensitivity.setValue(float(ranking[0]))
            self.strictness.set_value(ranking[1])
            self._shown = (float(self.sensitivity.value()), self.strictness.value())
        else:
            self.sensitivity.setValue(0.5)
            folder.setEnabled(False)
            folder.setToolTip("Open a folder first")
        lay.addWidget(folder)
        form = QFormLayout()
        self.device = QComboBox()
        self.device.addItems(available_devices())
        i = self.device.findText(str(settings.get("device")))
        self.device.setCurrentIndex(max(0, i))
        form.addRow("Device for models", self.device)
        self.workers = QSpinBox()
        self.workers.setRange(0, 64)
        self.workers.setSpecialValueText("automatic")
        self.workers.setValue(settings.get("workers"))
        form.addRow("Analysis workers", self.workers)
        self.theme = QComboBox()
        self.theme.addItems(["system", "light", "dark"])
        self.theme.setCurrentIndex(max(0, self.theme.findText(str(settings.get("theme")))))
        form.addRow("Theme", self.theme)
        self.auto_advance = QCheckBox("Move to the next shot after a decision")
        self.auto_advance.setChecked(settings.get("auto_advance"))
        form.addRow("Auto-advance", self.auto_advance)
        self.recursive = QCheckBox("Include sub-folders when opening a folder")
        self.recursive.setChecked(settings.get("recursive"))
        form.addRow("Import", self.recursive)
        self.taste = QCheckBox("Rank by my taste (learned from my decisions)")
        self.taste.setToolTip("Off: rank with the default quality ensemble. The taste is learned "
                              "on this computer from your picks, rejects and stars (Cull › Learn my taste).")
        self.taste.setChecked(taste_enabled())
        form.addRow("Your taste", self.taste)
        lay.addLayout(form)
        lay.addWidget(QLabel("Quality members (none checked: the engine's defaults)"))
        self.members = QListWidget()
        allm, defaults = available_members()
        chosen = set(settings.get("members"))
        for m in allm:
            it = QListWidgetItem(m + ("  (default)" if m in defaults else ""))
            it.setData(Qt.ItemDataRole.UserRole, m)
            it.setFlags(it.flags() | Qt.ItemFlag.ItemIsUserCheckable)
            it.setCheckState(Qt.CheckState.Checked if m in chosen else Qt.CheckState.Unchecked)
            self.members.addItem(it)
        if not allm:
            self.members.addItem("(the engine's member registry is not available)")
        self.members.setMaximumHeight(160)
        lay.addWidget(self.members)
        bb = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
        bb.accepted.connect(self.accept)
        bb.rejected.connect(self.reject)
        lay.addWidget(bb)

    def ranking(self) -> tuple[float, str] | None:
        """The folder's (sensitivity, strictness) as set in the dialog (None without a folder)."""
        if self._ranking is None or self._shown is None:
            return None
        # a field left as shown keeps the stored value (0.333 shows as 0.33: no change)
        sens = float(self.sensitivity.value())
        strict = self.strictness.value()
        return (float(self._ranking[0]) if sens == self._shown[0] else sens,
                self._ranking[1] if strict == self._shown[1] else strict)

    def save(self) -> None:
        """The app's settings (the folder's are the caller's, see :meth:`ranking`)."""
        s = self.settings
        s.set("device", self.device.currentText())
        s.set("workers", int(self.workers.value()))
        s.set("theme", self.theme.currentText())
        s.set("auto_advance", self.auto_advance.isChecked())
        s.set("recursive", self.recursive.isChecked())
        s.set("taste", self.taste.isChecked())
        chosen = []
        for i in range(self.members.count()):
            it = self.members.item(i)
            m = it.data(Qt.ItemDataRole.UserRole)
            if m and it.checkState() == Qt.CheckState.Checked:
                chosen.append(m)
        s.set("members", chosen)
        s.sync()
