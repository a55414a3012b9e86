"""The PFS double's file RPCs (see ``pfs_double.py``): ModifyFile, InspectFile, WalkFile, GetFile,
as pachd 2.6 answers them."""

from __future__ import annotations

import functools
import time
from collections.abc import Iterator
from typing import Any

import grpc

# protobuf 3.20 ships no type hints (types-protobuf is not a dependency)
from google.protobuf import (  # type: ignore[import-untyped,unused-ignore]
    empty_pb2,
    wrappers_pb2,
)
from pfs_double_core import FILE, READ_CHUNK, Abort, DoubleCore, not_found, unknown
from pfs_model import (
    Commit,
    Operation,
    Repo,
    add,
    clean,
    copy,
    delete,
    glob_matcher,
    validate_filename,
)


class FileRPCs(DoubleCore):
    # -- files ---------------------------------------------------------------------------------

    def ModifyFile(self, request_iterator: Iterator[Any], context: Any) -> Any:
        """One ModifyFile stream: its operations are collected while the stream runs and added
        to the commit as one diff when it ends, like pachd (``withCommitUnorderedWriter`` ->
        ``AddFileSet``). Concurrent calls into one commit therefore all land (the parts of a
        multipart upload are written in parallel). Paths are validated as they arrive."""
        self._count("ModifyFile")
        target: tuple[Repo, Commit] | None = None
        operations: list[Operation] = []
        written: set[tuple[str, str]] = set()  # (path, datum) this call wrote so far
        body = False
        try:
            for request in request_iterator:
                op = request.WhichOneof("body")
                if op == "set_commit":
                    with self.lock:
                        target = (
                            self._commit_repo(request.set_commit),
                            self._commit(request.set_commit),
                        )
                        if target[1].finishing is not None:
                            raise self._finished_already(*target)
                    continue
                if target is None:
                    raise unknown("no commit set")
                if op == "add_file":
                    add_file = request.add_file
                    self._validate(add_file.path)
                    if add_file.WhichOneof("source") not in ("raw", None):
                        raise Abort(grpc.StatusCode.UNIMPLEMENTED, "only raw sources")
                    data = add_file.raw.value
                    body = body or bool(data)
                    operations.append(
                        functools.partial(
                            add, path=clean(add_file.path), datum=add_file.datum, data=data
                        )
                    )
                    written.add((clean(add_file.path), add_file.datum))
                elif op == "delete_file":
                    self._validate(request.delete_file.path)
                    gone = request.delete_file.path
                    written -= {
                        k
                        for k in written
                        if k[1] == request.delete_file.datum
                        and (k[0] == clean(gone) or (gone.endswith("/") and k[0].startswith(gone)))
                    }
                    operations.append(
                        functools.partial(
                            delete, path=request.delete_file.path, datum=request.delete_file.datum
                        )
                    )
                elif op == "copy_file":
                    operations.append(self._copy_operation(request.copy_file, written))
        except grpc.RpcError:
            return empty_pb2.Empty()  # the client went away: nothing is applied
        if body and self._cancelled(context):
            return empty_pb2.Empty()
        if target is not None and operations:
            with self.lock:
                if target[1].finishing is not None:
                    raise self._finished_already(*target)
                target[1].diffs.append(operations)
        return empty_pb2.Empty()

    @staticmethod
    def _validate(path: str) -> None:
        problem = validate_filename(path)
        if problem is not None:
            raise unknown(problem)

    @staticmethod
    def _cancelled(context: Any) -> bool:
        """Whether the client cancelled rather than half-closed the stream.

        Go's Recv tells the two apart; Python's server ends the request iterator the same way
        for both and learns of a cancellation a moment later, so look for a few milliseconds
        (only for streams that carried a body: those are the ones a client abandons).
        """
        deadline = time.monotonic() + 0.005
        while time.monotonic() < deadline:
            if not context.is_active():
                return True
            time.sleep(0.0005)
        return not context.is_active()

    def _copy_operation(self, request: Any, written: set[tuple[str, str]]) -> Operation:
        """CopyFile: the source (a path and everything under it, every datum) is read when the
        request arrives; applying it writes (or appends) the copies under the destination, in
        the request's datum."""
        with self.lock:
            repo = self._commit_repo(request.src.commit)
            files = self._files(repo, self._commit(request.src.commit))
        src = clean(request.src.path)
        dst = clean(request.dst)
        copies: dict[tuple[str, str], bytes] = {}
        for (path, _datum), file in sorted(files.items()):
            if path == src or path.startswith(src.rstrip("/") + "/"):
                key = (dst + path[len(src) :], request.datum)
                copies[key] = copies.get(key, b"") + file.data
        again = set(copies) & written
        written.update(copies)
        return functools.partial(copy, copies=copies, append=request.append, again=again)

    def _read_view(
        self, pb_file: Any
    ) -> tuple[Repo, Commit, dict[str, tuple[int, bytes]], dict[str, int]]:
        """The commit's entries, and how many index entries pachd keeps per path (more than
        one: several datums, or several CopyFile(append) of it in one call)."""
        repo = self._commit_repo(pb_file.commit)
        commit = self._commit(pb_file.commit)
        files = self._files(repo, commit)
        counts: dict[str, int] = {}
        for (path, _datum), file in files.items():
            counts[path] = counts.get(path, 0) + file.entries
        return repo, commit, self._entries(files), counts

    @staticmethod
    def _file_not_found(repo: Repo, commit: Commit, path: str) -> Abort:
        return not_found(
            f"file {path} not found in repo {repo.project}/{repo.name} at commit {commit.id}"
        )

    def InspectFile(self, request: Any, context: Any) -> Any:
        self._count("InspectFile")
        with self.lock:
            repo, commit, entries, _ = self._read_view(request.file)
            path = clean(request.file.path)
            for candidate in (path, path.rstrip("/") + "/"):
                if candidate in entries:
                    return self._file_info(repo, commit, entries, candidate)
            raise self._file_not_found(repo, commit, path)

    def WalkFile(self, request: Any, context: Any) -> Iterator[Any]:
        self._count("WalkFile")
        with self.lock:
            repo, commit, entries, counts = self._read_view(request.file)
            root = clean(request.file.path)
            root = "" if root == "/" else root
            marker = request.paginationMarker.path if request.HasField("paginationMarker") else None
            selected = [
                path
                for path in sorted(entries, key=lambda p: p.encode())
                if path == root or path == root + "/" or path.startswith(root + "/")
            ]
            if not selected and root:
                raise not_found(f"commit/{commit.id} does not contain item: ({root})")
            if marker is not None:
                # The marker bounds a path range (index/reader.go): the lower bound, itself
                # included; reversed, the upper bound, itself excluded.
                bound = marker.encode()
                if request.reverse:
                    selected = [p for p in selected if p.encode() < bound]
                else:
                    selected = [p for p in selected if p.encode() >= bound]
            if request.reverse:
                selected.reverse()
            infos = []
            for path in selected:
                info = self._file_info(repo, commit, entries, path)
                infos += [info] * counts.get(path, 1)
            if request.number:
                infos = infos[: request.number]
        yield from infos

    def GetFile(self, request: Any, context: Any) -> Iterator[Any]:
        self._count("GetFile")
        with self.lock:
            repo, commit, entries, counts = self._read_view(request.file)
            pattern = clean(request.file.path)
            match = glob_matcher(pattern)
            matched = [p for p, (kind, _) in sorted(entries.items()) if kind == FILE and match(p)]
            if not matched:
                raise self._file_not_found(repo, commit, pattern)
            if len(matched) == 1 and counts.get(matched[0], 1) > 1:
                raise unknown("matched multiple files. Use GetFileTAR instead")
            data = b"".join(entries[p][1] for p in matched)[request.offset :]
        faults = self.faults
        sent = 0
        for start in range(0, len(data), READ_CHUNK):
            piece = data[start : start + READ_CHUNK]
            if faults.truncate_after is not None and sent + len(piece) > faults.truncate_after:
                piece = piece[: max(0, faults.truncate_after - sent)]
                if piece:
                    yield wrappers_pb2.BytesValue(value=piece)
                return
            if faults.abort_after is not None and sent + len(piece) > faults.abort_after:
                piece = piece[: max(0, faults.abort_after - sent)]
                if piece:
                    yield wrappers_pb2.BytesValue(value=piece)
                raise Abort(grpc.StatusCode.INTERNAL, "storage backend read failed")
            sent += len(piece)
            yield wrappers_pb2.BytesValue(value=piece)
