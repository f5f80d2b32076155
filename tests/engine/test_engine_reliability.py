"""Issue 10: dead workers, odd names and dates, read-only and locked catalogs, skipped-file reasons."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path

import pytest

from engine import demo
from engine.catalog import Catalog
from engine.pipeline import CRASH_REASON, RankOptions, rank_folder

REPO = Path(__file__).resolve().parents[2]


def _burst(root: Path, n: int = 4, side: int = 320, prefix: str = "B") -> list[Path]:
    root.mkdir(parents=True, exist_ok=True)
    rgb = demo.demo_sources(side)["coffee"]
    out = []
    for i in range(n):
        p = root / f"{prefix}_{i:04d}.jpg"
        demo.save_jpeg(p, demo.noise(rgb, i) if i else rgb, datetime(2026, 1, 1, 12, 0, i))
        out.append(p)
    return out


def _children(pid: int) -> list[int]:
    kids = []
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            stat = Path(f"/proc/{d}/stat").read_text()
        except OSError:
            continue
        if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
            kids.append(int(d))
    return kids


# -- 1. a dead worker ------------------------------------------------------------------------------
def test_worker_killed_by_sigkill_is_detected_and_its_file_retried(tmp_path: Path) -> None:
    """SIGKILL one real pool worker mid-run: the run must not hang, and every file ends analysed."""
    root = tmp_path / "s"
    _burst(root, n=16, side=1200)
    cat = tmp_path / "c.sqlite"
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.Popen(
        [sys.executable, "-m", "engine", "rank", str(root), "--catalog", str(cat), "-q", "-j", "2"],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    killed = None
    deadline = time.time() + 90
    tick = os.sysconf("SC_CLK_TCK")
    first_seen: dict[int, float] = {}
    while time.time() < deadline and proc.poll() is None and killed is None:
        time.sleep(0.05)
        for kid in _children(proc.pid):  # spawn: the pool's workers are children of the run
            try:
                cmd = Path(f"/proc/{kid}/cmdline").read_bytes()
                fields = Path(f"/proc/{kid}/stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if b"multiprocessing" not in cmd or b"resource_tracker" in cmd:
                continue
            cpu = (int(fields[11]) + int(fields[12])) / tick  # utime + stime
            seen = first_seen.setdefault(kid, time.time())
            if cpu >= 0.6 or time.time() - seen > 3.0:  # past its imports and model loading: analysing
                os.kill(kid, signal.SIGKILL)
                killed = kid
                break
    assert killed is not None, "no pool worker seen to kill"
    try:
        out, err = proc.communicate(timeout=120)
    except subprocess.TimeoutExpired:
        proc.kill()
        pytest.fail("culler rank hangs after one of its workers was killed")
    assert proc.returncode == 0, err
    assert "Traceback" not in err
    with Catalog(cat, readonly=True) as c:
        assert len(c.shots("status = 'ok'")) == 16  # the killed worker's files were retried and analysed


def test_file_that_kills_its_worker_every_time_is_skipped_and_run_goes_on(tmp_path: Path) -> None:
    root = tmp_path / "s"
    files = _burst(root, n=5)
    cat = tmp_path / "c.sqlite"
    env = {**os.environ, "PYTHONPATH": str(REPO), "CULLER_FAULT_CRASH_ON": files[2].name}
    cmd = [sys.executable, "-m", "engine", "rank", str(root), "--catalog", str(cat), "-q", "-j", "2"]
    r = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=180)
    assert r.returncode == 0, r.stderr
    assert f"{files[2].name}: {CRASH_REASON}" in r.stdout
    with Catalog(cat, readonly=True) as c:
        assert len(c.shots("status = 'ok'")) == 4
        assert c.shot(files[2].name)["reason"] == CRASH_REASON  # type: ignore[index]
    # a re-run does not retry (nor hang on) the unchanged crashing file
    r2 = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=120)
    assert r2.returncode == 0 and CRASH_REASON in r2.stdout


def test_a_worker_that_hangs_is_stopped_by_the_watchdog_and_its_file_skipped(tmp_path: Path) -> None:
    from engine.pipeline import HANG_REASON

    root = tmp_path / "s"
    files = _burst(root, n=4)
    cat = tmp_path / "c.sqlite"
    env = {**os.environ, "PYTHONPATH": str(REPO), "CULLER_FAULT_HANG_ON": files[2].name, "CULLER_TASK_TIMEOUT": "5"}
    cmd = [sys.executable, "-m", "engine", "rank", str(root), "--catalog", str(cat), "-q", "-j", "2"]
    r = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=150)
    assert r.returncode == 0, r.stderr
    assert f"{files[2].name}: {HANG_REASON.format(seconds=5)}" in r.stdout
    with Catalog(cat, readonly=True) as c:
        assert len(c.shots_with_status("ok")) == 3


def test_in_process_run_that_dies_on_a_file_is_not_killed_by_it_again(tmp_path: Path) -> None:
    """-j 1 analyses in the run's own process: a native crash there ends the run.  The lock file
    names the file it died on, and the next run tries that file apart (and skips it)."""
    root = tmp_path / "s"
    files = _burst(root, n=4)
    cat = tmp_path / "c.sqlite"
    env = {**os.environ, "PYTHONPATH": str(REPO), "CULLER_FAULT_CRASH_ON": files[1].name}
    cmd = [sys.executable, "-m", "engine", "rank", str(root), "--catalog", str(cat), "-q", "-j", "1"]
    r1 = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=180)
    assert r1.returncode == -signal.SIGKILL  # the run itself died on files[1]
    assert files[1].name in Path(str(cat) + ".lock").read_text()
    r2 = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=180)
    assert r2.returncode == 0, r2.stderr
    assert f"{files[1].name}: {CRASH_REASON}" in r2.stdout and "3 shot(s)" in r2.stdout


# -- 2. names that are not UTF-8 ---------------------------------------------------------------------
def test_non_utf8_file_name_is_analysed_shown_and_exported_to_the_right_file(tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    from engine.cli import main as culler
    from engine.scan import display_key, key_path

    root = tmp_path / "card"
    _burst(root, n=2)
    odd = os.fsdecode(b"caf\xe9.jpg")  # Latin-1 e-acute: not UTF-8
    odd2 = os.fsdecode(b"caf\xe8.jpg")  # a second one, that must not collide with the first
    rgb = demo.demo_sources(320)["coffee"]
    demo.save_jpeg(root / odd, rgb, datetime(2026, 1, 1, 12, 0, 5))
    demo.save_jpeg(root / odd2, demo.noise(rgb, 2), datetime(2026, 1, 1, 12, 0, 6))
    cat = tmp_path / "c.sqlite"
    assert culler(["rank", str(root), "--catalog", str(cat), "-q", "-j", "1"]) == 0
    out = capsys.readouterr().out
    assert "4 shot(s)" in out
    with Catalog(cat, readonly=True) as c:
        keys = [r["key"] for r in c.shots("status = 'ok'")]
        assert len(keys) == 4
        odd_keys = [k for k in keys if k.startswith("caf")]
        assert sorted(key_path(k) for k in odd_keys) == sorted([odd, odd2])  # lossless
        assert {display_key(k) for k in odd_keys} == {"caf\\xe9.jpg", "caf\\xe8.jpg"}  # readable
        odd_key = next(k for k in odd_keys if key_path(k) == odd)
    with Catalog(cat) as c:
        c.set_decision(odd_key, flag="pick", stars=4)
    assert culler(["export", str(root), "--catalog", str(cat), "--xmp"]) == 0
    written = sorted(os.listdir(os.fsencode(root)))
    assert b"caf\xe9.xmp" in written and b"caf\xe8.xmp" not in written
    from engine.export.xmp import read_rating_label

    assert read_rating_label((root / os.fsdecode(b"caf\xe9.xmp")).read_bytes())[0] == 4


# -- 3. impossible and out-of-range EXIF dates -------------------------------------------------------
def _jpeg_with_date(path: Path, when: str, offset: str | None) -> None:
    from PIL import Image

    exif = Image.Exif()
    exif[0x010F], exif[0x0110] = "Demo", "Burst 1"
    sub = exif.get_ifd(0x8769)
    sub[0x9003] = when  # DateTimeOriginal
    if offset:
        sub[0x9011] = offset  # OffsetTimeOriginal
    exif[0x8769] = sub
    Image.fromarray(demo.demo_sources(320)["coffee"]).save(path, "JPEG", quality=90, exif=exif.tobytes())


@pytest.mark.parametrize(
    "when,offset",
    [("0001:01:01 00:00:00", "+05:00"), ("9999:12:31 23:59:59", "-05:00"), ("2026:13:01 10:00:00", None),
     ("2026:01:01 10:00:61", None), ("garbage date here!!", None)],
)  # fmt: skip
def test_invalid_exif_dates_fall_back_to_file_time_and_say_so(tmp_path: Path, capsys, when: str, offset: str | None) -> None:  # type: ignore[no-untyped-def]
    from engine.cli import main as culler

    root = tmp_path / "s"
    _burst(root, n=2)
    _jpeg_with_date(root / "odd.jpg", when, offset)
    mtime = 1_767_000_000
    os.utime(root / "odd.jpg", (mtime, mtime))
    cat = tmp_path / "c.sqlite"
    assert culler(["rank", str(root), "--catalog", str(cat), "-q", "-j", "1"]) == 0
    out = capsys.readouterr().out
    assert "3 shot(s)" in out
    assert "1 shot(s) have an impossible or out-of-range EXIF date" in out and "odd.jpg" in out
    with Catalog(cat, readonly=True) as c:
        src, ts = c.conn.execute("SELECT time_source, capture_ts FROM metadata WHERE shot = 'odd.jpg'").fetchone()
    assert src == "file-bad-exif" and ts == pytest.approx(mtime)
    assert culler(["rank", str(root), "--catalog", str(cat), "-q", "-j", "1"]) == 0  # and again, from the cache
    assert "1 shot(s) have an impossible" in capsys.readouterr().out


# -- 9. read-only catalogs; check never changes a catalog ---------------------------------------------
def _digest(p: Path) -> str:
    import hashlib

    return hashlib.sha256(p.read_bytes()).hexdigest()


@pytest.fixture()
def ranked(tmp_path: Path) -> tuple[Path, Path]:
    from engine.cli import main as culler

    root = tmp_path / "shoot"
    _burst(root, n=3)
    cat = tmp_path / "shoot.culler.sqlite"
    assert culler(["rank", str(root), "-q", "-j", "1"]) == 0
    with Catalog(cat) as c:
        c.set_decision("B_0000.jpg", flag="pick", stars=3)
    return root, cat


def test_check_never_changes_a_catalog_with_a_pending_wal(ranked, capsys) -> None:  # type: ignore[no-untyped-def]
    from engine.cli import main as culler

    root, cat = ranked
    # a writer killed before its checkpoint leaves its last decision in the -wal file only
    code = (
        "import sqlite3, os, sys\n"
        "c = sqlite3.connect(sys.argv[1], isolation_level=None)\n"
        "c.execute('PRAGMA wal_autocheckpoint = 0')\n"
        "c.execute(\"UPDATE decisions SET stars = 5 WHERE shot = 'B_0000.jpg'\")\n"
        "os._exit(0)\n"
    )
    subprocess.run([sys.executable, "-c", code, str(cat)], check=True)
    wal = Path(str(cat) + "-wal")
    assert wal.stat().st_size > 0
    before = (_digest(cat), _digest(wal))
    assert culler(["check", str(root), "--json"]) == 0
    rep = __import__("json").loads(capsys.readouterr().out)
    assert rep["problems"] == [] and rep["wal_bytes"] > 0
    assert (_digest(cat), _digest(wal)) == before  # neither checkpointed nor deleted
    with Catalog(cat, readonly=True) as c:
        assert c.decision("B_0000.jpg").stars == 5  # the pending write is read


@pytest.fixture()
def ro_mount(ranked):  # type: ignore[no-untyped-def]
    """The ranked session's parent folder (photos and catalog) made read-only in place by a
    read-only bind mount over itself, as a write-protected card is; the paths do not change."""
    if os.geteuid() != 0:
        pytest.skip("a read-only bind mount needs root")
    root, cat = ranked
    media = root.parent
    r = subprocess.run(["mount", "--bind", str(media), str(media)], capture_output=True)
    if r.returncode != 0:
        pytest.skip(f"cannot bind-mount here: {r.stderr.decode().strip()}")
    try:
        r = subprocess.run(["mount", "-o", "remount,bind,ro", str(media)], capture_output=True)
        if r.returncode != 0:
            pytest.skip(f"cannot remount read-only: {r.stderr.decode().strip()}")
        yield root, cat
    finally:
        if subprocess.run(["umount", str(media)], capture_output=True).returncode != 0:
            subprocess.run(["umount", "-l", str(media)], capture_output=True)


def test_healthy_catalog_on_read_only_media_is_read_not_called_damaged(ro_mount, capsys, tmp_path_factory) -> None:  # type: ignore[no-untyped-def]
    from engine.cli import main as culler

    root, cat = ro_mount  # a closed catalog: no -wal, no -shm
    assert not Path(str(cat) + "-wal").exists() and not Path(str(cat) + "-shm").exists()
    with pytest.raises(OSError):
        (root / "probe").write_bytes(b"")  # really read-only
    capsys.readouterr()
    assert culler(["check", str(root)]) == 0
    out = capsys.readouterr().out
    assert "damaged" not in out and "OK" in out
    with Catalog(cat, readonly=True) as c:
        assert c.decision("B_0000.jpg").stars == 3
    out_csv = tmp_path_factory.mktemp("out") / "decisions.csv"
    assert culler(["export", str(root), "--format", "csv", "-o", str(out_csv)]) == 0
    assert "B_0000.jpg" in out_csv.read_text()
    capsys.readouterr()
    assert culler(["rank", str(root), "-q", "-j", "1"]) == 1
    err = capsys.readouterr().err
    assert "read-only" in err and "damaged" not in err and len(err.strip().splitlines()) == 1


# -- 14. one line, never a traceback ----------------------------------------------------------------
def _zero_byte(cat: Path) -> None:
    cat.write_bytes(b"")


def _foreign(cat: Path) -> None:
    with sqlite3.connect(cat) as c:
        c.execute("CREATE TABLE moz_places (id INTEGER PRIMARY KEY, url TEXT)")
    c.close()


def _half_created(cat: Path) -> None:
    with sqlite3.connect(cat) as c:
        c.execute("CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT)")
        c.execute("INSERT INTO meta VALUES ('schema_version', '1')")
    c.close()


def _bad_version(cat: Path) -> None:
    Catalog(cat).close()
    with sqlite3.connect(cat) as c:
        c.execute("UPDATE meta SET value = 'abc' WHERE key = 'schema_version'")
    c.close()


def _dropped_column(cat: Path) -> None:
    Catalog(cat).close()
    with sqlite3.connect(cat) as c:
        c.execute("ALTER TABLE shots DROP COLUMN n_faces")
    c.close()


@pytest.mark.parametrize("damage", [_zero_byte, _foreign, _half_created, _bad_version, _dropped_column])
def test_odd_catalogs_give_one_line_not_a_traceback(tmp_path: Path, capsys, damage) -> None:  # type: ignore[no-untyped-def]
    from engine.cli import main as culler

    root = tmp_path / "s"
    _burst(root, n=2)
    cat = tmp_path / "odd.sqlite"
    damage(cat)
    capsys.readouterr()
    # check first: it must name the problem (not say OK) and change nothing
    before = _digest(cat)
    code = culler(["check", str(root), "--catalog", str(cat)])
    out = capsys.readouterr().out
    assert code != 0 and "OK" not in out.splitlines()[-1], out
    assert _digest(cat) == before
    code = culler(["export", str(root), "--catalog", str(cat), "--format", "csv", "-o", str(tmp_path / "d.csv")])
    err = capsys.readouterr().err
    assert code != 0 and len(err.strip().splitlines()) == 1, err
    code = culler(["rank", str(root), "--catalog", str(cat), "-q", "-j", "1"])
    cap = capsys.readouterr()
    if damage in (_half_created, _dropped_column, _zero_byte):  # repairable: rank completes the catalog
        assert code == 0 and "2 shot(s)" in cap.out, cap
        assert culler(["check", str(root), "--catalog", str(cat)]) == 0
    else:
        assert code == 1 and len(cap.err.strip().splitlines()) == 1, cap


def test_a_1x1_image_is_skipped_with_a_plain_reason(tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    from PIL import Image

    from engine.cli import main as culler

    root = tmp_path / "s"
    _burst(root, n=2)
    Image.new("RGB", (1, 1), (200, 10, 10)).save(root / "dot.png")
    assert culler(["rank", str(root), "--catalog", str(tmp_path / "c.sqlite"), "-q", "-j", "1"]) == 0
    out = capsys.readouterr().out
    line = next(x for x in out.splitlines() if "dot.png" in x)
    assert "too small" in line and "internal error" not in line and "OpenCV" not in out


def test_full_disk_during_rank_is_one_line(tmp_path: Path) -> None:
    if os.geteuid() != 0:
        pytest.skip("mounting a small tmpfs needs root")
    disk = tmp_path / "small"
    disk.mkdir()
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=600k", "tmpfs", str(disk)], capture_output=True)
    if r.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {r.stderr.decode().strip()}")
    try:
        root = tmp_path / "s"
        _burst(root, n=6, side=600)
        cat = disk / "c.sqlite"
        Catalog(cat).close()
        st = os.statvfs(disk)
        free = st.f_bavail * st.f_frsize
        (disk / "filler").write_bytes(b"\1" * max(0, free - 48 * 1024))  # leave the catalog 48 KiB
        env = {**os.environ, "PYTHONPATH": str(REPO)}
        r2 = subprocess.run([sys.executable, "-m", "engine", "rank", str(root), "--catalog", str(cat), "-q", "-j", "1"],
                            env=env, capture_output=True, text=True, timeout=120)  # fmt: skip
        assert r2.returncode == 1, r2
        assert "Traceback" not in r2.stderr and "full" in r2.stderr, r2.stderr
        assert len(r2.stderr.strip().splitlines()) == 1, r2.stderr
    finally:
        r3 = subprocess.run(["umount", "-l", str(disk)], capture_output=True)
        assert r3.returncode == 0, r3.stderr


def test_immutable_catalog_is_one_line(ranked) -> None:  # type: ignore[no-untyped-def]
    root, cat = ranked
    r = subprocess.run(["chattr", "+i", str(cat)], capture_output=True)
    if r.returncode != 0:
        pytest.skip(f"chattr +i is not available here: {r.stderr.decode().strip()}")
    try:
        env = {**os.environ, "PYTHONPATH": str(REPO)}
        r2 = subprocess.run([sys.executable, "-m", "engine", "rank", str(root), "-q", "-j", "1"],
                            env=env, capture_output=True, text=True, timeout=120)  # fmt: skip
        assert r2.returncode == 1 and "Traceback" not in r2.stderr and "read-only" in r2.stderr, r2.stderr
    finally:
        subprocess.run(["chattr", "-i", str(cat)], capture_output=True)


# -- 15. say what was skipped -----------------------------------------------------------------------
def test_webp_and_avif_are_analysed_and_other_formats_listed(tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    from PIL import Image

    from engine.cli import main as culler

    root = tmp_path / "s"
    _burst(root, n=1)
    rgb = demo.demo_sources(320)["coffee"]
    Image.fromarray(rgb).save(root / "a.webp", "WEBP", quality=90)
    Image.fromarray(rgb).save(root / "b.avif", "AVIF", quality=90)
    Image.fromarray(rgb).save(root / "c.gif", "GIF")
    (root / "notes.txt").write_text("not a photo")
    cat = tmp_path / "c.sqlite"
    assert culler(["rank", str(root), "--catalog", str(cat), "-q", "-j", "1"]) == 0
    out = capsys.readouterr().out
    assert "3 shot(s)" in out
    assert any("c.gif" in line and "GIF" in line for line in out.splitlines()), out
    assert "notes.txt" not in out
    with Catalog(cat, readonly=True) as c:
        assert {r["key"] for r in c.shots("status = 'ok'")} == {"B_0000.jpg", "a.webp", "b.avif"}


def test_link_to_dev_zero_is_not_called_broken(tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    from engine.cli import main as culler

    root = tmp_path / "s"
    _burst(root, n=1)
    (root / "zero.jpg").symlink_to("/dev/zero")
    (root / "gone.jpg").symlink_to(root / "nothing-here.jpg")
    assert culler(["rank", str(root), "--catalog", str(tmp_path / "c.sqlite"), "-q", "-j", "1"]) == 0
    lines = capsys.readouterr().out.splitlines()
    zero = next(x for x in lines if "zero.jpg" in x)
    assert "broken" not in zero and "character device" in zero
    assert "broken symlink" in next(x for x in lines if "gone.jpg" in x)


def test_huge_non_image_is_refused_from_its_header_without_hashing(tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    from engine.cli import main as culler

    root = tmp_path / "s"
    _burst(root, n=1)
    big = root / "video.jpg"
    with open(big, "wb") as f:  # 6 GB, sparse: a video renamed .jpg
        f.write(b"\x00\x00\x00\x18ftypmp42")
        f.truncate(6 << 30)
    io = Path("/proc/self/io")
    if not io.exists():
        pytest.skip("needs /proc/self/io to count the bytes read")

    def rchar() -> int:
        return int(next(x for x in io.read_text().splitlines() if x.startswith("rchar:")).split()[1])

    before = rchar()
    assert culler(["rank", str(root), "--catalog", str(tmp_path / "c.sqlite"), "-q", "-j", "1"]) == 0  # in-process
    read = rchar() - before
    line = next(x for x in capsys.readouterr().out.splitlines() if "video.jpg" in x)
    assert "not an image" in line and "JPEG" in line
    assert read < 1 << 30, f"{read / 1e9:.1f} GB read: the 6 GB file was hashed"


# -- 13. one culler per catalog -----------------------------------------------------------------------
def test_second_culler_on_a_catalog_is_refused_with_the_holders_pid(tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    from engine.cli import main as culler

    root = tmp_path / "s"
    _burst(root, n=2)
    cat = tmp_path / "s.culler.sqlite"
    assert culler(["rank", str(root), "-q", "-j", "1"]) == 0
    capsys.readouterr()
    holder = subprocess.Popen(
        [sys.executable, "-c",
         "import sys, time\nfrom engine.catalog import catalog_lock\n"
         "with catalog_lock(sys.argv[1], 'rank'):\n    print('locked', flush=True)\n    time.sleep(60)\n", str(cat)],
        env={**os.environ, "PYTHONPATH": str(REPO)}, stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "locked"
        assert culler(["rank", str(root), "-q", "-j", "1"]) == 1
        err = capsys.readouterr().err
        assert f"another culler is using this catalog (pid {holder.pid}, rank)" in err
        with Catalog(cat) as c:
            c.set_decision("B_0000.jpg", flag="pick")
        assert culler(["export", str(root), "--xmp"]) == 2
        assert f"pid {holder.pid}" in capsys.readouterr().err
        assert not (root / "B_0000.xmp").exists()
    finally:
        holder.kill()
        holder.wait()
    # the lock dies with its holder: nothing stale is left behind
    assert culler(["export", str(root), "--xmp"]) == 0
    assert (root / "B_0000.xmp").exists()


# -- 12. --embed keeps the analysis cache --------------------------------------------------------------
def test_embed_does_not_invalidate_the_analysis_cache(tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    from engine.cli import main as culler
    from engine.scan import file_hash

    root = tmp_path / "s"
    files = _burst(root, n=3)
    cat = tmp_path / "s.culler.sqlite"
    first = rank_folder(RankOptions(root, workers=1))
    assert first.analysed == 3
    with Catalog(cat) as c:
        for f in files:
            c.set_decision(f.name, flag="pick", stars=4)
        n_before = c.conn.execute("SELECT count(*) FROM analysis").fetchone()[0]
        faces_before = c.conn.execute("SELECT count(*) FROM scores").fetchone()[0]
    hashes = [file_hash(f) for f in files]
    assert culler(["export", str(root), "--embed"]) == 0
    assert [file_hash(f) for f in files] != hashes  # the files did change (XMP inside)
    again = rank_folder(RankOptions(root, workers=1))
    assert (again.analysed, again.reused) == (0, 3)
    with Catalog(cat, readonly=True) as c:
        assert c.conn.execute("SELECT count(*) FROM analysis").fetchone()[0] == n_before  # not doubled
        assert c.conn.execute("SELECT count(*) FROM scores").fetchone()[0] == faces_before
        assert c.integrity_check() == []
        assert {r["hash"] for r in c.shots("status = 'ok'")} == {file_hash(f) for f in files}
    # a real change of the pixels is still analysed again
    demo.save_jpeg(files[1], demo.defocus(demo.demo_sources(320)["coffee"], 2), datetime(2026, 1, 1, 12, 0, 1))
    assert rank_folder(RankOptions(root, workers=1)).analysed == 1


# -- 7b. rank --recursive stays in the folder ------------------------------------------------------------
def test_recursive_rank_never_follows_folder_links_out_of_the_folder(tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    from engine.cli import main as culler

    root = tmp_path / "s"
    _burst(root / "day1", n=2)
    outside = tmp_path / "elsewhere"
    _burst(outside, n=2, prefix="X")
    (root / "escape").symlink_to(outside, target_is_directory=True)
    (root / "etc").symlink_to("/etc", target_is_directory=True)
    (root / "again").symlink_to(root / "day1", target_is_directory=True)  # inside: followed
    cat = tmp_path / "c.sqlite"
    assert culler(["rank", str(root), "--catalog", str(cat), "-q", "-r", "-j", "1"]) == 0
    out = capsys.readouterr().out
    for name in ("escape", "etc"):
        assert any(line.strip().startswith(f"{name}:") and "outside" in line for line in out.splitlines()), out
    with Catalog(cat, readonly=True) as c:
        keys = {r["key"] for r in c.shots()}
    assert not any(k.startswith(("escape/", "etc/")) for k in keys), keys
    assert {"day1/B_0000.jpg", "day1/B_0001.jpg"} <= keys
    assert culler(["export", str(root), "--catalog", str(cat), "--xmp"]) == 0
    assert not list(outside.glob("*.xmp"))


def test_non_utf8_file_name_through_every_export(tmp_path: Path) -> None:
    from engine.cli import main as culler

    root = tmp_path / "card"
    _burst(root, n=1)
    odd = os.fsdecode(b"caf\xe9.jpg")
    demo.save_jpeg(root / odd, demo.demo_sources(320)["coffee"], datetime(2026, 1, 1, 12, 0, 5))
    assert culler(["rank", str(root), "-q", "-j", "1"]) == 0
    with Catalog(str(root) + ".culler.sqlite") as c:
        for r in c.shots():
            c.set_decision(r["key"], flag="pick", stars=2)
    assert culler(["export", str(root), "--format", "csv", "-o", str(tmp_path / "d.csv")]) == 0
    assert culler(["export", str(root), "--to", str(tmp_path / "out")]) == 0
    assert b"caf\xe9.jpg" in os.listdir(os.fsencode(tmp_path / "out"))
    assert culler(["export", str(root), "--embed"]) == 0
    assert culler(["check", str(root)]) == 0
    again = rank_folder(RankOptions(root, workers=1))
    assert (again.n_shots, again.analysed) == (2, 0)  # embedded, not re-analysed


# -- schema: a catalog written by portrait-culler 0.1 (schema 1 as first shipped) opens and upgrades ------
V01_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT);
CREATE TABLE IF NOT EXISTS files (
    path TEXT PRIMARY KEY,          -- relative to the root, '/' separators
    shot TEXT,                      -- key of the shot this file belongs to
    role TEXT,                      -- 'primary' or 'companion' (RAW+JPEG pair, sidecar)
    size INTEGER,
    mtime_ns INTEGER,
    hash TEXT,                      -- blake2b of the content
    status TEXT,                    -- 'ok', 'skipped'
    reason TEXT
);
CREATE TABLE IF NOT EXISTS shots (
    key TEXT PRIMARY KEY,           -- relative path of the primary file
    primary_path TEXT,
    raw_path TEXT,                  -- the RAW of a RAW+JPEG pair, when any
    hash TEXT,
    status TEXT,                    -- 'pending', 'ok', 'skipped'
    reason TEXT,
    group_id INTEGER,
    rank INTEGER,
    score REAL,
    n_faces INTEGER,
    suggested TEXT,                 -- 'pick' / 'reject' from the ranking
    explain TEXT,                   -- JSON {member: {quality, weight, contribution}} of the rank
    seen_at REAL
);
CREATE TABLE IF NOT EXISTS metadata (
    shot TEXT PRIMARY KEY,
    capture_time TEXT,              -- ISO 8601, with offset where known
    capture_ts REAL,                -- seconds, UTC where the offset is known
    time_source TEXT,               -- 'exif' or 'file'
    subsec TEXT,
    utc_offset TEXT,
    make TEXT, model TEXT, serial TEXT, lens TEXT,
    exposure_time REAL, fnumber REAL, iso REAL, focal_length REAL,
    orientation INTEGER,
    width INTEGER, height INTEGER
);
CREATE TABLE IF NOT EXISTS analysis (
    hash TEXT PRIMARY KEY,
    engine_version TEXT,
    width INTEGER, height INTEGER,  -- of the analysed (reduced) image
    full_width INTEGER, full_height INTEGER,
    embedding BLOB,                 -- float32 content descriptor for grouping
    n_faces INTEGER,
    members TEXT,                   -- JSON list of the members that ran (a member may decline)
    analysed_at REAL,
    seconds REAL
);
CREATE TABLE IF NOT EXISTS faces (
    hash TEXT,
    idx INTEGER,
    x REAL, y REAL, w REAL, h REAL, -- in full-image relative coordinates (0-1)
    det_score REAL,
    landmarks TEXT,                 -- JSON [[x,y]*5], relative coordinates
    signals TEXT,                   -- JSON {name: value}
    crop BLOB,                      -- JPEG of the aligned, padded crop
    PRIMARY KEY (hash, idx)
);
CREATE TABLE IF NOT EXISTS scores (
    hash TEXT,
    member TEXT,
    value REAL,                     -- raw signal, natural units
    quality REAL,                   -- 0..1, higher is better
    PRIMARY KEY (hash, member)
);
CREATE TABLE IF NOT EXISTS groups (
    id INTEGER PRIMARY KEY,
    n_shots INTEGER,
    best TEXT,                      -- shot key of the rank-1 shot
    start_time TEXT
);
CREATE TABLE IF NOT EXISTS decisions (
    shot TEXT PRIMARY KEY,
    flag TEXT,                      -- 'pick', 'reject' or NULL (unflagged)
    stars INTEGER,                  -- 0..5
    label TEXT,                     -- Red, Yellow, Green, Blue, Purple or NULL
    updated_at REAL
);
CREATE INDEX IF NOT EXISTS idx_files_shot ON files(shot);
CREATE INDEX IF NOT EXISTS idx_shots_group ON shots(group_id);
CREATE INDEX IF NOT EXISTS idx_shots_hash ON shots(hash);
"""


def test_a_catalog_from_version_0_1_opens_keeps_its_decisions_and_is_upgraded(tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    from engine.catalog import SCHEMA_VERSION, expected_columns
    from engine.cli import main as culler

    root = tmp_path / "shoot"
    files = _burst(root, n=2)
    cat = tmp_path / "shoot.culler.sqlite"
    with sqlite3.connect(cat) as c:
        c.executescript(V01_SCHEMA)
        c.execute("PRAGMA journal_mode = WAL")
        c.executemany("INSERT INTO meta VALUES (?, ?)", [("schema_version", "1"), ("root", str(root.resolve()))])
        c.execute("INSERT INTO decisions VALUES (?, 'pick', 4, 'Green', 1.0)", (files[0].name,))
    c.close()
    assert SCHEMA_VERSION == 1  # additive changes only since 0.1: no renumbering needed
    assert culler(["check", str(root)]) == 1  # missing columns are named, not called OK
    assert "missing column(s)" in capsys.readouterr().out
    assert culler(["rank", str(root), "-q", "-j", "1"]) == 0
    assert "2 shot(s)" in capsys.readouterr().out
    with Catalog(cat, readonly=True) as c:
        d = c.decision(files[0].name)
        assert (d.flag, d.stars, d.label) == ("pick", 4, "Green")
        assert c.missing_columns() == []
        have = {t: {r[1] for r in c.conn.execute(f"PRAGMA table_info({t})")} for t in expected_columns()}
    assert all(set(cols) <= have[t] for t, cols in expected_columns().items())
    assert culler(["check", str(root)]) == 0
