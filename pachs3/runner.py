"""Run one job of a pipeline spec on this machine, the way a Pachyderm worker would.

``pachs3 run pipeline.json`` is this module: seed inputs from local directories, pin every input
to a commit, start the sidecar gateway on loopback, run ``transform.cmd`` once per datum with the
worker environment, and finish the output commit (with the error when the transform fails) with
the job's input commits as provenance.

What stands in for the worker pod:

- ``image`` is not pulled: ``cmd`` runs here, with the running interpreter's ``bin`` directory
  first on ``PATH`` (so the ``aws`` and ``python3`` of pachs3's own environment are found).
- ``/pfs`` is a per-job temporary directory (``/pfs`` itself needs root): ``$PFS_ROOT`` points at
  it, and, as in Pachyderm, ``$<input name>`` points at the current datum's file under it. S3
  inputs get an empty ``$PFS_ROOT/<name>``, as Pachyderm gives them an empty ``/pfs/<name>``.
- Without ``s3_out``, what the transform leaves in ``$PFS_ROOT/out`` is uploaded to the output
  commit after each datum.
- The transform runs in the spec file's directory (or ``transform.working_dir`` relative to it).

Datums follow Pachyderm: an S3 input is one datum (the whole bucket); a non-S3 input has one
datum per path its glob matches (``/`` the whole commit, ``/*`` each top-level file or directory,
``/*/*`` each second-level one, ``/*.csv`` top-level CSV files; ``**``, ``?``, ``[...]`` and
``{a,b}`` work too); a cross multiplies its members' datums, a union concatenates them.
"""

from __future__ import annotations

import codecs
import contextlib
import hashlib
import itertools
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, ExitStack
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from types import TracebackType
from typing import IO, Literal, Protocol, TextIO

from pachs3.backends.base import (
    Backend,
    CommitInfo,
    CommitRef,
    NotFound,
    RepoAdmin,
    commit,
)
from pachs3.spec import (
    BucketLayout,
    CrossInput,
    FileInput,
    GroupInput,
    Input,
    JoinInput,
    OtherInput,
    PfsInput,
    PipelineSpec,
    UnionInput,
    bucket_layout,
    iter_inputs,
)
from pachs3.worker import worker_environment

__all__ = [
    "Datum",
    "GatewayFactory",
    "JobGateway",
    "JobResult",
    "RunError",
    "commit_paths",
    "ensure_branch",
    "datums_for",
    "format_summary",
    "glob_matches",
    "run_job",
    "sidecar_gateway",
]

_CHUNK = 1 << 20


class RunError(Exception):
    """The job cannot start as asked (a usage problem: the CLI exits 2); nothing ran."""


# --------------------------------------------------------------------------------------------
# What the runner needs from a gateway (SidecarGateway satisfies it; tests may pass a fake)


class _Server(Protocol):
    @property
    def endpoint_url(self) -> str: ...


class _Stats(Protocol):
    @property
    def files_written(self) -> int: ...

    @property
    def bytes_written(self) -> int: ...


class JobGateway(Protocol):
    @property
    def job_id(self) -> str | None: ...

    @property
    def input_commits(self) -> Mapping[str, CommitRef]: ...

    @property
    def output_commit(self) -> CommitInfo | None: ...

    @property
    def stats(self) -> _Stats: ...

    def serve(self, host: str = ..., port: int = ...) -> AbstractContextManager[_Server]: ...

    def fail(self, reason: str) -> None: ...

    def __enter__(self) -> object: ...

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> bool | None: ...


class GatewayFactory(Protocol):
    """How the runner makes a job's gateway (tests may pass one that makes a fake).

    ``provenance`` lists the job's non-S3 input commits: the output commit derives from them
    too, though they are not buckets.
    """

    def __call__(
        self,
        backend: Backend,
        *,
        inputs: Mapping[str, str],
        output: str | None,
        output_branch: str,
        job_id: str | None,
        description: str,
        provenance: Sequence[CommitRef],
    ) -> JobGateway: ...


def sidecar_gateway(
    backend: Backend,
    *,
    inputs: Mapping[str, str],
    output: str | None,
    output_branch: str,
    job_id: str | None,
    description: str,
    provenance: Sequence[CommitRef],
) -> JobGateway:
    """The default GatewayFactory: a ``SidecarGateway``."""
    from pachs3.gateway import SidecarGateway

    return SidecarGateway(
        backend,
        inputs=inputs,
        output=output,
        output_branch=output_branch,
        job_id=job_id,
        description=description,
        provenance=provenance,
    )


# --------------------------------------------------------------------------------------------
# Committing local files


def commit_paths(
    backend: Backend,
    repo: str,
    branch: str,
    paths: Sequence[Path],
    *,
    replace: bool = False,
    description: str = "",
) -> tuple[CommitInfo, int, int]:
    """Commit local files as one new commit on ``repo@branch`` (repo and branch made if needed).

    A file is stored under its own name; a directory contributes every file below it, by its
    path relative to that directory. ``replace`` starts the commit empty (the branch then holds
    exactly these files), else they are added over the branch head's files. Returns the finished
    commit, the number of files and of bytes.
    """
    entries = sorted(_local_files(paths), key=lambda entry: entry[0])
    seen: dict[str, Path] = {}
    for key, local in entries:
        if key in seen:
            raise RunError(f"{local} and {seen[key]} would both be stored as {key!r}")
        seen[key] = local
    ensure_branch(backend, repo, branch)
    files = size = 0
    with commit(backend, repo, branch, description=description, empty=replace) as info:
        for key, local in entries:
            with local.open("rb") as fh:
                written = backend.put_file(info.ref, key, _chunks(fh))
            files += 1
            size += written.size
    return backend.inspect_commit(repo, info.id), files, size


def _chunks(fh: IO[bytes]) -> Iterator[bytes]:
    while chunk := fh.read(_CHUNK):
        yield chunk


def _local_files(paths: Sequence[Path]) -> Iterator[tuple[str, Path]]:
    for path in paths:
        if path.is_dir():
            for local in sorted(path.rglob("*")):
                if local.is_file():
                    yield local.relative_to(path).as_posix(), local
        elif path.is_file():
            yield path.name, path
        else:
            raise RunError(f"{path}: no such file or directory")


def ensure_branch(backend: RepoAdmin, repo: str, branch: str) -> None:
    """Create ``repo`` and its ``branch`` (empty) unless they exist."""
    backend.create_repo(repo, exist_ok=True)
    try:
        backend.inspect_branch(repo, branch)
    except NotFound:
        backend.create_branch(repo, branch, head=None)


# --------------------------------------------------------------------------------------------
# Globs and datums


def _glob_regex(pattern: str) -> str:
    out: list[str] = []
    i = 0
    while i < len(pattern):
        char = pattern[i]
        if pattern.startswith("**", i):
            out.append(".*")
            i += 2
            continue
        if char == "*":
            out.append("[^/]*")
        elif char == "?":
            out.append("[^/]")
        elif char == "[" and (end := pattern.find("]", i + 2)) != -1:
            body = pattern[i + 1 : end]
            negate = body[0] in "!^"
            body = body[1:] if negate else body
            escaped = body.replace("\\", "\\\\").replace("[", "\\[")
            out.append(f"[^/{escaped}]" if negate else f"[{escaped}]")
            i = end + 1
            continue
        elif char == "{" and (end := pattern.find("}", i)) != -1:
            alternatives = pattern[i + 1 : end].split(",")
            out.append("(?:" + "|".join(_glob_regex(alt) for alt in alternatives) + ")")
            i = end + 1
            continue
        else:
            out.append(re.escape(char))
        i += 1
    return "".join(out)


def glob_matches(paths: Iterable[str], glob: str) -> list[str]:
    """The datum paths a Pachyderm glob picks from a commit's file paths, sorted.

    ``paths`` are file paths as stored (``a/b.csv``); results are absolute (``/a``,
    ``/a/b.csv``). A glob matches files *and* directories: ``/*`` over ``a/b.csv`` and ``c``
    gives ``/a`` and ``/c``. ``/`` (or an empty glob) is the whole commit, when it has files.
    """
    nodes: set[str] = set()
    for path in paths:
        parts = [part for part in path.split("/") if part]
        nodes.update("/" + "/".join(parts[: i + 1]) for i in range(len(parts)))
    normalized = "/" + glob.strip().strip("/")
    if normalized == "/":
        return ["/"] if nodes else []
    regex = re.compile(_glob_regex(normalized))
    return sorted(node for node in nodes if regex.fullmatch(node))


@dataclass(frozen=True, slots=True, kw_only=True)
class DatumPart:
    """One non-S3 input's share of a datum: the matched path in that input's commit."""

    input: FileInput
    commit: CommitRef
    path: str


@dataclass(frozen=True, slots=True, kw_only=True)
class Datum:
    parts: tuple[DatumPart, ...] = ()

    def id(self, buckets: Mapping[str, CommitRef] | None = None) -> str:
        """A hash of what the datum reads: each input's name, commit and path.

        S3 inputs (``buckets``: name -> pinned commit) are read whole, at path ``/``. The same
        inputs give the same id, as Pachyderm's datum ids do.
        """
        entries = [(name, ref.id, "/") for name, ref in (buckets or {}).items()]
        entries += [(part.input.name, part.commit.id, part.path) for part in self.parts]
        digest = hashlib.sha256()
        for name, commit_id, path in sorted(entries):
            digest.update(f"{name}\0{commit_id}\0{path}\0".encode())
        return digest.hexdigest()

    def describe(self) -> str:
        if not self.parts:
            return "all inputs whole"
        return ", ".join(f"{part.input.name}:{part.path}" for part in self.parts)


def datums_for(
    node: Input | None,
    commits: Mapping[str, CommitRef],
    list_paths: Callable[[CommitRef], Iterable[str]],
) -> list[Datum]:
    """The job's datums: S3 inputs count as one whole datum; cross multiplies, union adds.

    ``commits`` pins each non-S3 input (by name); ``list_paths`` lists a commit's file paths.
    """
    if node is None:
        return [Datum()]
    if isinstance(node, PfsInput):
        if node.s3:
            return [Datum()]
        ref = commits[node.name]
        file_input = FileInput(
            name=node.name, repo=node.repo, branch=node.branch, glob=node.glob,
            commit=node.commit, project=node.project, path=node.path,
        )  # fmt: skip
        return [
            Datum(parts=(DatumPart(input=file_input, commit=ref, path=path),))
            for path in glob_matches(list_paths(ref), node.glob)
        ]
    if isinstance(node, CrossInput):
        product: list[Datum] = [Datum()]
        for child in node.inputs:
            child_datums = datums_for(child, commits, list_paths)
            product = [
                Datum(parts=left.parts + right.parts)
                for left, right in itertools.product(product, child_datums)
            ]
        return product
    if isinstance(node, UnionInput):
        return [d for child in node.inputs for d in datums_for(child, commits, list_paths)]
    raise RunError(_unsupported(node))


def _unsupported(node: JoinInput | GroupInput | OtherInput) -> str:
    kind = node.kind if isinstance(node, OtherInput) else node.path.rsplit(".", 1)[-1]
    return (
        f"{node.path}: pachs3 run does not run {kind} inputs (it runs pfs, cross and union "
        "inputs); run this pipeline on Pachyderm, or restructure the input"
    )


# --------------------------------------------------------------------------------------------
# The job


@dataclass(frozen=True, slots=True, kw_only=True)
class JobResult:
    job_id: str
    pipeline: str
    status: Literal["success", "failure"]
    error: str | None
    output_commit: CommitInfo | None
    datums: int
    datums_processed: int
    files_written: int
    bytes_written: int
    transform_exit: int | None
    """The exit status of the last transform run (None if it never ran)."""
    endpoint_url: str | None = None
    input_commits: Mapping[str, CommitRef] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.status == "success"


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
) -> JobResult:
    """Run one job of ``spec`` (already validated) against ``backend``; see the module docstring.

    ``seeds`` maps input names to local directories committed to those inputs first. Progress,
    the transform's output (stdout and stderr, merged) and the summary go to ``out``. RunError
    before anything runs when the job cannot start; a failing transform is a JobResult with
    ``status == "failure"``, its output commit finished with the error.
    """
    stream = out if out is not None else sys.stdout
    say = _Printer(stream)
    factory = gateway_factory or sidecar_gateway
    layout = bucket_layout(spec)
    for node in iter_inputs(spec.input):
        if isinstance(node, JoinInput | GroupInput | OtherInput):
            raise RunError(_unsupported(node))
    if spec.spout is not None or spec.service is not None:
        raise RunError("pachs3 run runs batch pipelines; this spec is a spout or a service")
    cwd = _working_dir(spec, spec_dir)

    # Check every seed before committing any, so that a typo in the second changes nothing.
    targets = [
        (_seed_target(spec, name, directory), directory)
        for name, directory in (seeds or {}).items()
    ]
    for target, directory in targets:
        info, files, size = commit_paths(
            backend, target.repo, target.branch, [directory], replace=True,
            description=f"seeded from {directory}",
        )  # fmt: skip
        say(f"seeded {target.name}: {files} files ({size} bytes) from {directory} -> "
            f"{info.repo}@{info.id} on {target.branch}")  # fmt: skip

    file_commits = {
        f.name: _resolve(backend, f.repo, f.commit or f.branch, f.path) for f in layout.files
    }
    for bucket in layout.buckets:
        _resolve(backend, bucket.repo, bucket.commit or bucket.branch, bucket.path)
    datums = datums_for(spec.input, file_commits, lambda ref: _list_paths(backend, ref))

    output_repo = spec.pipeline.name
    ensure_branch(backend, output_repo, spec.output_branch)
    job_id = uuid.uuid4().hex
    gateway: JobGateway | None = None
    if layout.buckets or layout.output:
        gateway = factory(
            backend,
            inputs={bucket.name: bucket.ref for bucket in layout.buckets},
            output=output_repo if layout.output else None,
            output_branch=spec.output_branch,
            job_id=job_id,
            description=f"output of job {job_id} of pipeline {output_repo}",
            provenance=tuple(file_commits.values()),
        )
    job = _Job(
        spec=spec, layout=layout, backend=backend, say=say, cwd=cwd, datums=datums,
        file_commits=file_commits, job_id=job_id, gateway=gateway,
    )  # fmt: skip
    return job.run(host=host, job_root=job_root)


def _working_dir(spec: PipelineSpec, spec_dir: Path) -> Path:
    cwd = spec_dir / spec.transform.working_dir if spec.transform.working_dir else spec_dir
    if not cwd.is_dir():
        raise RunError(
            f"transform.working_dir: {cwd} is not a directory on this machine (pachs3 runs the "
            "command here, relative to the spec file's directory)"
        )
    return cwd


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
        raise RunError(f"--input {name}={directory}: not a directory")
    return target


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


class _Printer:
    def __init__(self, stream: TextIO) -> None:
        self.stream = stream

    def __call__(self, line: str = "") -> None:
        self.stream.write(f"pachs3: {line}\n" if line else "\n")
        self.stream.flush()

    def raw(self, text: str) -> None:
        self.stream.write(text)
        self.stream.flush()


@dataclass(kw_only=True)
class _Job:
    spec: PipelineSpec
    layout: BucketLayout
    backend: Backend
    say: _Printer
    cwd: Path
    datums: list[Datum]
    file_commits: dict[str, CommitRef]
    job_id: str
    gateway: JobGateway | None
    files_written: int = 0
    bytes_written: int = 0
    transform_exit: int | None = None
    processed: int = 0

    def run(self, *, host: str, job_root: Path | None) -> JobResult:
        spec, gw = self.spec, self.gateway
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
                        output = own_output = self.backend.start_commit(
                            spec.pipeline.name, spec.output_branch,
                            provenance=tuple(inputs.values()), empty=True,
                            description=f"output of job {self.job_id} of pipeline "
                            f"{spec.pipeline.name}",
                        )  # fmt: skip
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
        final = self.backend.inspect_commit(spec.pipeline.name, output_id)
        result = JobResult(
            job_id=self.job_id,
            pipeline=spec.pipeline.name,
            status="failure" if error else "success",
            error=error,
            output_commit=final,
            datums=len(self.datums),
            datums_processed=self.processed,
            files_written=self.files_written,
            bytes_written=self.bytes_written,
            transform_exit=self.transform_exit,
            endpoint_url=endpoint,
            input_commits=inputs,
        )
        self.say.raw(format_summary(result))
        return result

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
        say(f"  {len(self.datums)} datum{'s' if len(self.datums) != 1 else ''}")
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
            paths = self._materialize(pfs, datum)
            env = self._environment(
                pfs=pfs,
                endpoint=endpoint,
                inputs=inputs,
                output=output,
                datum_id=datum_id,
                paths=paths,
            )
            code = self._transform(env)
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

    def _materialize(self, pfs: Path, datum: Datum) -> dict[str, str]:
        """Write the datum's files under ``pfs/<name>/``; returns ``{name: datum path}``."""
        pfs.mkdir(parents=True)
        layout = self.layout
        for bucket in layout.buckets:
            (pfs / bucket.name).mkdir(exist_ok=True)
        for file_input in layout.files:
            (pfs / file_input.name).mkdir(exist_ok=True)
        if not self.spec.s3_out:
            (pfs / "out").mkdir()
        paths: dict[str, str] = {}
        for part in datum.parts:
            base = pfs / part.input.name
            prefix = part.path.strip("/")
            for info in self.backend.walk_files(part.commit, prefix=prefix):
                if prefix and info.path != prefix and not info.path.startswith(prefix + "/"):
                    continue
                relative = _safe_relative(info.path)
                if relative is None:
                    self.say(f"  skipping {part.input.name}:{info.path!r} (not a file path)")
                    continue
                target = base.joinpath(*relative.parts)
                target.parent.mkdir(parents=True, exist_ok=True)
                stream = self.backend.read_file(part.commit, info.path)
                try:
                    with target.open("wb") as fh:
                        for chunk in stream:
                            fh.write(chunk)
                finally:
                    stream.close()
            paths[part.input.name] = str(base.joinpath(*PurePosixPath(prefix).parts))
        return paths

    def _environment(
        self,
        *,
        pfs: Path,
        endpoint: str | None,
        inputs: Mapping[str, CommitRef],
        output: CommitInfo,
        datum_id: str,
        paths: Mapping[str, str],
    ) -> dict[str, str]:
        spec = self.spec
        env = dict(os.environ)
        env.update(spec.transform.env)
        bin_dir = str(Path(sys.executable).parent)
        env["PATH"] = os.pathsep.join(p for p in (bin_dir, env.get("PATH", "")) if p)
        env["PFS_ROOT"] = str(pfs)
        # Python transforms print through a pipe here; unbuffered, their output streams live.
        env.setdefault("PYTHONUNBUFFERED", "1")
        if endpoint:
            # A proxy configured for the outside world must not capture the loopback gateway.
            for key in ("NO_PROXY", "no_proxy"):
                env[key] = ",".join(v for v in (env.get(key, ""), "127.0.0.1,localhost") if v)
        env.update(
            worker_environment(
                job_id=self.job_id,
                pipeline=spec.pipeline.name,
                project=spec.pipeline.project,
                endpoint_url=endpoint,
                input_commits={name: ref.id for name, ref in inputs.items()},
                output_commit=output.id,
                datum_id=datum_id,
                datum_paths=paths,
            )
        )
        return env

    def _transform(self, env: Mapping[str, str]) -> int:
        transform = self.spec.transform
        stdin = "".join(f"{line}\n" for line in transform.stdin).encode()
        try:
            proc = subprocess.Popen(
                list(transform.cmd),
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                env=dict(env),
                cwd=self.cwd,
                # Its own process group, so that stopping the job stops everything it started.
                start_new_session=True,
            )
        except OSError as exc:
            self.say(f"cannot start transform.cmd {list(transform.cmd)}: {exc.strerror or exc}")
            return 127
        feeder = threading.Thread(target=_feed, args=(proc.stdin, stdin), daemon=True)
        feeder.start()
        try:
            assert proc.stdout is not None
            # Whatever arrives, as it arrives: progress lines that end in \r (aws s3 cp) show
            # live, and a transform that never writes a newline cannot grow a line buffer.
            decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
            while chunk := os.read(proc.stdout.fileno(), _CHUNK):
                self.say.raw(decoder.decode(chunk))
            self.say.raw(decoder.decode(b"", final=True))
            return proc.wait()
        except BaseException:
            _stop(proc)
            raise
        finally:
            feeder.join(timeout=5)
            if proc.stdout is not None:
                proc.stdout.close()

    def _upload_out(self, out_dir: Path, output: CommitInfo) -> None:
        if not out_dir.is_dir():
            return
        for local in sorted(out_dir.rglob("*")):
            if not local.is_file():
                continue
            key = local.relative_to(out_dir).as_posix()
            with local.open("rb") as fh:
                info = self.backend.put_file(output.ref, key, _chunks(fh))
            self.files_written += 1
            self.bytes_written += info.size


def _feed(pipe: IO[bytes] | None, data: bytes) -> None:
    if pipe is None:
        return
    with contextlib.suppress(BrokenPipeError, OSError):
        pipe.write(data)
    with contextlib.suppress(BrokenPipeError, OSError):
        pipe.close()


def _stop(proc: subprocess.Popen[bytes]) -> None:
    """Stop the transform's whole process group: SIGTERM, then SIGKILL after 5 seconds."""
    for sig, wait in ((signal.SIGTERM, 5.0), (signal.SIGKILL, 5.0)):
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, sig)
        try:
            proc.wait(timeout=wait)
            return
        except subprocess.TimeoutExpired:
            continue


def _interrupted(exc: BaseException) -> str:
    if isinstance(exc, KeyboardInterrupt):
        return "job interrupted"
    return f"job aborted: {type(exc).__name__}: {exc}"


def _safe_relative(path: str) -> PurePosixPath | None:
    """A stored path as a relative local path, or None if it cannot be one safely.

    S3 keys may hold ``..``, empty segments or a trailing ``/`` (a directory marker); none of
    those can be laid out under ``/pfs/<name>`` without escaping it or clashing with a directory.
    """
    parts = path.split("/")
    if not path or path.endswith("/") or any(p in ("", ".", "..") for p in parts):
        return None
    return PurePosixPath(*parts)


def format_summary(result: JobResult) -> str:
    """The closing block of ``pachs3 run``: job id, status, output commit, totals, provenance."""
    status = "success" if result.ok else f"failure: {result.error}"
    lines = ["", f"pachs3: job {result.job_id} {'succeeded' if result.ok else 'failed'}"]
    rows: list[tuple[str, str]] = [("job id", result.job_id), ("status", status)]
    commit_info = result.output_commit
    if commit_info is not None:
        branch = f" (branch {commit_info.branch})" if commit_info.branch else ""
        rows.append(("output commit", f"{commit_info.repo}@{commit_info.id}{branch}"))
    rows.append(("datums", f"{result.datums_processed} of {result.datums} processed"))
    if result.transform_exit is not None:
        rows.append(("transform exit", str(result.transform_exit)))
    rows.append(("files written", str(result.files_written)))
    rows.append(("bytes written", str(result.bytes_written)))
    provenance = commit_info.provenance if commit_info is not None else ()
    rows.append(("provenance", ", ".join(str(ref) for ref in provenance) or "(none)"))
    lines += [f"  {label:<15}{value}" for label, value in rows]
    return "\n".join(lines) + "\n"
