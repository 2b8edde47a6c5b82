"""HumanEval (Chen et al. 2021): 164 hand-written problems, the prompt being a signature plus docstring.

``test_setup`` is the dataset's ``test`` code (it defines ``check(candidate)`` and ``METADATA``) and the
reference is ``prompt + canonical_solution``, as in OpenAI's harness.  Where ``check`` is nothing but plain
``assert`` statements (157 of 164 tasks), each assert becomes its own test with ``candidate`` renamed to the
entry point, so the executor reports a per-assert pass rate (a denser RL reward) while "all tests pass" stays
exactly equivalent to ``check(entry_point)`` passing.  Asserts that never mention ``candidate`` (``assert
True, "This prints if this assert fails"``) test nothing and are dropped.  Tasks whose ``check`` has loops,
locals or imports keep the single test ``check(entry_point)``.
"""

from __future__ import annotations

import ast
import json
from functools import lru_cache

from unitrl.benchmarks import read_data_text, record_field, select_split
from unitrl.errors import UnitrlError
from unitrl.tasks import Task

DATA_FILE = "humaneval/HumanEval.jsonl.gz"
SPLITS: tuple[str, ...] = ("test",)


class _Rename(ast.NodeTransformer):
    def __init__(self, old: str, new: str) -> None:
        self.old, self.new = old, new

    def visit_Name(self, node: ast.Name) -> ast.Name:
        if node.id == self.old:
            return ast.copy_location(ast.Name(id=self.new, ctx=node.ctx), node)
        return node


def split_check(test_code: str, entry_point: str) -> list[str] | None:
    """The asserts of ``check(candidate)`` as standalone tests, or None when ``check`` is not that simple."""
    tree = ast.parse(test_code)
    checks = [n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == "check"]
    if len(checks) != 1:
        return None
    check = checks[0]
    params = [a.arg for a in (*check.args.posonlyargs, *check.args.args)]
    if len(params) != 1 or check.args.vararg or check.args.kwarg or check.args.kwonlyargs:
        return None
    param = params[0]
    if entry_point in _top_level_names(tree):
        return None  # the entry point's name would mean the setup's object, not the program's
    if not check.body or not all(isinstance(s, ast.Assert) for s in check.body):
        return None
    tests: list[str] = []
    for stmt in check.body:
        names = {n.id for n in ast.walk(stmt) if isinstance(n, ast.Name)}
        if any(isinstance(n, ast.NamedExpr) for n in ast.walk(stmt)):
            return None  # a walrus would make a local that later asserts read
        if param not in names:
            continue
        try:
            tests.append(ast.unparse(_Rename(param, entry_point).visit(stmt)))
        except ValueError:  # e.g. an int literal too long to print
            return None
    return tests or None


def _top_level_names(tree: ast.Module) -> set[str]:
    names: set[str] = set()
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            names.update((a.asname or a.name).split(".")[0] for a in node.names)
        else:
            names.update(
                n.id for n in ast.walk(node) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Store)
            )
    return names


def _task(record: dict[str, object], where: str) -> Task:
    task_id = record_field(record, "task_id", str, where)
    prompt = record_field(record, "prompt", str, where)
    entry_point = record_field(record, "entry_point", str, where)
    test = record_field(record, "test", str, where)
    solution = record_field(record, "canonical_solution", str, where)
    try:
        tests = split_check(test, entry_point)
    except SyntaxError as e:
        raise UnitrlError(f"{where}: test code does not parse ({e.msg})") from None
    return Task(
        task_id=task_id,
        prompt=prompt,
        entry_point=entry_point,
        tests=tests if tests is not None else [f"check({entry_point})"],
        test_setup=test,
        reference=prompt + solution,
        meta={"source": "humaneval", "split": "test", "split_check": tests is not None},
    )


@lru_cache(maxsize=1)
def _all() -> tuple[Task, ...]:
    tasks = []
    for lineno, line in enumerate(read_data_text(DATA_FILE).splitlines(), 1):
        if line.strip():
            tasks.append(_task(json.loads(line), f"{DATA_FILE}:{lineno}"))
    return tuple(tasks)


def load(split: str | None = None) -> list[Task]:
    """The 164 HumanEval tasks (the only split is ``test``)."""
    return select_split(_all(), split, SPLITS, "humaneval")
