"""The split between engine and app: the engine (and `culler gui --help`) never loads Qt."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_engine_and_gui_command_do_not_import_qt() -> None:
    code = (
        "import sys, pkgutil, importlib, engine\n"
        "import engine.cli, engine.commands.gui, engine.catalog, engine.images, engine.scan\n"
        "for m in pkgutil.walk_packages(engine.__path__, 'engine.'):\n"
        "    if m.name.endswith('__main__'):\n"
        "        continue\n"
        "    try:\n"
        "        importlib.import_module(m.name)\n"
        "    except ImportError:\n"
        "        pass\n"
        "engine.cli.build_parser()\n"
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in ('PySide6', 'shiboken6', 'PyQt5', 'PyQt6'))\n"
        "print(bad)\n"
        "sys.exit(1 if bad else 0)\n"
    )
    r = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stdout + r.stderr


def test_gui_command_is_registered_and_documented() -> None:
    r = subprocess.run([sys.executable, "-m", "engine", "gui", "--help"], cwd=ROOT, capture_output=True,
                       text=True, timeout=60)
    assert r.returncode == 0
    assert "--screenshot" in r.stdout and "--recursive" in r.stdout and "--catalog" in r.stdout
