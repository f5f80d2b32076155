"""The Linux system packages the GUI needs: scripts/setup installs them and docs/linux-gui.md
lists the same ones; on Debian, every library Qt's xcb plugin links to is covered."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def setup_packages() -> set[str]:
    text = (ROOT / "scripts" / "setup").read_text()
    m = re.search(r'GUI_PKGS="([^"]+)"', text)
    assert m, "scripts/setup has no GUI_PKGS list"
    return set(m.group(1).split())


def test_setup_and_docs_list_the_same_packages() -> None:
    pkgs = setup_packages()
    assert {"libxcb-cursor0", "libxcb-icccm4", "libxcb-keysyms1"} <= pkgs
    doc = (ROOT / "docs" / "linux-gui.md").read_text()
    documented = set(re.findall(r"`([a-z0-9][a-z0-9.+-]+)`", doc.split("| --- | --- |")[1].split("\n\n")[0]))
    assert documented == pkgs


@pytest.mark.skipif(not sys.platform.startswith("linux") or shutil.which("dpkg") is None
                    or shutil.which("readelf") is None,
                    reason="needs a Debian-like Linux (dpkg, readelf) to map libraries to packages")
def test_every_library_the_xcb_plugin_links_is_in_the_list() -> None:
    import PySide6

    qt = Path(PySide6.__file__).parent / "Qt"
    plugin = qt / "plugins" / "platforms" / "libqxcb.so"
    if not plugin.exists():
        pytest.skip("this PySide6 build has no xcb plugin")
    sos = [plugin, *(p for n in ("XcbQpa", "Gui", "Core", "DBus", "Widgets")
                     for p in sorted((qt / "lib").glob(f"libQt6{n}.so.6")))]
    out = subprocess.run(["readelf", "-d", *map(str, sos)], capture_output=True, text=True, timeout=30).stdout
    needed = set(re.findall(r"\(NEEDED\)\s+Shared library: \[([^\]]+)\]", out))
    # Qt's own libraries and ICU come in the wheel; libc, libstdc++, libgcc, zlib, zstd are in
    # every Debian system (priority required)
    libs = sorted(n for n in needed if not n.startswith(("libQt6", "libicu", "ld-linux", "libc.so", "libm.so",
                                                          "libstdc++", "libgcc_s", "libz.so", "libzstd")))
    r = subprocess.run(["dpkg", "-S", *libs], capture_output=True, text=True, timeout=60)
    owner: dict[str, str] = {}
    for line in r.stdout.splitlines():
        pkg, path = line.split(": ", 1)
        owner.setdefault(Path(path).name, pkg.split(":")[0])
    pkgs = setup_packages()
    missing = [f"{lib} (not installed: run scripts/setup as root)" for lib in libs if lib not in owner]
    unlisted = [f"{lib} ({owner[lib]})" for lib in libs if lib in owner and owner[lib] not in pkgs]
    assert not missing and not unlisted, missing + unlisted
