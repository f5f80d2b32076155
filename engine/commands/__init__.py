"""Sub-commands of ``culler``, found through the entry-point group ``portrait_culler.commands``.

``culler`` is a composition root: it knows no command by name.  Every sub-command, the engine's
own as well as ``gui`` (in ``app.cli``) and ``train`` (in ``training.command``), is one module
named by an entry point of that group in pyproject.toml (``culler --help`` lists them by name)::

    [project.entry-points."portrait_culler.commands"]
    rank = "engine.commands.rank"
    gui = "app.cli"
    ...

A command module exposes ``HELP`` (one line), optionally ``DESCRIPTION``, ``add_arguments(parser)``
and ``run(args) -> int``.  It imports heavy libraries (Qt, torch, onnxruntime, ...) inside
``run`` only, so building the parser for ``culler --help`` stays fast; a command whose optional
extra is missing still shows in the help and says in one line what to install when run.

The group is read from the installed distribution's metadata, so a checkout must be installed
(``pip install -e .``) for its commands to exist; a module that fails to import still shows as a
command, which prints why when run.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from dataclasses import dataclass
from importlib.metadata import entry_points
from types import ModuleType

GROUP = "portrait_culler.commands"


@dataclass(frozen=True)
class Command:
    """One sub-command: its name, where it comes from, and its module (or why it did not load)."""

    name: str
    target: str  # the entry point's value, e.g. "app.cli"
    module: ModuleType | None
    error: str | None = None

    @property
    def help(self) -> str:
        if self.module is None:
            return f"(unavailable: {self.error})"
        return str(self.module.HELP)

    @property
    def description(self) -> str:
        if self.module is None:
            return f"culler {self.name} cannot load {self.target}: {self.error}"
        return str(getattr(self.module, "DESCRIPTION", self.module.HELP))

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        if self.module is not None:
            self.module.add_arguments(parser)

    @property
    def run(self) -> Callable[[argparse.Namespace], int]:
        if self.module is not None:
            run: Callable[[argparse.Namespace], int] = self.module.run
            return run

        def unavailable(args: argparse.Namespace) -> int:
            print(self.description, file=sys.stderr)
            return 2

        return unavailable


def _load(target: str, load: Callable[[], object]) -> tuple[ModuleType | None, str | None]:
    try:
        mod = load()
    except Exception as exc:  # a broken plugin must not take the other commands down
        return None, f"{type(exc).__name__}: {exc}"
    if not isinstance(mod, ModuleType):
        return None, f"{target} is not a module"
    missing = [a for a in ("HELP", "add_arguments", "run") if not hasattr(mod, a)]
    if missing:
        return None, f"{target} lacks {', '.join(missing)}"
    return mod, None


def discover() -> list[Command]:
    """The registered commands by name; a name registered twice keeps the first found."""
    seen: dict[str, Command] = {}
    for ep in sorted(entry_points(group=GROUP), key=lambda ep: ep.name):
        if ep.name in seen:
            continue
        mod, error = _load(ep.value, ep.load)
        seen[ep.name] = Command(ep.name, ep.value, mod, error)
    return list(seen.values())
