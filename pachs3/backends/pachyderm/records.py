"""What pachs3 keeps in PFS besides the objects: the S3 view of an object (its record) and the
note at the end of a commit description.

Object records
    PFS keeps size and its own content hash per file, nothing else. For an object written
    through the gateway the S3 view (MD5 ETag, ``md5``, the opaque ``metadata`` mapping, write
    time, writing commit) is kept in a small JSON *record* at ``/.pachs3/meta/K`` in the same
    commit, written in the same ModifyFile call as the object (so both land or neither). A
    record whose size no longer matches the file (the file was replaced by other means, e.g.
    ``pachctl put file``) is ignored, and the file shows what PFS knows (its hash as ETag, no
    metadata). The record does not name PFS's hash of the file: pachd may compute that hash
    differently in an open and in a finished commit (it re-chunks files of 1 MiB or more in an
    open commit, fileset/merge.go), and a record keyed on it would vanish at finishing.

Commit notes
    PFS 2.x commits cannot carry arbitrary provenance, and every commit is started on a branch.
    pachs3 starts each commit on a hidden branch of its own (``pachs3_commit_<nonce>``) and notes,
    at the end of the commit description, the branch the commit is *for* (None when detached)
    and the provenance it was started with: ``\\n\\n[pachs3] {"branch": ..., "provenance": [...],
    "route": ...}``, where ``route`` says whether the commit also has that provenance in PFS
    (``"pfs"``, ``provenance.py``) or only here (``"note"``). The note is stripped from the
    description pachs3 reports.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

_NOTE = re.compile(r"(?:\n\n)?\[pachs3\] (\{[^\n]*\})\Z")


@dataclass(frozen=True, slots=True, kw_only=True)
class MetaRecord:
    """What S3 needs to know about one object that PFS does not keep."""

    etag: str
    md5: str | None
    size: int
    modified: datetime
    commit: str
    metadata: Mapping[str, str] = field(default_factory=dict)

    def encode(self) -> bytes:
        return json.dumps(
            {
                "pachs3": 1,
                "etag": self.etag,
                "md5": self.md5,
                "size": self.size,
                "modified": self.modified.isoformat(),
                "commit": self.commit,
                "metadata": dict(self.metadata),
            },
            ensure_ascii=False,
            sort_keys=True,
        ).encode("utf-8")

    @classmethod
    def decode(cls, data: bytes) -> MetaRecord | None:
        """None for anything that is not a record pachs3 wrote."""
        try:
            raw = json.loads(data.decode("utf-8"))
            if raw.get("pachs3") != 1:
                return None
            modified = datetime.fromisoformat(raw["modified"])
            if modified.tzinfo is None:
                modified = modified.replace(tzinfo=UTC)
            metadata = raw.get("metadata") or {}
            if not all(isinstance(k, str) and isinstance(v, str) for k, v in metadata.items()):
                return None
            md5 = raw.get("md5")
            return cls(
                etag=str(raw["etag"]),
                md5=None if md5 is None else str(md5),
                size=int(raw["size"]),
                modified=modified,
                commit=str(raw["commit"]),
                metadata=dict(metadata),
            )
        except (ValueError, KeyError, TypeError, AttributeError):
            return None


# --------------------------------------------------------------------------------------------
# Commit notes


@dataclass(frozen=True, slots=True, kw_only=True)
class CommitNote:
    """pachs3's note at the end of a commit description (see the module docstring)."""

    description: str
    branch: str | None = None
    provenance: tuple[tuple[str, str, str], ...] = ()
    """(project, repo, commit id) triples."""
    noted: bool = False
    """Whether the description carried a note (False for commits made by other means)."""
    route: str | None = None
    """How the provenance was recorded: "pfs" (PFS direct_provenance, the hidden-branch route)
    or "note" (this note only); None for a commit without provenance or an older note."""


def encode_note(
    description: str,
    branch: str | None,
    provenance: Sequence[tuple[str, str, str]],
    route: str | None = None,
) -> str:
    fields: dict[str, object] = {"branch": branch, "provenance": [list(p) for p in provenance]}
    if route is not None:
        fields["route"] = route
    payload = json.dumps(fields, ensure_ascii=False, separators=(",", ":"))
    note = f"[pachs3] {payload}"
    return f"{description}\n\n{note}" if description else note


def decode_note(text: str) -> CommitNote:
    match = _NOTE.search(text)
    if match is None:
        return CommitNote(description=text)
    try:
        raw = json.loads(match.group(1))
        branch = raw.get("branch")
        route = raw.get("route")
        provenance = tuple(
            (str(project), str(repo), str(commit)) for project, repo, commit in raw["provenance"]
        )
    except (ValueError, KeyError, TypeError, AttributeError):
        return CommitNote(description=text)
    return CommitNote(
        description=text[: match.start()],
        branch=None if branch is None else str(branch),
        provenance=provenance,
        noted=True,
        route=None if route is None else str(route),
    )
