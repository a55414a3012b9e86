"""The environment a job's user code runs in, and building a job's gateway from one.

User code finds the sidecar gateway the way it does in a Pachyderm worker: through ``S3_ENDPOINT``
and the usual AWS variables. Pachyderm's per-job variables (``src/internal/client/pps.go``,
``UserCodeEnv`` in ``src/server/worker/driver/driver.go``) come along so that code written for a
Pachyderm worker finds what it expects:

=========================  ===================================================================
``S3_ENDPOINT``            the gateway, ``http://127.0.0.1:PORT`` (only when the job has S3
                           inputs or ``s3_out``, as in Pachyderm)
``AWS_ACCESS_KEY_ID``      ``default``; with auth off Pachyderm hands out ``default``/``default``
``AWS_SECRET_ACCESS_KEY``  ``default`` (pachs3 accepts any credentials, and none)
``AWS_DEFAULT_REGION``     ``us-east-1`` (also ``AWS_REGION``, which non-botocore SDKs read), so
                           that clients without a configured region still build requests
``PACH_JOB_ID``            the job id
``PPS_PIPELINE_NAME``      the pipeline name (the output repo)
``PPS_PROJECT_NAME``       the pipeline's project, ``default`` unless the spec sets one
``<name>_COMMIT``          for each input, the id of the commit the job reads
``<name>``                 for each non-S3 input, the path of the current datum's file or
                           directory under the job's ``/pfs`` directory
``PACH_OUTPUT_COMMIT_ID``  the job's output commit
``PACH_DATUM_ID``          the current datum's id, when the job runs datum by datum
=========================  ===================================================================

An embedding worker runtime builds the job's gateway with one call::

    gateway = gateway_from_environment(backend)       # reads PACHS3_INPUTS etc., see below
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING

from pachs3.spec import DEFAULT_BRANCH, DEFAULT_PROJECT

if TYPE_CHECKING:
    from pachs3.backends.base import Backend
    from pachs3.gateway import SidecarGateway

__all__ = [
    "DEFAULT_CREDENTIAL",
    "DEFAULT_REGION",
    "gateway_from_environment",
    "parse_input_assignment",
    "parse_inputs",
    "worker_environment",
]

DEFAULT_CREDENTIAL = "default"
DEFAULT_REGION = "us-east-1"


def worker_environment(
    *,
    job_id: str,
    pipeline: str,
    endpoint_url: str | None = None,
    project: str = DEFAULT_PROJECT,
    input_commits: Mapping[str, str] | None = None,
    output_commit: str | None = None,
    datum_id: str | None = None,
    datum_paths: Mapping[str, str] | None = None,
    access_key: str = DEFAULT_CREDENTIAL,
    secret_key: str = DEFAULT_CREDENTIAL,
    region: str = DEFAULT_REGION,
) -> dict[str, str]:
    """The variables to add to user code's environment (see the module docstring).

    ``input_commits`` maps each input name to its commit id; ``datum_paths`` maps each non-S3
    input name to the current datum's path on disk. Only variables that have a value are set, so
    the result can be laid over ``os.environ`` as is.
    """
    env: dict[str, str] = {
        "AWS_ACCESS_KEY_ID": access_key,
        "AWS_SECRET_ACCESS_KEY": secret_key,
        "AWS_DEFAULT_REGION": region,
        "AWS_REGION": region,
        "PACH_JOB_ID": job_id,
        "PPS_PIPELINE_NAME": pipeline,
        "PPS_PROJECT_NAME": project,
    }
    if endpoint_url:
        env["S3_ENDPOINT"] = endpoint_url
    for name, commit in (input_commits or {}).items():
        env[f"{name}_COMMIT"] = commit
    for name, path in (datum_paths or {}).items():
        env[name] = path
    if output_commit:
        env["PACH_OUTPUT_COMMIT_ID"] = output_commit
    if datum_id:
        env["PACH_DATUM_ID"] = datum_id
    return env


# --------------------------------------------------------------------------------------------
# Building a gateway from the environment

_ASSIGNMENT = re.compile(
    r"(?P<name>[^=\s,]+)=(?P<repo>[A-Za-z0-9_-]+)(?:@(?P<ref>[A-Za-z0-9_.-]+))?"
)


def parse_input_assignment(text: str) -> tuple[str, str]:
    """``NAME=REPO[@BRANCH_OR_COMMIT]`` -> ``(NAME, "REPO@REF")`` (REF defaults to master).

    ValueError with the expected shape when ``text`` does not match.
    """
    match = _ASSIGNMENT.fullmatch(text.strip())
    if match is None:
        raise ValueError(
            f"{text!r} is not NAME=REPO[@BRANCH_OR_COMMIT] "
            "(for example labresults=labresults@master)"
        )
    ref = match["ref"] or DEFAULT_BRANCH
    return match["name"], f"{match['repo']}@{ref}"


def parse_inputs(entries: Iterable[str]) -> dict[str, str]:
    """Several assignments -> ``{bucket name: "repo@ref"}``; ValueError on a repeated name."""
    inputs: dict[str, str] = {}
    for entry in entries:
        name, ref = parse_input_assignment(entry)
        if name in inputs:
            raise ValueError(f"input {name!r} is given twice")
        inputs[name] = ref
    return inputs


def gateway_from_environment(
    backend: Backend, environ: Mapping[str, str] | None = None
) -> SidecarGateway:
    """The gateway for one job, configured from environment variables.

    ========================  ==================================================================
    ``PACHS3_INPUTS``         the input buckets: ``NAME=REPO[@BRANCH_OR_COMMIT]`` entries
                              separated by commas or whitespace (REF defaults to ``master``)
    ``PACHS3_OUTPUT``         the output repo served as the bucket ``out``; set it empty for no
                              ``out`` bucket. Unset: ``PPS_PIPELINE_NAME`` if that is set (in
                              Pachyderm the output repo is named after the pipeline), else none
    ``PACHS3_OUTPUT_BRANCH``  the output commit's branch (default ``master``)
    ``PACH_JOB_ID``           the job id (default: the gateway makes one)
    ``PACHS3_DESCRIPTION``    the output commit's description (default empty)
    ========================  ==================================================================

    ValueError names the variable when one is malformed or when there is nothing to serve.
    The gateway is returned unopened: ``with gateway:`` pins the inputs and opens the output
    commit, ``gateway.serve()`` gives the endpoint for ``worker_environment``.
    """
    from pachs3.gateway import SidecarGateway

    env = os.environ if environ is None else environ
    raw_inputs = env.get("PACHS3_INPUTS", "")
    try:
        inputs = parse_inputs(part for part in re.split(r"[\s,]+", raw_inputs) if part)
    except ValueError as exc:
        raise ValueError(f"PACHS3_INPUTS: {exc}") from None
    if "PACHS3_OUTPUT" in env:
        output = env["PACHS3_OUTPUT"].strip() or None
    else:
        output = env.get("PPS_PIPELINE_NAME", "").strip() or None
    if not inputs and output is None:
        raise ValueError(
            "nothing to serve: set PACHS3_INPUTS (NAME=REPO[@REF],...) and/or PACHS3_OUTPUT"
        )
    return SidecarGateway(
        backend,
        inputs=inputs,
        output=output,
        output_branch=env.get("PACHS3_OUTPUT_BRANCH", "").strip() or DEFAULT_BRANCH,
        job_id=env.get("PACH_JOB_ID", "").strip() or None,
        description=env.get("PACHS3_DESCRIPTION", ""),
    )
