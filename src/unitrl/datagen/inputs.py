"""Argument tuples to call a mined function with: boundary values, Hypothesis draws, EvalPlus-style mutation.

Inputs come, in order of priority (duplicates dropped, capped at ``n``):

1. the docstring's doctest calls (the author's own examples);
2. boundary inputs: each type's simplest values (``0``, ``''``, ``[]``) and the constants found in the
   function's body (``if n > 12`` seeds 11, 12, 13), tried against every parameter;
3. random draws from Hypothesis strategies built from the inferred types
   (:mod:`unitrl.datagen.strategies`), seeded with the same body constants (``st.sampled_from`` mixed into
   each scalar strategy): ints mostly small (-10..10, sometimes -100..100, in a quarter of the calls all
   1..12), short printable strings, short containers, and now and then an argument tied to an earlier one
   (a substring of an earlier string, an index into an earlier list);
4. EvalPlus-style type-aware mutation of the inputs so far, its choices drawn by Hypothesis too: ints +-1
   and 0/1/-1, strings with a character dropped, doubled or case-swapped, containers emptied, with an
   element dropped, duplicated, mutated or two elements swapped.

Why Hypothesis, and how it stays reproducible.  Hypothesis' strategies are the standard, well-tested way to
describe "values of this type", and its engine spreads draws better than independent random picks (it
starts from the simplest example and avoids repeating a choice sequence).  But the inputs end up as the
text of the task's tests, so the same source must give byte-identical inputs on every run and machine (a
mining run that is resumed or repeated must produce the same tasks), while Hypothesis is built to search,
shrink and remember across runs, and ``strategy.example()`` is explicitly non-deterministic.  So draws go
through a ``@given``-decorated collector with an explicit seed derived from the function's name, types and
``seed``, ``derandomize=True``, no database and only the generate phase, with Hypothesis' pool of constants
from the caller's own modules switched off (see :mod:`unitrl.datagen.strategies`).  The inputs are then a
function of the source, ``seed`` and the Hypothesis version, which each mined task records in its ``meta``.
Cost: about 40 ms per function on this project's 2-core test machine (the seeded ``random.Random``
generator used before took about 1 ms), small next to running the function and its mutants in the
sandbox.

Every input is a plain value that :func:`literal` writes as Python source which evaluates back to an equal
value (``ast.literal_eval(literal(x)) == x``); anything else (NaN, infinities) is never produced.
"""

from __future__ import annotations

import ast
import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from unitrl.datagen.strategies import DrawRandom, call_strategy, draw_values, from_rng, value_strategy
from unitrl.datagen.types import ANY, INT, STR, Signature, TypeSpec, hashable

#: What :func:`mutate` needs of its random source: ``random.Random`` or a Hypothesis-backed ``DrawRandom``.
Rng = Any


def literal(value: Any) -> str:
    """Python source for a plain value; sets are written sorted so the text never depends on hash order."""
    if isinstance(value, bool) or value is None or isinstance(value, int | str | bytes):
        return repr(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError(f"{value!r} has no literal")
        return repr(value)
    if isinstance(value, list):
        return "[" + ", ".join(literal(v) for v in value) + "]"
    if isinstance(value, tuple):
        inner = ", ".join(literal(v) for v in value)
        return f"({inner},)" if len(value) == 1 else f"({inner})"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{literal(k)}: {literal(v)}" for k, v in value.items()) + "}"
    if isinstance(value, set | frozenset) and type(value) in (set, frozenset):
        if not value:
            return "set()" if type(value) is set else "frozenset()"
        inner = "{" + ", ".join(sorted(literal(v) for v in value)) + "}"
        return inner if type(value) is set else f"frozenset({inner})"
    raise ValueError(f"{type(value).__name__} has no literal")


def is_literal(value: Any) -> bool:
    """Whether :func:`literal` writes ``value`` as text that evaluates back to an equal value."""
    try:
        return _same(ast.literal_eval(literal(value)), value)
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
        return False


def _same(a: Any, b: Any) -> bool:
    """Equal and of the same types all the way down (``1 == 1.0 == True`` is not good enough for inputs)."""
    if type(a) is not type(b):
        return False
    if isinstance(a, list | tuple):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(_same(v, b[k]) for k, v in a.items())
    return bool(a == b)


@dataclass(frozen=True)
class CallInput:
    """One call: positional arguments and keyword arguments (as sorted pairs, to stay hashable)."""

    args: tuple[Any, ...]
    kwargs: tuple[tuple[str, Any], ...] = ()

    def render(self, name: str) -> str:
        """The call as source text: ``name(1, 'a', key=[2])``."""
        parts = [literal(a) for a in self.args] + [f"{k}={literal(v)}" for k, v in self.kwargs]
        return f"{name}({', '.join(parts)})"


def body_constants(source: str, name: str | None = None) -> list[Any]:
    """Int, float and short string constants of a function's body (docstring excluded), in source order."""
    tree = ast.parse(source)
    func = next(
        (
            n
            for n in ast.walk(tree)
            if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef) and n.name == name
        ),
        tree,
    )
    body = getattr(func, "body", [])
    if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
        body = body[1:]
    found: list[Any] = []
    for stmt in body:
        for node in ast.walk(stmt):
            if not isinstance(node, ast.Constant) or isinstance(node.value, bool):
                continue
            v = node.value
            ok = (isinstance(v, int) and abs(v) <= 10_000) or (isinstance(v, float) and math.isfinite(v))
            ok = ok or (isinstance(v, str) and len(v) <= 20)
            if ok and not any(_same(v, f) for f in found):
                found.append(v)
    return found


def simplest(t: TypeSpec) -> list[Any]:
    """Boundary values of a type: zero, one, minus one, empty containers, the shortest non-empty ones."""
    k = t.kind
    if k == "int":
        return [0, 1, -1, 2]
    if k == "float":
        return [0.0, 1.0, -1.5, 0.5]
    if k == "bool":
        return [False, True]
    if k == "none":
        return [None]
    if k == "str":
        return ["", "a", "ab", "Hello World"]
    if k == "bytes":
        return [b"", b"a"]
    if k == "list":
        elems = simplest(t.args[0] if t.args else INT)
        return [[], elems[1:2], elems[:3], [elems[-1], elems[0], elems[-1]]]
    if k == "set":
        elems = [e for e in simplest(t.args[0] if t.args else INT) if hashable(e)]
        return [set(), set(elems[1:3])]
    if k == "tuple":
        if t.variadic:
            elems = simplest(t.args[0])
            return [(), tuple(elems[:2])]
        firsts = [simplest(a) for a in t.args]
        return [tuple(f[0] for f in firsts), tuple(f[min(1, len(f) - 1)] for f in firsts)]
    if k == "dict":
        key_t, val_t = t.args if len(t.args) == 2 else (STR, INT)
        keys = [x for x in simplest(key_t) if hashable(x)]
        vals = simplest(val_t)
        return [{}, {keys[min(1, len(keys) - 1)]: vals[min(1, len(vals) - 1)]}] if keys else [{}]
    if k == "union":
        return [v for m in t.args for v in simplest(m)[:2]]
    return [0, "", []]


def mutate(value: Any, t: TypeSpec, rng: Rng, fill: Callable[[TypeSpec], Any] | None = None) -> Any:
    """A small, type-preserving change of ``value`` (EvalPlus-style type-aware mutation).

    ``rng`` makes the choices (a :class:`~unitrl.datagen.strategies.DrawRandom` during generation, or a
    ``random.Random``); ``fill(t)`` gives a new element of type ``t`` for growing a container (none are
    grown without it)."""
    k = t.kind
    if k == "union" or k == "any":
        t = _spec_of(value) or t
        k = t.kind
    if type(value) is int:
        return rng.choice((value + 1, value - 1, 0, 1, -1, -value, value * 2))
    if type(value) is float:
        return rng.choice((value + 1.0, value - 1.0, 0.0, -value, value / 2))
    if type(value) is bool:
        return not value
    if type(value) is str:
        if not value:
            return rng.choice(("a", " ", "0"))
        i = rng.randrange(len(value))
        return rng.choice(
            (value[:i] + value[i + 1 :], value[:i] + value[i] + value[i:], value.swapcase(), value[::-1], "")
        )
    if isinstance(value, list | tuple):
        items = list(value)
        elem_t = (t.args[0] if t.args and (k == "list" or t.variadic) else None) or ANY
        if not items:
            items = [fill(elem_t)] if fill is not None and (k == "list" or t.variadic) else items
        else:
            op = rng.randrange(5 if (k == "list" or t.variadic or k not in ("tuple",)) else 1)
            i = rng.randrange(len(items))
            if op == 0 or (len(items) < 2 and op == 3):
                sub_t = elem_t if k != "tuple" or t.variadic else (t.args[i] if i < len(t.args) else ANY)
                items[i] = mutate(items[i], sub_t, rng, fill)
            elif op == 1:
                items = []
            elif op == 2:
                del items[i]
            elif op == 3:
                j = rng.randrange(len(items))
                items[i], items[j] = items[j], items[i]
            else:
                items.insert(i, items[i])
        return tuple(items) if isinstance(value, tuple) else items
    if isinstance(value, set):
        items = sorted(value, key=literal)
        if items and rng.random() < 0.5:
            items.pop(rng.randrange(len(items)))
        elif fill is not None:
            new = fill(t.args[0] if t.args else INT)
            if hashable(new):
                items.append(new)
        return set(items)
    if isinstance(value, dict):
        items = list(value.items())
        if items and rng.random() < 0.5:
            items.pop(rng.randrange(len(items)))
        elif items:
            key, val = items[rng.randrange(len(items))]
            value = dict(value)
            value[key] = mutate(val, t.args[1] if len(t.args) == 2 else ANY, rng, fill)
            return value
        return dict(items)
    return value


def _spec_of(value: Any) -> TypeSpec | None:
    from unitrl.datagen.types import type_of_value

    return type_of_value(value)


def generate_inputs(
    signature: Signature,
    *,
    n: int = 40,
    seed: int = 0,
    constants: Iterable[Any] = (),
    mutation_share: float = 0.3,
    boundary_share: float = 0.4,
) -> list[CallInput]:
    """Up to ``n`` distinct calls of the function ``signature`` describes, deterministic in ``seed``.

    Required positional parameters are always passed; parameters with defaults are passed in some calls and
    left out in others (so both the default and other values are exercised), except after a non-literal
    default on a parameter of guessed type, where passing stops; ``*args`` gets zero to two extra
    arguments; ``**kwargs`` and keyword-only parameters with defaults never get anything.
    """
    consts = list(constants)
    positional = [p for p in signature.params if p.kind == "positional"]
    vararg = next((p for p in signature.params if p.kind == "vararg"), None)
    # a default that is not a literal (`pat=re.compile(...).match`) on a parameter whose type is only a
    # guess is left alone, and so is every positional parameter after it: a made-up value there would
    # mostly test what the function does with garbage
    stop = next(
        (
            i
            for i, p in enumerate(positional)
            if p.has_default and not p.default_is_literal and p.evidence in ("name", "unknown", "default")
        ),
        None,
    )
    if stop is not None:
        positional, vararg = positional[:stop], None
    keywords = [p for p in signature.params if p.kind == "keyword" and not p.has_default]
    must = sum(not p.has_default for p in positional)

    seen: set[str] = set()
    out: list[CallInput] = []

    def add(call: CallInput) -> None:
        if len(out) >= n:
            return
        if not all(is_literal(a) for a in call.args) or not all(is_literal(v) for _, v in call.kwargs):
            return
        text = call.render("f")
        if text not in seen and len(text) <= 400:
            seen.add(text)
            out.append(call)

    def types_of(count: int) -> list[TypeSpec]:
        return [p.type for p in positional[:count]]

    # 1. doctest examples
    for ex in signature.examples:
        add(CallInput(tuple(ex.args), tuple(sorted(ex.kwargs.items()))))
    # 2. boundary values: every parameter at each of its simplest values / constants, the others at their
    # first simplest value (or default)
    kw_base = tuple((p.name, simplest(p.type)[0]) for p in keywords)
    add(CallInput(tuple(simplest(t)[0] for t in types_of(must)), kw_base))
    base_types = types_of(len(positional))
    base = [p.default if p.has_default and p.default_is_literal else simplest(p.type)[0] for p in positional]
    per_param: list[list[Any]] = []
    for t in base_types:
        values = simplest(t)[1:]
        core = next((m for m in t.args if m.kind != "none"), t) if t.optional else t
        scalar = {"int": int, "float": float, "str": str}.get(core.kind)
        for c in consts:
            if scalar is not None and type(c) is scalar:
                values += [c] if scalar is str else [c - 1, c, c + 1]
        per_param.append(values)
    # round-robin over the parameters, so that a budget cut still leaves each of them some boundary values
    for j in range(max((len(v) for v in per_param), default=0)):
        for i, values in enumerate(per_param):
            if j < len(values) and len(out) < n * boundary_share:  # leave room for random draws
                args = list(base)
                args[i] = values[j]
                add(CallInput(tuple(args), kw_base))
    # 3. random draws (Hypothesis, seeded by the function and its types); 4. mutation of what we have
    key = f"unitrl-inputs:{signature}:{seed}"
    n_random = max(1, int(n * (1 - mutation_share)))
    if len(out) < n_random:
        need = n_random - len(out)
        strategy = call_strategy(
            [p.type for p in positional],
            must,
            vararg.type if vararg is not None else None,
            [(p.name, p.type) for p in keywords],
            consts,
        )
        # a few more than needed: some draws repeat earlier calls or fail the literal check
        for args, kwargs in draw_values(strategy, need + need // 4 + 1, key):
            if len(out) >= n_random:
                break
            add(CallInput(args, kwargs))
    pool = list(out)
    if len(out) < n and any(c.args or c.kwargs for c in pool):
        fills: dict[TypeSpec, Any] = {}

        def mutant_call(rng: DrawRandom) -> CallInput:
            def fill(t: TypeSpec) -> Any:
                if t not in fills:
                    fills[t] = value_strategy(t, consts, depth=1)
                return rng.draw(fills[t])

            parent = rng.choice([c for c in pool if c.args or c.kwargs])
            args = list(parent.args)
            kwargs = list(parent.kwargs)
            i = rng.randrange(len(args) + len(kwargs))
            if i < len(args):
                t = positional[i].type if i < len(positional) else (vararg.type if vararg else ANY)
                args[i] = mutate(args[i], t, rng, fill)
            else:
                j = i - len(args)
                p = next((q for q in keywords if q.name == kwargs[j][0]), None)
                kwargs[j] = (kwargs[j][0], mutate(kwargs[j][1], p.type if p else ANY, rng, fill))
            return CallInput(tuple(args), tuple(kwargs))

        need = n - len(out)
        # twice as many as needed: mutants often repeat a call (0 -> 0, a one-element list reversed)
        for call in draw_values(from_rng(mutant_call), 2 * need + 2, key + ":mutate"):
            if len(out) >= n:
                break
            add(call)
    return out
