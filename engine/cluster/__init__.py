"""Optional backends that analyse a folder on several machines (``pip install portrait-culler[cluster]``).

Nothing here is imported on the default path; ``culler rank --ray`` imports it on demand.
"""
