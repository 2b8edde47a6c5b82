"""Argument-type inference and input generation (pure Python: no sandbox needed)."""

from __future__ import annotations

import ast
import random

import pytest

from unitrl.datagen.inputs import CallInput, body_constants, generate_inputs, is_literal, literal, mutate
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
