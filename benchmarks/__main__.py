"""``python -m benchmarks [--quick|--smoke] [--only GROUP,...]`` (groups: WORKLOADS).

Runs the workloads, writes ``benchmarks/results/<time>-<preset>.json`` (and ``latest-<preset>
.json``), and for the full preset rewrites the generated part of ``docs/benchmarks.md`` and
``docs/benchmarks.png`` (``--doc``/``--plot`` choose other paths, ``--no-doc`` skips both).
Exit status 1 when a workload failed (its error is in the results).
"""

from __future__ import annotations

import argparse
import importlib
import json
import shutil
import sys
import tempfile
import threading
import time
import traceback
from pathlib import Path

from benchmarks.harness import PRESETS, Json, load, machine, now, pachs3_source, preset_json
from benchmarks.report import targets, write_document

WORKLOADS = (
    "server",
    "concurrency",
    "small",
    "listing",
    "listing_http",
    "large",
    "flat",
    "job",
    "global_commits",
    "version_listing",
)
ROOT = Path(__file__).resolve().parent.parent


def parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks", description=__doc__.split("\n")[0]
    )
    size = parser.add_mutually_exclusive_group()
    size.add_argument(
        "--quick",
        action="store_const",
        dest="preset",
        const="quick",
        help="smaller sizes and fewer rounds (about 3 minutes)",
    )
    size.add_argument(
        "--smoke",
        action="store_const",
        dest="preset",
        const="smoke",
        help="tiny sizes, seconds per workload (the harness's own test)",
    )
    parser.add_argument(
        "--only",
        default=",".join(WORKLOADS),
        help=f"comma-separated workloads (default: {','.join(WORKLOADS)})",
    )
    parser.add_argument("--results-dir", type=Path, default=ROOT / "benchmarks" / "results")
    parser.add_argument(
        "--doc",
        type=Path,
        help="markdown page to update (default docs/benchmarks.md for the full preset)",
    )
    parser.add_argument(
        "--plot", type=Path, help="PNG to write (default docs/benchmarks.png for the full preset)"
    )
    parser.add_argument("--no-doc", action="store_true", help="write the JSON results only")
    parser.add_argument(
        "--workdir",
        type=Path,
        help="where stores and files go (default: a fresh temporary directory, removed afterwards)",
    )
    parser.set_defaults(preset="full")
    args = parser.parse_args(argv)
    unknown = set(args.only.split(",")) - set(WORKLOADS)
    if unknown:
        parser.error(f"unknown workload(s) {sorted(unknown)}; choose from {WORKLOADS}")
    if args.preset == "full" and not args.no_doc:
        args.doc = args.doc or ROOT / "docs" / "benchmarks.md"
        args.plot = args.plot or ROOT / "docs" / "benchmarks.png"
    return args


class LoadSampler:
    """The 1/5/15-minute load averages every ``interval`` seconds while the run goes on."""

    def __init__(self, interval: float = 15.0) -> None:
        self.samples: list[Json] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, args=(interval,), daemon=True)

    def _run(self, interval: float) -> None:
        while True:
            self.samples.append(load())
            if self._stop.wait(interval):
                return

    def __enter__(self) -> LoadSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def run(args: argparse.Namespace) -> Json:
    preset = PRESETS[args.preset]
    chosen = [name for name in WORKLOADS if name in args.only.split(",")]
    base = args.workdir or Path(tempfile.mkdtemp(prefix="pachs3-bench-"))
    results: Json = {
        "meta": {
            "preset": preset_json(preset),
            "started": now(),
            "machine": machine(),
            "load_before": load(),
        },
        "workloads": {},
    }
    began = time.perf_counter()
    try:
        with LoadSampler() as sampler:
            for name in chosen:
                print(f"== {name} ({preset.name})", flush=True)
                workdir = base / name
                workdir.mkdir(parents=True, exist_ok=True)
                started = time.perf_counter()
                try:
                    module = importlib.import_module(f"benchmarks.{name}")
                    results["workloads"][name] = module.run(preset, workdir)
                except Exception as exc:
                    traceback.print_exc()
                    results["workloads"][name] = {"error": f"{type(exc).__name__}: {exc}"}
                results["workloads"][name]["seconds"] = time.perf_counter() - started
                print(f"   {time.perf_counter() - started:.1f} s", flush=True)
                shutil.rmtree(workdir, ignore_errors=True)
    finally:
        if args.workdir is None:
            shutil.rmtree(base, ignore_errors=True)
    results["meta"]["load_samples"] = sampler.samples
    results["meta"]["load_after"] = load()
    results["meta"]["pachs3_source_after"] = pachs3_source()
    results["meta"]["seconds"] = time.perf_counter() - began
    results["targets"] = [target.as_json() for target in targets(results)]
    return results


def save(results: Json, directory: Path) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    name = results["meta"]["preset"]["name"]
    stamp = results["meta"]["started"].replace(":", "").replace("+0000", "Z")
    path = directory / f"{stamp}-{name}.json"
    text = json.dumps(results, indent=1, sort_keys=False) + "\n"
    for target in (path, directory / f"latest-{name}.json"):
        temporary = target.with_suffix(".json.tmp")
        temporary.write_text(text, encoding="utf-8")
        temporary.replace(target)
    return path


def main(argv: list[str] | None = None) -> int:
    args = parse(sys.argv[1:] if argv is None else argv)
    results = run(args)
    path = save(results, args.results_dir)
    print(f"results: {path}")
    if not args.no_doc:
        plotted = False
        if args.plot is not None:
            from benchmarks.plot import write_plot

            plotted = write_plot(args.plot, results)
            print(f"plot: {args.plot}" if plotted else "plot: skipped (matplotlib not installed)")
        if args.doc is not None:
            plot_name = None
            if plotted and args.plot is not None:
                plot_name = _relative(args.plot, args.doc.parent)
            write_document(args.doc, results, plot_name=plot_name)
            print(f"document: {args.doc}")
    for target in results["targets"]:
        verdict = {True: "met", False: "NOT MET", None: "not measured"}[target["met"]]
        value = "-" if target["value"] is None else f"{target['value']:.2f}"
        print(
            f"  {verdict:12} {value:>8} {target['comparison']} {target['threshold']:g}  "
            f"{target['description']}"
        )
    failed = [name for name, data in results["workloads"].items() if "error" in data]
    return 1 if failed else 0


def _relative(path: Path, start: Path) -> str:
    try:
        return str(path.resolve().relative_to(start.resolve()))
    except ValueError:
        return str(path.resolve())


if __name__ == "__main__":
    sys.exit(main())
