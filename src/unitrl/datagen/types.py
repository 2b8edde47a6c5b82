"""Argument types of a mined function, inferred from whatever evidence its source gives.

Input generation needs to know what to call a function with.  Real code rarely says it completely, so every
source of evidence is used, most explicit first:

1. the annotation (``list[int]``, ``Optional[str]``, ``tuple[int, ...]``, ``dict[str, int]``, ``X | None``);
2. the docstring's declared types (Google ``Args:`` ``x (int): ...``, NumPy ``x : int``, reST ``:type x: int``);
3. the literal arguments of the docstring's doctest calls (``>>> f(3, 'a')``);
4. the default value (``sep=','`` -> ``str``; a ``None`` default makes the type optional);
5. the parameter's name (``n``/``k``/``i`` -> ``int``, ``s``/``text`` -> ``str``, ``xs``/``nums`` -> ``list[int]``).

Types live in a small grammar (:class:`TypeSpec`) rather than ``typing`` objects: it only has what can be
generated *and* written back as a Python literal (the tests are source text), and it prints the way a
reader expects (``list[tuple[int, str]]``, ``int | None``).  Anything else becomes ``any``, for which the
generator draws from a few common types.
"""

from __future__ import annotations

import ast
import contextlib
import re
from dataclasses import dataclass, field
from typing import Any

#: Kinds of the grammar.  ``tuple`` with ``variadic`` is ``tuple[T, ...]``; ``union`` has >= 2 args.
KINDS = ("int", "float", "str", "bool", "bytes", "none", "list", "tuple", "dict", "set", "union", "any")


@dataclass(frozen=True)
class TypeSpec:
    """One type of the grammar: a kind and its element types."""

    kind: str
    args: tuple[TypeSpec, ...] = ()
    variadic: bool = False

    def __str__(self) -> str:
        if self.kind == "none":
            return "None"
        if self.kind == "union":
            return " | ".join(str(a) for a in self.args)
        if self.kind == "tuple":
            if self.variadic:
                return f"tuple[{self.args[0]}, ...]"
            return f"tuple[{', '.join(str(a) for a in self.args)}]" if self.args else "tuple[()]"
        if self.args:
            return f"{self.kind}[{', '.join(str(a) for a in self.args)}]"
        return self.kind

    @property
    def optional(self) -> bool:
        return self.kind == "union" and any(a.kind == "none" for a in self.args)


INT = TypeSpec("int")
FLOAT = TypeSpec("float")
STR = TypeSpec("str")
BOOL = TypeSpec("bool")
BYTES = TypeSpec("bytes")
NONE = TypeSpec("none")
ANY = TypeSpec("any")


def list_of(t: TypeSpec) -> TypeSpec:
    return TypeSpec("list", (t,))


def union(*types: TypeSpec) -> TypeSpec:
    """A flattened, de-duplicated union (a single member is returned as is)."""
    members: list[TypeSpec] = []
    for t in types:
        for m in t.args if t.kind == "union" else (t,):
            if m not in members:
                members.append(m)
    if any(m.kind == "any" for m in members):
        return ANY
    return members[0] if len(members) == 1 else TypeSpec("union", tuple(members))


def optional(t: TypeSpec) -> TypeSpec:
    return union(t, NONE)


_SIMPLE = {
    "int": INT,
    "float": FLOAT,
    "complex": None,
    "str": STR,
    "bool": BOOL,
    "bytes": BYTES,
    "None": NONE,
    "NoneType": NONE,
    "Any": ANY,
    "object": ANY,
    "list": list_of(ANY),
    "List": list_of(ANY),
    "Sequence": list_of(ANY),
    "MutableSequence": list_of(ANY),
    "Iterable": list_of(ANY),
    "Collection": list_of(ANY),
    "tuple": TypeSpec("tuple", (ANY,), variadic=True),
    "Tuple": TypeSpec("tuple", (ANY,), variadic=True),
    "dict": TypeSpec("dict", (STR, ANY)),
    "Dict": TypeSpec("dict", (STR, ANY)),
    "Mapping": TypeSpec("dict", (STR, ANY)),
    "MutableMapping": TypeSpec("dict", (STR, ANY)),
    "set": TypeSpec("set", (ANY,)),
    "Set": TypeSpec("set", (ANY,)),
    "AbstractSet": TypeSpec("set", (ANY,)),
    "MutableSet": TypeSpec("set", (ANY,)),
}
_GENERIC = {
    "list": "list",
    "List": "list",
    "Sequence": "list",
    "MutableSequence": "list",
    "Iterable": "list",
    "Collection": "list",
    "set": "set",
    "Set": "set",
    "AbstractSet": "set",
    "MutableSet": "set",
    "frozenset": None,
    "dict": "dict",
    "Dict": "dict",
    "Mapping": "dict",
    "MutableMapping": "dict",
    "tuple": "tuple",
    "Tuple": "tuple",
}


def _name(node: ast.expr) -> str | None:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):  # typing.List, t.Optional, collections.abc.Sequence
        return node.attr
    return None


def parse_annotation(node: ast.expr | str | None) -> TypeSpec | None:
    """The grammar type of an annotation (AST or source text); ``None`` when it has no place in it."""
    if node is None:
        return None
    if isinstance(node, str):
        try:
            node = ast.parse(node.strip(), mode="eval").body
        except SyntaxError:
            return None
    if isinstance(node, ast.Constant):
        if node.value is None:
            return NONE
        if isinstance(node.value, str):  # a forward reference: "list[int]"
            return parse_annotation(node.value)
        return None
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.BitOr):
        left, right = parse_annotation(node.left), parse_annotation(node.right)
        return union(left, right) if left and right else None
    name = _name(node)
    if name is not None:
        return _SIMPLE.get(name)
    if not isinstance(node, ast.Subscript):
        return None
    base = _name(node.value)
    items = list(node.slice.elts) if isinstance(node.slice, ast.Tuple) else [node.slice]
    if base == "Optional" and len(items) == 1:
        inner = parse_annotation(items[0])
        return optional(inner) if inner else None
    if base == "Union":
        members = [parse_annotation(i) for i in items]
        return union(*members) if all(members) else None  # type: ignore[arg-type]
    kind = _GENERIC.get(base or "")
    if kind is None:
        return None
    if kind == "tuple":
        if len(items) == 2 and isinstance(items[1], ast.Constant) and items[1].value is Ellipsis:
            inner = parse_annotation(items[0])
            return TypeSpec("tuple", (inner,), variadic=True) if inner else None
        if len(items) == 1 and isinstance(items[0], ast.Tuple) and not items[0].elts:
            return TypeSpec("tuple", ())
        members = [parse_annotation(i) for i in items]
        return TypeSpec("tuple", tuple(members)) if all(members) else None  # type: ignore[arg-type]
    args = [parse_annotation(i) for i in items]
    if not all(args):
        return None
    if kind == "dict":
        return TypeSpec("dict", tuple(args)) if len(args) == 2 else None  # type: ignore[arg-type]
    return TypeSpec(kind, (args[0],)) if len(args) == 1 else None  # type: ignore[arg-type]


def type_of_value(value: Any) -> TypeSpec | None:
    """The grammar type of a literal value (containers: the union of their elements' types)."""
    if value is None:
        return NONE
    for typ, spec in ((bool, BOOL), (int, INT), (float, FLOAT), (str, STR), (bytes, BYTES)):
        if type(value) is typ:
            return spec
    if isinstance(value, tuple):
        members = [type_of_value(v) for v in value]
        return TypeSpec("tuple", tuple(members)) if all(members) else None  # type: ignore[arg-type]
    if isinstance(value, list | set):
        members = [type_of_value(v) for v in value]
        if not all(members):
            return None
        elem = union(*members) if members else INT  # an empty list says nothing: ints are the safe guess
        return TypeSpec("list" if isinstance(value, list) else "set", (elem,))
    if isinstance(value, dict):
        keys = [type_of_value(k) for k in value]
        values = [type_of_value(v) for v in value.values()]
        if not all(keys) or not all(values):
            return None
        return TypeSpec("dict", (union(*keys) if keys else STR, union(*values) if values else INT))  # type: ignore[arg-type]
    return None


# ---------------------------------------------------------------------------------------------- docstrings

_WORDS = {
    "integer": "int",
    "int": "int",
    "float": "float",
    "number": "float",
    "real": "float",
    "string": "str",
    "str": "str",
    "boolean": "bool",
    "bool": "bool",
    "bytes": "bytes",
    "list": "list",
    "sequence": "list",
    "iterable": "list",
    "array": "list",
    "tuple": "tuple",
    "dict": "dict",
    "dictionary": "dict",
    "mapping": "dict",
    "set": "set",
    "none": "None",
}


def parse_type_text(text: str) -> TypeSpec | None:
    """A docstring's type phrase: Python syntax (``list[int]``) or plain words (``list of int``,
    ``int or None``, ``str, optional``)."""
    text = text.strip().strip("`").strip()
    is_optional = False
    if re.search(r",\s*optional\s*$", text):
        text, is_optional = re.sub(r",\s*optional\s*$", "", text), True
    spec = parse_annotation(text)
    if spec is None:
        spec = _parse_words(text)
    if spec is not None and is_optional:
        spec = optional(spec)
    return spec


def _parse_words(text: str) -> TypeSpec | None:
    parts = re.split(r"\s+or\s+|\s*\|\s*", text.strip())
    if len(parts) > 1:
        members = [_parse_words(p) for p in parts]
        return union(*members) if all(members) else None  # type: ignore[arg-type]
    match = re.fullmatch(r"(?:an?\s+)?(\w+)(?:\s+of\s+(.+?))?s?", text.strip(), flags=re.IGNORECASE)
    if not match:
        return None
    head = _WORDS.get(match.group(1).lower().rstrip("s")) or _WORDS.get(match.group(1).lower())
    if head is None:
        return None
    base = parse_annotation(head)
    if match.group(2):
        inner = _parse_words(match.group(2))
        if inner is None or head not in ("list", "set", "tuple"):
            return base
        return TypeSpec("tuple", (inner,), variadic=True) if head == "tuple" else TypeSpec(head, (inner,))
    return base


_SECTION = re.compile(r"^\s*(Args|Arguments|Parameters|Params|Keyword Args|Keyword Arguments)\s*:\s*$")
_GOOGLE_ITEM = re.compile(r"^\s*\*{0,2}(\w+)\s*\(([^)]*)\)\s*:")
_NUMPY_HEADER = re.compile(r"^\s*(Parameters|Other Parameters)\s*$")
_NUMPY_ITEM = re.compile(r"^(\w+)\s*:\s*(.+)$")
_REST_TYPE = re.compile(r":type\s+(\w+)\s*:\s*(.+)$")
_REST_PARAM = re.compile(r":param\s+(.+?)\s+(\w+)\s*:")


def docstring_types(docstring: str) -> dict[str, TypeSpec]:
    """Declared parameter types in a Google, NumPy or reST docstring (simple, line-based patterns)."""
    found: dict[str, TypeSpec] = {}

    def put(name: str, text: str) -> None:
        spec = parse_type_text(text)
        if spec is not None and name not in found:
            found[name] = spec

    lines = docstring.splitlines()
    for line in lines:
        if m := _REST_TYPE.search(line):
            put(m.group(1), m.group(2))
        elif m := _REST_PARAM.search(line):
            put(m.group(2), m.group(1))
    section: str | None = None
    for i, line in enumerate(lines):
        if _SECTION.match(line):
            section = "google"
            continue
        if _NUMPY_HEADER.match(line) and i + 1 < len(lines) and set(lines[i + 1].strip()) == {"-"}:
            section = "numpy"
            continue
        header = bool(re.match(r"^\s*[A-Z][\w ]*:?\s*$", line)) and not _NUMPY_ITEM.match(line.strip())
        underlined = i + 1 < len(lines) and set(lines[i + 1].strip()) == {"-"}
        if section and header and (section == "google" or underlined):
            section = None  # the next section (Returns:, Raises ...) starts
            continue
        if section == "google":
            m = _GOOGLE_ITEM.match(line)
        elif section == "numpy" and not line[:1].isspace():
            m = _NUMPY_ITEM.match(line)
        else:
            m = None
        if m:
            put(m.group(1), m.group(2))
    return found


@dataclass
class DoctestExample:
    """One ``>>> name(...)`` example of a docstring whose arguments are all literals."""

    call: str
    args: tuple[Any, ...]
    kwargs: dict[str, Any]
    #: The expected output as written (``None`` when the example shows none).
    expected: str | None


def doctest_examples(docstring: str, name: str) -> list[DoctestExample]:
    """The docstring's examples that call ``name`` with literal arguments (others are skipped)."""
    examples: list[DoctestExample] = []
    lines = docstring.splitlines()
    i = 0
    while i < len(lines):
        stripped = lines[i].strip()
        if not stripped.startswith(">>> "):
            i += 1
            continue
        source = stripped[4:]
        i += 1
        while i < len(lines) and lines[i].strip().startswith("... "):
            source += "\n" + lines[i].strip()[4:]
            i += 1
        output: list[str] = []
        while i < len(lines) and lines[i].strip() and not lines[i].strip().startswith(">>>"):
            output.append(lines[i].strip())
            i += 1
        example = _literal_call(source, name)
        if example is not None:
            args, kwargs = example
            examples.append(DoctestExample(source, args, kwargs, "\n".join(output) if output else None))
    return examples


def _literal_call(source: str, name: str) -> tuple[tuple[Any, ...], dict[str, Any]] | None:
    try:
        node = ast.parse(source, mode="eval").body
    except SyntaxError:
        return None
    if not (isinstance(node, ast.Call) and _name(node.func) == name):
        return None
    try:
        args = tuple(ast.literal_eval(a) for a in node.args)
        kwargs = {k.arg: ast.literal_eval(k.value) for k in node.keywords if k.arg}
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
        return None
    if any(isinstance(a, ast.Starred) for a in node.args) or any(k.arg is None for k in node.keywords):
        return None
    return args, kwargs


# ------------------------------------------------------------------------------------------------- names

_NAME_TYPES: list[tuple[str, TypeSpec]] = [
    (
        r"(n|m|k|i|j|num|number|count|size|length|idx|index|start|stop|end|step|width|height|base|"
        r"pos|offset|limit|depth|level|year|month|day|x|y|a|b|n\d|num\d)",
        INT,
    ),
    (
        r"(s|text|word|string|name|line|prefix|suffix|sep|char|ch|c|pattern|word\d|s\d|str\d|sentence|key)",
        STR,
    ),
    (
        r"(xs|ys|nums|numbers|arr|array|lst|list\d?|values|items|ints|seq|sequence|data|elements|a_list|l)",
        list_of(INT),
    ),
    (r"(words|strings|names|lines|strs|texts|tokens)", list_of(STR)),
    (r"(flag|is_\w+|has_\w+|strict|reverse|verbose|case_sensitive|ignore_case)", BOOL),
    (r"(f|t|ratio|rate|alpha|beta|eps|tol|prob|p|weight|scale|factor)", FLOAT),
    (r"(d|dct|mapping|counts|table)", TypeSpec("dict", (STR, INT))),
]


def name_type(name: str) -> TypeSpec | None:
    """The conventional type of a parameter called ``name`` (``None`` when the name says nothing)."""
    lowered = name.lower()
    for pattern, spec in _NAME_TYPES:
        if re.fullmatch(pattern, lowered):
            return spec
    if lowered.endswith(("_list", "_nums", "_values")):
        return list_of(INT)
    if lowered.startswith(("num_", "n_", "max_", "min_")) or lowered.endswith(("_count", "_size", "_len")):
        return INT
    if lowered.endswith(("_str", "_name", "_text")):
        return STR
    return None


# ------------------------------------------------------------------------------------------- signatures

#: Where a parameter's type came from, most explicit first (``probe``: replaced by
#: :func:`unitrl.datagen.oracle.refine_signature` after trying the reference on other types).
EVIDENCE = ("annotation", "docstring", "doctest", "probe", "default", "name", "unknown")


@dataclass
class Param:
    """One parameter of the function and the type inferred for it."""

    name: str
    #: ``positional`` (positional-only or ordinary), ``keyword`` (keyword-only), ``vararg`` (``*args``,
    #: typed by its elements) or ``kwarg`` (``**kwargs``, never generated).
    kind: str
    type: TypeSpec
    #: One of :data:`EVIDENCE`.
    evidence: str
    has_default: bool = False
    default: Any = None
    #: Whether the default is a literal (so it can be passed explicitly and written into a test).
    default_is_literal: bool = False


@dataclass
class Signature:
    name: str
    params: list[Param] = field(default_factory=list)
    examples: list[DoctestExample] = field(default_factory=list)

    def __str__(self) -> str:
        return f"{self.name}(" + ", ".join(f"{p.name}: {p.type}" for p in self.params) + ")"


def _function_node(source: str, name: str) -> ast.FunctionDef | ast.AsyncFunctionDef:
    tree = ast.parse(source)
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and node.name == name:
            return node
    raise ValueError(f"no function {name!r} in the source")


def infer_signature(source: str, name: str) -> Signature:
    """Every parameter of function ``name`` in ``source`` with its inferred type and the evidence used."""
    node = _function_node(source, name)
    docstring = ast.get_docstring(node) or ""
    declared = docstring_types(docstring)
    examples = doctest_examples(docstring, name)
    a = node.args
    positional = [*a.posonlyargs, *a.args]
    pos_defaults: list[ast.expr | None] = [None] * (len(positional) - len(a.defaults)) + list(a.defaults)
    entries: list[tuple[ast.arg, str, ast.expr | None]] = [
        (arg, "positional", d) for arg, d in zip(positional, pos_defaults, strict=True)
    ]
    if a.vararg:
        entries.append((a.vararg, "vararg", None))
    entries += [(arg, "keyword", d) for arg, d in zip(a.kwonlyargs, a.kw_defaults, strict=True)]
    if a.kwarg:
        entries.append((a.kwarg, "kwarg", None))
    sig = Signature(name, examples=examples)
    for index, (arg, kind, default_node) in enumerate(entries):
        default: Any = None
        literal = False
        if default_node is not None:
            with contextlib.suppress(ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
                default, literal = ast.literal_eval(default_node), True
        spec, evidence = _infer_one(arg, kind, index, default_node, default, literal, declared, examples)
        sig.params.append(
            Param(
                arg.arg, kind, spec, evidence, default_node is not None, default, default_is_literal=literal
            )
        )
    return sig


def _infer_one(
    arg: ast.arg,
    kind: str,
    index: int,
    default_node: ast.expr | None,
    default: Any,
    literal: bool,
    declared: dict[str, TypeSpec],
    examples: list[DoctestExample],
) -> tuple[TypeSpec, str]:
    if arg.annotation is not None and (spec := parse_annotation(arg.annotation)) is not None:
        return spec, "annotation"
    if arg.arg in declared:
        return declared[arg.arg], "docstring"
    if kind != "vararg" and kind != "kwarg":
        seen = []
        for ex in examples:
            if kind == "positional" and index < len(ex.args):
                seen.append(type_of_value(ex.args[index]))
            elif arg.arg in ex.kwargs:
                seen.append(type_of_value(ex.kwargs[arg.arg]))
        seen_types = [s for s in seen if s is not None]
        if seen_types:
            spec = union(*seen_types)
            return (optional(spec) if literal and default is None else spec), "doctest"
    by_name = name_type(arg.arg)
    if literal and default is not None and (spec := type_of_value(default)) is not None:
        if spec.kind in ("list", "set", "dict") and by_name is not None and by_name.kind == spec.kind:
            return by_name, "name"  # an empty default container says less than its name
        return spec, "default"
    if by_name is not None:
        return (optional(by_name) if literal and default is None else by_name), "name"
    if literal and default is None and default_node is not None:
        return optional(ANY), "default"
    return ANY, "unknown"


def hashable(value: Any) -> bool:
    """True when ``value`` can be a set element or dict key (inputs for sets and dicts are filtered by it)."""
    try:
        hash(value)
    except TypeError:
        return False
    return True
