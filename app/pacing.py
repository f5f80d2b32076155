"""Pacing for pure-Python work in worker threads.

Threads share one GIL.  While a worker runs Python, each return of the GUI thread into Python
(every PySide call gives the GIL up and takes it back) waits about one switch interval for the
worker to hand the GIL over, so a paint that makes a few hundred such calls stretches from a few
milliseconds to a hundred.  Decoding is not the problem (Pillow and Qt release the GIL while
they decode); loops over thousands of rows or directory entries are.

A :class:`Pacer` is called inside such loops: after ``work_s`` of running it sleeps ``rest_s``,
which leaves the GIL free so the GUI thread's calls go through at full speed.  The work takes
about ``(work_s + rest_s) / work_s`` times longer; the window never waits on it.
"""

from __future__ import annotations

import time


class Pacer:
    def __init__(self, work_s: float = 0.003, rest_s: float = 0.002):
        self.work_s = work_s
        self.rest_s = rest_s
        self._since = time.perf_counter()
        self.rests = 0

    def __call__(self) -> None:
        now = time.perf_counter()
        if now - self._since >= self.work_s:
            time.sleep(self.rest_s)
            self.rests += 1
            self._since = time.perf_counter()


def no_pace() -> None:
    """A pacer that never rests (work on the GUI thread, tests)."""
