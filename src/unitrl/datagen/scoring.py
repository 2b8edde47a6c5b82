"""Mutation score: how many small bugs in the reference a test suite catches.

A mined task keeps its tests only if they tell correct programs from nearly-correct ones; the mutation score
(killed mutants / all mutants) measures exactly that, and the datagen pipeline keeps tasks scoring >= 0.8.

Every mutant is run against the tests in the sandbox, all in one :meth:`Executor.run` batch so the workers
stay busy.  A mutant is *killed* when its sample does not pass: a failed assertion, an exception, a timeout
(a mutant that loops forever is as wrong as one that returns the wrong value), a memory or crash verdict.

Caveat -- equivalent mutants: some mutants behave exactly like the reference (``x * 1`` vs ``x // 1`` on
ints, dropping a redundant statement, ``<`` vs ``<=`` where equality cannot happen).  No test can kill
them, and deciding equivalence is undecidable in general, so they are not filtered: they count as
survivors and make the score a lower bound of the suite's true strength.  That is why the threshold is 0.8
and not 1.0, and why :attr:`MutationReport.survivors` is kept for inspection.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from unitrl.datagen.mutation import Mutant
from unitrl.datagen.mutation import mutants as make_mutants
from unitrl.execution import Sample, SampleResult

if TYPE_CHECKING:
    from unitrl.execution import Executor


@dataclass
class MutationReport:
    """The outcome of running a suite against the mutants of its reference."""

    killed: int
    total: int
    #: Mutants the tests did not catch (equivalent mutants end up here too).
    survivors: list[Mutant] = field(default_factory=list)
    #: Per-mutant verdicts (``SampleResult.outcome``), in mutant order.
    outcomes: list[str] = field(default_factory=list)

    @property
    def score(self) -> float:
        """``killed / total``; 0.0 when there are no mutants (nothing shows the suite can catch a bug)."""
        return self.killed / self.total if self.total else 0.0

    def survivor_summary(self) -> list[str]:
        """One ``operator@line: detail`` line per survivor, for logs and task metadata."""
        return [f"{m.operator}@{m.lineno}: {m.detail}" for m in self.survivors]


class ReferenceFailsError(ValueError):
    """The unmutated reference does not pass its own tests, so no mutation score would mean anything."""


def _killed(result: SampleResult) -> bool:
    return result.outcome != "pass"


def mutation_score(
    reference: str,
    entry_point: str,
    tests: list[str],
    executor: Executor,
    mutants: list[Mutant] | None = None,
    *,
    test_setup: str = "",
    limit: int | None = None,
    check_reference: bool = True,
    **overrides: object,
) -> MutationReport:
    """Run every mutant of ``reference`` against ``tests`` with ``executor`` and count the killed ones.

    ``mutants`` defaults to :func:`unitrl.datagen.mutation.mutants` of ``entry_point`` (``limit`` caps
    their number).  With ``check_reference`` the reference itself runs in the same batch and must pass,
    else :class:`ReferenceFailsError` -- a suite its own oracle fails would "kill" every mutant.
    ``overrides`` go to :meth:`Executor.run` (e.g. a short ``timeout``: mutants that loop forever are
    common, and each one costs the full timeout).
    """
    if mutants is None:
        mutants = make_mutants(reference, entry_point, limit=limit)
    programs = ([reference] if check_reference else []) + [m.source for m in mutants]
    samples = [
        Sample(p, list(tests), test_setup, key=i, program_names=[entry_point]) for i, p in enumerate(programs)
    ]
    results = executor.run(samples, **overrides)
    if check_reference:
        ref, results = results[0], results[1:]
        if not ref.passed:
            detail = ref.error or next((t.error for t in ref.tests if not t.passed), "")
            raise ReferenceFailsError(
                f"the reference of {entry_point!r} does not pass its own tests ({ref.outcome}: {detail})"
            )
    killed = [_killed(r) for r in results]
    return MutationReport(
        killed=sum(killed),
        total=len(mutants),
        survivors=[m for m, k in zip(mutants, killed, strict=True) if not k],
        outcomes=[r.outcome for r in results],
    )
