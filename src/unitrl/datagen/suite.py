"""Choose a small test suite from the oracle's cases: the fewest asserts that catch the most mutants.

A task with 40 near-duplicate asserts is slow to check and says no more than a handful of well-chosen ones.
So every candidate test runs against every mutant of the reference -- one sample per mutant carrying all the
candidate tests, all mutants in one executor batch, so that the per-test results give the whole kill matrix
at once -- and a greedy set cover picks, test by test, the one that kills the most mutants not yet killed.

Branch coverage of the reference is the second criterion.  Alongside the kill matrix (concurrently, in the
same executor) one more sandboxed sample runs every candidate test on the reference under coverage.py
(:mod:`unitrl.datagen.coverage`), giving the branches each test exercises.  Ties in new kills go to the
test covering the most branches not yet covered (then: plain value asserts before exception tests, the
shorter test, input order); once no test adds a kill, tests that still add a branch fill the leftover slots
up to ``max_tests``; then a few more are added for variety (distinct returned values) up to ``min_tests``,
so a task never rests on one or two asserts.  The kept suite's branch coverage (covered branches / branches
of the reference, 1.0 for a function without branches) is reported in :attr:`SuiteResult.branch_coverage`;
it is ``None`` when coverage could not be measured, and selection then uses kills alone.

The kept suite is then scored honestly with :func:`unitrl.datagen.scoring.mutation_score` -- each mutant
against the suite alone, the reference in the same batch and required to pass -- and the task is kept only
when that score reaches ``threshold``.  (Within the matrix run a test that times out stops its sample, and the
tests after it report ``not_run``; those are counted as *not* killing the mutant, so the greedy estimate is
conservative and the final score is the number that counts.)
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from unitrl.datagen.coverage import Arc, BranchMap, branch_map, case_branches, coverage_fraction
from unitrl.datagen.mutation import Mutant
from unitrl.datagen.mutation import mutants as make_mutants
from unitrl.datagen.oracle import CLOSE_SETUP, FLOAT_SETUP, OracleCase
from unitrl.datagen.scoring import MutationReport, mutation_score
from unitrl.execution import Sample

if TYPE_CHECKING:
    from unitrl.execution import Executor


@dataclass
class SuiteResult:
    """The chosen tests and their mutation report."""

    cases: list[OracleCase] = field(default_factory=list)
    report: MutationReport | None = None
    mutants: list[Mutant] = field(default_factory=list)
    test_setup: str = ""
    #: Fraction of the reference's branches the chosen tests exercise (``None``: not measured).
    branch_coverage: float | None = None
    #: Number of branches (arcs out of lines with several exits) of the reference (``None``: unknown).
    n_branches: int | None = None

    @property
    def tests(self) -> list[str]:
        return [c.test for c in self.cases]

    @property
    def score(self) -> float:
        return self.report.score if self.report else 0.0


def setup_for(cases: list[OracleCase]) -> str:
    """The ``test_setup`` the cases need: ``import math`` when a float is compared with ``isclose``, and
    the ``_close`` helper too when floats inside containers are."""
    if any(c.needs_close for c in cases):
        return CLOSE_SETUP
    return FLOAT_SETUP if any(c.needs_math for c in cases) else ""


def kill_matrix(
    reference: str,
    entry_point: str,
    cases: list[OracleCase],
    mutants: list[Mutant],
    executor: Executor,
    *,
    test_timeout: float = 1.0,
) -> list[set[int]]:
    """For each case, the indices of the mutants it kills (one batch: one sample per mutant)."""
    tests = [c.test for c in cases]
    setup = setup_for(cases)
    samples = [
        Sample(m.source, tests, setup, key=i, program_names=[entry_point]) for i, m in enumerate(mutants)
    ]
    results = executor.run(
        samples, test_timeout=test_timeout, timeout=test_timeout * 4 + 2 + 0.05 * len(tests)
    )
    kills: list[set[int]] = [set() for _ in cases]
    for mi, result in enumerate(results):
        if result.tests and len(result.tests) == len(tests):
            for ti, t in enumerate(result.tests):
                if t.outcome not in ("pass", "not_run"):
                    kills[ti].add(mi)
        elif result.outcome != "pass":  # the mutant failed before any test: every test kills it
            for k in kills:
                k.add(mi)
    return kills


def greedy_cover(
    cases: list[OracleCase],
    kills: list[set[int]],
    *,
    max_tests: int = 10,
    min_tests: int = 3,
    max_raises: int = 2,
    branches: list[frozenset[Arc]] | None = None,
) -> list[int]:
    """Indices of the chosen cases, in the order they were picked.

    ``branches[i]``: the reference's branches case ``i`` exercises (``None``: kills alone decide)."""
    chosen: list[int] = []
    covered: set[int] = set()
    reached: set[Arc] = set()
    raises = 0
    no_branches: frozenset[Arc] = frozenset()

    def allowed(i: int) -> bool:
        return i not in chosen and (cases[i].kind != "raises" or raises < max_raises)

    def new_branches(i: int) -> int:
        return len((branches[i] if branches is not None else no_branches) - reached)

    while len(chosen) < max_tests:
        best = max(
            (i for i in range(len(cases)) if allowed(i)),
            key=lambda i: (
                len(kills[i] - covered),
                new_branches(i),
                cases[i].kind == "value",
                -len(cases[i].test),
                -i,
            ),
            default=None,
        )
        if best is None or not (kills[best] - covered or new_branches(best)):
            break
        chosen.append(best)
        covered |= kills[best]
        reached |= branches[best] if branches is not None else no_branches
        raises += cases[best].kind == "raises"
    # top up with distinct values, so the suite shows more than the one or two inputs that were enough
    values = {cases[i].outcome_key for i in chosen}
    for i, case in enumerate(cases):
        if len(chosen) >= min(min_tests, max_tests):
            break
        if allowed(i) and case.kind == "value" and case.outcome_key not in values:
            chosen.append(i)
            values.add(case.outcome_key)
    return chosen


def select_suite(
    reference: str,
    entry_point: str,
    cases: list[OracleCase],
    executor: Executor,
    *,
    max_tests: int = 10,
    min_tests: int = 3,
    max_raises: int = 2,
    mutant_limit: int | None = 60,
    mutants: list[Mutant] | None = None,
    test_timeout: float = 1.0,
    measure_coverage: bool = True,
    coverage_timeout: float = 1.0,
    coverage_executor: Executor | None = None,
) -> SuiteResult:
    """Pick at most ``max_tests`` cases by greedy mutant cover (ties and leftover slots: new branches
    covered) and score the pick with ``mutation_score``.

    ``coverage_timeout`` is the per-test deadline of the coverage run (tracing slows the reference down);
    ``coverage_executor`` runs it (default ``executor``; another pool runs it truly beside the kill
    matrix); ``measure_coverage=False`` skips it.

    Raises :class:`unitrl.datagen.scoring.ReferenceFailsError` if the reference fails its own suite (which
    would mean the oracle run and this one disagree: a flaky function).
    """
    if mutants is None:
        mutants = make_mutants(reference, entry_point, limit=mutant_limit)
    if not cases or not mutants:
        return SuiteResult(mutants=mutants)
    bmap = branch_map(reference) if measure_coverage else None
    per_case: list[frozenset[Arc]] | None = None
    if bmap is not None and bmap.branches:
        # the coverage sample runs beside the kill matrix
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="unitrl-coverage") as pool:
            future = pool.submit(
                case_branches,
                reference,
                entry_point,
                cases,
                coverage_executor or executor,
                bmap,
                test_setup=setup_for(cases),
                test_timeout=coverage_timeout,
            )
            kills = kill_matrix(reference, entry_point, cases, mutants, executor, test_timeout=test_timeout)
            per_case = future.result()
    else:
        kills = kill_matrix(reference, entry_point, cases, mutants, executor, test_timeout=test_timeout)
    chosen = greedy_cover(
        cases, kills, max_tests=max_tests, min_tests=min_tests, max_raises=max_raises, branches=per_case
    )
    picked = [cases[i] for i in chosen]
    picked.sort(key=lambda c: cases.index(c))  # input order reads better than pick order
    setup = setup_for(picked)
    report = mutation_score(
        reference,
        entry_point,
        [c.test for c in picked],
        executor,
        mutants,
        test_setup=setup,
        test_timeout=test_timeout,
        timeout=test_timeout * 2 + 2 + 0.05 * len(picked),
    )
    coverage, n_branches = _suite_coverage(bmap, per_case, chosen)
    return SuiteResult(picked, report, mutants, setup, coverage, n_branches)


def _suite_coverage(
    bmap: BranchMap | None, per_case: list[frozenset[Arc]] | None, chosen: list[int]
) -> tuple[float | None, int | None]:
    if bmap is None:
        return None, None
    if not bmap.branches:
        return 1.0, 0
    if per_case is None:
        return None, len(bmap.branches)
    reached: set[Arc] = set()
    for i in chosen:
        reached |= per_case[i]
    return coverage_fraction(reached, bmap), len(bmap.branches)
