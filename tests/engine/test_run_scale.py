"""The whole run scales (issue 14): small tasks, batched catalog writes, one-pass planning."""

from __future__ import annotations

import pickle
from pathlib import Path

from engine import ANALYSIS_VERSION
from engine.catalog import Catalog
from engine.pipeline import ResultWriter, _plan
from engine.scan import scan_folder


def _folder(tmp_path: Path, n: int) -> Path:
    root = tmp_path / "shoot"
    root.mkdir()
    for i in range(n):
        (root / f"IMG_{i:04d}.jpg").write_bytes(b"\xff\xd8" + i.to_bytes(4, "big"))
    return root


def _result(key: str, i: int) -> dict:
    return {
        "key": key, "status": "ok", "size": 6, "mtime_ns": 1, "hash": f"h{i:05d}",
        "metadata": {"capture_ts": 1000.0 + i, "time_source": "exif", "make": "Demo"},
        "analysis": {"engine_version": ANALYSIS_VERSION, "width": 10, "height": 8, "embedding": b"\0" * 8,
                     "n_faces": 1, "members": '["a"]', "analysed_at": 0.0, "seconds": 0.1},
        "faces": [{"x": 0.1, "y": 0.1, "w": 0.2, "h": 0.2, "det_score": 0.99, "landmarks": [[0.1, 0.2]],
                   "signals": {"eyes": 0.9}, "crop": b"jpeg"}],
        "scores": {"a": (float(i), 0.5)},
    }  # fmt: skip


def test_tasks_do_not_carry_the_known_hashes(tmp_path: Path) -> None:
    root = _folder(tmp_path, 30)
    shots = scan_folder(root).shots
    with Catalog(tmp_path / "c.sqlite", root) as cat:
        known = {f"{i:064x}" for i in range(50_000)}
        tasks, ready = _plan(cat, shots, known)
    assert len(tasks) == 30 and not ready
    assert max(len(pickle.dumps(t)) for t in tasks) < 400  # was ~4 MB each with 50,000 known hashes


def test_results_are_written_in_batches_and_kept_when_the_run_stops(tmp_path: Path) -> None:
    root = _folder(tmp_path, 200)
    shots = scan_folder(root).shots
    cat = Catalog(tmp_path / "c.sqlite", root)
    commits: list[str] = []
    cat.conn.set_trace_callback(lambda sql: commits.append(sql) if sql.strip().upper() == "COMMIT" else None)
    stored: list[str] = []
    with ResultWriter(cat, root, shots, lambda r: stored.append(r.key), batch=64, seconds=60) as w:
        for i, s in enumerate(shots[:150]):
            w.add(_result(s.key, i))
            if i == 63:
                # the first batch is committed, and reported only once committed
                assert len(stored) == 64 and cat.conn.execute("SELECT count(*) FROM shots").fetchone()[0] == 64
    cat.conn.set_trace_callback(None)
    assert len(commits) == 3  # 64 + 64 + 22 on leaving the block
    assert stored == [s.key for s in shots[:150]]
    rows = cat.shots("status = 'ok'")
    assert len(rows) == 150 and all(r["n_faces"] == 1 for r in rows)
    assert cat.scores_of("h00007") == {"a": (7.0, 0.5)}
    assert cat.faces_of("h00007")[0]["signals"] == {"eyes": 0.9}
    assert cat.conn.execute("SELECT make FROM metadata WHERE shot = ?", (shots[7].key,)).fetchone()[0] == "Demo"
    # an upsert keeps the columns it does not set (a re-stored shot keeps its group until regrouped)
    cat.conn.execute("UPDATE shots SET group_id = 5 WHERE key = ?", (shots[7].key,))
    reused = {k: v for k, v in _result(shots[7].key, 7).items() if k not in ("analysis", "faces", "scores")}
    with ResultWriter(cat, root, shots) as w:
        w.add({**reused, "reused": True})
    row = cat.shot(shots[7].key)
    assert row is not None and row["group_id"] == 5 and row["n_faces"] == 1
    cat.close()
