"""One job of a spec, start to finish: ``run_job`` checks and pins everything, ``_Job`` runs it.

The order matters to the user: every reason the job cannot start (an unsupported input, a bad
seed, a missing commit) is found before the output commit is opened, so a RunError leaves the
store as it was apart from the seeds the user asked for.
"""

from __future__ import annotations

import shutil
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from contextlib import ExitStack
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TextIO

from pachs3.backends.base import Backend, CommitInfo, CommitRef, NotFound, claim_commit
from pachs3.job_request import JobRequest
from pachs3.runner.datums import Datum, datums_for, unsupported_input
from pachs3.runner.environment import transform_environment
from pachs3.runner.errors import RunError
from pachs3.runner.gateways import GatewayFactory, JobGateway, sidecar_gateway
from pachs3.runner.local_files import commit_paths, ensure_branch, put_directory
from pachs3.runner.pfs import materialize
from pachs3.runner.progress import NO_PROGRESS, Progress
from pachs3.runner.report import JobResult, Printer, format_summary, plural
from pachs3.runner.transform import run_transform
from pachs3.spec import (
    BucketLayout,
    GroupInput,
    JoinInput,
    OtherInput,
    PfsInput,
    PipelineSpec,
    bucket_layout,
    iter_inputs,
)

__all__ = ["ProgressFactory", "run_job"]

ProgressFactory = Callable[[str], Progress]
"""Makes the progress report of one labelled copy (``"seed labresults"``)."""


def run_job(
    spec: PipelineSpec,
    backend: Backend,
    *,
    spec_dir: Path,
    seeds: Mapping[str, Path] | None = None,
    out: TextIO | None = None,
    gateway_factory: GatewayFactory | None = None,
    host: str = "127.0.0.1",
    job_root: Path | None = None,
    progress: ProgressFactory | None = None,
    store_name: str = "",
    store_option: str = "",
) -> JobResult:
    """Run one job of ``spec`` (already validated) against ``backend``; see the package docstring.

    ``seeds`` maps input names to local directories committed to those inputs first. Progress,
    the transform's output (stdout and stderr, merged) and the summary go to ``out``. RunError
    before anything runs when the job cannot start; a failing transform is a JobResult with
    ``status == "failure"``, its output commit finished with the error.

    ``progress(label)`` makes the progress report of each seed (none by default). ``store_name``
    names the store in the summary, and ``store_option`` is what a command needs to reach it
    (``" --store DIR"``), for the summary's next command.
    """
    started = time.monotonic()
    stream = out if out is not None else sys.stdout
    say = Printer(stream)
    factory = gateway_factory or sidecar_gateway
    layout = bucket_layout(spec)
    _refuse_unrunnable(spec)
    cwd = _working_dir(spec, spec_dir)
    _seed_inputs(spec, backend, seeds or {}, say, progress or (lambda label: NO_PROGRESS))
    seeded = time.monotonic()
    file_commits = _resolve_inputs(backend, layout)
    datums = datums_for(spec.input, file_commits, lambda ref: _list_paths(backend, ref))

    output_repo = spec.pipeline.name
    ensure_branch(backend, output_repo, spec.output_branch)
    job_id = uuid.uuid4().hex
    gateway: JobGateway | None = None
    if layout.buckets or layout.output:
        request = JobRequest(
            inputs={bucket.name: bucket.ref for bucket in layout.buckets},
            output=output_repo if layout.output else None,
            output_branch=spec.output_branch,
            job_id=job_id,
            description=f"output of job {job_id} of pipeline {output_repo}",
            provenance=tuple(file_commits.values()),
        )
        gateway = factory(backend, request)
    job = _Job(
        spec=spec, layout=layout, backend=backend, say=say, cwd=cwd, datums=datums,
        file_commits=file_commits, job_id=job_id, gateway=gateway,
        seconds_seeding=seeded - started, store_name=store_name, store_option=store_option,
    )  # fmt: skip
    return job.run(host=host, job_root=job_root)


def _refuse_unrunnable(spec: PipelineSpec) -> None:
    for node in iter_inputs(spec.input):
        if isinstance(node, JoinInput | GroupInput | OtherInput):
            raise RunError(unsupported_input(node))
    if spec.spout is not None or spec.service is not None:
        raise RunError("pachs3 run runs batch pipelines; this spec is a spout or a service")


def _working_dir(spec: PipelineSpec, spec_dir: Path) -> Path:
    cwd = spec_dir / spec.transform.working_dir if spec.transform.working_dir else spec_dir
    if not cwd.is_dir():
        raise RunError(
            f"transform.working_dir: {cwd} is not a directory on this machine (pachs3 runs the "
            "command here, relative to the spec file's directory)"
        )
    return cwd


def _seed_inputs(
    spec: PipelineSpec,
    backend: Backend,
    seeds: Mapping[str, Path],
    say: Printer,
    progress: ProgressFactory,
) -> None:
    # Check every seed before committing any, so that a typo in the second changes nothing.
    targets = [
        (_seed_target(spec, name, directory), directory) for name, directory in seeds.items()
    ]
    for target, directory in targets:
        done = commit_paths(
            backend, target.repo, target.branch, [directory], replace=True,
            description=f"seeded from {directory}", progress=progress(f"seed {target.name}"),
        )  # fmt: skip
        what = f"{plural(done.files, 'file')} ({plural(done.size, 'byte')}) from {directory}"
        where = f"{done.commit.repo}@{done.commit.id} on {target.branch}"
        if done.unchanged:
            say(f"seeded {target.name}: {what}: unchanged, {where} already holds them")
        else:
            say(f"seeded {target.name}: {what} -> {where}")


def _seed_target(spec: PipelineSpec, name: str, directory: Path) -> PfsInput:
    target = next(
        (n for n in iter_inputs(spec.input) if isinstance(n, PfsInput) and n.name == name), None
    )
    if target is None:
        names = sorted(n.name for n in iter_inputs(spec.input) if isinstance(n, PfsInput))
        raise RunError(f"--input {name}=...: the spec has no input named {name!r} (it has {names})")
    if target.commit:
        raise RunError(
            f"--input {name}=...: {target.path}.commit pins the input to commit {target.commit}; "
            "remove the pin to seed it from a directory"
        )
    if not directory.is_dir():
        what = "is a file" if directory.exists() else "does not exist"
        raise RunError(
            f"--input {name}={directory}: {directory} {what}; give the directory whose files "
            f"become the input {name!r} (relative to where pachs3 runs)"
        )
    return target


def _resolve_inputs(backend: Backend, layout: BucketLayout) -> dict[str, CommitRef]:
    """Each non-S3 input's commit, by name; the buckets are only checked to exist here (the
    gateway pins them when the job starts)."""
    file_commits = {
        f.name: _resolve(backend, f.repo, f.commit or f.branch, f.path) for f in layout.files
    }
    for bucket in layout.buckets:
        _resolve(backend, bucket.repo, bucket.commit or bucket.branch, bucket.path)
    return file_commits


def _resolve(backend: Backend, repo: str, ref: str, path: str) -> CommitRef:
    try:
        return backend.inspect_commit(repo, ref).ref
    except NotFound as exc:
        raise RunError(
            f"{path}: {repo}@{ref} does not exist ({exc}); create it with "
            f"`pachs3 put {repo}@{ref} FILES...` or seed it with --input NAME=DIR"
        ) from None


def _list_paths(backend: Backend, ref: CommitRef) -> Iterator[str]:
    return (info.path for info in backend.walk_files(ref))


@dataclass(kw_only=True)
class _Job:
    """One started job: what ``run_job`` pinned, and the counts its datums add up as they run."""

    spec: PipelineSpec
    layout: BucketLayout
    backend: Backend
    say: Printer
    cwd: Path
    datums: list[Datum]
    file_commits: dict[str, CommitRef]
    job_id: str
    gateway: JobGateway | None
    seconds_seeding: float
    store_name: str
    store_option: str
    files_written: int = 0
    bytes_written: int = 0
    transform_exit: int | None = None
    processed: int = 0

    def run(self, *, host: str, job_root: Path | None) -> JobResult:
        spec, gw = self.spec, self.gateway
        started = time.monotonic()
        root = Path(tempfile.mkdtemp(prefix=f"pachs3-job-{self.job_id[:8]}-", dir=job_root))
        own_output: CommitInfo | None = None
        endpoint: str | None = None
        inputs: dict[str, CommitRef] = dict(self.file_commits)
        try:
            with ExitStack() as stack:
                if gw is not None:
                    try:
                        stack.enter_context(gw)
                    except ValueError as exc:  # e.g. an input commit that is still open
                        raise RunError(str(exc)) from None
                # From here on the output commit is open: whatever stops the job (a signal
                # included) must finish it with a reason, never leave it open.
                try:
                    if gw is not None:
                        endpoint = stack.enter_context(gw.serve(host=host, port=0)).endpoint_url
                        self.job_id = gw.job_id or self.job_id
                        inputs = {**gw.input_commits, **inputs}
                    output = gw.output_commit if gw is not None else None
                    if output is None:
                        # No out bucket: the output commit is ours to open (filled from /pfs/out).
                        output = own_output = self._open_output(inputs)
                    self._header(endpoint, inputs, output)
                    error = self._datums(root, endpoint, inputs, output)
                except BaseException as exc:
                    reason = _interrupted(exc)
                    if gw is not None:
                        gw.fail(reason)
                    if own_output is not None:
                        self.backend.finish_commit(own_output.repo, own_output.id, error=reason)
                    raise
                if error and gw is not None:
                    gw.fail(error)
                if own_output is not None:
                    self.backend.finish_commit(own_output.repo, own_output.id, error=error)
                if gw is not None and spec.s3_out:
                    self.files_written += gw.stats.files_written
                    self.bytes_written += gw.stats.bytes_written
                output_id = output.id
        finally:
            shutil.rmtree(root, ignore_errors=True)
        result = self._result(error, output_id, endpoint, inputs)
        result = replace(result, seconds_running=time.monotonic() - started)
        self.say.raw(format_summary(result, store=self.store_name, store_option=self.store_option))
        return result

    def _open_output(self, inputs: Mapping[str, CommitRef]) -> CommitInfo:
        spec = self.spec
        output = self.backend.start_commit(
            spec.pipeline.name,
            spec.output_branch,
            provenance=tuple(inputs.values()),
            empty=True,
            description=f"output of job {self.job_id} of pipeline {spec.pipeline.name}",
        )
        claim_commit(self.backend, output)
        return output

    def _result(
        self,
        error: str | None,
        output_id: str,
        endpoint: str | None,
        inputs: Mapping[str, CommitRef],
    ) -> JobResult:
        return JobResult(
            job_id=self.job_id,
            pipeline=self.spec.pipeline.name,
            status="failure" if error else "success",
            error=error,
            output_commit=self.backend.inspect_commit(self.spec.pipeline.name, output_id),
            datums=len(self.datums),
            datums_processed=self.processed,
            files_written=self.files_written,
            bytes_written=self.bytes_written,
            transform_exit=self.transform_exit,
            endpoint_url=endpoint,
            input_commits=inputs,
            seconds_seeding=self.seconds_seeding,
        )

    def _header(
        self, endpoint: str | None, inputs: Mapping[str, CommitRef], output: CommitInfo
    ) -> None:
        spec, say = self.spec, self.say
        layout = self.layout
        say(f"job {self.job_id} started: pipeline {spec.pipeline.name}")
        if endpoint:
            say(f"  S3_ENDPOINT={endpoint}")
        for bucket in layout.buckets:
            say(f"  bucket s3://{bucket.name} -> {inputs[bucket.name]} (read-only)")
        if layout.output:
            say(f"  bucket s3://out -> {output.repo}@{output.id} (output, starts empty)")
        for file_input in layout.files:
            say(f"  input /pfs/{file_input.name} -> {inputs[file_input.name]} glob "
                f"{file_input.glob}")  # fmt: skip
        if not layout.output:
            say(f"  output /pfs/out -> {output.repo}@{output.id}")
        say(f"  {plural(len(self.datums), 'datum')}")
        if spec.transform.image:
            say(f"  image {spec.transform.image} is not pulled: transform.cmd runs on this machine")
        ignored = spec.ignored_fields()
        if ignored:
            say(f"  not used here: {', '.join(ignored)}")

    def _datums(
        self,
        root: Path,
        endpoint: str | None,
        inputs: Mapping[str, CommitRef],
        output: CommitInfo,
    ) -> str | None:
        total = len(self.datums)
        buckets = {bucket.name: inputs[bucket.name] for bucket in self.layout.buckets}
        for index, datum in enumerate(self.datums, 1):
            datum_id = datum.id(buckets)
            self.say(f"datum {index}/{total} ({datum.describe()}) id {datum_id[:12]}")
            pfs = root / "pfs"
            shutil.rmtree(pfs, ignore_errors=True)
            paths = materialize(
                self.backend, pfs, datum, self.layout, s3_out=self.spec.s3_out, say=self.say
            )
            env = transform_environment(
                self.spec,
                job_id=self.job_id,
                pfs=pfs,
                endpoint=endpoint,
                inputs=inputs,
                output_id=output.id,
                datum_id=datum_id,
                paths=paths,
            )
            code = run_transform(self.spec.transform, env, self.cwd, self.say)
            self.transform_exit = code
            self.processed += 1
            if not self.spec.s3_out:
                self._upload_out(pfs / "out", output)
            if code != 0:
                reason = (
                    f"transform exited with status {code}"
                    if code > 0
                    else f"transform was killed by signal {-code}"
                )
                return f"{reason} on datum {index}/{total} ({datum.describe()})"
            self.say(f"datum {index}/{total} done")
        return None

    def _upload_out(self, out_dir: Path, output: CommitInfo) -> None:
        for info in put_directory(self.backend, out_dir, output.ref):
            self.files_written += 1
            self.bytes_written += info.size


def _interrupted(exc: BaseException) -> str:
    if isinstance(exc, KeyboardInterrupt):
        return "job interrupted"
    return f"job aborted: {type(exc).__name__}: {exc}"
