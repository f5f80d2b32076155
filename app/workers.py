"""One generic worker for everything the window runs off the GUI thread.

In the manner of napari's ``thread_worker``: a plain function (or a generator) runs in a
``QThread``; what a generator yields arrives in the GUI thread through :attr:`Worker.yielded`,
its return value through :attr:`Worker.returned`, an exception (the exception object itself,
so callers classify it by type) through :attr:`Worker.errored`, and :attr:`Worker.finished`
comes last.  A function that takes a ``cancel`` keyword gets a :class:`threading.Event` that
:meth:`Worker.cancel` sets; one that takes ``progress`` gets a callable that emits
:attr:`Worker.yielded` (for reports from inside nested calls, where a generator cannot yield).

Each worker deletes itself once finished (its queued signals run before ``finished``), so a
finished worker never keeps its arguments (a 2,000-record session) alive.
"""

from __future__ import annotations

import inspect
import threading
from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QObject, QThread, Signal


class Worker(QThread):
    yielded = Signal(object)
    returned = Signal(object)
    errored = Signal(object)  # the exception

    def __init__(self, fn: Callable[..., Any], *args: Any, parent: QObject | None = None, **kwargs: Any):
        super().__init__(parent)
        self.fn, self.args, self.kwargs = fn, args, kwargs
        self.cancel_event = threading.Event()
        try:
            params = inspect.signature(fn).parameters
        except (TypeError, ValueError):
            params = {}  # type: ignore[assignment]
        if "cancel" in params:
            self.kwargs.setdefault("cancel", self.cancel_event)
        if "progress" in params:  # a callback for functions that report from nested calls
            self.kwargs.setdefault("progress", self.yielded.emit)
        self.finished.connect(self.deleteLater)

    def cancel(self) -> None:
        self.cancel_event.set()

    @property
    def cancelled(self) -> bool:
        return self.cancel_event.is_set()

    def run(self) -> None:  # worker thread
        try:
            out = self.fn(*self.args, **self.kwargs)
            if inspect.isgenerator(out):
                while True:
                    try:
                        item = next(out)
                    except StopIteration as stop:
                        out = stop.value
                        break
                    self.yielded.emit(item)
        except Exception as exc:  # handed to the GUI thread, classified there by type
            self.errored.emit(exc)
            return
        self.returned.emit(out)


def thread_worker(fn: Callable[..., Any]) -> Callable[..., Worker]:
    """Decorator: calling ``fn(...)`` returns a :class:`Worker` (not started) that runs it."""

    def make(*args: Any, **kwargs: Any) -> Worker:
        return Worker(fn, *args, **kwargs)

    make.__name__ = getattr(fn, "__name__", "worker")
    make.__doc__ = fn.__doc__
    return make
