"""The consumer starter of examples/downstream as a downstream team runs it: the contract wheel
built as `make contract-wheel` builds it, installed with the starter into a virtual
environment of its own (nothing of this workspace on its path), run as a process against the
suite started as `make run` starts it (tests/e2e/storefront's fixture). An order placed through
the gateway is recorded once, with the lots and trace codes the order service shows; the same
record (same event id) sent again through the broker is counted as delivered twice and
applied once; a v1 twin of the v2 commit is skipped."""

from __future__ import annotations

import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import uuid
from collections.abc import Iterator
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from chassis.producer import EventProducer
from chassis.testing.kafka import header, read_records
from chassis.testing.polling import eventually
from shared_events.order import OrderPlacedV1
from shared_events.topics import ORDER_EVENTS
from tests.e2e.storefront.conftest import Storefront, storefront  # noqa: F401 (the fixture)

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
STARTER = ROOT / "examples" / "downstream"
SESSION_TIMEOUT_MS = "1500"  # joining a group on the embedded broker costs half a session


def uv() -> list[str]:
    found = shutil.which("uv")
    return [found] if found else [sys.executable, "-m", "uv"]


def run(argv: list[str], cwd: Path) -> str:
    result = subprocess.run(  # noqa: S603 (our own build commands)
        argv, cwd=cwd, env=outside_env(), capture_output=True, text=True, timeout=180, check=False
    )
    assert result.returncode == 0, f"{argv} failed:\n{result.stdout}\n{result.stderr}"
    return result.stdout


def outside_env() -> dict[str, str]:
    """This process's environment without what would point a child at the workspace."""
    hidden = ("PYTHONPATH", "VIRTUAL_ENV", "UV_PROJECT_ENVIRONMENT")
    return {k: v for k, v in os.environ.items() if k not in hidden and not k.startswith("PYTEST")}


@pytest.fixture(scope="module")
def starter_bin(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The starter installed as its README says: the contract wheel, then the starter."""
    base = tmp_path_factory.mktemp("downstream")
    dist, venv = base / "dist", base / "venv"
    run([*uv(), "build", "--package", "shared-events", "--wheel", "--out-dir", str(dist)], ROOT)
    (wheel,) = dist.glob("shared_events-*-py3-none-any.whl")
    run([*uv(), "venv", "--quiet", "--python", sys.executable, str(venv)], base)
    python = venv / "bin" / "python"
    run([*uv(), "pip", "install", "--python", str(python), str(wheel), str(STARTER)], base)
    # The contract comes from the wheel, not from this workspace's sources.
    where = run([str(python), "-c", "import shared_events; print(shared_events.__file__)"], base)
    assert where.startswith(str(venv)), where
    return venv / "bin"


@dataclass
class Starter:
    process: subprocess.Popen[bytes]
    database: Path
    output: Path

    def rows(self, sql: str, *params: Any) -> list[tuple[Any, ...]]:
        with closing(sqlite3.connect(self.database)) as db:
            return list(db.execute(sql, params))

    def printed(self) -> str:
        return self.output.read_text()


@pytest.fixture
def starter(starter_bin: Path, storefront: Storefront, tmp_path: Path) -> Iterator[Starter]:  # noqa: F811
    """`downstream-starter run` with a group of its own, reading from the beginning."""
    database, output = tmp_path / "downstream.db", tmp_path / "starter.log"
    argv = [str(starter_bin / "downstream-starter"), "--database", str(database), "run"]
    argv += ["--bootstrap-servers", storefront.suite.kafka_bootstrap]
    argv += ["--group", f"downstream-e2e-{uuid.uuid4().hex[:8]}"]
    argv += ["--offset-reset", "earliest", "--session-timeout-ms", SESSION_TIMEOUT_MS]
    with output.open("wb") as out:
        process = subprocess.Popen(  # noqa: S603 (the starter just installed)
            argv, cwd=tmp_path, env=outside_env(), stdout=out, stderr=subprocess.STDOUT
        )
    found = Starter(process, database, output)
    try:
        yield found
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGINT)
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


async def test_the_starter_keeps_each_order_once_with_its_trace_codes(
    storefront: Storefront,  # noqa: F811
    starter: Starter,
    starter_bin: Path,
) -> None:
    sku = await storefront.product(stock=5, name="Starter oolong")
    member = await storefront.register("Lin")
    await storefront.add_to_cart(member, sku)
    order_id = await storefront.place_accepted(member, sku, quantity=2)

    # The order as its owner sees it: confirmed, its units committed from lots with codes
    # (the order service hears of the lots from inventory's commit, a moment after confirming).
    def traced(o: dict[str, Any]) -> bool:
        trace = o["items"][0]["trace"]
        return o["status"] == "CONFIRMED" and bool(trace) and all(t["trace_code"] for t in trace)

    order = await eventually(
        lambda: storefront.get_json(f"/api/v1/orders/{order_id}", member), traced
    )
    (line,) = order["items"]
    shown = {(sku, t["lot"], t["quantity"], t["trace_code"]) for t in line["trace"]}
    assert shown and sum(q for _, _, q, _ in shown) == 2, order

    # The starter's table says the same, from the events alone.
    async def recorded() -> tuple[list[Any], set[tuple[Any, ...]]]:
        if not starter.database.exists():
            return [], set()
        orders = starter.rows(
            "SELECT status, total_minor, currency, events_applied FROM orders WHERE order_id = ?",
            order_id,
        )
        lots = starter.rows(
            "SELECT sku, lot, quantity, trace_code FROM order_lots WHERE order_id = ?", order_id
        )
        return orders, set(lots)

    orders, lots = await eventually(
        recorded, lambda found: bool(found[0]) and found[0][0][0] == "CONFIRMED" and bool(found[1])
    )
    assert starter.process.poll() is None, starter.printed()
    assert lots == shown, starter.printed()
    ((status, total, currency, applied),) = orders
    assert (status, total, currency) == ("CONFIRMED", order["total"]["amount"], "CNY")
    # placed, confirmed and the commit: the commit read once (its v2 record; the v1 twin skipped)
    assert applied == 3, starter.printed()
    commits = starter.rows(
        "SELECT version, deliveries FROM events WHERE subject = ? AND type = ?",
        order_id,
        "inventory.stock.committed",
    )
    assert commits == [(2, 1)], commits

    # The same record (same event id) delivered again: counted, not applied.
    (placed,) = await read_records(
        storefront.suite.kafka_bootstrap,
        ORDER_EVENTS,
        match=lambda r: (
            r.key == order_id.encode() and header(r, "ce_type") == OrderPlacedV1.event_type
        ),
        until=lambda kept: bool(kept),
    )
    producer = EventProducer(storefront.suite.kafka_bootstrap)
    await producer.start()
    try:
        await producer.send_raw(ORDER_EVENTS, placed.value, placed.key, list(placed.headers))
    finally:
        await producer.stop()
    event_id = header(placed, "ce_id")

    async def deliveries() -> list[Any]:
        return starter.rows("SELECT deliveries FROM events WHERE event_id = ?", event_id)

    assert await eventually(deliveries, lambda found: found == [(2,)]) == [(2,)]
    assert (await recorded()) == (orders, lots)
    assert f"duplicate order.order.placed {event_id}" in starter.printed()
    assert starter.rows("SELECT count(*) FROM unreadable") == [(0,)], starter.printed()

    # Ctrl-C stops it cleanly; `show` prints the table it kept.
    starter.process.send_signal(signal.SIGINT)
    assert starter.process.wait(timeout=15) == 0, starter.printed()
    assert starter.printed().rstrip().endswith("stopped")
    table = run(
        [str(starter_bin / "downstream-starter"), "--database", str(starter.database), "show"],
        starter.database.parent,
    )
    assert f"{order_id}  CONFIRMED" in table, table
    for _, lot, quantity, code in lots:
        assert f"{sku} x{quantity} lot {lot} trace {code}" in table, table
