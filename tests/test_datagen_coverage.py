"""Branch coverage of the reference (coverage.py, run in the sandbox) and its use in suite selection."""

from __future__ import annotations

import os

import pytest

from unitrl.datagen.coverage import (
    ARCS_CALL,
    _parse_arcs,
    branch_map,
    case_branches,
    coverage_fraction,
    coverage_program,
)
from unitrl.datagen.inputs import CallInput
from unitrl.datagen.mutation import Mutant
from unitrl.datagen.oracle import OracleCase, run_oracle
from unitrl.datagen.pipeline import MineConfig, MineStats, mine_source
from unitrl.datagen.suite import greedy_cover, select_suite
from unitrl.execution import ExecutionConfig, Executor, Sample

SIGN = '''
LIMIT = 3 if True else 4


def sign(x):
    """-1, 0 or 1."""
    if x > 0:
        return 1
    else:
        return -1 if x < 0 else 0
'''


@pytest.fixture(scope="module")
def executor():
    with Executor(ExecutionConfig(workers=2, timeout=10), hash_seed=0) as ex:
        yield ex


@pytest.fixture(scope="module")
def recheck():
    with Executor(ExecutionConfig(workers=1, timeout=10), hash_seed=1) as ex:
        yield ex


def _case(call: str, value: str) -> OracleCase:
    return OracleCase(CallInput(()), call, "value", value, test=f"assert {call} == {value}")


def test_branches_are_found_statically_inside_functions_only():
    bmap = branch_map(SIGN)
    assert bmap is not None
    # `if x > 0` (line 7) goes to 8 or 10; the conditional expression on line 10 is one line, no branch;
    # the module-level `3 if True else 4` is not in a function
    assert bmap.branches == {(7, 8), (7, 10)}
    straight = branch_map("def double(x):\n    return 2 * x\n")
    assert straight is not None and straight.branches == set()
    assert coverage_fraction(frozenset(), straight) == 1.0
    assert branch_map("def broken(:\n") is None


def test_if_else_both_sides_cover_everything_one_side_half(executor):
    bmap = branch_map(SIGN)
    cases = [_case("sign(5)", "1"), _case("sign(-5)", "-1"), _case("sign(7)", "1")]
    per_case = case_branches(SIGN, "sign", cases, executor, bmap)
    assert per_case == [{(7, 8)}, {(7, 10)}, {(7, 8)}]
    assert coverage_fraction(per_case[0] | per_case[1], bmap) == 1.0
    assert coverage_fraction(per_case[0] | per_case[2], bmap) == 0.5


def test_measurement_runs_in_the_sandbox_and_returns_plain_data(executor):
    # the wrapper runs the reference from a file of the sandbox's own working directory, where coverage.py
    # can see it; the judge gets the arcs back as a literal
    reference = "import os\n\n\ndef where(x):\n    if x:\n        return os.getcwd()\n    return ''\n"
    [result] = executor.run(
        [Sample(coverage_program(reference, "where"), ["where(1)", ARCS_CALL, "where(0)", ARCS_CALL])]
    )
    assert result.passed, result
    workdir = result.tests[0].value
    assert _parse_arcs(result.tests[1].value) == [(-4, 5), (5, 6), (6, -4)]
    assert _parse_arcs(result.tests[3].value) == [(-4, 5), (5, 7), (7, -4)]
    assert workdir is not None and workdir.strip("'") != os.getcwd()  # the sandbox's, not the host's
    # a program cannot hand back anything but integer pairs
    assert _parse_arcs("[(1, 2), (3, 'x')]") is None
    assert _parse_arcs("__import__('os')") is None
    assert _parse_arcs(None) is None


def test_a_timed_out_test_covers_nothing_and_the_others_still_count(executor):
    reference = "def spin(n):\n    if n > 0:\n        while True:\n            pass\n    return n\n"
    bmap = branch_map(reference)
    cases = [_case("spin(0)", "0"), _case("spin(1)", "1")]
    per_case = case_branches(reference, "spin", cases, executor, bmap, test_timeout=0.3)
    assert per_case is not None
    assert per_case[0] == {(2, 5)} and per_case[1] == frozenset()


def test_greedy_breaks_kill_ties_by_new_branches_and_fills_slots_with_them():
    cases = [_case(f"f({i})", str(i)) for i in range(5)]
    kills = [{0, 1}, {2}, {2}, set(), set()]
    branches = [
        frozenset({(1, 2)}),
        frozenset({(1, 2)}),
        frozenset({(1, 3)}),
        frozenset({(4, 5)}),
        frozenset(),
    ]
    # case 1 and case 2 kill the same new mutant; only case 2 reaches a new branch.  Then case 3 kills
    # nothing new but adds a branch; case 4 adds neither
    assert greedy_cover(cases, kills, min_tests=0, branches=branches) == [0, 2, 3]
    # without coverage the tie goes to input order and no kill-less test is picked
    assert greedy_cover(cases, kills, min_tests=0) == [0, 1]
    # max_tests still caps the suite
    assert greedy_cover(cases, kills, max_tests=2, min_tests=0, branches=branches) == [0, 2]


def test_select_suite_prefers_the_test_covering_a_new_branch(executor):
    reference = "def clip(x):\n    if x > 10:\n        return 10\n    return x\n"
    # one mutant, killed by every test: coverage alone decides what else is kept
    mutant = Mutant(source="def clip(x):\n    return None\n", operator="manual", lineno=1, detail="none")
    cases = [_case("clip(3)", "3"), _case("clip(4)", "4"), _case("clip(50)", "10")]
    suite = select_suite(reference, "clip", cases, executor, min_tests=0, mutants=[mutant])
    assert suite.tests == ["assert clip(3) == 3", "assert clip(50) == 10"]
    assert suite.branch_coverage == 1.0 and suite.n_branches == 2
    plain = select_suite(
        reference, "clip", cases, executor, min_tests=0, mutants=[mutant], measure_coverage=False
    )
    assert plain.tests == ["assert clip(3) == 3"] and plain.branch_coverage is None


def test_suite_coverage_from_oracle_cases(executor, recheck):
    inputs = [CallInput((v,)) for v in (4, 9, 1)]
    oracle = run_oracle(SIGN, "sign", inputs, executor, recheck)
    suite = select_suite(SIGN, "sign", oracle.cases, executor, min_tests=0)
    assert suite.branch_coverage == 0.5 and suite.n_branches == 2  # positive inputs only: one side


def test_mined_task_meta_carries_branch_coverage(executor, recheck):
    module = '''
def grade(score: int) -> str:
    """Letter grade of a score out of 100."""
    if score >= 90:
        return "A"
    if score >= 75:
        return "B"
    if score >= 50:
        return "C"
    return "F"
'''
    tasks, stats = mine_source(module, "grades.py", executor, MineConfig(n_inputs=30), recheck=recheck)
    [task] = tasks
    assert task.meta["branch_coverage"] == 1.0 and task.meta["n_branches"] == 6
    assert isinstance(task.meta["hypothesis"], str)
    assert stats.mean_branch_coverage == 1.0 and stats.coverage_tasks == 1
    assert stats.to_dict()["mean_branch_coverage"] == 1.0
    assert "mean branch coverage 1.000" in stats.line()
    total = MineStats()
    total.add(stats)
    total.count_task(task, -1)
    assert total.tasks_kept == 0 and total.mean_branch_coverage is None
    assert "mean branch coverage n/a" in total.line()
