"""The reference as its own oracle: run it on generated inputs and turn what it does into test cases.

Each input becomes a bare-expression test (``f(1, 'a')``) of one sample that runs the reference in the
sandbox; the executor reports the ``repr`` of each value.  A call is kept only when its outcome is one a
test can state reliably:

- it returned within the per-test deadline a value whose ``repr`` is a Python literal
  (``ast.literal_eval`` reads it back: numbers, strings, bytes, None and containers of those; NaN,
  infinities and opaque objects are dropped) and not too long to read;
- it did the same under a second executor whose ``PYTHONHASHSEED`` differs (a function returning
  ``list(some_set)`` gives another order under another seed: dropped, since no fixed assert could hold);
- or it raised an exception of a builtin type (``ValueError``, ``IndexError`` ...), the same under both
  seeds; at most ``max_raises`` of those are kept, and never ``TypeError``/``AttributeError``-style ones,
  which mostly mean that the generated input had the wrong type rather than that the spec rejects it.

A call that times out is dropped, and the calls after it in the same sample (which the executor reports as
``not_run``) are retried in the next round.  The kept :class:`OracleCase`\\ s carry the assert text:
``assert f(<args>) == <value>`` (``is`` for None, True and False), ``assert math.isclose(f(<args>),
<value>, rel_tol=1e-9)`` for float values (the task then needs ``import math`` in its ``test_setup``),
``assert _close(...)`` for floats inside containers (:data:`CLOSE_SETUP` defines it), a ``try/except/else``
block for exceptions, and for a call that changes a list/dict/set argument in place (``heappush``) a
three-line test that names the argument, calls, and checks the argument afterwards.

:func:`refine_signature` also lives here because it needs the sandbox: it replaces argument types that
were only guessed (from names) by the ones the reference accepts, trying a few common types on it.
"""

from __future__ import annotations

import ast
import builtins
import math
from collections import Counter
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

from unitrl.datagen.inputs import CallInput, generate_inputs, is_literal, literal, simplest
from unitrl.datagen.strategies import draw_columns
from unitrl.datagen.types import BYTES, FLOAT, INT, STR, Signature, TypeSpec, list_of
from unitrl.execution import Sample, SampleResult, TestResult

if TYPE_CHECKING:
    from unitrl.execution import Executor

#: Builtin exceptions a test may expect: those a specification plausibly asks for.
_EXPECTABLE = frozenset(
    {
        "ValueError",
        "ZeroDivisionError",
        "IndexError",
        "KeyError",
        "LookupError",
        "ArithmeticError",
        "OverflowError",
        "UnicodeDecodeError",
        "UnicodeEncodeError",
        "UnicodeError",
    }
)

#: The test setup a task needs when some of its tests use ``math.isclose``.
FLOAT_SETUP = "import math"

#: The test setup for values with floats inside containers: ``_close`` compares them at any depth.
CLOSE_SETUP = '''import math


def _close(a, b):
    """Equal, except that floats (at any depth) only need math.isclose(rel_tol=1e-9, abs_tol=1e-12)."""
    if isinstance(a, float) or isinstance(b, float):
        return isinstance(a, int | float) and isinstance(b, int | float) and math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-12)
    if isinstance(a, list | tuple) and type(a) is type(b):
        return len(a) == len(b) and all(_close(x, y) for x, y in zip(a, b))
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_close(a[k], b[k]) for k in a)
    return a == b
'''


def _has_nested_float(value: Any) -> bool:
    if isinstance(value, list | tuple):
        return any(type(v) is float or _has_nested_float(v) for v in value)
    if isinstance(value, dict):
        return any(type(v) is float or _has_nested_float(v) for v in value.values())
    return False


@dataclass
class OracleCase:
    """One input with the reference's behaviour on it, as an assert statement."""

    call: CallInput
    #: The call as source text (``f(1, 'a')``).
    expr: str
    #: ``value`` (returned ``value_text``) or ``raises`` (raised ``exception``).
    kind: str
    value_text: str = ""
    exception: str = ""
    #: The test statement.
    test: str = ""
    #: Whether the test uses ``math.isclose`` (so the task needs :data:`FLOAT_SETUP`).
    needs_math: bool = False
    #: Whether the test uses ``_close`` (so the task needs :data:`CLOSE_SETUP`).
    needs_close: bool = False
    #: Arguments the call changed in place: ``(position or keyword name, literal of the value after)``.
    mutated: tuple[tuple[int | str, str], ...] = ()

    @property
    def outcome_key(self) -> str:
        """What the call did, as text: equal for two cases exactly when they behave alike."""
        return f"{self.kind}:{self.value_text}:{self.exception}:{self.mutated}"

    @property
    def value(self) -> Any:
        return ast.literal_eval(self.value_text) if self.kind == "value" else None


@dataclass
class OracleResult:
    cases: list[OracleCase] = field(default_factory=list)
    #: Why the other inputs were dropped: ``timeout``, ``nondeterministic``, ``unreadable_value``,
    #: ``long_value``, ``exception`` (unexpectable type or over the cap), ``crash``.
    dropped: Counter[str] = field(default_factory=Counter)


def _parse_value(text: str | None) -> tuple[bool, Any]:
    if text is None:
        return False, None
    try:
        return True, ast.literal_eval(text)
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
        return False, None


def _canonical(value: Any) -> str:
    """Text that is equal exactly when two values are (sets written sorted, so hash order cannot differ)."""
    try:
        return literal(value)
    except ValueError:
        return repr(value)


def _exception_name(error: str) -> str:
    return error.split(":", 1)[0].strip()


def _is_builtin_exception(name: str) -> bool:
    obj = getattr(builtins, name, None)
    return isinstance(obj, type) and issubclass(obj, Exception)


def _run_rounds(
    reference: str,
    entry_point: str,
    exprs: list[str],
    executor: Executor,
    *,
    chunk: int,
    rounds: int,
    test_timeout: float,
    max_timeouts: int = 3,
) -> list[tuple[str, Any]]:
    """``(outcome, detail)`` per expression: ``("value", repr)``, ``("error", text)``, ``("timeout", "")``
    or ``("crash", text)``.  A timeout ends its sample; the calls after it are retried in the next round,
    unless ``max_timeouts`` calls have timed out already (the rest then count as timeouts too)."""
    status: list[tuple[str, Any] | None] = [None] * len(exprs)
    pending = list(range(len(exprs)))
    for _ in range(rounds):
        if not pending or sum(s is not None and s[0] == "timeout" for s in status) >= max_timeouts:
            break  # a function that keeps timing out is not worth a full deadline per input
        groups = [pending[i : i + chunk] for i in range(0, len(pending), chunk)]
        samples = [
            Sample(reference, [exprs[j] for j in g], key=k, program_names=[entry_point])
            for k, g in enumerate(groups)
        ]
        results: list[SampleResult] = executor.run(
            samples, test_timeout=test_timeout, timeout=test_timeout * (chunk + 2) + 2
        )
        pending = []
        for group, result in zip(groups, results, strict=True):
            tests = result.tests or []
            stopped = False  # an earlier call of this sample timed out or crashed: later ones never ran
            for pos, j in enumerate(group):
                t = tests[pos] if pos < len(tests) else None
                if t is None or t.outcome == "not_run":
                    if stopped:
                        pending.append(j)
                    else:
                        status[j] = ("crash", result.error or result.outcome)
                    continue
                stopped = stopped or t.outcome in ("timeout", "memory", "killed")
                if t.outcome == "pass":
                    status[j] = ("value", t.value)
                elif t.outcome == "error":
                    status[j] = ("error", t.error)
                elif t.outcome == "timeout":
                    status[j] = ("timeout", "")
                else:
                    status[j] = ("crash", t.error or t.outcome)
    return [s if s is not None else ("timeout", "") for s in status]


def _probe(entry_point: str, call: CallInput) -> str:
    """The expression the oracle evaluates: the call, plus its arguments as they are afterwards (the judge
    mirrors in-place changes of list/dict/set arguments back), so mutating functions can be tested too."""
    a, k = "_unitrl_args", "_unitrl_kwargs"  # names no entry point is called (`def a(k)` must work)
    return f"(lambda *{a}, **{k}: ({entry_point}(*{a}, **{k}), {a}, {k}))" + call.render("")


def _value_test(expr: str, text: str, value: Any) -> tuple[str, bool]:
    if type(value) is float:
        return f"assert math.isclose({expr}, {text}, rel_tol=1e-9)", True
    if _has_nested_float(value):
        return f"assert _close({expr}, {text})", True
    if value is None or type(value) is bool:  # `is`: a 1 or 0 must not pass for True or False
        return f"assert {expr} is {text}", False
    return f"assert {expr} == {text}", False


def _mutating_test(
    entry_point: str, call: CallInput, mutated: dict[int | str, Any], ret: Any
) -> tuple[str, bool]:
    """``_a0 = [3, 1]`` / ``assert f(_a0) is None`` / ``assert _a0 == [1, 3]``."""
    lines: list[str] = []
    names: dict[int | str, str] = {}
    for key in mutated:
        names[key] = f"_a{key}" if isinstance(key, int) else f"_{key}"
    args = []
    for i, a in enumerate(call.args):
        if i in names:
            lines.append(f"{names[i]} = {literal(a)}")
        args.append(names.get(i, literal(a)))
    for k, v in call.kwargs:
        if k in names:
            lines.append(f"{names[k]} = {literal(v)}")
        args.append(f"{k}={names.get(k, literal(v))}")
    test, needs_math = _value_test(f"{entry_point}({', '.join(args)})", _canonical(ret), ret)
    lines.append(test)
    lines += [f"assert {names[key]} == {_canonical(after)}" for key, after in mutated.items()]
    return "\n".join(lines), needs_math


def run_oracle(
    reference: str,
    entry_point: str,
    inputs: list[CallInput],
    executor: Executor,
    recheck: Executor | None = None,
    *,
    max_raises: int = 2,
    max_value_chars: int = 300,
    test_timeout: float = 1.0,
    chunk: int = 16,
    rounds: int = 3,
) -> OracleResult:
    """Run the reference on every input (twice: ``executor`` and ``recheck``, which should use different
    ``hash_seed``\\ s) and keep the calls whose behaviour makes a reliable test, in input order."""
    exprs = [c.render(entry_point) for c in inputs]
    probes = [_probe(entry_point, c) for c in inputs]
    first = _run_rounds(
        reference, entry_point, probes, executor, chunk=chunk, rounds=rounds, test_timeout=test_timeout
    )
    second = (
        _run_rounds(
            reference, entry_point, probes, recheck, chunk=chunk, rounds=rounds, test_timeout=test_timeout
        )
        if recheck is not None
        else first
    )
    out = OracleResult()
    raises = 0
    for call, expr, (kind1, detail1), (kind2, detail2) in zip(inputs, exprs, first, second, strict=True):
        if "timeout" in (kind1, kind2):
            out.dropped["timeout"] += 1
            continue
        if "crash" in (kind1, kind2):
            out.dropped["crash"] += 1
            continue
        if kind1 != kind2:
            out.dropped["nondeterministic"] += 1
            continue
        if kind1 == "error":
            name1, name2 = _exception_name(detail1), _exception_name(detail2)
            if name1 != name2:
                out.dropped["nondeterministic"] += 1
            elif name1 not in _EXPECTABLE or not _is_builtin_exception(name1) or raises >= max_raises:
                out.dropped["exception"] += 1
            else:
                raises += 1
                test = (
                    f"try:\n    {expr}\nexcept {name1}:\n    pass\n"
                    f"else:\n    raise AssertionError({f'expected {name1}'!r})"
                )
                out.cases.append(OracleCase(call, expr, "raises", exception=name1, test=test))
            continue
        ok1, value1 = _parse_value(detail1)
        ok2, value2 = _parse_value(detail2)
        if not (ok1 and ok2 and isinstance(value1, tuple) and len(value1) == 3):
            out.dropped["unreadable_value"] += 1
            continue
        if _canonical(value1) != _canonical(value2) or type(value1) is not type(value2):
            out.dropped["nondeterministic"] += 1
            continue
        ret, args_after, kwargs_after = value1
        text = _canonical(ret)
        if len(text) > max_value_chars:
            out.dropped["long_value"] += 1
            continue
        if type(ret) is float and not math.isfinite(ret):
            out.dropped["unreadable_value"] += 1
            continue
        mutated: dict[int | str, Any] = {
            i: after
            for i, (before, after) in enumerate(zip(call.args, args_after, strict=False))
            if _canonical(before) != _canonical(after)
        }
        mutated.update(
            {
                k: kwargs_after[k]
                for k, before in call.kwargs
                if _canonical(before) != _canonical(kwargs_after.get(k))
            }
        )
        if mutated:
            test, needs_math = _mutating_test(entry_point, call, mutated, ret)
            after_text = tuple((key, _canonical(v)) for key, v in mutated.items())
            if sum(len(t) for _, t in after_text) > max_value_chars:
                out.dropped["long_value"] += 1
                continue
        else:
            test, needs_math = _value_test(expr, text, ret)
            after_text = ()
        out.cases.append(
            OracleCase(
                call,
                expr,
                "value",
                text,
                test=test,
                needs_math=needs_math,
                needs_close="_close(" in test,
                mutated=after_text,
            )
        )
    return out


#: Types tried for a parameter whose type was only guessed (from its name, a ``None`` default, or nothing).
PROBE_TYPES: tuple[TypeSpec, ...] = (
    INT,
    STR,
    list_of(INT),
    list_of(STR),
    FLOAT,
    BYTES,
    TypeSpec("dict", (STR, INT)),
    list_of(list_of(INT)),
)
_WEAK_EVIDENCE = frozenset({"name", "unknown", "default"})


def refine_signature(
    reference: str,
    entry_point: str,
    signature: Signature,
    executor: Executor,
    *,
    n: int = 12,
    seed: int = 0,
    constants: list[Any] | None = None,
    max_params: int = 4,
    good_enough: float = 0.75,
    test_timeout: float = 0.5,
    rounds: int = 2,
) -> Signature:
    """Replace guessed parameter types by the ones the reference actually accepts.

    Names mislead (``a`` is a list in ``bisect``, ``s`` is bytes in ``base64``), so when fewer than
    ``good_enough`` of ``n`` calls with the inferred types are accepted (return, or raise an exception a
    spec may ask for), each parameter whose type was
    only guessed is tried with each of :data:`PROBE_TYPES` (others unchanged: the same calls with that
    argument replaced by the type's boundary values and values drawn from its Hypothesis strategy), all
    probes in one executor batch, and keeps the type under which the calls show the most distinct
    behaviours (ties: more accepted calls).  Types from
    annotations, docstrings and doctests are never replaced.  Parameters are varied one at a time, so a
    second round (``rounds``) re-probes with the first round's winners in place (``heappushpop(heap,
    item)``: ``item``'s type only shows once ``heap`` is a list).
    """
    weak = [
        i
        for i, p in enumerate(signature.params)
        if p.kind in ("positional", "keyword", "vararg") and p.evidence in _WEAK_EVIDENCE
    ][:max_params]
    if not weak:
        return signature
    pools: dict[TypeSpec, list[Any]] = {}
    for _ in range(rounds):
        refined = _refine_once(
            reference,
            entry_point,
            signature,
            executor,
            weak,
            n,
            seed,
            constants or [],
            good_enough,
            test_timeout,
            pools,
        )
        if refined is signature:
            break
        signature = refined
    return signature


def _refine_once(
    reference: str,
    entry_point: str,
    signature: Signature,
    executor: Executor,
    weak: list[int],
    n: int,
    seed: int,
    constants: list[Any],
    good_enough: float,
    test_timeout: float,
    pools: dict[TypeSpec, list[Any]],
) -> Signature:
    """One round of :func:`refine_signature`: each weak parameter varied alone, the others as they are.

    A variant is the calls with the types as they are, one argument replaced by values of the probed type
    (``pools``: boundary values, then Hypothesis draws; shared by the rounds), which is much cheaper than
    generating a fresh set of calls for each of the (up to 28) variants.  The calls as they are and every
    variant run in one executor batch."""
    # the doctests would give every variant the same calls
    base_calls = generate_inputs(replace(signature, examples=[]), n=n, seed=seed, constants=constants)

    def sample(k: int, calls: list[CallInput]) -> Sample:
        return Sample(reference, [_probe(entry_point, c) for c in calls], key=k, program_names=[entry_point])

    def accepted(t: TestResult) -> bool:
        # a ValueError on some inputs is part of a spec; a TypeError mostly says the type is wrong
        return t.outcome == "pass" or (t.outcome == "error" and _exception_name(t.error) in _EXPECTABLE)

    def score(result: SampleResult) -> tuple[int, int]:
        """(distinct behaviours, accepted calls): a type under which everything returns -1 is no better
        than one that is sometimes rejected."""
        kept = [
            t.value if t.outcome == "pass" else _exception_name(t.error) for t in result.tests if accepted(t)
        ]
        return len(set(kept)), len(kept)

    if not pools:
        pools.update(_probe_pools(n, seed, constants))
    variants: list[tuple[int, TypeSpec]] = []
    samples: list[Sample] = [sample(0, base_calls)]
    for i in weak:
        for t in PROBE_TYPES:
            if t == signature.params[i].type:
                continue
            calls = _vary(signature, base_calls, i, pools[t])
            if calls:
                variants.append((i, t))
                samples.append(sample(len(samples), calls))
    base_result, *results = executor.run(samples, test_timeout=test_timeout, timeout=test_timeout * 3 + 2)
    base = score(base_result)
    if base[1] >= good_enough * max(1, len(base_calls)):
        return signature
    params = list(signature.params)
    changed = False
    for i in weak:
        best, best_score = None, base
        for (j, t), result in zip(variants, results, strict=True):
            if j == i and score(result) > best_score:
                best, best_score = t, score(result)
        if best is not None:
            params[i] = replace(params[i], type=best, evidence="probe")
            changed = True
    return replace(signature, params=params) if changed else signature


#: Hypothesis draws of every probe type, by (seed, n): the same for every function, so drawn once.
_DRAWN: dict[tuple[int, int], list[list[Any]]] = {}


def _probe_pools(n: int, seed: int, constants: list[Any]) -> dict[TypeSpec, list[Any]]:
    """Values of each probe type: its boundary values, the function's constants of that type, then draws
    from its strategy (one Hypothesis run for all the types, shared by all functions), distinct."""
    if (seed, n) not in _DRAWN:
        _DRAWN[(seed, n)] = draw_columns(PROBE_TYPES, (), max(1, n // 2), f"unitrl-probe:{seed}:{n}")
    drawn = _DRAWN[(seed, n)]
    pools: dict[TypeSpec, list[Any]] = {}
    for t, column in zip(PROBE_TYPES, drawn, strict=True):
        own = [c for c in constants if type(c).__name__ == t.kind]
        seen: set[str] = set()
        pool: list[Any] = []
        for value in [*simplest(t), *own, *column]:
            if is_literal(value) and literal(value) not in seen:
                seen.add(literal(value))
                pool.append(value)
        pools[t] = pool
    return pools


def _vary(signature: Signature, calls: list[CallInput], index: int, values: list[Any]) -> list[CallInput]:
    """``calls`` with the argument of parameter ``index`` replaced by ``values`` in turn (left out: calls
    that do not pass it and cannot; empty when no call can, as for a parameter that
    :func:`~unitrl.datagen.inputs.generate_inputs` never passes)."""
    param = signature.params[index]
    positional = [p for p in signature.params if p.kind == "positional"]
    # generate_inputs passes nothing from the first non-literal default of a guessed type on
    stop = next(
        (
            j
            for j, p in enumerate(positional)
            if p.has_default and not p.default_is_literal and p.evidence in _WEAK_EVIDENCE
        ),
        len(positional),
    )
    out: list[CallInput] = []
    seen: set[str] = set()
    for j, call in enumerate(calls):
        value = values[j % len(values)] if values else None
        args, kwargs = list(call.args), dict(call.kwargs)
        if param.kind == "positional":
            pos = positional.index(param)
            if pos >= stop or pos > len(args):
                continue
            args[pos : pos + 1] = [value]
        elif param.kind == "vararg":
            if stop < len(positional) or len(args) < len(positional):
                continue
            args = [*args[: len(positional)], value]
        elif param.kind == "keyword" and not param.has_default:
            kwargs[param.name] = value
        else:
            continue
        varied = CallInput(tuple(args), tuple(sorted(kwargs.items())))
        if varied.render("f") not in seen:
            seen.add(varied.render("f"))
            out.append(varied)
    return out
