"""AST mutants and the mutation score of a test suite (run through the real sandboxed executor)."""

from __future__ import annotations

import ast
from collections import Counter

import pytest

from unitrl.datagen import OPERATORS, Mutant, ReferenceFailsError, mutants, mutation_score, select_functions
from unitrl.execution import ExecutionConfig, Executor

REFERENCE = '''
import math

LIMIT = 10


def _clip(x):
    return min(x, LIMIT)


def unrelated(x):
    return x * 2 + 1


def f(xs, flag=True):
    """Doc string that must stay."""
    total = 0
    for x in xs:
        if x > 0 and not flag:
            total += _clip(x) * 2
        elif x in (1, 2) or x is None:
            total -= x % 3 // 1
    if total == 0:
        raise ValueError("empty input")
    return total + len('')
'''


def _function(tree: ast.Module, name: str) -> str:
    return next(ast.dump(s) for s in tree.body if isinstance(s, ast.FunctionDef) and s.name == name)


def test_mutants_are_valid_distinct_and_cover_every_operator():
    found = mutants(REFERENCE, "f")
    original = ast.dump(ast.parse(REFERENCE))
    dumps = []
    for m in found:
        compile(m.source, "<mutant>", "exec")
        dumps.append(ast.dump(ast.parse(m.source)))
        assert m.operator in OPERATORS and m.detail and m.lineno > 0
    assert original not in dumps
    assert len(set(dumps)) == len(dumps)
    assert set(Counter(m.operator for m in found)) == set(OPERATORS)
    details = {m.detail for m in found}
    expected = {"+ -> -", "- -> +", "* -> /", "* -> //", "% -> //", "> -> >=", "in -> not in", "is -> is not"}
    assert expected <= details
    assert {
        "and -> or",
        "or -> and",
        "not x -> x",
        "0 -> 1",
        "'' -> 'x'",
        "return x -> return None",
    } <= details


def test_mutants_touch_only_the_target_and_its_helpers():
    found = mutants(REFERENCE, "f")
    assert {m.function for m in found} == {"f", "_clip"}
    original = ast.parse(REFERENCE)
    for m in found:
        tree = ast.parse(m.source)
        assert _function(tree, "unrelated") == _function(original, "unrelated")
        assert ast.dump(tree.body[0]) == ast.dump(original.body[0])  # the import
        assert ast.get_docstring(next(s for s in tree.body if getattr(s, "name", "") == "f")) == (
            "Doc string that must stay."
        )
        assert "ValueError('')" not in m.source  # raise messages are not mutated


def test_mutants_are_deterministic_and_limit_spreads():
    first, second = mutants(REFERENCE, "f"), mutants(REFERENCE, "f")
    assert [m.source for m in first] == [m.source for m in second]
    limited = mutants(REFERENCE, "f", limit=5)
    assert len(limited) == 5
    assert [m.source for m in limited] == [first[i * len(first) // 5].source for i in range(5)]
    assert len({m.lineno for m in limited}) > 1  # not all from the top of the function
    assert mutants(REFERENCE, "f", limit=0) == []


def test_unknown_function_is_an_error():
    with pytest.raises(ValueError, match="nope"):
        mutants(REFERENCE, "nope")


CLAMP = """def clamp(x, lo, hi):
    if x < lo:
        return lo
    if x > hi:
        return hi
    return x
"""
WEAK = ["assert clamp(5, 0, 10) == 5"]
STRONG = [*WEAK, "assert clamp(-3, 0, 10) == 0", "assert clamp(12, 0, 10) == 10"]


@pytest.fixture(scope="module")
def executor():
    with Executor(ExecutionConfig(workers=2, timeout=4.0, test_timeout=2.0)) as ex:
        yield ex


def test_strong_suite_kills_more_mutants_than_weak_suite(executor):
    found = mutants(CLAMP, "clamp")
    assert 4 <= len(found) <= 12
    weak = mutation_score(CLAMP, "clamp", WEAK, executor, found)
    strong = mutation_score(CLAMP, "clamp", STRONG, executor, found)
    assert weak.total == strong.total == len(found)
    assert strong.killed > weak.killed
    assert strong.score > weak.score
    assert weak.killed + len(weak.survivors) == weak.total
    # x < lo vs x <= lo (and > vs >=) return the same value at the boundary: equivalent mutants survive
    assert {m.detail for m in strong.survivors} == {"< -> <=", "> -> >="}
    assert strong.survivor_summary() == ["comparison@2: < -> <=", "comparison@4: > -> >="]


def test_reference_must_pass_its_own_tests(executor):
    with pytest.raises(ReferenceFailsError, match="clamp"):
        mutation_score(CLAMP, "clamp", ["assert clamp(5, 0, 10) == 6"], executor, [])


def test_timeouts_and_crashes_count_as_killed(executor):
    looping = Mutant("def clamp(x, lo, hi):\n    while True:\n        pass\n", "statement_deletion", 2)
    crashing = Mutant("def clamp(x, lo, hi):\n    return 1 / 0\n", "constant", 2)
    report = mutation_score(
        CLAMP, "clamp", WEAK, executor, [looping, crashing], timeout=1.0, test_timeout=0.5
    )
    assert (report.killed, report.total, report.score) == (2, 2, 1.0)
    assert report.outcomes[0] == "timeout" and report.outcomes[1] != "pass"
    assert mutation_score(CLAMP, "clamp", WEAK, executor, []).score == 0.0


def test_selected_candidate_end_to_end(executor):
    source = "BASE = 3\n\n\ndef _sq(x):\n    return x * x\n\n\ndef poly(x):\n    return _sq(x) + BASE * x\n"
    (candidate, *_), _ = select_functions(source)
    assert candidate.name == "_sq"
    poly = select_functions(source)[0][1]
    found = mutants(poly.reference, poly.name, limit=6)
    report = mutation_score(
        poly.reference, "poly", ["assert poly(2) == 10", "assert poly(-1) == -2"], executor, found
    )
    assert report.total == len(found) > 0 and report.score >= 0.8
