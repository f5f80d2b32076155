"""Cost of the image-data digest the analysis cache keeps (engine.imagekey, issue 10.12).

Hashes one large JPEG with the plain content hash (``engine.scan.file_hash``) and with the
content hash + image digest in one read (``engine.imagekey.file_hashes``), N runs each, and
prints the medians and their ratio.

    python bench/bench_imagekey.py [--runs 7] [--mp 24]
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path


def main() -> None:
    import numpy as np
    from PIL import Image

    from engine.imagekey import file_hashes
    from engine.scan import file_hash

    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=7)
    ap.add_argument("--mp", type=float, default=24.0, help="megapixels of the test JPEG (noise: a large file)")
    a = ap.parse_args()
    h = int((a.mp * 1e6 / 1.5) ** 0.5)
    w = int(h * 1.5)
    with tempfile.TemporaryDirectory() as d:
        p = Path(d) / "big.jpg"
        rng = np.random.default_rng(0)
        Image.fromarray(rng.integers(0, 255, (h, w, 3), dtype=np.uint8)).save(p, quality=95)
        res = {}
        for name, f in (("file_hash", file_hash), ("file_hashes", file_hashes)):
            f(p)  # warm the page cache
            ts = []
            for _ in range(a.runs):
                t0 = time.perf_counter()
                f(p)
                ts.append(time.perf_counter() - t0)
            res[name] = statistics.median(ts)
        size = p.stat().st_size / 1e6
    print(f"{w}x{h} JPEG, {size:.1f} MB, {a.runs} runs, load {os.getloadavg()[0]:.1f}")
    for k, v in res.items():
        print(f"  {k:12s} median {v * 1000:7.1f} ms")
    print(f"  ratio {res['file_hashes'] / res['file_hash']:.2f}")


if __name__ == "__main__":
    main()
