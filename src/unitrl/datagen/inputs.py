"""Argument tuples to call a mined function with: typed random draws, seeded and widened by mutation.

Design choice -- a seeded ``random.Random`` generator of our own, not Hypothesis.  The inputs end up as the
text of the task's tests, so the same source must give byte-identical inputs on every run and machine (a
mining run that is resumed or repeated must produce the same tasks).  Hypothesis is built to search, shrink
and remember across runs, and drawing from its strategies outside ``@given`` (``strategy.example()``) is
explicitly non-deterministic; its ``derandomize`` mode is deterministic but ties the output to the installed
Hypothesis version.  Our types are a handful of literal-friendly ones (:mod:`unitrl.datagen.types`), so a
small generator gives the same distributions in a few lines, with no runtime dependency: ints mostly small
(-10..10, sometimes -100..100), short printable strings, short containers.

Inputs come, in order of priority (duplicates dropped, capped at ``n``):

1. the docstring's doctest calls (the author's own examples);
2. boundary inputs: each type's simplest values (``0``, ``''``, ``[]``) and the constants found in the
   function's body (``if n > 12`` seeds 11, 12, 13), tried against every parameter;
3. random draws from the types;
4. EvalPlus-style type-aware mutation of the inputs so far: ints +-1 and 0/1/-1, strings with a character
   dropped, doubled or case-swapped, containers emptied, with an element dropped, duplicated, mutated or two
   elements swapped.

Every input is a plain value that :func:`literal` writes as Python source which evaluates back to an equal
value (``ast.literal_eval(literal(x)) == x``); anything else (NaN, infinities) is never produced.
"""

from __future__ import annotations

import ast
import math
import random
import string
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from unitrl.datagen.types import ANY, INT, STR, Signature, TypeSpec, list_of

_ALPHABET = string.ascii_lowercase * 3 + string.ascii_uppercase + string.digits + " .,-_!?"


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


class _Drawer:
    """Random values of a :class:`TypeSpec`, mixing in the function's own constants."""

    def __init__(self, rng: random.Random, constants: list[Any]) -> None:
        self.rng = rng
        self.ints = [c for c in constants if type(c) is int]
        self.floats = [c for c in constants if type(c) is float]
        self.strs = [c for c in constants if type(c) is str]
        #: Set per call: every int of the call is drawn from 1..12.  Many functions reject zero or negative
        #: values (months, days, sizes, counts), and independent draws rarely make all arguments valid.
        self.positive = False

    def draw(self, t: TypeSpec, depth: int = 0) -> Any:
        r = self.rng
        k = t.kind
        if k == "int":
            roll = r.random()
            if self.positive:
                return r.randint(1, 12)
            if self.ints and roll < 0.25:
                return r.choice(self.ints) + r.choice((-1, 0, 0, 1))
            return r.randint(-10, 10) if roll < 0.75 else r.randint(-100, 100)
        if k == "float":
            roll = r.random()
            if self.floats and roll < 0.2:
                return r.choice(self.floats)
            if roll < 0.4:
                return float(r.randint(-10, 10))
            return round(r.uniform(-100, 100), r.choice((1, 2, 3)))
        if k == "bool":
            return r.random() < 0.5
        if k == "none":
            return None
        if k == "str":
            if self.strs and r.random() < 0.25:
                return r.choice(self.strs)
            # a small alphabet half the time, so that characters repeat and substrings recur
            alphabet = _ALPHABET if r.random() < 0.5 else "aab c\n "
            return "".join(r.choice(alphabet) for _ in range(r.choice((0, 1, 2, 3, 4, 5, 6, 8, 10))))
        if k == "bytes":
            return bytes(r.randint(0, 255) for _ in range(r.randint(0, 6)))
        if k in ("list", "set"):
            size = r.choice((0, 1, 2, 3, 3, 4, 5, 6, 8)) if depth == 0 else r.randint(0, 3)
            items = [self.draw(t.args[0] if t.args else INT, depth + 1) for _ in range(size)]
            if k == "list":
                # sorted a third of the time: binary searches, merges and the like need sorted input
                if (
                    r.random() < 0.33
                    and len({type(i) for i in items}) == 1
                    and isinstance(items[0], int | float | str)
                ):
                    items.sort()
                return items
            hashable = [i for i in items if _hashable(i)]
            return set(hashable)
        if k == "tuple":
            if t.variadic:
                return tuple(self.draw(t.args[0], depth + 1) for _ in range(r.randint(0, 4)))
            return tuple(self.draw(a, depth + 1) for a in t.args)
        if k == "dict":
            key_t, val_t = t.args if len(t.args) == 2 else (STR, INT)
            out: dict[Any, Any] = {}
            for _ in range(r.randint(0, 4) if depth == 0 else r.randint(0, 2)):
                key = self.draw(key_t, depth + 1)
                if _hashable(key):
                    out[key] = self.draw(val_t, depth + 1)
            return out
        if k == "union":
            members = list(t.args)
            # None is one value: draw it less often than its share of the union
            if any(m.kind == "none" for m in members) and r.random() < 0.8:
                members = [m for m in members if m.kind != "none"] or members
            return self.draw(r.choice(members), depth)
        return self.draw(r.choice((INT, INT, STR, list_of(INT))), depth)  # any


def _hashable(value: Any) -> bool:
    try:
        hash(value)
    except TypeError:
        return False
    return True


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
        elems = [e for e in simplest(t.args[0] if t.args else INT) if _hashable(e)]
        return [set(), set(elems[1:3])]
    if k == "tuple":
        if t.variadic:
            elems = simplest(t.args[0])
            return [(), tuple(elems[:2])]
        firsts = [simplest(a) for a in t.args]
        return [tuple(f[0] for f in firsts), tuple(f[min(1, len(f) - 1)] for f in firsts)]
    if k == "dict":
        key_t, val_t = t.args if len(t.args) == 2 else (STR, INT)
        keys = [x for x in simplest(key_t) if _hashable(x)]
        vals = simplest(val_t)
        return [{}, {keys[min(1, len(keys) - 1)]: vals[min(1, len(vals) - 1)]}] if keys else [{}]
    if k == "union":
        return [v for m in t.args for v in simplest(m)[:2]]
    return [0, "", []]


def mutate(value: Any, t: TypeSpec, rng: random.Random, drawer: _Drawer | None = None) -> Any:
    """A small, type-preserving change of ``value`` (EvalPlus-style type-aware mutation)."""
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
            items = [drawer.draw(elem_t, 1)] if drawer is not None and (k == "list" or t.variadic) else items
        else:
            op = rng.randrange(5 if (k == "list" or t.variadic or k not in ("tuple",)) else 1)
            i = rng.randrange(len(items))
            if op == 0 or (len(items) < 2 and op == 3):
                sub_t = elem_t if k != "tuple" or t.variadic else (t.args[i] if i < len(t.args) else ANY)
                items[i] = mutate(items[i], sub_t, rng, drawer)
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
        elif drawer is not None:
            new = drawer.draw(t.args[0] if t.args else INT, 1)
            if _hashable(new):
                items.append(new)
        return set(items)
    if isinstance(value, dict):
        items = list(value.items())
        if items and rng.random() < 0.5:
            items.pop(rng.randrange(len(items)))
        elif items:
            key, val = items[rng.randrange(len(items))]
            value = dict(value)
            value[key] = mutate(val, t.args[1] if len(t.args) == 2 else ANY, rng, drawer)
            return value
        return dict(items)
    return value


def _spec_of(value: Any) -> TypeSpec | None:
    from unitrl.datagen.types import type_of_value

    return type_of_value(value)


def _relate(args: list[Any], rng: random.Random) -> list[Any]:
    """Sometimes tie an argument to an earlier one: a string to a slice or character of an earlier string,
    an int to a valid index or the length of an earlier sequence.  Independent draws almost never make
    ``find(s, sub)`` find anything or ``nth(xs, i)`` hit the list."""
    out = list(args)
    for i in range(1, len(out)):
        if rng.random() >= 0.35:
            continue
        earlier = [a for a in out[:i] if isinstance(a, str | list | tuple) and a]
        if not earlier:
            continue
        src = rng.choice(earlier)
        if type(out[i]) is str and isinstance(src, str):
            a = rng.randrange(len(src))
            out[i] = src[a] if rng.random() < 0.5 else src[a : a + rng.randint(1, 3)]
        elif type(out[i]) is int:
            out[i] = rng.choice((rng.randrange(len(src)), len(src), -1))
    return out


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
    rng = random.Random(f"unitrl-inputs:{signature.name}:{seed}")
    consts = list(constants)
    drawer = _Drawer(rng, consts)
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
    # 3. random draws; 4. mutation of what we have
    n_random = max(1, int(n * (1 - mutation_share)))
    attempts = 0
    while len(out) < n_random and attempts < n * 20:
        attempts += 1
        count = rng.randint(must, len(positional)) if rng.random() < 0.3 else must
        drawer.positive = rng.random() < 0.25
        args = [drawer.draw(t) for t in types_of(count)]
        if vararg is not None:
            args += [drawer.draw(vararg.type) for _ in range(rng.randint(0, 2))]
        kwargs = tuple((p.name, drawer.draw(p.type)) for p in keywords)
        add(CallInput(tuple(_relate(args, rng)), kwargs))
    drawer.positive = False
    pool = list(out)
    attempts = 0
    while len(out) < n and pool and attempts < n * 20:
        attempts += 1
        parent = rng.choice(pool)
        args = list(parent.args)
        kwargs = list(parent.kwargs)
        positions = len(args) + len(kwargs)
        if positions == 0:
            break
        i = rng.randrange(positions)
        if i < len(args):
            t = positional[i].type if i < len(positional) else (vararg.type if vararg else ANY)
            args[i] = mutate(args[i], t, rng, drawer)
        else:
            j = i - len(args)
            p = next((q for q in keywords if q.name == kwargs[j][0]), None)
            kwargs[j] = (kwargs[j][0], mutate(kwargs[j][1], p.type if p else ANY, rng, drawer))
        add(CallInput(tuple(args), tuple(kwargs)))
    return out
