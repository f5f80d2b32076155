"""Fuzz: catalogs full of hostile paths and values never make `culler export` (--xmp, --embed,
--to) or `culler check` write outside the session folder (or the --to folder), read through a
link that leaves it, or crash.  Seeded, so a failure names the seed that reproduces it
(CULLER_FUZZ_EXAMPLES=N runs more)."""

from __future__ import annotations

import os
import random
import shutil
import sqlite3
from pathlib import Path

import pytest
from export_fixtures import build_session, jpeg_bytes, needs_exiftool

from engine.cli import main

N_EXAMPLES = int(os.environ.get("CULLER_FUZZ_EXAMPLES", "8"))


def snapshot(base: Path, skip: set[Path]) -> dict[str, str]:
    out: dict[str, str] = {}
    for dirpath, dirnames, filenames in os.walk(base):
        d = Path(dirpath)
        dirnames[:] = [n for n in dirnames if d / n not in skip]
        for n in filenames + [x for x in dirnames if (d / x).is_symlink()]:
            p = d / n
            if ".culler.sqlite" in n:
                continue
            rel = p.relative_to(base).as_posix()
            out[rel] = f"->{os.readlink(p)}" if p.is_symlink() else p.read_bytes().hex()
    return out


def hostile_paths(outside: Path) -> list[object]:
    return [
        "../outside/x.jpg", "../../outside/x.jpg", str(outside / "x.jpg"), str(outside / "new.jpg"),
        "linkdir/x.jpg", "linkdir/new.jpg", "outlink.jpg", "IMG_0001.JPG/../../outside/x.jpg",
        "./../outside/x.jpg", "card2/../../outside/x.jpg", "a\x00b.jpg", "C:\\\\Windows\\\\x.jpg",
        "\\\\\\\\server\\\\share\\\\x.jpg", "", None, 42, b"../outside/x.jpg", "missing.jpg",
        "~/x.jpg", "%2e%2e/outside/x.jpg", "x" * 300 + ".jpg", "IMG_0001.JPG", "card2/IMG_0001.JPG",
        "linkdir", "..", "/", "IMG_0002.NEF", "ƒoto.jpg",
    ]  # fmt: skip


FLAGS = ["pick", "reject", None, "PICK", "", 1, "pick\x00"]
STARS = [0, 1, 3, 5, -1, 99, "abc", 2.5, None, 2**62]
LABELS = [None, "Red", "Green", "", "Chartreuse", "Red\x00", 7]


def mutate(cat_path: Path, rng: random.Random, outside: Path) -> None:
    paths = hostile_paths(outside)
    conn = sqlite3.connect(cat_path)
    conn.execute("UPDATE meta SET value = ? WHERE key = 'root'", (str(cat_path.parent.resolve() / "shoot"),))
    keys = [r[0] for r in conn.execute("SELECT key FROM shots")]
    for _ in range(rng.randint(1, 6)):
        what = rng.choice(["primary", "raw", "file", "newshot", "decision", "key"])
        key = rng.choice(keys)
        value = rng.choice(paths)
        if what == "primary":
            conn.execute("UPDATE shots SET primary_path = ? WHERE key = ?", (value, key))
        elif what == "raw":
            conn.execute("UPDATE shots SET raw_path = ? WHERE key = ?", (value, key))
        elif what == "file":
            conn.execute("INSERT OR REPLACE INTO files(path, shot, role, status) VALUES (?, ?, 'companion', 'ok')",
                         (value, key))  # fmt: skip
        elif what == "newshot":
            conn.execute("INSERT OR REPLACE INTO shots(key, primary_path, raw_path, status) VALUES (?, ?, ?, 'ok')",
                         (value, rng.choice(paths), rng.choice(paths)))  # fmt: skip
            conn.execute("INSERT OR REPLACE INTO decisions(shot, flag, stars, label) VALUES (?, 'pick', 1, NULL)", (value,))
        elif what == "key":
            conn.execute("UPDATE OR IGNORE shots SET key = ? WHERE key = ?", (value, key))
            conn.execute("UPDATE OR IGNORE decisions SET shot = ? WHERE shot = ?", (value, key))
        for _ in range(rng.randint(0, 2)):
            conn.execute(
                "INSERT OR REPLACE INTO decisions(shot, flag, stars, label) VALUES (?, ?, ?, ?)",
                (rng.choice(keys), rng.choice(FLAGS), rng.choice(STARS), rng.choice(LABELS)),
            )
    conn.commit()
    conn.close()


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    base = tmp_path_factory.mktemp("fuzz-template")
    build_session(base)
    return base


@needs_exiftool
def test_hostile_catalogs_never_write_outside_the_session(template: Path, tmp_path: Path) -> None:
    for seed in range(N_EXAMPLES):
        rng = random.Random(seed)
        base = tmp_path / f"s{seed}"
        shutil.copytree(template, base, symlinks=True)
        root, out = base / "shoot", base / "out"
        outside = base / "outside"
        outside.mkdir()
        (outside / "x.jpg").write_bytes(jpeg_bytes(77))
        (outside / "secret.xmp").write_text("SECRET-NOT-FOR-THE-CLIENT\n")
        (root / "linkdir").symlink_to(outside, target_is_directory=True)
        (root / "outlink.jpg").symlink_to(outside / "x.jpg")
        if rng.random() < 0.5:
            (root / "IMG_0003.xmp").unlink()
            (root / "IMG_0003.xmp").symlink_to(outside / "secret.xmp")
        if rng.random() < 0.5:
            (root / "IMG_0001.xmp").symlink_to(outside / "secret.xmp")
        if rng.random() < 0.5:  # links planted in the output folder
            out.mkdir()
            (out / "card2").symlink_to(outside, target_is_directory=True)
            (out / "IMG_0001.JPG").symlink_to(outside / "x.jpg")
        mutate(base / "shoot.culler.sqlite", rng, outside)
        before = snapshot(base, {root, out})
        forbidden = [(outside / "x.jpg").read_bytes(), b"SECRET-NOT-FOR-THE-CLIENT"]
        for argv in (["--xmp"], ["--embed"], ["--to", out], ["--to", out, "--link"], ["--xmp", "--suggested"],
                     ["--format", "json", "-o", root / "d.json"]):  # fmt: skip
            code = main(["export", str(root), *map(str, argv)])
            assert code in (0, 1), (seed, argv, code)
            assert snapshot(base, {root, out}) == before, (seed, argv)
        assert main(["check", str(root)]) in (0, 1), seed
        assert snapshot(base, {root, out}) == before, seed
        for p in out.rglob("*"):
            if p.is_file() and not p.is_symlink() and not os.path.realpath(p.parent).startswith(str(outside)):
                data = p.read_bytes()
                assert not any(f in data for f in forbidden), (seed, p)

