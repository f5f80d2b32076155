"""RAW in the loupe (issue 17 item 2, issue 13 item 2): the loupe shows a RAW's largest embedded
preview, never a development of its sensor data, and a RAW whose largest preview is under
1,000 px is labelled "preview too small to judge focus" in the loupe and the inspector (the
catalog records it: ``Catalog.previews()``).  The RAWs are the synthetic containers of
:mod:`engine.rawsynth` (their sensor data is noise no JPEG decoder reads)."""

from __future__ import annotations

import sys
import time
import types
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
import gen  # noqa: E402
from PySide6.QtCore import QSettings  # noqa: E402

from app.settings import AppSettings  # noqa: E402
from app.window import MainWindow  # noqa: E402
from engine import rawsynth  # noqa: E402
from engine.rawpreview import TOO_SMALL_NOTE  # noqa: E402

SMALL = "SMALL.CR3"


def raw_session(root: Path, catalog: Path) -> None:
    """A folder of RAWs and the catalog the engine would write for it (through the Catalog API,
    with the engine's own record of which preview was analysed: ``preview_record``)."""
    from engine.catalog import Catalog
    from engine.images import decode, preview_record

    rawsynth.cr3(root / "BIG.CR3", full=(2400, 1600), prvw=(1620, 1080), thmb=(160, 120))
    rawsynth.tiff_raw(root / "BIG.NEF", preview=(2000, 1500), thumb=(160, 120))
    rawsynth.cr3(root / SMALL, full=None, prvw=(800, 533), thmb=(160, 120))
    names = ["BIG.CR3", "BIG.NEF", SMALL]
    with Catalog(catalog, root) as cat:
        rows = []
        for i, name in enumerate(names):
            p = root / name
            h = f"raw{i}"
            dec = decode(p, max_side=1024)
            cat.upsert_file({"path": name, "shot": name, "role": "primary", "size": p.stat().st_size,
                             "mtime_ns": p.stat().st_mtime_ns, "hash": h, "status": "ok", "reason": None})
            cat.upsert_shot({"key": name, "primary_path": name, "raw_path": name, "hash": h, "status": "ok",
                             "reason": None, "seen_at": time.time(), "n_faces": 0})
            cat.upsert_metadata(name, {"capture_ts": 1.75e9 + i, "capture_time": None, "time_source": "file",
                                       "width": dec.full_size[0], "height": dec.full_size[1]})
            cat.store_analysis(h, {"engine_version": "test", "width": dec.rgb.shape[1], "height": dec.rgb.shape[0],
                                   "full_width": dec.full_size[0], "full_height": dec.full_size[1], "n_faces": 0,
                                   "analysed_at": time.time(), "seconds": 0.1, **preview_record(dec)},
                               [], {"exposure": (0.5, 0.9 - 0.1 * i)})
            rows.append({"key": name, "group_id": 1, "rank": i + 1, "score": 90.0 - 10 * i,
                         "suggested": "pick" if i == 0 else "reject", "explain": None})
        cat.write_groups(rows, [{"id": 1, "n_shots": 3, "best": names[0], "start_time": None}])


@pytest.fixture
def raw_folder(tmp_path: Path) -> Path:
    root = tmp_path / "card"
    root.mkdir()
    raw_session(root, tmp_path / "card.culler.sqlite")
    return root


@pytest.fixture
def settings(tmp_path: Path) -> AppSettings:
    return AppSettings(QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat))


def loupe_on(qtbot, w: MainWindow, key: str) -> None:  # type: ignore[no-untyped-def]
    assert w.select_key(key)
    if w.page() != w.PAGE_LOUPE:
        w.show_loupe()
    qtbot.waitUntil(lambda: w.previews.has(key) or w.previews.error(key) is not None, timeout=20000)
    w.viewer.show_current()


def test_loupe_shows_the_largest_embedded_preview_and_labels_small_ones(qtbot, settings: AppSettings,
                                                                        raw_folder: Path) -> None:
    from engine.images import decode

    w = gen.show_window(qtbot, MainWindow(settings, rank_fn=lambda *a, **k: None))
    assert w.open_folder(raw_folder), w.messages
    qtbot.waitUntil(lambda: not w.busy() and w.shots_model.rowCount() == 3, timeout=30000)
    side = w.previews.max_side
    assert side is not None

    # the CR3's largest preview is its full-size JPEG (2400 px), not the PRVW (1620 px) that
    # decoding at the loupe's size would pick
    assert decode(raw_folder / "BIG.CR3", max_side=side).full_size == (1620, 1080)
    loupe_on(qtbot, w, "BIG.CR3")
    assert w.previews.error("BIG.CR3") is None
    assert (w.loupe.full_w, w.loupe.full_h) == (2400, 1600)
    assert w.loupe.note == ""
    w.viewer.request_full("BIG.CR3")  # what 100 % asks for: the same largest preview, full size
    qtbot.waitUntil(lambda: w.viewer.fulls.has("BIG.CR3"), timeout=20000)
    full = w.viewer.fulls.get("BIG.CR3")
    assert full is not None and (full.width(), full.height()) == (2400, 1600)

    loupe_on(qtbot, w, "BIG.NEF")
    assert (w.loupe.full_w, w.loupe.full_h) == (2000, 1500)

    # under 1,000 px: labelled in the loupe and the inspector, still listed, grouped and shown
    loupe_on(qtbot, w, SMALL)
    assert w.loupe.pix is not None and (w.loupe.full_w, w.loupe.full_h) == (800, 533)
    assert w.loupe.note == TOO_SMALL_NOTE
    s = w.current_shot()
    assert s is not None and s.preview_note == TOO_SMALL_NOTE and s.preview_size == (800, 533)
    assert TOO_SMALL_NOTE in s.warnings and s.group_id == 1
    facts = w.inspector.facts.text()
    assert TOO_SMALL_NOTE in facts and "800×533" in facts
    big = w.session.shots["BIG.CR3"] if w.session else None
    assert big is not None and big.preview_note is None and TOO_SMALL_NOTE not in big.warnings
    w.close()


def test_a_raw_without_embedded_preview_is_never_developed_for_the_loupe(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """When neither the container nor LibRaw has a preview, the loupe says so in one line; the
    sensor data is not developed (``postprocess`` is never called)."""
    from app.imaging import DecodeError, decode_view

    developed: list[bool] = []

    class NoThumb(Exception):
        pass

    class Raw:
        sizes = types.SimpleNamespace(flip=0)

        def __enter__(self) -> Raw:
            return self

        def __exit__(self, *a: object) -> None:
            return None

        def extract_thumb(self) -> None:
            raise NoThumb()

        def postprocess(self, **kw: object) -> object:
            developed.append(True)
            import numpy as np

            return np.zeros((64, 96, 3), np.uint8)

    fake = types.ModuleType("rawpy")
    fake.imread = lambda path: Raw()  # type: ignore[attr-defined]
    fake.LibRawNoThumbnailError = NoThumb  # type: ignore[attr-defined]
    fake.LibRawUnsupportedThumbnailError = NoThumb  # type: ignore[attr-defined]
    fake.ThumbFormat = types.SimpleNamespace(JPEG=1, BITMAP=2)  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "rawpy", fake)
    p = tmp_path / "NOPREVIEW.CR3"
    rawsynth.cr3(p, full=None, prvw=None, thmb=None)
    with pytest.raises(DecodeError) as exc:
        decode_view(p, 1024)
    assert "no embedded preview" in str(exc.value) and "\n" not in str(exc.value)
    assert developed == []
