"""The environment a transform runs in: this process's, the spec's ``env``, and the worker's."""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from pathlib import Path

from pachs3.backends.base import CommitRef
from pachs3.spec import PipelineSpec
from pachs3.worker import worker_environment

__all__ = ["transform_environment"]


def transform_environment(
    spec: PipelineSpec,
    *,
    job_id: str,
    pfs: Path,
    endpoint: str | None,
    inputs: Mapping[str, CommitRef],
    output_id: str,
    datum_id: str,
    paths: Mapping[str, str],
) -> dict[str, str]:
    """The variables of one datum's transform run; ``paths`` maps input names to datum paths."""
    env = dict(os.environ)
    env.update(spec.transform.env)
    # The image is not pulled, so the tools it would have come from pachs3's own environment
    # (``aws``, ``python3``): its bin directory goes first.
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
            job_id=job_id,
            pipeline=spec.pipeline.name,
            project=spec.pipeline.project,
            endpoint_url=endpoint,
            input_commits={name: ref.id for name, ref in inputs.items()},
            output_commit=output_id,
            datum_id=datum_id,
            datum_paths=paths,
        )
    )
    return env
