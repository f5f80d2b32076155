"""``culler evaluate``: challenge metrics (NTIRE 2024 portrait quality protocol) of a predictions file."""

from __future__ import annotations

import argparse
import json
import sys

HELP = "score a predictions file (IMAGE,SCORE) against a PIQ23 score file with the challenge protocol"
DESCRIPTION = """\
Challenge metrics of a predictions CSV (columns IMAGE and SCORE, the NTIRE 2024 submission format)
against a PIQ23 score file (Scores_Overall.csv, or a split file such as
SceneSplit_Test_Scores_Overall.csv).  SRCC, PLCC and KRCC are computed per scene; the medians
over scenes are reported, and the challenge score is the median over scenes of the per-scene mean
of the three; MAE (per scene, median over scenes) is shown beside them.  Higher predicted SCORE
must mean better quality.  Works without torch and without the training module.

  culler evaluate --scores splits/scene/SceneSplit_Test_Scores_Overall.csv --predictions pred.csv
  culler evaluate --scores scores/Scores_Overall.csv --predictions pred.csv --partial --json
"""


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--scores", required=True, metavar="SCORES_CSV", help="PIQ23 score file (full or split)")
    p.add_argument("--predictions", required=True, metavar="PRED_CSV", help="CSV with columns IMAGE, SCORE")
    p.add_argument("--json", action="store_true", help="print one JSON object (srcc, plcc, krcc, score, scenes)")
    p.add_argument(
        "--partial",
        action="store_true",
        help="score only the images that have a prediction (default: every image of the score file must have one)",
    )


def run(args: argparse.Namespace) -> int:
    from engine.piq23 import Piq23Error, read_predictions, read_scores, score_predictions

    try:
        rows = read_scores(args.scores)
        preds = read_predictions(args.predictions)
        m = score_predictions(rows, preds, partial=args.partial)
    except Piq23Error as exc:
        print(f"culler evaluate: {exc}", file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps(m.to_dict(), sort_keys=True))
        return 0
    width = max(len(s) for s in m.scenes)
    print(f"{'scene':<{width}}  {'n':>4}  {'SRCC':>7}  {'PLCC':>7}  {'KRCC':>7}  {'mean':>7}  {'MAE':>7}")
    for name, s in sorted(m.scenes.items()):
        print(f"{name:<{width}}  {s.n:>4}  {s.srcc:>7.4f}  {s.plcc:>7.4f}  {s.krcc:>7.4f}  {s.score:>7.4f}  {s.mae:>7.4f}")
    print(f"{'median':<{width}}  {m.n_images:>4}  {m.srcc:>7.4f}  {m.plcc:>7.4f}  {m.krcc:>7.4f}  {m.score:>7.4f}  {m.mae:>7.4f}")
    print(f"challenge score (median over scenes of the per-scene mean): {m.score:.4f}")
    return 0
