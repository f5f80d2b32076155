"""portrait-culler's engine: images, metadata, grouping, faces, quality, catalog, export, CLI.

The engine never imports Qt and never needs torch; heavy libraries are
imported lazily so that ``culler`` starts fast.
"""

__version__ = "0.1.0"
# Bumped whenever analysis results change meaning: cached analyses of another version are redone.
ANALYSIS_VERSION = "1"
