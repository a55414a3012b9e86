"""Pure helpers of the Pachyderm backend: how S3 keys, commit records and object metadata are
laid onto PFS, and where the connection settings come from. No gRPC here (``pachyderm.py`` is
the only module that talks to pachd), so all of this is testable without a cluster.

Path mapping
    An S3 key ``K`` is the PFS path ``/K``. PFS cleans every path it is given (``path.Clean``
    plus one leading ``/``), so a key that cleaning would change has no faithful PFS path: it
    would silently alias another key. Such keys are refused (``NotSupported``, S3
    ``InvalidArgument``) when written and are simply absent when read: an empty key, a leading
    or trailing ``/`` (``dir/`` markers), ``//``, a ``.`` or ``..`` segment, text that is not
    valid Unicode, and keys under the reserved directory ``.pachs3/``.

Object metadata
    PFS keeps size and its own content hash per file, nothing else. For an object written
    through the gateway the S3 view (MD5 ETag, ``md5``, the opaque ``metadata`` mapping, write
    time, writing commit) is kept in a small JSON *record* at ``/.pachs3/meta/K`` in the same
    commit. The record names the PFS hash of the bytes it describes: a record whose hash or size
    no longer matches the file (the file was replaced by other means, e.g. ``pachctl put file``)
    is ignored, and the file shows what PFS knows (its hash as ETag, no metadata).

Commit records
    PFS 2.x commits cannot carry arbitrary provenance, and every commit is started on a branch.
    pachs3 starts each commit on a hidden branch of its own (``pachs3_commit_<nonce>``) and notes,
    at the end of the commit description, the branch the commit is *for* (None when detached)
    and the provenance it was started with: ``\\n\\n[pachs3] {"branch": ..., "provenance": [...]}``.
    The note is stripped from the description pachs3 reports.
"""

from __future__ import annotations

import base64
import json
import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlsplit

__all__ = [
    "HIDDEN_BRANCH_PREFIX",
    "META_ROOT",
    "RESERVED_DIR",
    "CommitNote",
    "Connection",
    "MetaRecord",
    "connection_from_environment",
    "decode_note",
    "encode_note",
    "is_commit_id",
    "key_problem",
    "meta_path",
    "parse_pachd_address",
    "pfs_path",
]

RESERVED_DIR = ".pachs3"
"""The top-level PFS directory pachs3 keeps its records in; hidden from walks, never writable."""

META_ROOT = f"/{RESERVED_DIR}/meta"
HIDDEN_BRANCH_PREFIX = "pachs3_commit_"
DEFAULT_PORT = 30650

_COMMIT_ID = re.compile(r"[0-9a-f]{32}")
_NOTE = re.compile(r"(?:\n\n)?\[pachs3\] (\{[^\n]*\})\Z")


def is_commit_id(ref: str) -> bool:
    """PFS 2.x commit ids are dash-less UUIDs; anything else names a branch."""
    return _COMMIT_ID.fullmatch(ref) is not None


# --------------------------------------------------------------------------------------------
# Keys and paths


def key_problem(key: str) -> str | None:
    """Why ``key`` has no faithful PFS path, or None when ``/key`` is one."""
    if not key:
        return "a key cannot be empty"
    try:
        key.encode("utf-8")
    except UnicodeEncodeError:
        return "the key is not valid Unicode"
    segments = key.split("/")
    if "" in segments:
        if key.endswith("/"):
            return (
                f"{key!r} ends with '/': PFS has no directory markers (it would store the "
                "key without the slash)"
            )
        return f"{key!r} has an empty path segment: PFS would collapse it ('//' or a leading '/')"
    if "." in segments or ".." in segments:
        return f"{key!r} has a '.' or '..' segment: PFS would resolve it to another path"
    if segments[0] == RESERVED_DIR:
        return f"keys under {RESERVED_DIR}/ are reserved for pachs3's object records"
    return None


def pfs_path(key: str) -> str:
    return "/" + key


def meta_path(key: str) -> str:
    return f"{META_ROOT}/{key}"


def is_reserved_path(path: str) -> bool:
    return path == f"/{RESERVED_DIR}" or path.startswith(f"/{RESERVED_DIR}/")


# --------------------------------------------------------------------------------------------
# Object records


@dataclass(frozen=True, slots=True, kw_only=True)
class MetaRecord:
    """What S3 needs to know about one object that PFS does not keep."""

    etag: str
    md5: str | None
    size: int
    pfs_hash: str
    """Hex of the PFS hash of the bytes the record describes (validity check)."""
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
                "hash": self.pfs_hash,
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
                pfs_hash=str(raw["hash"]),
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


def encode_note(
    description: str, branch: str | None, provenance: Sequence[tuple[str, str, str]]
) -> str:
    payload = json.dumps(
        {"branch": branch, "provenance": [list(p) for p in provenance]},
        ensure_ascii=False,
        separators=(",", ":"),
    )
    note = f"[pachs3] {payload}"
    return f"{description}\n\n{note}" if description else note


def decode_note(text: str) -> CommitNote:
    match = _NOTE.search(text)
    if match is None:
        return CommitNote(description=text)
    try:
        raw = json.loads(match.group(1))
        branch = raw.get("branch")
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
    )


# --------------------------------------------------------------------------------------------
# Where pachd is


@dataclass(frozen=True, slots=True, kw_only=True)
class Connection:
    """How to reach pachd: what ``PachydermBackend`` needs besides its options."""

    target: str
    """``host:port`` for gRPC."""
    tls: bool = False
    auth_token: str | None = None
    root_certs: bytes | None = None
    source: str = "explicit"
    """Where the settings came from (for messages)."""


def parse_pachd_address(address: str) -> tuple[str, bool]:
    """``[grpc|grpcs|http|https://]host[:port]`` -> (``host:port``, tls). Port defaults to 30650.

    ValueError for other schemes, paths, queries or credentials in the address.
    """
    text = address.strip()
    if not text:
        raise ValueError("the pachd address is empty")
    if "://" not in text:
        text = f"grpc://{text}"
    parts = urlsplit(text)
    if parts.scheme not in ("grpc", "grpcs", "http", "https"):
        raise ValueError(f"unsupported pachd address scheme {parts.scheme!r} in {address!r}")
    if parts.path not in ("", "/") or parts.query or parts.fragment:
        raise ValueError(f"a pachd address is scheme://host:port, not {address!r}")
    if parts.username or parts.password:
        raise ValueError(f"a pachd address carries no credentials: {address!r}")
    try:
        port = parts.port or DEFAULT_PORT
    except ValueError:
        raise ValueError(f"bad port in pachd address {address!r}") from None
    host = parts.hostname
    if not host:
        raise ValueError(f"no host in pachd address {address!r}")
    if ":" in host:  # IPv6 literal
        host = f"[{host}]"
    return f"{host}:{port}", parts.scheme in ("grpcs", "https")


TOKEN_VARIABLES = ("PACHS3_PACHD_TOKEN", "PACH_PYTHON_AUTH_TOKEN")
PIPELINE_CONFIG = "/pachctl/config.json"


def connection_from_environment(
    environ: Mapping[str, str] | None = None, *, home: Path | None = None
) -> Connection:
    """Find pachd the way Pachyderm users already do, first match wins:

    1. ``PACHS3_PACHD_ADDRESS`` (pachs3's own), then ``PACHD_ADDRESS`` (pachctl's);
    2. inside a pipeline worker: ``PACHD_PEER_SERVICE_HOST``/``_PORT``, then
       ``PACHD_SERVICE_HOST``/``_PORT`` (Kubernetes service variables);
    3. pachctl's config: the file named by ``PACH_CONFIG``, ``/pachctl/config.json`` (mounted in
       pipeline containers), ``~/.pachyderm/config.json``: the active context's
       ``pachd_address`` (or its port-forward), ``session_token`` and ``server_cas``.

    A token in ``PACHS3_PACHD_TOKEN`` or ``PACH_PYTHON_AUTH_TOKEN`` overrides the config's.
    ValueError when nothing names a cluster.
    """
    env = os.environ if environ is None else environ
    token = next((env[name] for name in TOKEN_VARIABLES if env.get(name)), None)
    for name in ("PACHS3_PACHD_ADDRESS", "PACHD_ADDRESS"):
        if env.get(name, "").strip():
            target, tls = parse_pachd_address(env[name])
            return Connection(target=target, tls=tls, auth_token=token, source=name)
    for prefix in ("PACHD_PEER_SERVICE", "PACHD_SERVICE"):
        host, port = env.get(f"{prefix}_HOST", "").strip(), env.get(f"{prefix}_PORT", "").strip()
        if host and port:
            target, _ = parse_pachd_address(f"{host}:{port}")
            config = _load_config(env, home, only_pipeline=True)
            return Connection(
                target=target,
                auth_token=token or (config.auth_token if config else None),
                source=f"{prefix}_HOST/PORT",
            )
    config = _load_config(env, home, only_pipeline=False)
    if config is not None:
        return Connection(
            target=config.target,
            tls=config.tls,
            auth_token=token or config.auth_token,
            root_certs=config.root_certs,
            source=config.source,
        )
    raise ValueError(
        "no Pachyderm cluster configured: set PACHS3_PACHD_ADDRESS (or PACHD_ADDRESS), run "
        "inside a pipeline worker, or configure pachctl (~/.pachyderm/config.json)"
    )


def _load_config(
    env: Mapping[str, str], home: Path | None, *, only_pipeline: bool
) -> Connection | None:
    candidates: list[Path] = []
    if not only_pipeline and env.get("PACH_CONFIG"):
        candidates.append(Path(env["PACH_CONFIG"]))
    candidates.append(Path(PIPELINE_CONFIG))
    if not only_pipeline:
        candidates.append((home or Path.home()) / ".pachyderm" / "config.json")
    for path in candidates:
        try:
            text = path.read_text(encoding="utf-8")
        except OSError:
            continue
        return parse_pachctl_config(text, source=str(path))
    return None


def parse_pachctl_config(text: str, *, source: str = "config") -> Connection:
    """The active context of a pachctl ``config.json`` (v2 layout). ValueError if malformed."""
    try:
        config = json.loads(text)
        name = config["v2"]["active_context"]
        context = config["v2"]["contexts"][name]
    except (ValueError, KeyError, TypeError) as exc:
        raise ValueError(f"{source}: not a pachctl config with an active context ({exc})") from None
    address = context.get("pachd_address") or ""
    certs = context.get("server_cas")
    if not address:
        port = (context.get("port_forwarders") or {}).get("pachd", DEFAULT_PORT)
        address, certs = f"grpc://localhost:{port}", None
    target, tls = parse_pachd_address(address)
    return Connection(
        target=target,
        tls=tls,
        auth_token=context.get("session_token") or None,
        root_certs=base64.b64decode(certs) if certs else None,
        source=f"{source} (context {name!r})",
    )
