"""Pick the functions of a Python module that can become unit-tested tasks.

A mined task is only useful if its reference solution can be run in the sandbox, on its own, as the oracle
of its own tests.  So a function qualifies only if it is *self-contained*: every name it uses resolves to a
builtin, a standard-library import of its module, or module-level constants and helper functions of the same
module -- which are then carried along with it (the transitive closure of what it needs) into one runnable
``reference`` program.  And it must be *deterministic and side-effect free*, because the tests we generate
compare return values: functions doing I/O, reading clocks or random generators, touching the network, or
mutating module state would give flaky or meaningless oracles.  Functions too trivial (``return 0``) or too
long to be a good exercise are dropped too.

Every function that is looked at and rejected is counted under exactly one reason from :data:`REASONS`, so
a mining run can report where its yield goes.  The checks are static and conservative: a false rejection
costs one task, a false acceptance costs a flaky one; the sandbox still runs everything that passes here.
"""

from __future__ import annotations

import ast
import builtins
import symtable
import sys
import textwrap
from collections import Counter
from dataclasses import dataclass, field

#: The fixed vocabulary of rejection reasons (one per rejected function).
REASONS: tuple[str, ...] = (
    "syntax_error",  # the module does not parse (counted once for the module)
    "async",  # async def
    "decorated",  # a decorator other than @staticmethod
    "nested_in_class",  # a method that uses its instance (self), a classmethod, or a dunder method
    "no_args",  # nothing to generate inputs for
    "generator",  # yields: its value is an iterator, not comparable data
    "trivial_body",  # pass / docstring only / returns a constant / raise NotImplementedError
    "too_long",  # body over the line limit
    "global_mutation",  # global/nonlocal, globals(), or mutating a module-level object
    "non_stdlib_import",  # needs a third-party or relative import
    "uses_class",  # needs a class defined in the module (classes are not carried yet)
    "unresolved_name",  # a name that is not a builtin, an import or a top-level definition
    "io",  # files, processes, the OS, stdin, ...
    "randomness",  # random, secrets, uuid
    "time",  # clocks and "now"
    "network",  # sockets, HTTP, ...
    "dynamic_code",  # exec / eval / compile / __import__
    "print_only",  # prints its result instead of returning it
)

_IO_MODULES = frozenset(
    [
        "os",
        "sys",
        "io",
        "shutil",
        "subprocess",
        "pathlib",
        "tempfile",
        "glob",
        "fileinput",
        "shelve",
        "sqlite3",
        "dbm",
        "logging",
        "ctypes",
        "multiprocessing",
        "threading",
        "concurrent",
        "signal",
        "atexit",
        "gc",
        "importlib",
        "builtins",
        "inspect",
        "platform",
        "getpass",
        "pty",
        "tty",
        "termios",
        "fcntl",
        "resource",
        "mmap",
        "zipfile",
        "tarfile",
        "faulthandler",
        "tracemalloc",
        "sysconfig",
        "site",
        "pdb",
        "code",
        "runpy",
        "pkgutil",
        "sched",
        "_thread",
        "msvcrt",
        "winreg",
    ]
)
_RANDOM_MODULES = frozenset({"random", "secrets", "uuid"})
_TIME_MODULES = frozenset({"time"})
_NETWORK_MODULES = frozenset(
    [
        "socket",
        "ssl",
        "http",
        "urllib",
        "ftplib",
        "smtplib",
        "poplib",
        "imaplib",
        "telnetlib",
        "xmlrpc",
        "asyncio",
        "selectors",
        "select",
        "socketserver",
        "webbrowser",
        "wsgiref",
        "nntplib",
    ]
)
#: Attribute names that read the clock through otherwise pure modules (``datetime.now()``, ``date.today()``).
_CLOCK_ATTRIBUTES = frozenset({"now", "today", "utcnow"})

_BUILTIN_REASONS: dict[str, str] = {
    "open": "io",
    "input": "io",
    "breakpoint": "io",
    "exit": "io",
    "quit": "io",
    "help": "io",
    "exec": "dynamic_code",
    "eval": "dynamic_code",
    "compile": "dynamic_code",
    "__import__": "dynamic_code",
    "globals": "global_mutation",
}

#: Methods that mutate the common containers in place; called on a module-level object they leak state
#: from one test to the next.
_MUTATING_METHODS = frozenset(
    [
        "append",
        "extend",
        "insert",
        "remove",
        "pop",
        "clear",
        "update",
        "add",
        "discard",
        "setdefault",
        "popitem",
        "sort",
        "reverse",
        "appendleft",
        "extendleft",
        "popleft",
        "rotate",
        "difference_update",
        "intersection_update",
        "symmetric_difference_update",
        "__setitem__",
        "__delitem__",
    ]
)

_BUILTIN_NAMES = frozenset(dir(builtins))


@dataclass
class Candidate:
    """A self-contained function and the runnable program that defines it."""

    #: The function's name (the task's entry point).
    name: str
    #: The function's own source, dedented, without decorators.
    source: str
    #: Imports + carried constants + helpers + the function, in their original order: one runnable program.
    reference: str
    docstring: str
    #: ``def name(args) -> ret:`` as written.
    signature: str
    lineno: int
    path: str
    #: Names of the carried helper functions, in source order.
    helpers: list[str] = field(default_factory=list)
    #: Names of the carried module-level constants, in source order.
    constants: list[str] = field(default_factory=list)
    #: ``Class.name`` for a staticmethod, else ``name``.
    qualname: str = ""


class _Reject(Exception):
    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass
class _Module:
    """What the top level of a module binds, and where."""

    source: str
    tree: ast.Module
    imports: dict[str, tuple[ast.Import | ast.ImportFrom, ast.alias]] = field(default_factory=dict)
    constants: dict[str, list[ast.stmt]] = field(default_factory=dict)
    functions: dict[str, ast.FunctionDef | ast.AsyncFunctionDef] = field(default_factory=dict)
    classes: dict[str, ast.ClassDef] = field(default_factory=dict)
    other: set[str] = field(default_factory=set)  # bound some other way (for loops, try/if blocks, ...)
    future: list[ast.ImportFrom] = field(default_factory=list)


def _target_names(target: ast.expr) -> list[str]:
    if isinstance(target, ast.Name):
        return [target.id]
    if isinstance(target, ast.Tuple | ast.List):
        return [n for elt in target.elts for n in _target_names(elt)]
    if isinstance(target, ast.Starred):
        return _target_names(target.value)
    return []


def _index_module(source: str, tree: ast.Module) -> _Module:
    mod = _Module(source, tree)
    for stmt in tree.body:
        if isinstance(stmt, ast.ImportFrom) and stmt.module == "__future__":
            mod.future.append(stmt)
        elif isinstance(stmt, ast.Import | ast.ImportFrom):
            for alias in stmt.names:
                if alias.name == "*":
                    continue  # star imports bind unknown names; whatever they provide stays unresolved
                bound = alias.asname or alias.name.split(".")[0]
                mod.imports[bound] = (stmt, alias)
        elif isinstance(stmt, ast.FunctionDef | ast.AsyncFunctionDef):
            mod.functions[stmt.name] = stmt
        elif isinstance(stmt, ast.ClassDef):
            mod.classes[stmt.name] = stmt
        elif isinstance(stmt, ast.Assign | ast.AnnAssign | ast.AugAssign):
            targets = stmt.targets if isinstance(stmt, ast.Assign) else [stmt.target]
            if isinstance(stmt, ast.AnnAssign) and stmt.value is None:
                continue
            for name in {n for t in targets for n in _target_names(t)}:
                mod.constants.setdefault(name, []).append(stmt)
        else:
            for node in ast.walk(stmt):
                if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
                    mod.other.add(node.id)
                elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
                    mod.other.add(node.name)
                elif isinstance(node, ast.alias):
                    mod.other.add(node.asname or node.name.split(".")[0])
    return mod


def _start(node: ast.stmt) -> tuple[int, int]:
    decorators = getattr(node, "decorator_list", [])
    first = decorators[0] if decorators else node
    # a decorator's expression starts after the '@'
    return (first.lineno, first.col_offset - 1 if decorators else first.col_offset)


def _segment(source: str, node: ast.stmt, with_decorators: bool = True) -> str:
    """The exact source text of a top-level statement (decorators included)."""
    lines = source.splitlines(keepends=True)
    lineno, col = _start(node) if with_decorators else (node.lineno, node.col_offset)
    end_lineno, end_col = node.end_lineno or lineno, node.end_col_offset or 0
    if lineno == end_lineno:
        return lines[lineno - 1][col:end_col]
    return lines[lineno - 1][col:] + "".join(lines[lineno : end_lineno - 1]) + lines[end_lineno - 1][:end_col]


def _static_like(method: ast.FunctionDef | ast.AsyncFunctionDef) -> ast.FunctionDef | None:
    """An undecorated method that never touches its instance, as a plain function without ``self``.

    ``def scale(self, xs, k): return [x * k for x in xs]`` is a function that happens to live in a class;
    dropping the unused first parameter makes it callable (and testable) like any top-level function.  Not
    for dunder methods (their meaning is the protocol), nor when the body names ``self``, ``super`` or
    ``__class__`` anywhere (nested scopes included: conservative).
    """
    if method.decorator_list or not isinstance(method, ast.FunctionDef):
        return None
    if method.name.startswith("__") and method.name.endswith("__"):
        return None
    args = method.args
    positional = args.posonlyargs + args.args
    if not positional or len(args.defaults) >= len(positional):  # no instance parameter, or it has a default
        return None
    instance = positional[0].arg
    if any(isinstance(n, ast.Name) and n.id in (instance, "super", "__class__") for n in ast.walk(method)):
        return None
    rest = ast.arguments(
        posonlyargs=args.posonlyargs[1:],
        args=args.args[1:] if not args.posonlyargs else args.args,
        vararg=args.vararg,
        kwonlyargs=args.kwonlyargs,
        kw_defaults=args.kw_defaults,
        kwarg=args.kwarg,
        defaults=args.defaults,
    )
    function = ast.FunctionDef(**{**{f: getattr(method, f) for f in method._fields}, "args": rest})
    return ast.copy_location(function, method)


def _function_source(source: str, node: ast.FunctionDef | ast.AsyncFunctionDef, nested: bool) -> str:
    """The function's text; a staticmethod is dedented out of its class and loses its decorator; a
    static-like method (:func:`_static_like`) is written from its rewritten AST (comments are lost)."""
    if getattr(node, "_unitrl_static_like", False):
        return ast.unparse(ast.fix_missing_locations(node)).rstrip() + "\n"
    if not nested:
        return _segment(source, node)
    lines = source.splitlines(keepends=True)
    text = textwrap.dedent("".join(lines[node.lineno - 1 : node.end_lineno]))
    try:
        ast.parse(text)
    except SyntaxError:  # e.g. a multi-line string whose lines are less indented than the def
        bare = ast.FunctionDef(**{**{f: getattr(node, f) for f in node._fields}, "decorator_list": []})
        text = ast.unparse(ast.fix_missing_locations(bare))
    return text.rstrip() + "\n"


def _free_names(code: str) -> set[str]:
    """Module-level names that ``code`` (top-level statements) reads, found with the compiler's own scoping.

    ``symtable`` is used rather than walking the AST by hand so that comprehension scopes, class bodies,
    closures and shadowing are treated exactly as Python treats them.
    """
    top = symtable.symtable(code, "<candidate>", "exec")
    names = {s.get_name() for s in top.get_symbols() if s.is_referenced()}
    stack = list(top.get_children())
    while stack:
        table = stack.pop()
        names.update(s.get_name() for s in table.get_symbols() if s.is_global() and s.is_referenced())
        stack.extend(table.get_children())
    return names


def _own_nodes(func: ast.AST):
    """Nodes of ``func``'s own scope: nested functions, lambdas and classes are not descended into."""
    stack = list(ast.iter_child_nodes(func))
    while stack:
        node = stack.pop()
        yield node
        if not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda | ast.ClassDef):
            stack.extend(ast.iter_child_nodes(node))


def _root_name(node: ast.expr) -> str | None:
    while isinstance(node, ast.Attribute | ast.Subscript):
        node = node.value
    return node.id if isinstance(node, ast.Name) else None


def _mutates(func: ast.AST, names: set[str]) -> bool:
    """Whether ``func`` writes into one of the module-level objects ``names`` (item/attribute stores,
    deletes, augmented assignments, or in-place container methods)."""
    for node in ast.walk(func):
        targets: list[ast.expr] = []
        if isinstance(node, ast.Assign):
            targets = node.targets
        elif isinstance(node, ast.AugAssign | ast.AnnAssign):
            targets = [node.target]
        elif isinstance(node, ast.Delete):
            targets = node.targets
        elif (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr in _MUTATING_METHODS
            and _root_name(node.func.value) in names
        ):
            return True
        for target in targets:
            for sub in ast.walk(target):
                if isinstance(sub, ast.Attribute | ast.Subscript) and _root_name(sub) in names:
                    return True
    return False


def _module_reason(module: str | None, level: int) -> str | None:
    """Why a function may not use an import of ``module`` (``None`` = it may)."""
    if level or not module:
        return "non_stdlib_import"
    root = module.split(".")[0]
    if root in _IO_MODULES:
        return "io"
    if root in _RANDOM_MODULES:
        return "randomness"
    if root in _TIME_MODULES:
        return "time"
    if root in _NETWORK_MODULES:
        return "network"
    if root not in sys.stdlib_module_names:
        return "non_stdlib_import"
    return None


def _import_module(stmt: ast.Import | ast.ImportFrom, alias: ast.alias) -> tuple[str | None, int]:
    if isinstance(stmt, ast.Import):
        return alias.name, 0
    return stmt.module, stmt.level


class _Closure:
    """The transitive closure of what one candidate needs, checked as it is built."""

    def __init__(self, mod: _Module) -> None:
        self.mod = mod
        self.imports: dict[str, tuple[ast.Import | ast.ImportFrom, ast.alias]] = {}
        self.constants: dict[str, list[ast.stmt]] = {}
        self.helpers: dict[str, ast.FunctionDef] = {}
        self.seen: set[str] = set()
        #: The candidate's own name when it is a top-level function: it resolves to itself.
        self.target = ""

    def check_function(self, node: ast.FunctionDef | ast.AsyncFunctionDef, code: str) -> None:
        """Hazard checks shared by the candidate and its helpers, then resolve what ``node`` reads."""
        if isinstance(node, ast.AsyncFunctionDef):
            raise _Reject("async")
        local_datetime = False
        for sub in ast.walk(node):
            if isinstance(sub, ast.Global | ast.Nonlocal):
                raise _Reject("global_mutation")
            if isinstance(sub, ast.Import | ast.ImportFrom):
                # imports inside the body get the same checks as module-level ones (``from time import time``
                # in a function body reads the clock just the same)
                for alias in sub.names:
                    module, level = _import_module(sub, alias)
                    reason = _module_reason(module, level)
                    if reason:
                        raise _Reject(reason)
                    local_datetime = local_datetime or (module or "").split(".")[0] == "datetime"
        names = _free_names(code)
        self.resolve(names)
        module_objects = {n for n in names if n in self.mod.constants or n in self.mod.imports}
        if _mutates(node, module_objects):
            raise _Reject("global_mutation")
        uses_datetime = local_datetime or any(
            _import_module(*self.mod.imports[n])[0] in ("datetime",) for n in names if n in self.mod.imports
        )
        if uses_datetime and any(
            isinstance(sub, ast.Attribute) and sub.attr in _CLOCK_ATTRIBUTES for sub in ast.walk(node)
        ):
            raise _Reject("time")

    def resolve(self, names: set[str]) -> None:
        # sorted: when several names are bad, the reason reported does not depend on set order
        for name in sorted(names):
            if name in self.seen:
                continue
            self.seen.add(name)
            mod = self.mod
            kinds = [name in mod.functions, name in mod.imports, name in mod.constants, name in mod.classes]
            if name in mod.other or sum(kinds) > 1:
                # bound conditionally or in several ways: which binding the function sees depends on the order
                # and the path taken at import time, so it cannot be carried faithfully
                raise _Reject("unresolved_name")
            if name == self.target:
                continue
            if name in mod.functions:
                helper = mod.functions[name]
                self.helpers[name] = helper  # type: ignore[assignment]
                self.check_function(helper, _segment(mod.source, helper))
            elif name in mod.imports:
                stmt, alias = mod.imports[name]
                reason = _module_reason(*_import_module(stmt, alias))
                if reason:
                    raise _Reject(reason)
                self.imports[name] = (stmt, alias)
            elif name in mod.constants:
                stmts = mod.constants[name]
                self.constants[name] = stmts
                for stmt in stmts:
                    self.resolve(_free_names(_segment(mod.source, stmt)) - {name})
            elif name in mod.classes:
                raise _Reject("uses_class")
            elif name in _BUILTIN_NAMES:
                if name in _BUILTIN_REASONS:
                    raise _Reject(_BUILTIN_REASONS[name])
            else:
                raise _Reject("unresolved_name")

    def program(self, target: ast.stmt, target_source: str) -> str:
        """Imports, constants, helpers and the target as one program, in original source order."""
        mod = self.mod
        # (position, kind, text); kind is "import", "constant" or "def" and only decides the blank lines
        parts: list[tuple[tuple[int, int], str, str]] = [
            ((s.lineno, s.col_offset), "import", _segment(mod.source, s)) for s in mod.future
        ]
        by_stmt: dict[int, tuple[ast.Import | ast.ImportFrom, list[ast.alias]]] = {}
        for stmt, alias in self.imports.values():
            by_stmt.setdefault(id(stmt), (stmt, []))[1].append(alias)
        for stmt, aliases in by_stmt.values():
            kept = [a for a in stmt.names if any(a is b for b in aliases)]  # original alias order
            if isinstance(stmt, ast.Import):
                text = ast.unparse(ast.Import(names=kept))
            else:
                text = ast.unparse(ast.ImportFrom(module=stmt.module, names=kept, level=stmt.level))
            parts.append(((stmt.lineno, stmt.col_offset), "import", text))
        carried = {id(s): s for stmts in self.constants.values() for s in stmts}
        carried.update({id(f): f for f in self.helpers.values()})
        for stmt in carried.values():
            kind = "def" if isinstance(stmt, ast.FunctionDef) else "constant"
            parts.append(((stmt.lineno, stmt.col_offset), kind, _segment(mod.source, stmt)))
        parts.append(((target.lineno, target.col_offset), "def", target_source))
        parts.sort(key=lambda p: p[0])
        out = ""
        previous = ""
        for _, kind, text in parts:
            if previous:
                out += "" if kind == previous != "def" else "\n" if "def" not in (kind, previous) else "\n\n"
            out += text.rstrip() + "\n"
            previous = kind
        return out


def _is_trivial(node: ast.FunctionDef | ast.AsyncFunctionDef) -> bool:
    body = list(node.body)
    if ast.get_docstring(node) is not None:
        body = body[1:]
    body = [
        s
        for s in body
        if not (isinstance(s, ast.Pass) or (isinstance(s, ast.Expr) and isinstance(s.value, ast.Constant)))
    ]
    if not body:
        return True
    if len(body) == 1:
        stmt = body[0]
        if isinstance(stmt, ast.Return):
            if stmt.value is None:
                return True
            try:
                ast.literal_eval(stmt.value)
                return True
            except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
                return False
        if isinstance(stmt, ast.Raise) and stmt.exc is not None:
            exc = stmt.exc.func if isinstance(stmt.exc, ast.Call) else stmt.exc
            return isinstance(exc, ast.Name) and exc.id == "NotImplementedError"
    return False


def _body_lines(node: ast.FunctionDef | ast.AsyncFunctionDef) -> int:
    body = node.body[1:] if ast.get_docstring(node) is not None and len(node.body) > 1 else node.body
    return (node.end_lineno or body[-1].lineno) - body[0].lineno + 1


def _has_args(args: ast.arguments) -> bool:
    return bool(args.posonlyargs or args.args or args.vararg or args.kwonlyargs or args.kwarg)


def _returns_value(node: ast.AST) -> bool:
    return any(
        isinstance(sub, ast.Return)
        and sub.value is not None
        and not (isinstance(sub.value, ast.Constant) and sub.value.value is None)
        for sub in _own_nodes(node)
    )


def _signature(node: ast.FunctionDef | ast.AsyncFunctionDef) -> str:
    returns = f" -> {ast.unparse(node.returns)}" if node.returns else ""
    return f"def {node.name}({ast.unparse(node.args)}){returns}:"


def _examine(
    mod: _Module, node: ast.FunctionDef | ast.AsyncFunctionDef, path: str, max_lines: int, nested: bool
) -> Candidate:
    if isinstance(node, ast.AsyncFunctionDef):
        raise _Reject("async")
    decorators = [
        d for d in node.decorator_list if not (nested and isinstance(d, ast.Name) and d.id == "staticmethod")
    ]
    if decorators:
        raise _Reject("decorated")
    if not _has_args(node.args):
        raise _Reject("no_args")
    if any(isinstance(sub, ast.Yield | ast.YieldFrom) for sub in _own_nodes(node)):
        raise _Reject("generator")
    if _is_trivial(node):
        raise _Reject("trivial_body")
    if _body_lines(node) > max_lines:
        raise _Reject("too_long")
    source = _function_source(mod.source, node, nested)
    closure = _Closure(mod)
    if not nested:
        closure.target = node.name  # a helper calling back into the candidate must not carry it twice
    closure.check_function(node, source)
    prints = any(
        isinstance(n, ast.Call) and isinstance(n.func, ast.Name) and n.func.id == "print"
        for n in ast.walk(node)
    )
    if prints and not _returns_value(node):  # printing alongside a returned value is harmless
        raise _Reject("print_only")
    return Candidate(
        name=node.name,
        source=source,
        reference=closure.program(node, source),
        docstring=ast.get_docstring(node) or "",
        signature=_signature(node),
        lineno=node.lineno,
        path=path,
        helpers=[n for n, f in sorted(closure.helpers.items(), key=lambda kv: kv[1].lineno)],
        constants=[n for n, s in sorted(closure.constants.items(), key=lambda kv: kv[1][0].lineno)],
        qualname=node.name,
    )


def select_functions(
    source: str, path: str = "<string>", max_lines: int = 40
) -> tuple[list[Candidate], Counter[str]]:
    """Self-contained, deterministic functions of one module, and why the others were rejected.

    Looks at top-level functions, at the ``@staticmethod``\\ s of top-level classes and at their
    static-like methods (never using ``self``; :func:`_static_like`), all treated as plain functions; other
    methods count as ``nested_in_class``.  Returns the candidates in source order and a
    counter over :data:`REASONS` with one entry per rejected function (a module that does not parse counts
    once as ``syntax_error``).  ``max_lines`` bounds the lines the body spans, docstring excluded: long
    functions make long prompts and tests that cover little of them.
    """
    rejected: Counter[str] = Counter()
    try:
        tree = ast.parse(source, filename=path)
        symtable.symtable(source, path, "exec")  # catches what the parser lets through (e.g. bad nonlocal)
    except (SyntaxError, ValueError):
        rejected["syntax_error"] += 1
        return [], rejected
    mod = _index_module(source, tree)
    targets: list[tuple[ast.FunctionDef | ast.AsyncFunctionDef, str, bool]] = []
    for stmt in tree.body:
        if isinstance(stmt, ast.FunctionDef | ast.AsyncFunctionDef):
            targets.append((stmt, stmt.name, False))
        elif isinstance(stmt, ast.ClassDef):
            for item in stmt.body:
                if not isinstance(item, ast.FunctionDef | ast.AsyncFunctionDef):
                    continue
                if any(isinstance(d, ast.Name) and d.id == "staticmethod" for d in item.decorator_list):
                    targets.append((item, f"{stmt.name}.{item.name}", True))
                elif (function := _static_like(item)) is not None:
                    function._unitrl_static_like = True  # type: ignore[attr-defined]
                    targets.append((function, f"{stmt.name}.{item.name}", True))
                else:
                    rejected["nested_in_class"] += 1
    candidates: list[Candidate] = []
    for node, qualname, nested in targets:
        try:
            candidate = _examine(mod, node, path, max_lines, nested)
        except _Reject as r:
            rejected[r.reason] += 1
            continue
        except (SyntaxError, ValueError, RecursionError):
            rejected["syntax_error"] += 1
            continue
        candidate.qualname = qualname
        candidates.append(candidate)
    return candidates, rejected
