"""Counts what every process of a launched suite asks of its database and its broker.

Put this folder first on PYTHONPATH and name an output folder, then run a benchmark; every
`... serve` process started under it (each service, via tools.launched) counts its SQL
statements and transactions (SQLAlchemy events) and its Kafka requests by type (aiokafka's
connection), and writes them to `<BENCH_CALL_COUNTS_DIR>/<service>.json` every second:

    BENCH_CALL_COUNTS_DIR=/tmp/calls PYTHONPATH=.:bench/call_counts \\
        .venv/bin/python -m bench.orders --scenario ramp --rates 10 --databases postgres
    .venv/bin/python -m bench.call_counts /tmp/calls --orders 150

The counts include the run's set-up (products, members): use one short step, and read the
rows that scale with orders. The README's "This round, counted" table was made this way.
"""

from __future__ import annotations

import collections
import json
import os
import sys
import threading
import time
from pathlib import Path
from typing import Any

OUT = os.environ.get("BENCH_CALL_COUNTS_DIR")
counts: collections.Counter[str] = collections.Counter()


def _count_sql() -> None:
    from sqlalchemy import event
    from sqlalchemy.engine import Engine

    def statement(_conn: Any, _cursor: Any, sql: str, *_: Any) -> None:
        counts["sql " + " ".join(sql.split())[:110]] += 1

    def commit(_conn: Any) -> None:
        counts["transactions"] += 1

    event.listen(Engine, "before_cursor_execute", statement)
    event.listen(Engine, "commit", commit)


def _count_kafka() -> None:
    import aiokafka.conn

    send = aiokafka.conn.AIOKafkaConnection.send

    def counted(self: Any, request: Any, expect_response: bool = True) -> Any:
        counts["kafka " + type(request).__name__] += 1
        return send(self, request, expect_response)

    aiokafka.conn.AIOKafkaConnection.send = counted  # type: ignore[method-assign]


def _write_every_second(folder: Path) -> None:
    # Install the counters once the service has imported what they patch and started serving:
    # importing SQLAlchemy here while the main thread is still importing it (migrations at
    # start, on a slow machine) fails on a partly initialised module.
    while not {"aiokafka.conn", "sqlalchemy.ext.asyncio", "uvicorn.server"} <= sys.modules.keys():
        time.sleep(0.5)
    time.sleep(3)
    _count_sql()
    _count_kafka()
    name = Path(sys.argv[0]).parent.name  # .../<name>_service/__main__.py
    while True:
        time.sleep(1)
        (folder / f"{name}.json").write_text(json.dumps(counts))


if OUT and "serve" in sys.argv:
    Path(OUT).mkdir(parents=True, exist_ok=True)
    threading.Thread(target=_write_every_second, args=(Path(OUT),), daemon=True).start()
