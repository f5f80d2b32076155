"""Capture metadata from EXIF (``exifread``), with a marked fallback to file time."""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any


@dataclass
class Metadata:
    capture_time: str | None = None  # ISO 8601 (with offset when EXIF gives one)
    capture_ts: float | None = None  # seconds since the epoch; UTC when the offset is known
    time_source: str = "file"  # "exif", "file" (no EXIF date) or "file-bad-exif" (an invalid one)
    subsec: str | None = None
    utc_offset: str | None = None
    make: str | None = None
    model: str | None = None
    serial: str | None = None
    lens: str | None = None
    exposure_time: float | None = None
    fnumber: float | None = None
    iso: float | None = None
    focal_length: float | None = None
    orientation: int | None = None
    width: int | None = None
    height: int | None = None
    warning: str | None = None  # e.g. a broken EXIF block

    def as_row(self) -> dict[str, Any]:
        d = asdict(self)
        d.pop("warning")
        return d

    @property
    def camera(self) -> str:
        """Identifies one camera body (serial when known)."""
        return "|".join(x or "" for x in (self.make, self.model, self.serial))


def _ratio(v: Any) -> float | None:
    try:
        val = v.values[0] if hasattr(v, "values") else v
        if hasattr(val, "num"):
            return float(val.num) / float(val.den) if val.den else None
        return float(val)
    except (TypeError, ValueError, IndexError, ZeroDivisionError):
        return None


def _text(v: Any) -> str | None:
    if v is None:
        return None
    s = str(v.printable if hasattr(v, "printable") else v).strip().strip("\x00").strip()
    return s or None


def _parse_offset(s: str | None) -> timezone | None:
    if not s:
        return None
    s = s.strip()
    try:
        sign = -1 if s[0] == "-" else 1
        hh, mm = s.lstrip("+-").split(":")[:2]
        return timezone(sign * timedelta(hours=int(hh), minutes=int(mm)))
    except (ValueError, IndexError):
        return None


# Capture times outside these years are a camera's unset clock or garbage, not a photo's time;
# the bounds also keep every UTC conversion inside ``datetime``'s years 1..9999.
MIN_YEAR, MAX_YEAR = 1826, 2999

FILE_TIME = "file"  # no EXIF date: file modification time
FILE_TIME_BAD_EXIF = "file-bad-exif"  # an EXIF date that is impossible or out of range: file time


def parse_exif_time(dt: str | None, subsec: str | None = None, offset: str | None = None) -> datetime | None:
    """The EXIF capture time, or None when it is missing, garbage, impossible (month 13, second
    61) or outside years MIN_YEAR..MAX_YEAR (0001:01:01 with +05:00 would be in year 0 in UTC)."""
    if not dt:
        return None
    dt = dt.strip().replace("\x00", "")
    try:
        t = datetime.strptime(dt[:19], "%Y:%m:%d %H:%M:%S")
    except ValueError:
        return None
    if not MIN_YEAR <= t.year <= MAX_YEAR:
        return None
    if subsec:
        digits = "".join(ch for ch in subsec if ch.isdigit())
        if digits:
            t = t.replace(microsecond=int((digits + "000000")[:6]))
    tz = _parse_offset(offset)
    if tz is not None:
        t = t.replace(tzinfo=tz)
    return t


def _is_cr3(p: Path) -> bool:
    """An ISO-BMFF file whose ftyp brand is Canon's ``crx `` (CR3, and CRM movies)."""
    try:
        with open(p, "rb") as f:
            head = f.read(12)
    except OSError:
        return False
    return head[4:12] == b"ftypcrx "


def _cr3_tags(p: Path) -> tuple[dict[str, Any], str | None]:
    """exifread's tags from a CR3's metadata TIFFs, named as exifread names a JPEG's: ``CMT1`` is
    IFD0 (``Image Make``, ``Image Model``, ``Image Orientation``, ``Image DateTime``) and ``CMT2``
    the Exif IFD, whose tags exifread reads as IFD0 ones and which are renamed ``EXIF ...``
    (``EXIF DateTimeOriginal``, ``EXIF BodySerialNumber``, ``EXIF LensModel``).  exifread cannot
    open the CR3 itself ("File format not recognized").  Returns (tags, one-line warning)."""
    import io

    import exifread

    from engine.rawpreview import cr3_metadata_blocks

    blocks = cr3_metadata_blocks(p)
    if "CMT1" not in blocks and "CMT2" not in blocks:
        return {}, "no readable CR3 metadata (CMT1/CMT2 boxes missing or corrupt); the file time is used"
    tags: dict[str, Any] = {}
    bad = []
    for name, prefix in (("CMT1", "Image "), ("CMT2", "EXIF ")):
        if name not in blocks:
            continue
        try:
            got = exifread.process_file(io.BytesIO(blocks[name]), details=False, extract_thumbnail=False)
        except Exception:  # exifread raises anything on a broken block
            got = {}
        if not got:
            bad.append(name)
        for key, val in got.items():
            if key.startswith("Image "):
                tags.setdefault(prefix + key[len("Image ") :], val)
    return tags, (f"unreadable CR3 metadata block {', '.join(bad)}" if bad else None)


def read_metadata(path: str | os.PathLike[str]) -> Metadata:
    """EXIF of ``path``; never raises for bad EXIF (falls back to file time, with ``warning``).
    A CR3's EXIF comes from its ``CMT1``/``CMT2`` boxes (:func:`_cr3_tags`)."""
    p = Path(path)
    md = Metadata()
    tags: dict[str, Any] = {}
    try:
        import exifread

        if _is_cr3(p):
            tags, md.warning = _cr3_tags(p)
        else:
            with open(p, "rb") as f:
                tags = exifread.process_file(f, details=False, extract_thumbnail=False)
    except Exception as exc:  # exifread raises anything on a broken block
        md.warning = f"unreadable EXIF ({type(exc).__name__})"
        tags = {}

    def tag(*names: str) -> Any:
        for n in names:
            if n in tags:
                return tags[n]
        return None

    t = parse_exif_time(
        _text(tag("EXIF DateTimeOriginal", "EXIF DateTimeDigitized", "Image DateTime")),
        _text(tag("EXIF SubSecTimeOriginal", "EXIF SubSecTime")),
        _text(tag("EXIF OffsetTimeOriginal", "EXIF OffsetTime")),
    )
    raw_time = _text(tag("EXIF DateTimeOriginal", "EXIF DateTimeDigitized", "Image DateTime"))
    if t is not None:
        md.time_source = "exif"
        md.capture_time = t.isoformat()
        # Naive times are taken as UTC: consistent within one camera, which is all grouping needs.
        md.capture_ts = (t if t.tzinfo else t.replace(tzinfo=UTC)).timestamp()
        md.subsec = _text(tag("EXIF SubSecTimeOriginal", "EXIF SubSecTime"))
        md.utc_offset = _text(tag("EXIF OffsetTimeOriginal", "EXIF OffsetTime"))
    else:
        try:
            mtime = p.stat().st_mtime
        except OSError:
            mtime = 0.0
        try:
            md.capture_time = datetime.fromtimestamp(mtime, UTC).isoformat()
        except (ValueError, OverflowError, OSError):
            mtime = 0.0
            md.capture_time = datetime.fromtimestamp(0, UTC).isoformat()
        md.capture_ts = mtime
        md.time_source = FILE_TIME
        if md.warning and "file time" not in md.warning:
            md.warning += "; the file time is used"
        if raw_time and raw_time.strip("\x00 :0"):  # an all-zero date is the usual "unset clock"
            md.time_source = FILE_TIME_BAD_EXIF
            md.warning = f"invalid EXIF date {raw_time!r}; the file time is used"
    md.make = _text(tag("Image Make"))
    md.model = _text(tag("Image Model"))
    md.serial = _text(tag("EXIF BodySerialNumber", "MakerNote SerialNumber", "MakerNote InternalSerialNumber"))
    md.lens = _text(tag("EXIF LensModel", "MakerNote LensModel", "MakerNote LensType"))
    md.exposure_time = _ratio(tag("EXIF ExposureTime"))
    md.fnumber = _ratio(tag("EXIF FNumber"))
    md.iso = _ratio(tag("EXIF ISOSpeedRatings", "EXIF PhotographicSensitivity"))
    md.focal_length = _ratio(tag("EXIF FocalLength"))
    o = _ratio(tag("Image Orientation"))
    md.orientation = int(o) if o else None
    w, h = _ratio(tag("EXIF ExifImageWidth")), _ratio(tag("EXIF ExifImageLength"))
    md.width = int(w) if w else None
    md.height = int(h) if h else None
    return md
