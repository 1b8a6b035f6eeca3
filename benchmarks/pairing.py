"""What the benchmark scripts share: ratios of timings taken side by side."""

from __future__ import annotations

import statistics


def paired_ratio(slower: list[float], faster: list[float]) -> float:
    """Median over pairs of one method's time over the other's, each pair timed side by side (in
    one round, or in neighbouring blocks): the machine's load changes over a run, and a ratio
    taken within a pair cancels most of it."""
    return statistics.median(a / b for a, b in zip(slower, faster))
