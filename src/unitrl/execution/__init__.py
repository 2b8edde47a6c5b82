"""Sandboxed, batched execution of untrusted programs against trusted unit tests.

This package knows nothing of models or benchmarks.  Entry points:

- :func:`run_batch` -- run a list of :class:`Sample` and return one :class:`SampleResult` each.
- :class:`Executor` -- the same with workers kept alive across batches (training loops).

The design and its guarantees are documented in ``unitrl.execution.executor``.
"""

from unitrl.execution.types import (
    ExecutionConfig,
    Outcome,
    Sample,
    SampleResult,
    TestOutcome,
    TestResult,
)

__all__ = [
    "ExecutionConfig",
    "Executor",
    "Outcome",
    "Sample",
    "SampleResult",
    "TestOutcome",
    "TestResult",
    "run_batch",
]


def __getattr__(name: str):  # lazy: importing the types must not start anything
    if name in ("Executor", "run_batch"):
        from unitrl.execution import executor

        return getattr(executor, name)
    raise AttributeError(name)
