"""The plugin as an installed user meets it: a test file in a fresh directory, run by its own
pytest process, uses ``pachs3_job`` and ``pachs3_store`` by name with no import and no conftest
(the ``pytest11`` entry point registers them); ``-p no:pachs3`` removes them; loading the plugin
imports neither boto3 nor uvicorn.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import pytest

pytest_plugins = ["pytester"]

USES_THE_FIXTURES_BY_NAME = textwrap.dedent(
    """
    import boto3


    def test_a_job(pachs3_job):
        with pachs3_job(inputs={"labresults": {"a.csv": b"1,2\\n"}}, output="copy") as job:
            s3 = boto3.client("s3")
            s3.copy_object(Bucket="out", Key="a.csv", CopySource="labresults/a.csv")
        assert job.files == {"a.csv": b"1,2\\n"}


    def test_the_store(pachs3_store, tmp_path):
        assert pachs3_store.path.parent == tmp_path
    """
)


def test_the_fixtures_are_found_by_name_through_the_entry_point(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_user=USES_THE_FIXTURES_BY_NAME)
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    result.assert_outcomes(passed=2)
    # The header lists the plugins pytest loaded from entry points (distribution-version).
    result.stdout.fnmatch_lines(["plugins: *pachs3-*"])


def test_the_plugin_can_be_turned_off(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_user=USES_THE_FIXTURES_BY_NAME)
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "-p", "no:pachs3")
    result.assert_outcomes(errors=2)
    result.stdout.fnmatch_lines(["*fixture 'pachs3_job' not found*"])


def test_loading_the_plugin_imports_no_client_or_server_library() -> None:
    probe = (
        "import json, sys, pachs3.testing.plugin; "
        "print(json.dumps(sorted(m for m in ('boto3', 'botocore', 'uvicorn', 'httptools') "
        "if m in sys.modules)))"
    )
    run = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True, timeout=120
    )
    assert json.loads(run.stdout) == []
