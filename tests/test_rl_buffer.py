"""Program normalisation and the replay buffer: dedup, bounds, deterministic sampling, checkpoints."""

from __future__ import annotations

import json
import random
import textwrap

import pytest

from unitrl.rl import BufferEntry, ReplayBuffer, dedup_key, normalize_program


def norm(src: str) -> str | None:
    return normalize_program(textwrap.dedent(src))


# --- normalisation -----------------------------------------------------------------------------------------

BASE = """
def total(xs, k):
    acc = 0
    for x in xs:
        acc += x * k
    return acc
"""

SAME = [
    # renamed locals and arguments
    """
    def total(values, factor):
        s = 0
        for v in values:
            s += v * factor
        return s
    """,
    # formatting and comments
    """
    def total( xs,k ):  # sum it
        acc=0
        # loop
        for x in xs: acc += (x*k)
        return acc
    """,
    # docstring
    '''
    def total(xs, k):
        """Weighted total."""
        acc = 0
        for x in xs:
            acc += x * k
        return acc
    ''',
]

DIFFERENT = [
    # another operator
    """
    def total(xs, k):
        acc = 0
        for x in xs:
            acc += x + k
        return acc
    """,
    # another function name (the entry point the tests call)
    """
    def summe(xs, k):
        acc = 0
        for x in xs:
            acc += x * k
        return acc
    """,
    # another constant
    """
    def total(xs, k):
        acc = 1
        for x in xs:
            acc += x * k
        return acc
    """,
    # arguments swapped in use (renaming is consistent, not a bag of names)
    """
    def total(xs, k):
        acc = 0
        for x in k:
            acc += x * xs
        return acc
    """,
]


def test_normalisation_ignores_names_formatting_comments_docstrings():
    base = norm(BASE)
    assert base is not None
    for src in SAME:
        assert norm(src) == base, src


def test_normalisation_keeps_semantic_changes():
    base = norm(BASE)
    for src in DIFFERENT:
        assert norm(src) != base, src


def test_normalisation_keeps_globals_builtins_attributes_and_imports():
    a = norm("import math\nN = 3\ndef f(x):\n    return math.floor(len(x) + N + x.real)\n")
    b = norm("import math\nN = 3\ndef f(y):\n    return math.floor(len(y) + N + y.real)\n")
    assert a == b
    for changed in [
        "import cmath as math\nN = 3\ndef f(x):\n    return math.floor(len(x) + N + x.real)\n",  # import
        "import math\nM = 3\ndef f(x):\n    return math.floor(len(x) + M + x.real)\n",  # global
        "import math\nN = 3\ndef f(x):\n    return math.floor(abs(x) + N + x.real)\n",  # builtin
        "import math\nN = 3\ndef f(x):\n    return math.floor(len(x) + N + x.imag)\n",  # attribute
    ]:
        assert norm(changed) != a, changed


def test_normalisation_scopes():
    # closures, nonlocal, comprehensions, lambdas, nested helpers, except/with targets
    a = """
    def f(items):
        count = 0
        def bump(step):
            nonlocal count
            count += step
        squares = [i * i for i in items if i]
        key = lambda p: -p
        try:
            with open("x") as fh:
                bump(len(fh.read()))
        except OSError as err:
            bump(len(str(err)))
        return sorted(squares, key=key), count
    """
    b = """
    def f(things):
        n = 0
        def inc(d):
            nonlocal n
            n += d
        sq = [j * j for j in things if j]
        order = lambda q: -q
        try:
            with open("x") as handle:
                inc(len(handle.read()))
        except OSError as e:
            inc(len(str(e)))
        return sorted(sq, key=order), n
    """
    assert norm(a) == norm(b) is not None
    # A name declared global is the module's, so renaming it changes the program.
    g1 = "total = 0\ndef add(x):\n    global total\n    total += x\n"
    g2 = "other = 0\ndef add(x):\n    global other\n    other += x\n"
    assert norm(g1) != norm(g2)
    # Keyword names at call sites are kept (they name another function's parameters).
    assert norm("def f(x):\n    return g(a=x)\n") != norm("def f(x):\n    return g(b=x)\n")
    # Class attributes and method names are interface; method locals are not.
    c1 = "class A:\n    size = 1\n    def get(self, n):\n        return self.size + n\n"
    c2 = "class A:\n    size = 1\n    def get(me, m):\n        return me.size + m\n"
    c3 = "class A:\n    width = 1\n    def get(self, n):\n        return self.width + n\n"
    assert norm(c1) == norm(c2) != norm(c3)


def test_unparsable_falls_back_to_whitespace_text():
    assert normalize_program("def f(:\n  pass") is None
    assert dedup_key("def f(:\n  pass") == dedup_key("def  f(:\n\n pass  ")
    assert dedup_key("def f(:\n  pass") != dedup_key("def g(:\n  pass")
    assert dedup_key(BASE).startswith("ast:") and dedup_key("def f(:").startswith("text:")
    assert dedup_key(BASE) == dedup_key(textwrap.dedent(SAME[0]))


# --- buffer ------------------------------------------------------------------------------------------------


def prog(i: int) -> str:
    return f"def f(x):\n    return x + {i}\n"


def fill(buf: ReplayBuffer, task: str, n: int, start: int = 0) -> None:
    for i in range(start, start + n):
        assert buf.add(task, f"prompt {task}", f"c{i}", prog(i), float(i), {"i": i})


def test_add_dedups_per_prompt():
    buf = ReplayBuffer(capacity=100, per_prompt_cap=10)
    assert buf.add("t1", "p", "c", "def f(x):\n    return x + 1\n", 1.0)
    assert not buf.add("t1", "p", "c2", "def f(y):  # same\n    return y+1\n", 1.0)
    assert buf.contains("t1", "def f(z):\n    return z + 1\n")
    assert buf.add("t2", "p", "c", "def f(x):\n    return x + 1\n", 1.0)  # other prompt: not a duplicate
    assert buf.add("t1", "p", "c", "def f(x):\n    return x + 2\n", 0.0)
    assert len(buf) == 3
    st = buf.stats()
    assert st["dup_rejections"] == 1 and st["per_prompt"] == {"t1": 2, "t2": 1} and st["prompts"] == 2
    assert [e.completion for e in buf.entries("t1")] == ["c", "c"]


def test_add_validates_reward_and_extra():
    buf = ReplayBuffer()
    with pytest.raises(ValueError, match="finite"):
        buf.add("t", "p", "c", prog(0), float("nan"))
    with pytest.raises(ValueError, match="JSON"):
        buf.add("t", "p", "c", prog(0), 1.0, {"bad": object()})
    assert len(buf) == 0


def test_per_prompt_cap_evicts_that_prompts_oldest():
    buf = ReplayBuffer(capacity=100, per_prompt_cap=3)
    fill(buf, "t", 5)
    assert [e.extra["i"] for e in buf.entries("t")] == [2, 3, 4]
    assert buf.stats()["evictions"] == 2
    # An evicted program is forgotten, so it may come back.
    assert buf.add("t", "p", "c", prog(0), 0.0)


def test_capacity_evicts_oldest_of_largest_prompt():
    buf = ReplayBuffer(capacity=6, per_prompt_cap=10)
    fill(buf, "a", 4)
    fill(buf, "b", 2, start=100)
    assert len(buf) == 6
    fill(buf, "c", 1, start=200)  # over capacity: "a" is largest, its oldest (0) goes
    assert len(buf) == 6
    assert [e.extra["i"] for e in buf.entries("a")] == [1, 2, 3]
    fill(buf, "c", 1, start=201)  # a=3, b=2, c=2 -> "a" again
    fill(buf, "c", 1, start=202)  # a=2, b=2, c=3 -> "c" is largest now
    assert buf.stats()["per_prompt"] == {"a": 2, "b": 2, "c": 2}
    assert [e.extra["i"] for e in buf.entries("c")] == [201, 202]
    fill(buf, "d", 1, start=300)  # tie a=b=c=2: the prompt whose oldest entry is oldest ("a")
    assert buf.stats()["per_prompt"] == {"a": 1, "b": 2, "c": 2, "d": 1}
    assert len(buf) == 6


def test_sample_mixes_fresh_and_replay_deterministically():
    buf = ReplayBuffer(capacity=100, per_prompt_cap=100)
    fill(buf, "t", 20)
    fresh = [BufferEntry("t", "p", f"f{i}", prog(1000 + i), 0.0) for i in range(10)]
    first = buf.sample(8, random.Random(7), fresh=fresh, mix=0.25)
    second = buf.sample(8, random.Random(7), fresh=fresh, mix=0.25)
    assert [e.completion for e in first] == [e.completion for e in second]
    assert len(first) == 8
    assert sum(e in fresh for e in first) == 6  # round(8 * 0.25) = 2 replayed
    assert len({id(e) for e in first}) == 8  # without replacement
    assert buf.sample(8, random.Random(8), fresh=fresh, mix=0.25) != first  # the seed matters

    assert all(e not in fresh for e in buf.sample(5, random.Random(0)))  # no fresh: all replay
    assert len(buf.sample(5, random.Random(0), fresh=fresh, mix=1.0)) == 5
    # Short on one side: the other fills in; short on both: everything available.
    assert sum(e in fresh for e in buf.sample(15, random.Random(0), fresh=fresh[:2], mix=0.0)) == 2
    assert len(buf.sample(100, random.Random(0), fresh=fresh)) == 30
    assert ReplayBuffer().sample(3, random.Random(0)) == []
    assert len(buf) == 20  # sampling does not modify the buffer
    with pytest.raises(ValueError):
        buf.sample(3, random.Random(0), mix=1.5)


def test_state_dict_round_trip_resumes_exactly():
    buf = ReplayBuffer(capacity=8, per_prompt_cap=3)
    for t in "abc":
        fill(buf, t, 4, start=ord(t) * 10)
    buf.add("a", "p", "c", prog(ord("a") * 10 + 3), 0.0)  # duplicate
    state = json.loads(json.dumps(buf.state_dict()))  # must survive JSON

    restored = ReplayBuffer.from_state_dict(state)
    assert restored.stats() == buf.stats()
    assert [e.to_dict() for e in restored] == [e.to_dict() for e in buf]
    assert restored.sample(5, random.Random(3)) == buf.sample(5, random.Random(3))
    # Both continue identically: same dedup, same eviction.
    for b in (buf, restored):
        assert not b.add("b", "p", "c", prog(ord("b") * 10 + 3), 0.0)
        fill(b, "d", 3, start=400)
    assert [e.to_dict() for e in restored] == [e.to_dict() for e in buf]
    assert restored.stats() == buf.stats()

    # Loading into a smaller buffer enforces its bounds by the same policy.
    small = ReplayBuffer(capacity=4, per_prompt_cap=2)
    small.load_state_dict(state)
    assert len(small) == 4 and max(small.stats()["per_prompt"].values()) <= 2
    with pytest.raises(ValueError, match="version"):
        small.load_state_dict({**state, "version": 99})
