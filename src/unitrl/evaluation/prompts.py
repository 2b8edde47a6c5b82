"""What the model sees for a task, and how its output is turned back into a program.

Two formats, because instruct and base models need different things to score well:

- ``chat``: the tokenizer has a chat template (instruct models).  The task prompt goes in one user message
  with a short instruction asking for the whole function in a ```python block; the template is applied with
  ``add_generation_prompt=True`` so the model answers as the assistant.  Generation stops once the first
  python block is closed, which saves the tokens instruct models spend explaining their code.
- ``completion``: a plain LM continues the prompt.  A code prompt (HumanEval: signature + docstring) is used
  as-is and the model writes the body; classic stop sequences end it at the next top-level statement.  A
  natural-language prompt (MBPP) becomes a module docstring so that the natural continuation is code.

:class:`Prompt` carries the text plus everything :mod:`unitrl.evaluation.extract` needs to rebuild a full
program, so a caller (the evaluator, the RL trainer) does ``p = build_prompt(task, tok)``, generates from
``p.text`` with ``p.stop``, and scores ``p.extract(output)``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Literal

from unitrl.evaluation.extract import extract_program, is_code_prompt
from unitrl.tasks import Task

PromptFormat = Literal["chat", "completion"]
#: A stop condition: a string ends the output just before it; a regex ends it just after its match.
Stop = str | re.Pattern[str]

INSTRUCTION_COMPLETE = (
    "Complete the following Python function. Return the full function, including its signature and any "
    "imports it needs, in a single ```python code block."
)
INSTRUCTION_WRITE = (
    "Write a Python function that solves the problem below. Return the full function, including any imports "
    "it needs, in a single ```python code block."
)

#: Ends a chat answer once its first python (or unlabelled) code block is closed.
CODE_BLOCK_CLOSED = re.compile(r"```(?:python3?|py)?[ \t]*\r?\n.*?\r?\n[ \t]*```", re.DOTALL | re.IGNORECASE)

#: Stops for a base model continuing a function body (Chen et al. 2021 plus the obvious test-code starts).
#: They are matched in the generated text only, so the prompt's own ``def`` lines do not stop anything.
COMPLETION_STOPS: tuple[str, ...] = (
    "\ndef ",
    "\nclass ",
    "\nif __name__",
    "\nprint(",
    "\n#",
    "\nassert ",
    "\n```",
)
#: Stops for a base model writing a whole program after a docstring: no ``\ndef `` (helpers are welcome).
PROGRAM_STOPS: tuple[str, ...] = (
    "\nif __name__",
    "\nprint(",
    "\nassert ",
    "\n```",
    '\n"""',
    "\n# Test",
    "\n# Example",
)


@dataclass(frozen=True)
class Prompt:
    """The model input for one task and how to read the model's output."""

    #: Exact text to tokenize (chat template already applied in the chat format).
    text: str
    format: PromptFormat
    #: Stop conditions for generation (see :data:`Stop`).
    stop: tuple[Stop, ...] = ()
    #: The task prompt and entry point, needed to rebuild a full program (imports, helpers, continuation).
    task_prompt: str = ""
    entry_point: str = ""
    #: Source the output continues (completion format with a code prompt); empty otherwise.
    prefix: str = ""
    #: Whether the text already contains special tokens (chat templates add them): generation must then
    #: tokenize with ``add_special_tokens=False`` or e.g. a BOS token would appear twice.
    has_special_tokens: bool = False
    meta: dict[str, Any] = field(default_factory=dict, compare=False)

    def extract(self, output: str) -> str:
        """The full program (defining ``entry_point``) that ``output`` stands for; see :func:`extract_program`."""
        return extract_program(
            output,
            entry_point=self.entry_point,
            task_prompt=self.task_prompt,
            continuation_of=self.prefix if self.format == "completion" and self.prefix else None,
        )


def has_chat_template(tokenizer: Any) -> bool:
    """True when the tokenizer defines a chat template, i.e. the model expects chat-formatted input."""
    return bool(getattr(tokenizer, "chat_template", None))


def chat_message(task: Task) -> str:
    """The user message for a task: an instruction, then the task prompt (fenced when it is code)."""
    prompt = task.prompt.strip("\n")
    if is_code_prompt(task.prompt, task.entry_point):
        return f"{INSTRUCTION_COMPLETE}\n\n```python\n{prompt}\n```"
    name = f"\n\nThe function must be named `{task.entry_point}`." if task.entry_point else ""
    return f"{INSTRUCTION_WRITE}{name}\n\n{prompt}"


def completion_text(task: Task) -> tuple[str, str]:
    """``(text, prefix)`` for a plain LM: a code prompt verbatim (it is also the prefix the output continues),
    or a natural-language prompt as a module docstring (no prefix: the output is the whole program)."""
    if is_code_prompt(task.prompt, task.entry_point):
        text = task.prompt if task.prompt.endswith("\n") else task.prompt + "\n"
        return text, text
    body = task.prompt.strip().replace('"""', "'''")
    if task.entry_point and not re.search(rf"\b{re.escape(task.entry_point)}\b", body):
        body += f"\nThe function is named {task.entry_point}."
    return f'"""\n{body}\n"""\n\n', ""


def build_prompt(task: Task, tokenizer: Any = None, *, format: PromptFormat | None = None) -> Prompt:
    """The :class:`Prompt` for ``task``; ``format=None`` picks chat when the tokenizer has a chat template."""
    if format is None:
        format = "chat" if tokenizer is not None and has_chat_template(tokenizer) else "completion"
    common = {"task_prompt": task.prompt, "entry_point": task.entry_point}
    if format == "chat":
        if tokenizer is None or not has_chat_template(tokenizer):
            raise ValueError("the chat prompt format needs a tokenizer with a chat template")
        messages = [{"role": "user", "content": chat_message(task)}]
        text = tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
        return Prompt(text=text, format="chat", stop=(CODE_BLOCK_CLOSED,), has_special_tokens=True, **common)
    if format == "completion":
        text, prefix = completion_text(task)
        stops = COMPLETION_STOPS if prefix else PROGRAM_STOPS
        return Prompt(text=text, format="completion", stop=stops, prefix=prefix, **common)
    raise ValueError(f"unknown prompt format {format!r} (use 'chat' or 'completion')")


def build_prompts(
    tasks: list[Task], tokenizer: Any = None, *, format: PromptFormat | None = None
) -> list[Prompt]:
    """:func:`build_prompt` for each task."""
    return [build_prompt(t, tokenizer, format=format) for t in tasks]
