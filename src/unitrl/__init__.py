"""unitrl: reinforcement learning from unit-test execution for code language models.

Subpackages, in dependency order (each only imports the ones before it):

- ``unitrl.execution``  -- sandboxed, batched execution of untrusted programs against tests.
- ``unitrl.tasks``      -- the task format shared by benchmarks and mined data.
- ``unitrl.benchmarks`` -- MBPP, HumanEval, HumanEval+ converted to tasks.
- ``unitrl.models``     -- loading Hugging Face / GGUF causal LMs, pulling the default model offline.
- ``unitrl.evaluation`` -- generation, extraction, pass@k.
- ``unitrl.cli``        -- the thin ``unitrl`` command line over all of the above.
"""

__version__ = "0.1.0"
