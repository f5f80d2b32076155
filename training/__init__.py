"""Training module of portrait-culler: portrait quality models (torch, timm backbones), the PIQ23
dataset and challenge protocol, synthetic-defect pretraining and export to ONNX model packs.

Importing ``training`` does not import torch: ``training.metrics`` and ``training.piq23`` (used by
``culler evaluate``) work without it.  Everything else imports torch.
"""

__all__: list[str] = []
