"""Embedding XMP rating/label in JPEG (our own APP1 writer), TIFF, DNG and HEIF (exiftool).

Every path: a new temporary file beside the destination, a check that the image data bytes
are the same as the source's, a check that the rating and label read back, fsync, then an
atomic rename.  Anything unexpected leaves the destination as it was.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Iterator
from pathlib import Path

from engine.export import exiftool as et
from engine.export import jpeg, xmp
from engine.export.imagedata import ImageDataError, verify_same_image_data
from engine.safeio import (
    SafeIOError,
    describe_oserror,
    publish,
    read_bytes,
    temp_path_for,
    write_bytes_atomic,
)


class EmbedError(Exception):
    """Embedding refused or failed; message for the user; nothing was changed."""


NEEDS_EXIFTOOL = (
    "embedding XMP in TIFF, DNG and HEIC needs exiftool (Debian/Ubuntu: "
    "apt install libimage-exiftool-perl; macOS: brew install exiftool)"
)


def embedded_jpeg(data: bytes, rating: int, label: str | None, source: str) -> bytes:
    """The JPEG ``data`` with rating/label embedded; verified, never touches a file."""
    try:
        existing = jpeg.read_xmp(data, source)
        packet = xmp.packet_for_embedding(existing, rating, label, source)
        out = jpeg.with_xmp(data, packet, source)
        jpeg.verify_same_image(data, out, source)
        back = jpeg.read_xmp(out, source)
    except jpeg.JpegError as exc:
        raise EmbedError(str(exc)) from None
    if back is None or xmp.read_rating_label(back, source) != (rating, label):
        raise EmbedError(f"{source}: verification failed, the rating/label did not read back")
    return out


def current_values(path: Path, kind: str, exe: et.ExiftoolLike | None) -> tuple[int | None, str | None] | None:
    """The embedded (rating, label); ``None`` when it cannot be read here."""
    if kind == "jpeg":
        try:
            packet = jpeg.read_xmp(read_bytes(path), str(path))
        except jpeg.JpegError as exc:
            raise EmbedError(str(exc)) from None
        return (None, None) if packet is None else xmp.read_rating_label(packet, str(path))
    if exe is None:
        return None
    try:
        return et.read_rating_label(exe, [path]).get(str(Path(path).absolute()))
    except et.ExiftoolError as exc:
        raise EmbedError(str(exc)) from None


def _check_existing_packet(src: Path) -> None:
    """The packet already in a TIFF/DNG/HEIC goes through the hardened parser before exiftool
    rewrites it, as a JPEG's does: a DOCTYPE, an entity or nesting past 100 levels is refused
    in one line (:class:`engine.export.xmp.XmpError`) and the file is left as it is."""
    from engine.export.packets import embedded_packet

    try:
        existing = embedded_packet(src)
    except Exception as exc:  # a damaged container: one line, never a crash
        raise EmbedError(
            f"{src}: cannot read its embedded XMP ({type(exc).__name__}: {exc})".splitlines()[0]
        ) from None
    if existing is not None:
        xmp.check_safe(existing, str(src))


@contextlib.contextmanager
def _removed_on_error(tmp: Path) -> Iterator[Path]:
    """``tmp`` for the block; deleted when the block fails (whatever the error), so that a
    refused or interrupted embed leaves no temporary file behind."""
    try:
        yield tmp
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def _fsync_file(p: Path) -> None:
    fd = os.open(p, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def embed_into(
    src: Path,
    dst: Path,
    kind: str,
    rating: int,
    label: str | None,
    *,
    exe: et.ExiftoolLike | None,
    replace: bool,
    keep_mtime: bool = False,
    before_publish: Callable[[Path, Path], None] | None = None,
) -> None:
    """Write ``dst`` = ``src`` with rating/label embedded.  ``src == dst`` embeds in place
    (``replace=True``): the original is replaced only after the new file is verified.

    ``before_publish(src, new)``: called with the complete, verified new file (still a temporary
    file) before it is renamed into place; an exception there leaves ``dst`` untouched."""
    src, dst = Path(src), Path(dst)
    try:
        st = os.stat(src)
    except OSError as exc:
        raise describe_oserror(exc, src, "cannot read") from exc
    mode = st.st_mode & 0o7777 if src == dst else None
    mtime = st.st_mtime_ns if keep_mtime else None
    if kind == "jpeg":
        data = read_bytes(src)
        out = embedded_jpeg(data, rating, label, str(src))
        if src == dst and os.stat(src).st_mtime_ns != st.st_mtime_ns:
            raise EmbedError(f"{src} changed while it was being written; left untouched")
        if before_publish is None:
            write_bytes_atomic(dst, out, replace=replace, mode=mode, mtime_ns=mtime)
            return
        with _removed_on_error(temp_path_for(dst)) as tmp:
            write_bytes_atomic(tmp, out, replace=False, mode=mode, mtime_ns=mtime)
            before_publish(src, tmp)
        publish(tmp, dst, replace=replace)
        return
    if kind not in ("tiff", "dng", "heif"):
        raise EmbedError(f"{src}: cannot embed XMP in this kind of file")
    if exe is None:
        raise EmbedError(NEEDS_EXIFTOOL)
    _check_existing_packet(src)
    if not replace and os.path.lexists(dst):
        raise SafeIOError(f"{dst} already exists; nothing was overwritten", path=dst)
    with _removed_on_error(temp_path_for(dst)) as tmp:
        try:
            et.write_copy(exe, src, tmp, rating, label)
        except et.ExiftoolError as exc:
            raise EmbedError(str(exc)) from None
        try:
            verify_same_image_data(src, tmp, kind)
        except ImageDataError as exc:
            raise EmbedError(str(exc)) from None
        back = et.read_rating_label(exe, [tmp]).get(str(tmp.absolute()))
        if back != (rating, label):
            raise EmbedError(f"{src}: verification failed, the rating/label did not read back ({back})")
        try:
            if mode is not None:
                os.chmod(tmp, mode)
            if mtime is not None:
                os.utime(tmp, ns=(mtime, mtime))
            _fsync_file(tmp)
        except OSError as exc:
            raise describe_oserror(exc, dst) from exc
        if src == dst and os.stat(src).st_mtime_ns != st.st_mtime_ns:
            raise EmbedError(f"{src} changed while it was being written; left untouched")
        if before_publish is not None:
            before_publish(src, tmp)
    publish(tmp, dst, replace=replace)


def embed_in_place(
    path: Path, kind: str, rating: int, label: str | None, *, exe: et.ExiftoolLike | None,
    before_publish: Callable[[Path, Path], None] | None = None,
) -> bool:
    """Embed in the file itself (explicit ``--embed`` only); ``False`` when already up to date."""
    if kind != "jpeg" and exe is None:
        raise EmbedError(NEEDS_EXIFTOOL)
    if current_values(path, kind, exe) == (rating, label):
        return False
    embed_into(path, path, kind, rating, label, exe=exe, replace=True, before_publish=before_publish)
    return True
