"""`culler taste learn DIR` on a folder rated in Lightroom changes `culler rank`'s picks (issue 15)."""

from __future__ import annotations

import shutil
import subprocess
from datetime import datetime, timedelta
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("sklearn")

from engine import demo  # noqa: E402
from engine.catalog import Catalog  # noqa: E402
from engine.cli import main  # noqa: E402
from engine.export.xmp import new_xmp  # noqa: E402

GAINS = (1.0, 0.85, 1.15, 2.0)  # linear-light gains: the last frame is one stop brighter


def _shoot(root: Path, day: int, rated: bool) -> dict[str, str]:
    """Bursts of four frames; the photographer (in Lightroom) gave the +1 EV frame 5 stars."""
    root.mkdir(parents=True)
    srcs = demo.demo_sources(400)
    start = datetime(2026, 6, day, 10, 0, 0)
    bright = {}
    for g, (name, src) in enumerate(sorted(srcs.items())):
        lin = demo._lin(src)
        for i, gain in enumerate(GAINS):
            key = f"{name}_{i}.jpg"
            img = demo._srgb(np.clip(lin * gain * 0.8, 0, 1))
            demo.save_jpeg(root / key, img, start + timedelta(seconds=300 * g + i), quality=92)
            if gain == 2.0:
                bright[f"{name}"] = key
            if rated:
                rating, label = (5, "Green") if gain == 2.0 else (-1, "Red")
                (root / f"{name}_{i}.xmp").write_bytes(new_xmp(rating, label))
    return bright


def _picks(cat: Path) -> set[str]:
    with Catalog(cat, readonly=True) as c:
        return {r["key"] for r in c.shots("status = 'ok'") if r["rank"] == 1}


def test_learning_from_a_lightroom_rated_folder_moves_the_picks(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("CULLER_TASTE_DIR", str(tmp_path / "taste"))
    rated = tmp_path / "2026-06-01"
    bright1 = _shoot(rated, 1, rated=True)
    new = tmp_path / "2026-06-02"
    bright2 = _shoot(new, 2, rated=False)
    assert main(["rank", str(new), "-j", "1", "-q"]) == 0
    default_picks = _picks(tmp_path / "2026-06-02.culler.sqlite")
    assert not default_picks & set(bright2.values())  # the default keeps the burst's exposure
    assert main(["taste", "learn", str(rated), "-j", "1"]) == 0
    out = capsys.readouterr().out
    assert f"{len(bright1) * 4} decision(s) read from XMP" in out
    assert "prefers brighter" in out
    capsys.readouterr()
    assert main(["rank", str(new), "-j", "1", "-q"]) == 0
    assert "ranked by your taste (taste-v1, learned from 12 decisions)" in capsys.readouterr().out
    assert _picks(tmp_path / "2026-06-02.culler.sqlite") == set(bright2.values())
    # the photos were only read: nothing but catalogs and the profile was written
    assert sorted(p.suffix for p in new.iterdir()) == [".jpg"] * len(bright2) * 4


@pytest.mark.skipif(
    shutil.which("exiftool") is None,
    reason="exiftool missing (Debian: apt install libimage-exiftool-perl)",
)
def test_sidecar_written_by_exiftool_is_imported(tmp_path: Path) -> None:
    from engine.taste.xmpread import read_decision, to_decision

    jpg = tmp_path / "IMG_9.jpg"
    demo.save_jpeg(jpg, np.full((32, 48, 3), 128, np.uint8), None)
    subprocess.run(
        [
            "exiftool",
            "-q",
            "-o",
            str(tmp_path / "IMG_9.xmp"),
            "-XMP-xmp:Rating=3",
            "-XMP-xmp:Label=Purple",
            str(jpg),
        ],
        check=True,
    )
    found, problems = read_decision([jpg])
    assert found is not None and not problems
    d = to_decision("IMG_9.jpg", found)
    assert (d.flag, d.stars, d.label) == (None, 3, "Purple")
