"""Training module of portrait-culler: portrait quality models (torch, timm backbones), the PIQ23
dataset and challenge protocol, synthetic-defect pretraining and export to ONNX model packs.

Importing ``training`` does not import torch: ``training.piq23`` works without it, and the
challenge metrics and score-file readers it uses live in the engine (``engine.metrics``,
``engine.piq23``), so ``culler evaluate`` needs no part of this module.  Everything else imports torch.
"""

__all__: list[str] = []
