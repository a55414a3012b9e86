"""The benchmark harness runs end to end at tiny sizes and writes well-formed results.

Only the shape of the results is checked, never a timing: performance is read from
``docs/benchmarks.md``, not asserted by tests (DESIGN.md section 7).
"""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent

pytest.importorskip("moto")
pytest.importorskip("uvicorn")


def _positive(value: Any) -> bool:
    return isinstance(value, int | float) and math.isfinite(value) and value > 0


def _summary_ok(data: Any) -> bool:
    return (
        isinstance(data, dict)
        and _positive(data["median"])
        and len(data["samples"]) >= 1
        and all(_positive(v) for v in data["samples"])
    )


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, Any], Path]:
    out = tmp_path_factory.mktemp("bench")
    completed = subprocess.run(
        [
            sys.executable,
            "-m",
            "benchmarks",
            "--smoke",
            "--results-dir",
            str(out / "results"),
            "--doc",
            str(out / "benchmarks.md"),
            "--plot",
            str(out / "benchmarks.png"),
            "--workdir",
            str(out / "work"),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert completed.returncode == 0, completed.stdout + completed.stderr
    latest = out / "results" / "latest-smoke.json"
    return json.loads(latest.read_text(encoding="utf-8")), out


def test_every_workload_ran_without_error(run: tuple[dict[str, Any], Path]) -> None:
    results, _ = run
    assert set(results["workloads"]) == {
        "server",
        "concurrency",
        "small",
        "listing",
        "large",
        "listing_http",
        "flat",
        "job",
        "global_commits",
        "version_listing",
    }
    for name, data in results["workloads"].items():
        assert "error" not in data, (name, data.get("error"))


def test_meta_describes_the_machine_and_the_load(run: tuple[dict[str, Any], Path]) -> None:
    meta = run[0]["meta"]
    assert meta["preset"]["name"] == "smoke"
    assert meta["machine"]["nproc"] >= 1
    assert meta["machine"]["python"]
    assert meta["machine"]["packages"]["boto3"]
    assert len(meta["load_before"]["loadavg"]) == 3
    assert meta["seconds"] > 0


def test_small_objects_cover_every_target_op_and_thread_count(
    run: tuple[dict[str, Any], Path],
) -> None:
    small = run[0]["workloads"]["small"]
    groups = {
        "inprocess": {"floor", "pachs3", "pachs3_power_loss", "moto"},
        "http": {"ceiling", "pachs3", "moto"},
    }
    for group, names in groups.items():
        for op in ("put", "get", "head"):
            for threads in small["threads"]:
                cell = small[group][op][str(threads)]
                assert set(cell["ops_per_second"]) == names
                assert all(_summary_ok(s) for s in cell["ops_per_second"].values())
                assert all(_summary_ok(s) for s in cell["cpu_us_per_op"].values())
                assert all(_positive(r) for r in cell["cpu_ratios"].values())
                assert cell["ratios"]
                assert all(_positive(r) for r in cell["ratios"].values())
                assert all(e == 0 for e in cell["errors"].values()), cell["errors"]


def test_server_cost_results(run: tuple[dict[str, Any], Path]) -> None:
    server = run[0]["workloads"]["server"]
    for op in ("get", "put", "head", "list"):
        for conns in server["connections"]:
            cell = server["ops"][op][str(conns)]
            for name in ("pachs3", "ceiling", "moto"):
                assert _summary_ok(cell["requests_per_second"][name])
                assert cell["server_cpu_us"][name]["median"] >= 0
            assert cell["errors"]["pachs3"] == 0, cell["first_error"]
            assert cell["errors"]["ceiling"] == 0, cell["first_error"]


def test_concurrency_results(run: tuple[dict[str, Any], Path]) -> None:
    concurrency = run[0]["workloads"]["concurrency"]
    for op in ("put", "get"):
        for count in concurrency["clients"]:
            for name in ("pachs3", "ceiling"):
                cell = concurrency["ops"][op][str(count)][name]
                assert _summary_ok(cell["ops_per_second"])
                assert cell["errors"] == 0
        assert concurrency["ops"][op]["paired"]


def test_job_results(run: tuple[dict[str, Any], Path]) -> None:
    job = run[0]["workloads"]["job"]
    assert job["shapes"]
    for cell in job["shapes"].values():
        assert set(cell["seconds"]) == {
            "pachs3_run",
            "pachs3_noop",
            "pachs3_serve",
            "moto",
            "null",
            "cp",
        }
        assert all(_positive(v) for v in cell["seconds"].values())
        serve = cell["runs"]["pachs3_serve"][0]
        assert _positive(serve["finish_seconds"])
        assert all(_positive(v) for v in cell["ratios"].values())


def test_listing_results(run: tuple[dict[str, Any], Path]) -> None:
    listing = run[0]["workloads"]["listing"]
    for cell in listing["sizes"].values():
        assert set(cell["keys_per_second"]) == {"floor", "pachs3", "moto"}
        assert all(_summary_ok(s) for s in cell["keys_per_second"].values())
        assert _positive(cell["ratios"]["pachs3/moto"])
        assert _positive(cell["last_over_first"]["pachs3"])
        assert all(_summary_ok(s) for s in cell["delimiter_seconds"].values())
    assert _summary_ok(listing["delimiter_large"]["seconds"])
    assert listing["delimiter_large"]["seeks"] >= listing["delimiter_large"]["prefixes"]


def test_listing_over_http_results(run: tuple[dict[str, Any], Path]) -> None:
    listing = run[0]["workloads"]["listing_http"]
    for cell in listing["sizes"].values():
        assert _positive(cell["keys_per_second"]["pachs3"])
    moto = listing["sizes"][str(listing["moto_size"])]
    assert _positive(moto["keys_per_second"]["moto"])
    assert _positive(moto["pachs3/moto"])


def test_large_results_include_memory(run: tuple[dict[str, Any], Path]) -> None:
    large = run[0]["workloads"]["large"]
    for key in ("pachs3_put", "pachs3_get", "static_get", "moto_put", "moto_get"):
        assert _summary_ok(large["mb_per_second"][key])
        assert isinstance(large["memory_growth"][key], int)
    assert _summary_ok(large["md5_mb_per_second"])
    assert _positive(large["ratios"]["pachs3_put/md5"])
    detail = large["rounds_detail"]["pachs3"][0]["put"]["memory"]
    assert detail["baseline_rss"] > 0
    assert detail["peak_rss"] >= detail["baseline_rss"]


def test_flat_results(run: tuple[dict[str, Any], Path]) -> None:
    flat = run[0]["workloads"]["flat"]
    for kind in ("copy", "complete_one_part", "complete"):
        for size in flat["sizes"]:
            assert _summary_ok(flat[kind][str(size)]["pachs3"])
            assert _summary_ok(flat[kind][str(size)]["moto"])
        assert _positive(flat[f"{kind}_growth"]["pachs3"])


def test_targets_and_document(run: tuple[dict[str, Any], Path]) -> None:
    results, out = run
    targets = results["targets"]
    assert len(targets) >= 10
    for target in targets:
        assert target["comparison"] in (">=", "<=")
        assert _positive(target["value"]), target
        assert isinstance(target["met"], bool)
    document = (out / "benchmarks.md").read_text(encoding="utf-8")
    assert "### Targets" in document
    assert "### Small objects" in document
    assert "<!-- generated: end -->" in document


def test_global_commits_counts_fewer_commits_when_batched(
    run: tuple[dict[str, Any], Path],
) -> None:
    modes = run[0]["workloads"]["global_commits"]["modes"]
    assert set(modes) == {"per-write", "batch-20ms", "batch-100ms"}
    for row in modes["per-write"]:
        assert row["commits"] == row["objects"]  # one commit per write
    several = [row for row in modes["batch-100ms"] if row["writers"] > 1]
    assert several
    assert all(row["commits"] < row["objects"] for row in several)


def test_version_listing_counts_what_a_page_reads_at_each_depth(
    run: tuple[dict[str, Any], Path],
) -> None:
    rows = run[0]["workloads"]["version_listing"]["rows"]
    assert rows
    for row in rows:
        first = row["first_page_reads"]
        # one list_commits for the line, then LocalStore's own walk from its history index:
        # no walk per commit, a few seeks whatever the depth
        assert first["list_commits"] == 1
        assert first["walk_files"] == 0
        assert first["walk_history"] == 1
        assert 0 < first["range_scans"] <= 6
        assert row["resumed_page_reads"]["lines"] > 0
        assert row["first_page_s"] > 0
        assert row["every_version_pages"] >= 1
