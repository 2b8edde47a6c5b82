"""HumanEval-style prompts for mined tasks: everything the function needs, then its header and docstring.

The prompt is the reference program with the target function's body removed: the carried imports,
constants and helpers (in their original order, except that helpers defined after the target move before
it so the prompt ends on the function to complete), then the ``def`` line and the docstring.  Doctest
examples in the docstring stay only when the oracle agrees with them (an example whose shown output is not
what the reference returns -- stale docs, elided output, a repr the reader cannot compare -- would teach the
model the wrong thing); a function without a docstring gets one with a couple of examples from oracle cases
that are *not* in the test suite, so the prompt says something about the task without leaking its tests.
"""

from __future__ import annotations

import ast

from unitrl.datagen.oracle import OracleCase
from unitrl.datagen.types import doctest_examples


def _agrees(expected: str | None, case: OracleCase | None) -> bool:
    if expected is None or case is None:
        return False
    if case.kind == "raises":
        return expected.startswith("Traceback") and case.exception in expected
    try:
        return bool(ast.literal_eval(expected) == case.value) and type(ast.literal_eval(expected)) is type(
            case.value
        )
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
        return expected.strip() == case.value_text


def filter_doctests(docstring: str, name: str, cases: dict[str, OracleCase]) -> tuple[str, int, int]:
    """The docstring without the examples the oracle disagrees with: ``(text, kept, removed)``.

    ``cases`` maps a call's source text (as :meth:`CallInput.render` writes it) to its oracle case.
    Examples that do not call ``name`` with literal arguments (setup lines, other functions) are removed
    too: the prompt must not show behaviour nobody checked.
    """
    from unitrl.datagen.inputs import CallInput

    checked = {}
    for ex in doctest_examples(docstring, name):
        text = CallInput(tuple(ex.args), tuple(sorted(ex.kwargs.items()))).render(name)
        # `Tools.f(1)` in a staticmethod's docstring: the prompt's f is top-level, so the example is wrong
        direct = ex.call.strip().startswith(f"{name}(")
        checked[ex.call.strip()] = direct and _agrees(ex.expected, cases.get(text))
    lines = docstring.splitlines()
    out: list[str] = []
    kept = removed = 0
    i = 0
    while i < len(lines):
        stripped = lines[i].strip()
        if not stripped.startswith(">>>"):
            out.append(lines[i])
            i += 1
            continue
        block = [lines[i]]
        source = stripped[4:]
        i += 1
        while i < len(lines) and lines[i].strip().startswith("..."):
            block.append(lines[i])
            source += "\n" + lines[i].strip()[4:]
            i += 1
        while i < len(lines) and lines[i].strip() and not lines[i].strip().startswith(">>>"):
            block.append(lines[i])
            i += 1
        if checked.get(source.strip(), False):
            out.extend(block)
            kept += 1
        else:
            removed += 1
    text = "\n".join(out)
    # drop a dangling "Examples:" heading and runs of blank lines left behind
    cleaned: list[str] = []
    for line in text.splitlines():
        if not line.strip() and cleaned and not cleaned[-1].strip():
            continue
        cleaned.append(line)
    while cleaned and cleaned[-1].strip().rstrip(":").lower() in ("", "example", "examples", "--------"):
        if cleaned[-1].strip() == "--------" and len(cleaned) > 1:
            cleaned.pop()
        cleaned.pop()
    return "\n".join(cleaned).strip(), kept, removed


def _quote(docstring: str, indent: str) -> str:
    body = docstring.replace("\\", "\\\\")
    quote = '"""' if '"""' not in body else "'''"
    body = body.replace(quote, "\\" + quote[0] * 3)
    lines = body.splitlines() or [""]
    if len(lines) == 1 and not body.endswith(quote[0]):
        return f"{indent}{quote}{lines[0]}{quote}\n"
    inner = "\n".join((indent + line) if line.strip() else "" for line in lines)
    return f"{indent}{quote}{inner.lstrip()}\n{indent}{quote}\n"


def examples_docstring(name: str, cases: list[OracleCase], limit: int = 2) -> str:
    """A docstring made of up to ``limit`` examples (value cases only)."""
    shown = [c for c in cases if c.kind == "value" and not c.mutated][:limit]
    if not shown:
        return ""
    parts = [f"Return what {name} computes for the given arguments.", "", "Examples:"]
    for c in shown:
        parts += [f">>> {c.expr}", c.value_text]
    return "\n".join(parts)


def build_prompt(
    reference: str,
    entry_point: str,
    docstring: str,
    all_cases: list[OracleCase],
    suite_cases: list[OracleCase],
) -> tuple[str, dict[str, int]]:
    """The prompt text and counts of doctest examples ``kept``/``removed``/``added``."""
    tree = ast.parse(reference)
    func = next(
        n
        for n in tree.body
        if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef) and n.name == entry_point
    )
    lines = reference.splitlines(keepends=True)
    start = (func.decorator_list[0].lineno if func.decorator_list else func.lineno) - 1
    end = func.end_lineno or func.lineno
    before = "".join(lines[:start]).rstrip()
    after = "".join(lines[end:]).strip()
    first_body = func.body[0]
    header = "".join(lines[func.lineno - 1 : first_body.lineno - 1])
    header = "".join(
        line for line in header.splitlines(keepends=True) if line.strip() and not line.strip().startswith("#")
    )
    if not header.rstrip().endswith(":"):  # a one-line def, or a docstring on the def line itself
        header = f"def {entry_point}({ast.unparse(func.args)})"
        header += (f" -> {ast.unparse(func.returns)}" if func.returns else "") + ":\n"
    one_line = first_body.lineno == func.lineno
    body_indent = " " * first_body.col_offset if first_body.col_offset and not one_line else "    "
    by_expr = {c.expr: c for c in all_cases}
    counts = {"kept": 0, "removed": 0, "added": 0}
    if docstring:
        doc, counts["kept"], counts["removed"] = filter_doctests(docstring, entry_point, by_expr)
    else:
        in_suite = {c.expr for c in suite_cases}
        spare = [c for c in all_cases if c.expr not in in_suite]
        doc = examples_docstring(entry_point, spare)
        counts["added"] = min(2, sum(c.kind == "value" and not c.mutated for c in spare))
    prefix = "\n\n\n".join(p for p in (before, after) if p)
    prompt = (prefix + "\n\n\n" if prefix else "") + header
    if doc:
        prompt += _quote(doc, body_indent)
    return prompt, counts
