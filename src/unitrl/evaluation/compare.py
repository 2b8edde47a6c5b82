"""Paired comparison of two systems on the same tasks, with a bootstrap confidence interval.

Why paired: two models evaluated on the same 100 tasks share most of their variance (easy tasks are solved
by both), so the difference of their per-task outcomes is far less noisy than either pass rate.  Resampling
*tasks* (with replacement) and recomputing the mean difference each time gives a percentile interval for the
difference that a reader can check against zero: an interval that contains 0 is not evidence of a change.
"""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class PairedDifference:
    """``mean(a) - mean(b)`` over the shared tasks, and its bootstrap percentile interval."""

    delta: float
    low: float
    high: float
    n_tasks: int
    #: Tasks solved by ``a`` only, and by ``b`` only (the discordant pairs that make the difference).
    a_only: int
    b_only: int

    @property
    def significant(self) -> bool:
        """The interval excludes 0."""
        return self.low > 0 or self.high < 0

    def format(self, scale: float = 100.0) -> str:
        """``+3.0 [+1.0, +5.0]`` in percentage points by default."""
        return f"{self.delta * scale:+.1f} [{self.low * scale:+.1f}, {self.high * scale:+.1f}]"


def paired_bootstrap(
    a: Mapping[str, float],
    b: Mapping[str, float],
    *,
    resamples: int = 10_000,
    confidence: float = 0.95,
    seed: int = 0,
) -> PairedDifference:
    """Difference of per-task scores ``a - b`` (pass@1 in [0, 1], or a mean over seeds) on the tasks both
    have, with a percentile bootstrap interval over tasks (``resamples`` draws, seeded: reproducible)."""
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must be in (0, 1), got {confidence}")
    shared = sorted(set(a) & set(b))
    if not shared:
        raise ValueError("the two results share no task; compare evaluations of the same tasks")
    diffs = [float(a[t]) - float(b[t]) for t in shared]
    n = len(diffs)
    delta = sum(diffs) / n
    rng = random.Random(seed)
    means = sorted(sum(diffs[rng.randrange(n)] for _ in range(n)) / n for _ in range(resamples))
    tail = (1 - confidence) / 2
    low = means[int(tail * (resamples - 1))]
    high = means[round((1 - tail) * (resamples - 1))]
    return PairedDifference(
        delta=delta,
        low=low,
        high=high,
        n_tasks=n,
        a_only=sum(1 for d in diffs if d > 0),
        b_only=sum(1 for d in diffs if d < 0),
    )


def mean_over_seeds(per_seed: Sequence[Mapping[str, float]]) -> dict[str, float]:
    """Per-task mean over several seeds' results (tasks missing from a seed are left out of that task's mean)."""
    sums: dict[str, float] = {}
    counts: dict[str, int] = {}
    for result in per_seed:
        for task, value in result.items():
            sums[task] = sums.get(task, 0.0) + float(value)
            counts[task] = counts.get(task, 0) + 1
    return {task: sums[task] / counts[task] for task in sums}
