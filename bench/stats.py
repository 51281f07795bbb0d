"""Small figures helpers shared by the benchmark's parts."""

from __future__ import annotations

import math
from collections.abc import Sequence


def percentile(values: Sequence[float], pct: float) -> float:
    """Nearest-rank percentile; `inf` entries (never finished) count as the slowest; nan if
    there is nothing to rank."""
    if not values:
        return math.nan
    ranked = sorted(values)
    rank = max(1, math.ceil(pct / 100 * len(ranked)))
    return ranked[rank - 1]
