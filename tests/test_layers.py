"""Layers that cannot leak, and ``culler`` as a composition root.

The import contracts live in pyproject.toml ([tool.importlinter]) and run as ``lint-imports`` in
.ci/run; here they run as a test too, and are shown to catch an import inside a function.
The sub-commands come from the ``portrait_culler.commands`` entry points of the installed
metadata: a stale install (``pip install -e .`` not rerun) fails ``test_installed_commands_match``.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
import tomllib
from importlib.metadata import EntryPoint
from pathlib import Path

import pytest

from engine import commands
from engine.cli import main

ROOT = Path(__file__).resolve().parents[1]
PYPROJECT = ROOT / "pyproject.toml"


def _lint_imports(cwd: Path) -> subprocess.CompletedProcess[str]:
    code = (
        "import sys; sys.path.insert(0, '.')\n"
        "from importlinter.cli import lint_imports\n"
        "sys.exit(lint_imports(config_filename='pyproject.toml', no_cache=True, no_logo=True))\n"
    )
    return subprocess.run([sys.executable, "-c", code], cwd=cwd, capture_output=True, text=True, timeout=120)


def test_import_contracts_hold() -> None:
    pytest.importorskip("importlinter", reason="import-linter is in the dev extra")
    r = _lint_imports(ROOT)
    assert r.returncode == 0, r.stdout + r.stderr
    assert ", 0 broken." in r.stdout and "KEPT" in r.stdout


def test_contracts_catch_imports_inside_functions(tmp_path: Path) -> None:
    """The project's own contracts, run on a tiny tree whose leaks hide inside functions."""
    pytest.importorskip("importlinter", reason="import-linter is in the dev extra")
    text = PYPROJECT.read_text()
    section = text[text.index("[tool.importlinter]") : text.index("[tool.pytest.ini_options]")]
    (tmp_path / "pyproject.toml").write_text(section)
    files = {
        "engine/__init__.py": "",
        "engine/commands/__init__.py": "",
        # the one import the contract tolerates for now (matched, so it is not reported stale)
        "engine/commands/evaluate.py": "def run():\n    from training.piq23 import read\n",
        "engine/leaky.py": "def show():\n    from app.views import Window\n\n\ndef fit():\n    import torch\n",
        "app/__init__.py": "",
        "app/views.py": "def train():\n    from training import fit\n",
        "training/__init__.py": "def fit():\n    from PySide6 import QtWidgets\n",
        "training/piq23.py": "def read():\n    pass\n",
    }
    for rel, body in files.items():
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_text(body)
    r = _lint_imports(tmp_path)
    out = r.stdout + r.stderr
    assert r.returncode == 1, out
    assert "engine.leaky -> app.views (l.2)" in out
    assert "engine.leaky -> torch (l.6)" in out
    assert "app.views -> training (l.2)" in out
    assert "training -> PySide6 (l.2)" in out
    assert "0 kept, 3 broken" in out


def test_installed_commands_match_pyproject() -> None:
    declared = tomllib.loads(PYPROJECT.read_text())["project"]["entry-points"][commands.GROUP]
    found = {c.name: c.target for c in commands.discover()}
    assert found == declared, (
        "the installed metadata is not this checkout's: rerun `pip install -e .` "
        f"(found {found}, pyproject declares {declared})"
    )
    assert all(c.module is not None for c in commands.discover())
    assert declared["gui"] == "app.cli" and declared["train"] == "training.command"


def test_every_declared_entry_point_exists_in_this_checkout() -> None:
    """Each entry point pyproject declares (every group) names a module, and attribute, that
    exists here: a renamed module (``training.registry`` -> ``training.architectures``) must take
    its entry point along.  Read from pyproject, not the installed metadata, which may be stale."""
    import importlib

    groups = tomllib.loads(PYPROJECT.read_text())["project"]["entry-points"]
    targets = [(g, n, v) for g, eps in groups.items() for n, v in eps.items()]
    assert any(g == "portrait_culler.architectures" for g, _, _ in targets)
    for group, name, value in targets:
        module, _, attr = value.partition(":")
        obj = importlib.import_module(module)
        where = Path(obj.__file__ or "").resolve()
        assert where.is_relative_to(ROOT), f"{group}: {name} = {value!r}: {module} is not in this checkout ({where})"
        for part in filter(None, attr.split(".")):
            assert hasattr(obj, part), f"{group}: {name} = {value!r}: no {part} in {module}"
            obj = getattr(obj, part)


def test_help_loads_no_heavy_module() -> None:
    """``culler --help`` builds every command's parser and imports neither Qt, torch nor onnxruntime."""
    code = (
        "import sys, engine.cli\n"
        "engine.cli.build_parser().format_help()\n"
        "heavy = ('PySide6', 'shiboken6', 'torch', 'timm', 'onnxruntime', 'cv2', 'numpy', 'PIL')\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in heavy))\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('app', 'training')))\n"
    )
    r = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    heavy, ours = r.stdout.splitlines()
    assert heavy == "[]"
    assert ours == "['app', 'app.cli', 'training', 'training.command']"


def test_gui_command_is_registered_and_documented() -> None:
    r = subprocess.run([sys.executable, "-m", "engine", "gui", "--help"], cwd=ROOT, capture_output=True,
                       text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    assert "--screenshot" in r.stdout and "--recursive" in r.stdout and "--catalog" in r.stdout


@pytest.mark.parametrize(
    ("argv", "blocked", "extra"),
    [(["gui"], "PySide6", "gui"), (["train", "models"], "torch", "train")],
)
def test_missing_extra_is_one_clear_line(argv: list[str], blocked: str, extra: str, tmp_path: Path) -> None:
    code = textwrap.dedent(
        f"""
        import sys
        sys.modules[{blocked!r}] = None  # as if the extra were not installed
        from engine.cli import main
        sys.exit(main({argv!r}))
        """
    )
    r = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert r.returncode == 2, r.stdout + r.stderr
    assert r.stdout == "" and len(r.stderr.splitlines()) == 1, r.stderr
    assert f"pip install 'portrait-culler[{extra}]'" in r.stderr and blocked in r.stderr


def test_a_broken_command_is_listed_and_says_why(monkeypatch: pytest.MonkeyPatch,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    real = commands.entry_points

    def with_broken(group: str) -> list[EntryPoint]:
        broken = EntryPoint(name="broken", value="no_such_module_for_culler", group=group)
        return [*real(group=group), broken]

    monkeypatch.setattr(commands, "entry_points", with_broken)
    with pytest.raises(SystemExit):
        main(["--help"])
    out = capsys.readouterr().out
    assert "broken" in out and "(unavailable: ModuleNotFoundError" in out and "rank" in out
    assert main(["broken", "--anything"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("culler broken cannot load no_such_module_for_culler: ModuleNotFoundError")
    with pytest.raises(SystemExit) as exit_:
        main(["rank", "--help"])  # the other commands are unaffected
    assert exit_.value.code == 0 and "usage: culler rank" in capsys.readouterr().out


def test_top_level_names_belong_to_this_distribution() -> None:
    """``engine``, ``app`` and ``training`` are generic names: the environment must hold no other
    distribution that installs them (docs/ARCHITECTURE.md, "Import names")."""
    import importlib.metadata as md

    owners = md.packages_distributions()
    for name in ("engine", "app", "training"):
        assert set(owners.get(name, [])) == {"portrait-culler"}, (name, owners.get(name))
        mod = __import__(name)
        assert Path(mod.__file__).resolve().parent == ROOT / name, mod.__file__


def test_an_install_without_the_group_says_how_to_fix_it(monkeypatch: pytest.MonkeyPatch,
                                                         capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setattr(commands, "entry_points", lambda group: [])
    assert main([]) == 2
    out = capsys.readouterr().out
    assert "no sub-commands are registered" in out and "pip install -e ." in out
