"""Shared pieces of the hostile-input suite: a seeded job, the invariants every answer keeps,
known bugs the fuzzers tolerate (each with its own strict-xfail test), a fault-injecting
backend, and a raw-socket HTTP client for what no well-behaved client sends.

Nothing here is a test; the ``test_hostile_*`` modules and ``fuzz_atheris.py`` import it.
"""

from __future__ import annotations

import contextlib
import os
import re
import socket
import threading
import time
from collections.abc import Callable, Generator, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from xml.etree import ElementTree

from pachs3 import MemoryBackend, SidecarGateway
from pachs3.backends.base import (
    Backend,
    BranchInfo,
    ByteStream,
    CommitInfo,
    CommitRef,
    Expectation,
    FileInfo,
    RepoInfo,
    Unavailable,
    commit,
)
from pachs3.core import errors
from pachs3.core.http import RequestHead, S3Response

if TYPE_CHECKING:
    from pachs3.transports.threaded import ThreadedServer

Serve = Callable[..., "ThreadedServer"]
"""The ``serve`` fixture: ``serve(gateway, **ThreadedServer options)``, stopped after the test."""

# ---------------------------------------------------------------------------------------------
# The job every suite serves: one input bucket ``in`` and the output bucket ``out``.

INPUT_FILES: dict[str, bytes] = {
    "a.txt": b"alpha\n" * 10,
    "dir/b.bin": bytes(range(256)) * 4,
    "dir/sub/c": b"c" * 3000,
    "sp ace+plus": b"plus",
    "caf\u00e9/\u20ac": "\u20ac".encode() * 7,
    "empty": b"",
}
INPUT_BUCKET = "in"
OUTPUT_REPO = "pipeline"

ERROR_CODES: dict[str, int] = {
    cls.code: cls.status
    for cls in vars(errors).values()
    if isinstance(cls, type) and issubclass(cls, errors.S3Error)
}
"""Every S3 error code the gateway knows, with its status."""

FUZZ_CASES = int(os.environ.get("PACHS3_FUZZ_CASES", "0") or 0)
"""Examples per hypothesis fuzz test in the dedicated mode (0: the short CI budget)."""


def budget(ci: int, *, share: float = 1.0) -> int:
    """Examples for one fuzz test: ``ci`` normally, ``share`` of PACHS3_FUZZ_CASES when set."""
    if FUZZ_CASES > 0:
        return max(ci, int(FUZZ_CASES * share))
    return ci


def seed_input(backend: Backend, files: Mapping[str, bytes] = INPUT_FILES) -> None:
    backend.create_repo(INPUT_BUCKET, exist_ok=True)
    with commit(backend, INPUT_BUCKET, "master") as info:
        for path, data in files.items():
            backend.put_file(info.ref, path, [data], metadata={"content-type": "text/plain"})


@contextlib.contextmanager
def memory_gateway(**options: Any) -> Iterator[SidecarGateway]:
    backend = MemoryBackend()
    seed_input(backend)
    with SidecarGateway(
        backend, inputs={INPUT_BUCKET: f"{INPUT_BUCKET}@master"}, output=OUTPUT_REPO, **options
    ) as gateway:
        yield gateway


def input_snapshot(gateway: SidecarGateway) -> dict[str, tuple[int, str]]:
    """What the input bucket holds (path -> size, etag), read from the backend directly."""
    ref = gateway.input_commits[INPUT_BUCKET]
    return {info.path: (info.size, info.etag) for info in gateway.backend.walk_files(ref)}


# ---------------------------------------------------------------------------------------------
# Invariants of every answer


class Violation(AssertionError):
    """An answer broke an invariant; ``kind`` names which, for known-bug matching."""

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(f"{kind}: {message}")
        self.kind = kind


LEAKS = re.compile(
    rb"Traceback|File \"|site-packages|/tmp/|/work/|/home/|/var/|/usr/|\.py\", line|sqlite3"
    rb"|Errno \d|object at 0x[0-9a-f]+"
)
"""What an answer must never show: tracebacks, file system paths, module names, pointers."""

_HEADER_VALUE_OK = re.compile(r"[\t\x20-\x7e\x80-\U0010ffff]*")
_HEADER_NAME_OK = re.compile(r"[!#$%&'*+\-.^_`|~0-9a-z]+")
MAX_ANSWER_BYTES = 64 << 20


@dataclass(frozen=True, slots=True)
class Answer:
    status: int
    headers: tuple[tuple[str, str], ...]
    body: bytes
    code: str | None = None

    def header(self, name: str) -> str | None:
        for key, value in self.headers:
            if key == name:
                return value
        return None


def read_answer(response: S3Response, *, limit: int = MAX_ANSWER_BYTES) -> bytes:
    """The whole response body (closed afterwards), refusing more than ``limit`` bytes."""
    pieces: list[bytes] = []
    size = 0
    try:
        for piece in response.body:
            size += len(piece)
            if size > limit:
                raise Violation("unbounded-body", f"response body past {limit} bytes")
            pieces.append(bytes(piece))
    finally:
        response.body.close()
    return b"".join(pieces)


def check_answer(
    head: RequestHead, response: S3Response, *, allow_internal: bool = False
) -> Answer:
    """Read ``response`` and check what every S3 answer must be; raise ``Violation`` if not.

    - never 500 (an unexpected exception; ``allow_internal`` for injected faults) and never a
      5xx other than 501/503;
    - headers a transport can send: lower-case token names, values without CR/LF/NUL/controls,
      encodable (latin-1 or UTF-8, as ``transports.base.encode_header_value`` does);
    - an error (>= 400) is an S3 error document whose code is known and matches the status
      (no body at all on HEAD);
    - Content-Length, when sent, is the length of the body (HEAD and 304 excepted);
    - no traceback, file system path or internal name anywhere in the answer.
    """
    body = read_answer(response)
    status = response.status
    if (status == 500 and not allow_internal) or (status > 500 and status not in (501, 503)):
        raise Violation("internal-error", f"{status} for {_show(head)}: {body[:300]!r}")
    for name, value in response.headers:
        if not _HEADER_NAME_OK.fullmatch(name):
            raise Violation("bad-header-name", f"{name!r} for {_show(head)}")
        if not _HEADER_VALUE_OK.fullmatch(value):
            raise Violation("bad-header-value", f"{name}: {value!r} for {_show(head)}")
        try:
            value.encode("latin-1")
        except UnicodeEncodeError:
            try:
                value.encode("utf-8")
            except UnicodeEncodeError:
                raise Violation(
                    "unencodable-header", f"{name}: {value!r} for {_show(head)}"
                ) from None
        if _leaks(value.encode("utf-8", "surrogatepass"), head):
            raise Violation("leak", f"header {name}: {value!r}")
    if _leaks(body, head):
        raise Violation("leak", f"body {body[:300]!r} for {_show(head)}")
    head_only = head.method.upper() == "HEAD"
    if head_only and body and status >= 400:
        # Transports drop any HEAD body, but the gateway promises none for errors (pyarrow and
        # obstore choke on a HEAD 404 with a body when a transport forwards it).
        raise Violation("head-body", f"HEAD error answered with {len(body)} body bytes")
    code: str | None = None
    if status >= 400:
        if not head_only:
            code = _error_code(body, head)
            if ERROR_CODES[code] != status:
                raise Violation("status-mismatch", f"{code} sent with {status}")
    elif not head_only and status not in (204, 304):
        length = response.header("content-length")
        if length is not None and int(length) != len(body):
            raise Violation("length-mismatch", f"content-length {length}, body {len(body)}")
    return Answer(status=status, headers=response.headers, body=body, code=code)


def _leaks(data: bytes, head: RequestHead) -> bool:
    return LEAKS.search(data) is not None and LEAKS.search(_scrub(data, head)) is not None


def _scrub(data: bytes, head: RequestHead) -> bytes:
    """``data`` without what the request itself said (a key or bucket named ``/tmp/x.py`` is
    echoed in ``<Resource>`` and messages, and that is no leak)."""
    from urllib.parse import unquote
    from xml.sax.saxutils import escape

    said = [head.path, unquote(head.path), head.host]
    said += [value for _, value in head.query] + [value for _, value in head.headers]
    for text in sorted({t for t in said if len(t) >= 3}, key=len, reverse=True):
        for form in {text, escape(text), repr(text)[1:-1]}:
            data = data.replace(form.encode("utf-8", "surrogatepass"), b"")
    return data


def _error_code(body: bytes, head: RequestHead) -> str:
    try:
        root = ElementTree.fromstring(body)
    except ElementTree.ParseError as exc:
        raise Violation("bad-error-document", f"{body[:200]!r}: {exc}") from None
    fields = {child.tag: child.text or "" for child in root}
    if root.tag != "Error" or not {"Code", "Message", "RequestId"} <= set(fields):
        raise Violation("bad-error-document", f"{body[:200]!r} for {_show(head)}")
    code = fields["Code"]
    if code not in ERROR_CODES:
        raise Violation("unknown-code", f"{code} for {_show(head)}")
    return code


def _show(head: RequestHead) -> str:
    return f"{head.method} {head.path!r} q={head.query!r} h={head.headers!r}"[:600]


# ---------------------------------------------------------------------------------------------
# Known bugs: inputs the fuzzers may meet that trigger a bug already reported, each with its own
# strict-xfail test. A violation on such an input is counted, not raised, so that a long run
# still finds new bugs. When a bug is fixed its xfail test XPASSes (strict: the suite fails) and
# its entry here must go too. The nine bugs the fuzzers found in this suite's first runs are all
# fixed (docs/reliability.md, "Bugs found"); none is excused today.


@dataclass(frozen=True, slots=True)
class KnownBug:
    id: str
    kinds: frozenset[str]
    applies: Callable[[RequestHead, bytes, Violation], bool]
    """Whether the bug explains this violation on this request (head, whole body)."""


KNOWN_BUGS: tuple[KnownBug, ...] = ()


@dataclass
class Tally:
    """What a fuzz run saw: answers by status, and violations excused as known bugs."""

    cases: int = 0
    statuses: dict[int, int] = field(default_factory=dict)
    known: dict[str, int] = field(default_factory=dict)
    bugs: tuple[KnownBug, ...] = KNOWN_BUGS
    lock: threading.Lock = field(default_factory=threading.Lock)

    def count(self, status: int) -> None:
        with self.lock:
            self.cases += 1
            self.statuses[status] = self.statuses.get(status, 0) + 1

    def excuse(self, head: RequestHead, body: bytes, violation: Violation) -> bool:
        for bug in self.bugs:
            if violation.kind in bug.kinds and bug.applies(head, body, violation):
                with self.lock:
                    self.cases += 1
                    self.known[bug.id] = self.known.get(bug.id, 0) + 1
                return True
        return False


def handle_checked(
    gateway: SidecarGateway,
    head: RequestHead,
    chunks: Iterable[bytes],
    tally: Tally | None = None,
    *,
    time_limit: float = 10.0,
) -> Answer | None:
    """``gateway.handle`` plus ``check_answer``; None when a known bug excused the answer.

    An exception out of ``handle`` itself is a violation too (the transports would turn it into
    a dropped connection), and so is an answer slower than ``time_limit`` (a hang).
    """
    pieces = list(chunks)
    started = time.monotonic()
    try:
        try:
            response = gateway.handle(head, iter(pieces))
        except Exception as exc:
            raise Violation("raised", f"{type(exc).__name__}: {exc} for {_show(head)}") from exc
        answer = check_answer(head, response)
    except Violation as violation:
        if tally is not None and tally.excuse(head, b"".join(pieces), violation):
            return None
        raise
    elapsed = time.monotonic() - started
    if elapsed > time_limit:
        raise Violation("slow", f"{elapsed:.1f}s for {_show(head)}")
    if tally is not None:
        tally.count(answer.status)
    return answer


# ---------------------------------------------------------------------------------------------
# A backend that fails where it is told to


class Fault(Exception):
    """What the faulty backend raises: an unexpected error, like a disk failing."""


@dataclass
class FaultPlan:
    """Where to fail. ``read_after``: a read stream raises after that many bytes;
    ``write_after``: a put consumes that many bytes of its input, then raises;
    ``fail_methods``: these methods raise at once; ``error``: what is raised."""

    read_after: int | None = None
    write_after: int | None = None
    fail_methods: frozenset[str] = frozenset()
    error: Callable[[], Exception] = lambda: Fault("injected fault")
    injected: int = 0


class FaultyBackend:
    """Delegates every ``Backend`` method to ``inner`` and injects the faults of ``plan``."""

    def __init__(self, inner: Backend, plan: FaultPlan | None = None) -> None:
        self.inner = inner
        self.plan = plan or FaultPlan()

    def _maybe_fail(self, method: str) -> None:
        if method in self.plan.fail_methods:
            self.plan.injected += 1
            raise self.plan.error()

    # repos and branches
    def create_repo(self, repo: str, *, description: str = "", exist_ok: bool = False) -> RepoInfo:
        self._maybe_fail("create_repo")
        return self.inner.create_repo(repo, description=description, exist_ok=exist_ok)

    def inspect_repo(self, repo: str) -> RepoInfo:
        self._maybe_fail("inspect_repo")
        return self.inner.inspect_repo(repo)

    def list_repos(self) -> list[RepoInfo]:
        return self.inner.list_repos()

    def delete_repo(self, repo: str) -> None:
        self.inner.delete_repo(repo)

    def create_branch(self, repo: str, branch: str, *, head: str | None = None) -> BranchInfo:
        return self.inner.create_branch(repo, branch, head=head)

    def inspect_branch(self, repo: str, branch: str) -> BranchInfo:
        return self.inner.inspect_branch(repo, branch)

    def list_branches(self, repo: str) -> list[BranchInfo]:
        return self.inner.list_branches(repo)

    # commits
    def start_commit(
        self,
        repo: str,
        branch: str | None,
        *,
        parent: str | None = None,
        provenance: Sequence[CommitRef] = (),
        description: str = "",
        empty: bool = False,
    ) -> CommitInfo:
        self._maybe_fail("start_commit")
        return self.inner.start_commit(
            repo,
            branch,
            parent=parent,
            provenance=provenance,
            description=description,
            empty=empty,
        )

    def finish_commit(self, repo: str, commit: str, *, error: str | None = None) -> CommitInfo:
        return self.inner.finish_commit(repo, commit, error=error)

    def discard_commit(self, repo: str, commit: str) -> None:
        self._maybe_fail("discard_commit")
        self.inner.discard_commit(repo, commit)

    def inspect_commit(self, repo: str, commit: str) -> CommitInfo:
        self._maybe_fail("inspect_commit")
        return self.inner.inspect_commit(repo, commit)

    def list_commits(self, repo: str, *, branch: str | None = None) -> list[CommitInfo]:
        self._maybe_fail("list_commits")
        return self.inner.list_commits(repo, branch=branch)

    # files
    def inspect_file(self, ref: CommitRef, path: str) -> FileInfo:
        self._maybe_fail("inspect_file")
        return self.inner.inspect_file(ref, path)

    def read_file(
        self,
        ref: CommitRef,
        path: str,
        *,
        offset: int = 0,
        length: int | None = None,
        etag: str | None = None,
    ) -> ByteStream:
        self._maybe_fail("read_file")
        stream = self.inner.read_file(ref, path, offset=offset, length=length, etag=etag)
        if self.plan.read_after is None:
            return stream
        return _FailingStream(stream, self.plan)

    def walk_files(
        self, ref: CommitRef, *, prefix: str = "", start_after: str = ""
    ) -> Iterator[FileInfo]:
        self._maybe_fail("walk_files")
        return self.inner.walk_files(ref, prefix=prefix, start_after=start_after)

    def put_file(
        self,
        ref: CommitRef,
        path: str,
        chunks: Iterable[bytes],
        *,
        metadata: Mapping[str, str] | None = None,
        expect: Expectation | None = None,
    ) -> FileInfo:
        self._maybe_fail("put_file")
        if self.plan.write_after is not None:
            chunks = _failing_chunks(chunks, self.plan)
        return self.inner.put_file(ref, path, chunks, metadata=metadata, expect=expect)

    def delete_file(self, ref: CommitRef, path: str, *, expect: Expectation | None = None) -> bool:
        self._maybe_fail("delete_file")
        return self.inner.delete_file(ref, path, expect=expect)

    def copy_file(
        self,
        src: CommitRef,
        src_path: str,
        dst: CommitRef,
        dst_path: str,
        *,
        metadata: Mapping[str, str] | None = None,
        expect: Expectation | None = None,
    ) -> FileInfo:
        self._maybe_fail("copy_file")
        return self.inner.copy_file(src, src_path, dst, dst_path, metadata=metadata, expect=expect)

    def compose_file(
        self,
        dst: CommitRef,
        dst_path: str,
        sources: Sequence[tuple[CommitRef, str]],
        *,
        etag: str,
        metadata: Mapping[str, str] | None = None,
        expect: Expectation | None = None,
    ) -> FileInfo:
        self._maybe_fail("compose_file")
        return self.inner.compose_file(
            dst, dst_path, sources, etag=etag, metadata=metadata, expect=expect
        )

    def close(self) -> None:
        self.inner.close()


class _FailingStream:
    """A read stream that raises after ``plan.read_after`` bytes (a backend dying mid-read)."""

    def __init__(self, inner: ByteStream, plan: FaultPlan) -> None:
        self._inner = inner
        self._plan = plan
        self._sent = 0
        self.closed = False

    def __iter__(self) -> Iterator[bytes]:
        return self

    def __next__(self) -> bytes:
        limit = self._plan.read_after
        assert limit is not None
        if self._sent >= limit:
            self._plan.injected += 1
            raise self._plan.error()
        chunk = next(self._inner)
        room = limit - self._sent
        if len(chunk) > room:
            chunk = chunk[:room]
        self._sent += len(chunk)
        return chunk

    def close(self) -> None:
        self.closed = True
        self._inner.close()


def _failing_chunks(chunks: Iterable[bytes], plan: FaultPlan) -> Generator[bytes, None, None]:
    limit = plan.write_after
    assert limit is not None
    seen = 0
    for chunk in chunks:
        if seen + len(chunk) > limit:
            yield chunk[: limit - seen]
            plan.injected += 1
            raise plan.error()
        seen += len(chunk)
        yield chunk
    if seen >= limit:
        plan.injected += 1
        raise plan.error()


def unavailable() -> Exception:
    return Unavailable("backend is down")


# ---------------------------------------------------------------------------------------------
# A raw HTTP/1.1 client


@dataclass
class RawResponse:
    status: int
    headers: dict[str, str]
    body: bytes
    complete: bool
    """The body had all the bytes its framing announced (Content-Length or chunked end)."""


class RawHTTP:
    """One TCP connection to the server under test, speaking HTTP/1.1 by hand."""

    def __init__(self, port: int, *, timeout: float = 10.0) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        self._buffer = b""

    def __enter__(self) -> RawHTTP:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self.sock.close()

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def hang_up(self) -> None:
        """Close abruptly (RST), the way a killed client goes away."""
        with contextlib.suppress(OSError):
            self.sock.setsockopt(
                socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00"
            )
        self.close()

    def _fill(self) -> bool:
        try:
            data = self.sock.recv(1 << 16)
        except (ConnectionResetError, TimeoutError):
            return False
        if not data:
            return False
        self._buffer += data
        return True

    def read_response(self, *, head_only: bool = False, max_body: int = 64 << 20) -> RawResponse:
        while b"\r\n\r\n" not in self._buffer:
            if not self._fill():
                raise ConnectionError(f"connection closed before a response: {self._buffer!r}")
        head, self._buffer = self._buffer.split(b"\r\n\r\n", 1)
        lines = head.decode("latin-1").split("\r\n")
        status = int(lines[0].split(" ", 2)[1])
        headers: dict[str, str] = {}
        for line in lines[1:]:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        if status in (100,):
            return self.read_response(head_only=head_only, max_body=max_body)
        if head_only or status in (204, 304):
            return RawResponse(status, headers, b"", True)
        if "content-length" in headers:
            want = int(headers["content-length"])
            while len(self._buffer) < want:
                if not self._fill():
                    break
            body, self._buffer = self._buffer[:want], self._buffer[want:]
            return RawResponse(status, headers, body, len(body) == want)
        if headers.get("transfer-encoding", "").lower() == "chunked":
            return self._read_chunked(status, headers, max_body)
        while self._fill():
            if len(self._buffer) > max_body:
                break
        body, self._buffer = self._buffer, b""
        return RawResponse(status, headers, body, True)

    def _read_chunked(self, status: int, headers: dict[str, str], max_body: int) -> RawResponse:
        body = bytearray()
        while True:
            while b"\r\n" not in self._buffer:
                if not self._fill():
                    return RawResponse(status, headers, bytes(body), False)
            line, self._buffer = self._buffer.split(b"\r\n", 1)
            size = int(line.split(b";")[0], 16)
            while len(self._buffer) < size + 2:
                if not self._fill():
                    body += self._buffer[:size]
                    return RawResponse(status, headers, bytes(body), False)
            body += self._buffer[:size]
            self._buffer = self._buffer[size + 2 :]
            if size == 0:
                return RawResponse(status, headers, bytes(body), True)
            if len(body) > max_body:
                return RawResponse(status, headers, bytes(body), False)

    def closed_by_peer(self, wait: float) -> bool:
        """Whether the server closes the connection within ``wait`` seconds."""
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            self.sock.settimeout(max(0.05, deadline - time.monotonic()))
            try:
                data = self.sock.recv(1 << 16)
            except TimeoutError:
                continue
            except OSError:
                return True
            if not data:
                return True
            self._buffer += data
        return False


def request_bytes(
    method: str,
    target: str,
    headers: Sequence[tuple[str, str]] = (),
    body: bytes = b"",
    *,
    host: str = "127.0.0.1",
    length: int | None = None,
) -> bytes:
    """An HTTP/1.1 request; ``length`` overrides Content-Length (a lie, for short bodies)."""
    lines = [f"{method} {target} HTTP/1.1", f"Host: {host}"]
    lines += [f"{name}: {value}" for name, value in headers]
    if length is not None or body:
        lines.append(f"Content-Length: {length if length is not None else len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


def rss_bytes() -> int:
    """This process's resident set size (Linux)."""
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def wait_until(predicate: Callable[[], bool], timeout: float, interval: float = 0.02) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return predicate()


FUZZ_TALLIES: list[tuple[str, Mapping[str, Tally]]] = []
"""(engine, tallies by target) of the fuzz tests: each fuzz module registers its own when it is
imported, and the hostile suite's terminal-summary hook (conftest.py) reports the targets that
ran, once, after every test."""


def report_fuzz_counts(
    engine: str, tallies: Mapping[str, Tally], write: Callable[[str], object] = print
) -> None:
    """Write what each fuzz target ran; with PACHS3_FUZZ_REPORT, append it there as JSON lines
    (the figures docs/reliability.md quotes)."""
    import json

    destination = os.environ.get("PACHS3_FUZZ_REPORT")
    for name, seen in sorted(tallies.items()):
        statuses = dict(sorted(seen.statuses.items()))
        write(
            f"[fuzz:{engine}] {name}: {seen.cases} cases, statuses {statuses}, known {seen.known}"
        )
        if destination:
            with open(destination, "a") as out:
                record = {
                    "engine": engine,
                    "target": name,
                    "cases": seen.cases,
                    "statuses": {str(k): v for k, v in statuses.items()},
                    "known_bugs": seen.known,
                }
                out.write(json.dumps(record) + "\n")


S3_NS = "{http://s3.amazonaws.com/doc/2006-03-01/}"


def list_page(
    gateway: SidecarGateway, query: Sequence[tuple[str, str]], bucket: str = "out"
) -> tuple[list[str], dict[str, str]]:
    """One listing page through ``handle``: its entries (keys and common prefixes, decoded from
    ``encoding-type=url`` if asked, in S3 order) and its top-level fields."""
    from urllib.parse import unquote_plus

    head = RequestHead(method="GET", path=f"/{bucket}", query=tuple(query))
    answer = handle_checked(gateway, head, [])
    assert answer is not None
    assert answer.status == 200, answer
    root = ElementTree.fromstring(answer.body)
    fields = {child.tag.removeprefix(S3_NS): child.text or "" for child in root}
    decode = unquote_plus if ("encoding-type", "url") in query else (lambda text: text)
    listed = [
        child
        for group in root
        if group.tag in (f"{S3_NS}Contents", f"{S3_NS}CommonPrefixes")
        for child in group
        if child.tag in (f"{S3_NS}Key", f"{S3_NS}Prefix")
    ]
    # A page lists its keys, then its common prefixes; in S3 order they interleave.
    return sorted(decode(child.text or "") for child in listed), fields


class TrackedStream:
    """A response body that records what it produced and whether it was closed."""

    def __init__(self, inner: ByteStream) -> None:
        self._inner = inner
        self.produced = 0
        self.closed = threading.Event()

    def __iter__(self) -> Iterator[bytes]:
        return self

    def __next__(self) -> bytes:
        chunk = next(self._inner)
        self.produced += len(chunk)
        return chunk

    def close(self) -> None:
        self.closed.set()
        self._inner.close()


class Probe:
    """A ``Handler`` in front of a gateway that counts requests in ``handle()`` and tracks every
    response body, so a test can see a worker freed and a backend read released."""

    def __init__(self, gateway: SidecarGateway) -> None:
        self.gateway = gateway
        self.active = 0
        self.finished = 0
        self.streams: list[TrackedStream] = []
        self._lock = threading.Lock()

    def handle(self, head: RequestHead, body: Iterator[bytes]) -> S3Response:
        with self._lock:
            self.active += 1
        try:
            response = self.gateway.handle(head, body)
        finally:
            with self._lock:
                self.active -= 1
                self.finished += 1
        stream = TrackedStream(response.body)
        with self._lock:
            self.streams.append(stream)
        return S3Response(status=response.status, headers=response.headers, body=stream)

    def idle(self) -> bool:
        """No request is in ``handle()`` and every response body has been closed."""
        with self._lock:
            return self.active == 0 and all(s.closed.is_set() for s in self.streams)
