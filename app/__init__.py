"""The portrait-culler desktop app (PySide6) over the Qt-free engine.

Layout: :mod:`app.session` (catalog access, plain Python), :mod:`app.models` (Qt item models),
:mod:`app.thumbs` (decoding off the GUI thread, bounded caches), views and widgets in
:mod:`app.grid`, :mod:`app.loupe`, :mod:`app.inspector`, :mod:`app.explain`, the window in
:mod:`app.mainwindow` and the entry point :func:`app.main.run_gui`.
"""


