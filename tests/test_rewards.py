"""Reward shapes (pure, from hand-built verdicts) and ExecutionReward end to end in the sandbox."""

from __future__ import annotations

import subprocess
import sys

import pytest

from unitrl.errors import UnitrlError
from unitrl.execution import ExecutionConfig, Executor, SampleResult
from unitrl.rewards import (
    CODERL_REWARDS,
    REWARDS,
    ExecutionReward,
    coderl,
    completion_text,
    get_reward,
    pass_all,
    pass_rate,
    sparse_plus_partial,
)
from unitrl.tasks import Task

OUTCOMES = ["pass", "fail", "runtime_error", "syntax_error", "timeout", "memory", "killed"]


def result(outcome: str, passed: int, total: int = 4) -> SampleResult:
    return SampleResult(outcome=outcome, tests_passed=passed, tests_total=total)  # type: ignore[arg-type]


# --- shapes ------------------------------------------------------------------------------------------------


def test_pass_all_and_pass_rate():
    assert pass_all(result("pass", 4)) == 1.0
    assert pass_all(result("fail", 3)) == 0.0
    assert pass_all(result("timeout", 3)) == 0.0
    assert pass_rate(result("pass", 4)) == 1.0
    assert pass_rate(result("fail", 1)) == 0.25
    assert pass_rate(result("timeout", 2)) == 0.5  # tests passed before the timeout count
    assert pass_rate(result("syntax_error", 0)) == 0.0
    assert pass_rate(result("fail", 0, total=0)) == 0.0  # no tests: no credit, no division by zero


@pytest.mark.parametrize(
    ("outcome", "expected"),
    [
        ("pass", 1.0),
        ("fail", -0.3),
        ("runtime_error", -0.6),
        ("timeout", -0.6),
        ("memory", -0.6),
        ("killed", -0.6),
        ("syntax_error", -1.0),
    ],
)
def test_coderl_values(outcome, expected):
    assert coderl(result(outcome, 4 if outcome == "pass" else 1)) == expected


def test_coderl_covers_every_outcome_and_rejects_unknown():
    assert set(CODERL_REWARDS) == set(OUTCOMES)
    with pytest.raises(ValueError, match="unknown outcome"):
        coderl(result("weird", 0))


def test_sparse_plus_partial_orders_outcomes():
    none, some, most, full = (
        sparse_plus_partial(result(o, k)) for o, k in [("fail", 0), ("fail", 1), ("fail", 3), ("pass", 4)]
    )
    assert (none, some, most, full) == (0.0, 0.125, 0.375, 1.5)
    assert none < some < most < full
    assert sparse_plus_partial(result("pass", 4), sparse_weight=2.0, partial_weight=0.0) == 2.0
    assert sparse_plus_partial(result("fail", 2), sparse_weight=2.0, partial_weight=1.0) == 0.5


def test_registry_and_get_reward():
    assert set(REWARDS) == {"pass_all", "pass_rate", "coderl", "sparse_plus_partial"}
    assert get_reward("pass_all") is pass_all
    shape = get_reward("sparse_plus_partial", partial_weight=1.0)
    assert shape(result("fail", 2)) == 0.5
    assert shape.__name__ == "sparse_plus_partial"


def test_get_reward_errors_are_one_line():
    with pytest.raises(UnitrlError) as e:
        get_reward("pass_at_1")
    msg = str(e.value)
    assert "\n" not in msg and "pass_at_1" in msg
    assert all(name in msg for name in REWARDS)
    with pytest.raises(UnitrlError, match="partial_weight") as e:
        get_reward("sparse_plus_partial", partial=1.0)
    assert "\n" not in str(e.value)
    with pytest.raises(UnitrlError, match="none"):
        get_reward("coderl", scale=2.0)


def test_completion_text_accepts_both_trl_formats():
    assert completion_text("x = 1") == "x = 1"
    assert completion_text([{"role": "assistant", "content": "x = 1"}]) == "x = 1"
    with pytest.raises(TypeError):
        completion_text(3)


def test_import_does_not_load_torch():
    code = "import sys, unitrl.rewards, unitrl.rl; assert 'torch' not in sys.modules, 'torch imported'"
    subprocess.run([sys.executable, "-c", code], check=True)


# --- ExecutionReward end to end ----------------------------------------------------------------------------

TASK = Task(
    task_id="toy/add",
    prompt="Write add(a, b).",
    entry_point="add",
    tests=[
        "assert add(1, 2) == 3",
        "assert add(0, 0) == 0",
        "assert add(2, 2) == 4",
        "assert add(-1, 1) == 0",
    ],
)
CORRECT = "def add(a, b):\n    return a + b\n"
PARTIAL = "def add(a, b):\n    return a * b\n"  # right for (0, 0) and (2, 2) only
BROKEN = "def add(a, b)\n    return a + b\n"
RAISES = "def add(a, b):\n    raise RuntimeError('no')\n"


@pytest.fixture(scope="module")
def executor():
    with Executor(ExecutionConfig(workers=2, timeout=10.0, test_timeout=5.0)) as ex:
        yield ex


def test_execution_reward_end_to_end(executor):
    reward = ExecutionReward(executor, {TASK.task_id: TASK})
    completions = [CORRECT, PARTIAL, BROKEN, RAISES]
    rewards = reward(
        prompts=[TASK.prompt] * 4, completions=completions, task_id=[TASK.task_id] * 4, other_column=[0] * 4
    )
    assert rewards == [1.5, 0.25, 0.0, 0.0]
    assert [r.outcome for r in reward.last_results] == ["pass", "fail", "syntax_error", "runtime_error"]
    assert reward.last_programs == completions
    stats = reward.last_stats()
    assert stats["n"] == 4 and stats["pass_frac"] == 0.25
    assert stats["outcomes"] == {"pass": 1, "fail": 1, "syntax_error": 1, "runtime_error": 1}
    assert reward.__name__ == "unit_tests_sparse_plus_partial"

    # Same verdicts, another shape: CodeRL ranks the syntax error below the runtime error.
    coderl_reward = ExecutionReward(executor, {TASK.task_id: TASK}, reward="coderl")
    assert coderl_reward(prompts=None, completions=completions, task_id=[TASK.task_id] * 4) == [
        1.0,
        -0.3,
        -1.0,
        -0.6,
    ]


def test_execution_reward_extracts_programs(executor):
    def extract(completion: str, task: Task) -> str:
        return completion.split("```python\n", 1)[1].split("```", 1)[0]

    reward = ExecutionReward(executor, {TASK.task_id: TASK}, extract=extract, reward="pass_all")
    chat = [{"role": "assistant", "content": f"Here:\n```python\n{CORRECT}```\nDone."}]
    assert reward(prompts=[TASK.prompt], completions=[chat], task_id=[TASK.task_id]) == [1.0]
    assert reward.last_programs == [CORRECT]


def test_execution_reward_input_errors(executor):
    reward = ExecutionReward(executor, {TASK.task_id: TASK})
    with pytest.raises(UnitrlError, match="unknown task_id 'nope'") as e:
        reward(prompts=["p"], completions=[CORRECT], task_id=["nope"])
    assert "\n" not in str(e.value)
    with pytest.raises(UnitrlError, match="task_id"):
        reward(prompts=["p"], completions=[CORRECT])
    with pytest.raises(ValueError, match="2 completions but 1 task ids"):
        reward(prompts=["p", "p"], completions=[CORRECT, CORRECT], task_id=[TASK.task_id])
    assert reward(prompts=[], completions=[], task_id=[]) == []
    with pytest.raises(UnitrlError, match="unknown reward"):
        ExecutionReward(executor, {}, reward="nope")
