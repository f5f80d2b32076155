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

Near-linear memory and time (issue 14): no N x N matrix is ever built.  The
clustering runs on a sparse graph of candidate pairs:

- *capture order*: each frame and the next ``WINDOW`` frames of its stream
  (one camera's EXIF-timed frames in time order; a folder's frames without
  EXIF time in file-name order);
- *content neighbours*: the ``NEIGHBOURS`` nearest frames by content from a
  nearest-neighbour index (faiss: exact flat index for small sessions, HNSW
  above ``EXACT_MAX``), which joins scenes across cameras, pauses and cards.

Cluster-to-cluster distances are exact averages over every member pair (computed
on demand, then kept up to date with the Lance-Williams update), so the result
is the same as full average linkage whenever the clusters that would merge are
joined by at least one candidate pair, which holds for bursts and scenes (a
test compares both on the grouping scenarios and the demo sessions).
"""

from __future__ import annotations

import heapq
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

EMBED_SIZE = 24
CHROMA_SIZE = 6
N_LUM = EMBED_SIZE * EMBED_SIZE

WINDOW = 12  # capture-order candidates: the next 12 frames of the same stream
NEIGHBOURS = 12  # content candidates per frame from the index
EXACT_MAX = 8192  # up to this many frames the index is exact (brute force is cheaper than HNSW there)


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


def threshold_for(sensitivity: float) -> float:
    s = float(np.clip(sensitivity, 0.0, 1.0))
    return 0.55 - 0.4 * s


def _content_block(
    lum_r: np.ndarray, lum_c: np.ndarray, chroma_r: np.ndarray, chroma_c: np.ndarray, chroma_scale: float
) -> np.ndarray:
    """Content distance (structure and colour, no time) of every (row, column) pair."""
    d_struct = np.clip(1.0 - lum_r @ lum_c.T, 0.0, 2.0)
    # Mean absolute chromaticity difference, scaled so a strong colour change ~ 1.
    if len(lum_r) * len(lum_c) <= 4096:
        d_chroma = np.abs(chroma_r[:, None, :] - chroma_c[None, :, :]).sum(axis=2)
    else:
        from scipy.spatial.distance import cdist

        d_chroma = cdist(chroma_r, chroma_c, "cityblock")
    return 0.7 * d_struct + 0.3 * np.minimum(d_chroma * chroma_scale, 2.0)


def content_distance(emb: np.ndarray) -> np.ndarray:
    """Content distance matrix of a few descriptors (one group's shots: near-duplicate tests)."""
    emb = np.asarray(emb, np.float32)
    lum, chroma = emb[:, :N_LUM], emb[:, N_LUM:]
    return _content_block(lum, lum, chroma, chroma, 12.0 / max(1, chroma.shape[1]))


class _Frames:
    """Descriptors and times of all frames, and the exact pairwise distance between two index sets."""

    def __init__(self, items: Sequence[GroupItem]):
        emb = np.stack([np.asarray(it.embedding, np.float32) for it in items])
        self.lum = np.ascontiguousarray(emb[:, :N_LUM])
        self.chroma = np.ascontiguousarray(emb[:, N_LUM:])
        self.ts = np.array([it.ts if (it.ts is not None and it.exif_time) else np.nan for it in items], np.float64)
        self.valid = ~np.isnan(self.ts)
        self.ts0 = np.where(self.valid, self.ts, 0.0)
        self.chroma_scale = 12.0 / max(1, self.chroma.shape[1])
        cams: dict[str, int] = {}
        self.cam = np.array([cams.setdefault(it.camera, len(cams)) for it in items], np.int64)

    def block(self, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
        """Combined distance of every (rows[i], cols[j]) pair: |rows| x |cols|."""
        d = _content_block(self.lum[rows], self.lum[cols], self.chroma[rows], self.chroma[cols], self.chroma_scale)
        vr, vc = self.valid[rows], self.valid[cols]
        if vr.any() and vc.any():
            same = (self.cam[rows][:, None] == self.cam[cols][None, :]) & vr[:, None] & vc[None, :]
            d += same * _time_adjustment(np.abs(self.ts0[rows][:, None] - self.ts0[cols][None, :]))
        return np.maximum(d, 0.0)

    def pairs(self, a: np.ndarray, b: np.ndarray, chunk: int = 2048) -> np.ndarray:
        """Combined distance of each pair (a[k], b[k]), in chunks (bounded memory)."""
        if len(a) > chunk:
            return np.concatenate([self.pairs(a[k : k + chunk], b[k : k + chunk]) for k in range(0, len(a), chunk)])
        d_struct = np.clip(1.0 - np.einsum("ij,ij->i", self.lum[a], self.lum[b]), 0.0, 2.0)
        d_chroma = np.abs(self.chroma[a] - self.chroma[b]).sum(axis=1)
        d = 0.7 * d_struct + 0.3 * np.minimum(d_chroma * self.chroma_scale, 2.0)
        same = (self.cam[a] == self.cam[b]) & self.valid[a] & self.valid[b]
        d += same * _time_adjustment(np.abs(self.ts0[a] - self.ts0[b]))
        return np.maximum(d, 0.0)


def _time_adjustment(gap: np.ndarray) -> np.ndarray:
    """For frames of one camera ``gap`` seconds apart: negative (pulls together) for seconds, positive for hours."""
    pull = 0.12 * np.exp(-gap / 20.0)
    push = 0.15 * np.clip((gap - 1800.0) / 7200.0, 0.0, 1.0)
    return push - pull


def _folder(key: str) -> str:
    return key.rsplit("/", 1)[0] if "/" in key else ""


def capture_order_pairs(items: Sequence[GroupItem], window: int | None = None) -> np.ndarray:
    """Candidate pairs (i, j) along each stream: one camera's EXIF-timed frames by time, a folder's others by name."""
    window = WINDOW if window is None else window
    streams: dict[tuple[int, str], list[int]] = {}
    for i, it in enumerate(items):
        timed = it.ts is not None and it.exif_time
        streams.setdefault((0, it.camera) if timed else (1, _folder(it.key)), []).append(i)
    out = []
    for (kind, _), idx in streams.items():
        if kind == 0:
            idx.sort(key=lambda i: (items[i].ts, items[i].key))
        else:
            idx.sort(key=lambda i: items[i].key)
        seq = np.asarray(idx, np.int64)
        for k in range(1, min(window, len(seq) - 1) + 1):
            out.append(np.stack([seq[:-k], seq[k:]], axis=1))
    return np.concatenate(out) if out else np.zeros((0, 2), np.int64)


def _index_vectors(frames: _Frames) -> np.ndarray:
    """Reduced descriptors for the content index (candidates only; exact distances come later).

    Luminance mean-pooled 24x24 -> 6x6 and renormalised, chromaticity 6x6 -> 3x3, weighted so their
    squared L2 roughly follows the combined distance's two terms.
    """
    n = frames.lum.shape[0]
    lum = frames.lum.reshape(n, 6, 4, 6, 4).mean(axis=(2, 4)).reshape(n, -1)
    lum /= np.linalg.norm(lum, axis=1, keepdims=True) + 1e-9
    ch = frames.chroma.reshape(n, CHROMA_SIZE, CHROMA_SIZE, 2)
    ch = ch.reshape(n, 3, 2, 3, 2, 2).mean(axis=(2, 4)).reshape(n, -1)
    return np.concatenate([lum * np.sqrt(0.35), ch * 4.0], axis=1).astype(np.float32)


def content_pairs(frames: _Frames, k: int | None = None) -> np.ndarray:
    """Candidate pairs (i, j): each frame and its k nearest frames by content (faiss index)."""
    import faiss

    x = _index_vectors(frames)
    n, dim = x.shape
    k = min((NEIGHBOURS if k is None else k) + 1, n)
    threads = faiss.omp_get_max_threads()
    faiss.omp_set_num_threads(1)  # HNSW insertion is deterministic on one thread only
    try:
        index: Any
        if n <= EXACT_MAX:
            index = faiss.IndexFlatL2(dim)
            index.add(x)
        else:
            index = faiss.IndexHNSWFlat(dim, 16)
            index.hnsw.efConstruction = 40
            index.add(x)
            index.hnsw.efSearch = max(32, 2 * k)
        _, nn = index.search(x, k)
    finally:
        faiss.omp_set_num_threads(threads)
    rows = np.repeat(np.arange(n, dtype=np.int64), k)
    cols = nn.reshape(-1).astype(np.int64)
    keep = (cols >= 0) & (cols != rows)
    return np.stack([rows[keep], cols[keep]], axis=1)


def _average_linkage(frames: _Frames, pairs: np.ndarray, threshold: float) -> np.ndarray:
    """Cluster label per frame: average linkage cut at ``threshold`` over the candidate graph."""
    n = frames.lum.shape[0]
    members: list[list[int]] = [[i] for i in range(n)]
    nbr: list[dict[int, float]] = [{} for _ in range(n)]
    heap: list[tuple[float, int, int]] = []
    if len(pairs):
        a = np.minimum(pairs[:, 0], pairs[:, 1])
        b = np.maximum(pairs[:, 0], pairs[:, 1])
        uniq = np.unique(a * n + b)
        a, b = uniq // n, uniq % n
        dist = frames.pairs(a, b)
        for i, j, d in zip(a.tolist(), b.tolist(), dist.tolist()):
            nbr[i][j] = d
            nbr[j][i] = d
            if d <= threshold:
                heap.append((d, i, j))
        heapq.heapify(heap)
    alive = [True] * n
    while heap:
        d, i, j = heapq.heappop(heap)
        if not (alive[i] and alive[j]) or nbr[i].get(j) != d:
            continue  # stale: one side merged since, or the distance changed
        if len(nbr[i]) < len(nbr[j]):
            i, j = j, i  # keep the id with more neighbours
        ni, nj = len(members[i]), len(members[j])
        ai, aj = nbr[i], nbr[j]
        del ai[j]
        del aj[i]
        others = ai.keys() | aj.keys()
        # Exact distances for neighbours known to one side only, one block per side.
        for side, known in ((i, ai), (j, aj)):
            miss = [c for c in others if c not in known]
            if not miss:
                continue
            cols = np.concatenate([members[c] for c in miss])
            sums = frames.block(np.asarray(members[side]), cols).sum(axis=0)
            bounds = np.cumsum([0] + [len(members[c]) for c in miss])
            seg = np.add.reduceat(sums, bounds[:-1])
            for c, total, m in zip(miss, seg.tolist(), np.diff(bounds).tolist()):
                known[c] = total / (len(members[side]) * m)
        merged: dict[int, float] = {}
        for c in others:
            dn = (ni * ai[c] + nj * aj[c]) / (ni + nj)  # Lance-Williams for average linkage
            merged[c] = dn
            other = nbr[c]
            other.pop(j, None)
            other[i] = dn
            if dn <= threshold:
                heapq.heappush(heap, (dn, min(i, c), max(i, c)))
        nbr[i] = merged
        nbr[j] = {}
        members[i].extend(members[j])
        members[j] = []
        alive[j] = False
    labels = np.empty(n, np.int64)
    for lab, m in enumerate(members):
        if m:
            labels[m] = lab
    return labels


def group_shots(items: Sequence[GroupItem], sensitivity: float = 0.5) -> list[int]:
    """Group id (0, 1, ...) for each item, numbered in order of the groups' first frame."""
    n = len(items)
    if n == 0:
        return []
    if n == 1:
        return [0]
    frames = _Frames(items)
    pairs = np.concatenate([capture_order_pairs(items), content_pairs(frames)])
    labels = _average_linkage(frames, pairs, threshold_for(sensitivity))
    # Renumber by first appearance in time order: deterministic ids.
    order = sorted(range(n), key=lambda i: (items[i].ts if items[i].ts is not None else float("inf"), items[i].key))
    remap: dict[int, int] = {}
    out = [0] * n
    for i in order:
        lab = int(labels[i])
        if lab not in remap:
            remap[lab] = len(remap)
        out[i] = remap[lab]
    return out
