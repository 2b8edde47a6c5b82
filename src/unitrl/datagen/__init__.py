"""Mining unit-tested tasks from real Python code (the ``unitrl mine`` pipeline).

Built so far, one job per module:

- :mod:`unitrl.datagen.selection` -- find self-contained, deterministic functions in a module and carry
  the imports, constants and helpers they need into one runnable reference program.
- :mod:`unitrl.datagen.mutation` -- small AST mutants of a reference, restricted to one function and its
  helpers.
- :mod:`unitrl.datagen.scoring` -- the mutation score of a test suite, run through the sandboxed executor.

Still to come: argument-type inference and Hypothesis input generation, the reference-as-oracle run,
coverage-based suite selection, prompt writing, dedup/decontamination and the CLI.
"""

from unitrl.datagen.mutation import OPERATORS, Mutant, mutants
from unitrl.datagen.scoring import MutationReport, ReferenceFailsError, mutation_score
from unitrl.datagen.selection import REASONS, Candidate, select_functions

__all__ = [
    "OPERATORS",
    "REASONS",
    "Candidate",
    "Mutant",
    "MutationReport",
    "ReferenceFailsError",
    "mutants",
    "mutation_score",
    "select_functions",
]
