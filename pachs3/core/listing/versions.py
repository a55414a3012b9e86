"""ListObjectVersions: the request's markers -> a plan, the fold of a history walk into a page,
and the page as XML.

A page holds up to ``max-keys`` lines: versions and delete markers (each path's newest first,
paths ascending) and, with a delimiter, common prefixes. A truncated page names where the next
one starts: ``NextKeyMarker`` (the last key or common prefix) and ``NextVersionIdMarker`` (the
last version of that key, when the page ended in a key's history). A request with both markers
resumes inside that key's history, after that version; with ``key-marker`` alone, after the key.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from pachs3.core import errors, versions
from pachs3.core.dates import format_iso8601
from pachs3.core.documents import OWNER_ID, OWNER_NAME, STORAGE_CLASS, Document, aws_bool
from pachs3.core.layout import Bucket
from pachs3.core.listing.pages import encode_key_url, key_encoder
from pachs3.core.listing.params import encode_url_requested, max_keys_of
from pachs3.core.outcomes import VersionEntry, VersionsListed
from pachs3.core.plans import ListVersions
from pachs3.core.refs import FileInfo
from pachs3.core.request import S3Request
from pachs3.core.xml.render import Prerendered, escape_text, render_document


def list_versions_plan(request: S3Request, bucket: Bucket) -> ListVersions:
    query = request.query
    key_marker = query.get("key-marker", "")
    version_id_marker = query.get("version-id-marker", "")
    if version_id_marker:
        if not key_marker:
            raise errors.InvalidArgument(
                "A version-id marker cannot be specified without a key marker.",
                resource=request.resource,
            )
        versions.check_version_id(version_id_marker, resource=request.resource)
    return ListVersions(
        ref=bucket.ref,
        bucket=bucket.name,
        ancestry=bucket.history == "ancestry",
        prefix=query.get("prefix", ""),
        delimiter=query.get("delimiter", ""),
        key_marker=key_marker,
        version_id_marker=version_id_marker,
        max_keys=max_keys_of(request, "max-keys"),
        encode_url=encode_url_requested(request),
    )


class VersionPage:
    """Folds the changes of a history walk, in order, into one page."""

    def __init__(self, listing: ListVersions) -> None:
        self._listing = listing
        self.entries: list[VersionEntry] = []
        self.prefixes: list[str] = []
        self.truncated = False
        self._last: tuple[str, str | None] | None = None
        """The last line taken: (key or common prefix, version id or None)."""

    @property
    def size(self) -> int:
        return len(self.entries) + len(self.prefixes)

    def offer(
        self, path: str, version_id: str, *, latest: bool, info: FileInfo | None, when: datetime
    ) -> bool:
        """Take one change; False once the page is full (the walk stops there)."""
        common = self._common_prefix(path)
        if common is not None:
            if common <= self._listing.key_marker or (self._last and self._last[0] == common):
                return True  # folded into a prefix already listed (here or on a page before)
            if not self._room():
                return False
            self.prefixes.append(common)
            self._last = (common, None)
            return True
        if not self._room():
            return False
        deleted = when if info is None else None
        self.entries.append(
            VersionEntry(
                path=path, version_id=version_id, latest=latest, info=info, deleted=deleted
            )
        )
        self._last = (path, version_id)
        return True

    def _room(self) -> bool:
        if self.size < self._listing.max_keys:
            return True
        self.truncated = self._listing.max_keys > 0
        return False

    def _common_prefix(self, path: str) -> str | None:
        delimiter = self._listing.delimiter
        if not delimiter:
            return None
        rest = path[len(self._listing.prefix) :]
        position = rest.find(delimiter)
        if position < 0:
            return None
        return self._listing.prefix + rest[: position + len(delimiter)]

    def result(self) -> VersionsListed:
        next_key = next_version = None
        if self.truncated and self._last is not None:
            next_key, next_version = self._last
        return VersionsListed(
            entries=tuple(self.entries),
            prefixes=tuple(self.prefixes),
            truncated=self.truncated,
            next_key_marker=next_key,
            next_version_id_marker=next_version,
        )


def list_versions_document(listing: ListVersions, listed: VersionsListed) -> bytes:
    enc = key_encoder(listing.encode_url)
    doc: Document = {
        "Name": listing.bucket,
        "Prefix": enc(listing.prefix),
        "KeyMarker": enc(listing.key_marker),
        "VersionIdMarker": listing.version_id_marker,
    }
    if listed.next_key_marker is not None:
        doc["NextKeyMarker"] = enc(listed.next_key_marker)
    if listed.next_version_id_marker is not None:
        doc["NextVersionIdMarker"] = listed.next_version_id_marker
    doc["MaxKeys"] = str(listing.max_keys)
    if listing.delimiter:
        doc["Delimiter"] = enc(listing.delimiter)
    doc["IsTruncated"] = aws_bool(listed.truncated)
    key_text: Callable[[str], str] = encode_key_url if listing.encode_url else escape_text
    doc["Versions"] = Prerendered("".join(_line(entry, key_text) for entry in listed.entries))
    doc["CommonPrefixes"] = [{"Prefix": enc(p)} for p in listed.prefixes]
    if listing.encode_url:
        doc["EncodingType"] = "url"
    return render_document("ListVersionsResult", doc)


_OWNER = (
    f"<Owner><ID>{escape_text(OWNER_ID)}</ID>"
    f"<DisplayName>{escape_text(OWNER_NAME)}</DisplayName></Owner>"
)


def _line(entry: VersionEntry, key_text: Callable[[str], str]) -> str:
    """A ``<Version>`` or a ``<DeleteMarker>``, in AWS's element order (interleaved, in the order
    of the page, as AWS sends them)."""
    head = (
        f"<Key>{key_text(entry.path)}</Key><VersionId>{escape_text(entry.version_id)}</VersionId>"
        f"<IsLatest>{aws_bool(entry.latest)}</IsLatest>"
    )
    info = entry.info
    if info is None:
        assert entry.deleted is not None
        when = format_iso8601(entry.deleted)
        return f"<DeleteMarker>{head}<LastModified>{when}</LastModified>{_OWNER}</DeleteMarker>"
    return (
        f"<Version>{head}<LastModified>{format_iso8601(info.modified)}</LastModified>"
        f'<ETag>"{escape_text(info.etag)}"</ETag><Size>{info.size}</Size>'
        f"<StorageClass>{STORAGE_CLASS}</StorageClass>{_OWNER}</Version>"
    )
