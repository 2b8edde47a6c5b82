"""Hypothesis strategies for the argument types of :mod:`unitrl.datagen.types`, drawn deterministically.

Input generation (:mod:`unitrl.datagen.inputs`) takes its random draws from Hypothesis: each parameter gets a
strategy built from its inferred :class:`~unitrl.datagen.types.TypeSpec`, seeded with the constants of the
function's body (``st.sampled_from(constants)`` as one branch of an ``st.one_of``), and whole calls are drawn
as examples of one composite strategy.

Why explicit strategies rather than ``st.from_type``: the values end up written into the tests, so they
must be small, printable literals that read back equal (``ast.literal_eval(literal(x)) == x``).
``st.from_type(int)`` draws unbounded integers, ``st.from_type(str)`` arbitrary Unicode (and needs the
on-disk character-map cache) and ``st.from_type(float)`` NaN and infinities, so each grammar kind gets the
bounded strategy ``from_type`` would give with literal-friendly bounds: ``st.integers(-10, 10)`` (sometimes
-100..100, or 1..12 for a whole call), strings over a printable alphabet, lists of at most 8 elements,
finite floats rounded to three decimals.

Determinism.  The same source must give byte-identical inputs on every run (a resumed or repeated mining
run must produce the same tasks).  Drawing outside ``@given`` (``strategy.example()``) is not
deterministic, so :func:`draw_examples` runs a ``@given``-decorated collector with an explicit
``@seed`` (derived from a text key: the function's name, types and the caller's seed), ``derandomize=True``,
``database=None`` and only the generate phase.  Two more sources of variation are switched off:

* Recent Hypothesis versions (6.170 here) mix into their draws constants they collect from the
  *caller's* local modules (every non-site-packages module in ``sys.modules``, this package included) and
  cache them under ``.hypothesis/`` in the working directory.  That would tie the inputs to whatever
  modules happen to be imported and to the text of unrelated code, so :func:`draw_examples` runs with that
  pool empty (and with a cache of permitted constants of its own).
* String strategies are built from ``st.sampled_from(alphabet)`` rather than ``st.text``, which would load
  (and write to the working directory) Hypothesis' Unicode character map.

The output is a function of the Hypothesis version (recorded as :data:`HYPOTHESIS_VERSION` in each mined
task's ``meta``): a different Hypothesis may draw different inputs from the same seed.

Speed.  Hypothesis costs far more per value than ``random.Random`` (every choice is recorded for
shrinking, and each example has a fixed engine overhead), so :func:`draw_values` draws several values per
example, and the caller keeps the number of draws close to what it needs.  Measured on a loaded 2-core
machine: about 35 ms per mined function for its inputs (the oracle's 40 calls and the 12 calls of the
type probe), against about 1 ms for the ``random.Random`` generator used before.
"""

from __future__ import annotations

import contextlib
import hashlib
import math
import string
import threading
from collections.abc import Callable, Iterator, Sequence
from typing import Any, TypeVar

import hypothesis
from hypothesis import HealthCheck, Phase, Verbosity, given, settings
from hypothesis import seed as hypothesis_seed
from hypothesis import strategies as st

from unitrl.datagen.types import INT, STR, TypeSpec, hashable, list_of

__all__ = [
    "HYPOTHESIS_VERSION",
    "DrawRandom",
    "call_strategy",
    "draw_columns",
    "draw_examples",
    "draw_values",
    "from_rng",
    "relate",
    "value_strategy",
]

#: The installed Hypothesis version: inputs are reproducible for a given version.
HYPOTHESIS_VERSION: str = hypothesis.__version__

#: Characters of random strings: lowercase letters weighted up so that substrings and repeats occur.
ALPHABET = string.ascii_lowercase * 3 + string.ascii_uppercase + string.digits + " .,-_!?"
#: A tiny alphabet (drawn half the time): characters repeat, words split, lines break.
SMALL_ALPHABET = "aab c\n "

T = TypeVar("T")

_SETTINGS = settings(
    derandomize=True,
    database=None,
    phases=[Phase.generate],
    deadline=None,
    suppress_health_check=list(HealthCheck),
    verbosity=Verbosity.quiet,
    report_multiple_bugs=False,
    print_blob=False,
    max_examples=1,  # replaced per call
)
_LOCK = threading.Lock()


_RANGES: dict[tuple[int, int], st.SearchStrategy[int]] = {}


def _integers(a: int, b: int) -> st.SearchStrategy[int]:
    """``st.integers(a, b)``, built once per range (building a strategy costs more than drawing from it)."""
    strategy = _RANGES.get((a, b))
    if strategy is None:
        strategy = st.integers(a, b)
        if len(_RANGES) < 4096:
            _RANGES[(a, b)] = strategy
    return strategy


class DrawRandom:
    """The part of :class:`random.Random`'s interface that generation uses, backed by Hypothesis draws.

    Code written against ``random.Random`` (:func:`relate`, :func:`unitrl.datagen.inputs.mutate`) runs
    unchanged inside a strategy: every choice it makes becomes a Hypothesis choice."""

    def __init__(self, draw: Callable[[st.SearchStrategy[Any]], Any]) -> None:
        self._draw = draw

    def random(self) -> float:
        return self._draw(_integers(0, 999)) / 1000

    def randrange(self, n: int) -> int:
        if n <= 0:
            raise ValueError("empty range for randrange()")
        return self._draw(_integers(0, n - 1))

    def randint(self, a: int, b: int) -> int:
        return self._draw(_integers(a, b))

    def choice(self, seq: Sequence[T]) -> T:
        return seq[self.randrange(len(seq))]

    def draw(self, strategy: st.SearchStrategy[T]) -> T:
        return self._draw(strategy)


@st.composite
def _with_rng(draw: Callable[[st.SearchStrategy[Any]], Any], fn: Callable[[DrawRandom], Any]) -> Any:
    return fn(DrawRandom(draw))


def from_rng(fn: Callable[[DrawRandom], T]) -> st.SearchStrategy[T]:
    """A strategy whose examples are ``fn(rng)``, every random choice of ``fn`` drawn by Hypothesis."""
    return _with_rng(fn)


def _maybe_sorted(pair: tuple[list[Any], int]) -> list[Any]:
    """Sorted a third of the time: binary searches, merges and the like need sorted input."""
    items, roll = pair
    if roll == 0 and items and len({type(i) for i in items}) == 1 and isinstance(items[0], int | float | str):
        return sorted(items)
    return items


def _to_dict(pairs: list[tuple[Any, Any]]) -> dict[Any, Any]:
    return {k: v for k, v in pairs if hashable(k)}


def _to_set(items: list[Any]) -> set[Any]:
    return {i for i in items if hashable(i)}


def _round(pair: tuple[float, int]) -> float:
    value = round(pair[0], pair[1])
    return value if math.isfinite(value) else 0.0


class _Builder:
    """Strategies for the types of one function, seeded with its constants (cached per builder).

    Constants go to ``st.sampled_from`` as lists (defensively): Hypothesis caches some strategies by their
    arguments, where ``(2,) == (2.0,)`` would let float constants share the strategy of int ones and make
    the draws depend on what was built earlier in the process; lists are unhashable and never cached."""

    def __init__(self, constants: Sequence[Any]) -> None:
        self.ints = tuple(c for c in constants if type(c) is int)
        self.floats = tuple(c for c in constants if type(c) is float and math.isfinite(c))
        self.strs = tuple(c for c in constants if type(c) is str)
        self._cache: dict[tuple[TypeSpec, bool, int], st.SearchStrategy[Any]] = {}

    def of(self, t: TypeSpec, positive: bool = False, depth: int = 0) -> st.SearchStrategy[Any]:
        key = (t, positive, min(depth, 1))
        if key not in self._cache:
            self._cache[key] = self._build(t, positive, min(depth, 1))
        return self._cache[key]

    def _build(self, t: TypeSpec, positive: bool, depth: int) -> st.SearchStrategy[Any]:
        k = t.kind
        if k == "int":
            if positive:
                # every int of the call in 1..12: many functions reject zero or negative values (months,
                # days, sizes, counts), and independent draws rarely make all arguments valid at once
                return st.integers(1, 12)
            small, wide = st.integers(-10, 10), st.integers(-100, 100)
            if self.ints:
                near = st.tuples(st.sampled_from(list(self.ints)), st.sampled_from((-1, 0, 0, 1))).map(sum)
                return st.one_of(near, small, small, wide)
            return st.one_of(small, small, wide)
        if k == "float":
            whole = st.integers(-10, 10).map(float)
            finite = st.floats(-100, 100, allow_nan=False, allow_infinity=False)
            decimal = st.tuples(finite, st.sampled_from((1, 2, 3))).map(_round)
            branches = [whole, decimal, decimal, decimal]
            if self.floats:
                branches.insert(0, st.sampled_from(list(self.floats)))
            return st.one_of(*branches)
        if k == "bool":
            return st.booleans()
        if k == "none":
            return st.none()
        if k == "str":
            text = st.one_of(
                st.lists(st.sampled_from(ALPHABET), max_size=10).map("".join),
                st.lists(st.sampled_from(SMALL_ALPHABET), max_size=10).map("".join),
            )
            return st.one_of(st.sampled_from(list(self.strs)), text, text, text) if self.strs else text
        if k == "bytes":
            return st.binary(max_size=6)
        elem = t.args[0] if t.args else INT
        if k == "list":
            items = st.lists(self.of(elem, positive, depth + 1), max_size=8 if depth == 0 else 3)
            return st.tuples(items, st.integers(0, 2)).map(_maybe_sorted)
        if k == "set":
            return st.lists(self.of(elem, positive, depth + 1), max_size=6 if depth == 0 else 3).map(_to_set)
        if k == "tuple":
            if t.variadic:
                return st.lists(self.of(elem, positive, depth + 1), max_size=4).map(tuple)
            return st.tuples(*(self.of(a, positive, depth + 1) for a in t.args))
        if k == "dict":
            key_t, val_t = t.args if len(t.args) == 2 else (STR, INT)
            pair = st.tuples(self.of(key_t, positive, depth + 1), self.of(val_t, positive, depth + 1))
            return st.lists(pair, max_size=4 if depth == 0 else 2).map(_to_dict)
        if k == "union":
            members = [self.of(m, positive, depth) for m in t.args if m.kind != "none"]
            if len(members) < len(t.args):
                # None is one value: drawn less often than its share of the union
                members = [*members, *members, *members, *members, st.none()]
            return st.one_of(*members)
        # any: a few common types
        common = self.of(INT, positive, depth)
        return st.one_of(
            common, common, self.of(STR, positive, depth), self.of(list_of(INT), positive, depth)
        )


def value_strategy(
    t: TypeSpec, constants: Sequence[Any] = (), *, positive: bool = False, depth: int = 0
) -> st.SearchStrategy[Any]:
    """Small literal values of type ``t``, mixing in the function's own ``constants`` (``depth`` 1: the
    shorter containers of an element type)."""
    return _Builder(constants).of(t, positive, depth)


def relate(args: list[Any], rng: Any) -> list[Any]:
    """Sometimes tie an argument to an earlier one: a string to a slice or character of an earlier string,
    an int to a valid index or the length of an earlier sequence.  Independent draws almost never make
    ``find(s, sub)`` find anything or ``nth(xs, i)`` hit the list.  ``rng``: a :class:`DrawRandom` (or a
    ``random.Random``)."""
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


def call_strategy(
    positional: Sequence[TypeSpec],
    must: int,
    vararg: TypeSpec | None,
    keywords: Sequence[tuple[str, TypeSpec]],
    constants: Sequence[Any] = (),
) -> st.SearchStrategy[tuple[tuple[Any, ...], tuple[tuple[str, Any], ...]]]:
    """Whole calls ``(args, kwargs)``: the ``must`` required positional parameters always, the optional ones
    (up to ``len(positional)``) in about a third of the calls, zero to two ``*args`` extras, and each
    keyword parameter; a quarter of the calls draw every int from 1..12, and some arguments are tied to
    earlier ones (:func:`relate`)."""
    builder = _Builder(constants)
    types = list(positional)
    kw = list(keywords)

    def one(rng: DrawRandom) -> tuple[tuple[Any, ...], tuple[tuple[str, Any], ...]]:
        roll = rng.randrange(10_000)  # one draw for two independent rolls: each draw has a cost
        count = rng.randint(must, len(types)) if len(types) > must and roll % 100 < 30 else must
        positive = roll // 100 < 25
        args = [rng.draw(builder.of(t, positive)) for t in types[:count]]
        if vararg is not None:
            args += rng.draw(st.lists(builder.of(vararg, positive), max_size=2))
        kwargs = tuple((name, rng.draw(builder.of(t, positive))) for name, t in kw)
        return tuple(relate(args, rng)), kwargs

    return from_rng(one)


_OWN_CONSTANTS_CACHE: Any = None


@contextlib.contextmanager
def _without_local_constants() -> Iterator[None]:
    """Run Hypothesis without the constants it collects from the caller's modules (see the module
    docstring).  A no-op on Hypothesis versions without that feature.

    Hypothesis caches, per kind of draw, the constants it may use; that cache is swapped for one of our own
    while we draw, so that entries made by other Hypothesis users in this process (with their local
    constants) never reach our draws, and ours stay warm from one run to the next."""
    global _OWN_CONSTANTS_CACHE
    try:
        from hypothesis.internal.conjecture import providers
    except ImportError:  # pragma: no cover - layout of another Hypothesis version
        yield
        return
    original = getattr(providers, "_get_local_constants", None)
    empty_type = getattr(providers, "Constants", None)
    cache = getattr(providers, "CONSTANTS_CACHE", None)
    if original is None or empty_type is None or cache is None:  # pragma: no cover
        yield
        return
    if _OWN_CONSTANTS_CACHE is None:
        _OWN_CONSTANTS_CACHE = type(cache)(getattr(cache, "max_size", 1024))
    empty = empty_type()
    providers._get_local_constants = lambda: empty  # type: ignore[attr-defined]
    providers.CONSTANTS_CACHE = _OWN_CONSTANTS_CACHE  # type: ignore[attr-defined]
    try:
        yield
    finally:
        providers._get_local_constants = original  # type: ignore[attr-defined]
        providers.CONSTANTS_CACHE = cache  # type: ignore[attr-defined]


def seed_of(key: str) -> int:
    """A 64-bit seed from a text key (stable across processes, unlike ``hash``)."""
    return int.from_bytes(hashlib.sha256(key.encode()).digest()[:8], "big")


def draw_examples(strategy: st.SearchStrategy[T], n: int, key: str) -> list[T]:
    """Up to ``n`` examples of ``strategy`` (fewer when Hypothesis exhausts a small space), identical on
    every call with the same ``key`` and Hypothesis version."""
    if n <= 0:
        return []
    found: list[T] = []

    @hypothesis_seed(seed_of(key))
    @settings(_SETTINGS, max_examples=n)
    @given(strategy)
    def collect(value: T) -> None:
        found.append(value)

    with _LOCK, _without_local_constants():
        collect()
    return found


def draw_values(strategy: st.SearchStrategy[T], count: int, key: str, *, per_example: int = 8) -> list[T]:
    """About ``count`` values of ``strategy`` (see :func:`draw_examples`), ``per_example`` to each
    Hypothesis example: the engine's fixed cost per example is larger than a small draw, so batching
    makes generation several times faster.  The first example of a run is Hypothesis' simplest one."""
    if count <= 0:
        return []
    batch = st.lists(strategy, min_size=per_example, max_size=per_example)
    return [v for group in draw_examples(batch, -(-count // per_example) + 1, key) for v in group]


def draw_columns(
    types: Sequence[TypeSpec], constants: Sequence[Any], count: int, key: str
) -> list[list[Any]]:
    """About ``count`` values of each of ``types`` (one Hypothesis run for all of them): one list per type."""
    builder = _Builder(constants)
    rows = draw_values(st.tuples(*(builder.of(t) for t in types)), count, key)
    return [[row[k] for row in rows] for k in range(len(types))]
