"""Oracle, suite selection, prompts, the mining pipeline and ``unitrl mine``, through the real sandbox."""

from __future__ import annotations

import ast
import json

import pytest
import typer
from typer.testing import CliRunner

from tests.datagen_support import mine_app
from unitrl.datagen.inputs import CallInput
from unitrl.datagen.oracle import refine_signature, run_oracle
from unitrl.datagen.pipeline import MineConfig, Miner, mine_paths
from unitrl.datagen.prompt import build_prompt, filter_doctests
from unitrl.datagen.sources import python_files
from unitrl.datagen.strategies import HYPOTHESIS_VERSION
from unitrl.datagen.suite import setup_for
from unitrl.datagen.types import infer_signature
from unitrl.errors import UnitrlError
from unitrl.execution import ExecutionConfig, Executor, Sample
from unitrl.tasks import load_tasks

MODULE = '''
import math

LIMIT = 10


def clamp_sum(xs: list[int], limit: int = LIMIT) -> int:
    """Sum the items of xs, each clipped to at most limit.

    >>> clamp_sum([1, 20, 3])
    14
    >>> clamp_sum([])
    99
    """
    total = 0
    for x in xs:
        if x > limit:
            total += limit
        else:
            total += x
    return total


def hypot2(a: float, b: float) -> float:
    return math.sqrt(a * a + b * b) / 2


def first_index(s, ch):
    if not s:
        raise ValueError("empty")
    for i, c in enumerate(s):
        if c == ch:
            return i
    return -1


def unordered(words):
    """
    Args:
        words (list of str): some words
    """
    return list(set(words))
'''

FAST = MineConfig(n_inputs=24, mutant_limit=30, test_timeout=1.0)


@pytest.fixture(scope="module")
def miner():
    with Miner(ExecutionConfig(workers=2, timeout=10), FAST) as m:
        yield m


@pytest.fixture(scope="module")
def mined(miner):
    return miner.mine_source(MODULE, "fixture.py")


def test_oracle_drops_hash_order_dependent_values(miner):
    reference = "def unordered(words):\n    return list(set(words))\n"
    inputs = [CallInput((["apple", "banana", "cherry", "date", "elder", "fig", "grape"],)), CallInput(([],))]
    result = run_oracle(reference, "unordered", inputs, miner.executor, miner.recheck)
    assert result.dropped["nondeterministic"] == 1
    assert [c.test for c in result.cases] == ["assert unordered([]) == []"]


def test_oracle_works_whatever_the_entry_point_is_called(miner):
    for name in ("a", "k", "f", "math"):
        reference = f"def {name}(k, a=2):\n    return k * a\n"
        result = run_oracle(
            reference, name, [CallInput((3,)), CallInput((3, 4))], miner.executor, miner.recheck
        )
        assert [c.test for c in result.cases] == [f"assert {name}(3) == 6", f"assert {name}(3, 4) == 12"]


def test_oracle_drops_timeouts_and_keeps_later_calls(miner):
    reference = "def slow(n):\n    while n > 3:\n        pass\n    return n * 2\n"
    inputs = [CallInput((n,)) for n in (1, 5, 2, 3)]
    result = run_oracle(reference, "slow", inputs, miner.executor, miner.recheck, test_timeout=0.5)
    assert result.dropped["timeout"] == 1
    assert [c.test for c in result.cases] == [
        "assert slow(1) == 2",
        "assert slow(2) == 4",
        "assert slow(3) == 6",
    ]


def test_oracle_turns_builtin_exceptions_into_tests_and_caps_them(miner):
    reference = (
        "class Odd(Exception):\n    pass\n\n\n"
        "def pick(xs, i):\n    if i == 99:\n        raise Odd()\n    return xs[i] / xs[0]\n"
    )
    inputs = [CallInput(([2, 3], 1)), CallInput(([], 0)), CallInput(([1], 5)), CallInput(([0], 0))]
    inputs += [CallInput(([1], 99)), CallInput(([1], "a"))]
    result = run_oracle(reference, "pick", inputs, miner.executor, miner.recheck, max_raises=2)
    assert [(c.kind, c.exception) for c in result.cases] == [
        ("value", ""),
        ("raises", "IndexError"),
        ("raises", "IndexError"),
    ]
    assert result.cases[0].test == "assert math.isclose(pick([2, 3], 1), 1.5, rel_tol=1e-9)"
    assert result.dropped["exception"] == 3  # ZeroDivisionError over the cap, Odd, TypeError
    tests = [c.test for c in result.cases]
    [ok] = miner.executor.run([Sample(reference, tests, "import math", program_names=["pick"])])
    assert ok.passed, ok
    [bad] = miner.executor.run(
        [Sample("def pick(xs, i):\n    return 0\n", tests, "import math", program_names=["pick"])]
    )
    assert bad.tests_passed == 0


def test_floats_inside_containers_are_compared_with_tolerance(miner):
    reference = "def stats(xs):\n    return (sum(xs) / len(xs), [x / 3 for x in xs], len(xs))\n"
    result = run_oracle(reference, "stats", [CallInput(([1, 2],))], miner.executor, miner.recheck)
    [case] = result.cases
    assert case.test.startswith("assert _close(stats([1, 2]), (1.5, [0.333") and case.needs_close
    setup = setup_for(result.cases)
    close = "def stats(xs):\n    return (sum(xs) * (1 / len(xs)), [x * (1 / 3) for x in xs], len(xs))\n"
    off = "def stats(xs):\n    return (sum(xs) / len(xs), [x / 3.01 for x in xs], len(xs))\n"
    results = miner.executor.run(
        [Sample(p, [case.test], setup, program_names=["stats"]) for p in (reference, close, off)]
    )
    assert [r.passed for r in results] == [True, True, False]


def test_oracle_tests_in_place_changes_of_arguments(miner):
    reference = "def push(heap, item):\n    heap.append(item)\n    heap.sort()\n"
    result = run_oracle(reference, "push", [CallInput(([3, 1], 2))], miner.executor, miner.recheck)
    [case] = result.cases
    assert case.test == "_a0 = [3, 1]\nassert push(_a0, 2) is None\nassert _a0 == [1, 2, 3]"
    assert case.mutated == ((0, "[1, 2, 3]"),)
    [ok] = miner.executor.run([Sample(reference, [case.test], program_names=["push"])])
    assert ok.passed
    [bad] = miner.executor.run(
        [Sample("def push(heap, item):\n    heap.append(item)\n", [case.test], program_names=["push"])]
    )
    assert not bad.passed


def test_probing_replaces_types_guessed_from_names(miner):
    # `a` reads as an int by name; the reference only accepts a list
    reference = "def count_below(a, x):\n    return sum(1 for v in a if v < x)\n"
    guessed = infer_signature(reference, "count_below")
    assert [str(p.type) for p in guessed.params] == ["int", "int"]
    refined = refine_signature(reference, "count_below", guessed, miner.executor)
    assert refined.params[0].type.kind == "list" and refined.params[0].evidence == "probe"
    assert str(refined.params[1].type) == "int"
    # annotated types are never replaced
    annotated = "def count_below(a: int, x: int):\n    return sum(1 for v in a if v < x)\n"
    sig = infer_signature(annotated, "count_below")
    assert refine_signature(annotated, "count_below", sig, miner.executor) is sig


def test_mining_keeps_strong_deterministic_tasks(miner, mined):
    tasks, stats = mined
    names = {t.entry_point for t in tasks}
    assert {"clamp_sum", "hypot2", "first_index"} <= names
    assert "unordered" not in names
    assert stats.functions_seen == 4 and stats.rejected["nondeterministic"] == 1
    assert stats.tasks_kept == len(tasks) and stats.mean_score >= 0.8
    assert stats.coverage_tasks == len(tasks) and 0.5 <= stats.mean_branch_coverage <= 1.0
    samples = [t.sample(t.reference, key=t.task_id) for t in tasks]
    for task, result in zip(tasks, miner.executor.run(samples), strict=True):
        assert result.passed, (task.task_id, result)
        assert 1 <= len(task.tests) <= FAST.max_tests
        assert task.meta["mutation_score"] >= 0.8
        assert task.meta["path"] == "fixture.py" and task.meta["line"] > 0
        assert task.meta["n_mutants"] > 0 and isinstance(task.meta["survivors"], list)
        assert 0.0 <= task.meta["branch_coverage"] <= 1.0 and task.meta["n_branches"] >= 0
        assert task.meta["hypothesis"] == HYPOTHESIS_VERSION
        ast.parse(task.prompt)  # a header and a docstring: valid Python with the body removed
        assert task.prompt.rstrip().endswith('"""')
        for test in task.tests:
            ast.parse(test)


def test_prompt_keeps_only_doctests_the_oracle_agrees_with(mined):
    tasks, _ = mined
    clamp = next(t for t in tasks if t.entry_point == "clamp_sum")
    assert "LIMIT = 10" in clamp.prompt and "clamp_sum([1, 20, 3])\n    14" in clamp.prompt
    assert "99" not in clamp.prompt  # the wrong example is gone
    assert "total = 0" not in clamp.prompt
    assert clamp.meta["doctests"] == {"kept": 1, "removed": 1, "added": 0}
    hyp = next(t for t in tasks if t.entry_point == "hypot2")
    assert hyp.test_setup == "import math" and "import math" in hyp.prompt
    assert ">>> hypot2(" in hyp.prompt  # examples added to an undocumented function
    assert not any(line.split("==")[0].strip() in hyp.prompt for line in hyp.tests)


PROMPT_MODULE = """
import re

_WORD = re.compile(r"\\w+")


def count_words(text: str) -> int:  # trailing comment
    # a leading comment
    return len(_words(text))


def _words(text):
    return [w.lower() for w in _WORD.findall(text) if len(w) > 1]


class Tools:
    @staticmethod
    def double_all(xs):
        '''Double every element.

        >>> Tools.double_all([1, 2])
        [2, 4]
        >>> double_all([3])
        [6]
        '''
        return [x * 2 for x in xs]


def one_liner(n): return n * 3 + 1
"""


def test_prompts_carry_helpers_and_handle_odd_layouts(miner):
    tasks, _ = miner.mine_source(PROMPT_MODULE, "layouts.py")
    prompts = {t.entry_point: t.prompt for t in tasks}
    assert set(prompts) == {"count_words", "_words", "double_all", "one_liner"}
    count = prompts["count_words"]
    assert count.index("def _words") < count.index('def count_words(text: str) -> int:\n    """')
    assert "import re" in count and "comment" not in count and "return len" not in count
    double = prompts["double_all"]
    assert ">>> Tools.double_all" not in double and ">>> double_all([3])\n    [6]" in double
    assert prompts["one_liner"].startswith('def one_liner(n):\n    """')
    for prompt in prompts.values():
        ast.parse(prompt)


def test_functions_with_too_few_mutants_are_rejected(miner):
    tasks, stats = miner.mine_source(
        "def same(x):\n    return x\n\n\ndef plus(x):\n    return x + 1\n", "m.py"
    )
    assert [t.entry_point for t in tasks] == ["plus"] and stats.rejected["no_mutants"] == 1


def test_mining_is_deterministic(miner, mined):
    again, _ = miner.mine_source(MODULE, "fixture.py")
    assert [t.to_dict() for t in again] == [t.to_dict() for t in mined[0]]


def test_filter_doctests_drops_unchecked_examples():
    doc = "Intro.\n\nExamples:\n>>> f(1)\n2\n>>> x = 3\n>>> f(x)\n6"
    text, kept, removed = filter_doctests(doc, "f", {})
    assert (text, kept, removed) == ("Intro.", 0, 3)
    prompt, counts = build_prompt("def f(x):\n    return x\n", "f", "", [], [])
    assert prompt == "def f(x):\n" and counts["added"] == 0


def _app() -> typer.Typer:
    return mine_app(pretty_exceptions_enable=False)


def test_cli_mine_writes_tasks_and_resumes(tmp_path):
    folder = tmp_path / "src"
    (folder / "pkg").mkdir(parents=True)
    (folder / "pkg" / "mod.py").write_text(MODULE)
    (folder / "tests").mkdir()
    (folder / "tests" / "test_x.py").write_text(MODULE)  # test suites are skipped
    out = tmp_path / "tasks.jsonl"
    args = [
        "mine",
        str(folder),
        "--out",
        str(out),
        "--workers",
        "2",
        "--inputs",
        "24",
        "--limit-functions",
        "3",
    ]
    result = CliRunner().invoke(_app(), args)
    assert result.exit_code == 0, result.output
    tasks = load_tasks(out)  # valid task JSONL (schema checked)
    assert 2 <= len(tasks) <= 3 and all(t.meta["path"].endswith("mod.py") for t in tasks)
    assert "3 functions seen (3 selected)" in result.output
    assert all(json.loads(line)["tests"] for line in out.read_text().splitlines())
    # the limit stopped inside mod.py: it is not finished, so a resumed run mines it again without
    # writing its tasks twice, and then marks it done
    assert (tmp_path / "tasks.jsonl.done").read_text() == ""
    again = CliRunner().invoke(_app(), args[:-2])
    assert again.exit_code == 0, again.output
    assert "4 functions seen (4 selected)" in again.output
    assert [t.task_id for t in load_tasks(out)] == [t.task_id for t in tasks]  # `unordered` gives no task
    assert (tmp_path / "tasks.jsonl.done").read_text().splitlines() == [str(folder / "pkg" / "mod.py")]
    before = out.read_text()
    third = CliRunner().invoke(_app(), args)
    assert (
        third.exit_code == 0 and "1 files already in" in third.output and "0 functions seen" in third.output
    )
    assert out.read_text() == before
    # the statistics sidecar sums the finished files of every run (the cut-short first pass is not in it)
    stats = CliRunner().invoke(_app(), ["mine", "--stats", "--out", str(out)])
    assert stats.exit_code == 0, stats.output
    assert "1 files, 4 functions seen (4 selected)" in stats.output
    assert f"{len(tasks)} tasks kept" in stats.output
    saved = json.loads((tmp_path / "tasks.jsonl.stats.json").read_text())
    assert saved["tasks_kept"] == len(tasks) and saved["functions_seen"] == 4


def test_cli_mine_bad_input_is_a_unitrl_error(tmp_path):
    for args in (
        ["mine", str(tmp_path / "missing"), "--out", str(tmp_path / "o.jsonl")],
        ["mine", str(tmp_path), "--out", str(tmp_path / "o.txt")],
        ["mine", str(tmp_path), "--out", str(tmp_path / "o.jsonl"), "--threshold", "2"],
        ["mine", "--out", str(tmp_path / "o.jsonl")],
        ["mine", "--stats", "--out", str(tmp_path / "never-mined.jsonl")],
    ):
        result = CliRunner().invoke(_app(), args)
        assert isinstance(result.exception, UnitrlError), result.output
        assert "\n" not in str(result.exception)


def test_sources_skip_test_suites_and_reject_non_python(tmp_path):
    (tmp_path / "a.py").write_text("x = 1\n")
    (tmp_path / "test").mkdir()
    (tmp_path / "test" / "b.py").write_text("x = 1\n")
    (tmp_path / "c.txt").write_text("")
    assert [p.name for p in python_files([str(tmp_path)])] == ["a.py"]
    with pytest.raises(UnitrlError):
        python_files([str(tmp_path / "c.txt")])
    stdlib = python_files(["stdlib"])
    assert any(p.name == "colorsys.py" for p in stdlib)
    assert not any("test" in p.parts or "idlelib" in p.parts or "site-packages" in p.parts for p in stdlib)


def test_mine_paths_counts_unreadable_files(tmp_path):
    (tmp_path / "bad.py").write_bytes(b"\xff\xfe def")
    _, stats = mine_paths([tmp_path], FAST, ExecutionConfig(workers=1))
    assert stats.files == 1 and stats.rejected["syntax_error"] == 1 and stats.tasks_kept == 0


def test_executor_hash_seeds_differ():
    # the determinism check relies on the two executors really using different hash seeds
    with (
        Executor(ExecutionConfig(workers=1), hash_seed=0) as a,
        Executor(ExecutionConfig(workers=1), hash_seed=1) as b,
    ):
        sample = Sample("def h(s):\n    return hash(s)\n", ["h('abc')"], program_names=["h"])
        assert a.run([sample])[0].tests[0].value != b.run([sample])[0].tests[0].value


def test_function_limit_counts_selected_functions_across_files(tmp_path):
    # a.py: two functions rejected by selection and one candidate; the limit must count only the candidate
    (tmp_path / "a.py").write_text("def none():\n    return 1\n\n\ndef gen(x):\n    yield x\n\n\n" + MODULE)
    (tmp_path / "b.py").write_text(MODULE)
    _, stats = mine_paths([tmp_path], FAST, ExecutionConfig(workers=2), skip=lambda label: False)
    assert stats.candidates == 8 and stats.rejected["no_args"] == 1 and stats.rejected["generator"] == 1
    limited = MineConfig(n_inputs=12, mutant_limit=10, limit_functions=5)
    _, stats = mine_paths([tmp_path], limited, ExecutionConfig(workers=2))
    assert stats.candidates == 5 and stats.files == 2
