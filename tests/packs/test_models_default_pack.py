"""The default deep pack that ships in resources/models: verified, in the default ensemble, and
ranking the clean frame of a burst first for every defect type together with the technical members.

The bursts are made from a portrait the pack never saw: its model card lists its training
photographs (scikit-image's astronaut, coffee, chelsea, rocket, hubble_deep_field, camera), so
the astronaut of the demo session cannot test it.  Grace Hopper's portrait (U.S. Navy, public
domain; matplotlib ships it as sample data) is held out.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from engine.packs.ensemble import load_config
from engine.packs.pack import PackError, verify_pack
from engine.packs.search import builtin_models_dir

NAME = "portrait-lite-synth"
PACK = builtin_models_dir() / NAME
# the photographs the pack was trained on (MODEL_CARD.md, "Training data")
TRAINING_PHOTOS = ("astronaut", "coffee", "chelsea", "rocket", "hubble_deep_field", "camera")


def held_out_portrait(max_side: int = 1000) -> np.ndarray:
    """Grace Hopper (U.S. Navy photograph, public domain), from matplotlib's sample data."""
    import importlib.util

    from PIL import Image

    spec = importlib.util.find_spec("matplotlib")
    if spec is None or spec.origin is None:
        pytest.skip("matplotlib (training extra) ships the held-out portrait; it is not installed")
    path = Path(spec.origin).parent / "mpl-data" / "sample_data" / "grace_hopper.jpg"
    img = Image.open(path).convert("RGB")
    s = max_side / max(img.size)
    return np.asarray(img.resize((round(img.size[0] * s), round(img.size[1] * s)), Image.Resampling.LANCZOS))


def test_shipped_pack_verifies_and_is_small() -> None:
    m = verify_pack(PACK)
    assert m.name == NAME and m.commercial_use and m.licence == "Apache-2.0"
    assert "PIQ23" not in m.training_data.replace("no PIQ23", "")
    for photo in TRAINING_PHOTOS:  # the held-out portrait is not among them
        assert photo in m.training_data and photo in (PACK / "MODEL_CARD.md").read_text()
    assert "hopper" not in m.training_data.lower()
    assert (PACK / "MODEL_CARD.md").is_file() and "MODEL_CARD.md" in m.files
    assert sum(f.stat().st_size for f in PACK.iterdir()) < 20e6


def test_shipped_pack_is_in_the_default_ensemble(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("CULLER_USER_MODELS", str(tmp_path))
    monkeypatch.delenv("CULLER_MODELS_PATH", raising=False)
    assert NAME in (load_config().default or [])
    from engine.packs.members import register_installed_packs
    from engine.quality import registry

    registry._ensure_loaded()
    monkeypatch.setattr(registry, "_FACTORIES", dict(registry._FACTORIES))
    monkeypatch.setattr(registry, "_DEFAULTS", list(registry._DEFAULTS))
    assert NAME in [p.name for p in register_installed_packs()]
    assert f"pack:{NAME}" in registry.default_member_names()
    tech = [n for n in registry.default_member_names() if not n.startswith("pack:")]
    assert tech, "the technical members run beside the deep pack"


def test_verify_cli_on_shipped_and_tampered_copy(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from engine.cli import main

    assert main(["models", "verify", str(PACK)]) == 0
    copy = Path(shutil.copytree(PACK, tmp_path / NAME))
    data = bytearray((copy / "model.onnx").read_bytes())
    data[len(data) // 2] ^= 0x01
    (copy / "model.onnx").write_bytes(bytes(data))
    capsys.readouterr()
    assert main(["models", "verify", str(copy)]) == 1
    assert "checksum mismatch for model.onnx" in capsys.readouterr().out
    with pytest.raises(PackError):
        verify_pack(copy)


@pytest.fixture(scope="module")
def burst():  # type: ignore[no-untyped-def]
    """A burst of the held-out portrait as the demo makes them (clean + 6 defects x 3 levels)."""
    from engine.demo import DEFECTS, LEVELS, apply_defect
    from engine.faces import FaceDetector, analyse_faces
    from engine.quality.base import ShotInput

    det = FaceDetector(threads=1)
    rgb = held_out_portrait()
    shots = {}
    for d, lv in [("clean", 0)] + [(d, lv) for d in DEFECTS for lv in LEVELS]:
        img = apply_defect(rgb, d, lv)
        shots[(d, lv)] = ShotInput(image=img, faces=analyse_faces(img, det))
    return shots


def _member():  # type: ignore[no-untyped-def]
    from engine.packs.members import member_class

    return member_class(PACK, verify_pack(PACK), load_config().member(NAME))(device="cpu")


def test_pack_alone_prefers_the_clean_frame_at_strong_defects(burst) -> None:  # type: ignore[no-untyped-def]
    m = _member()
    keys = list(burst)
    res = dict(zip(keys, m.score_batch([burst[k] for k in keys])))
    clean = res[("clean", 0)]
    assert clean is not None and clean.per_face and len(clean.per_face) >= 1  # her face was scored
    for d in {k[0] for k in keys} - {"clean"}:
        assert clean.quality > res[(d, 3)].quality, d


def test_clean_frame_ranks_first_with_the_deep_pack_on(burst) -> None:  # type: ignore[no-untyped-def]
    """The whole burst as one scene group (as culler rank groups it): clean first, ahead of every
    defect type and level, with the technical members and the deep pack together."""
    from engine.packs.ensemble import Ensemble
    from engine.quality.registry import create_member, default_member_names

    tech = [create_member(n) for n in default_member_names() if not n.startswith("pack:")]
    keys = list(burst)
    scores, ranks = Ensemble([*tech, _member()]).rank_group([burst[k] for k in keys])
    by_key = dict(zip(keys, scores))
    top = sorted(((round(v, 1), k) for k, v in by_key.items()), reverse=True)[:3]
    assert ranks[keys.index(("clean", 0))] == 1, top
    for k, v in by_key.items():
        assert k == ("clean", 0) or v < by_key[("clean", 0)], k


def test_shipped_fp16_variant_agrees_with_fp32(burst) -> None:  # type: ignore[no-untyped-def]
    import onnxruntime as ort

    from engine.packs.runtime import PackRuntime, preprocess

    m = verify_pack(PACK)
    assert m.extra.get("fp16_model") == "model_fp16.onnx"
    rt = PackRuntime(PACK, device="cpu")
    assert rt.model_file.name == "model.onnx"
    imgs = [burst[("clean", 0)].image, burst[("jpeg", 3)].image]
    feeds = {pi.name: preprocess(imgs, pi) for pi in rt.inputs}
    ref = rt.session.run(None, feeds)[0].ravel()
    got = ort.InferenceSession(str(PACK / "model_fp16.onnx"), providers=["CPUExecutionProvider"]).run(None, feeds)[0].ravel()
    np.testing.assert_allclose(got, ref, atol=0.05)
    assert (got[0] > got[1]) == (ref[0] > ref[1])
