"""Run one job of a pipeline spec on this machine, the way a Pachyderm worker would.

``pachs3 run pipeline.json`` is this package: seed inputs from local directories, pin every input
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

One module per job, every public name re-exported here:

- ``job``: ``run_job``, the lifecycle of one job (checks, seeds, pins, output commit, datums);
- ``globs`` and ``datums``: which paths are datums, and the datums of an input tree (pure);
- ``pfs``: one datum's files laid out under the local ``/pfs``;
- ``environment`` and ``transform``: the transform's variables, and running it;
- ``local_files``: local files committed (``pachs3 put``, seeds) and ``/pfs/out`` uploaded;
- ``gateways``: what the runner needs from a gateway, and the default factory;
- ``report``: progress lines, ``JobResult`` and its summary; ``errors``: ``RunError``.
"""

from pachs3.runner.datums import Datum, datums_for

# Importable from here as before, though not part of ``__all__`` (``X as X``: an explicit
# re-export for mypy).
from pachs3.runner.datums import DatumPart as DatumPart
from pachs3.runner.errors import RunError
from pachs3.runner.gateways import GatewayFactory, JobGateway, sidecar_gateway
from pachs3.runner.globs import glob_matches
from pachs3.runner.job import run_job
from pachs3.runner.local_files import commit_files, commit_paths, ensure_branch
from pachs3.runner.report import JobResult, format_summary

__all__ = [
    "Datum",
    "GatewayFactory",
    "JobGateway",
    "JobResult",
    "RunError",
    "commit_files",
    "commit_paths",
    "ensure_branch",
    "datums_for",
    "format_summary",
    "glob_matches",
    "run_job",
    "sidecar_gateway",
]
