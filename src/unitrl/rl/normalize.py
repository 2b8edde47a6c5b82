"""Canonical form of a program, so that trivially different samples count as one.

A policy sampling many completions per prompt produces the same solution again and again with different
variable names, spacing, comments or docstrings.  Replaying such copies as distinct samples over-weights
them, so the replay buffer deduplicates on :func:`normalize_program`:

* parse with :mod:`ast` (formatting and comments vanish);
* drop docstrings (module, class, function);
* rename every *function-local* name -- parameters, local variables, nested function names, comprehension
  and lambda variables, ``except ... as`` / ``match`` captures -- to a placeholder numbered by first
  occurrence, consistently within its scope (closures resolve to the enclosing function's placeholder);
* keep every name whose spelling matters to the program's behaviour: module-level names (the entry point,
  helpers, globals), builtins, attributes, keyword-argument names at call sites, class attributes, names
  declared ``global`` and imported names;
* return ``ast.dump`` of the result (placeholders are not valid identifiers, so they never collide).

Parameters are renamed too, so two solutions that only differ in parameter names are one entry even though
a test calling ``f(n=3)`` could tell them apart; MBPP/HumanEval tests call positionally.

Unparsable source gives ``None``; callers then fall back to :func:`whitespace_normalized` text.
"""

from __future__ import annotations

import ast
import hashlib
from dataclasses import dataclass, field

_FUNCTIONS = (ast.FunctionDef, ast.AsyncFunctionDef)
_COMPREHENSIONS = (ast.ListComp, ast.SetComp, ast.DictComp, ast.GeneratorExp)
_SCOPES = (*_FUNCTIONS, ast.Lambda, ast.ClassDef, *_COMPREHENSIONS)


def whitespace_normalized(source: str) -> str:
    """``source`` with every run of whitespace collapsed to one space (the fallback for unparsable code)."""
    return " ".join(source.split())


def dedup_key(program: str) -> str:
    """A short, stable key equal for programs that :func:`normalize_program` considers the same.

    ``ast:<sha1>`` of the canonical AST, or ``text:<sha1>`` of whitespace-normalised text when the program
    does not parse (so broken samples still deduplicate against exact-modulo-spacing copies).
    """
    canon = normalize_program(program)
    kind, text = ("ast", canon) if canon is not None else ("text", whitespace_normalized(program))
    return f"{kind}:{hashlib.sha1(text.encode('utf-8', 'surrogatepass')).hexdigest()}"


def normalize_program(source: str) -> str | None:
    """Canonical ``ast.dump`` of ``source`` (see the module docstring), or ``None`` when it does not parse."""
    try:
        tree = ast.parse(source)
    except (SyntaxError, ValueError, RecursionError, MemoryError, OverflowError):
        return None
    _strip_docstrings(tree)
    try:
        _Renamer().run(tree)
        return ast.dump(tree)
    except RecursionError:
        return None


def _strip_docstrings(tree: ast.AST) -> None:
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef, *_FUNCTIONS)):
            body = node.body
            if (
                body
                and isinstance(body[0], ast.Expr)
                and isinstance(body[0].value, ast.Constant)
                and isinstance(body[0].value.value, str)
            ):
                del body[0]
                if not body and not isinstance(node, ast.Module):
                    body.append(ast.Pass())


# --- scope analysis ----------------------------------------------------------------------------------------


@dataclass
class _Scope:
    kind: str  # "module", "function" (also lambda and comprehension) or "class"
    parent: _Scope | None
    #: Names bound in this scope that are renamed (function scopes only).
    local: set[str] = field(default_factory=set)
    #: Names bound here but kept: imports, ``global`` declarations, class attributes.
    kept: set[str] = field(default_factory=set)
    mapping: dict[str, str] = field(default_factory=dict)


def _target_names(node: ast.AST) -> list[str]:
    """Names a binding construct inside one scope binds (Name stores, captures, handlers)."""
    if isinstance(node, ast.Name) and isinstance(node.ctx, (ast.Store, ast.Del)):
        return [node.id]
    if isinstance(node, ast.ExceptHandler) and node.name:
        return [node.name]
    if isinstance(node, (ast.MatchAs, ast.MatchStar)) and node.name:
        return [node.name]
    if isinstance(node, ast.MatchMapping) and node.rest:
        return [node.rest]
    return []


def _enclosing_parts(node: ast.AST) -> list[ast.AST]:
    """Children of a scope node that are evaluated in the *enclosing* scope."""
    parts: list[ast.AST] = []
    if isinstance(node, (*_FUNCTIONS, ast.Lambda)):
        args = node.args
        parts += [*args.defaults, *(d for d in args.kw_defaults if d is not None)]
        if isinstance(node, _FUNCTIONS):
            parts += list(node.decorator_list)
            every = [*args.posonlyargs, *args.args, *args.kwonlyargs]
            every += [a for a in (args.vararg, args.kwarg) if a is not None]
            parts += [a.annotation for a in every if a.annotation is not None]
            if node.returns is not None:
                parts.append(node.returns)
    elif isinstance(node, ast.ClassDef):
        parts += [*node.decorator_list, *node.bases, *node.keywords]
    elif isinstance(node, _COMPREHENSIONS):
        parts.append(node.generators[0].iter)
    return parts


def _iter_scope(nodes: list[ast.AST]) -> list[ast.AST]:
    """Every node of one scope (pre-order), without the bodies of nested scopes.

    Nested scope nodes themselves are included (their name binds here), as are the parts of them that are
    evaluated in this scope (defaults, decorators, the first iterable of a comprehension).
    """
    out: list[ast.AST] = []
    stack = list(reversed(nodes))
    while stack:
        node = stack.pop()
        out.append(node)
        children = _enclosing_parts(node) if isinstance(node, _SCOPES) else list(ast.iter_child_nodes(node))
        stack.extend(reversed(children))
    return out


def _walrus_targets(comp: ast.AST) -> list[str]:
    """Targets of ``:=`` inside a comprehension: they bind in the enclosing function (PEP 572)."""
    names: list[str] = []
    stack = list(ast.iter_child_nodes(comp))
    while stack:
        node = stack.pop()
        if isinstance(node, ast.NamedExpr) and isinstance(node.target, ast.Name):
            names.append(node.target.id)
        if not isinstance(node, (*_FUNCTIONS, ast.Lambda, ast.ClassDef)):
            stack.extend(ast.iter_child_nodes(node))
    return names


def _analyse(scope: _Scope, nodes: list[ast.AST], params: list[str]) -> None:
    """Fill ``scope.local``/``scope.kept`` from the bindings among ``nodes`` (one scope's own code)."""
    bound: set[str] = set(params)
    kept: set[str] = set()
    free: set[str] = set()
    for node in _iter_scope(nodes):
        if isinstance(node, (*_FUNCTIONS, ast.ClassDef)):
            bound.add(node.name)
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            kept.update((a.asname or a.name).split(".")[0] for a in node.names)
        elif isinstance(node, ast.Global):
            kept.update(node.names)
        elif isinstance(node, ast.Nonlocal):
            free.update(node.names)
        elif isinstance(node, _COMPREHENSIONS):
            bound.update(_walrus_targets(node))
        elif isinstance(node, ast.NamedExpr) and isinstance(node.target, ast.Name):
            bound.add(node.target.id)
        else:
            bound.update(_target_names(node))
    if scope.kind == "function":
        scope.local = bound - kept - free
        scope.kept = kept
    else:  # module and class names are part of the program's interface: never renamed
        scope.kept = bound | kept


# --- renaming ----------------------------------------------------------------------------------------------


class _Renamer:
    """Renames function-local names in place, numbering placeholders by first occurrence."""

    def __init__(self) -> None:
        self.counter = 0

    def run(self, tree: ast.Module) -> None:
        scope = _Scope("module", None)
        _analyse(scope, list(tree.body), [])
        for stmt in tree.body:
            self.visit(stmt, scope)

    def resolve(self, name: str, scope: _Scope) -> str:
        """The placeholder for ``name`` as seen from ``scope``, or ``name`` itself when it is kept."""
        current: _Scope | None = scope
        first = True
        while current is not None:
            if current.kind == "class" and not first:
                current = current.parent  # class bodies are not visible from nested scopes
                continue
            first = False
            if current.kind == "module" or name in current.kept:
                return name
            if name in current.local:
                if name not in current.mapping:
                    current.mapping[name] = f"${self.counter}"
                    self.counter += 1
                return current.mapping[name]
            current = current.parent
        return name

    def bind_name(self, name: str | None, scope: _Scope) -> str | None:
        return None if name is None else self.resolve(name, scope)

    def visit(self, node: ast.AST, scope: _Scope) -> None:
        if isinstance(node, _SCOPES):
            self.visit_scope(node, scope)
            return
        if isinstance(node, ast.Name):
            node.id = self.resolve(node.id, scope)
        elif isinstance(node, (ast.ExceptHandler, ast.MatchAs, ast.MatchStar)):
            node.name = self.bind_name(node.name, scope)
        elif isinstance(node, ast.MatchMapping):
            node.rest = self.bind_name(node.rest, scope)
        elif isinstance(node, ast.Nonlocal):
            node.names = [self.resolve(n, scope) for n in node.names]
        for child in ast.iter_child_nodes(node):
            self.visit(child, scope)

    def visit_scope(self, node: ast.AST, scope: _Scope) -> None:
        for part in _enclosing_parts(node):
            self.visit(part, scope)
        if isinstance(node, (*_FUNCTIONS, ast.ClassDef)):
            node.name = self.resolve(node.name, scope)
        if isinstance(node, ast.ClassDef):
            inner = _Scope("class", scope)
            _analyse(inner, list(node.body), [])
            for stmt in node.body:
                self.visit(stmt, inner)
            return
        inner = _Scope("function", scope)
        if isinstance(node, _COMPREHENSIONS):
            gens = node.generators
            _analyse(inner, [g.target for g in gens], [])
            inner.local -= set(_walrus_targets(node))  # those bind in the enclosing scope
            body: list[ast.AST] = []
            for i, gen in enumerate(gens):
                body += [gen.target] + ([gen.iter] if i else []) + list(gen.ifs)
            body += [node.key, node.value] if isinstance(node, ast.DictComp) else [node.elt]
            for part in body:
                self.visit(part, inner)
            return
        args = node.args  # type: ignore[attr-defined]
        every = [*args.posonlyargs, *args.args]
        every += [args.vararg] if args.vararg else []
        every += args.kwonlyargs + ([args.kwarg] if args.kwarg else [])
        stmts = [node.body] if isinstance(node, ast.Lambda) else list(node.body)  # type: ignore[attr-defined]
        _analyse(inner, stmts, [a.arg for a in every])
        for a in every:
            a.arg = self.resolve(a.arg, inner)
        for stmt in stmts:
            self.visit(stmt, inner)
