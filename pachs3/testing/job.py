"""``SidecarJob``: one sidecar job for a test, from seeded inputs to the output's bytes.

Entering the job commits each input given as data, pins the inputs, opens the output commit,
serves the gateway on 127.0.0.1 (or, with ``in_process=True``, answers boto3's default
session in-process) and points the environment at it. Leaving it finishes the output commit
(with the error when the block raised) and undoes everything else; ``files`` then holds the
output as ``{path: bytes}``.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any

from pachs3.backends.base import Backend, CommitInfo, CommitRef
from pachs3.backends.contents import read_commit
from pachs3.gateway import SidecarGateway
from pachs3.runner.local_files import commit_files, commit_paths
from pachs3.testing.environment import (
    DefaultSessionHook,
    EnvironmentPatch,
    forget_cached_filesystems,
)
from pachs3.worker import worker_environment

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

__all__ = ["IN_PROCESS_ENDPOINT", "InputSource", "SidecarJob"]

InputSource = Mapping[str, bytes | str] | Path | str | CommitRef | CommitInfo
"""One input of a job:

- ``{"a.csv": b"...", "dir/b.csv": "text"}``: committed as the whole content of the repo named
  after the input (branch ``master``); ``str`` values are stored as UTF-8;
- a ``Path``: the files below that directory, committed the same way;
- ``"repo@branch_or_commit"`` (or ``"repo"``), a ``CommitRef`` or a ``CommitInfo``: a commit
  already in the store, e.g. another job's output.
"""

IN_PROCESS_ENDPOINT = "http://pachs3.local"
"""The endpoint URL the environment names when the job is served in-process (no socket)."""

_SEED_BRANCH = "master"


class SidecarJob:
    """A sidecar job over ``backend`` for the duration of a ``with`` block.

    >>> with SidecarJob(store, inputs={"labresults": {"a.csv": b"1"}}, output="stats") as job:
    ...     code_under_test()              # boto3.client("s3") finds the gateway by itself
    >>> job.files
    {'summary.csv': b'...'}

    In the block: ``endpoint_url``, ``s3`` (a boto3 client on the gateway), ``inputs`` (the
    pinned input commits), ``environ`` (the variables set), ``gateway``, ``fail(reason)``.
    After it: ``commit`` (the finished output commit, ``error`` set on failure) and ``files``.
    """

    def __init__(
        self,
        backend: Backend,
        *,
        inputs: Mapping[str, InputSource] | None = None,
        output: str = "output",
        in_process: bool = False,
        job_id: str | None = None,
        description: str = "",
    ) -> None:
        self.backend = backend
        self.output = output
        self.in_process = in_process
        self._sources = dict(inputs or {})
        self._job_id = job_id
        self._description = description
        self.gateway: SidecarGateway | None = None
        self.inputs: dict[str, CommitRef] = {}
        self.environ: dict[str, str] = {}
        self.endpoint_url = ""
        self._commit: CommitInfo | None = None
        self._running = False
        self._s3: Any = None
        self._patch: EnvironmentPatch | None = None
        self._session = DefaultSessionHook(None)

    # -- lifecycle --------------------------------------------------------------------------

    def __enter__(self) -> SidecarJob:
        if self.gateway is not None:
            raise RuntimeError("a SidecarJob runs once; make a new one for the next job")
        pinned = self._pin_inputs()
        gateway = SidecarGateway(
            self.backend,
            inputs=pinned,
            output=self.output,
            job_id=self._job_id,
            description=self._description,
        )
        self.gateway = gateway.__enter__()
        try:
            self._start(gateway)
        except BaseException as exc:
            self._stop(type(exc), exc, exc.__traceback__)
            raise
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._stop(exc_type, exc, tb)

    def fail(self, reason: str) -> None:
        """Finish the output commit with ``reason`` as its error when the block ends."""
        self._gateway().fail(reason)

    # -- what the test reads ----------------------------------------------------------------

    @property
    def s3(self) -> S3Client:
        """A boto3 S3 client answered by the job's gateway in-process (made on first use)."""
        if self._s3 is None:
            self._s3 = self._gateway().client()
        return self._s3  # type: ignore[no-any-return]

    @property
    def commit(self) -> CommitInfo:
        """The output commit: open during the block, finished (with any error) after it."""
        if self._commit is None:
            raise RuntimeError("the job has not started: use it as `with ... as job:`")
        return self._commit

    @property
    def files(self) -> dict[str, bytes]:
        """The finished output commit's files, path -> bytes (read when asked)."""
        if self._running or self._commit is None:
            raise RuntimeError("job.files is the finished output: read it after the with block")
        return read_commit(self.backend, self._commit)

    # -- internals --------------------------------------------------------------------------

    def _pin_inputs(self) -> dict[str, str | CommitRef]:
        """Commit the inputs given as data (all checked first: a bad one commits nothing)."""
        checked = {name: _checked(name, source) for name, source in self._sources.items()}
        pinned: dict[str, str | CommitRef] = {}
        for name, source in checked.items():
            if isinstance(source, Path):
                seeded = commit_paths(self.backend, name, _SEED_BRANCH, [source], replace=True)
            elif isinstance(source, dict):
                seeded = commit_files(self.backend, name, _SEED_BRANCH, source, replace=True)
            else:
                pinned[name] = source
                continue
            pinned[name] = seeded.commit.ref
        return pinned

    def _start(self, gateway: SidecarGateway) -> None:
        self._running = True
        self._commit = gateway.output_commit
        self.inputs = gateway.input_commits
        hook = None
        if self.in_process:
            from pachs3.transports.boto import before_send_hook

            self.endpoint_url = IN_PROCESS_ENDPOINT
            hook = before_send_hook(gateway, endpoint_host="pachs3.local")
        else:
            self.endpoint_url = _serve(gateway)
        self.environ = {
            **worker_environment(
                job_id=gateway.job_id or "",
                pipeline=self.output,
                endpoint_url=self.endpoint_url,
                input_commits={name: ref.id for name, ref in self.inputs.items()},
                output_commit=self._commit.id if self._commit else None,
            ),
            "AWS_ENDPOINT_URL_S3": self.endpoint_url,
            "AWS_ENDPOINT_URL": self.endpoint_url,
        }
        self._patch = EnvironmentPatch(self.environ)
        self._patch.apply()
        self._session = DefaultSessionHook(hook)
        self._session.apply()
        forget_cached_filesystems()

    def _stop(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        try:
            self._session.restore()
            if self._patch is not None:
                self._patch.restore()
            forget_cached_filesystems()
        finally:
            gateway, self._running = self._gateway(), False
            gateway.__exit__(exc_type, exc, tb)
            self._commit = gateway.finished_commit or self._commit

    def _gateway(self) -> SidecarGateway:
        if self.gateway is None:
            raise RuntimeError("the job has not started: use it as `with ... as job:`")
        return self.gateway


def _serve(gateway: SidecarGateway) -> str:
    try:
        server = gateway.serve()
    except ModuleNotFoundError as exc:
        raise RuntimeError(
            f"serving the job over HTTP needs the server extra ({exc.name} is missing): "
            "pip install 'pachs3[server]', or pass in_process=True"
        ) from exc
    return str(server.endpoint_url)


def _checked(name: str, source: InputSource) -> str | CommitRef | Path | dict[str, bytes]:
    if isinstance(source, CommitInfo):
        return source.ref
    if isinstance(source, str | CommitRef):
        return source
    if isinstance(source, Path):
        if not source.is_dir():
            raise ValueError(f"input {name!r}: {source} is not a directory")
        return source
    return {path: _as_bytes(name, path, value) for path, value in source.items()}


def _as_bytes(name: str, path: str, value: object) -> bytes:
    if isinstance(value, str):
        return value.encode("utf-8")
    if isinstance(value, bytes | bytearray | memoryview):
        return bytes(value)
    raise TypeError(
        f"input {name!r}, file {path!r}: expected bytes or str, got {type(value).__name__}"
    )
