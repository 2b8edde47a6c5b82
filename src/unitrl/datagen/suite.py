"""Choose a small test suite from the oracle's cases: the fewest asserts that catch the most mutants.

A task with 40 near-duplicate asserts is slow to check and says no more than a handful of well-chosen ones.
So every candidate test runs against every mutant of the reference -- one sample per mutant carrying all the
candidate tests, all mutants in one executor batch, so that the per-test results give the whole kill matrix
at once -- and a greedy set cover picks, test by test, the one that kills the most mutants not yet killed
(ties: plain value asserts before exception tests, then the shorter test, then input order).  Once no test
adds a kill, a few more are added for variety (distinct returned values) up to ``min_tests``, so a task never
rests on one or two asserts.

The kept suite is then scored honestly with :func:`unitrl.datagen.scoring.mutation_score` -- each mutant
against the suite alone, the reference in the same batch and required to pass -- and the task is kept only
when that score reaches ``threshold``.  (Within the matrix run a test that times out stops its sample, and the
tests after it report ``not_run``; those are counted as *not* killing the mutant, so the greedy estimate is
conservative and the final score is the number that counts.)

Branch coverage of the reference (coverage.py) as a second criterion is not done yet.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

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
) -> list[int]:
    """Indices of the chosen cases, in the order they were picked."""
    chosen: list[int] = []
    covered: set[int] = set()
    raises = 0

    def allowed(i: int) -> bool:
        return i not in chosen and (cases[i].kind != "raises" or raises < max_raises)

    while len(chosen) < max_tests:
        best = max(
            (i for i in range(len(cases)) if allowed(i)),
            key=lambda i: (len(kills[i] - covered), cases[i].kind == "value", -len(cases[i].test), -i),
            default=None,
        )
        if best is None or not kills[best] - covered:
            break
        chosen.append(best)
        covered |= kills[best]
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
) -> SuiteResult:
    """Pick at most ``max_tests`` cases by greedy mutant cover and score the pick with ``mutation_score``.

    Raises :class:`unitrl.datagen.scoring.ReferenceFailsError` if the reference fails its own suite (which
    would mean the oracle run and this one disagree: a flaky function).
    """
    if mutants is None:
        mutants = make_mutants(reference, entry_point, limit=mutant_limit)
    if not cases or not mutants:
        return SuiteResult(mutants=mutants)
    kills = kill_matrix(reference, entry_point, cases, mutants, executor, test_timeout=test_timeout)
    picked = [
        cases[i]
        for i in greedy_cover(cases, kills, max_tests=max_tests, min_tests=min_tests, max_raises=max_raises)
    ]
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
    return SuiteResult(picked, report, mutants, setup)
