"""Mined test suites side by side: unitrl's miner vs. Pynguin on the same functions, the same mutants.

A sample of the functions unitrl's miner tries (those :func:`~unitrl.datagen.selection.select_functions`
accepts from ``--source``, drawn with ``--seed``) is written out, one module per function holding exactly the
task's ``reference`` (the function with its carried imports, constants and helpers), so both tools see the
same code.  Then, per function:

- **unitrl**: :func:`~unitrl.datagen.pipeline.mine_candidate` with warm executors (the miner's own settings,
  except that the 0.8 mutation-score threshold is not applied, so a weak suite is still measured; whether
  the miner would have kept the task is recorded);
- **Pynguin** (PyPI ``pynguin==0.48.0``, in its own venv ``.venv-pynguin/`` created on first use): run on the
  module inside bubblewrap (read-only ``/``, private ``/tmp``, no network, no capabilities, cleared
  environment, the sandbox of :mod:`unitrl.execution.sandbox`), with ``PYNGUIN_DANGER_AWARE=1``, its default
  algorithm (DYNAMOSA) and default assertion generation (mutation analysis), ``--maximum-search-time
  BUDGET``, ``--seed``, the least ``--element-visibility`` that includes the entry point, and one writable
  folder for its output.  Its pytest module is converted into executor tests (:func:`convert_pynguin_tests`:
  one test per test function), and the tests that do not pass on the reference under the executor are
  dropped and counted (the executor passes only plain data to the program, so a test handing it a class or
  a builtin function, ``f(object)``, cannot be reproduced there).

Both suites are then measured by the same code: the mutation score against the same mutants
(:func:`unitrl.datagen.mutation.mutants`, limit 60 like the miner) with
:func:`unitrl.datagen.scoring.mutation_score` (same executor, same deadlines); the branch coverage of the
reference's functions with :mod:`unitrl.datagen.coverage` (coverage.py inside the sandboxed program, arcs
recorded during calls of the entry point, as the miner measures its own suites); tests and checks (asserts
plus expected-exception blocks) per function; and wall seconds per function (unitrl with warm executors,
Pynguin including its start-up in the sandbox).

    .venv/bin/python benchmarks/datagen.py [--functions 20] [--budget 10] [--source stdlib] [--seed 0]
        [--out results.json]
"""

from __future__ import annotations

import argparse
import ast
import json
import os
import random
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
PYNGUIN_VERSION = "0.48.0"
VENV = ROOT / ".venv-pynguin"
#: The miner's mutant cap (``MineConfig.mutant_limit``); both suites face these same mutants.
MUTANT_LIMIT = 60
#: Per-test and per-sample deadlines of the scoring runs, the same for both tools.
TEST_TIMEOUT = 2.0
#: Mutation score at or above which the miner keeps a task (``MineConfig.threshold``).
KEEP_THRESHOLD = 0.8

# -- converting Pynguin's pytest module into executor tests ------------------------------------------------

#: ``pytest.approx`` for the trusted judge (pytest's own rule: equal, or within ``max(rel * |expected|, abs)``;
#: only ``abs`` given means only ``abs`` counts), at any depth of lists, tuples and dicts.
APPROX_SETUP = '''import math


class _approx:
    """pytest.approx as Pynguin uses it (a scalar or a container of scalars)."""

    def __init__(self, expected, rel=None, abs=None):
        self.expected, self.rel, self.abs = expected, rel, abs

    def _match(self, expected, actual):
        if isinstance(expected, (list, tuple)):
            return (isinstance(actual, (list, tuple)) and len(actual) == len(expected)
                    and all(self._match(e, a) for e, a in zip(expected, actual)))
        if isinstance(expected, dict):
            return (isinstance(actual, dict) and actual.keys() == expected.keys()
                    and all(self._match(expected[k], actual[k]) for k in expected))
        if actual == expected:
            return True
        numeric = (int, float)
        if not isinstance(expected, numeric) or not isinstance(actual, numeric) or isinstance(actual, bool):
            return False
        if math.isinf(expected) or math.isnan(expected) or math.isnan(actual):
            return False
        ab = 1e-12 if self.abs is None else self.abs
        if self.rel is None and self.abs is not None:
            tolerance = ab
        else:
            tolerance = max((1e-6 if self.rel is None else self.rel) * abs(expected), ab)
        return abs(expected - actual) <= tolerance

    def __eq__(self, actual):
        return self._match(self.expected, actual)

    __hash__ = None

    def __repr__(self):
        return f"approx({self.expected!r})"
'''

#: Exceptions of the judge that mean "the program timed out / crashed", never "the program raised": an
#: expected-exception block must not swallow them (a mutant that loops forever is killed, as in pytest).
_HARNESS_ERRORS = ("ProgramTimeout", "ProgramCrashed")


@dataclass
class ConvertedSuite:
    """Pynguin's tests as executor tests: one statement block per test function, plus their setup."""

    tests: list[str] = field(default_factory=list)
    names: list[str] = field(default_factory=list)
    setup: str = ""
    #: Test functions left out, by reason (``skip`` marks, non-strict ``xfail``).
    skipped: Counter[str] = field(default_factory=Counter)


def _is_pytest_attr(node: ast.expr, *path: str) -> bool:
    """``node`` is ``pytest.<path[0]>.<path[1]>...``."""
    for name in reversed(path):
        if not (isinstance(node, ast.Attribute) and node.attr == name):
            return False
        node = node.value
    return isinstance(node, ast.Name) and node.id == "pytest"


def _expect_raise(body: list[ast.stmt], exc: ast.expr | None, message: str) -> ast.Try:
    """``try: body / except exc: pass / else: raise AssertionError(message)`` -- the form unitrl's oracle
    writes for an expected exception; a bare ``Exception`` also re-raises the judge's timeout/crash."""
    broad = exc is None or (isinstance(exc, ast.Name) and exc.id in ("Exception", "BaseException"))
    if broad:
        handler_body = ast.parse(f"if type(_exc).__name__ in {_HARNESS_ERRORS!r}:\n    raise").body
        name: str | None = "_exc"
    else:
        handler_body, name = [ast.Pass()], None
    handler = ast.ExceptHandler(type=exc or ast.Name("Exception", ast.Load()), name=name, body=handler_body)
    orelse = ast.parse(f"raise AssertionError({message!r})").body
    return ast.Try(body=body or [ast.Pass()], handlers=[handler], orelse=orelse, finalbody=[])


class _Rewrite(ast.NodeTransformer):
    """``module_alias.name`` -> ``name`` (the program's own name), ``pytest.raises`` blocks -> try/except,
    ``pytest.approx`` -> the setup's ``_approx``."""

    def __init__(self, aliases: set[str]) -> None:
        self.aliases = aliases
        self.uses_approx = False

    def visit_Attribute(self, node: ast.Attribute) -> ast.AST:
        node = self.generic_visit(node)  # type: ignore[assignment]
        if isinstance(node.value, ast.Name) and node.value.id in self.aliases:
            return ast.copy_location(ast.Name(node.attr, node.ctx), node)
        return node

    def visit_Call(self, node: ast.Call) -> ast.AST:
        node = self.generic_visit(node)  # type: ignore[assignment]
        if _is_pytest_attr(node.func, "approx"):
            node.func = ast.Name("_approx", ast.Load())
            self.uses_approx = True
        return node

    def visit_With(self, node: ast.With) -> ast.AST:
        node = self.generic_visit(node)  # type: ignore[assignment]
        if len(node.items) == 1:
            call = node.items[0].context_expr
            if isinstance(call, ast.Call) and _is_pytest_attr(call.func, "raises") and call.args:
                exc = call.args[0]
                return ast.copy_location(
                    _expect_raise(node.body, exc, f"DID NOT RAISE {ast.unparse(exc)}"), node
                )
        return node


def _xfail_mark(decorator: ast.expr) -> bool | None:
    """``True`` for ``@pytest.mark.xfail(strict=True)``, ``False`` for a non-strict xfail, else ``None``."""
    target = decorator.func if isinstance(decorator, ast.Call) else decorator
    if not _is_pytest_attr(target, "mark", "xfail"):
        return None
    if isinstance(decorator, ast.Call):
        for kw in decorator.keywords:
            if kw.arg == "strict" and isinstance(kw.value, ast.Constant):
                return bool(kw.value.value)
    return False


def _module_alias(stmt: ast.stmt, module: str) -> str | None:
    """The name ``stmt`` binds to the module under test via ``X = sys.modules["module"]``."""
    if not (
        isinstance(stmt, ast.Assign) and len(stmt.targets) == 1 and isinstance(stmt.targets[0], ast.Name)
    ):
        return None
    value = stmt.value
    if (
        isinstance(value, ast.Subscript)
        and isinstance(value.value, ast.Attribute)
        and value.value.attr == "modules"
        and isinstance(value.slice, ast.Constant)
        and value.slice.value == module
    ):
        return stmt.targets[0].id
    return None


def convert_pynguin_tests(text: str, module: str) -> ConvertedSuite:
    """Turn Pynguin's pytest module for ``module`` into executor tests.

    Each ``test_*`` function becomes one test: its body, with ``module.f`` / ``alias.f`` rewritten to the
    program's ``f`` (the executor binds the program's names), ``with pytest.raises(E): ...`` rewritten to
    ``try/except E/else: raise AssertionError`` (the form of unitrl's own exception tests; ``match=`` is not
    checked), ``pytest.approx`` to an equivalent helper in the setup, and a ``@pytest.mark.xfail(strict=True)``
    test (Pynguin's mark for "the last call raises") wrapped as expecting any ``Exception``.  Other imports
    and module-level code go to the setup.
    """
    tree = ast.parse(text)
    aliases: set[str] = {module}
    setup: list[str] = []
    functions: list[ast.FunctionDef] = []
    for stmt in tree.body:
        if isinstance(stmt, ast.Import):
            for alias in stmt.names:
                if alias.name == module:
                    aliases.add(alias.asname or alias.name)
                elif alias.name != "pytest":
                    setup.append(ast.unparse(ast.Import([alias])))
        elif isinstance(stmt, ast.ImportFrom):
            if stmt.module != module:  # ``from module import f`` needs nothing: f is the program's
                setup.append(ast.unparse(stmt))
        elif (alias_name := _module_alias(stmt, module)) is not None:
            aliases.add(alias_name)
        elif isinstance(stmt, ast.FunctionDef) and stmt.name.startswith("test"):
            functions.append(stmt)
        elif not (isinstance(stmt, ast.Expr) and isinstance(stmt.value, ast.Constant)):
            setup.append(ast.unparse(stmt))
    out = ConvertedSuite()
    rewrite = _Rewrite(aliases)
    for func in functions:
        marks = [_xfail_mark(d) for d in func.decorator_list]
        if any(
            _is_pytest_attr(d.func if isinstance(d, ast.Call) else d, "mark", "skip")
            for d in func.decorator_list
        ):
            out.skipped["skip_mark"] += 1
            continue
        if False in marks:
            out.skipped["non_strict_xfail"] += 1  # passes whatever happens: no check at all
            continue
        body = [rewrite.visit(s) for s in func.body]
        body = [s for s in body if not (isinstance(s, ast.Expr) and isinstance(s.value, ast.Constant))]
        if True in marks:
            body = [_expect_raise(body, None, "expected an exception (pytest.mark.xfail(strict=True))")]
        module_node = ast.fix_missing_locations(ast.Module(body=body or [ast.Pass()], type_ignores=[]))
        out.tests.append(ast.unparse(module_node))
        out.names.append(func.name)
    if rewrite.uses_approx:
        setup.insert(0, APPROX_SETUP)
    out.setup = "\n".join(setup)
    return out


def _expects_raise(node: ast.AST) -> bool:
    return isinstance(node, ast.Try) and any(
        isinstance(s, ast.Raise)
        and isinstance(s.exc, ast.Call)
        and isinstance(s.exc.func, ast.Name)
        and s.exc.func.id == "AssertionError"
        for s in node.orelse
    )


def _swallows_asserts(node: ast.Try) -> bool:
    """An ``except Exception`` (an xfail-wrapped test) also catches the ``AssertionError`` of any assert in
    its body, so those asserts check nothing (as under pytest's ``xfail(strict=True)``)."""
    return any(
        isinstance(h.type, ast.Name) and h.type.id in ("Exception", "BaseException", "AssertionError")
        for h in node.handlers
    )


def count_checks(test: str) -> int:
    """Checks in one test: ``assert`` statements plus expected-exception blocks (``try/except/else: raise
    AssertionError``, as both unitrl and the conversion above write them); asserts inside an expected-
    exception block that catches ``Exception`` are not counted (they cannot fail the test)."""

    def count(nodes: list[ast.stmt], live: bool) -> int:
        n = 0
        for node in nodes:
            if isinstance(node, ast.Assert):
                n += live
            elif _expects_raise(node):
                assert isinstance(node, ast.Try)
                n += 1 + count(node.body, live and not _swallows_asserts(node))
            else:
                for name in ("body", "orelse", "finalbody", "handlers"):
                    children = getattr(node, name, None)
                    if isinstance(children, list):
                        n += count([c for c in children if isinstance(c, ast.stmt | ast.excepthandler)], live)
        return n

    return count(ast.parse(test).body, True)


# -- the sandbox and Pynguin's venv ------------------------------------------------------------------------


def sandbox_prefix(writable: Path, env: dict[str, str] | None = None, scratch_mb: int = 512) -> list[str]:
    """bubblewrap as the executor's workers get it, plus ``writable`` bound read-write (and the Pynguin
    venv kept visible if it lives under /tmp).  ``--as-pid-1`` is left out: Pynguin starts worker
    processes, which bubblewrap's own init reaps."""
    from unitrl.execution.sandbox import BWRAP_ARGS, bwrap_usable, runtime_binds

    bwrap = bwrap_usable()
    if bwrap is None:
        raise SystemExit(
            "datagen bench: error: bubblewrap (bwrap) is not usable here, and Pynguin runs the "
            "code under test: install bubblewrap (apt-get install bubblewrap)"
        )
    args: list[str] = []
    base = list(BWRAP_ARGS)
    at = base.index("--chdir")
    del base[at : at + 2]  # replaced by the writable folder below
    for arg in base:
        if arg == "--as-pid-1":
            continue
        if arg == "--tmpfs":
            args += ["--size", str(scratch_mb << 20)]
        args.append(arg)
    binds = runtime_binds()
    venv = str(VENV.resolve())
    if venv.startswith(("/tmp/", "/dev/shm/")):
        binds += ["--ro-bind", venv, venv]
    extra: list[str] = []
    for key, value in (env or {}).items():
        extra += ["--setenv", key, value]
    w = str(writable)
    return [bwrap, *args, *binds, "--bind", w, w, *extra, "--chdir", w, "--"]


def ensure_venv() -> Path:
    """``.venv-pynguin/bin/pynguin`` (the venv is created and Pynguin installed on first use)."""
    pynguin = VENV / "bin" / "pynguin"
    if pynguin.exists():
        return pynguin
    base = shutil.which("python3.11") or (sys.executable if sys.version_info >= (3, 10) else None)
    if base is None:
        raise SystemExit("datagen bench: error: Pynguin needs Python >= 3.10 and no python3.11 was found")
    print(f"setting up {VENV.name}/ with pynguin=={PYNGUIN_VERSION} ...", file=sys.stderr)
    python = VENV / "bin" / "python"
    steps = [] if python.exists() else [("venv", [base, "-m", "venv", str(VENV)])]
    steps.append(("pip install", [str(python), "-m", "pip", "install", "-q", f"pynguin=={PYNGUIN_VERSION}"]))
    for what, step in steps:
        proc = subprocess.run(step, capture_output=True, text=True, check=False)
        if proc.returncode:
            last = (proc.stderr.strip().splitlines() or ["(no output)"])[-1]
            raise SystemExit(f"datagen bench: error: could not set up {VENV} ({what} failed): {last}")
    return pynguin


@dataclass
class PynguinRun:
    seconds: float
    text: str | None  # the generated pytest module, or None
    error: str = ""


def _last_error(log: str) -> str:
    lines = [ln.strip() for ln in log.splitlines() if ln.strip()]
    for line in reversed(lines):
        if "ERROR" in line or "Error" in line or "error" in line:
            return line[-200:]
    return lines[-1][-200:] if lines else "no output"


def visibility_for(entry_point: str) -> str:
    """Pynguin's ``--element-visibility`` that just includes the entry point (PUBLIC by default would
    leave ``_private`` functions untested: "SUT contains nothing we can test")."""
    if entry_point.startswith("__"):
        return "ALL"
    return "PROTECTED" if entry_point.startswith("_") else "PUBLIC"


def run_pynguin(
    work: Path, module: str, entry_point: str, budget: int, seed: int, extra: list[str] | None = None
) -> PynguinRun:
    """Pynguin on ``work/project/<module>.py`` in the sandbox; its tests land in ``work/pynguin-out``."""
    out = work / "pynguin-out"
    out.mkdir(exist_ok=True)
    argv = [
        str(VENV / "bin" / "pynguin"),
        "--project-path", str(work / "project"),
        "--module-name", module,
        "--output-path", str(out),
        "--maximum-search-time", str(budget),
        "--seed", str(seed),
        "--element-visibility", visibility_for(entry_point),
        "--no-rich",
        "-v",
        *(extra or []),
    ]  # fmt: skip
    cmd = sandbox_prefix(work, {"PYNGUIN_DANGER_AWARE": "1"}) + argv
    deadline = 5 * budget + 120  # search + assertion generation (mutation analysis) + start-up
    start = time.perf_counter()
    with open(work / "pynguin.log", "w") as log:
        proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        try:
            rc = proc.wait(timeout=deadline)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, 9)
            proc.wait()
            return PynguinRun(time.perf_counter() - start, None, f"timeout after {deadline} s")
    seconds = time.perf_counter() - start
    produced = out / f"test_{module}.py"
    if produced.exists():
        return PynguinRun(seconds, produced.read_text(encoding="utf-8"))
    log_text = (work / "pynguin.log").read_text(encoding="utf-8", errors="replace")
    return PynguinRun(seconds, None, f"exit {rc}, no tests written: {_last_error(log_text)}")


# -- branch coverage (unitrl.datagen.coverage: coverage.py inside the sandboxed program) ----------------------

#: Appended to :func:`unitrl.datagen.coverage.coverage_program`'s wrapper: also expose the reference's other
#: top-level names (carried helpers) to the tests, so a Pynguin test that calls a helper before the entry
#: point still runs; only calls of the entry point are measured, for both tools alike.
_EXPOSE_HELPERS = """

for _unitrl_name, _unitrl_value in list(_unitrl_namespace.items()):
    if not _unitrl_name.startswith("__") and _unitrl_name not in globals():
        globals()[_unitrl_name] = _unitrl_value
"""


def branch_coverage(
    reference: str, entry: str, setup: str, tests: list[str], executor: Any
) -> tuple[float | None, int | None]:
    """``(covered fraction, number of branches)`` of the reference's functions under ``tests``, measured
    the way the miner measures its suites (:mod:`unitrl.datagen.coverage`: coverage.py in the sandbox,
    branches from coverage.py's static analysis, arcs recorded during calls of the entry point).  The
    fraction is ``None`` for a reference without branches (nothing to measure) or when nothing came back."""
    from unitrl.datagen.coverage import ARCS_CALL, branch_map, coverage_fraction, coverage_program
    from unitrl.execution import Sample

    bmap = branch_map(reference)
    if bmap is None:
        return None, None
    if not bmap.branches:
        return None, 0
    program = coverage_program(reference, entry) + _EXPOSE_HELPERS
    sample_tests = [x for t in tests for x in (t, ARCS_CALL)]
    (result,) = executor.run(
        [Sample(program, sample_tests, setup, program_names=[entry])],
        test_timeout=TEST_TIMEOUT,
        timeout=4 + TEST_TIMEOUT * len(sample_tests),
    )
    covered: set[tuple[int, int]] = set()
    measured = 0
    for t in result.tests[1::2]:
        if t.outcome != "pass" or t.value is None:
            continue
        try:
            arcs = ast.literal_eval(t.value)
        except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
            continue
        if isinstance(arcs, list) and all(
            isinstance(a, tuple) and len(a) == 2 and all(type(x) is int for x in a) for a in arcs
        ):
            measured += 1
            covered |= bmap.covered(arcs)
    return (coverage_fraction(covered, bmap) if measured else None), len(bmap.branches)


# -- the sample ----------------------------------------------------------------------------------------------


def sample_candidates(source: str, n: int, seed: int, workdir: Path) -> tuple[list[Any], int]:
    """``n`` functions drawn (seeded) from every function the miner's selection accepts in ``source``."""
    from unitrl.datagen.selection import select_functions
    from unitrl.datagen.sources import resolve_sources

    pool = []
    for src in resolve_sources([source], workdir):
        for file in src.iter_files():
            if file.text is not None:
                pool.extend(select_functions(file.text, file.label)[0])
    picked = random.Random(seed).sample(pool, min(n, len(pool)))
    return picked, len(pool)


# -- one function --------------------------------------------------------------------------------------------


def _score(reference: str, entry: str, tests: list[str], setup: str, mutants: list[Any], executor: Any):
    from unitrl.datagen.scoring import ReferenceFailsError, mutation_score

    try:
        report = mutation_score(
            reference,
            entry,
            tests,
            executor,
            mutants,
            test_setup=setup,
            test_timeout=TEST_TIMEOUT,
            timeout=2 + 2 * TEST_TIMEOUT + 0.1 * len(tests),
        )
    except ReferenceFailsError as e:
        return None, str(e)[:200]
    return report, ""


def _passing_on_reference(reference: str, entry: str, suite: ConvertedSuite, executor: Any) -> list[int]:
    """Indices of the converted tests that pass on the reference under the executor (each run alone)."""
    from unitrl.execution import Sample

    samples = [
        Sample(reference, [t], suite.setup, key=i, program_names=[entry]) for i, t in enumerate(suite.tests)
    ]
    results = executor.run(samples, test_timeout=TEST_TIMEOUT, timeout=2 + 2 * TEST_TIMEOUT)
    return [i for i, r in enumerate(results) if r.passed]


def bench_function(
    index: int, candidate: Any, miner: Any, config: Any, args: argparse.Namespace, root: Path
) -> dict[str, Any]:
    from unitrl.datagen.mutation import mutants as make_mutants
    from unitrl.datagen.pipeline import mine_candidate

    entry, reference = candidate.name, candidate.reference
    module = f"fn_{index:03d}"
    work = root / module
    (work / "project").mkdir(parents=True)
    module_path = work / "project" / f"{module}.py"
    module_path.write_text(reference, encoding="utf-8")
    mutants = make_mutants(reference, entry, limit=MUTANT_LIMIT)
    row: dict[str, Any] = {
        "index": index,
        "path": candidate.path,
        "line": candidate.lineno,
        "function": candidate.qualname or entry,
        "n_mutants": len(mutants),
        "reference_lines": reference.count("\n") + 1,
    }

    # unitrl
    start = time.perf_counter()
    try:
        task, reason = mine_candidate(candidate, miner.executor, miner.recheck, config)
    except Exception as e:  # noqa: BLE001 - counted like the miner counts it
        task, reason = None, f"error: {type(e).__name__}: {e}"[:200]
    u: dict[str, Any] = {"seconds": round(time.perf_counter() - start, 2)}
    u_suite: tuple[str, list[str]] | None = None
    if task is None:
        u.update(status="none", reason=reason)
    else:
        u_suite = (task.test_setup, list(task.tests))
        u.update(
            status="suite",
            tests=len(task.tests),
            checks=sum(count_checks(t) for t in task.tests),
            mining_score=task.meta["mutation_score"],
            kept=task.meta["mutation_score"] >= KEEP_THRESHOLD,
            suite=task.tests,
            test_setup=task.test_setup,
        )
    row["unitrl"] = u

    # Pynguin
    run = run_pynguin(work, module, entry, args.budget, args.seed, shlex.split(args.pynguin_args))
    p: dict[str, Any] = {"seconds": round(run.seconds, 2)}
    p_suite: tuple[str, list[str]] | None = None
    if run.text is None:
        p.update(status="none", reason=run.error)
    else:
        try:
            converted = convert_pynguin_tests(run.text, module)
        except SyntaxError as e:
            converted = None
            p.update(status="none", reason=f"unparseable test module: {e}")
        if converted is not None:
            keep = (
                _passing_on_reference(reference, entry, converted, miner.executor) if converted.tests else []
            )
            p.update(
                generated=len(converted.tests) + sum(converted.skipped.values()),
                skipped=dict(converted.skipped),
                dropped=len(converted.tests) - len(keep),
                dropped_names=[converted.names[i] for i in range(len(converted.tests)) if i not in keep],
                raw=run.text,
            )
            tests = [converted.tests[i] for i in keep]
            if not tests:
                p.update(
                    status="none", reason="no test left (none generated, or none passes on the reference)"
                )
            else:
                p_suite = (converted.setup, tests)
                p.update(
                    status="suite",
                    tests=len(tests),
                    checks=sum(count_checks(t) for t in tests),
                    suite=tests,
                    test_setup=converted.setup,
                )
    row["pynguin"] = p

    # the same measurements for both
    suites = [
        (name, s, d) for name, s, d in (("unitrl", u_suite, u), ("pynguin", p_suite, p)) if s is not None
    ]
    for _, (setup, tests), d in suites:
        if not mutants:
            d["mutation_score"] = None
            continue
        report, error = _score(reference, entry, tests, setup, mutants, miner.executor)
        if report is None:
            d.update(status="none", reason=f"reference fails the suite in scoring: {error}")
        else:
            d["mutation_score"] = round(report.score, 4)
            d["killed"] = report.killed
    for _, (setup, tests), d in suites:
        if d["status"] == "suite":
            d["branch_coverage"], d["n_branches"] = branch_coverage(
                reference, entry, setup, tests, miner.executor
            )
    return row


# -- the table -----------------------------------------------------------------------------------------------


def _mean(values: list[float | None], digits: int = 3) -> str:
    vals = [v for v in values if v is not None]
    return f"{statistics.fmean(vals):.{digits}f}" if vals else "-"


def _table(rows: list[dict[str, Any]], title: str) -> list[str]:
    lines = [f"{title} ({len(rows)} functions)", ""]
    lines.append("| tool | mutation score | branch coverage | tests / fn | checks / fn | seconds / fn |")
    lines.append("| --- | ---: | ---: | ---: | ---: | ---: |")
    for tool, label in (("unitrl", "unitrl"), ("pynguin", f"Pynguin {PYNGUIN_VERSION}")):
        ds = [r[tool] for r in rows]
        lines.append(
            f"| {label} | {_mean([d.get('mutation_score') for d in ds])} | "
            f"{_mean([d.get('branch_coverage') for d in ds])} | {_mean([d['tests'] for d in ds], 1)} | "
            f"{_mean([d['checks'] for d in ds], 1)} | {_mean([d['seconds'] for d in ds], 1)} |"
        )
    with_branches = sum(bool(r["unitrl"].get("n_branches") or r["pynguin"].get("n_branches")) for r in rows)
    lines.append("")
    lines.append(
        f"(branch coverage over the {with_branches} of them with branches; mutation score over the "
        f"{sum(r['n_mutants'] > 0 for r in rows)} with mutants)"
    )
    return lines


def report(rows: list[dict[str, Any]], args: argparse.Namespace, pool: int, wall: float) -> str:
    both = [r for r in rows if r["unitrl"]["status"] == "suite" and r["pynguin"]["status"] == "suite"]
    kept = [r for r in both if r["unitrl"].get("kept")]
    extra = f" (extra flags: {args.pynguin_args})" if args.pynguin_args else ""
    out = [
        f"datagen suites, unitrl vs Pynguin {PYNGUIN_VERSION}: {len(rows)} functions drawn (seed {args.seed}) "
        f"from the {pool} the miner's selection accepts in {args.source}; Pynguin search budget "
        f"{args.budget} s/function{extra}; same {MUTANT_LIMIT}-capped mutants for both; {wall:.0f} s in all",
        "",
    ]
    out += _table(both, "A. functions where both tools produced a suite")
    out.append("")
    out += _table(kept, f"B. of those, the ones unitrl's miner keeps (mining score >= {KEEP_THRESHOLD})")
    out.append("")
    for tool, label in (("unitrl", "unitrl"), ("pynguin", "Pynguin")):
        ds = [r[tool] for r in rows]
        none = [d for d in ds if d["status"] != "suite"]
        reasons = Counter(str(d.get("reason", "?")).split(":")[0][:60] for d in none)
        secs = statistics.fmean(d["seconds"] for d in ds) if ds else 0.0
        line = (
            f"{label}: a suite for {len(ds) - len(none)}/{len(ds)} functions, "
            f"mean {secs:.1f} s/function over all {len(ds)}"
        )
        if none:
            line += "; nothing for " + ", ".join(f"{k} x{v}" for k, v in reasons.most_common())
        out.append(line)
    gen = sum(r["pynguin"].get("generated", 0) for r in rows)
    dropped = sum(r["pynguin"].get("dropped", 0) for r in rows)
    skipped = sum(sum(r["pynguin"].get("skipped", {}).values()) for r in rows)
    out.append(
        f"Pynguin test functions: {gen} generated, {dropped} dropped (fail on the reference under the "
        f"executor), {skipped} skipped (skip marks / non-strict xfail)"
    )
    for name, subset in (("A", both), ("B", kept)):
        pairs = [
            (r["unitrl"]["mutation_score"], r["pynguin"]["mutation_score"])
            for r in subset
            if r["unitrl"].get("mutation_score") is not None
            and r["pynguin"].get("mutation_score") is not None
        ]
        if pairs:
            mu, mp = statistics.fmean(a for a, _ in pairs), statistics.fmean(b for _, b in pairs)
            met = "met" if mu >= 0.9 and mu > mp else "NOT met"
            out.append(
                f"target (unitrl mean mutation score >= 0.9 and above Pynguin's) on {name}: {met} "
                f"({mu:.3f} vs {mp:.3f}; unitrl higher on {sum(a > b for a, b in pairs)}, equal on "
                f"{sum(a == b for a, b in pairs)}, lower on {sum(a < b for a, b in pairs)} of {len(pairs)})"
            )
    only_p = [r for r in rows if r["pynguin"]["status"] == "suite" and r["unitrl"]["status"] != "suite"]
    if only_p:
        out.append(
            f"Pynguin alone (unitrl produced nothing) on {len(only_p)} functions: mean mutation score "
            f"{_mean([r['pynguin'].get('mutation_score') for r in only_p])}, branch coverage "
            f"{_mean([r['pynguin'].get('branch_coverage') for r in only_p])}"
        )
    return "\n".join(out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--functions", type=int, default=20, help="functions to sample (default 20)")
    parser.add_argument("--budget", type=int, default=10, help="Pynguin's search seconds per function")
    parser.add_argument(
        "--source", default="stdlib", help="what `unitrl mine` accepts: stdlib, pypi:NAME, ..."
    )
    parser.add_argument("--seed", type=int, default=0, help="sample seed (also Pynguin's and the miner's)")
    parser.add_argument("--workers", type=int, default=None, help="executor workers (default: one per core)")
    parser.add_argument(
        "--pynguin-args",
        default="",
        help="extra Pynguin flags, one string (e.g. '--no-xfail True --assertion-minimization False'); "
        "default: none, Pynguin's defaults",
    )
    parser.add_argument("--out", type=Path, default=None, help="write the per-function rows as JSON here")
    parser.add_argument("--keep-work", action="store_true", help="keep the temporary folder (modules, logs)")
    args = parser.parse_args()
    # the miner's input strategies may trip Hypothesis deprecation notes: noise in a printed table
    warnings.filterwarnings("ignore", module="hypothesis")
    warnings.filterwarnings("ignore", message=".*st.composite.*")

    from unitrl.datagen.pipeline import MineConfig, Miner
    from unitrl.execution import ExecutionConfig
    from unitrl.io import atomic_write_text

    ensure_venv()
    start = time.perf_counter()
    root = Path(tempfile.mkdtemp(prefix="unitrl-bench-datagen-"))
    rows: list[dict[str, Any]] = []
    try:
        candidates, pool = sample_candidates(args.source, args.functions, args.seed, root / "source")
        config = MineConfig(threshold=0.0, seed=args.seed)  # measure weak suites too; `kept` says 0.8
        with Miner(ExecutionConfig(workers=args.workers, sandbox="bwrap"), config) as miner:
            for i, candidate in enumerate(candidates):
                row = bench_function(i, candidate, miner, config, args, root)
                rows.append(row)
                u, p = row["unitrl"], row["pynguin"]
                print(
                    f"[{i + 1}/{len(candidates)}] {row['path']}:{row['function']}  "
                    f"unitrl {u.get('mutation_score', u.get('reason'))} ({u['seconds']:.1f} s)  "
                    f"pynguin {p.get('mutation_score', p.get('reason'))} ({p['seconds']:.1f} s)",
                    file=sys.stderr,
                    flush=True,
                )
                if args.out:
                    atomic_write_text(args.out, json.dumps({"summary": None, "rows": rows}, indent=1) + "\n")
        text = report(rows, args, pool, time.perf_counter() - start)
        print(text)
        if args.out:
            atomic_write_text(args.out, json.dumps({"summary": text, "rows": rows}, indent=1) + "\n")
    finally:
        if args.keep_work:
            print(f"work folder kept: {root}", file=sys.stderr)
        else:
            shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
