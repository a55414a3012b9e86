"""SidecarGateway: one job's buckets over S3, and the single funnel every transport calls.

A job maps each input name to a pinned, finished input commit (read-only bucket) and ``out`` to
a new output commit (empty, provenance = the input commits). Leaving the job finishes the output
commit, or finishes it with the error when the job failed, so that nothing a failed job wrote
looks like a successful output. Requests are handled by ``handle()``:

    RequestHead -> parse -> classify -> plan (layout) -> execute (backend) -> respond -> S3Response

in two steps (``exchange.py``): ``prepare(head)`` up to the plan, pure and cheap, and
``run(body)`` from execute on; ``handle`` is both back to back.

Transports (ASGI app, threaded server, in-process boto3 hook) only build a RequestHead and a
body iterator and write the S3Response back; they depend on the ``Handler`` protocol, not on
this module, which is what lets the gateway offer them as methods (``transport_methods.py``,
shared with ``GlobalGateway``).
"""

from __future__ import annotations

import logging
import secrets
import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from types import TracebackType

from pachs3 import accel
from pachs3.backends.base import Backend, CommitInfo, CommitRef, claim_commit
from pachs3.core.http import RequestHead
from pachs3.core.layout import OUTPUT_BUCKET, Bucket, SidecarLayout
from pachs3.core.multipart import STAGING_REPO
from pachs3.core.outcomes import FileCopied, FileWritten, Outcome, PartsComposed
from pachs3.defaults import DEFAULT_BRANCH
from pachs3.exchange import Exchange, prepare
from pachs3.executor import Store
from pachs3.job_request import JobRequest
from pachs3.multipart import discard_uploads
from pachs3.transport_methods import Transports

log = logging.getLogger("pachs3")


@dataclass(frozen=True, slots=True, kw_only=True)
class Job:
    """One job the gateway serves: its pinned inputs and its open output commit."""

    id: str
    inputs: Mapping[str, CommitRef]
    output: CommitInfo | None
    started: datetime


@dataclass(slots=True)
class Stats:
    """What the current gateway has written to ``out`` (successful object writes)."""

    files_written: int = 0
    bytes_written: int = 0
    requests: int = 0
    errors: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def count(self, outcome: Outcome | None, *, failed: bool) -> None:
        with self._lock:
            self.requests += 1
            if failed:
                self.errors += 1
            if isinstance(outcome, FileWritten | FileCopied | PartsComposed):
                self.files_written += 1
                self.bytes_written += outcome.info.size


def parse_input(spec: str | CommitRef) -> tuple[str, str]:
    """``repo``, ``repo@branch`` or ``repo@commit`` -> (repo, branch or commit)."""
    if isinstance(spec, CommitRef):
        return spec.repo, spec.id
    repo, _, at = spec.partition("@")
    if not repo:
        raise ValueError(f"input {spec!r} names no repo (expected REPO[@BRANCH_OR_COMMIT])")
    return repo, at or DEFAULT_BRANCH


class SidecarGateway(Transports):
    """Serve one job's commits as S3 buckets: inputs read-only, ``out`` read-your-writes.

    >>> with SidecarGateway(store, inputs={"labresults": "labresults@master"},
    ...                     output="my_pipeline") as gateway:
    ...     s3 = gateway.client()
    ...     s3.copy_object(Bucket="out", Key="a.csv",
    ...                    CopySource={"Bucket": "labresults", "Key": "a.csv"})

    Entering resolves every input (a branch to its head, now), opens the output commit and
    starts nothing else; ``client()``, ``attach()``, ``serve()`` and ``asgi()`` expose it.
    Leaving finishes the output commit (with the error if the block raised or ``fail()`` was
    called) and stops every transport the gateway started.
    """

    def __init__(
        self,
        backend: Backend,
        *,
        job: JobRequest | None = None,
        inputs: Mapping[str, str | CommitRef] | None = None,
        output: str | None = None,
        output_branch: str = DEFAULT_BRANCH,
        job_id: str | None = None,
        description: str = "",
        provenance: Sequence[CommitRef] = (),
        staging_repo: str = STAGING_REPO,
        credentials: Mapping[str, str] | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        """``credentials`` (access key -> secret) turns on strict SigV4: every request must be
        signed with one of them (header or presigned form, signed chunks included), else 403.
        Off by default, as Pachyderm's sidecar needs no authentication. ``clock`` is the time
        request dates are checked against (a test can pin it).

        The job begun on ``__enter__`` is ``job``, or the one the keywords ``inputs`` to
        ``provenance`` describe (a shorthand for ``job=JobRequest(...)``; not both)."""
        accel.install_once()
        self.backend = backend
        self._store = Store.of(backend)
        self._credentials = dict(credentials) if credentials is not None else None
        self._clock = clock
        spelled = JobRequest(
            inputs=dict(inputs or {}),
            output=output,
            output_branch=output_branch,
            job_id=job_id,
            description=description,
            provenance=tuple(provenance),
        )
        if job is not None and spelled != JobRequest():
            raise TypeError("give the job as job=JobRequest(...) or as keywords, not both")
        self._first_job = job if job is not None else spelled
        self._staging_repo = staging_repo
        self._layout = SidecarLayout(staging_repo=staging_repo)
        self._job: Job | None = None
        self._finished: CommitInfo | None = None
        self._failure: str | None = None
        self._lock = threading.Lock()
        self._init_transports()
        self.stats = Stats()

    # -- job lifecycle ----------------------------------------------------------------------

    def __enter__(self) -> SidecarGateway:
        self.begin_job(self._first_job)
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        error = self._failure
        if exc is not None and error is None:
            error = f"{type(exc).__name__}: {exc}"
        try:
            if self._job is not None:
                self.end_job(error=error)
        finally:
            self.close()

    def begin_job(self, job: JobRequest) -> Job:
        """Pin the inputs, open the output commit and switch the buckets to this job at once.

        The output commit's provenance is the pinned input commits plus ``job.provenance``: the
        commits of inputs that are not buckets (a non-S3 input crossed with an S3 one).
        """
        inputs, output, provenance = job.inputs, job.output, job.provenance
        with self._lock:
            if self._job is not None:
                raise RuntimeError(f"job {self._job.id} is still running; end it first")
            pinned = {name: self._pin(name, spec) for name, spec in inputs.items()}
            if output is not None and OUTPUT_BUCKET in pinned:
                raise ValueError("an input cannot be named 'out' when the job has an output")
            buckets = [
                Bucket(name=name, ref=info.ref, writable=False, created=_created(info))
                for name, info in pinned.items()
            ]
            out_commit: CommitInfo | None = None
            if output is not None:
                self.backend.create_repo(output, exist_ok=True)
                out_commit = self.backend.start_commit(
                    output,
                    job.output_branch,
                    provenance=_unique([*(info.ref for info in pinned.values()), *provenance]),
                    description=job.description or "output of a pachs3 sidecar job",
                    empty=True,
                )
                claim_commit(self.backend, out_commit)  # finished as failed if we die first
                buckets.append(
                    Bucket(
                        name=OUTPUT_BUCKET,
                        ref=out_commit.ref,
                        writable=True,
                        created=out_commit.started,
                        history="own",
                    )
                )
            begun = Job(
                id=job.job_id or (out_commit.id if out_commit else secrets.token_hex(16)),
                inputs={name: info.ref for name, info in pinned.items()},
                output=out_commit,
                started=datetime.now(UTC),
            )
            self._failure = None
            self.stats = Stats()
            # One assignment: a request in flight sees the old layout or the new, never a mix.
            self._layout = SidecarLayout.of(buckets, staging_repo=self._staging_repo)
            self._job = begun
            return begun

    def end_job(self, error: str | None = None) -> CommitInfo | None:
        """Finish the job's output commit (with ``error`` when it failed); buckets go away.

        Returns the finished output commit (None for a job without output), which stays
        readable as ``finished_commit``.
        """
        with self._lock:
            job = self._job
            if job is None:
                raise RuntimeError("no job is running")
            self._layout = SidecarLayout(staging_repo=self._staging_repo)
            self._job = None
            self._finished = None
            if job.output is None:
                return None
            discard_uploads(self.backend, self._staging_repo, job.output.ref)
            self._finished = self.backend.finish_commit(job.output.repo, job.output.id, error=error)
            return self._finished

    def fail(self, reason: str) -> None:
        """Mark the current job failed: leaving the gateway records ``reason`` on the output."""
        self._failure = reason

    @property
    def job(self) -> Job | None:
        return self._job

    @property
    def job_id(self) -> str | None:
        return self._job.id if self._job else None

    @property
    def input_commits(self) -> dict[str, CommitRef]:
        return dict(self._job.inputs) if self._job else {}

    @property
    def output_commit(self) -> CommitInfo | None:
        """The running job's output commit, open; None between jobs."""
        return self._job.output if self._job else None

    @property
    def finished_commit(self) -> CommitInfo | None:
        """The output commit of the job that ended last, as finished (``error`` set when the
        job failed); stays after the ``with`` block. None before a job with an output ended."""
        return self._finished

    @property
    def layout(self) -> SidecarLayout:
        return self._layout

    def _pin(self, name: str, spec: str | CommitRef) -> CommitInfo:
        repo, at = parse_input(spec)
        info = self.backend.inspect_commit(repo, at)
        if info.is_open:
            raise ValueError(
                f"input {name!r} ({repo}@{at}) is an open commit; inputs must be finished"
            )
        return info

    # -- the funnel -------------------------------------------------------------------------

    def prepare(self, head: RequestHead) -> Exchange:
        """The first half of ``handle``: what ``head`` asks for, decided without I/O (so a
        transport may call it on an event loop). ``refusal`` is set when the head alone decided
        the answer; otherwise ``run(body)`` finishes the request (blocking)."""
        return prepare(
            head,
            layout=self._layout,
            store=self._store,
            credentials=self._credentials,
            now=self._clock,
            count=self._count,
        )

    def _count(self, outcome: Outcome | None, failed: bool) -> None:
        self.stats.count(outcome, failed=failed)


def _unique(refs: Iterable[CommitRef]) -> list[CommitRef]:
    return list(dict.fromkeys(refs))


def _created(info: CommitInfo) -> datetime:
    return info.finished or info.started
