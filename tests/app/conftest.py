"""GUI tests run on Qt's offscreen platform, with settings in a temporary folder."""

from __future__ import annotations

import os
import sys
from pathlib import Path

# pytest puts tests/ on sys.path (rootdir conftest), where tests/engine and tests/app would shadow
# the real packages as namespace packages: the repository root goes first.
_REPO = str(Path(__file__).resolve().parents[2])
if sys.path[:1] != [_REPO]:
    sys.path.insert(0, _REPO)
for _name in ("engine", "app"):
    _mod = sys.modules.get(_name)
    if _mod is not None and getattr(_mod, "__file__", None) is None:  # a namespace shadow
        del sys.modules[_name]

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ["CULLER_GUI_NO_DIALOGS"] = "1"  # message boxes are recorded, not shown

import pytest  # noqa: E402

pytest.importorskip("PySide6")

from PySide6.QtCore import QSettings  # noqa: E402


@pytest.fixture(autouse=True)
def _isolated_settings(tmp_path_factory: pytest.TempPathFactory) -> None:
    d = tmp_path_factory.mktemp("qsettings")
    QSettings.setDefaultFormat(QSettings.Format.IniFormat)
    QSettings.setPath(QSettings.Format.IniFormat, QSettings.Scope.UserScope, str(d))
