"""pachs3: Pachyderm's sidecar S3 gateway as an embeddable library.

    from pachs3 import LocalStore, SidecarGateway, read_commit

    store = LocalStore(".pachs3")
    with SidecarGateway(store, inputs={"labresults": "labresults@master"},
                        output="my_pipeline") as gateway:
        s3 = gateway.client()                  # in-process boto3 client
        with gateway.serve() as server:        # or real HTTP on 127.0.0.1
            print(server.endpoint_url)
    files = read_commit(store, gateway.finished_commit)   # {"a.csv": b"..."}: the output

Importing pachs3 imports no optional dependency (uvicorn, botocore, python_pachyderm, grpc):
each is imported by the one module that adapts it, when first used.
"""

from pachs3.backends.base import (
    Absent,
    AlreadyExists,
    Backend,
    BackendError,
    BranchInfo,
    CommitInfo,
    CommitRef,
    ConditionFailed,
    Conflict,
    Expectation,
    FileInfo,
    Matching,
    NotFound,
    NotSupported,
    PermissionDenied,
    RepoInfo,
    Truncated,
    Unavailable,
)
from pachs3.backends.contents import read_commit
from pachs3.backends.local import LocalStore
from pachs3.backends.memory import MemoryBackend
from pachs3.core.errors import S3Error
from pachs3.core.http import RequestHead, S3Response
from pachs3.gateway import Job, SidecarGateway
from pachs3.global_gateway import GlobalGateway
from pachs3.job_request import JobRequest

__version__ = "0.1.0"

__all__ = [
    "JobRequest",
    "Absent",
    "AlreadyExists",
    "Backend",
    "BackendError",
    "BranchInfo",
    "CommitInfo",
    "CommitRef",
    "ConditionFailed",
    "Conflict",
    "Expectation",
    "FileInfo",
    "GlobalGateway",
    "Job",
    "LocalStore",
    "Matching",
    "MemoryBackend",
    "NotFound",
    "NotSupported",
    "PermissionDenied",
    "RepoInfo",
    "RequestHead",
    "S3Error",
    "S3Response",
    "SidecarGateway",
    "Truncated",
    "Unavailable",
    "__version__",
    "read_commit",
]
