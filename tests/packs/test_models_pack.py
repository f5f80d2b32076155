"""Pack loading and checksum refusal."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from packtools import make_pack

from engine.packs.pack import MANIFEST, PackError, read_manifest, verify_pack
from engine.packs.runtime import PackRuntime


def flip_byte(path: Path, offset: int) -> None:
    data = bytearray(path.read_bytes())
    data[offset] ^= 0x01
    path.write_bytes(bytes(data))


def test_pack_round_trip(tmp_path: Path) -> None:
    p = make_pack(tmp_path / "p", size=24, crops="grid5")
    m = verify_pack(p)
    assert m.name == "tiny-sharp"
    assert set(m.files) == {"model.onnx", "MODEL_CARD.md"}
    assert m.inputs[0].size == (24, 24) and m.inputs[0].crops == "grid5"
    assert m.output.range == (0.0, 0.5)
    assert not any(q.name.startswith(".") for q in tmp_path.iterdir())  # no temp leftovers


@pytest.mark.parametrize("where", ["start", "middle", "end"])
def test_single_flipped_byte_in_model_is_refused(tmp_path: Path, where: str) -> None:
    p = make_pack(tmp_path / "p")
    size = (p / "model.onnx").stat().st_size
    flip_byte(p / "model.onnx", {"start": 0, "middle": size // 2, "end": size - 1}[where])
    with pytest.raises(PackError, match="checksum mismatch for model.onnx"):
        verify_pack(p)
    with pytest.raises(PackError, match="checksum mismatch"):
        PackRuntime(p)


def test_flipped_byte_in_manifest_checksum_is_refused(tmp_path: Path) -> None:
    p = make_pack(tmp_path / "p")
    text = (p / MANIFEST).read_text()
    digest = json.loads(text)["files"]["model.onnx"]
    # flip one bit of one hex digit of the recorded checksum ('0'<->'1', 'a'<->'`' ...)
    off = text.index(digest) + 5
    flip_byte(p / MANIFEST, off)
    with pytest.raises(PackError):
        verify_pack(p)


def test_flipped_byte_in_model_card_is_refused(tmp_path: Path) -> None:
    p = make_pack(tmp_path / "p")
    flip_byte(p / "MODEL_CARD.md", 0)
    with pytest.raises(PackError, match="MODEL_CARD.md"):
        verify_pack(p)


def test_missing_file_and_malformed_manifest(tmp_path: Path) -> None:
    p = make_pack(tmp_path / "p")
    (p / "MODEL_CARD.md").unlink()
    with pytest.raises(PackError, match="MODEL_CARD.md is missing"):
        verify_pack(p)
    (p / MANIFEST).write_text("{not json")
    with pytest.raises(PackError, match="cannot read"):
        read_manifest(p)
    (p / MANIFEST).write_text(json.dumps({"name": "x"}))
    with pytest.raises(PackError, match="malformed manifest"):
        read_manifest(p)
    with pytest.raises(PackError, match="not a model pack"):
        read_manifest(tmp_path)


def test_manifest_inputs_must_match_the_graph(tmp_path: Path) -> None:
    from packtools import sharpness_model

    from engine.packs.pack import Manifest, PackInput, write_pack

    m = Manifest(name="bad", version="1", architecture="x", inputs=[PackInput("pixels", "image", (32, 32))])
    p = write_pack(tmp_path / "bad", m, {"model.onnx": sharpness_model(32)})
    with pytest.raises(PackError, match="'pixels' is not an input of the model"):
        PackRuntime(p)
    m = Manifest(name="bad2", version="1", architecture="x", inputs=[PackInput("image", "image", (64, 64))])
    p = write_pack(tmp_path / "bad2", m, {"model.onnx": sharpness_model(32)})
    with pytest.raises(PackError, match="height is 32 in the model, 64 in the manifest"):
        PackRuntime(p)
