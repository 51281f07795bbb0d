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

from bench.cpu import CLIENT, MACHINE, NOT_SUITE, POSTGRES, REDIS, suite_total
from bench.flash_sale import TARGET_ANSWERED_SECONDS, FlashFigures
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


def views_table(steps: Sequence[StepFigures]) -> Table:
    """The storefront product views sent alongside each step's orders (latency: GET to answer,
    200 answers only; errors: any other status or no answer)."""
    columns = ("offered orders/s", "views/order", "views sent", "views/s", "p50 ms", "p99 ms")
    table = Table(*columns, "errors", title="product views through the gateway")
    for s in steps:
        table.add_row(
            f"{s.offered_per_s:g}",
            str(s.views_per_order),
            str(s.views),
            f"{s.views_per_s:.1f}",
            ms(s.views_p50_ms),
            ms(s.views_p99_ms),
            counts(s.view_errors),
        )
    return table


def cpu_table(steps: Sequence[StepFigures]) -> Table:
    """CPU seconds per process per step (over the step's load window)."""
    columns = (f"{s.offered_per_s:g}/s ({s.cpu_window_seconds:.0f} s)" for s in steps)
    table = Table("process", *columns, title="CPU seconds per step (over the step's wall time)")
    names = sorted({n for s in steps for n in s.cpu_seconds}, key=lambda n: (n == MACHINE, n))
    for name in names:
        table.add_row(name, *(f"{s.cpu_seconds.get(name, 0.0):.1f}" for s in steps))
    return table


def process_order(names: Iterable[str]) -> list[str]:
    """Gateway, the services, the broker, mail, then PostgreSQL and Redis."""
    tail = ("broker", "mail", POSTGRES, REDIS)
    ordered = sorted(n for n in names if n not in (*tail, *NOT_SUITE))
    ordered.sort(key=lambda n: n != "gateway")
    return ordered + [n for n in tail if n in names]


def per_order(value: float) -> str:
    return f"{value:.1f}" if math.isfinite(value) else "-"


def cpu_per_order_table(steps: Sequence[StepFigures], database: str = "") -> Table:
    """CPU ms per confirmed order by process, over each step's load window plus its drain."""
    columns = (
        f"{s.offered_per_s:g}/s ({s.confirmed} conf., {s.cpu_drained_window_seconds:.0f} s)"
        for s in steps
    )
    on = f" on {database}" if database else ""
    table = Table("process", *columns)
    table.title = f"CPU ms per confirmed order{on} (load window + drain until decided and quiet)"
    per = [s.cpu_ms_per_order() for s in steps]
    names = process_order({n for s in steps for n in s.cpu_drained_seconds})
    for name in names:
        table.add_row(name, *(per_order(p.get(name, 0.0)) for p in per))
    sums = [
        suite_total(s.cpu_drained_seconds) * 1000 / s.confirmed if s.confirmed else math.nan
        for s in steps
    ]
    table.add_section()
    table.add_row("[bold]sum", *(f"[bold]{per_order(v)}" for v in sums))
    idle = [
        s.idle_cores * s.cpu_drained_window_seconds * 1000 / s.confirmed
        if s.confirmed
        else math.nan
        for s in steps
    ]
    table.add_row("  of which idle", *(per_order(v) for v in idle))
    table.add_section()
    for name in (CLIENT, MACHINE):
        table.add_row(f"{name} (not summed)", *(per_order(p.get(name, math.nan)) for p in per))
    notes = [
        f"{s.offered_per_s:g}/s, {name}: {note}"
        for s in steps
        for name, ns in sorted(s.cpu_notes.items())
        for note in ns
    ]
    if notes:
        table.caption = "\n".join(notes)
    return table


def idle_line(
    cores: float, target: float, notes: Mapping[str, list[str]], names: Iterable[str]
) -> str:
    verdict = "[green]within" if cores <= target else "[red]above"
    line = (
        f"[bold]idle suite: {cores:.2f} CPU cores[/] (summed over every process: "
        f"{', '.join(process_order(names))}) — target {target:g}: {verdict} the target"
    )
    for name, items in notes.items():
        line += f"\n  {name}: {'; '.join(items)}"
    return line


def flash_target_table(flash: FlashFigures) -> Table:
    met = "[green]yes" if flash.met_target else "[red]no"
    rows = [
        ("buyers / units", f"{flash.buyers:,} / {flash.units:,}"),
        ("buyers' set-up, s (before the sale)", f"{flash.register_seconds:.1f}"),
        ("  how", flash.setup),
        ("first request → every buyer answered, s", f"{flash.all_answered_seconds:.2f}"),
        (f"  within {TARGET_ANSWERED_SECONDS:g} s (target)", met),
        ("  each buyer's first answer, p50 ms", ms(flash.first_answer_p50_ms)),
        ("  the last order (2xx) answered, s", f"{flash.accepted_answered_seconds:.2f}"),
        ("  the last refusal (4xx) answered, s", f"{flash.refused_answered_seconds:.2f}"),
        ("first request → every order decided, s", f"{flash.all_decided_seconds:.2f}"),
        ("confirmed", str(flash.confirmed_in_db)),
        ("oversell", str(flash.oversell)),
        (
            "5xx answers (retried and final)",
            f"{flash.server_errors} ({flash.final_server_errors} final)",
        ),
        ("sold-out answers (409)", str(flash.sold_out)),
    ]
    return key_value_table("flash sale: the targets", rows)


def databases_table(runs: Mapping[str, Mapping[str, Any]]) -> Table:
    """The ramps side by side, one column group per database, steps matched by offered/s."""
    table = Table("offered/s", title="the same ramp on each database (CPU: window + drain)")
    for kind in runs:
        for column in ("confirmed/s", "p50 ms", "p99 ms", "CPU ms/order"):
            table.add_column(f"{kind}\n{column}", justify="right")
    by_rate: dict[float, dict[str, StepFigures]] = {}
    for kind, figures in runs.items():
        for step in figures.get("steps", []):
            by_rate.setdefault(step.offered_per_s, {})[kind] = step
    for rate in sorted(by_rate):
        row = [f"{rate:g}"]
        for kind in runs:
            step = by_rate[rate].get(kind)
            if step is None:
                row += ["-"] * 4
                continue
            total = suite_total(step.cpu_drained_seconds)
            cpu = total * 1000 / step.confirmed if step.confirmed else math.nan
            row += [f"{step.confirmed_per_s:.1f}", ms(step.p50_ms), ms(step.p99_ms), per_order(cpu)]
        table.add_row(*row)
    table.add_section()
    idle = [f"{runs[k].get('idle_cores', math.nan):.2f}" for k in runs]
    table.add_row("idle cores", *(cell for v in idle for cell in (v, "", "", "")))
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
    table = Table("invariant", "holds", "detail", title="invariants (tools/invariants.py)")
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
