"""Model packs and their onnxruntime runtime (no torch needed): the pack format (``pack``), the
search path and installs (``search``), the runtime (``runtime``), fp16 variants (``fp16``), the
deep ensemble's config and member settings (``ensemble``) and packs as quality members
(``members``).  The command that manages them is ``culler models`` (:mod:`engine.commands.models`)."""
