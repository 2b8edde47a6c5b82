"""The pure helpers of benchmarks/datagen.py: Pynguin's pytest module turned into executor tests (no Pynguin
needed), the ``pytest.approx`` stand-in, check counting, and branch coverage of a converted suite."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

_PATH = Path(__file__).resolve().parents[1] / "benchmarks" / "datagen.py"
_spec = importlib.util.spec_from_file_location("bench_datagen", _PATH)
assert _spec is not None and _spec.loader is not None
bench = importlib.util.module_from_spec(_spec)
sys.modules["bench_datagen"] = bench  # dataclasses look their module up while the class is built
_spec.loader.exec_module(bench)

REFERENCE = """def clamp(x, lo, hi):
    if lo > hi:
        raise ValueError("lo > hi")
    if x < lo:
        return lo
    if x > hi:
        return hi
    return x
"""

# What Pynguin 0.48 writes (abridged from a real run, plus the rarer forms the converter handles).
PYNGUIN_MODULE = """#  This file was automatically generated using Pynguin.

import pytest
import sys
import fn_000
import collections

fn_000_ = sys.modules["fn_000"]


@pytest.mark.xfail(strict=True)
def test_0():
    var_2 = bytes
    fn_000_.clamp(x=var_2, lo=3, hi=3)


def test_1():
    var_12 = fn_000_.clamp(x=3365, lo=263, hi=2344)
    assert var_12 == 2344
    with pytest.raises(ValueError):
        fn_000_.clamp(x=-1825, lo=712, hi=-633)


def test_2():
    var_0 = fn_000.clamp(0.5, 0.25, 1.0)
    assert var_0 == pytest.approx(0.5, abs=0.01, rel=0.01)


@pytest.mark.skip(reason="flaky")
def test_3():
    fn_000_.clamp(1, 2, 3)


@pytest.mark.xfail
def test_4():
    fn_000_.clamp(1, 2, 3)
"""


def test_convert_maps_each_test_function_to_one_executor_test():
    suite = bench.convert_pynguin_tests(PYNGUIN_MODULE, "fn_000")
    assert suite.names == ["test_0", "test_1", "test_2"]
    assert suite.skipped == {"skip_mark": 1, "non_strict_xfail": 1}
    assert "import collections" in suite.setup and "import fn_000" not in suite.setup
    assert "class _approx" in suite.setup  # only because test_2 uses pytest.approx
    xfail, raises, approx = suite.tests
    for test in suite.tests:
        assert "fn_000" not in test and "pytest.raises" not in test and "pytest.approx" not in test
        compile(test, "<test>", "exec")
    assert xfail.startswith("try:") and "except Exception as _exc" in xfail and "ProgramTimeout" in xfail
    assert "clamp(x=var_2, lo=3, hi=3)" in xfail
    assert "except ValueError:" in raises and "DID NOT RAISE ValueError" in raises
    assert "_approx(0.5, abs=0.01, rel=0.01)" in approx
    assert [bench.count_checks(t) for t in suite.tests] == [1, 2, 1]


def test_convert_without_approx_needs_no_helper():
    suite = bench.convert_pynguin_tests(
        "import m as module_0\n\ndef test_a():\n    assert module_0.f(1) == 2\n", "m"
    )
    assert suite.tests == ["assert f(1) == 2"]
    assert suite.setup == ""


@pytest.mark.parametrize(
    ("expected", "actual", "kwargs"),
    [
        (0.5, 0.505, {"abs": 0.01, "rel": 0.01}),
        (0.5, 0.52, {"abs": 0.01, "rel": 0.01}),
        (100.0, 100.5, {"abs": 0.01, "rel": 0.01}),
        (100.0, 102.0, {"abs": 0.01, "rel": 0.01}),
        (1.0, 1.0 + 1e-7, {}),
        (1.0, 1.0 + 1e-5, {}),
        (1000.0, 1000.5, {"abs": 0.01}),
        ([1.0, 2.0], [1.0, 2.001], {"abs": 0.01}),
        ([1.0, 2.0], [1.0], {"abs": 0.01}),
        ({"a": 1.0}, {"a": 1.001}, {"rel": 0.01}),
        ("x", "x", {}),
        (3, 3.0000001, {}),
    ],
)
def test_approx_stand_in_agrees_with_pytest(expected, actual, kwargs):
    namespace: dict = {}
    exec(bench.APPROX_SETUP, namespace)
    assert (actual == namespace["_approx"](expected, **kwargs)) == (
        actual == pytest.approx(expected, **kwargs)
    )


def test_converted_tests_run_in_the_executor_and_catch_bugs():
    from unitrl.execution import ExecutionConfig, Executor, Sample

    suite = bench.convert_pynguin_tests(PYNGUIN_MODULE, "fn_000")
    wrong = REFERENCE.replace('raise ValueError("lo > hi")', "return lo")
    loops = REFERENCE.replace("    if x < lo:", "    while True:\n        pass\n    if x < lo:")
    with Executor(ExecutionConfig(workers=1)) as executor:
        results = executor.run(
            [
                Sample(p, suite.tests, suite.setup, key=i, program_names=["clamp"])
                for i, p in enumerate([REFERENCE, wrong, loops])
            ],
            test_timeout=0.5,
            timeout=5,
        )
    ref, bug, loop = results
    assert ref.passed, [t.error for t in ref.tests]
    assert [t.outcome for t in bug.tests] == ["pass", "fail", "pass"]
    # an expected-exception block must not swallow the judge's timeout: the looping mutant is caught
    assert not loop.passed and loop.tests[0].outcome == "timeout"


def test_small_helpers():
    assert bench.visibility_for("clamp") == "PUBLIC"
    assert bench.visibility_for("_unquote") == "PROTECTED"
    assert bench.visibility_for("__mangled") == "ALL"
    assert (
        bench.count_checks(
            "try:\n    f()\nexcept ValueError:\n    pass\nelse:\n    raise AssertionError('x')"
        )
        == 1
    )
    xfail = "try:\n    assert f(1) == 2\n    f(None)\nexcept Exception as _exc:\n    pass\nelse:\n    raise AssertionError('x')"
    assert bench.count_checks(xfail) == 1  # the assert inside cannot fail the test: no check
    assert bench.count_checks("assert f(1) == 2\nif True:\n    assert f(2) == 3") == 2


def test_branch_coverage_of_a_suite_with_the_miners_measure():
    pytest.importorskip("coverage")
    from unitrl.execution import ExecutionConfig, Executor

    helper = "def _half(x):\n    if x % 2:\n        return None\n    return x // 2\n\n\n"
    reference = helper + REFERENCE.replace("    return x\n", "    return _half(x)\n")
    suite = bench.convert_pynguin_tests(PYNGUIN_MODULE, "fn_000")
    with Executor(ExecutionConfig(workers=1)) as executor:
        one, n = bench.branch_coverage(reference, "clamp", "", ["assert clamp(20, 0, 10) == 10"], executor)
        more, _ = bench.branch_coverage(reference, "clamp", suite.setup, suite.tests, executor)
        # a test calling a carried helper directly still runs on to the entry point's call
        helper_first, _ = bench.branch_coverage(
            reference, "clamp", "", ["assert _half(3) is None\nassert clamp(4, 0, 10) == 2"], executor
        )
        flat = bench.branch_coverage("def f(x):\n    return x + 1\n", "f", "", ["assert f(1) == 2"], executor)
    assert n == 8
    assert one is not None and more is not None and 0 < one < more < 1
    assert helper_first is not None and helper_first > one
    assert flat == (None, 0)  # no branches: nothing to measure
