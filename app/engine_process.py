"""The analysis runs in a child process (no Qt imported here).

Why a process and not a thread: the engine's scan and metadata steps are pure Python, and in the
GUI's process they would compete with the GUI thread for the GIL (visible stalls on 2 cores); a
crash in a native library (decoder, onnxruntime) would also take the window down.  The child
sends :class:`app.analysis.ChildProgress` messages, then one :class:`~app.analysis.ChildDone` or
:class:`~app.analysis.ChildFailed` (already classified by type, see
:func:`app.analysis.describe_error`) through a queue; cancelling sets a shared event the
engine polls.
"""

from __future__ import annotations

import contextlib
import os
from typing import Any


def lower_priority(step: int = 10) -> None:
    """Run this process (and the engine's workers, which inherit it) below the window: the
    analysis is background work, and on a 2-core laptop the GUI thread should get the CPU first
    when it needs it.  With the machine otherwise idle the analysis is as fast as before."""
    with contextlib.suppress(AttributeError, OSError):  # os.nice is POSIX only
        os.nice(step)


def run_child(req: Any, queue: Any, cancel: Any) -> None:  # child process
    lower_priority()
    from app.analysis import ChildDone, ChildFailed, ChildProgress, describe_error
    from engine.pipeline import RankOptions, rank_folder

    opts = RankOptions(root=req.root, catalog=req.catalog, recursive=req.recursive, workers=req.workers,
                       sensitivity=req.sensitivity, members=req.members, device=req.device,
                       strictness=req.strictness)
    try:
        summary = rank_folder(opts, progress=lambda ev: queue.put(ChildProgress(ev)), cancel=cancel)
        queue.put(ChildDone(summary))
    except BaseException as exc:  # everything goes back to the GUI as one message
        queue.put(ChildFailed(describe_error(exc)))
