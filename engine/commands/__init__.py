"""Sub-commands of ``culler``: one module each, exposing ``NAME``, ``HELP``,
``add_arguments(parser)`` and ``run(args) -> int``.  Modules import heavy
libraries inside ``run`` only, so ``culler --help`` stays fast."""

# Order shown in ``culler --help``.
COMMANDS = ["demo", "rank", "gui", "export", "import", "taste", "check", "models", "train", "evaluate"]
