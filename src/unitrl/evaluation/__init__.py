"""Generation, extraction and pass@k: everything between a model and a benchmark score.

One module per job, each usable alone (the RL trainer reuses the first four):

- :mod:`~unitrl.evaluation.prompts`  -- ``build_prompt(task, tokenizer)``: chat or completion prompt + stops.
- :mod:`~unitrl.evaluation.generate` -- ``sample_completions`` / ``generate``: batched HF sampling.
- :mod:`~unitrl.evaluation.extract`  -- ``extract_program``: raw model output -> full program.
- :mod:`~unitrl.evaluation.passk`    -- the unbiased pass@k estimator.
- :mod:`~unitrl.evaluation.runner`   -- ``evaluate``: the pipeline behind ``unitrl eval``;
  ``sample_programs``: prompt + sample + extract for a list of tasks (the RL rollout step).

Importing this package is cheap: torch and transformers load only when generation runs.
"""

from unitrl.evaluation.extract import extract_program
from unitrl.evaluation.generate import Completion, generate, sample_completions
from unitrl.evaluation.passk import PassAtK, mean_pass_at_k, pass_at_k, pass_at_ks
from unitrl.evaluation.prompts import Prompt, build_prompt, build_prompts
from unitrl.evaluation.runner import EvalConfig, EvalSummary, ProgramSample, evaluate, sample_programs

__all__ = [
    "Completion",
    "EvalConfig",
    "EvalSummary",
    "PassAtK",
    "ProgramSample",
    "Prompt",
    "build_prompt",
    "build_prompts",
    "evaluate",
    "extract_program",
    "generate",
    "mean_pass_at_k",
    "pass_at_k",
    "pass_at_ks",
    "sample_completions",
    "sample_programs",
]
