"""The chaos table: one row per fault over its runs, printed with rich and written as JSON
and Markdown (bench/results/chaos.json, chaos.md)."""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rich.table import Table

from bench.invariants import Check
from bench.report import console, plain, write_json

COLUMNS = (
    "fault",
    "runs",
    "orders accepted / sent",
    "lost",
    "duplicated effects",
    "invariant breaks",
    "fault lasted (s)",
    "slowest answer (s)",
    "recovery (s)",
)


@dataclass
class RunResult:
    """One injection of one fault, and what followed."""

    fault: str
    run: int
    sent: int
    accepted: int
    lost: int
    duplicated_effects: int
    recovery_s: float | None  # None: no order sent after the fault was confirmed in time
    drained_s: float
    fault_s: float  # how long the fault lasted (a kill: until the service was back and ready)
    slowest_answer_s: float = 0.0  # the longest a POST /orders of the run waited for its answer
    outcomes: dict[str, int] = field(default_factory=dict)
    http_errors: dict[str, int] = field(default_factory=dict)
    broken: list[Check] = field(default_factory=list)
    error: str | None = None  # the fault could not be carried out
    injected: dict[str, int] = field(default_factory=dict)  # records the fault produced

    @property
    def breaks(self) -> int:
        return len(self.broken) + (self.error is not None)


def seconds(values: Sequence[float | None]) -> str:
    if any(v is None for v in values):
        return "not recovered"
    known = [v for v in values if v is not None]
    if not known:
        return "-"
    return f"{statistics.median(known):.1f} / {max(known):.1f}"


def rows(results: Sequence[RunResult]) -> list[list[str]]:
    by_fault: dict[str, list[RunResult]] = {}
    for result in results:
        by_fault.setdefault(result.fault, []).append(result)
    return [
        [
            fault,
            str(len(runs)),
            f"{sum(r.accepted for r in runs)} / {sum(r.sent for r in runs)}",
            str(sum(r.lost for r in runs)),
            str(sum(r.duplicated_effects for r in runs)),
            str(sum(r.breaks for r in runs)),
            seconds([r.fault_s for r in runs]),
            seconds([r.slowest_answer_s for r in runs]),
            seconds([r.recovery_s for r in runs]),
        ]
        for fault, runs in by_fault.items()
    ]


def table(results: Sequence[RunResult]) -> Table:
    table = Table(*COLUMNS, title="chaos: faults under a steady order load (seconds: median / max)")
    for row in rows(results):
        style = "red" if any(int(v) for v in row[3:6]) or "not" in row[-1] else None
        table.add_row(*row, style=style)
    return table


def run_line(result: RunResult) -> str:
    recovered = "-" if result.recovery_s is None else f"{result.recovery_s:.1f} s"
    verdict = "[green]ok[/]" if not result.breaks and not result.lost else "[red]BROKEN[/]"
    return (
        f"{verdict} {result.fault} #{result.run}: {result.accepted}/{result.sent} accepted, "
        f"lost {result.lost}, duplicated effects {result.duplicated_effects}, recovery "
        f"{recovered}, drained in {result.drained_s:.1f} s, outcomes {result.outcomes}"
        + (f", injected {result.injected}" if result.injected else "")
    )


def markdown(results: Sequence[RunResult], environment: dict[str, Any]) -> str:
    lines = [
        "# Chaos run",
        "",
        f"{environment['when']}, commit {environment['commit']}, {environment['cores']} cores, "
        f"{environment['orders_per_s']:g} orders/s offered, whole run "
        f"{environment['wall_seconds'] / 60:.1f} min (`make chaos`, `bench/chaos/`). Seconds are "
        "median / max over the runs; recovery runs from the fault's end (for a kill: the "
        "service restarted and ready) until an order sent after it is CONFIRMED.",
        "",
        "| " + " | ".join(COLUMNS) + " |",
        "|" + "---|" * len(COLUMNS),
    ]
    lines += ["| " + " | ".join(row) + " |" for row in rows(results)]
    broken = [r for r in results if r.broken or r.error]
    if broken:
        lines += ["", "Broken:", ""]
        for result in broken:
            what = [f"{c.name}: {c.detail}" for c in result.broken]
            lines.append(
                f"- {result.fault} #{result.run}: " + "; ".join([*what, result.error or ""])
            )
    return "\n".join(lines) + "\n"


def write(directory: Path, results: Sequence[RunResult], environment: dict[str, Any]) -> None:
    summary = [dict(zip(COLUMNS, row, strict=True)) for row in rows(results)]
    figures = {"environment": environment, "table": summary, "runs": plain(results)}
    write_json(directory / "chaos.json", figures)
    (directory / "chaos.md").write_text(markdown(results, environment))
    console.print(f"written to {directory / 'chaos.md'}")
