"""Dedup of mined functions and decontamination against MBPP and HumanEval."""

from __future__ import annotations

import pytest

from tests.datagen_support import CLAMP
from unitrl.benchmarks import load_benchmark
from unitrl.datagen.dedup import TaskScreen, function_key, word_ngrams
from unitrl.datagen.pipeline import MineConfig, mine_paths
from unitrl.datagen.selection import select_functions
from unitrl.execution import ExecutionConfig
from unitrl.tasks import Task

# the same function under other names, layout and docstring
CLAMP_RENAMED = """
def capped_total(values, cap=10):
    # a comment
    acc = 0
    for v in values:
        if v > cap:
            acc += cap
        else:
            acc += v
    return acc
"""

# MBPP task 2's reference solution, copied verbatim into a "real" module
MBPP_COPY = """
def similar_elements(test_tup1, test_tup2):
  res = tuple(set(test_tup1) & set(test_tup2))
  return (res)
"""


@pytest.fixture(scope="module")
def screen():
    return TaskScreen()  # MBPP (974) + HumanEval (164), fingerprinted once for the module


def test_function_key_ignores_names_layout_and_surroundings():
    assert function_key(CLAMP, "clamp_sum") == function_key(CLAMP_RENAMED, "capped_total")
    assert function_key("import os\n\n" + CLAMP, "clamp_sum") == function_key(CLAMP, "clamp_sum")
    other = CLAMP.replace("total += limit", "total -= limit")
    assert function_key(other, "clamp_sum") != function_key(CLAMP, "clamp_sum")
    recursive = "def f(n):\n    return 1 if n < 2 else n * f(n - 1)\n"
    assert function_key(recursive, "f") == function_key(recursive.replace("f(", "fact("), "fact")
    assert function_key("def broken(:", "broken").startswith("text:")


def test_benchmark_index_covers_mbpp_and_humaneval(screen):
    assert len(screen.index) == 974 + 164
    mbpp2 = next(t for t in load_benchmark("mbpp") if t.task_id == "mbpp/2")
    assert screen.index.key_match(function_key(MBPP_COPY, "similar_elements")) == mbpp2.task_id
    he = load_benchmark("humaneval")[0]
    match, sim = screen.index.most_similar(he.prompt + he.reference)
    assert match == he.task_id and sim == pytest.approx(1.0)
    assert word_ngrams("a b c", 5) == {("a", "b", "c")}


def test_screen_drops_copies_and_benchmark_solutions(screen):
    candidates, _ = select_functions(CLAMP + CLAMP_RENAMED + MBPP_COPY, "m.py")
    verdicts = {c.name: screen.check_candidate(c) for c in candidates}
    assert verdicts == {"clamp_sum": None, "capped_total": "duplicate", "similar_elements": "contaminated"}
    # renaming the benchmark function does not hide it
    (renamed,) = select_functions(MBPP_COPY.replace("similar_elements", "common_items"), "n.py")[0]
    assert screen.check_candidate(renamed) == "contaminated"
    no_dedup = TaskScreen(dedup=False, index=screen.index)
    assert [no_dedup.check_candidate(c) for c in candidates[:2]] == [None, None]


def test_text_overlap_with_a_benchmark_task_is_contamination(screen):
    he = load_benchmark("humaneval")[2]
    # HumanEval's prompt with a different implementation: the key differs, the text gives it away
    lookalike = Task(
        "m/1", he.prompt, he.entry_point, ["assert True"], reference=he.prompt + "    return 0\n"
    )
    assert screen.check_task(lookalike) == "contaminated"
    unrelated = Task("m/2", CLAMP, "clamp_sum", ["assert True"], reference=CLAMP)
    assert screen.check_task(unrelated) is None
    strict = TaskScreen(dedup=False, threshold=1.0, index=screen.index)
    assert strict.check_task(lookalike) is None
    with pytest.raises(ValueError):
        TaskScreen(threshold=0.0, index=screen.index)


def test_mining_with_dedup_and_decontamination_counts_drops(tmp_path):
    (tmp_path / "a.py").write_text(CLAMP + MBPP_COPY)
    (tmp_path / "b.py").write_text(CLAMP_RENAMED)
    config = MineConfig(n_inputs=24, mutant_limit=30, test_timeout=1.0, dedup=True, decontaminate=True)
    tasks, stats = mine_paths([tmp_path], config, ExecutionConfig(workers=2, timeout=10))
    assert [t.entry_point for t in tasks] == ["clamp_sum"], stats.line()
    assert stats.dedup_dropped == 1 and stats.decontaminated == 1
    assert stats.rejected["duplicate"] == 1 and stats.rejected["contaminated"] == 1
    assert stats.functions_seen == stats.tasks_kept + sum(stats.rejected.values())
    assert stats.to_dict()["dedup_dropped"] == 1 and "1 duplicates and 1 benchmark" in stats.line()
    # the candidates count only what went through the costly pipeline
    assert stats.candidates == 1
