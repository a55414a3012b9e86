"""PachydermBackend: the layers put together, and its construction from what users have."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ..base import (
    CommitRef,
)
from .connection import Connection, connection_from_environment
from .writes import WriteLayer


class PachydermBackend(WriteLayer):
    """The whole ``Backend`` protocol against pachd.

    ``address`` is ``[grpc|grpcs]://host[:port]`` (port 30650 by default). ``timeout`` bounds
    every single request/response call, ``stream_timeout`` every listing stream (walks, lists);
    ``connect_timeout`` bounds one connection attempt, and while there is no connection calls
    fail at once: an unreachable cluster gives ``Unavailable``, never a hang. Object bodies
    (reads and uploads) have no overall deadline (they may be large); gRPC keepalive pings
    detect a peer that went away under them (``keepalive`` seconds; pachd permits pings every
    5 s).

    ``project`` is the PFS project whose repos this backend serves (pachs3's ``"default"``
    project means this one). ``adopt`` names an open commit that belongs to someone else (a
    pipeline job's output commit): see the module docstring. ``object_records=False`` keeps no
    hidden records: every file then shows PFS's hash as its ETag and no metadata.
    """

    # ----------------------------------------------------------------------------------------
    # Construction from what users already have

    @classmethod
    def from_connection(cls, connection: Connection, **options: Any) -> PachydermBackend:
        scheme = "grpcs" if connection.tls else "grpc"
        unix = connection.target.startswith("unix:")
        return cls(
            connection.target if unix else f"{scheme}://{connection.target}",
            auth_token=options.pop("auth_token", connection.auth_token),
            root_certs=options.pop("root_certs", connection.root_certs),
            **options,
        )

    @classmethod
    def from_environment(
        cls,
        environ: Mapping[str, str] | None = None,
        *,
        pfs_root: Path = Path("/pfs"),
        **options: Any,
    ) -> PachydermBackend:
        """Connect the way Pachyderm users already do (see ``connection_from_environment``).

        Inside a pipeline worker (``PACH_JOB_ID`` and ``PPS_PIPELINE_NAME`` set) the job's
        output commit (``PACH_OUTPUT_COMMIT_ID``, else the job id: in PFS 2.x the output commit
        has the job's id) in the pipeline's repo is adopted, and ``PPS_PROJECT_NAME`` is the
        project. ``options`` override any of these.

        Adoption needs an ``s3_out`` pipeline (ValueError otherwise). pachd keys files by
        (path, datum): a worker uploads each datum's ``/pfs/out`` under that datum's id, so a
        key the gateway wrote (in the default datum, as pachd's own S3 sidecar writes) that a
        datum also wrote would make finishing fail ("duplicate path output by different
        datums"), and deleting it would not delete the datum's copy. With ``s3_out`` the worker
        uploads no ``/pfs/out`` and deletes ``/`` of the default datum when the job starts
        (registry.go); the worker links ``/pfs/out`` only when ``s3_out`` is off
        (driver_unix.go), which is how this tells the two apart (``pfs_root``).
        """
        env = os.environ if environ is None else environ
        connection = connection_from_environment(env)
        if "project" not in options and env.get("PPS_PROJECT_NAME"):
            options["project"] = env["PPS_PROJECT_NAME"]
        pipeline = env.get("PPS_PIPELINE_NAME", "").strip()
        output = (env.get("PACH_OUTPUT_COMMIT_ID") or env.get("PACH_JOB_ID") or "").strip()
        if "adopt" not in options and pipeline and output:
            if (pfs_root / "out").exists():
                raise ValueError(
                    f"pipeline {pipeline!r} writes its output through {pfs_root / 'out'}: "
                    "pachs3 can serve the job's output commit only to an s3_out pipeline (set "
                    '"s3_out": true in the pipeline spec); otherwise a key written through '
                    "S3 and by a datum would fail the job (PFS keys files by path and datum)"
                )
            options["adopt"] = CommitRef(repo=pipeline, id=output)
        return cls.from_connection(connection, **options)

    def __enter__(self) -> PachydermBackend:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"PachydermBackend({self.address!r}, project={self.project!r})"
