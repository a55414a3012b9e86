"""``docs/benchmarks.png``: the main ratios of a run, each against its target (matplotlib).

Left: pachs3 as a fraction of the ceiling it can at best reach (client floor in-process,
framework ceiling over HTTP, static file server for large GETs). Right: pachs3 as a multiple of
moto (log scale). A bar is green when it meets its target, red when it misses, grey when it
has none; the black tick on a bar is its target.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from benchmarks.harness import Json, MiB

Bar = tuple[str, float | None, float | None]  # label, value, target (None: informational)


def _ratio(data: Any, *path: str) -> float | None:
    for part in path:
        if not isinstance(data, dict) or part not in data:
            return None
        data = data[part]
    return data if isinstance(data, int | float) else None


def bars(results: Json) -> tuple[list[Bar], list[Bar]]:
    work = results.get("workloads", {})
    small, listing, large = work.get("small", {}), work.get("listing", {}), work.get("large", {})
    ceiling: list[Bar] = []
    moto: list[Bar] = []
    threads = [str(t) for t in small.get("threads", [])]
    for op in ("put", "get", "head"):
        target = 0.8 if op != "head" else None
        for t in threads:
            ceiling.append(
                (
                    f"in-process {op.upper()} {t}t / floor",
                    _ratio(small, "inprocess", op, t, "ratios", "pachs3/floor"),
                    target,
                )
            )
            ceiling.append(
                (
                    f"  power-loss {op.upper()} {t}t / floor",
                    _ratio(small, "inprocess", op, t, "ratios", "pachs3_power_loss/floor"),
                    None,
                )
            )
    for op in ("put", "get", "head"):
        target = 0.8 if op != "head" else None
        for t in threads:
            ceiling.append(
                (
                    f"HTTP {op.upper()} {t}t / ceiling",
                    _ratio(small, "http", op, t, "ratios", "pachs3/ceiling"),
                    target,
                )
            )
            moto.append(
                (
                    f"HTTP {op.upper()} {t}t",
                    _ratio(small, "http", op, t, "ratios", "pachs3/moto"),
                    2.0 if op != "head" else None,
                )
            )
    for t in threads:
        for op in ("put", "get"):
            moto.append(
                (
                    f"in-process {op.upper()} {t}t",
                    _ratio(small, "inprocess", op, t, "ratios", "pachs3/moto"),
                    None,
                )
            )
    sizes = sorted(int(s) for s in listing.get("sizes", {}))
    for size in sizes:
        cell = listing["sizes"][str(size)]
        moto.append(
            (
                f"ListObjectsV2 {size:,} keys",
                _ratio(cell, "ratios", "pachs3/moto"),
                10.0 if size == sizes[-1] else None,
            )
        )
        ceiling.append(
            (f"ListObjectsV2 {size:,} keys / floor", _ratio(cell, "ratios", "pachs3/floor"), None)
        )
    size = large.get("size") or 0
    ceiling.append(
        (
            f"{size / MiB:g} MiB GET / static server",
            _ratio(large, "ratios", "pachs3_get/static_get"),
            None,
        )
    )
    for op in ("put", "get"):
        moto.append(
            (f"large {op.upper()}", _ratio(large, "ratios", f"pachs3_{op}/moto_{op}"), None)
        )
    keep = lambda items: [bar for bar in items if bar[1] is not None]  # noqa: E731
    return keep(ceiling), keep(moto)


def _color(value: float, target: float | None) -> str:
    if target is None:
        return "#9e9e9e"
    return "#2e7d32" if value >= target else "#c62828"


def write_plot(path: Path, results: Json) -> bool:
    """Write the PNG; False (and nothing written) when matplotlib is not installed."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return False
    ceiling, moto = bars(results)
    height = max(len(ceiling), len(moto)) * 0.32 + 1.6
    figure, (left, right) = plt.subplots(1, 2, figsize=(14, height))
    for axis, items, title, log in (
        (left, ceiling, "pachs3 as a fraction of the ceiling (target 0.8)", False),
        (right, moto, "pachs3 as a multiple of moto (log scale)", True),
    ):
        labels = [label for label, _, _ in items][::-1]
        values = [value or 0.0 for _, value, _ in items][::-1]
        goals = [goal for _, _, goal in items][::-1]
        rows = range(len(items))
        axis.barh(rows, values, color=[_color(v, g) for v, g in zip(values, goals, strict=True)])
        for row, goal in zip(rows, goals, strict=True):
            if goal is not None:
                axis.plot([goal, goal], [row - 0.45, row + 0.45], color="black", linewidth=2)
        for row, value in zip(rows, values, strict=True):
            axis.annotate(
                f"{value:.2f}",
                (value, row),
                xytext=(3, 0),
                textcoords="offset points",
                va="center",
                fontsize=7,
            )
        axis.set_yticks(list(rows), labels, fontsize=8)
        axis.set_title(title, fontsize=10)
        if log:
            axis.set_xscale("log")
            axis.axvline(1.0, color="#555555", linewidth=0.8)
        else:
            axis.axvline(1.0, color="#555555", linewidth=0.8)
    meta = results["meta"]
    figure.suptitle(
        f"pachs3 benchmarks ({meta['preset']['name']} preset, {meta['started']}, "
        f"nproc {meta['machine']['nproc']}, load {meta['load_before']['loadavg'][0]:.1f}"
        f"→{meta['load_after']['loadavg'][0]:.1f})",
        fontsize=10,
    )
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=110)
    plt.close(figure)
    return True
