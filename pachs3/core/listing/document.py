"""The ListObjects page (V1 and V2) as XML: the one place the next markers are written.

The up to 1000 ``<Contents>`` of a page are written directly, one f-string each
(``_contents``), for speed; everything else goes through ``core/xml/render.py`` like every document.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Final

from pachs3.core.checksum_types import CHECKSUM_TYPE_KEY, FULL_OBJECT
from pachs3.core.dates import format_iso8601
from pachs3.core.documents import OWNER_ID, OWNER_NAME, STORAGE_CLASS, Document, aws_bool
from pachs3.core.headers import CHECKSUM_HEADER_PREFIX
from pachs3.core.listing.pages import encode_key_url, encode_token, key_encoder
from pachs3.core.outcomes import Listed
from pachs3.core.plans import ListFiles
from pachs3.core.refs import FileInfo
from pachs3.core.xml.render import Prerendered, escape_text, render_document


def list_objects(plan: ListFiles, listed: Listed) -> bytes:
    """ListObjects V1 and V2 share one shape; V2 adds KeyCount and continuation tokens."""
    enc = key_encoder(plan.encode_url)
    # V1 echoes Prefix as sent even under encoding-type=url; V2 encodes it. botocore decodes
    # exactly those fields (V1: Delimiter, Marker, NextMarker; V2: Delimiter, Prefix, StartAfter),
    # so a prefix such as "\n" comes back as sent in both (s3-tests prefix_unreadable).
    doc: Document = {
        "Name": plan.bucket,
        "Prefix": enc(plan.prefix) if plan.version == 2 else plan.prefix,
    }
    if plan.version == 1:
        doc["Marker"] = enc(plan.marker)
    if plan.delimiter:
        doc["Delimiter"] = enc(plan.delimiter)
    doc["MaxKeys"] = str(plan.max_keys)
    if plan.encode_url:
        doc["EncodingType"] = "url"
    if plan.version == 2:
        doc["KeyCount"] = str(len(listed.files) + len(listed.prefixes))
    doc["IsTruncated"] = aws_bool(listed.truncated)
    if plan.version == 1:
        if listed.truncated and listed.last is not None:
            # AWS sends NextMarker only with a delimiter; rclone and s3cmd page with it, and it
            # is always right, so it is always sent when the page is truncated.
            doc["NextMarker"] = enc(listed.last)
    else:
        if plan.continuation_token is not None:
            doc["ContinuationToken"] = plan.continuation_token
        if listed.truncated and listed.last is not None:
            doc["NextContinuationToken"] = encode_token(listed.last)
        if plan.start_after_param:
            doc["StartAfter"] = enc(plan.start_after_param)
    with_owner = plan.version == 1 or plan.fetch_owner
    doc["Contents"] = Prerendered(_contents(listed.files, plan.encode_url, with_owner=with_owner))
    doc["CommonPrefixes"] = [{"Prefix": enc(p)} for p in listed.prefixes]
    return render_document("ListBucketResult", doc)


def _contents(files: Iterable[FileInfo], encode_url: bool, *, with_owner: bool) -> str:
    """The ``<Contents>`` of a page, one f-string per key (a page has up to 1000 of them).

    The bytes are those the generic builder writes for ``{"Key": ..., "LastModified": ...,
    "ETag": ..., "Size": ..., "StorageClass": ..., ["ChecksumAlgorithm": [...],
    "ChecksumType": ...], ["Owner": ...]}`` (tests/core/test_listing_render_equivalence.py
    holds that version and compares). Only text that may hold ``&<>`` or control characters is
    escaped: the key (unless URL-encoded: ``quote`` writes only ``A-Za-z0-9_.~/%-``), the
    ETag (whatever the backend keeps; quotes stay literal) and checksum names. LastModified is
    digits and ``-:.TZ``, Size an ``int``, StorageClass and Owner constants.
    """
    key_text: Callable[[str], str] = encode_key_url if encode_url else escape_text
    owner = _OWNER_XML if with_owner else ""
    iso = format_iso8601
    return "".join(
        [
            f"<Contents><Key>{key_text(info.path)}</Key>"
            f"<LastModified>{iso(info.modified)}</LastModified>"
            f'<ETag>"{escape_text(info.etag)}"</ETag><Size>{info.size!s}</Size>'
            f"<StorageClass>{STORAGE_CLASS}</StorageClass>"
            f"{_checksum_xml(info.metadata) if info.metadata else ''}{owner}</Contents>"
            for info in files
        ]
    )


def _checksum_xml(metadata: Mapping[str, str]) -> str:
    # AWS lists the algorithm of an object stored with a checksum (boto3 >= 1.36 sends CRC32 by
    # default), and the checksum's type.
    algorithms = "".join(
        f"<ChecksumAlgorithm>{escape_text(name.removeprefix(CHECKSUM_HEADER_PREFIX).upper())}"
        "</ChecksumAlgorithm>"
        for name in metadata
        if name.startswith(CHECKSUM_HEADER_PREFIX)
    )
    if not algorithms:
        return ""
    kind = metadata.get(CHECKSUM_TYPE_KEY, FULL_OBJECT)
    return f"{algorithms}<ChecksumType>{escape_text(kind)}</ChecksumType>"


_OWNER_XML: Final = (
    f"<Owner><ID>{escape_text(OWNER_ID)}</ID>"
    f"<DisplayName>{escape_text(OWNER_NAME)}</DisplayName></Owner>"
)
