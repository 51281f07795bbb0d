"""Before and after: a run's figures against a saved orders.json (and the flash_sale.json beside
it), printed as tables; nothing is asserted.

    python -m bench.orders --baseline bench/results/baseline-2026-12-01/orders.json ...
    python -m bench.compare bench/results/baseline-2026-12-01/orders.json [AFTER/orders.json]

Steps are matched by offered rate. CPU per confirmed order is taken over the load window plus
the drain when both files have it (`cpu_drained_seconds`); when either lacks it (files written
before the drain was measured) both sides use the load window alone, which is a lower bound,
and the title says so. The idle figure sums every process; a file without PostgreSQL and Redis
in its idle figures is marked.
"""

from __future__ import annotations

import argparse
import json
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from rich.table import Table

from bench.cpu import NOT_SUITE, POSTGRES, REDIS
from bench.report import console, process_order

Figures = Mapping[str, Any]
OWN = "sum without postgresql, redis"  # comparable with files that did not measure them


def load(path: Path) -> dict[str, Any]:
    """orders.json with its sibling flash_sale.json's figures under "flash_sale"."""
    figures: dict[str, Any] = json.loads(path.read_text())
    flash = path.with_name("flash_sale.json")
    if "flash_sale" not in figures and flash.exists():
        figures["flash_sale"] = json.loads(flash.read_text()).get("flash_sale")
    return figures


def number(value: Any) -> float:
    return float(value) if isinstance(value, int | float) else math.nan


def shown(value: float, digits: int = 1) -> str:
    return f"{value:,.{digits}f}" if math.isfinite(value) else "-"


def change(before: float, after: float) -> str:
    if not (math.isfinite(before) and math.isfinite(after)) or before == 0:
        return ""
    return f"{(after - before) / abs(before) * 100:+.0f} %"


def row(table: Table, name: str, before: float, after: float, digits: int = 1) -> None:
    table.add_row(name, shown(before, digits), shown(after, digits), change(before, after))


def steps_by_rate(figures: Figures) -> dict[float, Figures]:
    return {float(s["offered_per_s"]): s for s in figures.get("steps") or []}


def drained(figures: Figures) -> bool:
    return all(s.get("cpu_drained_seconds") for s in figures.get("steps") or [])


def cpu_per_order(step: Figures, use_drained: bool) -> dict[str, float]:
    cpu = step.get("cpu_drained_seconds" if use_drained else "cpu_seconds") or {}
    confirmed = step.get("confirmed") or 0
    if not confirmed:
        return {name: math.nan for name in cpu}
    per = {name: seconds * 1000 / confirmed for name, seconds in cpu.items()}
    per["sum"] = sum(v for k, v in per.items() if k not in NOT_SUITE)
    per[OWN] = sum(v for k, v in per.items() if k not in (*NOT_SUITE, "sum", POSTGRES, REDIS))
    return per


def idle_cores(figures: Figures) -> tuple[float, str]:
    if (cores := figures.get("idle_cores")) is not None:
        return float(cores), ""
    idle = figures.get("idle_cpu_seconds_per_s") or {}
    if not idle:
        return math.nan, ""
    missing = [n for n in (POSTGRES, REDIS) if n not in idle]
    note = f" (without {', '.join(missing)})" if missing else ""
    return sum(v for k, v in idle.items() if k not in NOT_SUITE), note


def throughput_table(before: Figures, after: Figures) -> Table:
    table = Table("figure", "before", "after", "change", title="before / after: the ramp")
    old, new = steps_by_rate(before), steps_by_rate(after)
    for rate in sorted(set(old) & set(new)):
        a, b = old[rate], new[rate]
        row(
            table,
            f"{rate:g}/s offered: confirmed/s",
            number(a["confirmed_per_s"]),
            number(b["confirmed_per_s"]),
        )
        row(table, "  p50 ms", number(a.get("p50_ms")), number(b.get("p50_ms")), 0)
        row(table, "  p99 ms", number(a.get("p99_ms")), number(b.get("p99_ms")), 0)
        if a.get("views") or b.get("views"):  # runs before --views-per-order have none
            row(table, "  views/s", number(a.get("views_per_s")), number(b.get("views_per_s")))
            old_p99, new_p99 = number(a.get("views_p99_ms")), number(b.get("views_p99_ms"))
            row(table, "  views p99 ms", old_p99, new_p99, 0)
    only = sorted(set(old) ^ set(new))
    if only:
        table.caption = "steps in one file only: " + ", ".join(f"{r:g}/s" for r in only)
    return table


def cpu_table(before: Figures, after: Figures) -> Table:
    use_drained = drained(before) and drained(after)
    how = "load window + drain" if use_drained else "load window only: lower bounds"
    old, new = steps_by_rate(before), steps_by_rate(after)
    rates = sorted(set(old) & set(new))
    table = Table("process", title=f"before / after: CPU ms per confirmed order ({how})")
    for rate in rates:
        table.add_column(f"{rate:g}/s before", justify="right")
        table.add_column(f"{rate:g}/s after", justify="right")
    pairs = [
        (cpu_per_order(old[r], use_drained), cpu_per_order(new[r], use_drained)) for r in rates
    ]
    names = {n for a, b in pairs for n in (*a, *b) if n not in (*NOT_SUITE, "sum", OWN)}
    for name in [*process_order(names), "sum", OWN]:
        cells = [shown(side.get(name, math.nan)) for pair in pairs for side in pair]
        table.add_row(f"[bold]{name}" if name == "sum" else name, *cells)
    return table


def with_counts(flash: Figures) -> dict[str, Any]:
    """A flash sale written before the 5xx and sold-out counts were: both from its status
    counts (every 409 of the gateway's counted stock was a sold-out)."""
    flash = dict(flash)
    fives = [
        (k, v) for part in ("retried", "http_errors") for k, v in (flash.get(part) or {}).items()
    ]
    flash.setdefault("server_errors", sum(v for k, v in fives if k.startswith("5")))
    flash.setdefault("sold_out", (flash.get("http_errors") or {}).get("409", 0))
    return flash


def other_table(before: Figures, after: Figures) -> Table:
    table = Table("figure", "before", "after", "change", title="before / after: flash sale, idle")
    old, new = before.get("flash_sale") or {}, after.get("flash_sale") or {}
    old, new = (with_counts(f) if f else {} for f in (old, new))
    if old or new:
        buyers = f"flash sale ({old.get('buyers', '-')} / {new.get('buyers', '-')} buyers)"
        table.add_row(buyers, "", "", "")
        for key, name in (
            ("all_answered_seconds", "  first request → every buyer answered, s"),
            ("sell_out_seconds", "  first request → sold out, s"),
            ("all_decided_seconds", "  first request → every order decided, s"),
            ("register_seconds", "  buyers' set-up, s"),
        ):
            row(table, name, number(old.get(key)), number(new.get(key)))
        for key, name in (
            ("confirmed_in_db", "  confirmed"),
            ("oversell", "  oversell"),
            ("server_errors", "  5xx answers"),
            ("sold_out", "  sold-out answers"),
        ):
            row(table, name, number(old.get(key)), number(new.get(key)), 0)
    (idle_before, note_before), (idle_after, note_after) = idle_cores(before), idle_cores(after)
    notes = [f"{side}{note}" for side, note in (("before", note_before), ("after", note_after))]
    label = "; ".join(n for n in notes if "(" in n)
    row(table, f"idle suite, CPU cores {label}".strip(), idle_before, idle_after, 2)
    return table


def print_comparison(baseline: Path, current: Figures) -> None:
    before = load(baseline)
    console.rule(f"before: {baseline} ({before.get('environment', {}).get('when', '?')})")
    for table in (
        throughput_table(before, current),
        cpu_table(before, current),
        other_table(before, current),
    ):
        console.print(table)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.compare", description=__doc__)
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.add_argument("baseline", type=Path, help="the 'before' orders.json")
    here = Path(__file__).parent / "results" / "orders.json"
    parser.add_argument("current", type=Path, nargs="?", default=here, help="the 'after'")
    args = parser.parse_args(argv)
    print_comparison(args.baseline, load(args.current))


if __name__ == "__main__":
    main()
