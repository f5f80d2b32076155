"""Grouping shots into scenes by content similarity and capture time together.

Content is the primary cue: a small descriptor of each frame's layout
(brightness-normalised 24x24 luminance, so an exposure change or a blur does
not move a frame out of its burst) and colour (chromaticity, which exposure
does not change).  Capture time from the same camera pulls frames a few
seconds apart together and pushes frames hours apart apart, so:

- a burst split by a pause stays one scene when the content is the same;
- two set-ups shot seconds apart are split (content differs);
- folders with no EXIF group by content alone (file times are not trusted);
- two cameras whose clocks disagree still group by content (time only
  compares frames of one camera).

Average-linkage agglomerative clustering on the combined distance; one knob,
``sensitivity`` in [0, 1] (higher = more, smaller groups).  Deterministic.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

EMBED_SIZE = 24
CHROMA_SIZE = 6


def embed(rgb: np.ndarray) -> np.ndarray:
    """Content descriptor (float32 vector) of an RGB uint8 image."""
    import cv2

    step = max(1, min(rgb.shape[:2]) // (EMBED_SIZE * 8))
    if step > 1:  # area-averaging 2 MP down to 24x24 is slow; a strided view first loses nothing at this size
        rgb = np.ascontiguousarray(rgb[::step, ::step])
    small = cv2.resize(rgb, (EMBED_SIZE, EMBED_SIZE), interpolation=cv2.INTER_AREA).astype(np.float32)
    lum = small @ np.array([0.299, 0.587, 0.114], np.float32)
    lum = np.log1p(lum)  # exposure is (nearly) an offset in log space
    lum -= lum.mean()
    lum /= np.linalg.norm(lum) + 1e-6
    c = cv2.resize(rgb, (CHROMA_SIZE, CHROMA_SIZE), interpolation=cv2.INTER_AREA).astype(np.float32) + 1.0
    chroma = (c / c.sum(axis=2, keepdims=True))[..., :2].ravel()
    return np.concatenate([lum.ravel(), chroma]).astype(np.float32)


@dataclass
class GroupItem:
    key: str
    ts: float | None  # capture time, seconds
    camera: str  # make|model|serial ('' unknown)
    exif_time: bool  # time comes from EXIF (file times are not trusted for grouping)
    embedding: np.ndarray


def content_distance(emb: np.ndarray) -> np.ndarray:
    n_lum = EMBED_SIZE * EMBED_SIZE
    lum = emb[:, :n_lum]
    chroma = emb[:, n_lum:]
    d_struct = np.clip(1.0 - lum @ lum.T, 0.0, 2.0)
    # Mean absolute chromaticity difference, scaled so a strong colour change ~ 1.
    from scipy.spatial.distance import cdist

    d_chroma = cdist(chroma, chroma, "cityblock") / max(1, chroma.shape[1]) * 12.0
    return 0.7 * d_struct + 0.3 * np.minimum(d_chroma, 2.0)


def time_adjustment(items: Sequence[GroupItem]) -> np.ndarray:
    """Negative (pulls together) for frames seconds apart from one camera; positive for hours apart."""
    n = len(items)
    adj = np.zeros((n, n), np.float32)
    ts = np.array([it.ts if (it.ts is not None and it.exif_time) else np.nan for it in items], np.float64)
    cams = np.array([it.camera for it in items], dtype=object)
    valid = ~np.isnan(ts)
    if valid.sum() < 2:
        return adj
    gap = np.abs(ts[:, None] - ts[None, :])
    same = (cams[:, None] == cams[None, :]) & valid[:, None] & valid[None, :]
    pull = 0.12 * np.exp(-gap / 20.0)
    push = 0.15 * np.clip((gap - 1800.0) / 7200.0, 0.0, 1.0)
    adj = np.where(same, push - pull, 0.0).astype(np.float32)
    return adj


def threshold_for(sensitivity: float) -> float:
    s = float(np.clip(sensitivity, 0.0, 1.0))
    return 0.55 - 0.4 * s


def group_shots(items: Sequence[GroupItem], sensitivity: float = 0.5) -> list[int]:
    """Group id (0, 1, ...) for each item, numbered in order of the groups' first frame."""
    n = len(items)
    if n == 0:
        return []
    if n == 1:
        return [0]
    from scipy.cluster.hierarchy import fcluster, linkage
    from scipy.spatial.distance import squareform

    order = sorted(range(n), key=lambda i: (items[i].ts if items[i].ts is not None else float("inf"), items[i].key))
    emb = np.stack([items[i].embedding for i in order]).astype(np.float32)
    d = content_distance(emb) + time_adjustment([items[i] for i in order])
    d = np.maximum((d + d.T) / 2.0, 0.0)
    np.fill_diagonal(d, 0.0)
    z = linkage(squareform(d, checks=False), method="average")
    labels = fcluster(z, t=threshold_for(sensitivity), criterion="distance")
    # Renumber by first appearance in time order: deterministic ids.
    remap: dict[int, int] = {}
    out = [0] * n
    for pos, i in enumerate(order):
        lab = int(labels[pos])
        if lab not in remap:
            remap[lab] = len(remap)
        out[i] = remap[lab]
    return out
