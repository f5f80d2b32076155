"""XMP parsing, merging, hostile input and the decision mapping."""

from __future__ import annotations

import random
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from export_fixtures import LR_SIDECAR, exiftool_read, needs_exiftool

from engine.export import xmp
from engine.export.mapping import Mapping, MappingError, from_dict, load_mapping
from engine.export.sidecar import write_sidecar

XMP_NS = "{http://ns.adobe.com/xap/1.0/}"


def _canonical_without_rating_label(data: bytes) -> str:
    """C14N of a packet with xmp:Rating / xmp:Label removed (attributes and elements)."""
    root = ET.fromstring(data)
    for el in root.iter():
        for name in (XMP_NS + "Rating", XMP_NS + "Label"):
            el.attrib.pop(name, None)
        for child in list(el):
            if child.tag in (XMP_NS + "Rating", XMP_NS + "Label"):
                el.remove(child)
    return ET.canonicalize(ET.tostring(root, encoding="unicode"), strip_text=True)


def test_new_sidecar_reads_back_and_escapes() -> None:
    data = xmp.new_xmp(4, 'Ann & "Bo" <x>')
    assert xmp.read_rating_label(data) == (4, 'Ann & "Bo" <x>')
    assert b"&amp;" in data and b"&lt;x&gt;" in data  # escaped by the serialiser
    assert xmp.new_xmp(-1, None).count(b"Label") == 0


def test_lightroom_sidecar_merge_changes_only_rating_and_label() -> None:
    before = LR_SIDECAR.encode()
    after = xmp.merge_xmp(before, -1, "Red")
    assert xmp.read_rating_label(after) == (-1, "Red")
    assert _canonical_without_rating_label(before) == _canonical_without_rating_label(after)
    # every namespace prefix survives as it was
    for prefix in (b"xmlns:crs=", b"xmlns:lr=", b"xmlns:stEvt=", b"xmlns:xmpMM=", b"xmlns:photoshop="):
        assert prefix in after
    assert after.count(b"<rdf:li") == before.count(b"<rdf:li")
    # removing the label keeps everything else too
    nolabel = xmp.merge_xmp(after, 2, None)
    assert xmp.read_rating_label(nolabel) == (2, None)
    assert _canonical_without_rating_label(before) == _canonical_without_rating_label(nolabel)
    # idempotent: merging the same values again gives the same bytes
    assert xmp.merge_xmp(nolabel, 2, None) == nolabel


def test_merge_element_form_and_missing_namespace() -> None:
    element_form = b"""<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">
<rdf:Description rdf:about="" xmlns:q="http://ns.adobe.com/xap/1.0/"><q:Rating>2</q:Rating><q:Label>Blue</q:Label></rdf:Description>
<rdf:Description rdf:about="" xmlns:xmp="http://ns.adobe.com/xap/1.0/" xmp:Rating="1"/>
</rdf:RDF></x:xmpmeta>"""
    out = xmp.merge_xmp(element_form, 5, "Purple")
    assert xmp.read_rating_label(out) == (5, "Purple")
    assert b"xmp:Rating" not in out  # the duplicate in the second description is gone
    assert b"<q:Rating>5</q:Rating>" in out  # the existing prefix is kept
    no_xmp_ns = b"""<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">
<rdf:Description rdf:about="" xmlns:xmp="urn:not-xmp" xmp:Rating="9"/></rdf:RDF></x:xmpmeta>"""
    out = xmp.merge_xmp(no_xmp_ns, 3, "Green")
    assert xmp.read_rating_label(out) == (3, "Green")
    assert b'xmp:Rating="9"' in out  # another namespace's property of the same local name untouched
    assert b"xmlns:xmp2=" in out


HOSTILE = {
    "billion laughs": b"""<?xml version="1.0"?>
<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
<!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">]>
<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">
<rdf:Description rdf:about="" xmlns:dc="http://purl.org/dc/elements/1.1/" dc:x="&lol3;"/></rdf:RDF></x:xmpmeta>""",
    "external entity": b"""<?xml version="1.0"?><!DOCTYPE x [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>
<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">
<rdf:Description rdf:about="">&xxe;</rdf:Description></rdf:RDF></x:xmpmeta>""",
    "parameter entity": b"""<?xml version="1.0"?><!DOCTYPE x [<!ENTITY % p SYSTEM "http://example.invalid/x.dtd"> %p;]><a/>""",
    "external dtd": b"""<?xml version="1.0"?><!DOCTYPE x SYSTEM "http://example.invalid/x.dtd"><a/>""",
    "undefined entity": b"""<x:xmpmeta xmlns:x="adobe:ns:meta/">&nope;</x:xmpmeta>""",
    "invalid xml": b"""<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF></x:xmpmeta>""",
    "not xmp": b"""<html><body>hello</body></html>""",
    "binary": bytes(range(256)) * 4,
    "empty": b"",
    "too large": b"<a>" + b" " * (xmp.MAX_XMP_BYTES + 1) + b"</a>",
}


@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_hostile_sidecar_refused_and_untouched(tmp_path: Path, name: str) -> None:
    data = HOSTILE[name]
    with pytest.raises(xmp.XmpError) as exc:
        xmp.merge_xmp(data, 1, "Green", source="IMG_1.xmp")
    msg = str(exc.value)
    assert "IMG_1.xmp" in msg and ("refused" in msg or "not valid XML" in msg or "not an XMP" in msg or "empty" in msg)
    side = tmp_path / "IMG_1.xmp"
    side.write_bytes(data)
    with pytest.raises(xmp.XmpError):
        write_sidecar(side, 1, "Green")
    assert side.read_bytes() == data
    assert sorted(p.name for p in tmp_path.iterdir()) == ["IMG_1.xmp"]  # no backup, no temp file


def test_fuzzed_sidecars_are_merged_or_refused_never_crash() -> None:
    rng = random.Random(1234)
    base = LR_SIDECAR.encode()
    inserts = [b"<!DOCTYPE a>", b"&", b"<", b"]]>", b"\x00", b"\xff\xfe", b"<!ENTITY e 'x'>", b"&e;",
               b"<?pi x?>", b"<!--c-->", b'"', b"rdf:RDF", b"</rdf:Description>", b"\xc3\x28"]
    merged = refused = 0
    for _ in range(400):
        data = bytearray(base)
        for _ in range(rng.randint(1, 4)):
            op = rng.random()
            pos = rng.randrange(len(data))
            if op < 0.3:
                data[pos] = rng.randrange(256)
            elif op < 0.5:
                del data[pos : pos + rng.randint(1, 40)]
            elif op < 0.8:
                data[pos:pos] = rng.choice(inserts)
            else:
                data = data[: rng.randrange(len(data))]
        try:
            out = xmp.merge_xmp(bytes(data), 3, "Green", "fuzz")
        except xmp.XmpError:
            refused += 1
            continue
        merged += 1
        assert xmp.read_rating_label(out) == (3, "Green")
        ET.fromstring(out)  # well-formed output
    assert merged >= 10 and refused >= 200  # both paths exercised


def test_embedding_packet_has_xpacket_wrapper() -> None:
    pkt = xmp.packet_for_embedding(None, 2, "Blue")
    assert pkt.startswith(b"<?xpacket begin=") and pkt.rstrip().endswith(b'<?xpacket end="w"?>')
    assert xmp.read_rating_label(pkt) == (2, "Blue")
    again = xmp.packet_for_embedding(pkt, 2, "Blue")
    assert again == pkt


@needs_exiftool
def test_exiftool_reads_new_and_merged_sidecars(tmp_path: Path) -> None:
    a, b = tmp_path / "a.xmp", tmp_path / "b.xmp"
    a.write_bytes(xmp.new_xmp(-1, "Red"))
    b.write_bytes(xmp.merge_xmp(LR_SIDECAR.encode(), 5, "Grün & <Gelb>"))
    got = exiftool_read([a, b])
    assert got[str(a)] == (-1, "Red")
    assert got[str(b)] == (5, "Grün & <Gelb>")


# -- mapping ----------------------------------------------------------------------------------------
def test_default_mapping() -> None:
    m = Mapping()
    assert m.resolve("pick", 0, None) == (0, "Green")
    assert m.resolve("pick", 4, None) == (4, "Green")
    assert m.resolve("reject", 3, None) == (-1, "Red")
    assert m.resolve(None, 2, None) == (2, None)
    assert m.resolve(None, 0, "Purple") == (0, "Purple")
    assert m.resolve("pick", 1, "Blue") == (1, "Blue")  # an explicit label wins


def test_mapping_file_toml_and_json(tmp_path: Path) -> None:
    t = tmp_path / "m.toml"
    t.write_text(
        '[pick]\nlabel = "Auswahl"\nrating = 1\n[reject]\nlabel = ""\nrating = -1\n'
        '[labels]\nRed = "Rot"\nGreen = "Grün"\n[options]\nexplicit_label_wins = false\n',
        encoding="utf-8",
    )
    m = load_mapping(t)
    assert m.resolve("pick", 4, "Red") == (1, "Auswahl")
    assert m.resolve("reject", 0, None) == (-1, None)
    assert m.resolve(None, 0, "Red") == (0, "Rot")
    j = tmp_path / "m.json"
    j.write_text('{"pick": {"label": "Green", "rating": "stars"}, "reject": {"rating": 0}}')
    m = load_mapping(j)
    assert m.resolve("reject", 0, None) == (0, "Red")
    for bad in ({"pick": {"label": 3}}, {"reject": {"rating": 9}}, {"colours": {}},
                {"labels": {"Pink": "x"}}, {"pick": {"label": "a\x01"}}):
        with pytest.raises(MappingError):
            from_dict(bad)
    broken = tmp_path / "b.toml"
    broken.write_text("[pick\n")
    with pytest.raises(MappingError, match="not valid TOML"):
        load_mapping(broken)
