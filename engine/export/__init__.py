"""Export: hand the photographer's decisions to Lightroom Classic and other tools.

* :mod:`engine.export.xmp` — safe XMP parsing, merging and writing (rating and label only);
* :mod:`engine.export.sidecar` — ``STEM.xmp`` / ``STEM.EXT.xmp`` sidecars with backups;
* :mod:`engine.export.jpeg`, :mod:`engine.export.embed` — embedding, verified, atomic;
* :mod:`engine.export.actions` — the ``--xmp``, ``--to``, ``--embed`` and ``--format`` modes;
* :mod:`engine.export.plan` — which shots, with what rating/label (``--suggested`` included);
* :mod:`engine.export.mapping` — the decision -> ``xmp:Rating``/``xmp:Label`` mapping.

Every write goes through :mod:`engine.safeio`.
"""

from engine.export.mapping import Mapping, MappingError, load_mapping
from engine.export.plan import ExportItem, ExportReport, collect

__all__ = ["ExportItem", "ExportReport", "Mapping", "MappingError", "collect", "load_mapping"]
