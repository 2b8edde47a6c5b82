"""The task format: one schema for benchmarks and mined data.

A task file is JSON Lines, one task per line::

    {"task_id": str, "prompt": str, "entry_point": str, "tests": [str, ...],
     "test_setup": str, "reference": str, "meta": {...}}

``tests`` are Python statements (normally ``assert <expr>``), each run as one test case; ``test_setup`` runs
before them (imports, helper classes); ``reference`` is a full solution defining ``entry_point``; ``prompt`` is
what the model sees.  See ``unitrl.execution`` for how a program is run against them.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from typing import Any

from unitrl.errors import UnitrlError
from unitrl.execution import Sample
from unitrl.io import read_jsonl, write_jsonl

_FIELD_TYPES: dict[str, type | tuple[type, ...]] = {
    "task_id": str,
    "prompt": str,
    "entry_point": str,
    "tests": list,
    "test_setup": str,
    "reference": str,
    "meta": dict,
}


@dataclass
class Task:
    """One programming problem with its unit tests."""

    task_id: str
    prompt: str
    entry_point: str
    tests: list[str]
    test_setup: str = ""
    reference: str = ""
    meta: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def sample(self, program: str, key: Any = None) -> Sample:
        """The executor job that runs ``program`` against this task's tests."""
        return Sample(
            program=program,
            tests=list(self.tests),
            test_setup=self.test_setup,
            key=key,
            program_names=[self.entry_point],
        )


def task_from_dict(record: dict[str, Any], where: str = "task") -> Task:
    """Validate one record; errors name ``where`` (``file:line``) and the offending field."""
    for name, typ in _FIELD_TYPES.items():
        if name not in record:
            raise UnitrlError(f"{where}: missing field '{name}' (every task needs {', '.join(_FIELD_TYPES)})")
        if not isinstance(record[name], typ):
            raise UnitrlError(
                f"{where}: field '{name}' must be {typ.__name__ if isinstance(typ, type) else typ}, "
                f"got {type(record[name]).__name__}"
            )
    if not all(isinstance(t, str) for t in record["tests"]):
        raise UnitrlError(f"{where}: field 'tests' must be a list of strings (Python statements)")
    unknown = set(record) - set(_FIELD_TYPES)
    if unknown:
        raise UnitrlError(f"{where}: unknown field(s) {sorted(unknown)}; put extra data under 'meta'")
    return Task(**{k: record[k] for k in _FIELD_TYPES})


def load_tasks(path: str | os.PathLike[str]) -> list[Task]:
    """Load and validate a task JSONL file; duplicate task ids are an error."""
    tasks: list[Task] = []
    seen: dict[str, int] = {}
    for lineno, record in read_jsonl(path):
        task = task_from_dict(record, where=f"{path}:{lineno}")
        if task.task_id in seen:
            raise UnitrlError(
                f"{path}:{lineno}: duplicate task_id {task.task_id!r} (first on line {seen[task.task_id]})"
            )
        seen[task.task_id] = lineno
        tasks.append(task)
    return tasks


def write_tasks(path: str | os.PathLike[str], tasks: Iterable[Task]) -> None:
    """Atomically write tasks as JSONL."""
    write_jsonl(path, (t.to_dict() for t in tasks))
