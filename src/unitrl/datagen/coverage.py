"""Branch coverage of the reference by each candidate test, measured with coverage.py inside the sandbox.

Suite selection (:mod:`unitrl.datagen.suite`) breaks ties between tests that kill equally many new mutants
by the branches of the reference they exercise, and each mined task records the branch coverage of its
kept suite.  Mined code is untrusted, so the reference only ever runs in the sandboxed executor: the
measurement is one :class:`~unitrl.execution.Sample` whose *program* is a wrapper (:func:`coverage_program`)
that, inside the sandboxed program process,

1. writes the reference to a file in its private working directory (the sandbox's ``/tmp``; coverage.py
   only measures code that has a real file name) and executes it from there in a namespace of its own;
2. creates ``coverage.Coverage(branch=True, data_file=None)`` -- data in memory, nothing written -- which
   it can import because the sandbox sees the virtualenv read-only;
3. defines the entry point as a function that starts coverage in a dynamic context of the current test,
   calls the reference's function and stops coverage; and ``_unitrl_arcs()``, which returns the arcs
   recorded in that context as a plain list of ``(from_line, to_line)`` pairs and moves on to the next
   context.

The sample's tests are the candidate tests themselves, each followed by the bare expression
``_unitrl_arcs()``; the trusted judge runs them exactly as it runs any test and reports the value of the
expression as text, which the host reads back with ``ast.literal_eval`` and checks is a list of integer
pairs (a program that tampers with it can only misstate its own coverage).

What counts as a branch is decided on the host, statically: coverage.py's own parser (it only parses and
compiles, never runs, the source) gives the reference's possible arcs and each line's number of exits; a
*branch* is an arc leaving a line with more than one exit, inside a function body (module-level code runs
at import time, outside the measurement).  This is coverage.py's definition of branch coverage.  A
function without branches has nothing to measure: its coverage is 1.0 and no sample is run.
"""

from __future__ import annotations

import ast
import contextlib
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from unitrl.execution import Sample

if TYPE_CHECKING:
    from unitrl.datagen.oracle import OracleCase
    from unitrl.execution import Executor

Arc = tuple[int, int]

#: The bare-expression test that collects the current test's arcs (a name no entry point has).
ARCS_CALL = "_unitrl_arcs()"

_WRAPPER = """\
import coverage as _unitrl_coverage
import os as _unitrl_os

_unitrl_source = {source!r}
_unitrl_path = _unitrl_os.path.join(_unitrl_os.getcwd(), "unitrl_reference.py")
with open(_unitrl_path, "w", encoding="utf-8") as _unitrl_file:
    _unitrl_file.write(_unitrl_source)
_unitrl_namespace = {{"__name__": "__unitrl_program__", "__builtins__": __builtins__}}
exec(compile(_unitrl_source, _unitrl_path, "exec"), _unitrl_namespace)
_unitrl_cov = _unitrl_coverage.Coverage(
    branch=True, data_file=None, config_file=False, include=[_unitrl_path]
)
_unitrl_test = [0]


def {entry}(*args, **kwargs):
    _unitrl_cov.start()
    try:
        _unitrl_cov.switch_context(str(_unitrl_test[0]))
        return _unitrl_namespace[{entry!r}](*args, **kwargs)
    finally:
        _unitrl_cov.stop()


def _unitrl_arcs():
    data = _unitrl_cov.get_data()
    data.set_query_context(str(_unitrl_test[0]))
    _unitrl_test[0] += 1
    return sorted(data.arcs(_unitrl_path) or [])
"""


def coverage_program(reference: str, entry_point: str) -> str:
    """The wrapper program that runs ``reference`` under coverage.py in the sandbox (see the module
    docstring)."""
    return _WRAPPER.format(source=reference, entry=entry_point)


@dataclass
class BranchMap:
    """The reference's branches (static analysis, no execution) and how to read measured arcs."""

    #: Every branch arc ``(line, next line)``; exits from a function have a negative target.
    branches: frozenset[Arc]
    _parser: Any = field(default=None, repr=False)

    def covered(self, raw_arcs: list[Arc]) -> frozenset[Arc]:
        """The branches among arcs measured on the reference (raw line numbers, as the tracer records
        them, mapped to the first line of their statement the way coverage.py's report does)."""
        arcs = set(raw_arcs)
        if self._parser is not None:
            with contextlib.suppress(Exception):
                arcs = set(self._parser.translate_arcs(arcs))
        return frozenset(arcs) & self.branches


def branch_map(reference: str) -> BranchMap | None:
    """The branches of the functions in ``reference``, or ``None`` when coverage.py cannot analyse it
    (not installed, or a source its parser rejects)."""
    try:
        from coverage.parser import PythonParser

        parser = PythonParser(text=reference)
        parser.parse_source()
        arcs = set(parser.arcs())
        exits = parser.exit_counts()
        tree = ast.parse(reference)
    except Exception:  # noqa: BLE001 - analysis is optional: selection goes on without coverage
        return None
    ranges = [
        (node.body[0].lineno, node.end_lineno or node.lineno)
        for node in ast.walk(tree)
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
    ]

    def in_function(line: int) -> bool:
        return any(lo <= line <= hi for lo, hi in ranges)

    branches = frozenset((a, b) for a, b in arcs if a > 0 and exits.get(a, 0) > 1 and in_function(a))
    return BranchMap(branches, parser)


def _parse_arcs(text: str | None) -> list[Arc] | None:
    """A measured arc list from the judge's report, or ``None`` when it is not a list of integer pairs."""
    if text is None:
        return None
    try:
        value = ast.literal_eval(text)
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
        return None
    if not isinstance(value, list) or len(value) > 100_000:
        return None
    arcs: list[Arc] = []
    for item in value:
        if not (isinstance(item, tuple) and len(item) == 2 and all(type(x) is int for x in item)):
            return None
        arcs.append((item[0], item[1]))
    return arcs


def case_branches(
    reference: str,
    entry_point: str,
    cases: list[OracleCase],
    executor: Executor,
    bmap: BranchMap,
    *,
    test_setup: str = "",
    test_timeout: float = 1.0,
) -> list[frozenset[Arc]] | None:
    """For each case, the branches of the reference its test exercises (one sandboxed sample for all of
    them).  A case whose arcs did not come back (its test or an earlier one timed out) counts as covering
    nothing; ``None`` when nothing came back at all (coverage.py missing in the sandbox, say)."""
    tests: list[str] = []
    for case in cases:
        tests += [case.test, ARCS_CALL]
    sample = Sample(coverage_program(reference, entry_point), tests, test_setup, program_names=[entry_point])
    (result,) = executor.run(
        [sample], test_timeout=test_timeout, timeout=4 + test_timeout * 2 + 0.05 * len(tests)
    )
    out: list[frozenset[Arc]] = []
    measured = 0
    for i in range(len(cases)):
        t = result.tests[2 * i + 1] if 2 * i + 1 < len(result.tests) else None
        arcs = _parse_arcs(t.value) if t is not None and t.outcome == "pass" else None
        measured += arcs is not None
        out.append(bmap.covered(arcs) if arcs is not None else frozenset())
    return out if measured else None


def coverage_fraction(covered: frozenset[Arc] | set[Arc], bmap: BranchMap) -> float:
    """Covered branches / all branches; 1.0 for a function without branches."""
    if not bmap.branches:
        return 1.0
    return len(set(covered) & bmap.branches) / len(bmap.branches)
