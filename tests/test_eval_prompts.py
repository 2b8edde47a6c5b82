"""Prompt construction for chat and plain models, with the tiny local tokenizer (no downloads)."""

from __future__ import annotations

import pytest

from unitrl.evaluation.generate import find_stop
from unitrl.evaluation.prompts import (
    CODE_BLOCK_CLOSED,
    COMPLETION_STOPS,
    INSTRUCTION_COMPLETE,
    INSTRUCTION_WRITE,
    PROGRAM_STOPS,
    build_prompt,
    build_prompts,
    has_chat_template,
)
from unitrl.models.tiny import build_tiny_tokenizer
from unitrl.tasks import Task

HE = Task(
    task_id="HumanEval/x",
    prompt='def add(a: int, b: int) -> int:\n    """Add two numbers.\n    >>> add(1, 2)\n    3\n    """\n',
    entry_point="add",
    tests=["assert add(1, 2) == 3"],
)
MBPP = Task(
    task_id="mbpp/x",
    prompt="Write a function to add two numbers.\nassert add(1, 2) == 3",
    entry_point="add",
    tests=["assert add(1, 2) == 3"],
)
MBPP_NO_NAME = Task(
    task_id="mbpp/y", prompt="Write a function to reverse a string.", entry_point="rev", tests=[]
)


@pytest.fixture(scope="module")
def chat_tok():
    return build_tiny_tokenizer(chat=True)


@pytest.fixture(scope="module")
def plain_tok():
    return build_tiny_tokenizer(chat=False)


def test_chat_template_detection(chat_tok, plain_tok):
    assert has_chat_template(chat_tok)
    assert not has_chat_template(plain_tok)
    assert build_prompt(HE, chat_tok).format == "chat"
    assert build_prompt(HE, plain_tok).format == "completion"
    assert build_prompt(HE, None).format == "completion"


def test_chat_prompt_for_code_task(chat_tok):
    p = build_prompt(HE, chat_tok)
    assert p.text.endswith("<|im_start|>assistant\n")  # add_generation_prompt=True
    assert INSTRUCTION_COMPLETE in p.text
    assert "```python\ndef add(a: int, b: int) -> int:" in p.text
    assert p.has_special_tokens and p.stop == (CODE_BLOCK_CLOSED,)
    assert p.text.count("<|im_start|>user") == 1


def test_chat_prompt_for_prose_task_names_the_function(chat_tok):
    p = build_prompt(MBPP, chat_tok)
    assert INSTRUCTION_WRITE in p.text
    assert "The function must be named `add`." in p.text
    assert "assert add(1, 2) == 3" in p.text


def test_completion_prompt_for_code_task_is_the_prompt(plain_tok):
    p = build_prompt(HE, plain_tok)
    assert p.text == HE.prompt and p.prefix == HE.prompt
    assert p.stop == COMPLETION_STOPS and not p.has_special_tokens
    program = p.extract("    return a + b\n\n\ndef main():\n    pass\n")
    assert program == HE.prompt + "    return a + b\n"


def test_completion_prompt_for_prose_task_is_a_docstring(plain_tok):
    p = build_prompt(MBPP_NO_NAME, plain_tok)
    assert p.text.startswith('"""\nWrite a function to reverse a string.')
    assert "The function is named rev." in p.text
    assert p.prefix == "" and p.stop == PROGRAM_STOPS
    assert (
        p.extract("def rev(s):\n    return s[::-1]\n\nprint(rev('ab'))")
        == "def rev(s):\n    return s[::-1]\n"
    )


def test_forced_formats(chat_tok, plain_tok):
    assert build_prompt(HE, chat_tok, format="completion").format == "completion"
    with pytest.raises(ValueError):
        build_prompt(HE, plain_tok, format="chat")
    with pytest.raises(ValueError):
        build_prompt(HE, chat_tok, format="bogus")  # type: ignore[arg-type]
    assert [p.format for p in build_prompts([HE, MBPP], chat_tok)] == ["chat", "chat"]


def test_chat_extract_round_trip(chat_tok):
    p = build_prompt(HE, chat_tok)
    answer = "Sure:\n```python\ndef add(a: int, b: int) -> int:\n    return a + b\n```\nDone."
    assert p.extract(answer) == "def add(a: int, b: int) -> int:\n    return a + b\n"


def test_code_block_stop_regex():
    text = "Here:\n```python\ndef f():\n    return 1\n```\nExplanation ```python\nx\n```"
    cut = find_stop(text, [CODE_BLOCK_CLOSED])
    assert text[:cut].endswith("    return 1\n```")
    assert find_stop("```python\ndef f():\n", [CODE_BLOCK_CLOSED]) is None  # still open
    assert find_stop("```bash\nls\n```", [CODE_BLOCK_CLOSED]) is None  # not a python block
