"""The rank files and the summary read the catalog through its methods (no SQL in engine.report)."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

from engine.catalog import Catalog
from engine.pipeline import RankSummary
from engine.report import print_summary, rank_rows, write_ranks


def _catalog(path: Path) -> Path:
    """Two groups written out of order, one skipped shot, metadata for one shot only."""
    with Catalog(path) as cat:
        shots = [("b.jpg", "hb", 1, 2, 40.0), ("a.jpg", "ha", 1, 1, 90.0), ("c.jpg", "hc", 2, 1, 70.0)]
        for key, h, _, _, _ in shots:
            cat.upsert_shot({"key": key, "primary_path": key, "hash": h, "status": "ok", "n_faces": 1})
            cat.store_analysis(h, {"engine_version": "t", "n_faces": 1}, [], {"sharpness": (float(len(key)), 0.5),
                                                                           "noise": (0.25, 0.75)})
        cat.upsert_shot({"key": "bad.jpg", "primary_path": "bad.jpg", "status": "skipped", "reason": "truncated"})
        cat.write_groups(
            [{"key": k, "group_id": g, "rank": r, "score": s, "suggested": "pick" if r == 1 else None}
             for k, _, g, r, s in shots],
            [{"id": 1, "n_shots": 2, "best": "a.jpg"}, {"id": 2, "n_shots": 1, "best": "c.jpg"}],
        )
        cat.db.table("metadata").upsert({"shot": "a.jpg", "capture_time": "2026-03-01T12:00:00", "time_source": "exif",
                                         "make": "Canon", "model": "EOS R6"}, pk="shot")
    return path


def test_ranked_shots_and_all_scores(tmp_path: Path) -> None:
    with Catalog(_catalog(tmp_path / "c.sqlite"), readonly=True) as cat:
        rows = cat.ranked_shots()
        scores = cat.all_scores()
    assert [(r["key"], r["group_id"], r["rank"]) for r in rows] == [("a.jpg", 1, 1), ("b.jpg", 1, 2), ("c.jpg", 2, 1)]
    assert rows[0]["make"] == "Canon" and rows[0]["time_source"] == "exif" and rows[1]["capture_time"] is None
    assert scores == {h: {"sharpness": (5.0, 0.5), "noise": (0.25, 0.75)} for h in ("ha", "hb", "hc")}


def test_rank_files_and_summary(tmp_path: Path) -> None:
    cat = _catalog(tmp_path / "c.sqlite")
    rows, members = rank_rows(cat)
    assert members == ["noise", "sharpness"]
    assert rows[0] == {
        "file": "a.jpg", "group": 1, "rank": 1, "score": 90.0, "faces": 1, "suggested": "pick", "raw": None,
        "capture_time": "2026-03-01T12:00:00", "time_source": "exif", "camera": "Canon EOS R6",
        "members": {"noise": {"value": 0.25, "quality": 0.75}, "sharpness": {"value": 5.0, "quality": 0.5}},
    }  # fmt: skip
    write_ranks(cat, tmp_path / "r.csv")
    table = list(csv.DictReader((tmp_path / "r.csv").open()))
    assert [r["file"] for r in table] == ["a.jpg", "b.jpg", "c.jpg"] and table[1]["camera"] == ""
    assert table[0]["noise"] == "0.25" and table[0]["sharpness"] == "5"
    write_ranks(cat, tmp_path / "r.json")
    assert json.loads((tmp_path / "r.json").read_text())["shots"] == rows
    out = io.StringIO()
    print_summary(RankSummary(cat, n_shots=3, n_groups=2, seconds=1.0), file=out)
    text = out.getvalue()
    assert "group   1:   2 shot(s); best a.jpg (score 90), then b.jpg (40)" in text
    assert "group   2:   1 shot(s); best c.jpg (score 70)" in text and "bad.jpg" not in text
