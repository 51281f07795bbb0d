"""What the order benchmark prints and writes: rich tables, JSON, a PNG plot."""

from __future__ import annotations

import json
import math
import sys
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, is_dataclass
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from bench.cpu import MACHINE
from bench.flash_sale import FlashFigures
from bench.invariants import Check
from bench.load import StepFigures

# Wide enough for the step table when the output goes to a file or a pipe.
console = Console(highlight=False, width=None if sys.stdout.isatty() else 160)


def ms(value: float) -> str:
    return f"{value:,.0f}" if math.isfinite(value) else "∞"


def counts(values: Mapping[str, int]) -> str:
    return ", ".join(f"{k} {v}" for k, v in sorted(values.items())) or "-"


def step_row(step: StepFigures) -> list[str]:
    return [
        f"{step.offered_per_s:g}",
        f"{step.placed_per_s:.1f}",
        f"{step.confirmed_per_s:.1f}",
        ms(step.p50_ms),
        ms(step.p95_ms),
        ms(step.p99_ms),
        str(step.accepted),
        counts(step.rejected),
        counts(step.compensated),
        str(step.unfinished),
        counts(step.http_errors),
        ms(step.max_schedule_lag_ms),
        " / ".join(ms(v) for v in step.hops_p50_ms.values()),
    ]


STEP_COLUMNS = (
    "offered/s",
    "placed/s",
    "confirmed/s",
    "p50 ms",
    "p95 ms",
    "p99 ms",
    "2xx",
    "rejected",
    "compensated",
    "no outcome",
    "HTTP errors",
    "sched. lag ms",
    "p50 ms: POST→placed / →reserved / →confirmed",
)


def steps_table(steps: Sequence[StepFigures]) -> Table:
    table = Table(*STEP_COLUMNS, title="orders through the gateway (latency: POST to CONFIRMED)")
    for step in steps:
        table.add_row(*step_row(step))
    return table


def cpu_table(steps: Sequence[StepFigures]) -> Table:
    """CPU seconds per process per step (over the step's load window)."""
    columns = (f"{s.offered_per_s:g}/s ({s.cpu_window_seconds:.0f} s)" for s in steps)
    table = Table("process", *columns, title="CPU seconds per step (over the step's wall time)")
    names = sorted({n for s in steps for n in s.cpu_seconds}, key=lambda n: (n == MACHINE, n))
    for name in names:
        table.add_row(name, *(f"{s.cpu_seconds.get(name, 0.0):.1f}" for s in steps))
    return table


def key_value_table(title: str, rows: Iterable[tuple[str, Any]]) -> Table:
    table = Table("figure", "value", title=title)
    for key, value in rows:
        shown = f"{value:,.4g}" if isinstance(value, float) else str(value)
        table.add_row(key, shown)
    return table


def flash_table(flash: FlashFigures) -> Table:
    return key_value_table("flash sale", plain(flash).items())


def checks_table(checks: Sequence[Check]) -> Table:
    table = Table("invariant", "holds", "detail", title="DESIGN.md section 5")
    for check in checks:
        table.add_row(check.name, "[green]yes" if check.ok else "[red]NO", check.detail)
    return table


def top_table(service: str, top: dict[str, list[tuple[str, float]]]) -> Table:
    columns = ("self %", "function (self)", "total %", "function (total)")
    table = Table(*columns, "total %", "the suite's own (total)")
    table.title = f"py-spy: where {service} spends its CPU (share of samples)"
    for (own, own_pct), (total, total_pct), (ours, ours_pct) in zip(
        top["self"], top["total"], top["ours"], strict=False
    ):
        table.add_row(f"{own_pct:.1f}", own, f"{total_pct:.1f}", total, f"{ours_pct:.1f}", ours)
    return table


def plain(value: Any) -> Any:
    """JSON-ready: dataclasses as dicts, inf and nan as null."""
    if is_dataclass(value) and not isinstance(value, type):
        return plain(asdict(value))
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def write_json(path: Path, figures: Mapping[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(plain(figures), indent=2, ensure_ascii=False) + "\n")
    console.print(f"written to {path}")


def write_plot(path: Path, steps: Sequence[StepFigures]) -> None:
    """Confirmed/s (and placed/s) against offered/s, p99 on a second (log) axis."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    offered = [s.offered_per_s for s in steps]
    fig, rate_axis = plt.subplots(figsize=(8, 5))
    rate_axis.plot(offered, offered, ":", color="grey", label="offered")
    rate_axis.plot(offered, [s.placed_per_s for s in steps], "s-", label="placed/s (2xx)")
    rate_axis.plot(offered, [s.confirmed_per_s for s in steps], "o-", label="confirmed/s")
    rate_axis.set_xlabel("offered orders/s")
    rate_axis.set_ylabel("orders/s")
    latency_axis = rate_axis.twinx()
    p99 = [s.p99_ms if math.isfinite(s.p99_ms) else math.nan for s in steps]
    latency_axis.plot(offered, p99, "^--", color="tab:red", label="p99 ms (POST→CONFIRMED)")
    latency_axis.set_yscale("log")
    latency_axis.set_ylabel("p99 latency, ms")
    handles = rate_axis.get_legend_handles_labels()
    more = latency_axis.get_legend_handles_labels()
    rate_axis.legend(handles[0] + more[0], handles[1] + more[1], loc="upper left")
    rate_axis.set_title("Orders through the gateway to CONFIRMED")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    console.print(f"written to {path}")
