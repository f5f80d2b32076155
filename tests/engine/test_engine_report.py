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


def test_rank_files_report_only_the_scores_of_the_members_used(tmp_path: Path) -> None:
    """An old model's scores of the same pack (another cache identity) and the scores of a member
    the ranking did not use never appear in the rank files, as regroup never fuses them."""
    cat = _catalog(tmp_path / "c.sqlite")
    with Catalog(cat) as c:
        c.store_analysis("ha", {"engine_version": "t", "n_faces": 1}, [],
                         {"sharpness": (5.0, 0.5), "pack:p": (9.0, 0.9)}, identities={"pack:p": "pack:p@1#aaaa"})
        c.store_analysis("hb", {"engine_version": "t", "n_faces": 1}, [],
                         {"sharpness": (5.0, 0.5), "pack:p": (2.0, 0.2)}, identities={"pack:p": "pack:p@2#bbbb"})
    used = {"sharpness": "sharpness", "pack:p": "pack:p@2#bbbb"}  # noise is not used
    rows, members = rank_rows(cat, used)
    assert members == ["pack:p", "sharpness"]
    by_file = {r["file"]: r["members"] for r in rows}
    assert by_file["a.jpg"] == {"sharpness": {"value": 5.0, "quality": 0.5}}  # the old model's 9.0 is gone
    assert by_file["b.jpg"]["pack:p"] == {"value": 2.0, "quality": 0.2}
    assert all("noise" not in m for m in by_file.values())
    write_ranks(cat, tmp_path / "r.csv", used)
    table = {r["file"]: r for r in csv.DictReader((tmp_path / "r.csv").open())}
    assert "noise" not in table["a.jpg"] and table["a.jpg"]["pack:p"] == "" and table["b.jpg"]["pack:p"] == "2"


def test_a_rank_file_lists_the_members_of_its_run(tmp_path: Path) -> None:
    """`culler rank` run again with fewer members: the catalog still holds the first run's
    scores, but the rank file shows only the members this run ranked with."""
    from datetime import datetime

    from engine import demo
    from engine.pipeline import RankOptions
    from engine.report import rank_and_report

    root, cat = tmp_path / "s", tmp_path / "c.sqlite"
    demo.write_burst(root, demo.demo_sources(300)["coffee"], "C", datetime(2026, 1, 1), plan=demo.burst_plan(["noise"]))
    rc, first = rank_and_report(RankOptions(root, catalog=cat, workers=1, members=["sharpness", "noise", "exposure"]),
                                tmp_path / "r1.csv", "culler", quiet=True)
    assert rc == 0 and first.identities == {"sharpness": "sharpness", "noise": "noise", "exposure": "exposure"}
    assert {"sharpness", "noise", "exposure"} <= set(next(csv.DictReader((tmp_path / "r1.csv").open())))
    rc, second = rank_and_report(RankOptions(root, catalog=cat, workers=1, members=["sharpness", "noise"]),
                                 tmp_path / "r2.csv", "culler", quiet=True)
    assert rc == 0 and second.reused == 4
    header = next(csv.reader((tmp_path / "r2.csv").open()))
    assert [h for h in header if h in {"sharpness", "noise", "exposure"}] == ["noise", "sharpness"]
