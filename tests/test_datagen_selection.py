"""Function selection for data mining: what is carried along, and why the rest is rejected."""

from __future__ import annotations

import ast
import textwrap

import pytest

from unitrl.datagen import REASONS, select_functions


def select(source: str, **kw):
    return select_functions(textwrap.dedent(source), "fixture.py", **kw)


def run_reference(reference: str, name: str, *args):
    namespace: dict = {}
    exec(compile(reference, "<reference>", "exec"), namespace)  # trusted fixture code
    return namespace[name](*args)


MODULE = '''
"""A small module with helpers, constants and some noise."""
from __future__ import annotations

import math
import os
from collections import Counter, deque

BASE = 10
SCALE = BASE * 2
UNUSED = "never needed"


def _clip(x: int) -> int:
    return min(x, SCALE)


def _unrelated(path):
    return os.path.exists(path)


def score(xs: list[int]) -> int:
    """Square root of the sum of clipped squares."""
    # a comment that must survive
    total = 0
    for x in xs:
        total += _clip(x) ** 2
    return int(math.sqrt(total)) + len(Counter(xs))
'''


def test_closure_of_helpers_and_constants_is_carried_and_runs():
    candidates, rejected = select(MODULE)
    by_name = {c.name: c for c in candidates}
    assert set(by_name) == {"_clip", "score"}
    assert rejected == {"io": 1}  # _unrelated

    c = by_name["score"]
    assert c.helpers == ["_clip"]
    assert c.constants == ["BASE", "SCALE"]
    assert c.docstring == "Square root of the sum of clipped squares."
    assert c.signature == "def score(xs: list[int]) -> int:"
    assert (
        c.path == "fixture.py"
        and c.lineno == MODULE.splitlines().index("def score(xs: list[int]) -> int:") + 1
    )
    assert c.source.startswith("def score(") and "# a comment that must survive" in c.source
    ref = c.reference
    # only what is needed, in the original order, and only the aliases used
    assert "UNUSED" not in ref and "_unrelated" not in ref and "import os" not in ref and "deque" not in ref
    assert "from collections import Counter\n" in ref
    positions = [
        ref.index(s)
        for s in ("from __future__", "import math", "BASE = 10", "SCALE =", "def _clip", "def score")
    ]
    assert positions == sorted(positions)
    ast.parse(ref)
    assert run_reference(ref, "score", [3, 4, 100]) == int((9 + 16 + 400) ** 0.5) + 3


def test_staticmethods_are_functions_and_other_methods_are_not():
    candidates, rejected = select(
        """
        LIMIT = 3

        class Tools:
            @staticmethod
            def cap(x):
                return min(x, LIMIT)

            def method(self, x):
                return self.offset + x

            @classmethod
            def build(cls, x):
                return cls()
        """
    )
    assert [(c.name, c.qualname) for c in candidates] == [("cap", "Tools.cap")]
    assert candidates[0].source.startswith("def cap(x):")
    assert run_reference(candidates[0].reference, "cap", 7) == 3
    assert rejected == {"nested_in_class": 2}


def test_accepted_edge_cases():
    candidates, rejected = select(
        """
        import datetime
        from collections import Counter, deque

        items = [1, 2]

        def fib(n):
            return n if n < 2 else fib(n - 1) + fib(n - 2)

        def is_even(n):
            return n == 0 or is_odd(n - 1)

        def is_odd(n):
            return n != 0 and is_even(n - 1)

        def local_shadow(x):
            items = []
            items.append(x)
            return items

        def later(x):
            return datetime.date(2020, 1, 1) + datetime.timedelta(days=x)

        def chatty(x):
            print("computing", x)
            return x * 2

        def window(xs, n):
            d = deque(maxlen=n)
            for x in xs:
                d.append(x)
            return list(d)
        """
    )
    assert not rejected
    by_name = {c.name: c for c in candidates}
    assert run_reference(by_name["fib"].reference, "fib", 10) == 55
    # mutual recursion: the helper is carried once, the candidate is not duplicated as its own helper
    assert by_name["is_even"].helpers == ["is_odd"]
    assert by_name["is_even"].reference.count("def is_even") == 1
    assert run_reference(by_name["is_even"].reference, "is_even", 7) is False
    assert by_name["local_shadow"].constants == []
    assert run_reference(by_name["later"].reference, "later", 1).isoformat() == "2020-01-02"
    assert "Counter" not in by_name["window"].reference


TOO_LONG = "def f(x):\n" + "".join(f"    x = x + {i}\n" for i in range(45)) + "    return x\n"

REJECTIONS: list[tuple[str, str]] = [
    ("syntax_error", "def f(x):\n    return (\n"),
    ("async", "async def f(x):\n    return x + 1\n"),
    ("decorated", "import functools\n\n@functools.lru_cache\ndef f(x):\n    return x + 1\n"),
    ("nested_in_class", "class A:\n    def f(self, x):\n        return self.k + x\n"),
    ("no_args", "def f():\n    return sum(range(10))\n"),
    ("generator", "def f(n):\n    for i in range(n):\n        yield i * 2\n"),
    ("trivial_body", "def f(x):\n    pass\n"),
    ("trivial_body", 'def f(x):\n    """Only a docstring."""\n'),
    ("trivial_body", "def f(x):\n    return [1, 2]\n"),
    ("trivial_body", "def f(x):\n    raise NotImplementedError\n"),
    ("too_long", TOO_LONG),
    ("global_mutation", "COUNT = 0\n\ndef f(x):\n    global COUNT\n    COUNT += x\n    return COUNT\n"),
    ("global_mutation", "_cache = {}\n\ndef f(n):\n    _cache[n] = n * 2\n    return _cache[n]\n"),
    ("global_mutation", "SEEN = []\n\ndef f(x):\n    SEEN.append(x)\n    return len(SEEN)\n"),
    (
        "global_mutation",
        "def f(x):\n    def g():\n        nonlocal x\n        x += 1\n    g()\n    return x\n",
    ),
    ("non_stdlib_import", "import numpy as np\n\ndef f(x):\n    return np.sum(x)\n"),
    ("non_stdlib_import", "from .util import helper\n\ndef f(x):\n    return helper(x)\n"),
    ("uses_class", "class P:\n    pass\n\ndef f(x):\n    return P()\n"),
    ("unresolved_name", "def f(x):\n    return undefined_thing(x)\n"),
    (
        "unresolved_name",
        "try:\n    import json\nexcept ImportError:\n    json = None\n\ndef f(x):\n    return json.dumps(x)\n",
    ),
    ("io", "def f(path):\n    with open(path) as fh:\n        return fh.read()\n"),
    ("io", "import os\n\ndef f(path):\n    return os.path.getsize(path)\n"),
    ("io", "def f(prompt):\n    return input(prompt)\n"),
    ("randomness", "import random\n\ndef f(xs):\n    return random.choice(xs)\n"),
    ("randomness", "from uuid import uuid4\n\ndef f(x):\n    return f'{x}-{uuid4()}'\n"),
    ("time", "import time\n\ndef f(x):\n    return time.time() + x\n"),
    ("time", "from datetime import datetime\n\ndef f(days):\n    return datetime.now().day + days\n"),
    ("network", "import socket\n\ndef f(host):\n    return socket.gethostbyname(host)\n"),
    ("dynamic_code", "def f(expr):\n    return eval(expr)\n"),
    ("print_only", "def f(x):\n    print(x * 2)\n"),
]


@pytest.mark.parametrize(
    ("reason", "source"), REJECTIONS, ids=[f"{r}-{i}" for i, (r, _) in enumerate(REJECTIONS)]
)
def test_each_rejection_reason(reason: str, source: str):
    candidates, rejected = select_functions(source)
    assert candidates == []
    assert rejected == {reason: 1}


def test_every_reason_has_a_fixture():
    assert {r for r, _ in REJECTIONS} == set(REASONS)


def test_a_helpers_problem_rejects_the_candidate():
    candidates, rejected = select(
        """
        def _load(path):
            with open(path) as fh:
                return fh.read()

        def words(path):
            return _load(path).split()
        """
    )
    assert candidates == []
    assert rejected == {"io": 2}


def test_line_limit_is_configurable():
    assert select_functions(TOO_LONG, max_lines=100)[0][0].name == "f"
    assert select_functions(TOO_LONG)[1] == {"too_long": 1}


def test_names_bound_conditionally_or_twice_are_not_carried():
    # the locale.py pattern: a fallback def inside try/except, captured by a constant, then redefined
    candidates, rejected = select(
        """
        try:
            from _locale import localeconv
        except ImportError:
            def localeconv():
                return {}

        _saved = localeconv

        def localeconv(x):
            return dict(_saved(), x=x)

        def grouping(x):
            return localeconv(x)["x"]
        """
    )
    assert candidates == []
    assert rejected == {"unresolved_name": 2}


STATIC_LIKE = '''
class Tools:
    """Helpers that happen to live in a class."""

    def scale(self, xs, k=2):
        """Multiply every element of xs by k."""
        # a comment that is lost in the rewrite
        return [x * k for x in xs]

    def uses_self(self, x):
        return self.factor * x

    def calls_super(self, x):
        return super().calls_super(x) + x

    def __add__(self, other):
        return other + 1

    @classmethod
    def build(cls, x):
        return x + 1
'''


def test_static_like_methods_become_functions_without_self():
    candidates, rejected = select_functions(STATIC_LIKE, "tools.py")
    assert [c.qualname for c in candidates] == ["Tools.scale"]
    scale = candidates[0]
    assert scale.signature == "def scale(xs, k=2):"
    assert "self" not in scale.reference and "Multiply every element" in scale.docstring
    namespace: dict = {}
    exec(scale.reference, namespace)
    assert namespace["scale"]([1, 2], 3) == [3, 6] and namespace["scale"]([1]) == [2]
    # uses self, calls super(), a dunder and a classmethod stay rejected
    assert rejected["nested_in_class"] == 4


@pytest.mark.parametrize(
    ("reason", "body"),
    [
        ("time", "    from time import gmtime, time\n    return gmtime(time() + x)[0]\n"),
        ("time", "    import datetime\n    return datetime.date.today().year + x\n"),
        ("randomness", "    import random\n    return random.random() + x\n"),
        ("io", "    import os\n    return os.listdir(x)\n"),
        ("non_stdlib_import", "    import numpy\n    return numpy.sum(x)\n"),
    ],
)
def test_imports_inside_the_body_are_checked_like_module_imports(reason, body):
    candidates, rejected = select_functions(f"def f(x):\n{body}")
    assert candidates == [] and rejected == {reason: 1}


def test_a_harmless_local_import_is_fine():
    candidates, _ = select_functions("def f(x):\n    import math\n    return math.floor(x) + 1\n")
    assert [c.name for c in candidates] == ["f"]
