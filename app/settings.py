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
    QLabel,
    QListWidget,
    QListWidgetItem,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

ORG = "portrait-culler"
APP = "portrait-culler"

DEFAULTS: dict[str, Any] = {
    "sensitivity": 0.5,
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


class SettingsDialog(QDialog):
    def __init__(self, settings: AppSettings, parent: QWidget | None = None):
        super().__init__(parent)
        self.setWindowTitle("Settings")
        self.settings = settings
        lay = QVBoxLayout(self)
        form = QFormLayout()
        self.sensitivity = QDoubleSpinBox()
        self.sensitivity.setRange(0.0, 1.0)
        self.sensitivity.setSingleStep(0.05)
        self.sensitivity.setValue(settings.get("sensitivity"))
        self.sensitivity.setToolTip("Higher: more, smaller scene groups. Lower: fewer, larger groups.")
        form.addRow("Grouping sensitivity", self.sensitivity)
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

    def save(self) -> None:
        s = self.settings
        s.set("sensitivity", float(self.sensitivity.value()))
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
