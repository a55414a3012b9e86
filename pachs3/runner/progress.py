"""Progress of a long copy (``pachs3 put``, seeding ``pachs3 run``): bytes, files and rate.

On a terminal it is one bar redrawn in place (``\\r``), at most ten times a second, and erased
when the work ends so the line that reports the result starts clean. Anywhere else (a pipe, a
CI log) a bar would be a mess of carriage returns, so it prints a plain line now and then.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator
from typing import Protocol, TextIO

__all__ = ["NO_PROGRESS", "Progress", "ProgressReport", "counted"]

_BAR_WIDTH = 24
_TERMINAL_INTERVAL = 0.1
_PLAIN_INTERVAL = 5.0
_UNITS = ("bytes", "KiB", "MiB", "GiB", "TiB")


class Progress(Protocol):
    """What a copy tells about itself; ``start`` first, ``finish`` last, once each."""

    def start(self, files: int, size: int) -> None: ...

    def advance(self, size: int) -> None: ...

    def file_done(self) -> None: ...

    def finish(self) -> None: ...


class _Silent:
    def start(self, files: int, size: int) -> None:
        pass

    def advance(self, size: int) -> None:
        pass

    def file_done(self) -> None:
        pass

    def finish(self) -> None:
        pass


NO_PROGRESS: Progress = _Silent()


def counted(chunks: Iterable[bytes], progress: Progress) -> Iterator[bytes]:
    """``chunks`` unchanged, each one's size told to ``progress`` as it passes."""
    for chunk in chunks:
        progress.advance(len(chunk))
        yield chunk


class ProgressReport:
    """A ``Progress`` written to ``stream``: a bar when ``terminal``, else occasional lines."""

    def __init__(
        self,
        stream: TextIO,
        label: str,
        *,
        terminal: bool,
        clock: Callable[[], float] = time.monotonic,
        interval: float | None = None,
    ) -> None:
        self._stream = stream
        self._label = label
        self._terminal = terminal
        self._clock = clock
        self._interval = interval or (_TERMINAL_INTERVAL if terminal else _PLAIN_INTERVAL)
        self._files = self._size = 0
        self._files_done = self._size_done = 0
        self._started = self._shown = 0.0
        self._drawn = False

    def start(self, files: int, size: int) -> None:
        self._files, self._size = files, size
        self._started = self._shown = self._clock()
        if self._terminal:
            self._draw()

    def advance(self, size: int) -> None:
        self._size_done += size
        self._maybe_show()

    def file_done(self) -> None:
        self._files_done += 1
        self._maybe_show()

    def finish(self) -> None:
        if self._terminal:
            self._draw()  # the full bar, briefly: a fast copy still shows that it ended
            self._stream.write("\r\x1b[K")  # erase it: the result line takes its place
            self._stream.flush()

    def _maybe_show(self) -> None:
        now = self._clock()
        if now - self._shown < self._interval:
            return
        self._shown = now
        if self._terminal:
            self._draw()
        else:
            self._stream.write(f"pachs3: {self._label}: {self.status()}\n")
            self._stream.flush()

    def _draw(self) -> None:
        fraction = self._size_done / self._size if self._size else 1.0
        filled = round(fraction * _BAR_WIDTH)
        bar = "#" * filled + "-" * (_BAR_WIDTH - filled)
        self._stream.write(f"\r{self._label} [{bar}] {self.status()}\x1b[K")
        self._stream.flush()

    def status(self) -> str:
        """``12.0 MiB of 40.0 MiB (30%), 3 of 10 files, 8.0 MiB/s``."""
        percent = 100 * self._size_done // self._size if self._size else 100
        elapsed = self._clock() - self._started
        rate = self._size_done / elapsed if elapsed > 0 else 0.0
        return (
            f"{_size(self._size_done)} of {_size(self._size)} ({percent}%), "
            f"{self._files_done} of {self._files} file{'' if self._files == 1 else 's'}, "
            f"{_size(rate)}/s"
        )


def _size(size: float) -> str:
    for unit in _UNITS:
        if size < 1024 or unit == _UNITS[-1]:
            return f"{int(size)} {unit}" if unit == "bytes" else f"{size:.1f} {unit}"
        size /= 1024
    raise AssertionError("unreachable")
