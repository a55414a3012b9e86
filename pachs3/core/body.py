"""Request bodies on their way to a backend: de-framed, hashed and checked, lazily.

``CheckedPayload`` is what a backend's ``put_file`` consumes. It yields the payload chunk by chunk
(aws-chunked framing removed) and, after the last chunk but *before* the iteration ends, checks
every digest the client announced (Content-MD5, x-amz-checksum-* headers and trailers, a hex
x-amz-content-sha256) and the length. A mismatch raises an S3 error out of the iteration, so the
backend never commits the write: a failed upload leaves nothing visible.
"""

from __future__ import annotations

import base64
from collections.abc import Iterable, Iterator

from pachs3.core import errors
from pachs3.core.chunked import AwsChunkedDecoder, decode_aws_chunked, streaming_mode
from pachs3.core.digests import DigestTee
from pachs3.core.headers import CHECKSUM_HEADER_PREFIX
from pachs3.core.plans import BodySpec

MAX_DOCUMENT_BYTES = 4 * 1024 * 1024
"""Cap on the XML bodies the core parses, enforced before parsing: a legal 1000-key
DeleteObjects from minio-py (numeric entities for every non-ASCII character) is ~2.5 MB."""


class CheckedPayload:
    """The payload of a request body, checked against its digests and length at its end (the
    signature chain is ``core/sigv4``'s business, not this). Iterate once."""

    def __init__(self, spec: BodySpec, raw: Iterable[bytes], also: Iterable[str] = ()) -> None:
        """``also`` names algorithms to compute though the client announced none (a part of an
        upload that keeps a checksum)."""
        self._spec = spec
        self._raw = raw
        algorithms = list(dict.fromkeys((*spec.algorithms, *also)))
        if spec.content_sha256 is not None and "sha256" not in algorithms:
            algorithms.append("sha256")
        self._algorithms = tuple(algorithms)
        self._tee: DigestTee | None = None
        self._checked = False

    def __iter__(self) -> Iterator[bytes]:
        spec = self._spec
        decoder: AwsChunkedDecoder | None = None
        payload: Iterable[bytes] = self._raw
        if spec.framing == "aws-chunked":
            decoder = AwsChunkedDecoder(
                mode=streaming_mode(spec.streaming),
                decoded_length=spec.decoded_length,
            )
            payload = decode_aws_chunked(self._raw, decoder)
        tee = DigestTee(payload, self._algorithms)
        yield from tee
        self._tee = tee
        expected = dict(spec.checksums)
        if decoder is not None:
            trailers = decoder.finish()
            for algorithm in spec.trailer_names:
                value = trailers.get(CHECKSUM_HEADER_PREFIX + algorithm)
                # A trailer the client announced but did not send is not an error: AWS accepts
                # it (versitygw#1679), and there is nothing to compare.
                if value is not None:
                    expected[algorithm] = value
        length = spec.content_length if spec.framing == "plain" else None
        tee.verify(expected, spec.content_md5, length)
        if spec.content_sha256 is not None:
            computed = base64.b64decode(tee.checksums["sha256"]).hex()
            if computed != spec.content_sha256:
                raise errors.XAmzContentSHA256Mismatch()
        self._checked = True

    def close(self) -> None:
        close = getattr(self._raw, "close", None)
        if callable(close):
            close()

    @property
    def digested_algorithms(self) -> tuple[str, ...]:
        """What ``payload_digest`` can answer (``backends.base.DigestedChunks``): a store that
        hashes what it keeps takes these instead of hashing every byte a second time."""
        return ("md5", *self._algorithms)

    def payload_digest(self, algorithm: str) -> bytes:
        """The raw digest of the payload; only once it has been read whole and checked."""
        if self._tee is None or not self._checked:
            # A store trusting a digest of a body that failed or was never read would file
            # bytes under the wrong address: refuse, even with assertions disabled.
            raise RuntimeError("payload_digest() before the body was read whole and checked")
        return self._tee.digest(algorithm)

    def computed_checksum(self, algorithm: str) -> str:
        """The base64 checksum of the payload (an announced or an ``also`` algorithm), once it
        has been read whole and checked."""
        return base64.b64encode(self.payload_digest(algorithm)).decode("ascii")

    @property
    def md5_hex(self) -> str:
        assert self._tee is not None, "read the body first"
        return self._tee.md5_hex

    def checksums_for_response(self) -> dict[str, str]:
        """The checksums the client asked for, as computed: echoed as x-amz-checksum-* headers
        (boto3 then lists them per part in CompleteMultipartUpload)."""
        if self._tee is None:
            return {}
        computed = self._tee.checksums
        return {alg: computed[alg] for alg in self._spec.algorithms}

    def announced_checksum_headers(self) -> dict[str, str]:
        """Checksums announced in headers, known before the body: stored with the object so
        that GET with x-amz-checksum-mode returns them (they are verified before storing)."""
        return {CHECKSUM_HEADER_PREFIX + alg: v for alg, v in self._spec.checksums.items()}


def read_small_body(spec: BodySpec, raw: Iterable[bytes], limit: int = MAX_DOCUMENT_BYTES) -> bytes:
    """A whole small request body (an XML document), verified, refused past ``limit`` bytes."""
    if spec.payload_length is not None and spec.payload_length > limit:
        raise errors.MaxMessageLengthExceeded()
    pieces: list[bytes] = []
    size = 0
    for chunk in CheckedPayload(spec, raw):
        size += len(chunk)
        if size > limit:
            raise errors.MaxMessageLengthExceeded()
        pieces.append(chunk)
    return b"".join(pieces)
