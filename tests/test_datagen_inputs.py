"""Argument-type inference and input generation (pure Python: no sandbox needed)."""

from __future__ import annotations

import ast
import json
import os
import random
import subprocess
import sys
from pathlib import Path

import pytest

from unitrl.datagen.inputs import CallInput, body_constants, generate_inputs, is_literal, literal, mutate
from unitrl.datagen.strategies import draw_values, from_rng, value_strategy
from unitrl.datagen.types import (
    ANY,
    BOOL,
    FLOAT,
    INT,
    STR,
    TypeSpec,
    docstring_types,
    doctest_examples,
    infer_signature,
    list_of,
    optional,
    parse_annotation,
    parse_type_text,
)

MODULE = '''
from typing import Dict, List, Optional, Tuple, Union


def annotated(xs: list[int], k: Optional[int], pair: tuple[str, float], table: dict[str, int],
              rest: Tuple[int, ...], either: Union[int, str], maybe: "List[str] | None") -> int:
    return k


def defaults(count=3, sep=",", ratio=0.5, flag=False, opt=None, items=()):
    return count


def google(a, b, c):
    """Do it.

    Args:
        a (int): the first.
        b (list of str): the words.
        c (str, optional): a string.

    Returns:
        int: nothing useful.
    """


def numpy_style(x, y):
    """Do it.

    Parameters
    ----------
    x : float
        The x.
    y : list[int]
        The ys.

    Returns
    -------
    int
    """


def rest_style(x, y):
    """Do it.

    :param int x: the x
    :type y: dict[str, int]
    """


def doctested(a, b, c=None):
    """Join.

    >>> doctested(3, 'a')
    'aaa'
    >>> doctested(2, 'xy', c=[1.5])
    'xyxy'
    >>> other(1)
    """


def by_name(n, s, xs, words, text, is_ok, unknown):
    return n
'''


def _types(name: str) -> dict[str, tuple[str, str]]:
    sig = infer_signature(MODULE, name)
    return {p.name: (str(p.type), p.evidence) for p in sig.params}


def test_types_from_annotations():
    assert _types("annotated") == {
        "xs": ("list[int]", "annotation"),
        "k": ("int | None", "annotation"),
        "pair": ("tuple[str, float]", "annotation"),
        "table": ("dict[str, int]", "annotation"),
        "rest": ("tuple[int, ...]", "annotation"),
        "either": ("int | str", "annotation"),
        "maybe": ("list[str] | None", "annotation"),
    }


def test_types_from_defaults():
    types = _types("defaults")
    assert types["count"] == ("int", "default")
    assert types["sep"] == ("str", "default")
    assert types["ratio"] == ("float", "default")
    assert types["flag"] == ("bool", "default")
    assert types["opt"] == ("any", "default")  # None says only "optional", and any already allows None
    assert types["items"] == ("tuple[()]", "default")


def test_types_from_docstrings():
    assert _types("google") == {
        "a": ("int", "docstring"),
        "b": ("list[str]", "docstring"),
        "c": ("str | None", "docstring"),
    }
    assert _types("numpy_style") == {"x": ("float", "docstring"), "y": ("list[int]", "docstring")}
    assert _types("rest_style") == {"x": ("int", "docstring"), "y": ("dict[str, int]", "docstring")}


def test_types_from_doctests():
    types = _types("doctested")
    assert types["a"] == ("int", "doctest")
    assert types["b"] == ("str", "doctest")
    assert types["c"] == ("list[float] | None", "doctest")
    examples = infer_signature(MODULE, "doctested").examples  # other(1) calls another function: skipped
    assert [(e.args, e.kwargs, e.expected) for e in examples] == [
        ((3, "a"), {}, "'aaa'"),
        ((2, "xy"), {"c": [1.5]}, "'xyxy'"),
    ]


def test_types_from_names():
    assert _types("by_name") == {
        "n": ("int", "name"),
        "s": ("str", "name"),
        "xs": ("list[int]", "name"),
        "words": ("list[str]", "name"),
        "text": ("str", "name"),
        "is_ok": ("bool", "name"),
        "unknown": ("any", "unknown"),
    }


def test_type_grammar_parsing_and_printing():
    assert parse_annotation("Dict[str, List[int]]") == TypeSpec("dict", (STR, list_of(INT)))
    assert str(parse_annotation("int | None")) == "int | None"
    assert parse_annotation("np.ndarray") is None
    assert parse_type_text("int or None") == optional(INT)
    assert parse_type_text("list of float") == list_of(FLOAT)
    assert parse_type_text("bool") == BOOL
    assert docstring_types("Args:\n    q (widget): thing\n") == {}
    assert doctest_examples(">>> g(x)\n1\n>>> f(1)\n2", "f")[0].expected == "2"
    assert str(TypeSpec("tuple", (INT,), variadic=True)) == "tuple[int, ...]"
    assert str(optional(ANY)) == "any"


@pytest.mark.parametrize(
    "name", ["annotated", "defaults", "google", "numpy_style", "rest_style", "doctested", "by_name"]
)
def test_inputs_are_literals_and_deterministic(name):
    sig = infer_signature(MODULE, name)
    first = generate_inputs(sig, n=30, seed=7)
    second = generate_inputs(infer_signature(MODULE, name), n=30, seed=7)
    assert first == second
    assert [c.render(name) for c in first] == [c.render(name) for c in second]
    assert len(first) >= 10
    texts = [c.render(name) for c in first]
    assert len(set(texts)) == len(texts)
    for call in first:
        for value in [*call.args, *(v for _, v in call.kwargs)]:
            assert is_literal(value)
            assert ast.literal_eval(literal(value)) == value
        node = ast.parse(call.render(name), mode="eval").body
        assert isinstance(node, ast.Call)
    assert generate_inputs(sig, n=30, seed=8) != first


def test_inputs_respect_types_and_use_doctests_and_constants():
    source = '''
def f(xs: list[int], k: int, *, key: str):
    """>>> f([1, 2], 3, key='a')"""
    if k > 12 and key == "magic":
        return xs
    return k
'''
    sig = infer_signature(source, "f")
    calls = generate_inputs(sig, n=40, constants=body_constants(source, "f"))
    assert calls[0] == CallInput(([1, 2], 3), (("key", "a"),))
    for call in calls:
        assert isinstance(call.args[0], list) and all(type(x) is int for x in call.args[0])
        assert type(call.args[1]) is int
        assert dict(call.kwargs).keys() == {"key"} and type(dict(call.kwargs)["key"]) is str
    ks = {c.args[1] for c in calls}
    assert {11, 12, 13} <= ks  # seeded from the body's constant, +-1
    assert "magic" in {dict(c.kwargs)["key"] for c in calls}
    assert [] in [c.args[0] for c in calls]


def test_literal_writes_sets_sorted_and_refuses_non_literals():
    assert literal({"b", "a", "c"}) == "{'a', 'b', 'c'}"
    assert literal(set()) == "set()"
    assert literal((1,)) == "(1,)"
    assert not is_literal(float("nan"))
    assert not is_literal(object())
    with pytest.raises(ValueError):
        literal(float("inf"))


def test_mutation_preserves_types():
    rng = random.Random(0)
    for value, spec in [
        (5, INT),
        ("abc", STR),
        ([1, 2, 3], list_of(INT)),
        ((1, "a"), TypeSpec("tuple", (INT, STR))),
    ]:
        for _ in range(20):
            out = mutate(value, spec, rng)
            assert type(out) is type(value)
            assert is_literal(out)


def test_non_literal_defaults_of_guessed_type_are_left_alone():
    source = "import re\n\ndef junk(line, pat=re.compile('x').match, n=3, limit: int = len('ab')):\n    return line\n"
    calls = generate_inputs(infer_signature(source, "junk"), n=20)
    assert calls and all(len(c.args) == 1 and type(c.args[0]) is str for c in calls)
    typed = "import re\n\ndef clip(x: int, limit: int = len('ab')):\n    return min(x, limit)\n"
    assert {len(c.args) for c in generate_inputs(infer_signature(typed, "clip"), n=20)} == {1, 2}


# ------------------------------------------------------------------------------- Hypothesis-drawn inputs

SEEDED = '''
def seeded(n: int, word: str, xs: list[int], ratio: float = 0.5):
    """Look for the magic numbers."""
    if n == 37 and word == "zebra":
        return xs
    return ratio * 2.25
'''

ALL_KINDS = [
    INT,
    FLOAT,
    STR,
    BOOL,
    TypeSpec("bytes"),
    TypeSpec("none"),
    list_of(list_of(INT)),
    TypeSpec("set", (STR,)),
    TypeSpec("tuple", (INT, STR, FLOAT)),
    TypeSpec("tuple", (FLOAT,), variadic=True),
    TypeSpec("dict", (STR, list_of(FLOAT))),
    optional(list_of(STR)),
    ANY,
]


def test_hypothesis_inputs_are_identical_on_every_call():
    sig = infer_signature(SEEDED, "seeded")
    consts = body_constants(SEEDED, "seeded")
    runs = [[c.render("seeded") for c in generate_inputs(sig, n=40, constants=consts)] for _ in range(3)]
    assert runs[0] == runs[1] == runs[2] and len(runs[0]) == 40
    assert runs[0] != [c.render("seeded") for c in generate_inputs(sig, n=40, seed=1, constants=consts)]
    for t in ALL_KINDS:
        first = draw_values(value_strategy(t, [3, "x"]), 30, f"same:{t}")
        assert literal(first) == literal(draw_values(value_strategy(t, [3, "x"]), 30, f"same:{t}"))


def test_hypothesis_inputs_do_not_depend_on_the_process():
    """Another interpreter, another hash seed, other modules loaded: the same inputs (Hypothesis' pool of
    constants from the caller's own modules is switched off)."""
    script = (
        "import json, sys, collections, email.utils, tests.test_datagen_inputs as m\n"
        "from unitrl.datagen.inputs import body_constants, generate_inputs\n"
        "from unitrl.datagen.types import infer_signature\n"
        "sig = infer_signature(m.SEEDED, 'seeded')\n"
        "calls = generate_inputs(sig, n=40, constants=body_constants(m.SEEDED, 'seeded'))\n"
        "print(json.dumps([c.render('seeded') for c in calls]))\n"
    )
    sig = infer_signature(SEEDED, "seeded")
    here = [
        c.render("seeded") for c in generate_inputs(sig, n=40, constants=body_constants(SEEDED, "seeded"))
    ]
    root = Path(__file__).resolve().parents[1]
    env = {**os.environ, "PYTHONHASHSEED": "12345", "PYTHONPATH": str(root)}
    out = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        env=env,
        cwd=root,
        check=True,
        timeout=120,
    )
    assert json.loads(out.stdout) == here


def test_hypothesis_draws_are_seeded_with_the_body_constants():
    assert body_constants(SEEDED, "seeded") == [37, "zebra", 2.25]
    ints = draw_values(value_strategy(INT, [37]), 120, "ints")
    assert {36, 37, 38} <= set(ints)
    assert "zebra" in draw_values(value_strategy(STR, ["zebra"]), 120, "strs")
    assert 2.25 in draw_values(value_strategy(FLOAT, [2.25]), 120, "floats")
    # equal constants of different types never share a strategy (Hypothesis caches by equal arguments)
    assert 2 in draw_values(value_strategy(INT, [2]), 60, "two")
    assert {type(v) for v in draw_values(value_strategy(FLOAT, [2.0]), 60, "two")} == {float}
    # and the calls drawn for the function (past the boundary inputs) use them too
    sig = infer_signature(SEEDED, "seeded")
    calls = generate_inputs(sig, n=60, constants=[37, "zebra", 2.25], boundary_share=0.0)
    assert any(c.args[0] == 37 for c in calls) and any(c.args[1] == "zebra" for c in calls)


def test_hypothesis_values_are_small_round_tripping_literals():
    for t in ALL_KINDS:
        values = draw_values(value_strategy(t, [5, 1.5, "k"]), 80, f"kinds:{t}")
        assert len({literal(v) for v in values}) >= {"bool": 2, "none": 1}.get(t.kind, 3), t
        for v in values:
            text = literal(v)
            assert is_literal(v) and ast.literal_eval(text) == v, (t, v)
            assert "nan" not in text and "inf" not in text
            assert len(text) <= 400
    for call in generate_inputs(infer_signature(MODULE, "annotated"), n=40):
        node = ast.parse(call.render("f"), mode="eval").body
        assert [ast.literal_eval(a) for a in node.args] == list(call.args)


def test_hypothesis_writes_nothing_to_the_working_directory(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    for name in ("annotated", "google", "by_name"):
        generate_inputs(infer_signature(MODULE, name), n=40, seed=3)
    assert list(tmp_path.iterdir()) == []  # no .hypothesis/ (database, constants or charmap cache)


def test_draw_random_backs_mutation_and_relate():
    strategy = from_rng(lambda rng: (rng.randint(3, 5), rng.choice("xyz"), rng.randrange(2), rng.random()))
    values = draw_values(strategy, 40, "rng")
    assert {v[0] for v in values} <= {3, 4, 5} and {v[1] for v in values} <= set("xyz")
    assert all(0 <= v[3] < 1 for v in values)
    mutated = draw_values(from_rng(lambda rng: mutate([1, 2, 3], list_of(INT), rng)), 40, "mut")
    assert len({literal(m) for m in mutated}) > 3 and all(isinstance(m, list) for m in mutated)
