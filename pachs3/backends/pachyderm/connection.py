"""Where pachd is and who we are to it: addresses, tokens, pachctl's config, a worker's
environment."""

from __future__ import annotations

import base64
import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

DEFAULT_PORT = 30650


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
    """``[grpc|grpcs|http|https://]host[:port]`` -> (``host:port``, tls); port 30650 by default.
    ``unix:///path`` (a Unix socket, as Go's ParsePachdAddress accepts) is kept as it is: gRPC
    takes it as a target.

    ValueError for other schemes, paths, queries or credentials in the address.
    """
    text = address.strip()
    if not text:
        raise ValueError("the pachd address is empty")
    if text.startswith("unix:"):
        if not text.removeprefix("unix:").lstrip("/"):
            raise ValueError(f"no socket path in pachd address {address!r}")
        return text, False
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


TOKEN_VARIABLES = ("PACHS3_PACHD_TOKEN", "PACH_TOKEN", "PACH_PYTHON_AUTH_TOKEN")
"""pachs3's own; pachd's for user code (2.7+); python-pachyderm's."""
PIPELINE_CONFIG = "/pachctl/config.json"
WORKER_MARKER = "PPS_PIPELINE_NAME"
"""Set by pachd in a pipeline worker's user code environment."""


def in_worker(env: Mapping[str, str]) -> bool:
    return bool(env.get(WORKER_MARKER, "").strip())


def token_from_environment(env: Mapping[str, str]) -> str | None:
    """The first of ``TOKEN_VARIABLES``; then, in a worker, the S3 credentials pachd 2.6 gives
    user code (worker/driver/driver.go ``UserCodeEnv``): the pipeline's token as both
    ``AWS_ACCESS_KEY_ID`` and ``AWS_SECRET_ACCESS_KEY``, or ``default`` for both when auth
    is off."""
    for name in TOKEN_VARIABLES:
        if env.get(name, "").strip():
            return env[name].strip()
    if in_worker(env):
        key = env.get("AWS_ACCESS_KEY_ID", "").strip()
        if key and key != "default" and key == env.get("AWS_SECRET_ACCESS_KEY", "").strip():
            return key
    return None


def connection_from_environment(
    environ: Mapping[str, str] | None = None, *, home: Path | None = None
) -> Connection:
    """Find pachd the way Pachyderm users already do, first match wins:

    1. ``PACHS3_PACHD_ADDRESS`` (pachs3's own), then ``PACHD_ADDRESS`` (pachctl's);
    2. in a pipeline worker, the pod's own pachd at ``127.0.0.1:$PEER_PORT`` (as Pachyderm's
       in-worker client dials it, client.go ``NewInWorker``);
    3. ``PACHD_PEER_SERVICE_HOST``/``_PORT``, then ``PACHD_SERVICE_HOST``/``_PORT``
       (Kubernetes service variables);
    4. pachctl's config: the file named by ``PACH_CONFIG``, ``/pachctl/config.json`` (mounted in
       spout containers), ``~/.pachyderm/config.json``: the active context's ``pachd_address``
       (or its port-forward), ``session_token`` and ``server_cas``.

    The token: ``token_from_environment``, else the config's. ValueError when nothing names a
    cluster.
    """
    env = os.environ if environ is None else environ
    token = token_from_environment(env)
    for name in ("PACHS3_PACHD_ADDRESS", "PACHD_ADDRESS"):
        if env.get(name, "").strip():
            target, tls = parse_pachd_address(env[name])
            return Connection(target=target, tls=tls, auth_token=token, source=name)
    services = [("PEER_PORT", "127.0.0.1", env.get("PEER_PORT", ""))] if in_worker(env) else []
    services += [
        (f"{prefix}_HOST/PORT", env.get(f"{prefix}_HOST", ""), env.get(f"{prefix}_PORT", ""))
        for prefix in ("PACHD_PEER_SERVICE", "PACHD_SERVICE")
    ]
    for source, host, port in services:
        if host.strip() and port.strip():
            target, _ = parse_pachd_address(f"{host.strip()}:{port.strip()}")
            config = _load_config(env, home, only_pipeline=True)
            return Connection(
                target=target,
                auth_token=token or (config.auth_token if config else None),
                source=source,
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
