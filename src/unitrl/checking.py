"""Check completions (full programs) against task tests: the library behind ``unitrl check``."""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from unitrl.errors import UnitrlError
from unitrl.execution import ExecutionConfig, Executor, SampleResult
from unitrl.io import read_jsonl
from unitrl.tasks import Task


@dataclass
class Completion:
    task_id: str
    completion: str
    sample_id: Any = None


@dataclass
class CheckSummary:
    total: int = 0
    passed: int = 0
    outcomes: Counter[str] = field(default_factory=Counter)

    def line(self) -> str:
        rate = self.passed / self.total if self.total else 0.0
        parts = ", ".join(f"{k} {v}" for k, v in self.outcomes.most_common())
        return f"checked {self.total} completions: {self.passed} passed ({rate:.1%}); {parts}"


def load_completions(path: str | os.PathLike[str], tasks: dict[str, Task]) -> list[Completion]:
    """Read ``{"task_id", "completion", "sample_id"?}`` lines, checking each refers to a known task."""
    out: list[Completion] = []
    for lineno, record in read_jsonl(path):
        where = f"{path}:{lineno}"
        for name in ("task_id", "completion"):
            if not isinstance(record.get(name), str):
                raise UnitrlError(
                    f"{where}: field '{name}' must be a string (each line needs task_id and completion)"
                )
        if record["task_id"] not in tasks:
            raise UnitrlError(f"{where}: task_id {record['task_id']!r} is not in the task file")
        out.append(Completion(record["task_id"], record["completion"], record.get("sample_id", lineno - 1)))
    return out


def result_row(completion: Completion, result: SampleResult) -> dict[str, Any]:
    return {
        "task_id": completion.task_id,
        "sample_id": completion.sample_id,
        "passed": result.passed,
        "outcome": result.outcome,
        "tests_passed": result.tests_passed,
        "tests_total": result.tests_total,
        "error": result.error,
    }


def check_completions(
    tasks: dict[str, Task],
    completions: list[Completion],
    config: ExecutionConfig | None = None,
    on_result: Callable[[int, SampleResult], None] | None = None,
) -> tuple[list[dict[str, Any]], CheckSummary]:
    samples = [tasks[c.task_id].sample(c.completion, key=i) for i, c in enumerate(completions)]
    with Executor(config) as executor:
        results = executor.run(samples, on_result=on_result)
    rows = [result_row(c, r) for c, r in zip(completions, results, strict=True)]
    summary = CheckSummary(total=len(rows), passed=sum(r["passed"] for r in rows))
    summary.outcomes.update(r["outcome"] for r in rows)
    return rows, summary
