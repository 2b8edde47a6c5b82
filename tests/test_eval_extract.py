"""extract_program on realistic model outputs: chat answers, base-model continuations, broken code."""

from __future__ import annotations

import ast
import textwrap

import pytest

from unitrl.evaluation.extract import (
    code_blocks,
    extract_program,
    is_code_prompt,
    longest_parsable_prefix,
    prompt_context,
    remove_test_code,
    select_code,
    truncate_at_stops,
)

HE0 = '''from typing import List


def has_close_elements(numbers: List[float], threshold: float) -> bool:
    """ Check if in given list of numbers, are any two numbers closer to each other than
    given threshold.
    >>> has_close_elements([1.0, 2.0, 3.0], 0.5)
    False
    >>> has_close_elements([1.0, 2.8, 3.0, 4.0, 5.0, 2.0], 0.3)
    True
    """
'''

# HumanEval/10: the prompt defines a helper the solution needs.
HE10 = '''

def is_palindrome(string: str) -> bool:
    """ Test if given string is a palindrome """
    return string == string[::-1]


def make_palindrome(string: str) -> str:
    """ Find the shortest palindrome that begins with a supplied string.
    >>> make_palindrome('cat')
    'catac'
    """
'''

# HumanEval/38: a helper function plus an import the model rarely repeats.
HE38 = '''

def encode_cyclic(s: str):
    """
    returns encoded string by cycling groups of three characters.
    """
    # split string to groups. Each of length 3.
    groups = [s[(3 * i):min((3 * i + 3), len(s))] for i in range((len(s) + 2) // 3)]
    # cycle elements in each group. Unless group has fewer elements than 3.
    groups = [(group[1:] + group[0]) if len(group) == 3 else group for group in groups]
    return "".join(groups)


def decode_cyclic(s: str):
    """
    takes as input string encoded with encode_cyclic function. Returns decoded string.
    """
'''

HE64 = '''
FIX = """
Add more test cases.
"""

def vowels_count(s):
    """Write a function vowels_count which takes a string representing
    a word as input and returns the number of vowels in the string.
    """
'''

MBPP = "Write a function to find the shared elements from the given two lists.\nassert set(similar_elements((3, 4, 5, 6),(5, 7, 4, 10))) == set((4, 5))"

CLOSE_BODY = """    for i, a in enumerate(numbers):
        for j, b in enumerate(numbers):
            if i != j and abs(a - b) < threshold:
                return True
    return False
"""


def run(program: str, name: str, *args):
    """Execute an extracted program in-process (trusted test code only) and call its entry point."""
    namespace: dict = {}
    exec(compile(program, "<program>", "exec"), namespace)
    return namespace[name](*args)


def defined_names(program: str) -> set[str]:
    return {n.name for n in ast.parse(program).body if isinstance(n, ast.FunctionDef | ast.ClassDef)}


# ------------------------------------------------------------------------------------------ chat answers


def test_chat_block_with_prose_and_usage_is_cleaned():
    raw = f"""Here is the completed function:

```python
from typing import List


def has_close_elements(numbers: List[float], threshold: float) -> bool:
{CLOSE_BODY}

# Example usage
print(has_close_elements([1.0, 2.0, 3.0], 0.5))  # False
assert has_close_elements([1.0, 1.1], 0.5)
```

This function compares every pair of numbers and returns True if any two are closer than the threshold.
"""
    program = extract_program(raw, entry_point="has_close_elements", task_prompt=HE0)
    assert "print(" not in program and "assert" not in program and "This function" not in program
    assert program.count("from typing import List") == 1
    assert run(program, "has_close_elements", [1.0, 2.8, 3.0], 0.3) is True
    assert run(program, "has_close_elements", [1.0, 2.0], 0.5) is False


def test_chat_block_without_imports_gets_prompt_imports():
    raw = (
        f"```python\ndef has_close_elements(numbers: List[float], threshold: float) -> bool:\n{CLOSE_BODY}```"
    )
    program = extract_program(raw, entry_point="has_close_elements", task_prompt=HE0)
    assert program.startswith("from typing import List\n")
    assert run(program, "has_close_elements", [1.0, 1.05], 0.1) is True


def test_helper_function_from_prompt_is_added_when_missing():
    raw = """```python
def make_palindrome(string: str) -> str:
    if not string:
        return ''
    beginning_of_suffix = 0
    while not is_palindrome(string[beginning_of_suffix:]):
        beginning_of_suffix += 1
    return string + string[:beginning_of_suffix][::-1]
```"""
    program = extract_program(raw, entry_point="make_palindrome", task_prompt=HE10)
    assert defined_names(program) == {"is_palindrome", "make_palindrome"}
    assert run(program, "make_palindrome", "cat") == "catac"


def test_helper_redefined_by_model_is_not_duplicated():
    raw = f"```python\n{HE38.strip()}\n    return encode_cyclic(encode_cyclic(s))\n```"
    program = extract_program(raw, entry_point="decode_cyclic", task_prompt=HE38)
    assert program.count("def encode_cyclic") == 1
    assert run(program, "decode_cyclic", run(program, "encode_cyclic", "abcdefg")) == "abcdefg"


def test_prompt_constants_are_added_but_never_the_entry_point():
    raw = "```python\ndef vowels_count(s):\n    n = sum(c in 'aeiouAEIOU' for c in s)\n    return n + (s[-1:] in 'yY')\n```"
    program = extract_program(raw, entry_point="vowels_count", task_prompt=HE64)
    assert "FIX =" in program
    assert program.count("def vowels_count") == 1
    assert run(program, "vowels_count", "key") == 2


def test_first_block_that_defines_entry_point_wins():
    raw = """First, the helper idea:

```python
seen = set()
```

The solution:

```python
def similar_elements(a, b):
    return tuple(set(a) & set(b))
```

Tests:

```python
assert set(similar_elements((3, 4), (4, 5))) == {4}
```
"""
    program = extract_program(raw, entry_point="similar_elements", task_prompt=MBPP)
    assert "def similar_elements" in program and "seen" not in program and "assert" not in program


def test_unlabelled_and_other_language_blocks():
    raw = "Solution:\n```\ndef f(x):\n    return x + 1\n```\n"
    assert run(extract_program(raw, entry_point="f"), "f", 1) == 2
    raw = "```py\ndef f(x):\n    return x * 2\n```"
    assert run(extract_program(raw, entry_point="f"), "f", 2) == 4
    raw = "```Python3\ndef f(x):\n    return x * 3\n```"
    assert run(extract_program(raw, entry_point="f"), "f", 2) == 6
    raw = "Output:\n```text\n6\n```\n```python\ndef f(x):\n    return 0\n```"
    assert "def f" in extract_program(raw, entry_point="f")


def test_unclosed_block_from_token_limit():
    raw = "Sure!\n```python\ndef f(x):\n    return x + 1\n\n\ndef g(y):\n    if y >"
    program = extract_program(raw, entry_point="f")
    assert "def g" not in program
    assert run(program, "f", 1) == 2


def test_raw_code_without_fences_and_with_prose():
    raw = "def f(x):\n    return x - 1\n"
    assert extract_program(raw, entry_point="f") == raw
    raw = "The answer is below.\n\ndef f(x):\n    return x - 1\n\nThis subtracts one from x."
    program = extract_program(raw, entry_point="f")
    assert program.startswith("def f") and "subtracts" not in program
    raw = "from the problem statement we see that\nimport math\n\ndef f(x):\n    return math.floor(x)\n"
    assert run(extract_program(raw, entry_point="f"), "f", 2.5) == 2


def test_think_sections_are_ignored():
    raw = "<think>Maybe ```python\ndef f(x):\n    return 0\n``` no.</think>\n```python\ndef f(x):\n    return 1\n```"
    assert run(extract_program(raw, entry_point="f"), "f", 0) == 1


def test_chat_answer_with_only_the_body_is_put_under_the_signature():
    raw = f"```python\n{CLOSE_BODY}```"
    program = extract_program(raw, entry_point="has_close_elements", task_prompt=HE0)
    assert run(program, "has_close_elements", [1.0, 1.05], 0.1) is True
    dedented = "```python\n" + textwrap.dedent(CLOSE_BODY) + "```"
    program = extract_program(dedented, entry_point="has_close_elements", task_prompt=HE0)
    assert run(program, "has_close_elements", [1.0, 3.0], 0.1) is False


def test_main_guard_and_input_driven_demo_are_dropped():
    raw = """```python
import sys


def f(x):
    return x * x


if __name__ == "__main__":
    n = int(input())
    print(f(n))
```"""
    program = extract_program(raw, entry_point="f")
    assert "__main__" not in program and "input()" not in program and "import sys" in program


def test_crlf_output():
    raw = "```python\r\ndef f(x):\r\n    return x\r\n```\r\n"
    assert run(extract_program(raw, entry_point="f"), "f", 5) == 5


def test_future_import_stays_first():
    raw = "```python\nfrom __future__ import annotations\n\ndef has_close_elements(numbers: List[float], t: float) -> bool:\n    return False\n```"
    program = extract_program(raw, entry_point="has_close_elements", task_prompt=HE0)
    assert program.startswith("from __future__ import annotations\n")
    compile(program, "<p>", "exec")


# ------------------------------------------------------------------------------- syntax errors and garbage


def test_syntax_error_is_returned_as_best_text():
    raw = "```python\ndef f(x)\n    return x\n```"
    program = extract_program(raw, entry_point="f")
    assert "def f(x)\n    return x" in program
    with pytest.raises(SyntaxError):
        ast.parse(program)


def test_syntax_error_still_gets_prompt_imports():
    raw = (
        "```python\ndef has_close_elements(numbers: List[float], threshold: float) -> bool\n    return 1\n```"
    )
    program = extract_program(raw, entry_point="has_close_elements", task_prompt=HE0)
    assert program.startswith("from typing import List")


@pytest.mark.parametrize(
    "raw",
    [
        "",
        "   \n\n",
        "I cannot help with that.",
        "```\n```",
        "\x00\x01garbage",
        "```python\n",
        "def",
        "((((",
        "'''",
    ],
)
def test_degenerate_outputs_do_not_crash(raw):
    assert isinstance(extract_program(raw, entry_point="f", task_prompt=HE0), str)
    assert isinstance(extract_program(raw, entry_point="f", task_prompt=HE0, continuation_of=HE0), str)


def test_random_bytes_do_not_crash():
    import random

    rng = random.Random(0)
    alphabet = "def return ()[]{}:\n    ```python'\"#=+-xyz0123456789\t"
    for _ in range(200):
        raw = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 200)))
        assert isinstance(extract_program(raw, entry_point="x", task_prompt=HE0), str)
        assert isinstance(extract_program(raw, entry_point="x", task_prompt=HE0, continuation_of=HE0), str)


def test_long_garbage_is_fast():
    import time

    raw = ("x = (\n" + "  y +\n" * 50 + "\n") * 40  # 2000 lines that never parse
    t0 = time.perf_counter()
    extract_program(raw, entry_point="f", task_prompt=HE0)
    extract_program(raw, entry_point="f", task_prompt=HE0, continuation_of=HE0)
    assert time.perf_counter() - t0 < 2.0


# ------------------------------------------------------------------------------ base-model continuations


def test_continuation_stops_at_next_top_level_def():
    raw = CLOSE_BODY + "\n\ndef main():\n    print(has_close_elements([1.0], 0.5))\n"
    program = extract_program(raw, entry_point="has_close_elements", task_prompt=HE0, continuation_of=HE0)
    assert program.startswith(HE0)
    assert "def main" not in program
    assert run(program, "has_close_elements", [1.0, 1.05], 0.1) is True


@pytest.mark.parametrize(
    "tail",
    [
        "\nif __name__ == '__main__':\n    import doctest\n    doctest.testmod()\n",
        "\nprint(has_close_elements([1.0], 0.5))\n",
        "\n# Test cases\nassert has_close_elements([1.0, 1.1], 0.5)\n",
        "\nassert has_close_elements([1.0, 1.1], 0.5)\n",
        "\nclass Foo:\n    pass\n",
        "\n```\n\nThe function above works.",
    ],
)
def test_continuation_stops_at_test_code(tail):
    program = extract_program(
        CLOSE_BODY + tail, entry_point="has_close_elements", task_prompt=HE0, continuation_of=HE0
    )
    assert program.rstrip().endswith("return False")


def test_continuation_keeps_indented_comments_and_nested_defs():
    raw = "    # scan all pairs\n    def close(a, b):\n        return abs(a - b) < threshold\n" + (
        "    return any(close(a, b) for i, a in enumerate(numbers) for b in numbers[i + 1:])\n"
    )
    program = extract_program(raw, entry_point="has_close_elements", task_prompt=HE0, continuation_of=HE0)
    assert "# scan all pairs" in program
    assert run(program, "has_close_elements", [1.0, 1.05], 0.1) is True


def test_continuation_cut_by_token_limit_keeps_the_function():
    raw = CLOSE_BODY + "\n\n\nfor x in [1, 2"
    program = extract_program(
        raw, entry_point="has_close_elements", task_prompt=HE0, continuation_of=HE0, stops=()
    )
    assert run(program, "has_close_elements", [1.0, 3.0], 0.1) is False


def test_continuation_that_rewrites_the_whole_function():
    raw = "from typing import List\n\ndef has_close_elements(numbers, threshold):\n" + CLOSE_BODY
    program = extract_program(raw, entry_point="has_close_elements", task_prompt=HE0, continuation_of=HE0)
    assert program.count("def has_close_elements") == 1
    assert run(program, "has_close_elements", [1.0, 1.05], 0.1) is True
    fenced = "```python\ndef has_close_elements(numbers, threshold):\n" + CLOSE_BODY + "```"
    program = extract_program(fenced, entry_point="has_close_elements", task_prompt=HE0, continuation_of=HE0)
    assert run(program, "has_close_elements", [1.0, 1.05], 0.1) is True


def test_continuation_with_syntax_error_returns_prompt_plus_text():
    raw = "    return any(\n"
    program = extract_program(raw, entry_point="has_close_elements", task_prompt=HE0, continuation_of=HE0)
    assert program == HE0 + raw


# ------------------------------------------------------------------------------------------ the helpers


def test_code_blocks_parsing():
    text = "a\n```python\nx = 1\n```\nb\n  ```\ny = 2\n  ```\n```js\nlet z\n"
    blocks = code_blocks(text)
    assert [(b.lang, b.code, b.closed) for b in blocks] == [
        ("python", "x = 1\n", True),
        ("", "y = 2\n", True),
        ("js", "let z\n\n", False),
    ]


def test_select_code_prefers_python_then_plain():
    text = "```bash\npip install x\n```\n```\nprint(1)\n```\n```python\nprint(2)\n```"
    assert select_code(text) == "print(2)\n"


def test_is_code_prompt():
    assert is_code_prompt(HE0, "has_close_elements")
    assert is_code_prompt(HE10, "make_palindrome")
    assert not is_code_prompt(MBPP, "similar_elements")
    assert not is_code_prompt(HE10, "missing")


def test_truncate_at_stops_picks_the_earliest():
    assert truncate_at_stops("abc\nprint(1)\ndef g", ["\ndef ", "\nprint("]) == "abc"
    assert truncate_at_stops("abc", ["\ndef "]) == "abc"


def test_longest_parsable_prefix():
    code = "def f():\n    return 1\n\nx = (\n"
    assert longest_parsable_prefix(code) == "def f():\n    return 1\n"
    assert longest_parsable_prefix("((") is None
    assert longest_parsable_prefix("x = 1\n") == "x = 1\n"


def test_remove_test_code_keeps_comments_and_docstrings():
    code = '"""Module doc."""\n# helper\nimport os\n\n\ndef f():\n    return 1\n\n\nprint(f())\nf()\nassert f() == 1\n'
    cleaned = remove_test_code(code)
    assert cleaned == '"""Module doc."""\n# helper\nimport os\n\n\ndef f():\n    return 1\n'


def test_remove_test_code_keeps_setup_calls():
    code = "import sys\nsys.setrecursionlimit(10000)\n\n\ndef f(n):\n    return n\n\n\nf(3)\nmain = f\nunittest.main()\n"
    assert (
        remove_test_code(code)
        == "import sys\nsys.setrecursionlimit(10000)\n\n\ndef f(n):\n    return n\n\n\nmain = f\n"
    )
    klass = "class S:\n    def f(self):\n        return 1\n\n\nS().f()\nprint(S.f)\n"
    assert remove_test_code(klass) == "class S:\n    def f(self):\n        return 1\n"


def test_remove_test_code_leaves_shared_lines_and_bad_code():
    assert remove_test_code("x = 1; print(x)\n") == "x = 1; print(x)\n"
    assert remove_test_code("def (:\nprint(1)\n") == "def (:\nprint(1)\n"


def test_prompt_context_only_adds_what_is_missing():
    code = "import typing\nfrom typing import List\n\ndef has_close_elements(n, t):\n    return False\n"
    assert prompt_context(HE0, code, "has_close_elements") == ""
    assert prompt_context(HE0, "def has_close_elements(n, t):\n    pass\n", "has_close_elements") == (
        "from typing import List"
    )
    assert prompt_context(MBPP, "def f(): pass", "f") == ""  # prose prompt: nothing to take
