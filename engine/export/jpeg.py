"""JPEG: find, replace or insert the XMP APP1 segment, and prove the image data is untouched.

Only the marker segments before the first SOS are parsed; everything from SOS to the end
(entropy-coded data, later scans, EOI, trailers such as MPF previews) is copied byte for byte.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

XMP_HEADER = b"http://ns.adobe.com/xap/1.0/\x00"
EXTENDED_XMP_HEADER = b"http://ns.adobe.com/xmp/extension/\x00"
EXIF_HEADER = b"Exif\x00\x00"
MAX_SEGMENT_PAYLOAD = 65533  # 65535 minus the two length bytes
APP0, APP1, SOS, EOI = 0xE0, 0xE1, 0xDA, 0xD9


class JpegError(Exception):
    """A JPEG that cannot be handled; message for the user."""


@dataclass
class Segment:
    marker: int
    start: int  # offset of the 0xFF of the marker
    end: int  # offset just past the segment
    payload: int  # offset of the payload (after the length), == end for standalone markers

    def is_xmp(self, data: bytes) -> bool:
        return self.marker == APP1 and data[self.payload : self.payload + len(XMP_HEADER)] == XMP_HEADER


def parse(data: bytes, source: str = "JPEG") -> tuple[list[Segment], int]:
    """Marker segments before the first SOS, and the offset where the image data starts."""
    if data[:2] != b"\xff\xd8":
        raise JpegError(f"{source}: not a JPEG file (no SOI marker)")
    segments: list[Segment] = []
    pos = 2
    n = len(data)
    while True:
        if pos + 2 > n:
            raise JpegError(f"{source}: truncated JPEG (no image data)")
        if data[pos] != 0xFF:
            raise JpegError(f"{source}: corrupt JPEG marker at byte {pos}")
        m = pos
        while m + 1 < n and data[m + 1] == 0xFF:  # fill bytes
            m += 1
        if m + 1 >= n:
            raise JpegError(f"{source}: truncated JPEG")
        marker = data[m + 1]
        if marker in (SOS, EOI):
            return segments, pos
        if 0xD0 <= marker <= 0xD7 or marker in (0x01, 0xD8):
            segments.append(Segment(marker, pos, m + 2, m + 2))
            pos = m + 2
            continue
        if m + 4 > n:
            raise JpegError(f"{source}: truncated JPEG segment")
        (length,) = struct.unpack(">H", data[m + 2 : m + 4])
        end = m + 2 + length
        if length < 2 or end > n:
            raise JpegError(f"{source}: corrupt JPEG segment length at byte {pos}")
        segments.append(Segment(marker, pos, end, m + 4))
        pos = end


def read_xmp(data: bytes, source: str = "JPEG") -> bytes | None:
    """The standard XMP packet of a JPEG, or ``None``."""
    segments, _ = parse(data, source)
    found = [s for s in segments if s.is_xmp(data)]
    if len(found) > 1:
        raise JpegError(f"{source}: has {len(found)} XMP segments (expected one); left untouched")
    if not found:
        return None
    s = found[0]
    return data[s.payload + len(XMP_HEADER) : s.end]


def _segment(packet: bytes, source: str) -> bytes:
    payload = XMP_HEADER + packet
    if len(payload) > MAX_SEGMENT_PAYLOAD:
        raise JpegError(
            f"{source}: the XMP packet would be {len(payload)} bytes, more than one JPEG segment "
            "holds (extended XMP is not written); left untouched"
        )
    return b"\xff" + bytes([APP1]) + struct.pack(">H", len(payload) + 2) + payload


def with_xmp(data: bytes, packet: bytes, source: str = "JPEG") -> bytes:
    """``data`` with its XMP APP1 segment replaced by ``packet`` (inserted after SOI, JFIF and
    Exif when there was none).  Every other byte is kept as it was."""
    segments, image_start = parse(data, source)
    new_seg = _segment(packet, source)
    xmp_idx = [i for i, s in enumerate(segments) if s.is_xmp(data)]
    if len(xmp_idx) > 1:
        raise JpegError(f"{source}: has {len(xmp_idx)} XMP segments (expected one); left untouched")
    parts: list[bytes] = [data[:2]]
    if xmp_idx:
        for i, s in enumerate(segments):
            parts.append(new_seg if i == xmp_idx[0] else data[s.start : s.end])
    else:
        insert_at = 0
        for i, s in enumerate(segments):
            if s.marker == APP0 or (
                s.marker == APP1 and data[s.payload : s.payload + len(EXIF_HEADER)] == EXIF_HEADER
            ):
                insert_at = i + 1
            else:
                break
        for i, s in enumerate(segments):
            if i == insert_at:
                parts.append(new_seg)
            parts.append(data[s.start : s.end])
        if insert_at == len(segments):
            parts.append(new_seg)
    parts.append(data[image_start:])
    return b"".join(parts)


def image_parts(data: bytes, source: str = "JPEG") -> list[bytes]:
    """Everything except the standard XMP segment: the bytes that must never change."""
    segments, image_start = parse(data, source)
    return [data[s.start : s.end] for s in segments if not s.is_xmp(data)] + [data[image_start:]]


def verify_same_image(before: bytes, after: bytes, source: str = "JPEG") -> None:
    """Raise :class:`JpegError` unless ``after`` differs from ``before`` only in its XMP segment."""
    if image_parts(before, source) != image_parts(after, source):
        raise JpegError(f"{source}: verification failed, image data would change; left untouched")
