"""HumanEval+ (EvalPlus v0.1.10): the 164 HumanEval problems with ~124k extra inputs and an output oracle.

EvalPlus judges a program by calling it on every input (``base_input`` then ``plus_input``) and comparing each
output with what the canonical solution returns.  Here each input is one test statement::

    assert _unitrl_match(ENTRY(*ARGS), EXPECTED, ATOL)

with ``_unitrl_match`` (defined in ``test_setup``) reproducing EvalPlus's comparison: ``out == exp``, else,
when the task has an ``atol`` (or the expected value is a float / a flat list of floats, which get
``atol=1e-6``), same top-level type and ``np.allclose(out, exp, rtol=1e-7, atol=atol)`` element-wise through
lists and tuples.  HumanEval/32 (``find_zero``) uses EvalPlus's special oracle ``|poly(xs, out)| <= atol``.

Expected outputs are not in the data file.  They are computed once by running the canonical solution on
every input *through the executor* -- the same machinery, limits and value transport the graded programs
get -- and cached on disk (``$UNITRL_CACHE`` or ``~/.cache/unitrl``) under the data file's sha256.  The judge
turns each output into a Python literal and checks that it evaluates back to an identical value; ints too
long for ``repr`` (Python 3.11 caps decimal conversion at 4300 digits; HumanEval/83 and /139 exceed it) are
written in hex, which has no cap.  Outputs whose literal exceeds :data:`LITERAL_LIMIT` characters (73
inputs of HumanEval/14, /15, /83, /100, /130, /139; ~285 MB of text in all, strings and lists of up to 12 MB)
are instead recomputed in the judge by the canonical solution itself (``_unitrl_reference``, defined in that
task's ``test_setup``): exact, it keeps the tasks at ~19 MB of test text, small enough to load in under a
second from the cache and to ship to the executor per sample, and the executor could not return such values
anyway (it truncates a reported value's repr at 100k characters).  The price is run time: those six tasks
take up to twice as long to judge (HumanEval/139 and /15 need ~6 s per sample on one core).

Inputs are written with ``repr``: they come from JSON (lists, dicts with str keys, str, int, float, bool,
None), whose reprs evaluate back to equal values, except non-finite floats, which do not occur in v0.1.10
(the test suite checks all 124k round trips).  ``tests`` lists the base inputs first; ``meta["base_tests"]``
says how many, so EvalPlus's "base" score can be computed from the same results.
"""

from __future__ import annotations

import ast
import json
import os
import sys
from functools import lru_cache
from pathlib import Path
from typing import Any

from unitrl.benchmarks import data_file, file_sha256, read_data_text, record_field, select_split
from unitrl.errors import UnitrlError
from unitrl.execution import ExecutionConfig, Sample
from unitrl.io import atomic_write_text
from unitrl.tasks import Task

DATA_FILE = "humanevalplus/HumanEvalPlus.jsonl.gz"
VERSION = "v0.1.10"
SPLITS: tuple[str, ...] = ("test",)

#: Largest expected-value literal (characters) written into a test; bigger outputs are recomputed in the judge.
LITERAL_LIMIT = 60_000
#: Bump when the cache's content or meaning changes, so stale caches are rebuilt rather than misread.
CACHE_FORMAT = 1
#: Tasks judged by EvalPlus's polynomial-root oracle instead of output comparison.
POLY_ORACLE_TASKS = frozenset({"HumanEval/32"})
#: Inputs per executor sample when computing the oracle (bounds one sample's time; parallelises the rest).
ORACLE_CHUNK = 100

#: Judge-side helpers of every HumanEval+ task (kept in sync with EvalPlus's ``unsafe_execute``).
MATCH_SOURCE = """\
import math as _unitrl_math

inf = float("inf")
nan = float("nan")


def _unitrl_is_floats(x):
    # EvalPlus's is_floats: a float, or a list/tuple holding only floats (an empty one included).
    if isinstance(x, float):
        return True
    if isinstance(x, (list, tuple)):
        return all(isinstance(i, float) for i in x)
    return False


def _unitrl_close(out, exp, atol):
    # np.allclose(out, exp, rtol=1e-07, atol=atol) for plain values, element-wise through lists/tuples.
    if isinstance(exp, (list, tuple)) or isinstance(out, (list, tuple)):
        return (
            isinstance(exp, (list, tuple))
            and isinstance(out, (list, tuple))
            and len(out) == len(exp)
            and all(_unitrl_close(o, e, atol) for o, e in zip(out, exp))
        )
    if type(out) not in (int, float, bool) or type(exp) not in (int, float, bool):
        return False
    if _unitrl_math.isinf(exp) or _unitrl_math.isinf(out):
        return out == exp
    return abs(out - exp) <= atol + 1e-07 * abs(exp)


def _unitrl_match(out, exp, atol):
    # EvalPlus: exact equality, else (atol given, or a float result) same type and allclose.
    if out == exp:
        return True
    if atol == 0 and _unitrl_is_floats(exp):
        atol = 1e-06
    if atol == 0 or type(out) is not type(exp):
        return False
    try:
        return _unitrl_close(out, exp, atol)
    except (TypeError, ValueError, OverflowError):
        return False


def _unitrl_poly_ok(args, out, atol):
    # EvalPlus's find_zero oracle: |poly(xs, out)| <= atol, poly(xs, x) = sum(c * x**i).
    xs = args[0]
    return abs(sum(c * _unitrl_math.pow(out, i) for i, c in enumerate(xs))) <= atol
"""

#: Judge-side helper of the oracle run: a value's Python literal, or None when it has no faithful one.
LITERAL_SOURCE = (
    f"_UNITRL_LITERAL_LIMIT = {LITERAL_LIMIT}\n"
    + """\
import math as _unitrl_math

inf = float("inf")
nan = float("nan")


def _unitrl_lit(x):
    t = type(x)
    if x is None or t is bool or t is str or t is bytes or t is float:
        return repr(x)  # inf/nan print as names the test setup defines
    if t is int:
        try:
            return repr(x)
        except ValueError:  # more than sys.get_int_max_str_digits() digits: hex has no limit
            return hex(x)
    if t is complex:
        return "complex(" + _unitrl_lit(x.real) + ", " + _unitrl_lit(x.imag) + ")"
    if t is list:
        return "[" + ", ".join(map(_unitrl_lit, x)) + "]"
    if t is tuple:
        return "(" + ", ".join(map(_unitrl_lit, x)) + ("," if len(x) == 1 else "") + ")"
    if t is dict:
        return "{" + ", ".join(_unitrl_lit(k) + ": " + _unitrl_lit(v) for k, v in x.items()) + "}"
    if t is set or t is frozenset:
        body = "{" + ", ".join(map(_unitrl_lit, x)) + "}" if x else ""
        return (t.__name__ + "(" + body + ")") if t is frozenset or not x else body
    raise TypeError("no literal for " + t.__name__)


def _unitrl_same(a, b):
    # Identical as data: same types all the way down, nan equal to nan, 0.0 distinct from -0.0.
    t = type(a)
    if t is not type(b):
        return False
    if t is float:
        return (a != a and b != b) or (a == b and _unitrl_math.copysign(1.0, a) == _unitrl_math.copysign(1.0, b))
    if t is complex:
        return _unitrl_same(a.real, b.real) and _unitrl_same(a.imag, b.imag)
    if t is list or t is tuple:
        return len(a) == len(b) and all(map(_unitrl_same, a, b))
    if t is dict:
        return list(a) == list(b) and all(_unitrl_same(a[k], b[k]) for k in a)
    return a == b


def _unitrl_literal(value, limit=_UNITRL_LITERAL_LIMIT):
    try:
        text = _unitrl_lit(value)
        if len(text) > limit:
            return None
        env = {"__builtins__": {"set": set, "frozenset": frozenset, "complex": complex}, "inf": inf, "nan": nan}
        return text if _unitrl_same(eval(text, env), value) else None
    except (TypeError, ValueError, RecursionError, SyntaxError, MemoryError):
        return None
"""
)


def _namespace(source: str) -> dict[str, Any]:
    namespace: dict[str, Any] = {"__name__": "unitrl.benchmarks.humanevalplus.judge"}
    exec(compile(source, f"<{__name__}>", "exec"), namespace)
    return namespace


#: The judge helpers, also usable here (the tests check the comparison semantics through them).
match_helpers: dict[str, Any] = _namespace(MATCH_SOURCE)
literal_helpers: dict[str, Any] = _namespace(LITERAL_SOURCE)


def _reference_setup(reference: str, entry_point: str) -> str:
    """Setup lines that build ``_unitrl_reference``, the canonical solution run inside the judge."""
    return (
        "\n\n_unitrl_reference_ns = {'__name__': '_unitrl_reference'}\n"
        f"exec({reference!r}, _unitrl_reference_ns)\n"
        f"_unitrl_reference = _unitrl_reference_ns[{entry_point!r}]\n"
    )


def cache_dir() -> Path:
    """Where computed artefacts live: ``$UNITRL_CACHE`` if set, else ``~/.cache/unitrl``."""
    env = os.environ.get("UNITRL_CACHE")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "unitrl"


def cache_path(data_sha256: str) -> Path:
    """Cache file of the expected outputs; Python's minor version is part of the key (outputs may differ)."""
    py = f"{sys.version_info.major}{sys.version_info.minor}"
    return cache_dir() / f"humanevalplus-expected-{data_sha256}-f{CACHE_FORMAT}-py{py}.json"


@lru_cache(maxsize=1)
def records() -> tuple[dict[str, Any], ...]:
    """The raw HumanEval+ records, validated (inputs must be lists of positional arguments)."""
    out = []
    for lineno, line in enumerate(read_data_text(DATA_FILE).splitlines(), 1):
        if not line.strip():
            continue
        where = f"{DATA_FILE}:{lineno}"
        r = json.loads(line)
        for name, typ in (
            ("task_id", str),
            ("prompt", str),
            ("entry_point", str),
            ("canonical_solution", str),
            ("base_input", list),
            ("plus_input", list),
        ):
            record_field(r, name, typ, where)
        if not isinstance(r.get("atol"), (int, float)):
            raise UnitrlError(f"{where}: field 'atol' should be a number")
        if not all(isinstance(a, list) for a in (*r["base_input"], *r["plus_input"])):
            raise UnitrlError(f"{where}: every input should be a list of arguments")
        out.append(r)
    return tuple(out)


def inputs_of(record: dict[str, Any]) -> list[list[Any]]:
    return [*record["base_input"], *record["plus_input"]]


def _reference(record: dict[str, Any]) -> str:
    return record["prompt"] + record["canonical_solution"]


def compute_expected(
    recs: tuple[dict[str, Any], ...] | None = None, config: ExecutionConfig | None = None
) -> dict[str, list[str | None]]:
    """Run each canonical solution on all its inputs in the executor; per task, one literal (or None) per input.

    None means "recompute in the judge" (literal too big or not faithful).  Any failed run is an error: the
    reference solutions are known to pass, so a failure means the executor or machine is misbehaving, and a
    benchmark silently missing inputs would give numbers nobody can compare.
    """
    from unitrl.execution import run_batch

    recs = recs if recs is not None else records()
    if config is None:
        # Trusted code from our own package: no sandbox needed, generous limits (slowest task takes ~3 s).
        config = ExecutionConfig(
            timeout=600.0, test_timeout=120.0, memory_mb=8192, max_value_bytes=1 << 28, sandbox="none"
        )
    setup = LITERAL_SOURCE
    samples: list[Sample] = []
    for index, r in enumerate(recs):
        inputs = inputs_of(r)
        for start in range(0, len(inputs), ORACLE_CHUNK):
            tests = [
                f"_unitrl_literal({r['entry_point']}(*{args!r}))"
                for args in inputs[start : start + ORACLE_CHUNK]
            ]
            samples.append(
                Sample(
                    program=_reference(r),
                    tests=tests,
                    test_setup=setup,
                    key=(index, start),
                    program_names=[r["entry_point"]],
                )
            )
    results = run_batch(samples, config)
    expected: dict[str, list[str | None]] = {r["task_id"]: [None] * len(inputs_of(r)) for r in recs}
    failures: list[str] = []
    for sample, result in zip(samples, results, strict=True):
        index, start = sample.key
        r = recs[index]
        for offset in range(len(sample.tests)):
            tr = result.tests[offset] if offset < len(result.tests) else None
            if tr is None or tr.outcome != "pass" or tr.value is None:
                why = (
                    (tr.error if tr is not None else "") or result.error or (tr.outcome if tr else "not run")
                )
                failures.append(f"{r['task_id']} input {start + offset}: {why}")
                continue
            try:
                literal = ast.literal_eval(tr.value)
            except (ValueError, SyntaxError, MemoryError, RecursionError):
                literal = None  # e.g. a value text the executor truncated: recompute in the judge instead
            expected[r["task_id"]][start + offset] = literal if isinstance(literal, str) else None
    if failures:
        total = sum(len(s.tests) for s in samples)
        raise UnitrlError(
            f"computing HumanEval+ expected outputs failed for {len(failures)} of {total} inputs "
            f"(first: {failures[0]}); the canonical solutions pass everywhere, so check that the executor "
            "works on this machine (e.g. run the test suite)"
        )
    return expected


def _read_cache(path: Path, data_sha256: str, recs: tuple[dict[str, Any], ...]) -> dict[str, Any] | None:
    try:
        payload = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    expected = payload.get("expected") if isinstance(payload, dict) else None
    if (
        payload.get("format") != CACHE_FORMAT
        or payload.get("data_sha256") != data_sha256
        or payload.get("literal_limit") != LITERAL_LIMIT
        or not isinstance(expected, dict)
    ):
        return None
    for r in recs:
        values = expected.get(r["task_id"])
        if not isinstance(values, list) or len(values) != len(inputs_of(r)):
            return None
        if not all(v is None or isinstance(v, str) for v in values):
            return None
    return expected


def expected_outputs() -> dict[str, list[str | None]]:
    """The cached oracle, computed (minutes at most, once per machine and data file) when missing or stale."""
    data_sha256 = file_sha256(data_file(DATA_FILE))
    recs = records()
    path = cache_path(data_sha256)
    cached = _read_cache(path, data_sha256, recs)
    if cached is not None:
        return cached
    print(
        f"unitrl: computing HumanEval+ expected outputs with the executor (once; cached in {path})",
        file=sys.stderr,
        flush=True,
    )
    expected = compute_expected(recs)
    payload = {
        "format": CACHE_FORMAT,
        "data_sha256": data_sha256,
        "data_file": DATA_FILE,
        "python": sys.version.split()[0],
        "literal_limit": LITERAL_LIMIT,
        "expected": expected,
    }
    try:
        atomic_write_text(path, json.dumps(payload, ensure_ascii=False, separators=(",", ":")))
    except OSError as e:  # a read-only home still gets a working benchmark, just recomputed next time
        print(f"unitrl: could not write the HumanEval+ cache {path} ({e}); set UNITRL_CACHE", file=sys.stderr)
    return expected


def make_task(record: dict[str, Any], expected: list[str | None]) -> Task:
    """One HumanEval+ task from its record and the literal expected outputs (None = computed in the judge)."""
    task_id, entry = record["task_id"], record["entry_point"]
    atol = record["atol"]
    tests: list[str] = []
    judge_computed = 0
    for args, literal in zip(inputs_of(record), expected, strict=True):
        call = f"{entry}(*{args!r})"
        if task_id in POLY_ORACLE_TASKS:
            tests.append(f"assert _unitrl_poly_ok({args!r}, {call}, {atol!r})")
        elif literal is None:
            judge_computed += 1
            tests.append(f"assert _unitrl_match({call}, _unitrl_reference(*{args!r}), {atol!r})")
        else:
            tests.append(f"assert _unitrl_match({call}, {literal}, {atol!r})")
    setup = MATCH_SOURCE
    if judge_computed:
        setup += _reference_setup(_reference(record), entry)
    return Task(
        task_id=task_id,
        prompt=record["prompt"],
        entry_point=entry,
        tests=tests,
        test_setup=setup,
        reference=_reference(record),
        meta={
            "source": "humaneval+",
            "split": "test",
            "version": VERSION,
            "atol": atol,
            "base_tests": len(record["base_input"]),
            "judge_computed": judge_computed,
        },
    )


@lru_cache(maxsize=1)
def _all() -> tuple[Task, ...]:
    expected = expected_outputs()
    return tuple(make_task(r, expected[r["task_id"]]) for r in records())


def load(split: str | None = None) -> list[Task]:
    """The 164 HumanEval+ tasks (the only split is ``test``); the first call may compute the oracle."""
    select_split((), split, SPLITS, "humaneval+")  # reject a bad split before any expensive work
    return select_split(_all(), split, SPLITS, "humaneval+")
