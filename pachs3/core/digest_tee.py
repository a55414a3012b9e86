"""``DigestTee``: a request body hashed on its way to the store, and checked at its end.

It sits in the upload pipeline (DESIGN §3): it passes chunks through unchanged, hashes them on
the way (MD5 always, plus the S3 checksums asked for), and ``verify()`` raises the S3 error a
mismatch deserves before the write is committed. Past ``OFFLOAD_AFTER`` bytes it can hand the
hashing to a ``HashOffload`` the shell supplies (``pachs3/hash_thread.py``: hashlib and zlib
release the GIL on large buffers), so that a large body's hashes run beside the store's own
work on it instead of before it. The core itself starts no thread.
"""

from __future__ import annotations

import base64
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Final, Protocol

from pachs3.core.digests import CHECKSUM_ALGORITHMS, DISPLAY_NAMES, decode_checksum, new_checksum
from pachs3.core.errors import BadDigest, IncompleteBody, InvalidDigest, InvalidRequest

__all__ = ["OFFLOAD_AFTER", "DigestTee", "HashFeed", "HashOffload"]


OFFLOAD_AFTER: Final = 1024 * 1024
"""Bytes a ``DigestTee`` hashes itself before it hands the rest to its ``HashOffload``: a small
body costs no hand-off, a large one overlaps its hashing with the store's work."""


class HashFeed(Protocol):
    """Hashing run elsewhere (the shell's thread): chunks are fed in order; ``finish`` returns
    once every fed chunk has been hashed (raising what the hashing raised); ``cancel`` stops it
    when the body is abandoned."""

    def feed(self, chunk: bytes, /) -> None: ...

    def finish(self) -> None: ...

    def cancel(self) -> None: ...


HashOffload = Callable[[tuple[Callable[[bytes], object], ...]], HashFeed]
"""Starts a ``HashFeed`` that applies these update functions to every chunk it is fed."""


class DigestTee:
    """Pass chunks through unchanged while hashing them: MD5 always, plus ``algorithms``.

    Iterate it (once) in place of ``chunks``; after exhaustion ``md5_hex``, ``size`` and
    ``checksums`` are available, and ``verify()`` compares them with what the client declared.
    ``close()`` closes the wrapped iterator when it has a ``close`` (a request body stream).
    """

    __slots__ = ("_algorithms", "_chunks", "_done", "_hashers", "_md5", "_offload", "_size")

    def __init__(
        self,
        chunks: Iterable[bytes],
        algorithms: Iterable[str] = (),
        *,
        offload: HashOffload | None = None,
    ) -> None:
        names = tuple(dict.fromkeys(name.lower() for name in algorithms))
        for name in names:
            if name not in CHECKSUM_ALGORITHMS:
                raise ValueError(f"unknown checksum algorithm {name!r}")
        self._chunks = chunks
        self._algorithms = names
        self._md5 = new_checksum("md5")
        self._hashers = tuple(new_checksum(name) for name in names)
        self._offload = offload
        self._size = 0
        self._done = False

    def __iter__(self) -> Iterator[bytes]:
        updates = (self._md5.update, *(hasher.update for hasher in self._hashers))
        chunks = iter(self._chunks)
        offload = self._offload
        for chunk in chunks:
            for update in updates:
                update(chunk)
            self._size += len(chunk)
            yield chunk
            if offload is not None and self._size > OFFLOAD_AFTER:
                yield from self._fed(chunks, offload(updates))
                return
        self._done = True

    def _fed(self, chunks: Iterator[bytes], feed: HashFeed) -> Iterator[bytes]:
        """The rest of the chunks, hashed by ``feed`` while the consumer takes them."""
        try:
            for chunk in chunks:
                # The feed hashes the chunk while the consumer stores it: it must not change
                # under the hasher (a transport may hand out a reused buffer).
                held = chunk if type(chunk) is bytes else bytes(chunk)
                feed.feed(held)
                self._size += len(held)
                yield held
            feed.finish()
        except BaseException:
            feed.cancel()
            raise
        self._done = True

    def close(self) -> None:
        close = getattr(self._chunks, "close", None)
        if callable(close):
            close()

    def _require_done(self) -> None:
        if not self._done:
            raise RuntimeError("DigestTee read before its stream was exhausted")

    @property
    def size(self) -> int:
        self._require_done()
        return self._size

    @property
    def md5_digest(self) -> bytes:
        self._require_done()
        return self._md5.digest()

    @property
    def md5_hex(self) -> str:
        return self.md5_digest.hex()

    def digest(self, name: str) -> bytes:
        """The raw digest of ``name`` (``md5`` or a requested algorithm) over what passed."""
        self._require_done()
        if name == "md5":
            return self._md5.digest()
        return self._hashers[self._algorithms.index(name)].digest()

    @property
    def checksums(self) -> dict[str, str]:
        """Base64 value per requested algorithm, ready for an ``x-amz-checksum-*`` header."""
        self._require_done()
        return {
            name: base64.b64encode(hasher.digest()).decode("ascii")
            for name, hasher in zip(self._algorithms, self._hashers, strict=True)
        }

    def verify(
        self,
        expected_checksums: Mapping[str, str] | None = None,
        content_md5: str | None = None,
        expected_size: int | None = None,
    ) -> None:
        """Raise the S3 error for the first thing that does not hold; return if all hold.

        ``expected_checksums`` maps algorithm names (``crc32`` or ``x-amz-checksum-crc32``, any
        case) to base64 values; each must have been requested at construction. The order of
        checks follows what a value-level problem deserves before a content-level one:

        1. a malformed declared value: ``InvalidDigest`` for ``Content-MD5``, ``InvalidRequest``
           "Value for x-amz-checksum-<name> header is invalid." for a checksum (the code and
           message S3 gives; see localstack#12169);
        2. fewer or more bytes than declared: ``IncompleteBody``;
        3. ``Content-MD5`` mismatch: ``BadDigest`` "The Content-MD5 you specified did not match
           what we received.";
        4. checksum mismatch: ``BadDigest`` "The CRC32 you specified did not match the
           calculated checksum." (aws-sdk-ruby#3322, versitygw#1694).
        """
        self._require_done()
        wanted: list[tuple[str, bytes]] = []
        for raw_name, value in (expected_checksums or {}).items():
            name = raw_name.lower().removeprefix("x-amz-checksum-")
            if name not in self._algorithms:
                raise ValueError(f"checksum {name!r} was not computed by this DigestTee")
            digest = decode_checksum(name, value)
            if digest is None:
                raise InvalidRequest(f"Value for x-amz-checksum-{name} header is invalid.")
            wanted.append((name, digest))
        md5_wanted: bytes | None = None
        if content_md5 is not None:
            md5_wanted = decode_checksum("md5", content_md5)
            if md5_wanted is None:
                raise InvalidDigest()
        if expected_size is not None and expected_size != self._size:
            raise IncompleteBody(
                f"You did not provide the number of bytes specified: "
                f"{expected_size} declared, {self._size} received."
            )
        if md5_wanted is not None and md5_wanted != self._md5.digest():
            raise BadDigest("The Content-MD5 you specified did not match what we received.")
        computed = dict(zip(self._algorithms, self._hashers, strict=True))
        for name, digest in wanted:
            if computed[name].digest() != digest:
                raise BadDigest(
                    f"The {DISPLAY_NAMES[name]} you specified did not match the calculated "
                    "checksum."
                )
