"""The analysis runs in a child process (no Qt imported here).

Why a process and not a thread: the engine's scan and metadata steps are pure Python, and in the
GUI's process they would compete with the GUI thread for the GIL (visible stalls on 2 cores); a
crash in a native library (decoder, onnxruntime) would also take the window down.  The child
sends ``("progress", phase, done, total, path, message)``, then ``("done", summary fields)`` or
``("error", kind, message)`` through a queue; cancelling sets a shared event the engine polls.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
from typing import Any


def lower_priority(step: int = 10) -> None:
    """Run this process (and the engine's workers, which inherit it) below the window: the
    analysis is background work, and on a 2-core laptop the GUI thread should get the CPU first
    when it needs it.  With the machine otherwise idle the analysis is as fast as before."""
    with contextlib.suppress(AttributeError, OSError):  # os.nice is POSIX only
        os.nice(step)


def run_child(options: dict[str, Any], queue: Any, cancel: Any) -> None:  # child process
    lower_priority()
    from engine.pipeline import RankOptions, rank_folder

    def progress(ev: Any) -> None:
        queue.put(("progress", str(ev.phase), int(ev.done or 0), int(ev.total or 0),
                   getattr(ev, "path", None), str(getattr(ev, "message", "") or "")))

    try:
        names = {f.name for f in dataclasses.fields(RankOptions)}
        summary = rank_folder(RankOptions(**{k: v for k, v in options.items() if k in names}),
                              progress=progress, cancel=cancel)
        fields = dataclasses.asdict(summary) if dataclasses.is_dataclass(summary) else {}
        queue.put(("done", {k: v for k, v in fields.items()}))
    except BaseException as exc:  # everything goes back to the GUI as one message
        queue.put(("error", type(exc).__name__, str(exc) or type(exc).__name__))
