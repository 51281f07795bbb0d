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


def frame_label(frame: dict[str, object]) -> str:
    path = Path(str(frame.get("file", "")))
    short = "/".join(path.parts[-2:]) if path.parts else "?"
    return f"{frame.get('name', '?')} ({short}:{frame.get('line', '?')})"


def top_functions(speedscope: Path, count: int = 15) -> dict[str, list[tuple[str, float]]]:
    """Share of samples per function: `self` (on top of the stack) and `total` (anywhere on
    it), over every thread, most first."""
    data = json.loads(speedscope.read_text())
    labels = [frame_label(f) for f in data["shared"]["frames"]]
    own: Counter[str] = Counter()
    anywhere: Counter[str] = Counter()
    samples = 0.0
    for profile in data["profiles"]:
        for stack, weight in zip(profile["samples"], profile["weights"], strict=True):
            if not stack:
                continue
            samples += weight
            own[labels[stack[-1]]] += weight
            for label in {labels[i] for i in stack}:
                anywhere[label] += weight
    share = 100 / samples if samples else 0.0
    return {
        "self": [(name, n * share) for name, n in own.most_common(count)],
        "total": [(name, n * share) for name, n in anywhere.most_common(count)],
    }
