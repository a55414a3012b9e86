"""The aws-chunked request body decoder, a push state machine (no I/O).

S3 clients frame upload bodies in ``Content-Encoding: aws-chunked`` whenever
``x-amz-content-sha256`` is one of the ``STREAMING-*`` values (clients.md §3 items 1-4)::

    <hex-size>[;chunk-signature=<sig>]\\r\\n<size bytes>\\r\\n     repeated
    0[;chunk-signature=<sig>]\\r\\n                             the final, empty chunk
    <name>:<value>\\r\\n ...                                    trailers (``...-TRAILER`` modes)
    \\r\\n

botocore over https (boto3, awscli, s3fs) sends ``STREAMING-UNSIGNED-PAYLOAD-TRAILER`` with 1 MiB
chunks and lower-case hex (``100000``); pyarrow (aws-sdk-cpp) sends the same mode even over http
with 64 KiB chunks and upper-case hex (``C``); minio-go, aws-sdk-java v1 and rclone against minio
send ``STREAMING-AWS4-HMAC-SHA256-PAYLOAD`` with a signature on every chunk. The HTTP layer has
already removed ``Transfer-Encoding: chunked``; what arrives here is the aws framing, split at
arbitrary points.

``feed()`` returns payload pieces as it finds them, ``finish()`` checks the stream ended on a frame
boundary and returns the trailers. Payload bytes are never buffered: a piece is the input itself
when the whole input is payload, else a slice of it. Only the framing is buffered, and each buffer
has a hard cap (size line, trailer section), so hostile input cannot grow memory.

Errors: S3 answers every kind of broken aws-chunked framing (bad hex, missing CRLF, missing
``chunk-signature``, body cut short, junk after the end) with ``IncompleteBody`` "The request body
terminated unexpectedly", as observed against AWS in versitygw#1660, #1666 and #1685; so does
this decoder. ``InvalidChunkSizeError`` is reserved for its AWS meaning, a signed non-final chunk
under 8 KiB (``min_chunk_size``), and ``InvalidArgument`` is not what S3 says for framing.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Final, Protocol

from pachs3.core.errors import IncompleteBody, InvalidChunkSizeError, S3Error
from pachs3.core.http import TOKEN_PATTERN

__all__ = [
    "STREAMING_MODES",
    "AwsChunkedDecoder",
    "ChunkListener",
    "StreamingMode",
    "decode_aws_chunked",
    "streaming_mode",
]

MAX_SIZE_LINE: Final = 4096
"""Longest accepted chunk header line, CRLF included (a signed line is about 90 bytes)."""

MAX_TRAILER_BYTES: Final = 16384
"""Largest accepted trailer section, every line and CRLF included."""

_TERMINATED = "The request body terminated unexpectedly"

# 1..16 hex digits: enough for any 64-bit size; int(x, 16) alone would also take "0x", "_",
# "+" and surrounding blanks, none of which S3 accepts.
_HEX_SIZE = re.compile(rb"[0-9A-Fa-f]{1,16}")
_TOKEN = re.compile(TOKEN_PATTERN.encode())  # header and extension names


@dataclass(frozen=True, slots=True, kw_only=True)
class StreamingMode:
    """What one ``x-amz-content-sha256`` streaming value promises about the framing."""

    signed: bool
    """Every chunk header must carry ``;chunk-signature=``."""
    trailers: bool
    """Trailer lines may follow the final chunk."""


STREAMING_MODES: Final[Mapping[str, StreamingMode]] = {
    "STREAMING-AWS4-HMAC-SHA256-PAYLOAD": StreamingMode(signed=True, trailers=False),
    "STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER": StreamingMode(signed=True, trailers=True),
    "STREAMING-UNSIGNED-PAYLOAD-TRAILER": StreamingMode(signed=False, trailers=True),
    # SigV4a (aws-crt clients with multi-region access points): same framing, longer signatures.
    "STREAMING-AWS4-ECDSA-P256-SHA256-PAYLOAD": StreamingMode(signed=True, trailers=False),
    "STREAMING-AWS4-ECDSA-P256-SHA256-PAYLOAD-TRAILER": StreamingMode(signed=True, trailers=True),
}


def streaming_mode(content_sha256: str | None) -> StreamingMode | None:
    """The framing an ``x-amz-content-sha256`` value announces, or ``None`` if not streaming."""
    if content_sha256 is None:
        return None
    return STREAMING_MODES.get(content_sha256.strip().upper())


class ChunkListener(Protocol):
    """Observer for a SigV4 streaming verifier: sees each chunk's signature and its bytes.

    The chunk signature of chunk *n* covers the SHA-256 of chunk *n*'s payload and the previous
    signature, so a verifier hashes ``on_data`` pieces and checks when the next ``on_chunk``
    (or ``on_trailers``) arrives.
    """

    def on_chunk(self, size: int, signature: str | None) -> None:
        """A chunk header was read (also the final ``0`` chunk)."""

    def on_data(self, data: bytes) -> None:
        """Payload bytes of the current chunk (called zero or more times per chunk)."""

    def on_trailers(self, trailers: Mapping[str, str]) -> None:
        """The trailer section ended; names are lower case, in arrival order."""


class _State(enum.Enum):
    SIZE_LINE = enum.auto()
    DATA = enum.auto()
    DATA_CR = enum.auto()
    DATA_LF = enum.auto()
    TRAILER = enum.auto()
    DONE = enum.auto()
    FAILED = enum.auto()


class AwsChunkedDecoder:
    """Decode an aws-chunked body pushed in pieces of any size.

    ``mode`` says what the framing promises (default: unsigned with trailers, which also accepts
    and reports signatures). ``decoded_length`` is ``x-amz-decoded-content-length``: the stream is
    cut off as soon as it carries more, and ``finish()`` insists on exactly that many.
    ``min_chunk_size`` (S3 uses 8192 for signed streams) rejects small non-final chunks with
    ``InvalidChunkSizeError``; 0 disables the check.
    """

    __slots__ = (
        "_decoded",
        "_decoded_length",
        "_last_chunk_size",
        "_line",
        "_listener",
        "_max_size_line",
        "_max_trailer_bytes",
        "_min_chunk_size",
        "_mode",
        "_remaining",
        "_state",
        "_trailer_bytes",
        "_trailers",
        "last_signature",
    )

    def __init__(
        self,
        *,
        mode: StreamingMode | None = None,
        decoded_length: int | None = None,
        listener: ChunkListener | None = None,
        min_chunk_size: int = 0,
        max_size_line: int = MAX_SIZE_LINE,
        max_trailer_bytes: int = MAX_TRAILER_BYTES,
    ) -> None:
        self._mode = (
            mode if mode is not None else STREAMING_MODES["STREAMING-UNSIGNED-PAYLOAD-TRAILER"]
        )
        self._decoded_length = decoded_length
        self._listener = listener
        self._min_chunk_size = min_chunk_size
        self._max_size_line = max_size_line
        self._max_trailer_bytes = max_trailer_bytes
        self._state = _State.SIZE_LINE
        self._line = bytearray()  # the unfinished framing line, never more than its cap
        self._remaining = 0  # payload bytes left in the current chunk
        self._decoded = 0
        self._last_chunk_size = -1
        self._trailer_bytes = 0
        self._trailers: dict[str, str] = {}
        self.last_signature: str | None = None
        """The most recent ``chunk-signature`` seen (the final chunk's, once finished)."""

    # -- public -----------------------------------------------------------------------------

    @property
    def decoded_size(self) -> int:
        """Payload bytes produced so far."""
        return self._decoded

    @property
    def done(self) -> bool:
        """The final chunk and trailer section have been read."""
        return self._state is _State.DONE

    def feed(self, data: bytes | bytearray | memoryview) -> list[bytes]:
        """Consume ``data``; return the payload pieces it completed, in order.

        Pieces are ``data`` itself when ``data`` is all payload, else slices of it. Raises an
        ``S3Error`` on broken framing; the decoder then refuses any further input.
        """
        if self._state is _State.FAILED:
            raise IncompleteBody(f"{_TERMINATED}: the body already failed to decode")
        try:
            return self._feed(data if isinstance(data, bytes) else bytes(data))
        except S3Error:
            self._state = _State.FAILED
            raise

    def _feed(self, data: bytes) -> list[bytes]:
        out: list[bytes] = []
        pos = 0
        end = len(data)
        while pos < end:
            state = self._state
            if state is _State.DATA:
                take = min(self._remaining, end - pos)
                piece = data if take == end else data[pos : pos + take]
                pos += take
                self._remaining -= take
                self._decoded += take
                if self._decoded_length is not None and self._decoded > self._decoded_length:
                    raise IncompleteBody(
                        f"{_TERMINATED}: more payload than x-amz-decoded-content-length "
                        f"({self._decoded_length})"
                    )
                out.append(piece)
                if self._listener is not None:
                    self._listener.on_data(piece)
                if not self._remaining:
                    self._state = _State.DATA_CR
            elif state is _State.DATA_CR:
                if data[pos] != 0x0D:
                    raise IncompleteBody(f"{_TERMINATED}: chunk data not followed by CRLF")
                pos += 1
                self._state = _State.DATA_LF
            elif state is _State.DATA_LF:
                if data[pos] != 0x0A:
                    raise IncompleteBody(f"{_TERMINATED}: chunk data not followed by CRLF")
                pos += 1
                self._state = _State.SIZE_LINE
            elif state is _State.DONE:
                raise IncompleteBody(f"{_TERMINATED}: data after the final chunk")
            else:  # SIZE_LINE or TRAILER: line-oriented
                line, pos = self._take_line(data, pos, end)
                if line is None:
                    break
                if state is _State.SIZE_LINE:
                    self._on_size_line(line)
                else:
                    self._on_trailer_line(line)
        return out

    def finish(self) -> dict[str, str]:
        """Declare the end of input; return the trailers (lower-case names, arrival order).

        Raises ``IncompleteBody`` unless the stream ended right after the final chunk's
        terminating empty line (and, with ``decoded_length``, after exactly that many bytes).
        """
        if self._state is not _State.DONE:
            raise IncompleteBody(_TERMINATED)
        if self._decoded_length is not None and self._decoded != self._decoded_length:
            raise IncompleteBody(
                f"{_TERMINATED}: {self._decoded} payload bytes, "
                f"x-amz-decoded-content-length says {self._decoded_length}"
            )
        return dict(self._trailers)

    # -- framing lines ----------------------------------------------------------------------

    def _take_line(self, data: bytes, pos: int, end: int) -> tuple[bytes | None, int]:
        """The next CRLF-terminated line (without CRLF) and the position after it.

        Returns ``(None, end)`` when ``data`` ends mid-line; the partial line is kept. Only
        ``\\n`` is searched (C speed); the byte before it must be ``\\r``, which may have
        arrived in an earlier feed.
        """
        if self._state is _State.SIZE_LINE:
            room = self._max_size_line - len(self._line)
        else:
            room = self._max_trailer_bytes - self._trailer_bytes - len(self._line)
        newline = data.find(b"\n", pos, min(end, pos + room))
        if newline < 0:
            if end - pos >= room:
                what = "chunk size line" if self._state is _State.SIZE_LINE else "trailer section"
                raise IncompleteBody(f"{_TERMINATED}: {what} too long")
            self._line += data[pos:end]
            return None, end
        if self._line:
            self._line += data[pos:newline]
            line = bytes(self._line)
            self._line.clear()
        else:
            line = data[pos:newline]
        if not line.endswith(b"\r"):
            raise IncompleteBody(f"{_TERMINATED}: line not terminated by CRLF")
        if self._state is _State.TRAILER:
            self._trailer_bytes += len(line) + 1
        return line[:-1], newline + 1

    def _on_size_line(self, line: bytes) -> None:
        size_text, _, extensions = line.partition(b";")
        size_text = size_text.rstrip(b" \t")  # RFC 9112 allows blanks before ';'
        if not _HEX_SIZE.fullmatch(size_text):
            raise IncompleteBody(f"{_TERMINATED}: invalid chunk size {size_text[:32]!r}")
        size = int(size_text, 16)
        signature = _chunk_signature(extensions) if extensions else None
        if self._mode.signed and signature is None:
            raise IncompleteBody(f"{_TERMINATED}: chunk without chunk-signature")
        if self._min_chunk_size and size and 0 <= self._last_chunk_size < self._min_chunk_size:
            # The previous chunk was not the last one, so it needed the minimum size.
            raise InvalidChunkSizeError()
        self._last_chunk_size = size
        if signature is not None:
            self.last_signature = signature
        if self._listener is not None:
            self._listener.on_chunk(size, signature)
        if size:
            self._remaining = size
            self._state = _State.DATA
        else:
            self._state = _State.TRAILER

    def _on_trailer_line(self, line: bytes) -> None:
        if not line:
            self._state = _State.DONE
            if self._listener is not None:
                self._listener.on_trailers(dict(self._trailers))
            return
        if not self._mode.trailers:
            raise IncompleteBody(f"{_TERMINATED}: trailer in a stream that announced none")
        name_bytes, colon, value_bytes = line.partition(b":")
        name_bytes = name_bytes.strip(b" \t")
        if not colon or not _TOKEN.fullmatch(name_bytes):
            raise IncompleteBody(f"{_TERMINATED}: malformed trailer line")
        name = name_bytes.decode("ascii").lower()
        if name in self._trailers:
            # Two different x-amz-checksum-crc32 values could otherwise pick which one "wins".
            raise IncompleteBody(f"{_TERMINATED}: duplicate trailer {name}")
        try:
            value = value_bytes.strip(b" \t").decode("ascii")
        except UnicodeDecodeError:
            raise IncompleteBody(f"{_TERMINATED}: non-ASCII trailer value") from None
        self._trailers[name] = value


def _chunk_signature(extensions: bytes) -> str | None:
    """The ``chunk-signature`` value among ``;``-separated chunk extensions, if any."""
    signature: str | None = None
    for extension in extensions.split(b";"):
        name, _, value = extension.partition(b"=")
        name = name.strip(b" \t")
        if not _TOKEN.fullmatch(name):
            raise IncompleteBody(f"{_TERMINATED}: malformed chunk extension")
        if name.lower() == b"chunk-signature":
            value = value.strip(b" \t")
            if not value or not _HEX_SIGNATURE.fullmatch(value):
                raise IncompleteBody(f"{_TERMINATED}: malformed chunk-signature")
            signature = value.decode("ascii")
    return signature


# SigV4 signatures are 64 hex digits, SigV4a (ECDSA, DER) ones are longer and of varying
# length; both are hex. The size-line cap bounds the length.
_HEX_SIGNATURE = re.compile(rb"[0-9a-fA-F]+")


def decode_aws_chunked(chunks: Iterable[bytes], decoder: AwsChunkedDecoder) -> Iterator[bytes]:
    """Lazily decode ``chunks`` (a request body) with ``decoder``; the trailers are then
    available from ``decoder.finish()``, which this generator has already called once to
    check the ending (calling it again is harmless)."""
    for chunk in chunks:
        if chunk:
            yield from decoder.feed(chunk)
    decoder.finish()
