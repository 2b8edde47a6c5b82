"""AST mutants of a reference program: small, plausible bugs that a good test suite must catch.

Mined tests are generated, not written, so we need a way to tell a strong suite from a weak one; the
standard yardstick is mutation testing.  Each :class:`Mutant` is the reference program with one small change
(an operator swapped, a constant nudged, a statement dropped) inside the target function or the helpers it
calls -- never in imports, constants or unrelated code, whose mutants would say nothing about the task.

The operator families (:data:`OPERATORS`) follow the classic mutation-testing set, kept small so that a
function yields tens, not thousands, of mutants:

- ``arithmetic``: ``+`` <-> ``-``; ``*`` -> ``/``, ``//``; ``/`` -> ``*``, ``//``; ``//`` -> ``*``, ``/``, ``%``;
  ``%`` -> ``//``, ``*`` (in expressions and augmented assignments)
- ``comparison``: ``<`` <-> ``<=``, ``>`` <-> ``>=``, ``==`` <-> ``!=``, ``in`` <-> ``not in``, ``is`` <-> ``is not``
- ``boolean``: ``and`` <-> ``or``
- ``not_removal``: ``not x`` -> ``x``
- ``constant``: int/float ``n`` -> ``n + 1``, ``n - 1`` (so ``0`` <-> ``1``); ``True`` <-> ``False``;
  ``''`` -> ``'x'``, other strings -> ``''`` (docstrings and messages of ``raise``/``assert`` are left alone)
- ``statement_deletion``: a statement in a body of more than one statement becomes ``pass``
- ``return_none``: ``return x`` -> ``return None``

Mutants are produced from a fresh copy of the tree per mutation and unparsed (comments are lost, which the
tests do not care about).  Each one is checked to compile and to differ from the original, and duplicates
are dropped by comparing ``ast.dump`` of the re-parsed source; the order is deterministic (functions in
source order, nodes in pre-order, operators in the table order above).
"""

from __future__ import annotations

import ast
import copy
from collections.abc import Callable, Iterator
from dataclasses import dataclass

OPERATORS: tuple[str, ...] = (
    "arithmetic",
    "comparison",
    "boolean",
    "not_removal",
    "constant",
    "statement_deletion",
    "return_none",
)

_ARITHMETIC: dict[type[ast.operator], tuple[type[ast.operator], ...]] = {
    ast.Add: (ast.Sub,),
    ast.Sub: (ast.Add,),
    ast.Mult: (ast.Div, ast.FloorDiv),
    ast.Div: (ast.Mult, ast.FloorDiv),
    ast.FloorDiv: (ast.Mult, ast.Div, ast.Mod),
    ast.Mod: (ast.FloorDiv, ast.Mult),
}
_COMPARISON: dict[type[ast.cmpop], type[ast.cmpop]] = {
    ast.Lt: ast.LtE,
    ast.LtE: ast.Lt,
    ast.Gt: ast.GtE,
    ast.GtE: ast.Gt,
    ast.Eq: ast.NotEq,
    ast.NotEq: ast.Eq,
    ast.In: ast.NotIn,
    ast.NotIn: ast.In,
    ast.Is: ast.IsNot,
    ast.IsNot: ast.Is,
}
_SYMBOLS: dict[type, str] = {
    ast.Add: "+",
    ast.Sub: "-",
    ast.Mult: "*",
    ast.Div: "/",
    ast.FloorDiv: "//",
    ast.Mod: "%",
    ast.Lt: "<",
    ast.LtE: "<=",
    ast.Gt: ">",
    ast.GtE: ">=",
    ast.Eq: "==",
    ast.NotEq: "!=",
    ast.In: "in",
    ast.NotIn: "not in",
    ast.Is: "is",
    ast.IsNot: "is not",
    ast.And: "and",
    ast.Or: "or",
}


@dataclass
class Mutant:
    """The reference program with one change."""

    source: str
    #: The operator family, one of :data:`OPERATORS`.
    operator: str
    #: Line of the changed node in the original reference.
    lineno: int
    #: What changed, for reports (``"+ -> -"``, ``"3 -> 4"``, ``"delete Assign"``).
    detail: str = ""
    #: The function the change is in (the target or one of its helpers).
    function: str = ""


#: A mutation: (operator, detail, function that applies it to the node in a fresh copy of the tree).
#: The function gets (node, parent, field, index) and edits the tree in place.
_Edit = Callable[[ast.AST, ast.AST, str, int | None], None]


def _walk(
    node: ast.AST, parent: ast.AST, field: str, index: int | None
) -> Iterator[tuple[ast.AST, ast.AST, str, int | None]]:
    """Pre-order walk that also says where each node hangs, so it can be replaced."""
    yield node, parent, field, index
    for name, value in ast.iter_fields(node):
        if isinstance(value, list):
            for i, item in enumerate(value):
                if isinstance(item, ast.AST):
                    yield from _walk(item, node, name, i)
        elif isinstance(value, ast.AST):
            yield from _walk(value, node, name, None)


def _sites(
    func: ast.FunctionDef | ast.AsyncFunctionDef,
) -> Iterator[tuple[ast.AST, ast.AST, str, int | None]]:
    for i, stmt in enumerate(func.body):
        yield from _walk(stmt, func, "body", i)


def _replace(parent: ast.AST, field: str, index: int | None, new: ast.AST) -> None:
    if index is None:
        setattr(parent, field, new)
    else:
        getattr(parent, field)[index] = new


def _is_docstring(stmt: ast.AST) -> bool:
    return (
        isinstance(stmt, ast.Expr)
        and isinstance(stmt.value, ast.Constant)
        and isinstance(stmt.value.value, str)
    )


def _protected_strings(func: ast.AST) -> set[int]:
    """ids of string constants not worth mutating: docstrings, f-string pieces, raise/assert messages."""
    protected: set[int] = set()
    for node in ast.walk(func):
        if isinstance(node, ast.Raise | ast.JoinedStr):
            protected.update(id(sub) for sub in ast.walk(node))
        elif isinstance(node, ast.Assert) and node.msg is not None:
            protected.update(id(sub) for sub in ast.walk(node.msg))
        elif _is_docstring(node):
            protected.add(id(node.value))  # type: ignore[attr-defined]
    return protected


def _set_attr(attr: str, value: object) -> _Edit:
    def edit(node: ast.AST, parent: ast.AST, field: str, index: int | None) -> None:
        setattr(node, attr, value)

    return edit


def _set_cmpop(position: int, op: ast.cmpop) -> _Edit:
    def edit(node: ast.AST, parent: ast.AST, field: str, index: int | None) -> None:
        node.ops[position] = op  # type: ignore[attr-defined]

    return edit


def _with(new: Callable[[ast.AST], ast.AST]) -> _Edit:
    def edit(node: ast.AST, parent: ast.AST, field: str, index: int | None) -> None:
        _replace(parent, field, index, new(node))

    return edit


def _mutations(
    node: ast.AST, parent: ast.AST, field: str, protected: set[int]
) -> Iterator[tuple[str, str, _Edit]]:
    """The mutations of one node, in the fixed operator order."""
    if isinstance(node, ast.BinOp | ast.AugAssign):
        for new in _ARITHMETIC.get(type(node.op), ()):
            yield "arithmetic", f"{_SYMBOLS[type(node.op)]} -> {_SYMBOLS[new]}", _set_attr("op", new())
    if isinstance(node, ast.Compare):
        for position, op in enumerate(node.ops):
            new = _COMPARISON[type(op)]
            yield "comparison", f"{_SYMBOLS[type(op)]} -> {_SYMBOLS[new]}", _set_cmpop(position, new())
    if isinstance(node, ast.BoolOp):
        new = ast.Or if isinstance(node.op, ast.And) else ast.And
        yield "boolean", f"{_SYMBOLS[type(node.op)]} -> {_SYMBOLS[new]}", _set_attr("op", new())
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Not):
        yield "not_removal", "not x -> x", _with(lambda n: n.operand)  # type: ignore[attr-defined]
    if isinstance(node, ast.Constant) and id(node) not in protected:
        value = node.value
        if isinstance(value, bool):
            yield "constant", f"{value} -> {not value}", _set_attr("value", not value)
        elif isinstance(value, int | float):
            yield "constant", f"{value!r} -> {value + 1!r}", _set_attr("value", value + 1)
            yield "constant", f"{value!r} -> {value - 1!r}", _set_attr("value", value - 1)
        elif isinstance(value, str):
            new_value = "x" if value == "" else ""
            yield "constant", f"{value!r} -> {new_value!r}", _set_attr("value", new_value)
    if (
        isinstance(node, ast.stmt)
        and isinstance(getattr(parent, field, None), list)
        and len(getattr(parent, field)) > 1
        and not isinstance(node, ast.Pass)
        and not _is_docstring(node)
    ):
        yield "statement_deletion", f"delete {type(node).__name__}", _with(lambda n: ast.Pass())
    if (
        isinstance(node, ast.Return)
        and node.value is not None
        and not (isinstance(node.value, ast.Constant) and node.value.value is None)
    ):
        yield "return_none", "return x -> return None", _set_attr("value", ast.Constant(None))


def _targets(tree: ast.Module, function: str) -> list[int]:
    """Indices in ``tree.body`` of ``function`` and the top-level functions it calls, transitively."""
    defs = {
        stmt.name: i
        for i, stmt in enumerate(tree.body)
        if isinstance(stmt, ast.FunctionDef | ast.AsyncFunctionDef)
    }
    if function not in defs:
        raise ValueError(f"no top-level function {function!r} in the reference program")
    wanted, todo = {function}, [function]
    while todo:
        for node in ast.walk(tree.body[defs[todo.pop()]]):
            if isinstance(node, ast.Name) and node.id in defs and node.id not in wanted:
                wanted.add(node.id)
                todo.append(node.id)
    return sorted(defs[name] for name in wanted)


def _spread(items: list[Mutant], limit: int | None) -> list[Mutant]:
    """At most ``limit`` items, evenly spaced so that every part of the function keeps some mutants."""
    if limit is None or len(items) <= limit:
        return items
    if limit <= 0:
        return []
    return [items[i * len(items) // limit] for i in range(limit)]


def mutants(reference: str, function: str, limit: int | None = None) -> list[Mutant]:
    """All distinct, compilable single-change mutants of ``function`` (and its helpers) in ``reference``.

    ``limit`` keeps at most that many, evenly spread over the full deterministic list (not the first ones,
    which would all sit at the top of the function).  Raises ``ValueError`` when ``reference`` does not
    parse or has no top-level ``function``.
    """
    tree = ast.parse(reference)
    targets = _targets(tree, function)
    seen = {ast.dump(tree)}
    found: list[Mutant] = []
    for body_index in targets:
        func = tree.body[body_index]
        assert isinstance(func, ast.FunctionDef | ast.AsyncFunctionDef)
        protected = _protected_strings(func)
        for site, (node, parent, field, _) in enumerate(_sites(func)):
            for operator, detail, edit in _mutations(node, parent, field, protected):
                clone = copy.deepcopy(tree)
                clone_func = clone.body[body_index]
                c_node, c_parent, c_field, c_index = next(
                    s
                    for i, s in enumerate(_sites(clone_func))
                    if i == site  # type: ignore[arg-type]
                )
                edit(c_node, c_parent, c_field, c_index)
                try:
                    source = ast.unparse(ast.fix_missing_locations(clone))
                    compile(source, "<mutant>", "exec")
                    dump = ast.dump(ast.parse(source))
                except (SyntaxError, ValueError, RecursionError):
                    continue
                if dump in seen:
                    continue
                seen.add(dump)
                found.append(
                    Mutant(source, operator, getattr(node, "lineno", func.lineno), detail, func.name)
                )
    return _spread(found, limit)
