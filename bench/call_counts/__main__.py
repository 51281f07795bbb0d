"""`python -m bench.call_counts DIR --orders N`: the counts `sitecustomize.py` wrote to DIR,
per order, per service and in all."""

from __future__ import annotations

import argparse
import collections
import json
from pathlib import Path


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.call_counts")
    parser.add_argument("folder", type=Path)
    parser.add_argument("--orders", type=int, required=True, help="orders confirmed in the run")
    parser.add_argument("--top", type=int, default=8, help="statements shown per service")
    args = parser.parse_args()
    total: collections.Counter[str] = collections.Counter()
    for path in sorted(args.folder.glob("*.json")):
        counts: dict[str, int] = json.loads(path.read_text())
        total.update(counts)
        sql = {k: v for k, v in counts.items() if k.startswith("sql ")}
        print(
            f"{path.stem}: {sum(sql.values()) / args.orders:.1f} statements, "
            f"{counts.get('transactions', 0) / args.orders:.1f} transactions per order"
        )
        for key, value in sorted(sql.items(), key=lambda kv: -kv[1])[: args.top]:
            print(f"  {value / args.orders:6.2f}  {key[4:]}")
    print("all services, per order:")
    sql_total = sum(v for k, v in total.items() if k.startswith("sql "))
    print(f"  SQL statements {sql_total / args.orders:.1f}")
    print(f"  transactions {total['transactions'] / args.orders:.1f}")
    for key, value in sorted(total.items(), key=lambda kv: -kv[1]):
        if key.startswith("kafka "):
            print(f"  {key[6:]} {value / args.orders:.1f}")


if __name__ == "__main__":
    main()
