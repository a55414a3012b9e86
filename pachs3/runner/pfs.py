"""One datum laid out as files under a local ``/pfs``, the way a worker pod sees it."""

from __future__ import annotations

from pathlib import Path, PurePosixPath

from pachs3.backends.base import Backend, CommitRef
from pachs3.runner.datums import Datum
from pachs3.runner.report import Printer
from pachs3.spec import BucketLayout

__all__ = ["materialize"]


def materialize(
    backend: Backend,
    pfs: Path,
    datum: Datum,
    layout: BucketLayout,
    *,
    s3_out: bool,
    say: Printer,
) -> dict[str, str]:
    """Write the datum's files under ``pfs/<name>/``; returns ``{name: datum path}``.

    Every input gets its directory, S3 inputs an empty one (as Pachyderm gives them), and
    ``pfs/out`` is made for the transform's output unless the output is the ``out`` bucket.
    """
    pfs.mkdir(parents=True)
    for bucket in layout.buckets:
        (pfs / bucket.name).mkdir(exist_ok=True)
    for file_input in layout.files:
        (pfs / file_input.name).mkdir(exist_ok=True)
    if not s3_out:
        (pfs / "out").mkdir()
    paths: dict[str, str] = {}
    for part in datum.parts:
        base = pfs / part.input.name
        prefix = part.path.strip("/")
        for info in backend.walk_files(part.commit, prefix=prefix):
            # walk_files matches by string prefix: "/a" must not take in "ab.csv".
            if prefix and info.path != prefix and not info.path.startswith(prefix + "/"):
                continue
            relative = _safe_relative(info.path)
            if relative is None:
                say(f"  skipping {part.input.name}:{info.path!r} (not a file path)")
                continue
            _write(backend, part.commit, info.path, base.joinpath(*relative.parts))
        paths[part.input.name] = str(base.joinpath(*PurePosixPath(prefix).parts))
    return paths


def _write(backend: Backend, ref: CommitRef, path: str, target: Path) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    stream = backend.read_file(ref, path)
    try:
        with target.open("wb") as fh:
            for chunk in stream:
                fh.write(chunk)
    finally:
        stream.close()


def _safe_relative(path: str) -> PurePosixPath | None:
    """A stored path as a relative local path, or None if it cannot be one safely.

    S3 keys may hold ``..``, empty segments or a trailing ``/`` (a directory marker); none of
    those can be laid out under ``/pfs/<name>`` without escaping it or clashing with a directory.
    """
    parts = path.split("/")
    if not path or path.endswith("/") or any(p in ("", ".", "..") for p in parts):
        return None
    return PurePosixPath(*parts)
