"""MBPP (Austin et al. 2021): the full 974-task release and the 427-task hand-verified "sanitized" subset.

Both use the paper's split by task number: 1-10 are the few-shot ``prompt`` examples, 11-510 ``test``,
511-600 ``validation``, 601-974 ``train``.  The prompt is the paper's plain-text form -- the problem statement,
then "Your code should pass these tests:" and the asserts -- because the asserts are the only place MBPP
states the function's name and signature; a model cannot pass without seeing them.

Tasks 367 and 927 (full set only) have a ``test_setup_code`` that builds binary trees with ``Node(...)``, a
class that only the *solution* defines (the original harness ran solution, then setup, then asserts).  The
setup is kept verbatim: the executor runs it in the judge with undefined names resolved to the program's
objects, so ``root = Node(1)`` creates the program's own ``Node`` and the program's function receives its
own objects back.  Copying the reference's ``Node`` into the setup instead would not work: the trees would
then be judge objects, which never cross to the program (only plain data does).  So, as in the original
benchmark, a program passes only if it defines a compatible ``Node(data)`` with ``left``/``right``
attributes, which the prompt (like the paper's) does not show; ``meta["setup_uses"]`` lists such names so a
prompt builder can mention them if it wants to.

Three sanitized tasks (737 ``check_str``, 787 ``text_match_three``, 794 ``text_starta_endb``) return an
``re.Match`` or None and assert its truth value.  A Match is not plain data, so the executor's judge refuses
to take its truth value from the program; those asserts are rewritten to ``assert [not]
_unitrl_truthy(f(...))`` with EvalPlus's rule for exactly these functions (``MBPP_OUTPUT_NOT_NONE_TASKS``): a
bool counts as itself, anything else as "is not None".  The prompt still shows the original asserts, which
``meta["original_tests"]`` keeps.
"""

from __future__ import annotations

import ast
import builtins
import json
import warnings
from functools import lru_cache
from typing import Any

from unitrl.benchmarks import read_data_text, record_field, select_split
from unitrl.errors import UnitrlError
from unitrl.tasks import Task

FULL_FILE = "mbpp/mbpp.jsonl.gz"
SANITIZED_FILE = "mbpp/sanitized-mbpp.json.gz"

#: Split names in the order of their id ranges.
SPLITS: tuple[str, ...] = ("prompt", "test", "validation", "train")

#: The sentence that separates the problem statement from the asserts in the paper's prompt.
TESTS_HEADER = "Your code should pass these tests:"


def split_of(number: int) -> str:
    """The paper's split of MBPP task ``number`` (1-974)."""
    if number <= 10:
        return "prompt"
    if number <= 510:
        return "test"
    if number <= 600:
        return "validation"
    return "train"


def make_prompt(text: str, tests: list[str]) -> str:
    """The standard MBPP prompt: statement, then the asserts, one per line (plain text, no chat format)."""
    return f"{text.strip()} {TESTS_HEADER}\n\n" + "\n".join(t.strip() for t in tests)


def entry_point_of(tests: list[str], reference: str, where: str) -> str:
    """The function the tests exercise: the first name called in the first assert that the reference defines.

    Walking the assert's AST breadth-first finds outer calls first (``set(similar_elements(...))``), so names
    the reference does not define are skipped; that also keeps builtins out unless the solution really
    defines one (task 126's function is called ``sum``).
    """
    called = [
        node.func.id
        for node in ast.walk(_parse(tests[0].strip()))
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name)
    ]
    defined = _top_level_names(reference)
    for name in called:
        if name in defined:
            return name
    for name in called:
        if not hasattr(builtins, name):
            return name
    raise UnitrlError(f"{where}: cannot tell which function the tests call ({tests[0]!r})")


def _parse(source: str) -> ast.Module:
    """``ast.parse`` without the invalid-escape warnings some MBPP solutions (``"\\s"`` in plain strings) raise."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        warnings.simplefilter("ignore", SyntaxWarning)
        return ast.parse(source)


def _top_level_names(source: str) -> set[str]:
    names: set[str] = set()
    for node in _parse(source).body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, ast.Assign):
            names.update(t.id for t in node.targets if isinstance(t, ast.Name))
    return names


#: Functions judged by "bool as itself, anything else is-not-None" (EvalPlus's MBPP_OUTPUT_NOT_NONE_TASKS).
NOT_NONE_ENTRY_POINTS = frozenset({"check_str", "text_match_three", "text_starta_endb"})

TRUTHY_SETUP = """\
def _unitrl_truthy(value):
    # EvalPlus's rule for functions returning a re.Match or None: a bool is itself, anything else is not None.
    return value if type(value) is bool else value is not None
"""


def truthiness_tests(tests: list[str], entry_point: str) -> list[str] | None:
    """``assert [not] f(...)`` rewritten to ``assert [not] _unitrl_truthy(f(...))``; None if any test differs."""
    rewritten = []
    for test in tests:
        (stmt,) = _parse(test.strip()).body
        if not isinstance(stmt, ast.Assert) or stmt.msg is not None:
            return None
        expr, negated = stmt.test, False
        if isinstance(expr, ast.UnaryOp) and isinstance(expr.op, ast.Not):
            expr, negated = expr.operand, True
        if not (
            isinstance(expr, ast.Call) and isinstance(expr.func, ast.Name) and expr.func.id == entry_point
        ):
            return None
        call = ast.get_source_segment(test.strip(), expr)
        rewritten.append(f"assert {'not ' if negated else ''}_unitrl_truthy({call})")
    return rewritten


def _program_names_used_by(setup: str) -> list[str]:
    """Names a setup reads but never assigns or imports: they must come from the program (``Node``)."""
    if not setup.strip():
        return []
    tree = _parse(setup)
    assigned = {n.id for n in ast.walk(tree) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Store)}
    for node in ast.walk(tree):
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            assigned.update((a.asname or a.name).split(".")[0] for a in node.names)
    loaded = {n.id for n in ast.walk(tree) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Load)}
    return sorted(n for n in loaded - assigned if not hasattr(builtins, n))


def _newlines(text: str) -> str:
    """MBPP's code uses CRLF line ends; normalise so references and setups read like ordinary source."""
    return text.replace("\r\n", "\n").replace("\r", "\n")


def _task(
    number: int,
    text: str,
    code: str,
    tests: list[str],
    setup: str,
    source: str,
    extra_meta: dict[str, Any],
) -> Task:
    task_id = f"mbpp/{number}"
    reference = _newlines(code)
    setup = _newlines(setup)
    meta: dict[str, Any] = {"source": source, "split": split_of(number), **extra_meta}
    uses = _program_names_used_by(setup)
    if uses:
        meta["setup_uses"] = uses
    entry_point = entry_point_of(tests, reference, f"{source} {task_id}")
    final_tests = list(tests)
    if entry_point in NOT_NONE_ENTRY_POINTS:
        rewritten = truthiness_tests(tests, entry_point)
        if rewritten is not None:
            meta["original_tests"] = list(tests)
            final_tests = rewritten
            setup = f"{setup}\n{TRUTHY_SETUP}" if setup.strip() else TRUTHY_SETUP
    return Task(
        task_id=task_id,
        prompt=make_prompt(text, tests),
        entry_point=entry_point,
        tests=final_tests,
        test_setup=setup,
        reference=reference,
        meta=meta,
    )


@lru_cache(maxsize=1)
def _full() -> tuple[Task, ...]:
    tasks = []
    for lineno, line in enumerate(read_data_text(FULL_FILE).splitlines(), 1):
        if not line.strip():
            continue
        where = f"{FULL_FILE}:{lineno}"
        r = json.loads(line)
        tasks.append(
            _task(
                number=record_field(r, "task_id", int, where),
                text=record_field(r, "text", str, where),
                code=record_field(r, "code", str, where),
                tests=record_field(r, "test_list", list, where),
                setup=record_field(r, "test_setup_code", str, where),
                source="mbpp",
                extra_meta={"challenge_tests": list(record_field(r, "challenge_test_list", list, where))},
            )
        )
    return tuple(tasks)


@lru_cache(maxsize=1)
def _sanitized() -> tuple[Task, ...]:
    tasks = []
    for i, r in enumerate(json.loads(read_data_text(SANITIZED_FILE))):
        where = f"{SANITIZED_FILE}[{i}]"
        tasks.append(
            _task(
                number=record_field(r, "task_id", int, where),
                text=record_field(r, "prompt", str, where),
                code=record_field(r, "code", str, where),
                tests=record_field(r, "test_list", list, where),
                setup="\n".join(record_field(r, "test_imports", list, where)),
                source="mbpp-sanitized",
                extra_meta={},
            )
        )
    return tuple(tasks)


def load_full(split: str | None = None) -> list[Task]:
    """All 974 MBPP tasks (or one split); ``challenge_test_list`` is kept in ``meta["challenge_tests"]``."""
    return select_split(_full(), split, SPLITS, "mbpp")


def load_sanitized(split: str | None = None) -> list[Task]:
    """The 427 sanitized MBPP tasks (or one split), with their rewritten statements and test imports."""
    return select_split(_sanitized(), split, SPLITS, "mbpp-sanitized")
