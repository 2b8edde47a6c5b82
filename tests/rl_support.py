"""Shared pieces of the RL trainer tests: toy tasks, an extraction that varies rewards, parameter snapshots.

The fixtures they use (``tiny_path``, ``one_torch_thread``) live in ``tests/conftest.py``.
"""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")

from unitrl.tasks import Task  # noqa: E402

#: Two trivial tasks; random tiny models never solve them, so tests pick programs with ``varied_extract``.
TOY_TASKS = [
    Task(
        "toy/add",
        "Write a function add(a, b) that returns a + b.",
        "add",
        ["assert add(1, 2) == 3"],
        reference="def add(a, b):\n    return a + b\n",
    ),
    Task(
        "toy/neg",
        "Write a function neg(x) that returns -x.",
        "neg",
        ["assert neg(1) == -1"],
        reference="def neg(x):\n    return -x\n",
    ),
]


#: ``key=value`` settings that make a ``unitrl train`` run on a tiny model take seconds.  The long executor
#: timeout keeps outcomes independent of machine load (a program judged in 5 s on an idle machine can time
#: out on a loaded CI runner), so tests that compare two runs exactly compare the same rewards.
SMALL_RUN = [
    "k=2",
    "prompts_per_step=2",
    "max_new_tokens=8",
    "checkpoint_every=1",
    "executor_workers=1",
    "executor_timeout=60",
    "learning_rate=1e-3",
    "reward=coderl",
]


def varied_extract(completion: str, task: Task) -> str:
    """The reference for even-length completions, a wrong program otherwise: random weights then still give
    groups with unequal rewards (deterministic for a fixed seed), so updates are never trivially zero."""
    if len(completion) % 2 == 0:
        return task.reference
    return f"def {task.entry_point}(*args):\n    return None\n"


def params_of(module) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in module.state_dict().items()}


def same_params(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
