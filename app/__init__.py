"""The portrait-culler desktop app (PySide6) over the Qt-free engine.

Layout: :mod:`app.session` (the folder's catalog held in memory, plain Python), :mod:`app.item_models`
(Qt item models), :mod:`app.thumbs` (decoding off the GUI thread, bounded caches), views and
widgets in :mod:`app.grid`, :mod:`app.loupe`, :mod:`app.inspector`, :mod:`app.explain`; the
window :mod:`app.window` composes them and wires them to the controllers
(:mod:`app.session_controller`: open/list/analyse/regroup; :mod:`app.decisions`: undo and
writes; :mod:`app.navigation`; :mod:`app.viewer`), which run their work in
:class:`app.workers.Worker`; the entry point is :func:`app.main.run_gui`.
"""
