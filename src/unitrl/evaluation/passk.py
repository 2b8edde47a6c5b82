"""The unbiased pass@k estimator of Chen et al. 2021 ("Evaluating Large Language Models Trained on Code").

Drawing k of a task's n samples without replacement, pass@k is the probability that at least one of them is
correct: ``1 - C(n-c, k) / C(n, k)`` for c correct samples.  The binomials overflow floats for realistic n, so
we use the paper's product form ``1 - prod_{i=n-c+1}^{n} (1 - k/i)``, which is exact in exact arithmetic
and stable in floating point.

A task with fewer than k samples cannot be scored at k; :func:`mean_pass_at_k` skips such tasks and says how
many it skipped, instead of silently treating them as pass@n.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field


def pass_at_k(n: int, c: int, k: int) -> float:
    """Unbiased pass@k of one task with ``n`` samples of which ``c`` passed.

    Raises ``ValueError`` for impossible inputs (``k > n``, ``c > n``, negative counts): a caller that wants to
    skip such tasks should check ``k <= n`` first, as :func:`mean_pass_at_k` does.
    """
    if k < 1:
        raise ValueError(f"k must be >= 1, got {k}")
    if n < 0 or c < 0 or c > n:
        raise ValueError(f"need 0 <= c <= n, got n={n}, c={c}")
    if k > n:
        raise ValueError(f"pass@{k} needs at least {k} samples, got n={n}")
    if n - c < k:  # every k-subset contains a correct sample
        return 1.0
    return 1.0 - math.prod(1.0 - k / i for i in range(n - c + 1, n + 1))


@dataclass
class PassAtK:
    """pass@k averaged over the tasks that have at least k samples."""

    k: int
    #: Mean over scored tasks; ``None`` when no task had k samples.
    value: float | None
    #: Tasks that entered the mean.
    tasks: int
    #: Task ids skipped because they had fewer than k samples.
    skipped: list[str] = field(default_factory=list)
    #: Per-task estimate for the scored tasks (lets a report show which tasks are solved).
    per_task: dict[str, float] = field(default_factory=dict)


def mean_pass_at_k(counts: Mapping[str, tuple[int, int]], k: int) -> PassAtK:
    """Average pass@k over tasks; ``counts`` maps task id to ``(n_samples, n_correct)``.

    Tasks with ``n < k`` are skipped (listed in ``skipped``), because including them would bias the mean.
    """
    per_task: dict[str, float] = {}
    skipped: list[str] = []
    for task_id, (n, c) in counts.items():
        if n < k:
            skipped.append(task_id)
        else:
            per_task[task_id] = pass_at_k(n, c, k)
    value = sum(per_task.values()) / len(per_task) if per_task else None
    return PassAtK(k=k, value=value, tasks=len(per_task), skipped=skipped, per_task=per_task)


def pass_at_ks(counts: Mapping[str, tuple[int, int]], ks: Iterable[int]) -> dict[int, PassAtK]:
    """:func:`mean_pass_at_k` for each k, keyed by k in the order given."""
    return {k: mean_pass_at_k(counts, k) for k in ks}


def count_correct(results: Iterable[tuple[str, bool]]) -> dict[str, tuple[int, int]]:
    """Turn ``(task_id, passed)`` pairs into the ``{task_id: (n, c)}`` counts the estimators take."""
    counts: dict[str, list[int]] = {}
    for task_id, passed in results:
        nc = counts.setdefault(task_id, [0, 0])
        nc[0] += 1
        nc[1] += bool(passed)
    return {t: (n, c) for t, (n, c) in counts.items()}


def parse_ks(text: str | Sequence[int]) -> list[int]:
    """Parse ``"1,10"`` into ``[1, 10]`` (sorted, deduplicated); raises ``ValueError`` with a usable message."""
    if isinstance(text, str):
        parts = [p.strip() for p in text.split(",") if p.strip()]
        try:
            ks = [int(p) for p in parts]
        except ValueError:
            raise ValueError(
                f"k must be a comma-separated list of integers like '1,10', got {text!r}"
            ) from None
    else:
        ks = [int(k) for k in text]
    if not ks:
        raise ValueError("k must name at least one value, e.g. '1' or '1,10'")
    if any(k < 1 for k in ks):
        raise ValueError(f"every k must be >= 1, got {text!r}")
    return sorted(set(ks))
