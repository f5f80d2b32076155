"""XMP packets: parse safely, read and change only ``xmp:Rating`` and ``xmp:Label``.

XML is handled with the standard library's DOM (``xml.dom.minidom`` over expat), never
by string concatenation, so values are escaped by the serialiser.  Before any DOM is
built, :func:`check_safe` runs expat over the bytes with handlers that refuse any
DOCTYPE, entity declaration or external entity reference, and elements nested deeper
than :data:`MAX_XML_DEPTH`: billion-laughs, XXE and stack-exhausting payloads are refused
with a clear message, never expanded.  (``defusedxml`` gives the entity/DTD part but has no
depth limit, so the depth guard would have to be written on expat anyway; see docs/export.md.)

Merging keeps every other element, attribute, namespace prefix, comment, processing
instruction and ``xmpMM:History`` entry of an existing packet in place; only the
rating and label attributes/elements change.
"""

from __future__ import annotations

import re
import xml.parsers.expat
from typing import Any
from xml.dom import Node, minidom

from engine import __version__

X_NS = "adobe:ns:meta/"
RDF_NS = "http://www.w3.org/1999/02/22-rdf-syntax-ns#"
XMP_NS = "http://ns.adobe.com/xap/1.0/"
XMLNS_NS = "http://www.w3.org/2000/xmlns/"

MAX_XMP_BYTES = 8 * 1024 * 1024  # Lightroom sidecars are kilobytes; anything this big is not one.
# Lightroom's deepest structures (crs:Look > crs:Parameters > ... > rdf:Seq > rdf:li) nest about a
# dozen levels; the DOM's serialiser recurses once per level, so 1,000 levels would overflow it.
MAX_XML_DEPTH = 100
XPACKET_ID = "W5M0MpCehiHzreSzNTczkc9d"
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


class XmpError(Exception):
    """An XMP packet that cannot be used (hostile, invalid or not XMP); message for the user."""


class _Refused(Exception):
    pass


def check_safe(data: bytes, source: str = "XMP") -> None:
    """Refuse unsafe or invalid XML before anything else parses it."""
    if len(data) > MAX_XMP_BYTES:
        raise XmpError(f"{source}: refused: {len(data)} bytes is too large for an XMP packet")

    def refuse(what: str):  # type: ignore[no-untyped-def]
        def handler(*_args: object) -> None:
            raise _Refused(what)

        return handler

    p = xml.parsers.expat.ParserCreate()
    p.SetParamEntityParsing(xml.parsers.expat.XML_PARAM_ENTITY_PARSING_NEVER)
    p.StartDoctypeDeclHandler = refuse("a DOCTYPE declaration")
    p.EntityDeclHandler = refuse("an entity declaration")
    p.UnparsedEntityDeclHandler = refuse("an unparsed entity declaration")
    p.ExternalEntityRefHandler = refuse("an external entity reference")
    p.NotationDeclHandler = refuse("a notation declaration")
    depth = 0

    def start(*_args: object) -> None:
        nonlocal depth
        depth += 1
        if depth > MAX_XML_DEPTH:
            raise _Refused(f"elements nested more than {MAX_XML_DEPTH} levels deep")

    def end(*_args: object) -> None:
        nonlocal depth
        depth -= 1

    p.StartElementHandler = start
    p.EndElementHandler = end
    try:
        p.Parse(data, True)
    except _Refused as r:
        if "nested" in str(r):
            raise XmpError(
                f"{source}: refused: it contains {r} (a real XMP packet nests about ten); left untouched"
            ) from None
        raise XmpError(
            f"{source}: refused: it contains {r} (DTDs and entities are never expanded; "
            "a real XMP packet has none)"
        ) from None
    except xml.parsers.expat.ExpatError as exc:
        raise XmpError(f"{source}: not valid XML ({exc}); left untouched") from None
    except (ValueError, RecursionError) as exc:  # pragma: no cover - expat limits
        raise XmpError(f"{source}: not valid XML ({exc}); left untouched") from None


def _parse(data: bytes, source: str) -> Any:
    check_safe(data, source)
    try:
        doc = minidom.parseString(data)
    except Exception as exc:  # expat errors after the check are still reported, never raised raw
        raise XmpError(f"{source}: not valid XML ({exc}); left untouched") from None
    _rdf(doc, source)
    return doc


def _elements(node: Any) -> list[Any]:
    return [c for c in node.childNodes if c.nodeType == Node.ELEMENT_NODE]


def _rdf(doc: Any, source: str) -> Any:
    root = doc.documentElement
    if root is None:
        raise XmpError(f"{source}: empty document")
    if root.namespaceURI == RDF_NS and root.localName == "RDF":
        return root
    if root.localName in ("xmpmeta", "xapmeta"):
        for c in _elements(root):
            if c.namespaceURI == RDF_NS and c.localName == "RDF":
                return c
    raise XmpError(f"{source}: not an XMP packet (no rdf:RDF element); left untouched")


def _descriptions(rdf: Any) -> list[Any]:
    return [c for c in _elements(rdf) if c.namespaceURI == RDF_NS and c.localName == "Description"]


def _text(el: Any) -> str:
    return "".join(c.data for c in el.childNodes if c.nodeType in (Node.TEXT_NODE, Node.CDATA_SECTION_NODE))


def _parse_rating(text: str | None) -> int | None:
    if text is None:
        return None
    try:
        value = float(text.strip())
    except ValueError:
        return None
    return int(value)


def _find(descs: list[Any], local: str) -> str | None:
    for d in descs:
        if d.hasAttributeNS(XMP_NS, local):
            return d.getAttributeNS(XMP_NS, local)
        for c in _elements(d):
            if c.namespaceURI == XMP_NS and c.localName == local:
                return _text(c).strip()
    return None


def read_rating_label(data: bytes, source: str = "XMP") -> tuple[int | None, str | None]:
    """``(xmp:Rating, xmp:Label)`` of a packet, ``None`` where absent."""
    doc = _parse(data, source)
    descs = _descriptions(_rdf(doc, source))
    label = _find(descs, "Label")
    return _parse_rating(_find(descs, "Rating")), (label or None)


def _ns_declarations(el: Any) -> list[tuple[str, str]]:
    """(prefix, uri) of the namespace declarations in scope at ``el``, innermost first."""
    out: list[tuple[str, str]] = []
    node: Any = el
    while node is not None and node.nodeType == Node.ELEMENT_NODE:
        attrs = node.attributes
        for i in range(attrs.length):
            a = attrs.item(i)
            if a.name.startswith("xmlns:"):
                out.append((a.name[6:], a.value))
        node = node.parentNode
    return out


def _prefix_in_scope(el: Any, uri: str) -> str | None:
    shadowed: set[str] = set()
    for prefix, value in _ns_declarations(el):
        if prefix in shadowed:
            continue  # an inner declaration of the same prefix wins
        shadowed.add(prefix)
        if value == uri:
            return prefix
    return None


def _prefixes_in_scope(el: Any) -> set[str]:
    return {prefix for prefix, _ in _ns_declarations(el)}


def _xmp_prefix(el: Any) -> str:
    found = _prefix_in_scope(el, XMP_NS)
    if found:
        return found
    taken = _prefixes_in_scope(el)
    prefix, n = "xmp", 1
    while prefix in taken:
        n += 1
        prefix = f"xmp{n}"
    el.setAttributeNS(XMLNS_NS, f"xmlns:{prefix}", XMP_NS)
    return prefix


def _remove_element(el: Any) -> None:
    parent = el.parentNode
    prev = el.previousSibling
    parent.removeChild(el)
    if prev is not None and prev.nodeType == Node.TEXT_NODE and not prev.data.strip():
        parent.removeChild(prev)


def _set_property(rdf: Any, local: str, value: str | None) -> None:
    """Set (or with ``None`` remove) ``xmp:<local>`` wherever it already is, else on the first
    ``rdf:Description``; duplicates elsewhere are removed."""
    doc = rdf.ownerDocument
    done = False
    descs = _descriptions(rdf)
    for d in descs:
        attr = d.getAttributeNodeNS(XMP_NS, local)
        if attr is not None:
            if value is None or done:
                d.removeAttributeNode(attr)
            else:
                attr.value = value
                done = True
        for c in _elements(d):
            if c.namespaceURI == XMP_NS and c.localName == local:
                if value is None or done:
                    _remove_element(c)
                else:
                    for t in list(c.childNodes):
                        c.removeChild(t)
                    c.appendChild(doc.createTextNode(value))
                    done = True
    if done or value is None:
        return
    if not descs:
        d = doc.createElementNS(RDF_NS, f"{rdf.prefix or 'rdf'}:Description")
        d.setAttributeNS(RDF_NS, f"{rdf.prefix or 'rdf'}:about", "")
        rdf.appendChild(d)
        descs = [d]
    target = descs[0]
    prefix = _xmp_prefix(target)
    target.setAttributeNS(XMP_NS, f"{prefix}:{local}", value)


def _serialise(doc: Any, original: bytes | None) -> bytes:
    head = b""
    if original is not None:
        stripped = original.lstrip(b"\xef\xbb\xbf \t\r\n")
        if stripped.startswith(b"<?xml"):
            end = stripped.find(b"?>")
            head = stripped[: end + 2] + b"\n"
    body = "\n".join(n.toxml() for n in doc.childNodes if n.nodeType != Node.DOCUMENT_TYPE_NODE)
    tail = b"\n" if original is None or original.rstrip(b"\x00") != original.rstrip(b"\x00 \t\r\n") else b""
    return head + body.encode("utf-8") + tail


def validate_label(label: str | None) -> str | None:
    if label is None or label == "":
        return None
    if len(label) > 64 or _CONTROL.search(label):
        raise ValueError(f"label {label!r} is not usable (at most 64 printable characters)")
    return label


def validate_rating(rating: int) -> int:
    if not isinstance(rating, int) or not -1 <= rating <= 5:
        raise ValueError(f"rating must be -1..5, not {rating!r}")
    return rating


def apply(doc: Any, rating: int, label: str | None, source: str = "XMP") -> None:
    rdf = _rdf(doc, source)
    _set_property(rdf, "Rating", str(validate_rating(rating)))
    _set_property(rdf, "Label", validate_label(label))


def new_document(rating: int, label: str | None, *, packet: bool = False) -> Any:
    """A fresh, Lightroom-style XMP document holding only the rating and label."""
    impl = minidom.getDOMImplementation()
    doc: Any = impl.createDocument(X_NS, "x:xmpmeta", None)
    root = doc.documentElement
    root.setAttributeNS(XMLNS_NS, "xmlns:x", X_NS)
    root.setAttributeNS(X_NS, "x:xmptk", f"portrait-culler {__version__}")
    rdf = doc.createElementNS(RDF_NS, "rdf:RDF")
    rdf.setAttributeNS(XMLNS_NS, "xmlns:rdf", RDF_NS)
    desc = doc.createElementNS(RDF_NS, "rdf:Description")
    desc.setAttributeNS(XMLNS_NS, "xmlns:xmp", XMP_NS)
    desc.setAttributeNS(RDF_NS, "rdf:about", "")
    root.appendChild(doc.createTextNode("\n "))
    root.appendChild(rdf)
    root.appendChild(doc.createTextNode("\n"))
    rdf.appendChild(doc.createTextNode("\n  "))
    rdf.appendChild(desc)
    rdf.appendChild(doc.createTextNode("\n "))
    apply(doc, rating, label)
    if packet:
        doc.insertBefore(
            doc.createProcessingInstruction("xpacket", f'begin="\ufeff" id="{XPACKET_ID}"'), root
        )
        doc.appendChild(doc.createProcessingInstruction("xpacket", 'end="w"'))
    return doc


def _normalised(data: bytes, source: str) -> bytes:
    """Parse and serialise once more: namespace declarations settle first in each element, so
    that writing the result again gives the same bytes (idempotent re-runs)."""
    return _serialise(_parse(data, source), data)


def new_xmp(rating: int, label: str | None) -> bytes:
    """A new sidecar."""
    return _normalised(_serialise(new_document(rating, label), None), "new XMP")


def merge_xmp(existing: bytes, rating: int, label: str | None, source: str = "XMP") -> bytes:
    """``existing`` with only rating and label changed (raises :class:`XmpError` when unusable)."""
    doc = _parse(existing, source)
    apply(doc, rating, label, source)
    return _normalised(_serialise(doc, existing), source)


def packet_for_embedding(existing: bytes | None, rating: int, label: str | None, source: str = "XMP") -> bytes:
    """An XMP packet (with ``<?xpacket?>`` wrapper) for a JPEG APP1 segment."""
    if existing is None:
        return _normalised(_serialise(new_document(rating, label, packet=True), None), source).rstrip(b"\n")
    data = existing.rstrip(b"\x00 \t\r\n")
    doc = _parse(data, source)
    apply(doc, rating, label, source)
    return _normalised(_serialise(doc, data), source).rstrip(b"\n")
