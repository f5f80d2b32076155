"""The people of a burst: faces matched to persons across frames, and which persons matter.

A hand-held burst is never pixel-aligned (frames shift by 1-3 %, roll by a degree, zoom by a
few percent), so faces are matched by their *constellation*: for each frame the translation
that best lays its face centres onto the reference frame's is found among the candidate
face-to-face offsets (robust to the shift; roll and zoom leave small residuals), then faces
are assigned to persons by the Hungarian method on the residual distance in face heights.
A face that matches nobody starts a new person.

Important persons (:func:`important_people`) are the ones a photographer culls for:

- seen in at least half of the frames (a passer-by crossing the frame is not);
- in the foreground: median face height at least half the largest person's (the area rule
  of ``ShotInput.important_faces``, per person over the burst);
- near the focus plane: their sharpest frame reaches at least a third of the sharpest
  person's (a bystander far behind, soft in every frame, does not count).  Persons whose eyes
  cannot be measured (profiles, ``eye_sharpness`` absent) are judged on size alone.

A couple, a 4-10 person group and a profile all pass these rules; a small, blurred
background face does not.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

Face = Mapping[str, Any]  # a face record: x, y, w, h (0..1 of the frame), signals, scores

MATCH_MAX = 0.6  # a face further than this many face heights from a person is someone else
MIN_PRESENCE = 0.5
MIN_REL_HEIGHT = 0.5
MIN_REL_SHARPNESS = 1.0 / 3.0


def _centres(faces: Sequence[Face]) -> np.ndarray:
    return np.array([[float(f["x"]) + float(f["w"]) / 2, float(f["y"]) + float(f["h"]) / 2] for f in faces], float).reshape(-1, 2)


def _heights(faces: Sequence[Face]) -> np.ndarray:
    return np.array([max(float(f["h"]), 1e-6) for f in faces], float)


def match_people(faces: Sequence[Sequence[Face]]) -> list[list[int]]:
    """Person id of every face of every frame (ids 0..P-1, stable across the burst)."""
    from scipy.optimize import linear_sum_assignment

    n = len(faces)
    out: list[list[int]] = [[-1] * len(fs) for fs in faces]
    if not any(faces):
        return out
    ref_i = max(range(n), key=lambda i: (len(faces[i]), -i))
    ref_c = _centres(faces[ref_i])
    ref_h = _heights(faces[ref_i])
    out[ref_i] = list(range(len(faces[ref_i])))
    for i in range(n):
        if i == ref_i or not faces[i]:
            continue
        c, h = _centres(faces[i]), _heights(faces[i])
        # candidate translations: every (person, face) offset, and none
        cands = [np.zeros(2)] + [ref_c[p] - c[k] for p in range(len(ref_c)) for k in range(len(c))]
        best_t, best_s = cands[0], -1.0
        for t in cands:
            d = np.linalg.norm((c + t)[:, None, :] - ref_c[None, :, :], axis=2) / ref_h[None, :]
            s = float(np.exp(-((d.min(axis=1) / 0.3) ** 2)).sum())
            if s > best_s + 1e-9:
                best_t, best_s = t, s
        d = np.linalg.norm((c + best_t)[:, None, :] - ref_c[None, :, :], axis=2) / np.maximum(ref_h[None, :], h[:, None])
        rows, cols = linear_sum_assignment(d)
        for k, p in zip(rows, cols):
            if d[k, p] <= MATCH_MAX:
                out[i][k] = int(p)
        for k in range(len(c)):  # nobody in the reference frame: a new person
            if out[i][k] < 0:
                ref_c = np.vstack([ref_c, c[k] + best_t])
                ref_h = np.append(ref_h, h[k])
                out[i][k] = len(ref_c) - 1
    return out


def important_people(faces: Sequence[Sequence[Face]], people: Sequence[Sequence[int]]) -> set[int]:
    """The persons that count (see the module doc)."""
    n = len(faces)
    seen: dict[int, list[float]] = {}
    sharp: dict[int, list[float]] = {}
    for fs, ids in zip(faces, people):
        for f, p in zip(fs, ids):
            if p < 0:
                continue
            seen.setdefault(p, []).append(float(f["h"]))
            s = (f.get("signals") or {}).get("eye_sharpness")
            yaw = abs(float((f.get("signals") or {}).get("yaw", 0.0)))
            if s is not None and yaw <= 50:
                sharp.setdefault(p, []).append(float(s))
    if not seen:
        return set()
    need = max(1, int(np.ceil(MIN_PRESENCE * n - 1e-9)))
    # A "person" in fewer than half of the frames is no evidence about the burst (a face found by
    # noise or blocking in two frames of a scene without people, as a cat's): nobody counts then,
    # and the frames are judged as wholes.
    present = {p for p, hs in seen.items() if len(hs) >= need}
    if not present:
        return set()
    size = {p: float(np.median(seen[p])) for p in present}
    top = max(size.values())
    near = {p for p in present if size[p] >= MIN_REL_HEIGHT * top}
    best = {p: max(sharp[p]) for p in near if sharp.get(p)}
    if best:
        top_s = max(best.values())
        near = {p for p in near if p not in best or best[p] >= MIN_REL_SHARPNESS * top_s}
    return near
