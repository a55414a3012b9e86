"""What ``pachs3 run`` tells its user: progress lines, the job's result, the closing summary."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal, TextIO

from pachs3.backends.base import CommitInfo, CommitRef

__all__ = ["JobResult", "Printer", "format_summary", "plural"]


class Printer:
    """Progress lines (prefixed ``pachs3:``) and, through ``raw``, the transform's own output."""

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream

    def __call__(self, line: str = "") -> None:
        self.stream.write(f"pachs3: {line}\n" if line else "\n")
        self.stream.flush()

    def raw(self, text: str) -> None:
        self.stream.write(text)
        self.stream.flush()


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
    seconds_seeding: float = 0.0
    """Committing the ``--input NAME=DIR`` seeds."""
    seconds_running: float = 0.0
    """From opening the output commit to finishing it."""

    @property
    def ok(self) -> bool:
        return self.status == "success"


def format_summary(result: JobResult, *, store: str = "", store_option: str = "") -> str:
    """The closing block of ``pachs3 run``: job id, status, output commit, totals, provenance,
    durations, and the command that shows the output (``store_option`` reaches the store)."""
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
    took = f"{_seconds(result.seconds_running)} job"
    if result.seconds_seeding >= 0.05:
        took = f"{_seconds(result.seconds_seeding)} seeding, {took}"
    rows.append(("took", took))
    if store:
        rows.append(("store", store))
    if commit_info is not None:
        # The short id: what `pachs3 log` shows and every command accepts.
        target = f"{commit_info.repo}@{commit_info.id[:12]}"
        rows.append(("look at it", f"pachs3 files{store_option} {target}"))
        if not result.ok:
            rows.append(("", f"pachs3 log{store_option} {commit_info.repo}"))
    lines += [f"  {label:<15}{value}".rstrip() for label, value in rows]
    return "\n".join(lines) + "\n"


def plural(count: int, word: str) -> str:
    """``1 file``, ``2 files``, ``0 files``."""
    return f"{count} {word}" if count == 1 else f"{count} {word}s"


def _seconds(seconds: float) -> str:
    return f"{seconds:.1f}s" if seconds < 60 else f"{int(seconds) // 60}m{int(seconds) % 60:02d}s"
