"""Standard code benchmarks as :class:`unitrl.tasks.Task` lists: MBPP, sanitized MBPP, HumanEval, HumanEval+.

The data files are vendored under ``data/`` (gzipped, with their licences and a README giving origin and
sha256 of each) because benchmarks must load offline and byte-identically everywhere.  Usage::

    from unitrl.benchmarks import load_benchmark, BENCHMARKS
    tasks = load_benchmark("mbpp", split="test")      # 500 tasks, mbpp/11 .. mbpp/510
    tasks = load_benchmark("runs/mined/tasks.jsonl")  # any task file works too

Each benchmark lives in its own module (``mbpp``, ``humaneval``, ``humanevalplus``), imported only when asked
for, so ``import unitrl.benchmarks`` stays cheap.  Parsed tasks are cached per process; every call returns
fresh :class:`Task` objects, so callers may mutate what they get.
"""

from __future__ import annotations

import copy
import gzip
import hashlib
import os
from collections.abc import Callable, Sequence
from importlib import resources
from pathlib import Path
from typing import Any

from unitrl.errors import UnitrlError
from unitrl.tasks import Task, load_tasks

#: Canonical benchmark names accepted by :func:`load_benchmark`.
BENCHMARKS: tuple[str, ...] = ("mbpp", "mbpp-sanitized", "humaneval", "humaneval+")

#: Spellings people type for the same benchmarks (matched after lower-casing).
_ALIASES: dict[str, str] = {
    "mbpp-full": "mbpp",
    "sanitized-mbpp": "mbpp-sanitized",
    "mbpp_sanitized": "mbpp-sanitized",
    "mbpp-s": "mbpp-sanitized",
    "human-eval": "humaneval",
    "humanevalplus": "humaneval+",
    "humaneval-plus": "humaneval+",
    "humaneval_plus": "humaneval+",
    "human-eval+": "humaneval+",
}

__all__ = ["BENCHMARKS", "load_benchmark"]


def load_benchmark(name: str | os.PathLike[str], split: str | None = None) -> list[Task]:
    """Load a named benchmark (see :data:`BENCHMARKS`) or a task JSONL file.

    ``split`` selects a subset: MBPP and sanitized MBPP have ``test`` (11-510), ``validation`` (511-600),
    ``train`` (601-974) and ``prompt`` (1-10, the few-shot examples); HumanEval and HumanEval+ only have
    ``test``.  ``None`` or ``"all"`` means every task.  For a task file, ``split`` keeps the tasks whose
    ``meta["split"]`` equals it.
    """
    key = os.fspath(name)
    canonical = _ALIASES.get(key.lower(), key.lower())
    if canonical in BENCHMARKS:
        return [_copy_task(t) for t in _loader(canonical)(split)]
    if os.path.isfile(key) or key.endswith((".jsonl", ".json", ".jsonl.gz")) or os.sep in key:
        return _filter_file_split(load_tasks(key), split, key)
    raise UnitrlError(
        f"unknown benchmark {key!r}: valid names are {', '.join(BENCHMARKS)}, or give the path of a task "
        ".jsonl file"
    )


def _loader(name: str) -> Callable[[str | None], Sequence[Task]]:
    """The module-level ``load`` of one benchmark, imported on first use (HumanEval+ is heavy)."""
    if name == "mbpp":
        from unitrl.benchmarks import mbpp

        return mbpp.load_full
    if name == "mbpp-sanitized":
        from unitrl.benchmarks import mbpp

        return mbpp.load_sanitized
    if name == "humaneval":
        from unitrl.benchmarks import humaneval

        return humaneval.load
    from unitrl.benchmarks import humanevalplus

    return humanevalplus.load


def _copy_task(task: Task) -> Task:
    """A copy that shares only immutable strings with the cache, so callers may edit tests or meta."""
    return Task(
        task_id=task.task_id,
        prompt=task.prompt,
        entry_point=task.entry_point,
        tests=list(task.tests),
        test_setup=task.test_setup,
        reference=task.reference,
        meta=copy.deepcopy(task.meta),
    )


def _filter_file_split(tasks: list[Task], split: str | None, where: str) -> list[Task]:
    if split is None or split == "all":
        return tasks
    kept = [t for t in tasks if t.meta.get("split") == split]
    if not kept:
        found = sorted({str(t.meta["split"]) for t in tasks if "split" in t.meta})
        hint = f"splits in this file: {', '.join(found)}" if found else "no task in it has meta.split"
        raise UnitrlError(f"{where}: no task has split {split!r} ({hint}); omit --split to use all tasks")
    return kept


# -- helpers shared by the benchmark modules ------------------------------------------------------------------


def data_file(relative: str) -> Path:
    """Path of a vendored data file (``relative`` to ``unitrl/benchmarks/data``)."""
    path = Path(str(resources.files("unitrl.benchmarks").joinpath("data", relative)))
    if not path.is_file():
        raise UnitrlError(f"benchmark data file {path} is missing: reinstall unitrl (pip install -e .)")
    return path


def read_data_text(relative: str) -> str:
    """Text of a vendored data file, gunzipped when its name ends in ``.gz``."""
    path = data_file(relative)
    if path.suffix == ".gz":
        with gzip.open(path, "rt", encoding="utf-8") as f:
            return f.read()
    return path.read_text(encoding="utf-8")


def file_sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def select_split(
    tasks: Sequence[Task], split: str | None, splits: Sequence[str], benchmark: str
) -> list[Task]:
    """Tasks whose ``meta["split"]`` is ``split`` (all for None/"all"); unknown splits are a UnitrlError."""
    if split is None or split == "all":
        return list(tasks)
    if split not in splits:
        raise UnitrlError(f"{benchmark} has no split {split!r}: choose one of {', '.join([*splits, 'all'])}")
    return [t for t in tasks if t.meta.get("split") == split]


def record_field(record: dict[str, Any], name: str, typ: type, where: str) -> Any:
    """One field of a raw benchmark record, type-checked so a bad data file fails with a clear message."""
    value = record.get(name)
    if not isinstance(value, typ):
        raise UnitrlError(f"{where}: field {name!r} should be {typ.__name__}, got {type(value).__name__}")
    return value
