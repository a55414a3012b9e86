"""Request bodies on their way to a backend: de-framed, hashed and checked, lazily.

``CheckedPayload`` is what a backend's ``put_file`` consumes. It yields the payload chunk by chunk
(aws-chunked framing removed) and, after the last chunk but *before* the iteration ends, checks
every digest the client announced (Content-MD5, x-amz-checksum-* headers and trailers, a hex
x-amz-content-sha256) and the length. A mismatch raises an S3 error out of the iteration, so the
backend never commits the write: a failed upload leaves nothing visible.

One pipeline: an aws-chunked body is decoded once, by the decoder here, and that decoder feeds
both the digests (its payload pieces) and, on a strict-SigV4 gateway, the chunk signature chain
(``IncomingBody.signatures``: its verifier listens to the same decoder as a ``ChunkListener``).
"""

from __future__ import annotations

import base64
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from pachs3.core import errors
from pachs3.core.chunked import AwsChunkedDecoder, decode_aws_chunked
from pachs3.core.digest_tee import DigestTee, HashOffload
from pachs3.core.headers import CHECKSUM_HEADER_PREFIX
from pachs3.core.plans import BodySpec
from pachs3.core.sigv4.chunks import ChunkSignatureVerifier
from pachs3.core.sigv4.context import SignatureContext

MAX_DOCUMENT_BYTES = 4 * 1024 * 1024
"""Cap on the XML bodies the core parses, enforced before parsing: a legal 1000-key
DeleteObjects from minio-py (numeric entities for every non-ASCII character) is ~2.5 MB."""


@dataclass(frozen=True, slots=True)
class IncomingBody:
    """A request body as the transport delivers it (still framed), and the verified request
    whose chunk signatures it must continue (strict SigV4 with a signed streaming payload).

    Handlers never read ``raw`` themselves: they ask for the ``payload`` of an upload or the
    ``document`` of a small XML body, so that every body read goes through one decoder."""

    raw: Iterator[bytes]
    signatures: SignatureContext | None = None
    offload: HashOffload | None = None
    """Where a large payload's hashing may run (the shell's ``hash_thread``)."""

    def payload(self, spec: BodySpec, also: Iterable[str] = ()) -> CheckedPayload:
        return CheckedPayload(
            spec, self.raw, also, signatures=self.signatures, offload=self.offload
        )

    def document(self, spec: BodySpec, limit: int | None = None) -> bytes:
        return read_small_body(
            spec,
            self.raw,
            MAX_DOCUMENT_BYTES if limit is None else limit,
            signatures=self.signatures,
        )


class CheckedPayload:
    """The payload of a request body, checked against its digests and length at its end and,
    with ``signatures``, against its chunk signature chain as it is decoded. Iterate once."""

    def __init__(
        self,
        spec: BodySpec,
        raw: Iterable[bytes],
        also: Iterable[str] = (),
        *,
        signatures: SignatureContext | None = None,
        offload: HashOffload | None = None,
    ) -> None:
        """``also`` names algorithms to compute though the client announced none (a part of an
        upload that keeps a checksum)."""
        self._spec = spec
        self._raw = raw
        self._signatures = signatures
        self._offload = offload
        algorithms = list(dict.fromkeys((*spec.algorithms, *also)))
        if spec.content_sha256 is not None and "sha256" not in algorithms:
            algorithms.append("sha256")
        self._algorithms = tuple(algorithms)
        self._tee: DigestTee | None = None
        self._checked = False

    def __iter__(self) -> Iterator[bytes]:
        spec = self._spec
        decoder: AwsChunkedDecoder | None = None
        verifier: ChunkSignatureVerifier | None = None
        payload: Iterable[bytes] = self._raw
        if spec.framing == "aws-chunked":
            if self._signatures is not None:
                verifier = self._signatures.chunk_verifier()  # None unless signed streaming
            decoder = AwsChunkedDecoder(
                mode=spec.streaming,
                decoded_length=spec.decoded_length,
                listener=verifier,
            )
            payload = decode_aws_chunked(self._raw, decoder)
        tee = DigestTee(payload, self._algorithms, offload=self._offload)
        yield from tee
        self._tee = tee
        expected = dict(spec.checksums)
        if decoder is not None:
            trailers = decoder.finish()
            if verifier is not None:
                verifier.finish()  # every chunk and the trailers signed, before any digest
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


def read_small_body(
    spec: BodySpec,
    raw: Iterable[bytes],
    limit: int = MAX_DOCUMENT_BYTES,
    *,
    signatures: SignatureContext | None = None,
) -> bytes:
    """A whole small request body (an XML document), checked, refused past ``limit`` bytes."""
    if spec.payload_length is not None and spec.payload_length > limit:
        raise errors.MaxMessageLengthExceeded()
    pieces: list[bytes] = []
    size = 0
    for chunk in CheckedPayload(spec, raw, signatures=signatures):
        size += len(chunk)
        if size > limit:
            raise errors.MaxMessageLengthExceeded()
        pieces.append(chunk)
    return b"".join(pieces)
