"""Benchmark the taste profile: learning time and agreement against the number of decisions.

    python bench/bench_taste.py --runs 3
    python bench/bench_taste.py --decisions 50 200 --tastes high_key --runs 1   # quick

Sessions of 10 bursts of 5 frames are simulated (engine.taste.simulate: real catalogs,
the technical members' own value->quality maps, default grouping and ranking); a scripted
photographer culls them (one pick, the rest rejected: 5 decisions per burst).  For each
number of decisions the profile is learned from that many, then 4 held-out sessions
(40 bursts) are ranked with it.  Prints a Markdown table: learning time (median of
--runs, including the leave-one-shoot-out model selection), the leave-one-shoot-out
agreement reported by `culler taste learn`, and top-1 agreement on the held-out sessions
for the default ranking and the learned one.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

GROUPS, SIZE = 10, 5


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--decisions", type=int, nargs="+", default=[50, 200, 1000, 5000])
    ap.add_argument("--tastes", nargs="+", default=["high_key", "no_noise", "sharpest", "default"])
    ap.add_argument("--runs", type=int, default=3)
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench-taste-"))
    os.environ["CULLER_TASTE_DIR"] = str(work / "taste")
    from engine.catalog import Catalog
    from engine.pipeline import regroup
    from engine.taste import profile as tp
    from engine.taste import simulate as sim
    from engine.taste.learn import learn_from_catalogs, to_profile

    try:
        n_sessions = max(1, max(args.decisions) // (GROUPS * SIZE))
        t0 = time.perf_counter()
        train = [
            sim.make_session(work / f"train-{s}.sqlite", 100 + s, GROUPS, SIZE)
            for s in range(n_sessions)
        ]
        test = [
            sim.make_session(work / f"test-{s}.sqlite", 9000 + s, GROUPS, SIZE) for s in range(4)
        ]
        print(
            f"simulated {len(train) + len(test)} sessions in {time.perf_counter() - t0:.0f}s",
            file=sys.stderr,
        )
        print(
            "| taste | decisions | shoots | learn time (median) | leave-one-shoot-out: default / learned | held-out top-1: default / learned |"
        )
        print("| --- | --- | --- | --- | --- | --- |")
        for taste in args.tastes:
            for p in train:
                sim.decide(p, taste)
            tp.reset()
            for p in test:
                with Catalog(p) as c:
                    regroup(c, sim.MEMBERS)
            base = statistics.mean(sim.top1_agreement(p, taste) for p in test)
            for n in args.decisions:
                use = train[: max(1, n // (GROUPS * SIZE))]
                times, result = [], None
                for _ in range(args.runs):
                    t = time.perf_counter()
                    result = learn_from_catalogs(use)
                    times.append(time.perf_counter() - t)
                assert result is not None
                tp.save_profile(to_profile(result))
                for p in test:
                    with Catalog(p) as c:
                        regroup(c, sim.MEMBERS)
                learned = statistics.mean(sim.top1_agreement(p, taste) for p in test)
                tp.reset()
                print(
                    f"| {taste} | {result.n_decisions} | {result.n_shoots} | {statistics.median(times):.2f} s "
                    f"| {result.agreement_default:.2f} / {result.agreement_learned:.2f} ({result.method}) | {base:.2f} / {learned:.2f} |",
                    flush=True,
                )
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
