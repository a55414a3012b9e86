"""The transports a gateway offers as methods: ``asgi()``, ``serve()``, ``client()``, ``attach()``.

Both gateways (``SidecarGateway``, ``GlobalGateway``) inherit them from ``Transports``: each
transport only needs the gateway's ``handle`` (and ``prepare``, which the ASGI app uses when it
is there). Optional dependencies (uvicorn, botocore) are imported inside the method
that needs them, so ``import pachs3`` loads none of them.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from pachs3.core.http import RequestHead, S3Response
from pachs3.exchange import Exchange

if TYPE_CHECKING:
    from pachs3.transports.boto import Detach
    from pachs3.transports.threaded import ThreadedServer


class Transports:
    """Mixin: the transport methods, over the subclass's ``handle`` and ``prepare``."""

    _servers: list[ThreadedServer]
    _detachers: list[Detach]

    def _init_transports(self) -> None:
        self._servers = []
        self._detachers = []

    def handle(self, head: RequestHead, body: Iterator[bytes]) -> S3Response:
        """Answer one S3 request. Thread-safe; blocking (it does the backend's I/O)."""
        return self.prepare(head).run(body)

    def prepare(self, head: RequestHead) -> Exchange:
        raise NotImplementedError

    def asgi(self) -> Any:
        """The gateway as a Starlette ASGI app, for a host to mount."""
        from pachs3.transports.asgi import make_asgi_app

        return make_asgi_app(self)

    def serve(self, host: str = "127.0.0.1", port: int = 0, **options: Any) -> ThreadedServer:
        """Serve over HTTP on uvicorn in a background thread (loopback unless told otherwise).

        Returns the started server (a context manager with ``endpoint_url``); leaving the
        gateway stops it too. ``options`` go to ``ThreadedServer`` (``ssl_certfile``, ...).
        """
        from pachs3.transports.threaded import ThreadedServer

        server = ThreadedServer(self, host=host, port=port, **options)
        server.start()
        self._servers.append(server)
        return server

    def client(self, **boto3_kwargs: Any) -> Any:
        """A boto3 S3 client answered in-process by this gateway: no socket, no thread."""
        from pachs3.transports.boto import make_client

        # The client lives as long as the caller keeps it; a sidecar's buckets go with its job,
        # so the client then gets NoSuchBucket, never another job's data.
        return make_client(self, **boto3_kwargs)

    def attach(self, client: Any, *, endpoint_host: str | None = None) -> Detach:
        """Answer an existing boto3 S3 client's requests in-process; call the result to stop.

        Requests to ``endpoint_host`` (default: the host of the client's own endpoint URL) are
        answered here; any other host is refused loudly rather than sent to the network.
        """
        from urllib.parse import urlsplit

        from pachs3.transports.boto import attach

        host = endpoint_host or urlsplit(client.meta.endpoint_url).hostname
        detach = attach(client, self, endpoint_host=host)
        self._detachers.append(detach)
        return detach

    def close(self) -> None:
        """Stop every transport this gateway started (idempotent)."""
        while self._servers:
            self._servers.pop().stop()
        while self._detachers:
            self._detachers.pop()()
