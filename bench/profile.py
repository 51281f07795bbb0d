"""py-spy on one service during a step: a speedscope file, and its top functions as text."""

from __future__ import annotations

import asyncio
import json
import shutil
import sys
from collections import Counter
from pathlib import Path

PY_SPY = Path(sys.executable).parent / "py-spy"


def py_spy() -> str:
    found = PY_SPY if PY_SPY.exists() else shutil.which("py-spy")
    if not found:
        raise RuntimeError("py-spy is not installed (uv pip install py-spy)")
    return str(found)


async def record(pid: int, seconds: int, output: Path) -> asyncio.subprocess.Process:
    """Start sampling `pid` for `seconds` into a speedscope file; await `.wait()` for it."""
    argv = [py_spy(), "record", "-d", str(seconds), "-p", str(pid), "-r", "100"]
    argv += ["--nonblocking", "--format", "speedscope", "-o", str(output)]
    return await asyncio.create_subprocess_exec(
        *argv, stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE
    )


def frame_label(frame: dict[str, object], *, line: bool = True) -> str:
    path = Path(str(frame.get("file", "")))
    short = "/".join(path.parts[-2:]) if path.parts else "?"
    where = f"{short}:{frame.get('line', '?')}" if line else short
    return f"{frame.get('name', '?')} ({where})"


def is_ours(frame: dict[str, object]) -> bool:
    """A frame of the suite's own code (services/, libs/), not its entry point."""
    file = str(frame.get("file", ""))
    entry = file.endswith(("__main__.py", "chassis/cli.py"))
    return ("/services/" in file or "/libs/" in file) and not entry


def top_functions(speedscope: Path, count: int = 15) -> dict[str, list[tuple[str, float]]]:
    """Share of samples per function: `self` (on top of the stack), `total` (anywhere on it)
    and `ours` (total, the suite's own functions only), over every thread, most first."""
    data = json.loads(speedscope.read_text())
    frames = data["shared"]["frames"]
    labels = [frame_label(f) for f in frames]
    functions = [frame_label(f, line=False) if is_ours(f) else None for f in frames]
    own: Counter[str] = Counter()
    anywhere: Counter[str] = Counter()
    ours: Counter[str] = Counter()
    samples = 0.0
    for profile in data["profiles"]:
        for stack, weight in zip(profile["samples"], profile["weights"], strict=True):
            if not stack:
                continue
            samples += weight
            own[labels[stack[-1]]] += weight
            for label in {labels[i] for i in stack}:
                anywhere[label] += weight
            for function in {functions[i] for i in stack} - {None}:
                ours[function] += weight
    share = 100 / samples if samples else 0.0
    return {
        name: [(label, n * share) for label, n in counter.most_common(count)]
        for name, counter in (("self", own), ("total", anywhere), ("ours", ours))
    }
