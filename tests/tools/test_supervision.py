"""`make run` supervises what it started (tools/supervisor.py): the backoff policy as pure
bookkeeping, the supervisor on small real processes, and the whole launched suite with a service
and then the broker SIGKILLed (integration: a real suite on free ports, SQLite, the local Redis)."""

from __future__ import annotations

import asyncio
import io
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest
from aiokafka.admin import AIOKafkaAdminClient
from rich.console import Console

from chassis.testing.polling import eventually
from shared_events.topics import ORDER_EVENTS
from tools.launched import LaunchedSuite, launched_suite, readiness
from tools.processes import Process, exit_status, probe_readyz, spawn, stop_processes
from tools.supervisor import Backoff, Child, CrashStreak, EssentialLost, Supervisor, describe_exit

# A consumer joining its group on the embedded broker waits about half a session: a short one
# makes the start, and the restarted service's rejoin, seconds faster.
SUITE_ENV = {"KAFKA_SESSION_TIMEOUT_MS": "1500"}
RESTART_BOUND_SECONDS = 120.0  # SIGKILL to /readyz 200: what a first start gets (--timeout)
STOP_BOUND_SECONDS = 60.0  # the broker's loss to the launcher's exit (services get 10 s grace)


# The backoff policy: pure, the clock is a number.


def test_the_backoff_doubles_from_half_a_second_to_its_cap() -> None:
    backoff = Backoff()
    assert [backoff.delay(n) for n in range(1, 9)] == [0.5, 1, 2, 4, 8, 15, 15, 15]


def test_crashes_in_a_row_lengthen_the_wait() -> None:
    streak = CrashStreak(Backoff(initial=1, factor=3, cap=20, reset_after=30))
    assert [streak.crashed(now) for now in (0, 1, 2, 3)] == [1, 3, 9, 20]


def test_a_service_that_stayed_ready_long_enough_starts_the_backoff_afresh() -> None:
    streak = CrashStreak(Backoff(reset_after=30))
    assert [streak.crashed(0), streak.crashed(1), streak.crashed(2)] == [0.5, 1, 2]
    streak.ready(10)
    assert streak.crashed(40) == 0.5  # ready for 30 s: a new streak


def test_a_short_spell_of_readiness_does_not_reset_the_backoff() -> None:
    streak = CrashStreak(Backoff(reset_after=30))
    streak.crashed(0)
    streak.ready(1)
    assert streak.crashed(20) == 1  # ready for 19 s only
    assert streak.crashed(100) == 2  # not ready since its last restart: still in the streak


def test_exits_are_told_by_status_or_signal() -> None:
    assert describe_exit(3) == "exited with status 3"
    assert describe_exit(-signal.SIGKILL) == "killed by SIGKILL"
    assert describe_exit(-signal.SIGSEGV) == "killed by SIGSEGV"


# The supervisor on small real processes (no broker, database or Redis).


@dataclass
class Sleeper:
    """A stand-in for a launched component (`tools.suite.launcher.Component`)."""

    name: str
    process: Process | None
    log_path: Path | None
    spawned: list[Process] = field(default_factory=list)


@pytest.fixture
def sleepers(tmp_path: Path) -> Iterator[list[Sleeper]]:
    made: list[Sleeper] = []
    yield made
    stop_processes({s.name + str(p.pid): p for s in made for p in s.spawned}, grace=2)


def sleeper(made: list[Sleeper], tmp_path: Path, name: str) -> tuple[Sleeper, Child]:
    log = tmp_path / f"{name}.log"
    argv = [sys.executable, "-c", "import time; time.sleep(120)"]

    def respawn() -> Process:
        process = spawn(argv, log, cwd=tmp_path)
        component.spawned.append(process)
        return process

    component = Sleeper(name, None, log)
    component.process = respawn()
    made.append(component)
    quick = CrashStreak(Backoff(initial=0.05, cap=0.2))
    return component, Child(component, respawn, lambda: True, streak=quick)


def supervisor_of(children: list[Child], stopping: list[bool]) -> tuple[Supervisor, io.StringIO]:
    output = io.StringIO()
    console = Console(file=output, width=200, highlight=False)
    return Supervisor(children, console, lambda: stopping[0]), output


def kill(process: Process) -> None:
    process.kill()
    deadline = time.monotonic() + 5
    while exit_status(process) is None and time.monotonic() < deadline:
        time.sleep(0.01)


def test_a_dead_child_is_restarted_and_the_others_are_left_alone(
    sleepers: list[Sleeper], tmp_path: Path
) -> None:
    crashing, crashing_child = sleeper(sleepers, tmp_path, "crashing")
    steady, steady_child = sleeper(sleepers, tmp_path, "steady")
    first, steady_process = crashing.process, steady.process
    assert first is not None
    supervisor, output = supervisor_of([crashing_child, steady_child], [False])

    kill(first)
    supervisor.run(1.0)

    assert crashing.process is not first and crashing.process is not None
    assert exit_status(crashing.process) is None
    assert steady.process is steady_process and exit_status(steady_process) is None
    text = output.getvalue()
    assert f"died: crashing (PID {first.pid}) killed by SIGKILL" in text
    assert f"restarted: crashing (PID {crashing.process.pid}, crash 1 in a row)" in text
    assert f"ready again: crashing (PID {crashing.process.pid})" in text
    assert "steady" not in text


def test_nothing_is_restarted_once_stopping_even_with_a_backoff_pending(
    sleepers: list[Sleeper], tmp_path: Path
) -> None:
    crashing, child = sleeper(sleepers, tmp_path, "crashing")
    child.streak = CrashStreak(Backoff(initial=30, cap=60))
    first = crashing.process
    assert first is not None
    stopping = [False]
    supervisor, output = supervisor_of([child], stopping)
    kill(first)
    supervisor.tick()
    assert "restart in 30.0 s" in output.getvalue()

    stopping[0] = True  # Ctrl-C during the backoff
    child.restart_at = 0.0  # even a restart that is due now
    started = time.monotonic()
    supervisor.run(60)

    assert time.monotonic() - started < 1
    assert crashing.spawned == [first]
    assert "restarted:" not in output.getvalue()


def test_losing_an_essential_child_ends_the_supervision(
    sleepers: list[Sleeper], tmp_path: Path
) -> None:
    broker, child = sleeper(sleepers, tmp_path, "broker")
    child.essential = "it held the events"
    assert broker.process is not None
    supervisor, _ = supervisor_of([child], [False])
    kill(broker.process)

    with pytest.raises(EssentialLost, match=r"broker \(PID \d+\) killed by SIGKILL .*held the"):
        supervisor.run(5)
    assert broker.spawned == [broker.process]


# The whole suite, as `make run` starts it.


def launch(data_dir: Path, redis_url: str) -> AbstractContextManager[LaunchedSuite]:
    return launched_suite(data_dir, databases={}, redis_url=redis_url, extra_env=SUITE_ENV)


async def partition_counts(bootstrap: str, topics: list[str]) -> dict[str, int]:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        return {t["topic"]: len(t["partitions"]) for t in await admin.describe_topics(topics)}
    finally:
        await admin.close()


def launcher_output(suite: LaunchedSuite) -> str:
    return suite.launcher_log.read_text(errors="replace")


@pytest.mark.integration
async def test_a_killed_service_comes_back_and_the_others_keep_running(
    redis_url: str, tmp_path: Path
) -> None:
    with launch(tmp_path, redis_url) as suite:
        # Ready means every /readyz answers 200: each service's and the launcher's own.
        with httpx.Client(timeout=2, trust_env=False) as client:
            states = readiness(suite, client)
        assert set(states) == {*suite.urls, "launcher"}
        assert set(states.values()) == {"ready"}, states
        before = suite.pids()
        assert set(before) >= {"catalog", "order", "gateway", "broker", "mail"}
        # The services no buyer waits for yield the CPU to the others (chassis.settings).
        niceness = {name: os.getpriority(os.PRIO_PROCESS, pid) for name, pid in before.items()}
        assert niceness["analytics"] == niceness["notification"] == niceness["order"] + 10
        assert niceness["gateway"] == niceness["catalog"] == niceness["order"]
        # On the embedded broker every topic has two partitions (tools/suite/infra.py).
        topics = [ORDER_EVENTS, f"{ORDER_EVENTS}.dlq"]
        assert await partition_counts(suite.kafka_bootstrap, topics) == dict.fromkeys(topics, 2)
        seen_order_pids: set[int] = set()
        seen_launcher_states: set[str] = set()

        async with httpx.AsyncClient(timeout=2, trust_env=False) as http:

            async def probe() -> tuple[int | None, int]:
                pids = suite.pids()
                seen_order_pids.add(pids.get("order", 0))
                with httpx.Client(timeout=2, trust_env=False) as client:
                    seen_launcher_states.add(probe_readyz(client, suite.launcher_url)[1])
                try:
                    status = (await http.get(f"{suite.urls['catalog']}/readyz")).status_code
                except httpx.HTTPError:
                    status = 0
                return pids.get("catalog"), status

            os.kill(before["catalog"], signal.SIGKILL)
            killed = time.monotonic()
            catalog_pid, status = await eventually(
                probe,
                lambda state: state[0] not in (None, before["catalog"]) and state[1] == 200,
                timeout=RESTART_BOUND_SECONDS,
            )
            took = time.monotonic() - killed

        assert catalog_pid not in (None, before["catalog"]), launcher_output(suite)
        assert status == 200, launcher_output(suite)
        assert seen_order_pids == {before["order"]}
        after = suite.pids()
        assert {name: pid for name, pid in after.items() if name != "catalog"} == {
            name: pid for name, pid in before.items() if name != "catalog"
        }
        output = await eventually(
            lambda: asyncio.to_thread(launcher_output, suite),
            lambda text: f"ready again: catalog (PID {catalog_pid})" in text,
        )
        assert re.search(
            rf"died: catalog \(PID {before['catalog']}\) killed by SIGKILL after [\d.]+ s; "
            r"restart in 0\.5 s; see tail -n 30 \S+catalog\.log",
            output,
        ), output
        assert f"restarted: catalog (PID {catalog_pid}, crash 1 in a row)" in output
        assert f"ready again: catalog (PID {catalog_pid})" in output
        print(f"catalog ready again {took:.1f} s after its SIGKILL")
        # The launcher's own /readyz said so while it brought catalog back, and is 200 again.
        assert "HTTP 503 catalog: restarting" in seen_launcher_states, seen_launcher_states
        with httpx.Client(timeout=2, trust_env=False) as client:
            assert probe_readyz(client, suite.launcher_url) == (True, "ready")

        # A second crash soon after: a longer backoff, and Ctrl-C while it is pending (sent as
        # soon as the crash is reported) stops everything with nothing restarted meanwhile.
        assert catalog_pid is not None and suite.process is not None
        os.kill(catalog_pid, signal.SIGKILL)
        second_crash = rf"died: catalog \(PID {catalog_pid}\) killed by SIGKILL .*restart in 1\.0 s"
        output = await eventually(
            lambda: asyncio.to_thread(launcher_output, suite),
            lambda text: re.search(second_crash, text) is not None,
        )
        os.killpg(suite.process.pid, signal.SIGINT)
        assert suite.process.wait(STOP_BOUND_SECONDS) == 0
    output = launcher_output(suite)
    assert re.search(second_crash, output), output
    stopping = output.index("SIGINT: stopping the suite")
    assert "restarted:" not in output[stopping:]
    assert [name for name, pid in {**before, "catalog": catalog_pid}.items() if alive(pid)] == []


@pytest.mark.integration
def test_losing_the_broker_ends_the_run_with_an_error(redis_url: str, tmp_path: Path) -> None:
    with launch(tmp_path, redis_url) as suite:
        before = suite.pids()
        assert suite.process is not None
        os.kill(before["broker"], signal.SIGKILL)
        try:
            status = suite.process.wait(STOP_BOUND_SECONDS)
        except subprocess.TimeoutExpired:
            pytest.fail("the launcher kept running without its broker:\n" + launcher_output(suite))

    output = launcher_output(suite)
    assert status == 1, output
    assert re.search(rf"error: broker \(PID {before['broker']}\) killed by SIGKILL", output)
    assert "held every event in memory" in output
    assert "restarted:" not in output
    assert [name for name, pid in before.items() if alive(pid)] == []


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True
