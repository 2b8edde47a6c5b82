"""Mining unit-tested tasks from real Python code (the ``unitrl mine`` pipeline).

Built so far, one job per module:

- :mod:`unitrl.datagen.selection` -- find self-contained, deterministic functions in a module and carry
  the imports, constants and helpers they need into one runnable reference program.
- :mod:`unitrl.datagen.mutation` -- small AST mutants of a reference, restricted to one function and its
  helpers.
- :mod:`unitrl.datagen.scoring` -- the mutation score of a test suite, run through the sandboxed executor.

- :mod:`unitrl.datagen.types` -- argument types from annotations, docstrings, doctests, defaults, names.
- :mod:`unitrl.datagen.inputs` -- deterministic typed inputs, seeded with constants, widened by mutation.
- :mod:`unitrl.datagen.oracle` -- the reference run on them (two hash seeds) turned into asserts; type
  probing for parameters whose type was only guessed.
- :mod:`unitrl.datagen.suite` -- a small suite by greedy mutant cover, kept when its mutation score is high.
- :mod:`unitrl.datagen.prompt` -- HumanEval-style prompts (doctests kept only where the oracle agrees).
- :mod:`unitrl.datagen.pipeline` / :mod:`unitrl.datagen.sources` -- files in, tasks and stats out;
  :mod:`unitrl.datagen.archives` reads wheels and sdists without extracting or building them.
- :mod:`unitrl.datagen.dedup` -- normalised-AST dedup and decontamination against MBPP and HumanEval.

Still to come: coverage-based suite selection.
"""

from unitrl.datagen.dedup import BenchmarkIndex, TaskScreen
from unitrl.datagen.inputs import CallInput, generate_inputs, literal
from unitrl.datagen.mutation import OPERATORS, Mutant, mutants
from unitrl.datagen.oracle import OracleCase, OracleResult, refine_signature, run_oracle
from unitrl.datagen.pipeline import PIPELINE_REASONS, MineConfig, Miner, MineStats, mine_paths, mine_source
from unitrl.datagen.prompt import build_prompt
from unitrl.datagen.scoring import MutationReport, ReferenceFailsError, mutation_score
from unitrl.datagen.selection import REASONS, Candidate, select_functions
from unitrl.datagen.suite import SuiteResult, select_suite
from unitrl.datagen.types import Signature, TypeSpec, infer_signature

__all__ = [
    "OPERATORS",
    "PIPELINE_REASONS",
    "REASONS",
    "BenchmarkIndex",
    "CallInput",
    "Candidate",
    "MineConfig",
    "MineStats",
    "Miner",
    "Mutant",
    "MutationReport",
    "OracleCase",
    "OracleResult",
    "ReferenceFailsError",
    "Signature",
    "SuiteResult",
    "TaskScreen",
    "TypeSpec",
    "build_prompt",
    "generate_inputs",
    "infer_signature",
    "literal",
    "mine_paths",
    "mine_source",
    "mutants",
    "mutation_score",
    "refine_signature",
    "run_oracle",
    "select_functions",
    "select_suite",
]
