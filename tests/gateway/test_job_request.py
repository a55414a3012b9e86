"""The job's parameters are one value, ``JobRequest`` (issue 14, move 7): the gateway takes it
as ``job=`` or spelled as keywords (the same job), never both."""

from __future__ import annotations

import pytest

from pachs3 import JobRequest, MemoryBackend, SidecarGateway
from pachs3.backends.base import commit


def backend_with_input() -> MemoryBackend:
    backend = MemoryBackend()
    backend.create_repo("in")
    with commit(backend, "in", "master") as info:
        backend.put_file(info.ref, "a", [b"1"])
    return backend


def test_job_value_and_keywords_begin_the_same_job() -> None:
    backend = backend_with_input()
    job = JobRequest(inputs={"in": "in@master"}, output="pipe", job_id="j1", description="d")
    with SidecarGateway(backend, job=job) as by_value:
        value_out = by_value.output_commit
        assert by_value.job_id == "j1"
        assert set(by_value.input_commits) == {"in"}
    with SidecarGateway(
        backend, inputs={"in": "in@master"}, output="pipe", job_id="j2", description="d"
    ) as by_keywords:
        keywords_out = by_keywords.output_commit
        assert by_keywords.job_id == "j2"
    assert value_out is not None
    assert keywords_out is not None
    assert value_out.description == keywords_out.description == "d"
    assert value_out.provenance == keywords_out.provenance


def test_job_value_and_keywords_together_are_refused() -> None:
    with pytest.raises(TypeError, match="not both"):
        SidecarGateway(MemoryBackend(), job=JobRequest(output="pipe"), output="other")
