"""Model packs and their onnxruntime runtime (no torch needed)."""
