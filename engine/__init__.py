"""portrait-culler's engine: images, metadata, grouping, faces, quality, catalog, export, CLI.

The engine never imports Qt and never needs torch; heavy libraries are
imported lazily so that ``culler`` starts fast.
"""

__version__ = "0.1.0"
# Bumped whenever analysis results change meaning: cached analyses of another version are redone.
# "2": every face carries its per-face member scores and the iris_visibility eye reading
# (issue 12); a catalog analysed by 0.1 ("1") is re-analysed, instead of falling back to
# shot-level ranking.
ANALYSIS_VERSION = "2"
