"""The gateway's forward path with httpx against aiohttp: requests/s and client CPU per request.

    uv run --frozen python -m bench.upstream_client [--requests 4000]

A local uvicorn app (its own process, so its CPU is not counted) answers a ~600-byte JSON;
each client does what the gateway's `Upstreams.forward` (adapters/upstreams.py) does: a POST
and the usual headers, the whole body read, the headers copied. Pooled keep-alive connections,
`--concurrency` calls in flight. CPU is this process's (user + system) over the calls, i.e.
what the gateway would spend in its HTTP client. The gateway forwards with aiohttp since this
measured it at a fraction of httpx's CPU (README, Performance).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp
import httpx
from yarl import URL

from chassis.testing.infra import free_port

BODY = json.dumps({"items": [{"sku": "TEA-1", "quantity": 2}], "note": "x" * 64}).encode()
HEADERS = {
    "content-type": "application/json",
    "authorization": "Bearer " + "t" * 300,
    "x-request-id": "bench",
    "x-forwarded-for": "127.0.0.1",
    "traceparent": "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
}
SERVER = """
import json, sys
from starlette.applications import Starlette
from starlette.responses import Response
from starlette.routing import Route
import uvicorn

PAYLOAD = json.dumps({"id": "0" * 36, "status": "PENDING", "lines": [{"sku": "TEA-1",
    "quantity": 2, "price": {"amount": 8800, "currency": "CNY"}}] * 4}).encode()

async def orders(request):
    await request.body()
    return Response(PAYLOAD, 202, media_type="application/json")

app = Starlette(routes=[Route("/api/v1/orders", orders, methods=["POST"])])
uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[1]), log_level="warning",
            access_log=False)
"""

Call = Callable[[str], Awaitable[tuple[int, bytes, dict[str, str]]]]


async def wait_up(url: str) -> None:
    async with httpx.AsyncClient() as client:
        for _ in range(100):
            try:
                await client.post(url, content=b"{}")
                return
            except httpx.TransportError:
                await asyncio.sleep(0.1)
    raise RuntimeError("the upstream app did not start")


async def drive(call: Call, url: str, requests: int, concurrency: int) -> dict[str, float]:
    for _ in range(200):  # warm the pool and the code paths
        await call(url)
    left = requests

    async def worker() -> None:
        nonlocal left
        while left > 0:
            left -= 1
            status, body, _ = await call(url)
            assert status == 202 and body, status

    cpu, wall = time.process_time(), time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    return {"requests_per_s": requests / wall, "cpu_us_per_request": cpu * 1e6 / requests}


async def with_httpx(url: str, requests: int, concurrency: int) -> dict[str, float]:
    # As the gateway builds it (gateway_service.adapters.upstreams).
    async with httpx.AsyncClient(
        timeout=5.0, limits=httpx.Limits(max_connections=200, max_keepalive_connections=50)
    ) as client:

        async def call(target: str) -> tuple[int, bytes, dict[str, str]]:
            url = httpx.URL(target)
            response = await client.request("POST", url, content=BODY, headers=HEADERS)
            return response.status_code, response.content, dict(response.headers.items())

        return await drive(call, url, requests, concurrency)


async def with_aiohttp(url: str, requests: int, concurrency: int) -> dict[str, float]:
    connector = aiohttp.TCPConnector(limit=200, limit_per_host=200)
    timeout = aiohttp.ClientTimeout(total=5.0)
    async with aiohttp.ClientSession(
        connector=connector, timeout=timeout, auto_decompress=True, skip_auto_headers={"User-Agent"}
    ) as session:

        async def call(target: str) -> tuple[int, bytes, dict[str, str]]:
            # yarl.URL(encoded=True): the path goes out as given, never normalised again.
            async with session.request(
                "POST", URL(target, encoded=True), data=BODY, headers=HEADERS
            ) as response:
                return response.status, await response.read(), dict(response.headers.items())

        return await drive(call, url, requests, concurrency)


async def main(url: str, requests: int, concurrency: int, rounds: int) -> dict[str, Any]:
    await wait_up(url)
    results: dict[str, list[dict[str, float]]] = {"httpx": [], "aiohttp": []}
    for _ in range(rounds):  # interleaved, so drift in machine load hits both alike
        results["httpx"].append(await with_httpx(url, requests, concurrency))
        results["aiohttp"].append(await with_aiohttp(url, requests, concurrency))
    best = {
        name: {
            "requests_per_s": max(r["requests_per_s"] for r in runs),
            "cpu_us_per_request": min(r["cpu_us_per_request"] for r in runs),
        }
        for name, runs in results.items()
    }
    return {"requests": requests, "concurrency": concurrency, "rounds": rounds, "best": best}


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=4000)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    port = free_port()
    # Our own interpreter running the fixed script above: no outside input.
    server = subprocess.Popen([sys.executable, "-c", SERVER, str(port)])  # noqa: S603
    try:
        url = f"http://127.0.0.1:{port}/api/v1/orders"
        figures = asyncio.run(main(url, args.requests, args.concurrency, args.rounds))
    finally:
        server.terminate()
        server.wait()
    print(f"{os.cpu_count()} cores; {args.requests} calls x {args.rounds} rounds, best of each")
    print(f"{'client':<8} {'requests/s':>11} {'CPU µs/request':>15}")
    for name, row in figures["best"].items():
        print(f"{name:<8} {row['requests_per_s']:>11.0f} {row['cpu_us_per_request']:>15.0f}")
