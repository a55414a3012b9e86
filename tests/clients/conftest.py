"""Fixtures and the results recorder of the client compatibility suite.

- ``seeded_store`` (session): a LocalStore whose repo ``labresults`` holds INPUT_FILES;
- ``served`` (class): a SidecarGateway on that store serving ``labresults`` (read-only) and
  ``out``, through ``gateway.serve()`` on 127.0.0.1 (TLS when the test class sets ``TLS``);
  each test starts a fresh job, so ``out`` starts empty. A class with ``MODE = "global"`` gets
  a GlobalGateway instead, on ``global_store`` (the same input files on ``labresults@master``,
  read-only by provenance, and a repo ``out`` made afresh, empty, for each test);
- ``oracle`` (test): the job's commits read and written in the store directly.

awscli (>= 1.44) aliases the top-level names ``botocore`` and ``s3transfer`` to its vendored
copies once imported, so it never is in this process: test_client_awscli.py runs it in a
worker process (awscli_worker.py).

Recording: with ``PACHS3_CLIENT_MATRIX=path.json`` set, every battery test's outcome is written
to that file as (client column, operation, outcome, reason), with the client versions; then
``python tests/clients/make_matrix.py path.json`` renders docs/compatibility.md.
"""

from __future__ import annotations

import contextlib
import json
import os
import platform
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3  # noqa: F401  # the real botocore, before anything could import awscli (below)
import pytest

# Rewrite the asserts of the shared battery as in a test module (readable failure diffs).
pytest.register_assert_rewrite("clients_battery", "clients_support")

from clients_battery import GLOBAL_ONLY, OPERATIONS, ClientBattery  # noqa: E402
from clients_support import (  # noqa: E402
    BIG,
    INPUT,
    INPUT_FILES,
    OUT,
    OUTPUT_REPO,
    SOURCE_REPO,
    Oracle,
    Unsupported,
)
from tls_certs import make_tls_pair  # noqa: E402

from pachs3 import GlobalGateway, JobRequest, LocalStore, SidecarGateway  # noqa: E402
from pachs3.backends.base import NotFound, commit  # noqa: E402

MATRIX_ENV = "PACHS3_CLIENT_MATRIX"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    # Rows of the global mode only (bucket creation): a sidecar's buckets are the job's.
    not_in_mode = [
        item
        for item in items
        if operation_of(item) in GLOBAL_ONLY
        and getattr(getattr(item, "cls", None), "MODE", "global") != "global"
    ]
    if not_in_mode:
        config.hook.pytest_deselected(items=not_in_mode)
        items[:] = [item for item in items if item not in not_in_mode]
    for item in items:
        cls = getattr(item, "cls", None)
        if cls is None or not issubclass(cls, ClientBattery):
            continue
        # Third-party clients warn about themselves (deprecations inside pandas/s3fs/aiohttp,
        # sockets in event loops they own); that is not about the gateway, and the project
        # turns warnings into errors, so this suite shows them as warnings.
        item.add_marker(pytest.mark.filterwarnings("default"))
        op = operation_of(item)
        if op not in OPERATIONS:
            raise pytest.UsageError(f"{item.nodeid}: operation {op!r} is not a row of OPERATIONS")
        if op in cls.UNSUPPORTED:
            item.add_marker(
                pytest.mark.xfail(
                    strict=True, raises=Unsupported, reason=f"n/a: {cls.UNSUPPORTED[op]}"
                )
            )
        elif op in cls.XFAIL:
            item.add_marker(pytest.mark.xfail(strict=True, reason=cls.XFAIL[op]))


def operation_of(item: pytest.Item) -> str:
    name = getattr(item, "originalname", item.name)
    return name.removeprefix("test_")


# --------------------------------------------------------------------------------------------
# The gateway


@pytest.fixture(scope="session")
def seeded_store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStore]:
    store = LocalStore(tmp_path_factory.mktemp("clients-store"))
    try:
        store.create_repo(INPUT)
        with commit(store, INPUT, "master") as info:
            for path, data in INPUT_FILES.items():
                store.put_file(info.ref, path, [data])
        yield store
    finally:
        store.close()


@pytest.fixture(scope="session")
def global_store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStore]:
    """The global mode's store: ``labresults@master`` holds INPUT_FILES in a commit derived from
    ``samples@master`` (so the global gateway serves it read-only, as a pipeline's output)."""
    store = LocalStore(tmp_path_factory.mktemp("clients-global-store"))
    try:
        store.create_repo(SOURCE_REPO)
        with commit(store, SOURCE_REPO, "master") as source:
            store.put_file(source.ref, "README", [b"where labresults came from\n"])
        store.create_repo(INPUT)
        with commit(store, INPUT, "master", provenance=[source.ref]) as info:
            for path, data in INPUT_FILES.items():
                store.put_file(info.ref, path, [data])
        yield store
    finally:
        store.close()


@pytest.fixture(scope="session")
def big_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("big") / "big.bin"
    path.write_bytes(BIG)
    return path


@pytest.fixture(scope="session")
def tls_pair(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    return make_tls_pair(tmp_path_factory.mktemp("tls"))


@dataclass
class Served:
    gateway: SidecarGateway | GlobalGateway
    endpoint_url: str
    host: str
    port: int
    tls: bool
    ca_file: Path | None

    @property
    def hostport(self) -> str:
        return f"{self.host}:{self.port}"

    @property
    def mode(self) -> str:
        return "global" if isinstance(self.gateway, GlobalGateway) else "sidecar"

    @property
    def bucket_names(self) -> list[str]:
        """What ListBuckets answers, sorted: the job's buckets; globally every branch, in the
        long form Pachyderm's global gateway lists (``branch.repo.project``)."""
        if self.mode == "sidecar":
            return sorted([INPUT, OUT])
        return sorted(f"master.{repo}.default" for repo in (INPUT, OUT, SOURCE_REPO))

    def restart_job(self) -> None:
        """A new job on the same server: ``out`` is a fresh, empty output commit (global mode:
        the repo ``out`` made again, its ``master`` with one empty commit)."""
        gateway = self.gateway
        if isinstance(gateway, GlobalGateway):
            with contextlib.suppress(NotFound):
                gateway.backend.delete_repo(OUT)
            gateway.backend.create_repo(OUT)
            with commit(gateway.backend, OUT, "master", description="fresh out"):
                pass
            return
        if gateway.job is not None:
            gateway.end_job()
        gateway.begin_job(JobRequest(inputs={INPUT: f"{INPUT}@master"}, output=OUTPUT_REPO))

    def writes(self) -> int:
        """How many writes the gateway has made: files written (sidecar) or commits on
        ``out@master`` (global: every write is a commit)."""
        gateway = self.gateway
        if isinstance(gateway, GlobalGateway):
            return len(gateway.backend.list_commits(OUT, branch="master"))
        return gateway.stats.files_written


@pytest.fixture(scope="class")
def served(request: pytest.FixtureRequest) -> Iterator[Served]:
    tls = bool(getattr(request.cls, "TLS", False))
    mode = getattr(request.cls, "MODE", "sidecar")
    options: dict[str, Any] = {}
    ca_file: Path | None = None
    if tls:
        cert, key = request.getfixturevalue("tls_pair")
        options = {"ssl_certfile": str(cert), "ssl_keyfile": str(key)}
        ca_file = cert
    gateway: SidecarGateway | GlobalGateway
    if mode == "global":
        gateway = GlobalGateway(request.getfixturevalue("global_store"))
    else:
        gateway = SidecarGateway(
            request.getfixturevalue("seeded_store"),
            inputs={INPUT: f"{INPUT}@master"},
            output=OUTPUT_REPO,
        )
    with gateway:
        server = gateway.serve(**options)
        yield Served(
            gateway=gateway,
            endpoint_url=server.endpoint_url,
            host="127.0.0.1",
            port=server.port,
            tls=tls,
            ca_file=ca_file,
        )


@pytest.fixture
def oracle(served: Served) -> Oracle:
    return Oracle(served.gateway)


# --------------------------------------------------------------------------------------------
# Recording results for docs/compatibility.md


_results: dict[str, dict[str, Any]] = {}
_classes: dict[str, type[ClientBattery]] = {}


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    outcome = yield
    report: pytest.TestReport = outcome.get_result()  # type: ignore[attr-defined]
    cls = getattr(item, "cls", None)
    if cls is None or not issubclass(cls, ClientBattery):
        return
    _classes[cls.column()] = cls
    record = _results.setdefault(
        item.nodeid,
        {"client": cls.column(), "operation": operation_of(item), "nodeid": item.nodeid},
    )
    record["duration"] = round(record.get("duration", 0.0) + report.duration, 3)
    state = _outcome(report)
    if state is None:
        return
    kind, reason = state
    if report.when == "teardown" and record.get("outcome") not in (None, "passed"):
        return  # a teardown error does not hide what the call did
    record["outcome"], record["reason"] = kind, reason


def _outcome(report: pytest.TestReport) -> tuple[str, str] | None:
    wasxfail = getattr(report, "wasxfail", None)
    if report.skipped and wasxfail is not None:
        return "xfailed", str(wasxfail)
    if report.skipped:
        longrepr = report.longrepr
        reason = longrepr[2] if isinstance(longrepr, tuple) else str(longrepr)
        return "skipped", reason.removeprefix("Skipped: ")
    if report.failed:
        text = str(report.longrepr) if report.longrepr else ""
        if report.when != "call":
            return "error", _last_line(text)
        if "XPASS(strict)" in text:
            return "failed", f"passed although marked xfail: {text}"
        return "failed", _last_line(text)
    if report.when == "call":
        return "passed", ""
    return None  # a passing setup or teardown says nothing


def _last_line(text: str) -> str:
    lines = [line for line in text.strip().splitlines() if line.strip()]
    for line in reversed(lines):
        if line.startswith("E "):
            return line[2:].strip()[:300]
    return (lines[-1] if lines else "")[:300]


def pytest_terminal_summary(terminalreporter: Any) -> None:
    """Each client column's test time (setup, call and teardown: driver builds, JVM starts
    included), for the CI budget; .ci/run's toolchain stage prints the time before the suite."""
    seconds: dict[str, float] = {}
    for record in _results.values():
        seconds[record["client"]] = seconds.get(record["client"], 0.0) + record["duration"]
    if not seconds:
        return
    terminalreporter.section("client suite time per column (s)")
    for column, spent in sorted(seconds.items(), key=lambda kv: -kv[1]):
        terminalreporter.write_line(f"{spent:8.1f}  {column}")
    terminalreporter.write_line(f"{sum(seconds.values()):8.1f}  total")


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    target = os.environ.get(MATRIX_ENV)
    if not target or not _results:
        return
    clients = []
    for column, cls in sorted(
        _classes.items(), key=lambda kv: (kv[1].MODE != "sidecar", kv[1].TLS, kv[1].ORDER, kv[0])
    ):
        try:
            versions = cls.versions()
        except Exception as exc:  # a missing client: say so in the matrix
            versions = {"error": repr(exc)}
        clients.append(
            {
                "column": column,
                "client": cls.CLIENT,
                "tls": cls.TLS,
                "mode": cls.MODE,
                "versions": versions,
                "setup": cls.SETUP + (f"; TLS: {cls.TLS_SETUP}" if cls.TLS else ""),
                "notes": dict(cls.NOTES),
            }
        )
    document = {
        "python": platform.python_version(),
        "platform": f"{platform.system()} {platform.machine()}",
        "pachs3": _version("pachs3"),
        "commit": _git_commit(),
        "command": " ".join(["pytest", *sys.argv[1:]]),
        "operations": [
            {"id": op, "label": label, "checks": checks}
            for op, (label, checks) in OPERATIONS.items()
        ],
        "clients": clients,
        "results": sorted(
            (r for r in _results.values() if "outcome" in r),
            key=lambda r: (r["client"], r["operation"]),
        ),
    }
    Path(target).write_text(json.dumps(document, indent=2, ensure_ascii=False) + "\n")


def _git_commit() -> str:
    """The commit the suite ran at (``+changes`` when the work tree differed from it)."""
    root = Path(__file__).resolve().parents[2]
    try:
        head = subprocess.run(
            ["git", "rev-parse", "--short=12", "HEAD"],
            cwd=root,
            capture_output=True,
            text=True,
            check=False,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=root,
            capture_output=True,
            text=True,
            check=False,
        ).stdout.strip()
    except OSError:
        return ""
    return f"{head}+changes" if head and dirty else head


def _version(distribution: str) -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(distribution)
    except PackageNotFoundError:
        return "not installed"
