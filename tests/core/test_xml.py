"""Request documents as real clients wrote them (bodies copied from reference/client-captures),
hostile documents, and the rendered response documents parsed back."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pachs3.core.errors import (
    InvalidArgument,
    InvalidPartOrder,
    MalformedXML,
    MaxMessageLengthExceeded,
    S3Error,
)
from pachs3.core.expectations import Matching
from pachs3.core.xml.parser import MAX_DEPTH, MAX_ELEMENTS
from pachs3.core.xml.render import S3_XMLNS, render_document, render_error
from pachs3.core.xml.request_bodies import (
    MAX_DELETE_KEYS,
    DeleteRequest,
    parse_completion,
    parse_delete_objects,
)

NS = f' xmlns="{S3_XMLNS}"'
SPECIAL = "dir/sp ace+plus%pct&amp=eq\u00fc\u20ac~.txt"

# --- DeleteObjects -------------------------------------------------------------------------------

DELETE_SAMPLES = [
    pytest.param(
        b'<Delete xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Object><Key>dir/small2.txt</Key>'
        b"</Object><Object><Key>dir/empty.txt</Key></Object></Delete>",
        DeleteRequest(objects=(("dir/small2.txt", None), ("dir/empty.txt", None)), quiet=False),
        id="boto3-https-33",
    ),
    pytest.param(
        b'<Delete xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Quiet>true</Quiet><Object>'
        b"<Key>dir/small.txt</Key></Object><Object><Key>dir/sp ace+plus%pct&amp;amp=eq&#252;"
        b"&#8364;~.txt</Key></Object></Delete>",
        DeleteRequest(objects=(("dir/small.txt", None), (SPECIAL, None)), quiet=True),
        id="minio-py-27-numeric-entities-quiet",
    ),
    pytest.param(
        b'<Delete xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Object><Key>dir/big.bin</Key>'
        b"</Object><Object><Key>dir/sp ace+plus%pct&amp;amp=eq\xc3\xbc\xe2\x82\xac~.txt</Key>"
        b"</Object></Delete>",
        DeleteRequest(objects=(("dir/big.bin", None), (SPECIAL, None)), quiet=False),
        id="awscli-v1-https-utf8",
    ),
    pytest.param(
        b'<Delete xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Object><Key>dir</Key></Object>'
        b"<Object><Key>dir/big.bin</Key></Object><Quiet>true</Quiet></Delete>",
        DeleteRequest(objects=(("dir", None), ("dir/big.bin", None)), quiet=True),
        id="s3fs-http-quiet-last",
    ),
    pytest.param(
        b'<?xml version="1.0"?>\n<Delete xmlns="http://s3.amazonaws.com/doc/2006-03-01/">\n'
        b"    <Object>\n        <Key>dir/big.bin</Key>\n    </Object>\n"
        b"    <Object>\n        <Key>dir/empty.txt</Key>\n    </Object>\n</Delete>\n",
        DeleteRequest(objects=(("dir/big.bin", None), ("dir/empty.txt", None)), quiet=False),
        id="pyarrow-http-pretty",
    ),
    pytest.param(
        b'<?xml version="1.0" encoding="UTF-8"?><Delete><Object><Key>synced/a.txt</Key></Object>'
        b"<Object><Key>synced/sp ace+plus.txt</Key></Object></Delete>",
        DeleteRequest(
            objects=(("synced/a.txt", None), ("synced/sp ace+plus.txt", None)), quiet=False
        ),
        id="s3cmd-no-namespace",
    ),
    pytest.param(
        b"<Delete><Object><Key>  spaced  </Key><VersionId> v1 </VersionId></Object>"
        b"<Object><Key>a\n\tb</Key><VersionId/></Object><Quiet>FALSE</Quiet></Delete>",
        DeleteRequest(objects=(("  spaced  ", "v1"), ("a\n\tb", None)), quiet=False),
        id="whitespace-in-keys-kept",
    ),
    pytest.param(
        b'<s3:Delete xmlns:s3="http://s3.amazonaws.com/doc/2006-03-01/"><s3:Object><s3:Key>k'
        b"</s3:Key></s3:Object></s3:Delete>",
        DeleteRequest(objects=(("k", None),), quiet=False),
        id="prefixed-namespace",
    ),
    pytest.param(
        b"<Delete><Object><Key>&lt;&amp;&gt;&quot;&apos;&#x1F600;</Key></Object></Delete>",
        DeleteRequest(objects=(("<&>\"'\U0001f600", None),), quiet=False),
        id="predefined-and-hex-entities",
    ),
    pytest.param(
        b"<Delete><Object><Key><![CDATA[a<b]]></Key></Object></Delete>",
        DeleteRequest(objects=(("a<b", None),), quiet=False),
        id="cdata",
    ),
    pytest.param(
        # boto3's DeleteObjects with the conditions of a conditional delete (ObjectIdentifier).
        b'<Delete xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Object><Key>a</Key>'
        b"<ETag>&quot;0123&quot;</ETag></Object><Object><Key>b</Key></Object><Object><Key>c"
        b"</Key><LastModifiedTime>2025-01-02T03:04:05Z</LastModifiedTime><Size>11</Size>"
        b"</Object></Delete>",
        DeleteRequest(
            objects=(("a", None), ("b", None), ("c", None)),
            quiet=False,
            conditions={
                0: Matching(etag='"0123"'),
                2: Matching(size=11, modified=datetime(2025, 1, 2, 3, 4, 5, tzinfo=UTC)),
            },
        ),
        id="conditional-delete",
    ),
]


@pytest.mark.parametrize(
    "condition",
    [
        b"<Size>-1</Size>",
        b"<Size>eleven</Size>",
        b"<Size>" + b"9" * 20 + b"</Size>",
        b"<LastModifiedTime>yesterday</LastModifiedTime>",
        b"<Size><a/></Size>",
    ],
)
def test_delete_condition_that_does_not_validate_is_malformed(condition: bytes) -> None:
    with pytest.raises(MalformedXML):
        parse_delete_objects(b"<Delete><Object><Key>k</Key>" + condition + b"</Object></Delete>")


@pytest.mark.parametrize(("data", "expected"), DELETE_SAMPLES)
def test_parse_delete_objects(data: bytes, expected: DeleteRequest) -> None:
    assert parse_delete_objects(data) == expected


def _delete_doc(count: int) -> bytes:
    objects = "".join(f"<Object><Key>k{i}</Key></Object>" for i in range(count))
    return f"<Delete{NS}>{objects}</Delete>".encode()


def test_delete_limits() -> None:
    assert len(parse_delete_objects(_delete_doc(MAX_DELETE_KEYS)).objects) == MAX_DELETE_KEYS
    with pytest.raises(MalformedXML):
        parse_delete_objects(_delete_doc(MAX_DELETE_KEYS + 1))
    with pytest.raises(MalformedXML):
        parse_delete_objects(_delete_doc(0))


# --- hostile and malformed -----------------------------------------------------------------------

BILLION_LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [
 <!ENTITY lol "lol">
 <!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
 <!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
]>
<Delete><Object><Key>&lol4;</Key></Object></Delete>"""

MALFORMED_DELETES = [
    pytest.param(BILLION_LAUGHS, id="billion-laughs"),
    pytest.param(
        b'<!DOCTYPE Delete [<!ENTITY x SYSTEM "file:///etc/passwd">]>'
        b"<Delete><Object><Key>&x;</Key></Object></Delete>",
        id="external-entity",
    ),
    pytest.param(
        b'<!DOCTYPE Delete SYSTEM "http://127.0.0.1:1/evil.dtd">'
        b"<Delete><Object><Key>k</Key></Object></Delete>",
        id="external-dtd",
    ),
    pytest.param(
        b'<!DOCTYPE Delete [<!ENTITY % p SYSTEM "http://127.0.0.1:1/p">%p;]>'
        b"<Delete><Object><Key>k</Key></Object></Delete>",
        id="parameter-entity",
    ),
    pytest.param(b"<!DOCTYPE Delete><Delete><Object><Key>k</Key></Object></Delete>", id="doctype"),
    pytest.param(b"<Delete><Object><Key>&undefined;</Key></Object></Delete>", id="undefined-ent"),
    pytest.param(b"<Delete><Object><Key>&#1;</Key></Object></Delete>", id="illegal-char-ref"),
    pytest.param(b"", id="empty"),
    pytest.param(b"   ", id="blank"),
    pytest.param(b"not xml", id="text"),
    pytest.param(b"<Delete><Object><Key>k</Key></Object>", id="unclosed"),
    pytest.param(b"<Delete><Object><Key>k</Key></Object></Delete><x/>", id="two-roots"),
    pytest.param(b"<Other><Object><Key>k</Key></Object></Other>", id="wrong-root"),
    pytest.param(
        b'<Delete xmlns="urn:other"><Object><Key>k</Key></Object></Delete>', id="foreign-ns"
    ),
    pytest.param(b"<Delete><Object><VersionId>v</VersionId></Object></Delete>", id="no-key"),
    pytest.param(b"<Delete><Object/></Delete>", id="empty-object"),
    pytest.param(b"<Delete><Object>text</Object></Delete>", id="text-object"),
    pytest.param(b"<Delete>stray<Object><Key>k</Key></Object></Delete>", id="stray-text"),
    pytest.param(
        b"<Delete><Object><Key>a</Key><Key>b</Key></Object></Delete>", id="two-keys-one-object"
    ),
    pytest.param(b"<Delete><Object><Key><b>x</b></Key></Object></Delete>", id="element-in-key"),
    pytest.param(
        b"<Delete><Quiet>yes</Quiet><Object><Key>k</Key></Object></Delete>", id="bad-quiet"
    ),
    pytest.param(
        b"<Delete><Quiet>true</Quiet><Quiet>true</Quiet><Object><Key>k</Key></Object></Delete>",
        id="two-quiets",
    ),
    pytest.param(b"\xff\xfe<\x00", id="bad-encoding"),
]


@pytest.mark.parametrize("data", MALFORMED_DELETES)
def test_malformed_delete(data: bytes) -> None:
    with pytest.raises(MalformedXML) as caught:
        parse_delete_objects(data)
    assert (caught.value.code, caught.value.status) == ("MalformedXML", 400)


def test_size_cap_is_checked_before_parsing() -> None:
    big = _delete_doc(10)
    with pytest.raises(MaxMessageLengthExceeded):
        parse_delete_objects(big, limit=len(big) - 1)
    assert len(parse_delete_objects(big, limit=len(big)).objects) == 10
    with pytest.raises(MaxMessageLengthExceeded):
        parse_delete_objects(b"<" * (5 * 1024 * 1024))  # default cap: 4 MiB


# --- CompleteMultipartUpload ---------------------------------------------------------------------

COMPLETE_SAMPLES = [
    pytest.param(
        b'<CompleteMultipartUpload xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Part><ETag>'
        b'"621eebdb138009c4c37d32a13a7d8902"</ETag><PartNumber>1</PartNumber><ChecksumCRC32>'
        b'dWooUQ==</ChecksumCRC32></Part><Part><ETag>"aa7f7d5684fbcc3d76652e52594cd251"</ETag>'
        b"<PartNumber>2</PartNumber><ChecksumCRC32>t1YpyQ==</ChecksumCRC32></Part><Part><ETag>"
        b'"b70ecc54c3d83edc0ba52d082da131f8"</ETag><PartNumber>3</PartNumber><ChecksumCRC32>'
        b"C55ZhQ==</ChecksumCRC32></Part></CompleteMultipartUpload>",
        (
            (1, "621eebdb138009c4c37d32a13a7d8902"),
            (2, "aa7f7d5684fbcc3d76652e52594cd251"),
            (3, "b70ecc54c3d83edc0ba52d082da131f8"),
        ),
        id="boto3-https-14-checksums",
    ),
    pytest.param(
        b'<?xml version="1.0"?>\n<CompleteMultipartUpload xmlns="http://s3.amazonaws.com/doc/'
        b'2006-03-01/">\n    <Part>\n        <ETag>"6f5902ac237024bdd0c176cb93063dc4"</ETag>\n'
        b"        <PartNumber>1</PartNumber>\n    </Part>\n</CompleteMultipartUpload>\n",
        ((1, "6f5902ac237024bdd0c176cb93063dc4"),),
        id="pyarrow-http-4-pretty",
    ),
    pytest.param(
        b'<CompleteMultipartUpload xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Part><ETag>'
        b"&#34;3f51fd210b35877f2868e89a92ebf7af&#34;</ETag><PartNumber>1</PartNumber></Part>"
        b"<Part><PartNumber>4</PartNumber><ETag>&#34;24f5efbcbd5dc5295485bc3797572304&#34;"
        b"</ETag></Part></CompleteMultipartUpload>",
        ((1, "3f51fd210b35877f2868e89a92ebf7af"), (4, "24f5efbcbd5dc5295485bc3797572304")),
        id="rclone-entity-quotes",
    ),
    pytest.param(
        b"<CompleteMultipartUpload><Part><PartNumber>1</PartNumber><ETag>"
        b"4f6bb181a54c3be5576cea79080aa782</ETag></Part><Part><PartNumber>2</PartNumber><ETag>"
        b"24f5efbcbd5dc5295485bc3797572304</ETag></Part></CompleteMultipartUpload>",
        ((1, "4f6bb181a54c3be5576cea79080aa782"), (2, "24f5efbcbd5dc5295485bc3797572304")),
        id="s3cmd-bare-no-namespace",
    ),
    pytest.param(
        b"<CompleteMultipartUpload><Part><ETag>&quot;abc-2&quot;</ETag><PartNumber> 0007 "
        b"</PartNumber></Part></CompleteMultipartUpload>",
        ((7, "abc-2"),),
        id="quot-entity-padded-number",
    ),
]


@pytest.mark.parametrize(("data", "expected"), COMPLETE_SAMPLES)
def test_parse_complete_multipart(data: bytes, expected: tuple[tuple[int, str], ...]) -> None:
    assert parse_completion(data).parts == expected


def test_a_completion_keeps_each_parts_checksums() -> None:
    data = (
        b'<CompleteMultipartUpload><Part><PartNumber>1</PartNumber><ETag>"e1"</ETag>'
        b"<ChecksumCRC32> AAAAAQ== </ChecksumCRC32><ChecksumSHA256>x</ChecksumSHA256></Part>"
        b"<Part><PartNumber>2</PartNumber><ETag>e2</ETag><Size>9</Size></Part>"
        b"</CompleteMultipartUpload>"
    )
    completion = parse_completion(data)
    assert completion.parts == ((1, "e1"), (2, "e2"))
    assert completion.part_checksums == {1: {"crc32": "AAAAAQ==", "sha256": "x"}}


def _complete(*parts: tuple[str, str]) -> bytes:
    body = "".join(f"<Part><PartNumber>{n}</PartNumber><ETag>{e}</ETag></Part>" for n, e in parts)
    return f"<CompleteMultipartUpload>{body}</CompleteMultipartUpload>".encode()


@pytest.mark.parametrize(
    ("data", "error"),
    [
        (b"<CompleteMultipartUpload/>", MalformedXML),
        (b"<CompleteMultipartUpload></CompleteMultipartUpload>", MalformedXML),
        (b"<CompleteMultipartUpload><Part><ETag>x</ETag></Part></CompleteMultipartUpload>",
         MalformedXML),
        (b"<CompleteMultipartUpload><Part><PartNumber>1</PartNumber></Part>"
         b"</CompleteMultipartUpload>", MalformedXML),
        (_complete(("one", "x")), MalformedXML),
        (_complete(("-1", "x")), MalformedXML),
        (_complete(("\u0661", "x")), MalformedXML),  # Arabic-Indic one
        (_complete(("0", "x")), InvalidArgument),
        (_complete(("10001", "x")), InvalidArgument),
        (_complete(("2", "x"), ("1", "y")), InvalidPartOrder),
        (_complete(("1", "x"), ("1", "y")), InvalidPartOrder),
        (b"<Complete><Part><PartNumber>1</PartNumber><ETag>x</ETag></Part></Complete>",
         MalformedXML),
    ],
)  # fmt: skip
def test_complete_multipart_errors(data: bytes, error: type[S3Error]) -> None:
    with pytest.raises(error):
        parse_completion(data)


def test_complete_multipart_ten_thousand_parts() -> None:
    parts = [(str(n), f'"{n:032x}"') for n in range(1, 10001)]
    parsed = parse_completion(_complete(*parts)).parts
    assert len(parsed) == 10000
    assert parsed[-1] == (10000, f"{10000:032x}")


# --- CreateBucketConfiguration -------------------------------------------------------------------


# --- rendering -----------------------------------------------------------------------------------


def _parse(document: bytes) -> ET.Element:
    assert document.startswith(b'<?xml version="1.0" encoding="UTF-8"?>')
    return ET.fromstring(document)


def _q(tag: str) -> str:
    return f"{{{S3_XMLNS}}}{tag}"


def test_render_structure_and_order() -> None:
    document = render_document(
        "ListBucketResult",
        {
            "Name": "bucket",
            "Prefix": "",
            "KeyCount": 2,
            "IsTruncated": False,
            "Missing": None,
            "Contents": [
                {"Key": "a", "LastModified": datetime(2024, 1, 1, tzinfo=UTC), "Size": 0},
                {"Key": "b", "Owner": {"ID": "x", "DisplayName": None}},
            ],
            "CommonPrefixes": [],
            "Empty": {},
            "Tuple": ("1", "2"),
        },
    )
    root = _parse(document)
    assert root.tag == _q("ListBucketResult")
    assert [child.tag for child in root] == [
        _q(t)
        for t in (
            *("Name", "Prefix", "KeyCount", "IsTruncated"),
            *("Contents", "Contents", "Empty", "Tuple", "Tuple"),
        )
    ]
    assert root.findtext(_q("Prefix")) == ""
    assert root.findtext(_q("KeyCount")) == "2"
    assert root.findtext(_q("IsTruncated")) == "false"
    first = root.findall(_q("Contents"))[0]
    assert first.findtext(_q("LastModified")) == "2024-01-01T00:00:00.000Z"
    assert first.findtext(_q("Size")) == "0"
    assert b"<Missing" not in document
    assert b"<Empty/>" in document
    assert b"<DisplayName" not in document


def test_render_empty_root_and_no_namespace() -> None:
    assert render_document("LocationConstraint", {}) == (
        b'<?xml version="1.0" encoding="UTF-8"?>\n'
        b'<LocationConstraint xmlns="http://s3.amazonaws.com/doc/2006-03-01/"/>'
    )
    assert render_document("X", {"A": "1"}, xmlns=False).endswith(b"<X><A>1</A></X>")


def test_render_error() -> None:
    document = render_error("NoSuchKey", "The specified key does not exist.", "/b/k&x", "ID1")
    assert document == (
        b'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>NoSuchKey</Code>'
        b"<Message>The specified key does not exist.</Message><Resource>/b/k&amp;x</Resource>"
        b"<RequestId>ID1</RequestId></Error>"
    )


def test_render_rejects_unknown_values() -> None:
    with pytest.raises(TypeError):
        render_document("X", {"A": 1.5})
    with pytest.raises(TypeError):
        render_document("X", {"A": b"bytes"})


@pytest.mark.parametrize(
    ("text", "replaced", "referenced"),
    [
        ("plain", b"plain", b"plain"),
        ("a&b<c>d\"e'f", b"a&amp;b&lt;c&gt;d\"e'f", b"a&amp;b&lt;c&gt;d\"e'f"),
        ("]]>", b"]]&gt;", b"]]&gt;"),
        ("tab\tnl\n", b"tab\tnl\n", b"tab\tnl\n"),
        ("cr\r", b"cr&#xD;", b"cr&#xD;"),  # a literal CR would come back as LF
        ("\x01\x1f\x00", "\ufffd\ufffd\ufffd".encode(), b"&#x1;&#x1F;&#x0;"),
        ("\ud800", "\ufffd".encode(), b"&#xD800;"),
        ("\ufffe\uffff", "\ufffd\ufffd".encode(), b"&#xFFFE;&#xFFFF;"),
        ("\u00fc\u20ac\U0001f600", "\u00fc\u20ac\U0001f600".encode(), None),
    ],
)
def test_escaping(text: str, replaced: bytes, referenced: bytes | None) -> None:
    assert render_document("K", {"Key": text}, xmlns=False).endswith(
        b"<Key>" + replaced + b"</Key></K>"
    )
    if referenced is not None:
        document = render_document("K", {"Key": text}, xmlns=False, illegal="reference")
        assert document.endswith(b"<Key>" + referenced + b"</Key></K>")


@given(st.text(max_size=40))
def test_default_rendering_always_parses(key: str) -> None:
    root = _parse(render_document("R", {"Key": key, "Keys": [key, key]}))
    expected = "".join(
        "\ufffd"
        if (ord(c) < 0x20 and c not in "\t\n\r")
        or 0xD800 <= ord(c) <= 0xDFFF
        or c in "\ufffe\uffff"
        else c
        for c in key
    )
    assert root.findtext(_q("Key")) == expected


@given(st.text(alphabet=st.characters(codec="utf-8"), max_size=40))
def test_legal_text_round_trips_exactly(key: str) -> None:
    legal = "".join(c for c in key if ord(c) >= 0x20 or c in "\t\n\r")
    legal = legal.replace("\ufffe", "").replace("\uffff", "")
    root = _parse(render_document("R", {"Key": legal}))
    assert root.findtext(_q("Key")) == legal


def test_deep_nesting_is_refused_early() -> None:
    deep = b"<Delete>" + b"<a>" * 500_000 + b"</a>" * 500_000 + b"</Delete>"
    with pytest.raises(MalformedXML):
        parse_delete_objects(deep)
    nested = b"<a>" * (MAX_DEPTH - 3) + b"k" + b"</a>" * (MAX_DEPTH - 3)
    ok = b"<Delete><Object><Key>k</Key><Extra>" + nested + b"</Extra></Object></Delete>"
    assert parse_delete_objects(ok).objects == (("k", None),)  # exactly MAX_DEPTH deep


def test_element_flood_is_refused_early() -> None:
    flood = b"<Delete>" + b"<a/>" * (MAX_ELEMENTS + 1) + b"</Delete>"
    with pytest.raises(MalformedXML) as caught:
        parse_delete_objects(flood)
    assert "elements" in repr(caught.value.__cause__)
    parts = [(str(n), f'"{n:032x}"') for n in range(1, 10001)]
    checksums = "".join(
        f"<Checksum{name}>AAAAAA==</Checksum{name}>"
        for name in ("CRC32", "CRC32C", "CRC64NVME", "SHA1", "SHA256", "Type")
    )
    body = "".join(
        f"<Part><PartNumber>{n}</PartNumber><ETag>{e}</ETag>{checksums}</Part>" for n, e in parts
    )
    document = f"<CompleteMultipartUpload>{body}</CompleteMultipartUpload>".encode()
    assert len(parse_completion(document).parts) == 10000  # the largest real document fits
