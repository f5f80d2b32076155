"""Packs as quality members: faces, no faces, the weakest important face, registration, config."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pytest
from packtools import make_pack, make_pair_pack

from engine.packs.ensemble import Ensemble, load_config, quality_of
from engine.packs.members import member_class, register_installed_packs, register_pack
from engine.packs.pack import PackError, PackOutput, verify_pack
from engine.quality.base import FaceInput, MemberScore, QualityMember, ShotInput

RNG = np.random.default_rng(7)


def sharp(h: int = 64, w: int = 64) -> np.ndarray:
    return RNG.integers(0, 256, (h, w, 3), dtype=np.uint8)


def blurred(img: np.ndarray, k: int = 9) -> np.ndarray:
    import cv2

    return cv2.blur(img, (k, k))


def face(x: float, y: float, size: float, crop: np.ndarray) -> FaceInput:
    lm = np.array([[x + 0.3 * size, y + 0.4 * size], [x + 0.7 * size, y + 0.4 * size], [x + 0.5 * size, y + 0.6 * size],
                   [x + 0.35 * size, y + 0.8 * size], [x + 0.65 * size, y + 0.8 * size]], np.float32)
    return FaceInput(box=(x, y, size, size), landmarks=lm, det_score=0.99, crop=crop)


def member(pack: Path, **kw) -> QualityMember:
    return member_class(pack, verify_pack(pack))(device="cpu", **kw)


@pytest.fixture
def pack(tmp_path: Path) -> Path:
    return make_pack(tmp_path / "tiny-sharp", size=32, out_range=(0.0, 0.6))


def test_no_face_shot(pack: Path) -> None:
    shot = ShotInput(image=sharp(80, 120))
    s = member(pack, targets=["image", "faces"]).score(shot)
    assert isinstance(s, MemberScore) and s.per_face is None and 0 < s.quality <= 1
    assert s.quality == pytest.approx(quality_of(s.value, PackOutput(range=(0.0, 0.6))))
    assert member(pack, targets=["faces"]).score(shot) is None  # a faces-only member does not apply
    assert member(pack, targets=["image", "faces"]).quality_of(s.value) == pytest.approx(s.quality)
    with pytest.raises(NotImplementedError):
        member(pack, targets=["image", "faces"]).quality_of(s.value, faces=True)


def test_weakest_important_face_counts(pack: Path) -> None:
    crop_sharp, crop_soft = sharp(), blurred(sharp())
    img = sharp(300, 400)
    faces = [
        face(20, 20, 120, crop_sharp),
        face(200, 30, 110, crop_soft),  # important and soft: this one counts
        face(350, 250, 30, blurred(sharp(), 25)),  # small background face: softest, but ignored
    ]
    shot = ShotInput(image=img, faces=faces)
    m = member(pack, targets=["faces"])
    s = m.score(shot)
    assert s is not None and s.per_face is not None and len(s.per_face) == 3
    q = [pf[1] for pf in s.per_face]  # per face: (raw output, quality)
    assert q[0] > q[1] > q[2]
    assert s.quality == pytest.approx(q[1])
    # frame and faces together: q_image^(1-w) * q_face^w
    both = member(pack, targets=["image", "faces"], face_weight=0.25).score(shot)
    q_img = member(pack, targets=["image"]).score(shot).quality
    assert both.quality == pytest.approx(q_img**0.75 * q[1] ** 0.25, rel=1e-6)
    # the same shot with both important faces sharp scores higher
    better = ShotInput(image=img, faces=[faces[0], face(200, 30, 110, crop_sharp), faces[2]])
    assert m.score(better).quality > s.quality


def test_batch_equals_single_and_mixes_face_counts(pack: Path) -> None:
    m = member(pack, targets=["image", "faces"], batch_size=3)
    shots = [
        ShotInput(image=sharp(90, 60)),
        ShotInput(image=sharp(70, 70), faces=[face(5, 5, 40, sharp()), face(30, 5, 38, blurred(sharp()))]),
        ShotInput(image=blurred(sharp(50, 80))),
        ShotInput(image=sharp(64, 64), faces=[face(1, 1, 50, blurred(sharp(), 5))]),
    ]
    batch = m.score_batch(shots)
    single = [m.score(s) for s in shots]
    for b, s in zip(batch, single):
        assert b is not None and s is not None
        assert b.quality == pytest.approx(s.quality, rel=1e-5) and b.value == pytest.approx(s.value, rel=1e-5)
        assert (b.per_face is None) == (s.per_face is None)
    assert batch[0].quality > batch[2].quality  # blurred frame scores lower
    assert m.score_batch([]) == []


def test_face_pack_and_pair_pack(tmp_path: Path) -> None:
    fpack = make_pack(tmp_path / "face", name="tiny-face", kind="face")
    fm = member(fpack)
    assert fm.needs == {"image", "faces"} and fm.targets == ("faces",)
    assert fm.score(ShotInput(image=sharp())) is None
    s = fm.score(ShotInput(image=sharp(), faces=[face(0, 0, 60, sharp()), face(0, 0, 60, blurred(sharp()))]))
    assert s is not None and s.quality == pytest.approx(min(pf[1] for pf in s.per_face))

    pm = member(make_pair_pack(tmp_path / "pair"))
    dark, bright = np.full((40, 40, 3), 20, np.uint8), np.full((40, 40, 3), 230, np.uint8)
    shot = ShotInput(image=dark, faces=[face(0, 0, 30, bright), face(5, 5, 30, dark)])
    s = pm.score(shot)
    # image mean + 2 * face mean, per (frame, face) pair
    assert s.per_face[0][1] == pytest.approx(quality_of(20 / 255 + 2 * 230 / 255, PackOutput(range=(0, 3))), rel=1e-4)
    assert s.value == pytest.approx(20 / 255 + 2 * 20 / 255, rel=1e-4)  # weakest face's raw output
    assert pm.score(ShotInput(image=dark)) is None


def test_quality_map() -> None:
    out = PackOutput(range=(2.0, 6.0))
    assert quality_of(4.0, out) == pytest.approx(0.5)
    assert quality_of(6.0, out) == pytest.approx(0.8808, abs=1e-3)
    assert quality_of(2.0, out) == pytest.approx(0.1192, abs=1e-3)
    assert quality_of(100.0, out) == 1.0 and quality_of(-1e9, out) == pytest.approx(1e-3)
    low = PackOutput(direction="lower_is_better", range=(2.0, 6.0))
    assert quality_of(2.0, low) == pytest.approx(0.8808, abs=1e-3)
    assert quality_of(5.0, out, "linear") == pytest.approx(0.75)
    assert quality_of(9.0, out, "linear") == 1.0
    assert quality_of(0.0, PackOutput()) == pytest.approx(0.5)
    assert quality_of(float("nan"), out) == pytest.approx(1e-3)
    assert quality_of(3.0, PackOutput(direction="lower_is_better")) < 0.1


def test_register_installed_packs(search_dirs: dict[str, Path], clean_registry, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch) -> None:
    make_pack(search_dirs["builtin"] / "tiny-sharp")
    make_pack(search_dirs["user"] / "extra", name="extra")
    nc = make_pack(search_dirs["user"] / "research", name="research", commercial_use=False)
    bad = make_pack(search_dirs["env"] / "broken", name="broken")
    data = bytearray((bad / "model.onnx").read_bytes())
    data[10] ^= 1
    (bad / "model.onnx").write_bytes(bytes(data))
    (search_dirs["builtin"] / "ensemble.toml").write_text(
        '[ensemble]\ndefault = ["tiny-sharp"]\n[members."tiny-sharp"]\nweight = 0.7\ntargets = ["image", "faces"]\n'
    )
    with caplog.at_level(logging.WARNING, logger="engine.packs"):
        got = register_installed_packs()
        register_installed_packs()  # a second registration (a worker process) does not warn again
    assert sorted(p.name for p in got) == ["extra", "tiny-sharp"]
    warnings = [r.getMessage() for r in caplog.records]
    assert sum("'broken' skipped" in w and "checksum mismatch" in w for w in warnings) == 1
    assert sum("'research' is for non-commercial use only" in w for w in warnings) == 1
    reg = clean_registry
    assert "pack:tiny-sharp" in reg.available_members() and "pack:broken" not in reg.available_members()
    assert "pack:tiny-sharp" in reg.default_member_names() and "pack:extra" not in reg.default_member_names()
    m = reg.create_member("pack:tiny-sharp", device="cpu", threads=1, unknown_option=3)
    assert m.weight == 0.7 and m.targets == ("image", "faces") and m.needs == {"image", "faces"}
    assert m.info()["architecture"] == "laplacian-energy"
    assert m.score(ShotInput(image=sharp())) is not None
    monkeypatch.setenv("CULLER_ALLOW_NONCOMMERCIAL", "1")
    assert "research" in [p.name for p in register_installed_packs()]
    assert register_pack(nc) == "pack:research"


def test_pack_member_config_and_bad_config(search_dirs: dict[str, Path], tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    p = make_pack(tmp_path / "own", name="own", extra_files={"member.toml": b'[member]\nweight = 2.5\nmap = "linear"\n'})
    m = member(p)
    assert m.weight == 2.5 and m.map == "linear"
    (search_dirs["env"] / "ensemble.toml").write_text('[members.own]\nweight = 0.5\n')
    (search_dirs["user"] / "ensemble.toml").write_text("[members.own]\ntargts = 3\n")
    with caplog.at_level(logging.WARNING, logger="engine.packs"):
        cfg = load_config()
    assert cfg.member("own").weight == 0.5
    assert any("unknown member settings ['targts']" in r.getMessage() for r in caplog.records)
    bad = make_pack(tmp_path / "bad", name="bad", extra_files={"member.toml": b"[member]\nface_weight = 3\n"})
    with pytest.raises(PackError, match="face_weight must be within"):
        member(bad)


def test_ensemble_fuses_technical_and_deep_members(pack: Path, clean_registry) -> None:
    m = member(pack)
    tech = clean_registry.create_member("sharpness")
    ens = Ensemble([m, tech])
    from skimage.data import astronaut

    clean = astronaut()[::3, ::3].copy()
    soft = blurred(clean, 5)
    res = ens.score_batch([ShotInput(image=clean), ShotInput(image=soft)])
    assert set(res[0].members) == {m.name, "sharpness"}
    assert res[0].score > res[1].score
    q = [res[0].members[n].quality for n in (m.name, "sharpness")]
    w = [m.weight, tech.weight]
    expect = 100 * np.exp((w[0] * np.log(q[0]) + w[1] * np.log(q[1])) / sum(w))
    assert res[0].score == pytest.approx(expect, rel=1e-6)


def test_a_pack_that_cannot_run_is_skipped_not_fatal(tmp_path: Path, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch) -> None:
    from engine.packs.pack import Manifest, PackInput, write_pack

    monkeypatch.setenv("_CULLER_PACK_WARNINGS_SHOWN", "")
    m = Manifest("junk", "1", "x", [PackInput("image", "image", (8, 8))])
    p = write_pack(tmp_path / "junk", m, {"model.onnx": b"\x00 not onnx"})  # checksums fine, model unreadable
    mem = member(p)
    with caplog.at_level(logging.WARNING, logger="engine.packs"):
        assert mem.score_batch([ShotInput(image=sharp()), ShotInput(image=sharp())]) == [None, None]
        assert mem.score(ShotInput(image=sharp())) is None
    assert sum("'junk' cannot run and is skipped" in r.getMessage() for r in caplog.records) == 1


def test_unknown_device_warns_and_runs_on_auto(pack: Path, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("_CULLER_PACK_WARNINGS_SHOWN", "")
    with caplog.at_level(logging.WARNING, logger="engine.packs"):
        m = member_class(pack, verify_pack(pack))(device="tpu")
    assert m.device == "auto" and m.score(ShotInput(image=sharp())) is not None
    assert any("unknown device 'tpu'" in r.getMessage() for r in caplog.records)


def test_pack_cache_identity_changes_with_the_model(tmp_path: Path) -> None:
    """Cached scores are keyed by pack name + version + model sha256: a retrained model of the
    same pack never has its scores fused with the old one's."""
    a = member(make_pack(tmp_path / "a", name="tiny-sharp", size=32))
    b = member(make_pack(tmp_path / "b", name="tiny-sharp", size=48))  # same name and version, other weights
    sa, sb = a.spec(), b.spec()
    assert sa.name == sb.name == "pack:tiny-sharp"
    assert sa.cache_id.startswith("pack:tiny-sharp@0.1#") and sa.cache_id != sb.cache_id
    assert sa.licence == "Apache-2.0" and sa.needs == frozenset({"image"})
