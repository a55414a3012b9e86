"""The read handle: a file opened once, its info and reads of that very version.

A backend that can open a file from one snapshot offers ``FileOpener``; any other is opened
by ``InspectedFile`` over its ``FileReader``. ``file_opener`` decides which when the gateway is
built, not per request.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import TYPE_CHECKING, Protocol, runtime_checkable

from pachs3.core.http import ByteStream
from pachs3.core.refs import CommitRef, FileInfo

if TYPE_CHECKING:  # base.py re-exports this module's names: a runtime import would be a cycle
    from pachs3.backends.base import FileReader


ReadSpan = tuple[int, int | None]
"""``(offset, length)`` of a read; length None: to the end of the file."""


class OpenFile(Protocol):
    """A file opened for reading: what it is (``info``) and reads of that very version.

    The caller closes it (``contextlib.closing``); a stream ``read`` returned stays valid after
    that and is closed on its own.
    """

    @property
    def info(self) -> FileInfo: ...

    def read(self, offset: int = 0, length: int | None = None) -> ByteStream:
        """Stream ``length`` bytes (None: to the end) from ``offset`` of the version ``info``
        describes, as ``read_file`` streams (clipped to the file; Truncated rather than short).
        Conflict if that version can no longer be read (it was overwritten since)."""
        ...

    def close(self) -> None: ...


@runtime_checkable
class FileOpener(Protocol):
    """An optional reader capability: open a file, so that its info and its bytes come from one
    snapshot (one lookup, and no retry when the file is overwritten meanwhile).

    Backends without it are opened by ``InspectedFile``; ``file_opener`` decides which, once.
    """

    def open_file(self, ref: CommitRef, path: str) -> OpenFile:
        """NotFound('file') as ``inspect_file``."""
        ...


class InspectedFile:
    """``OpenFile`` over ``FileReader`` alone: inspect now, and read naming the etag inspected,
    so that a file overwritten in between is a Conflict, never another version's bytes."""

    __slots__ = ("_path", "_reader", "_ref", "info")

    def __init__(self, reader: FileReader, ref: CommitRef, path: str) -> None:
        self._reader = reader
        self._ref = ref
        self._path = path
        self.info = reader.inspect_file(ref, path)

    def read(self, offset: int = 0, length: int | None = None) -> ByteStream:
        return self._reader.read_file(
            self._ref, self._path, offset=offset, length=length, etag=self.info.etag
        )

    def close(self) -> None:
        """Nothing is held between the inspection and a read."""


Opener = Callable[[CommitRef, str], OpenFile]


def file_opener(backend: FileReader) -> Opener:
    """How files of ``backend`` are opened: its own ``open_file`` if it has one (decided here,
    once, not per request), else ``InspectedFile``."""
    if isinstance(backend, FileOpener):
        return backend.open_file
    return functools.partial(InspectedFile, backend)
