"""Turn raw model output into a full program that defines the task's entry point.

Models answer in many shapes: a ```python block with prose around it, several blocks (the function, then
example usage), a bare function, only the function body, a base-model continuation of the prompt that runs
on into test code, or text cut off by the token limit.  :func:`extract_program` maps all of them to the
source the executor runs, so that a sample fails only because its code is wrong, never because of how it
was wrapped.  Rules, in order:

1. Completion format (``continuation_of`` given): the output continues the prompt; it is cut at the first
   top-level stop (``\\ndef``, ``\\nprint(`` ...) and appended to the prompt.  When the model instead rewrote
   the whole function (output starts at column 0 with ``def``/``import`` or a code fence), rule 2 applies.
2. Otherwise take the code: the first ```python block that defines the entry point, else the first
   python/unlabelled block, else the first block of any language, else the raw text with leading prose
   dropped.  A body without its ``def`` line is put back under the prompt's signature.
3. Drop top-level test code the model added (``if __name__ == "__main__":``, bare ``print(...)`` calls,
   ``assert`` statements): it runs at import time and would turn a correct function into an error.
4. Add what the prompt defines and the code lacks: imports (``from typing import List``), helper
   functions and constants (HumanEval prompts define both).

Everything is parsed with :mod:`ast`; text that does not parse is trimmed back to the longest prefix that
does (at top-level statement boundaries), and if nothing parses the best text is returned as-is so that the
executor reports ``syntax_error`` instead of this module guessing.
"""

from __future__ import annotations

import ast
import re
import textwrap
from collections.abc import Iterable
from dataclasses import dataclass

_PY_LANGS = {"python", "py", "python3", "py3", "python2", "ipython", "pycon"}
_CODE_START = re.compile(r"^(?:async\s+def|def|class|import|from|@)\b|^[A-Za-z_]\w*\s*=", re.MULTILINE)
_THINK = re.compile(r"<think>.*?</think>", re.DOTALL)

#: Top-level stops for a base-model continuation (matched in the continuation only).
CONTINUATION_STOPS: tuple[str, ...] = (
    "\ndef ",
    "\nclass ",
    "\nasync def ",
    "\nif __name__",
    "\nprint(",
    "\n#",
    "\nassert ",
    "\n```",
    "\n@",
)


@dataclass
class CodeBlock:
    """One fenced block of a markdown answer."""

    lang: str
    code: str
    closed: bool


def is_code_prompt(prompt: str, entry_point: str = "") -> bool:
    """True when the prompt is code that declares the entry point (HumanEval), not prose (MBPP)."""
    name = re.escape(entry_point) if entry_point else r"\w+"
    return re.search(rf"^[ \t]*(?:async[ \t]+)?def[ \t]+{name}[ \t]*\(", prompt, re.MULTILINE) is not None


def code_blocks(text: str) -> list[CodeBlock]:
    """Fenced (```) blocks in order; an unclosed last block runs to the end of the text (token limit hit)."""
    blocks: list[CodeBlock] = []
    lang: str | None = None
    lines: list[str] = []
    for line in text.split("\n"):
        stripped = line.strip()
        if lang is None:
            if stripped.startswith("```"):
                info = stripped.strip("`").strip()
                lang = info.split()[0].lower() if info else ""
                lines = []
        elif stripped.startswith("```") and not stripped.strip("`").strip():
            blocks.append(CodeBlock(lang, "\n".join(lines) + "\n", closed=True))
            lang = None
        else:
            lines.append(line)
    if lang is not None and any(s.strip() for s in lines):
        blocks.append(CodeBlock(lang, "\n".join(lines) + "\n", closed=False))
    return blocks


def truncate_at_stops(text: str, stops: Iterable[str]) -> str:
    """``text`` up to (not including) the earliest occurrence of any stop string."""
    cut = len(text)
    for stop in stops:
        i = text.find(stop)
        if 0 <= i < cut:
            cut = i
    return text[:cut]


def parses(code: str) -> bool:
    try:
        ast.parse(code)
    except (SyntaxError, ValueError):  # ValueError: source contains NUL bytes
        return False
    return True


def _parse(code: str) -> ast.Module | None:
    try:
        return ast.parse(code)
    except (SyntaxError, ValueError):
        return None


def defines(code: str | ast.Module | None, name: str) -> bool:
    """True when the module defines ``name`` at top level (function, class, assignment or import)."""
    tree = _parse(code) if isinstance(code, str) else code
    return tree is not None and name in _top_level_names(tree)


def longest_parsable_prefix(code: str) -> str | None:
    """The longest prefix of ``code``, cut before a top-level line, that parses; ``None`` if none does.

    Trims what follows a complete function: trailing prose, a second function cut off by the token limit.
    A prefix that contains the line a syntax error was reported on fails the same way, so each failed
    parse jumps straight below that line: a handful of parses even for long outputs.
    """
    lines = code.split("\n")
    end = len(lines)
    for _ in range(100):
        candidate = code if end == len(lines) else "\n".join(lines[:end]).rstrip() + "\n"
        if not candidate.strip():
            return None
        try:
            ast.parse(candidate)
            return candidate
        except SyntaxError as e:
            limit = min(end - 1, (e.lineno or end) - 1)
        except ValueError:  # NUL bytes
            return None
        end = next((i for i in range(limit, 0, -1) if _is_cut_point(lines[i])), 0)
        if end <= 0:
            return None
    return None


def _is_cut_point(line: str) -> bool:
    """A line a module can be cut before: it starts a top-level statement (column 0, not a continuation)."""
    return (
        bool(line) and line[0] not in " \t)]}" and not line.startswith(("else", "elif", "except", "finally"))
    )


def strip_prose(text: str, entry_point: str = "") -> str:
    """Code in an answer without fences: drop prose before the first code-looking line and after the code.

    Tries each code-looking line as a start (prose can start with "from" too) and keeps the first piece that
    parses, preferring one that defines ``entry_point``.
    """
    if parses(text):
        return text
    first_ok: str | None = None
    for i, match in enumerate(_CODE_START.finditer(text)):
        if i >= 20:
            break
        code = longest_parsable_prefix(text[match.start() :])
        if code is None:
            continue
        if not entry_point or defines(code, entry_point):
            return code
        first_ok = first_ok or code
    if first_ok is not None:
        return first_ok
    match = _CODE_START.search(text)
    return text[match.start() :] if match else text


def select_code(text: str, entry_point: str = "") -> str:
    """The code part of a (chat) answer; see the module docstring, rule 2."""
    text = _THINK.sub("", text)
    blocks = code_blocks(text)
    if blocks:
        python = [b for b in blocks if b.lang in _PY_LANGS]
        plain = [b for b in blocks if b.lang == ""]
        for group in (python, plain, blocks):
            if entry_point:
                for b in group:
                    if defines(b.code, entry_point) or re.search(
                        rf"^\s*(?:async\s+)?def\s+{re.escape(entry_point)}\s*\(", b.code, re.MULTILINE
                    ):
                        return b.code
        for group in (python, plain, blocks):
            if group:
                return group[0].code
    if "```" in text and not blocks:  # stray fences on one line ("```def f(): ...```")
        text = text.replace("```python", "").replace("```", "")
    return strip_prose(text.strip("\n") + "\n", entry_point)


# ---------------------------------------------------------------------------------------------- AST helpers


def _top_level_names(tree: ast.Module) -> set[str]:
    names: set[str] = set()
    for node in tree.body:
        names |= _bound_names(node)
    return names


def _bound_names(node: ast.stmt) -> set[str]:
    if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
        return {node.name}
    if isinstance(node, ast.Import | ast.ImportFrom):
        return {(a.asname or a.name).split(".")[0] for a in node.names}
    targets: list[ast.expr] = []
    if isinstance(node, ast.Assign):
        targets = list(node.targets)
    elif isinstance(node, ast.AnnAssign | ast.AugAssign):
        targets = [node.target]
    names = set()
    for t in targets:
        for sub in ast.walk(t):
            if isinstance(sub, ast.Name):
                names.add(sub.id)
    if isinstance(node, ast.If | ast.Try | ast.With):  # conditional imports / definitions
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.stmt):
                names |= _bound_names(child)
        if isinstance(node, ast.Try):
            for h in node.handlers:
                for child in h.body:
                    names |= _bound_names(child)
    return names


def _node_lines(node: ast.stmt) -> tuple[int, int]:
    """1-based inclusive line span of a statement, decorators included."""
    start = node.lineno
    for dec in getattr(node, "decorator_list", []):
        start = min(start, dec.lineno)
    return start, node.end_lineno or node.lineno


def _is_main_guard(node: ast.stmt) -> bool:
    if not isinstance(node, ast.If):
        return False
    test = node.test
    return (
        isinstance(test, ast.Compare)
        and isinstance(test.left, ast.Name)
        and test.left.id == "__name__"
        and any(isinstance(c, ast.Constant) and c.value == "__main__" for c in test.comparators)
    )


_DEMO_CALLS = {"print", "input", "pprint", "display", "exit", "quit"}
_TEST_MODULES = {"doctest", "unittest", "pytest"}


def _calls_demo(expr: ast.expr, defined: set[str]) -> bool:
    """Whether an expression statement tries the code out: prints, reads input, calls a function the code
    defines (``main()``, ``f(3) == 4``) or runs a test framework (``doctest.testmod()``)."""
    for sub in ast.walk(expr):
        if not isinstance(sub, ast.Call):
            continue
        func = sub.func
        if isinstance(func, ast.Name) and (func.id in _DEMO_CALLS or func.id in defined):
            return True
        if isinstance(func, ast.Attribute):
            root = func
            while isinstance(root, ast.Attribute):
                root = root.value  # type: ignore[assignment]
            if isinstance(root, ast.Name) and (root.id in _TEST_MODULES or root.id in defined):
                return True
    return False


def _is_test_code(node: ast.stmt, defined: set[str]) -> bool:
    """Top-level statements a model adds to try its function out, which must not run at import time.

    Other expression statements stay: ``sys.setrecursionlimit(10**6)`` is part of a solution.
    """
    if _is_main_guard(node) or isinstance(node, ast.Assert):
        return True
    return isinstance(node, ast.Expr) and _calls_demo(node.value, defined)


def remove_test_code(code: str) -> str:
    """Drop top-level ``if __name__ == "__main__":`` blocks, ``assert``s and expression statements that try
    the code out (``print(f(1))``, ``main()``); everything else, comments included, is kept verbatim.  Code
    that does not parse is returned unchanged."""
    tree = _parse(code)
    if tree is None:
        return code
    lines = code.split("\n")
    defined = {
        n.name for n in tree.body if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef)
    }
    spans = [(_node_lines(n), _is_test_code(n, defined)) for n in tree.body]
    drop: set[int] = set()
    kept_lines: set[int] = set()
    for (start, end), is_test in spans:
        if not is_test:
            kept_lines.update(range(start, end + 1))
    for (start, end), is_test in spans:
        span = set(range(start, end + 1))
        if is_test and not span & kept_lines:  # never cut a line shared with kept code (a; b)
            drop |= span
    if not drop:
        return code
    out = [line for i, line in enumerate(lines, 1) if i not in drop]
    result = "\n".join(out).rstrip() + "\n"
    return result if parses(result) else code


def _segment(source_lines: list[str], node: ast.stmt) -> str:
    start, end = _node_lines(node)
    return "\n".join(source_lines[start - 1 : end])


def prompt_context(task_prompt: str, code: str, entry_point: str) -> str:
    """Source from the prompt that ``code`` needs but lacks: imports, constants, helper functions/classes.

    A prompt statement is added when it binds a name that the code does not define at top level.  The
    entry point itself is never added (the code's version is what is being judged).
    """
    prompt_tree = _parse(task_prompt)
    if prompt_tree is None or not task_prompt.strip():
        return ""
    code_tree = _parse(code)
    have = _top_level_names(code_tree) if code_tree is not None else _names_by_regex(code)
    prompt_lines = task_prompt.split("\n")
    imports: list[str] = []
    others: list[str] = []
    for node in prompt_tree.body:
        bound = _bound_names(node)
        if not bound or entry_point in bound or bound <= have:
            continue
        if isinstance(node, ast.Import | ast.ImportFrom):
            if isinstance(node, ast.ImportFrom) and node.module == "__future__":
                continue
            imports.append(_segment(prompt_lines, node))
        elif isinstance(
            node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef | ast.Assign | ast.AnnAssign
        ):
            others.append(_segment(prompt_lines, node))
    parts = []
    if imports:
        parts.append("\n".join(imports))
    parts.extend(others)
    return "\n\n\n".join(parts)


def _names_by_regex(code: str) -> set[str]:
    """Fallback for code that does not parse: names it seems to define or import at top level."""
    names = set(re.findall(r"^(?:async\s+)?(?:def|class)\s+(\w+)", code, re.MULTILINE))
    for m in re.finditer(r"^(?:from\s+\S+\s+)?import\s+(.+)$", code, re.MULTILINE):
        for part in m.group(1).strip("()").split(","):
            bits = part.split()
            if bits:
                names.add((bits[-1] if len(bits) == 3 and bits[1] == "as" else bits[0]).split(".")[0])
    names |= set(re.findall(r"^([A-Za-z_]\w*)\s*=", code, re.MULTILINE))
    return names


def with_prompt_context(code: str, task_prompt: str, entry_point: str) -> str:
    """Prepend :func:`prompt_context`, keeping any ``from __future__`` imports of ``code`` first."""
    context = prompt_context(task_prompt, code, entry_point)
    if not context:
        return code
    future = re.findall(r"^from\s+__future__\s+import[^\n]*\n", code, re.MULTILINE)
    for line in future:
        code = code.replace(line, "", 1)
    return "".join(future) + context + "\n\n\n" + code.lstrip("\n")


# ------------------------------------------------------------------------------------------- the entry point


def _as_body(code: str, task_prompt: str, entry_point: str) -> str | None:
    """If ``code`` is only a function body (no ``def`` line), the prompt with that body, else ``None``."""
    if not task_prompt or not is_code_prompt(task_prompt, entry_point) or defines(code, entry_point):
        return None
    if re.search(r"^\s*(?:async\s+)?def\s+" + re.escape(entry_point) + r"\s*\(", code, re.MULTILINE):
        return None
    body = textwrap.indent(textwrap.dedent(code).strip("\n"), "    ") + "\n"
    prefix = task_prompt if task_prompt.endswith("\n") else task_prompt + "\n"
    program = prefix + body
    return program if parses(program) and defines(program, entry_point) else None


def _looks_like_rewrite(continuation: str) -> bool:
    """A continuation that starts a new top-level program instead of continuing the body."""
    stripped = continuation.lstrip("\n")
    if stripped.startswith("```"):
        return True
    first = stripped.split("\n", 1)[0]
    return bool(first) and not first[0].isspace() and _CODE_START.match(first) is not None


def _finish(code: str, task_prompt: str, entry_point: str) -> str:
    code = remove_test_code(code)
    if task_prompt:
        code = with_prompt_context(code, task_prompt, entry_point)
    return code.rstrip() + "\n"


def extract_program(
    output: str,
    *,
    entry_point: str = "",
    task_prompt: str = "",
    continuation_of: str | None = None,
    stops: Iterable[str] = CONTINUATION_STOPS,
) -> str:
    """Full source for ``output``; see the module docstring for the rules.

    ``task_prompt`` supplies imports/helpers and, for a bare body, the signature.  ``continuation_of`` is
    the text the output continues (completion format with a code prompt): the program is then that text
    plus the output cut at ``stops``.
    """
    output = output.replace("\r\n", "\n")
    if continuation_of is not None and not _looks_like_rewrite(output):
        prefix = continuation_of
        continuation = truncate_at_stops(output, stops)
        program = prefix + continuation
        if parses(program):
            return _finish(program, task_prompt or continuation_of, entry_point)
        trimmed = longest_parsable_prefix(program)
        if trimmed is not None and len(trimmed.rstrip()) > len(prefix.rstrip()):
            return _finish(trimmed, task_prompt or continuation_of, entry_point)
        return program if program.endswith("\n") else program + "\n"

    code = select_code(output, entry_point)
    if not parses(code):
        body = _as_body(code, task_prompt, entry_point)
        if body is not None:
            return _finish(body, task_prompt, entry_point)
        trimmed = longest_parsable_prefix(code)
        if trimmed is not None and (not entry_point or defines(trimmed, entry_point)):
            code = trimmed
        else:
            return with_prompt_context(code, task_prompt, entry_point) if task_prompt else code
    elif entry_point and not defines(code, entry_point):
        body = _as_body(code, task_prompt, entry_point)
        if body is not None:
            return _finish(body, task_prompt, entry_point)
    return _finish(code, task_prompt, entry_point)
