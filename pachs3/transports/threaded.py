"""``ThreadedServer``: the ASGI app on uvicorn in a background thread of the host program.

uvicorn is an optional dependency (extra ``server``) and is imported only in this module.

Choices, and why:

* The listening socket is bound here, in the caller's thread, before the server thread starts,
  so a busy port raises ``OSError`` from ``start()`` instead of a ``sys.exit`` inside uvicorn's
  thread, and ``port=0`` is known at once. Loopback (``127.0.0.1``) unless told
  otherwise: the sidecar serves one job's user code on the same machine.
* Signal handlers are never installed (this runs in a thread of someone else's program; uvicorn
  skips them off the main thread anyway, and we make that unconditional), uvicorn does not
  configure logging (``log_config=None``: the host's logging setup is left alone; only the
  levels of the ``uvicorn.*`` loggers are set), no proxy-header rewriting (``X-Forwarded-*``
  would change the scheme/host a SigV4 check sees), no ``Server`` header (the gateway may set
  one), uvicorn's cached ``Date`` header stays on.
* ``Expect: 100-continue``: uvicorn sends ``100 Continue`` when the app first reads the body,
  and the ASGI app reads it only when the handler iterates it, so an error answered without
  reading the body goes out with no ``100`` (aiobotocore/s3fs deadlock and boto3 lose 1 s per
  PUT on servers that never answer 100).
* HTTP/1.1 implementation: ``http="auto"`` takes httptools when installed, else h11. See
  ``docs/transports.md`` for the measurements (httptools: 2-3x the upload throughput and about
  25% more small requests per second; downloads alike; both de-chunk ``Transfer-Encoding:
  chunked`` request bodies and answer 100-continue the same way).
* Limits: ``limit_concurrency=256`` (connections or in-flight requests beyond it get a plain
  503, which every S3 client retries), ``max_threads=64`` worker threads for the handler (a
  request holds one while its body uploads), ``timeout_keep_alive=20`` s (longer than uvicorn's
  5 s: connection pools in boto3/s3transfer reuse idle connections and a server-side close racing
  a new request costs a retry), ``shutdown_timeout=5`` s for in-flight requests on ``stop()``
  (idle TLS connections are dropped at once rather than waiting for a close_notify that a
  pooled client never sends).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import threading
from collections.abc import Generator
from types import TracebackType
from typing import Literal

import anyio.to_thread
import uvicorn

from pachs3.transports.asgi import DEFAULT_READ_TIMEOUT, make_asgi_app
from pachs3.transports.asgi_types import ASGIApp
from pachs3.transports.base import Handler
from pachs3.transports.guarded import DEFAULT_MAX_HEAD_BYTES, guarded_protocol

__all__ = ["ThreadedServer"]

logger = logging.getLogger(__name__)

HTTPImpl = Literal["auto", "h11", "httptools"]


class ThreadedServer:
    """Serve an S3 handler (or any ASGI app) over HTTP from a background thread.

    ::

        with ThreadedServer(gateway) as server:
            s3 = boto3.client("s3", endpoint_url=server.endpoint_url, ...)

    ``start()`` returns once the socket is listening; ``stop()`` lets in-flight requests finish
    (up to ``shutdown_timeout`` seconds), closes every connection, joins the thread and frees
    the port. Both are idempotent; a stopped server can be started again (on a new port when
    ``port=0``).
    """

    def __init__(
        self,
        app_or_handler: Handler | ASGIApp,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        ssl_certfile: str | None = None,
        ssl_keyfile: str | None = None,
        ssl_keyfile_password: str | None = None,
        log_level: str | int = "warning",
        access_log: bool = False,
        http: HTTPImpl = "auto",
        limit_concurrency: int | None = 256,
        max_threads: int = 64,
        timeout_keep_alive: int = 20,
        shutdown_timeout: float = 5.0,
        startup_timeout: float = 30.0,
        backlog: int = 1024,
        read_timeout: float | None = DEFAULT_READ_TIMEOUT,
    ) -> None:
        if (ssl_certfile is None) != (ssl_keyfile is None):
            raise ValueError("ssl_certfile and ssl_keyfile go together")
        if max_threads < 1:
            raise ValueError("max_threads must be positive")
        self.app: ASGIApp
        if isinstance(app_or_handler, Handler):
            self.app = make_asgi_app(app_or_handler, read_timeout=read_timeout)
        else:
            self.app = app_or_handler
        self.host = host
        self.requested_port = port
        self.ssl_certfile = ssl_certfile
        self.ssl_keyfile = ssl_keyfile
        self.ssl_keyfile_password = ssl_keyfile_password
        self.log_level = log_level
        self.access_log = access_log
        self.http = _resolve_http(http)
        self.limit_concurrency = limit_concurrency
        self.max_threads = max_threads
        self.timeout_keep_alive = timeout_keep_alive
        self.shutdown_timeout = shutdown_timeout
        self.startup_timeout = startup_timeout
        self.backlog = backlog

        self._lock = threading.Lock()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self._socket: socket.socket | None = None
        self._port: int | None = None
        self._error: BaseException | None = None

    # -- lifecycle ------------------------------------------------------------------------

    def start(self) -> ThreadedServer:
        """Bind, start the server thread and return once it accepts connections."""
        with self._lock:
            if self._thread is not None:
                return self
            sock = _bind(self.host, self.requested_port)
            try:
                port = sock.getsockname()[1]
                config = uvicorn.Config(
                    self.app,
                    host=self.host,
                    port=port,
                    # uvicorn's protocol with a deadline and a size cap on request heads
                    # (transports/guarded.py): a slow or huge head cannot hold a slot.
                    http=guarded_protocol(
                        self.http,
                        head_timeout=self.timeout_keep_alive,
                        max_head_bytes=DEFAULT_MAX_HEAD_BYTES,
                    ),
                    ws="none",
                    lifespan="auto",
                    interface="asgi3",
                    log_config=None,
                    log_level=self.log_level,
                    access_log=self.access_log,
                    proxy_headers=False,
                    server_header=False,
                    date_header=True,
                    limit_concurrency=self.limit_concurrency,
                    backlog=self.backlog,
                    timeout_keep_alive=self.timeout_keep_alive,
                    timeout_graceful_shutdown=max(1, round(self.shutdown_timeout)),
                    ssl_certfile=self.ssl_certfile,
                    ssl_keyfile=self.ssl_keyfile,
                    ssl_keyfile_password=self.ssl_keyfile_password,
                )
                config.load()  # here, so a bad certificate raises in the caller's thread
                ready = threading.Event()
                server = _Server(config, ready, self.max_threads)
                self._error = None
                thread = threading.Thread(
                    target=self._run,
                    args=(server, sock, ready),
                    name=f"pachs3-http-{port}",
                    daemon=True,
                )
                thread.start()
            except BaseException:
                sock.close()
                raise
            if not ready.wait(self.startup_timeout) or not server.started:
                server.should_exit = True
                thread.join(self.shutdown_timeout + 1)
                sock.close()
                where = f"{self.host}:{port}"
                raise RuntimeError(f"the HTTP server did not start on {where}") from self._error
            self._server, self._thread, self._socket, self._port = server, thread, sock, port
            return self

    def stop(self) -> None:
        """Shut down: finish in-flight requests (bounded), close connections, free the port."""
        with self._lock:
            server, thread, sock = self._server, self._thread, self._socket
            self._server = self._thread = self._socket = None
            self._port = None
            if server is None or thread is None:
                return
            server.should_exit = True
            thread.join(self.shutdown_timeout + 5)
            if thread.is_alive():
                server.force_exit = True
                thread.join(5)
            if thread.is_alive():  # a handler stuck in I/O; the daemon thread is abandoned
                logger.warning("pachs3 HTTP server thread did not stop in time")
            if sock is not None:
                sock.close()  # uvicorn closes it on shutdown; this covers a crashed thread

    def _run(self, server: _Server, sock: socket.socket, ready: threading.Event) -> None:
        try:
            server.run(sockets=[sock])
        except BaseException as exc:  # SystemExit from uvicorn's startup failure included
            self._error = exc
            logger.exception("pachs3 HTTP server thread failed")
        finally:
            ready.set()

    def __enter__(self) -> ThreadedServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # -- where it listens -----------------------------------------------------------------

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    @property
    def port(self) -> int:
        """The bound port (the real one when ``port=0`` was asked)."""
        if self._port is None:
            raise RuntimeError("the server is not running")
        return self._port

    @property
    def scheme(self) -> str:
        return "https" if self.ssl_certfile else "http"

    @property
    def endpoint_url(self) -> str:
        """``http(s)://HOST:PORT`` to give clients; a wildcard bind is reached via loopback."""
        host = self.host
        if host in ("", "0.0.0.0"):
            host = "127.0.0.1"
        elif host == "::":
            host = "::1"
        if ":" in host:
            host = f"[{host}]"
        return f"{self.scheme}://{host}:{self.port}"

    def __repr__(self) -> str:
        where = self.endpoint_url if self._port is not None else "stopped"
        return f"<ThreadedServer {where}>"


class _Server(uvicorn.Server):
    """uvicorn's server, minus signal handling, telling a thread when it listens."""

    def __init__(self, config: uvicorn.Config, ready: threading.Event, max_threads: int) -> None:
        super().__init__(config)
        self._ready = ready
        self._max_threads = max_threads

    @contextlib.contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        # The host program owns SIGINT/SIGTERM; never install or re-raise signals.
        yield

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        if self.config.is_ssl:
            # uvicorn closes idle keep-alive connections gracefully; over TLS that sends
            # close_notify and waits for the client's (asyncio gives it 30 s), which a pooled
            # idle client (urllib3, httpx) never sends as nobody reads its socket: stop() would
            # sit out the whole shutdown timeout. Idle means no request in flight, so drop them.
            for connection in list(self.server_state.connections):
                cycle = getattr(connection, "cycle", None)
                transport = getattr(connection, "transport", None)
                if transport is not None and (cycle is None or cycle.response_complete):
                    transport.abort()
            await asyncio.sleep(0.01)  # let connection_lost() run for them
        await super().shutdown(sockets=sockets)

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        # This loop is ours alone, so its default worker-thread limiter is ours to size.
        anyio.to_thread.current_default_thread_limiter().total_tokens = self._max_threads
        await super().startup(sockets=sockets)
        if self.started:
            self._ready.set()


def _bind(host: str, port: int) -> socket.socket:
    infos = socket.getaddrinfo(host or None, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    family, kind, proto, _, address = infos[0]
    sock = socket.socket(family, kind, proto)
    try:
        # Rebinding a port whose old connections sit in TIME_WAIT (a restarted server).
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
    except BaseException:
        sock.close()
        raise
    return sock


def _resolve_http(http: HTTPImpl) -> str:
    if http != "auto":
        return http
    try:
        import httptools  # noqa: F401
    except ImportError:
        return "h11"
    return "httptools"
