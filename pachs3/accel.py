"""Optional C implementations of the checksums the standard library lacks.

The pure core computes CRC32C and CRC64/NVME in Python (about 20 MB/s). When ``awscrt`` is
installed (the ``fast`` extra; boto3's CRT support brings it too) ``install()`` registers its C
functions instead, which run at memory speed. pyarrow and AWS CLI v2 send CRC64/NVME on every
upload (clients.md §3 item 4), so this matters for any sizeable write.

This module is the only importer of ``awscrt``: the core stays dependency-free.
"""

from __future__ import annotations

import functools
import importlib
from collections.abc import Callable
from types import ModuleType

from pachs3.core.digests import register_checksum

__all__ = ["install", "install_once"]

_CrcFunction = Callable[[bytes, int], int]


class _CrtCrc:
    """A hashlib-like wrapper around one of awscrt's ``crc(data, previous)`` functions.

    awscrt's functions take and return the finished CRC value (inversion included), so the
    running value is just the previous result.
    """

    __slots__ = ("_crc", "_function", "_width")

    def __init__(self, function: _CrcFunction, width: int) -> None:
        self._function = function
        self._width = width
        self._crc = 0

    def update(self, data: bytes, /) -> None:
        self._crc = self._function(data, self._crc)

    def digest(self) -> bytes:
        return self._crc.to_bytes(self._width, "big")


def _load_checksums() -> ModuleType | None:
    try:
        return importlib.import_module("awscrt.checksums")
    except ImportError:
        return None


def install() -> bool:
    """Register awscrt's CRC32C and CRC64/NVME; return whether they were installed.

    Falls back silently (returns ``False``) when awscrt is missing, too old to have
    ``crc64nvme`` (before 0.23), or gives a wrong check value, so calling it is always safe.
    """
    checksums = _load_checksums()
    if checksums is None:
        return False
    crc32c = getattr(checksums, "crc32c", None)
    crc64nvme = getattr(checksums, "crc64nvme", None)
    if not (callable(crc32c) and callable(crc64nvme)):
        return False
    # Published check values ("123456789"): a broken build must not silently fail every upload.
    try:
        if (
            crc32c(b"123456789", 0) != 0xE3069283
            or crc64nvme(b"123456789", 0) != 0xAE8B14860A799888
        ):
            return False
    except Exception:  # an ABI mismatch in a native extension shows up as anything
        return False

    def crc32c_factory() -> _CrtCrc:
        return _CrtCrc(crc32c, 4)

    def crc64nvme_factory() -> _CrtCrc:
        return _CrtCrc(crc64nvme, 8)

    register_checksum("crc32c", crc32c_factory)
    register_checksum("crc64nvme", crc64nvme_factory)
    return True


@functools.cache
def install_once() -> bool:
    """``install()`` on the first call only: every gateway calls this when it is built, and the
    checksum registry is process-wide, so it is changed once, not once per gateway."""
    return install()
