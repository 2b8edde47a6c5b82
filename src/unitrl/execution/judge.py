"""The trusted side: run ``test_setup`` and each test, calling into the program only through RPC.

The judge is a separate process from the program.  Tests and setup execute here, with the program's names
(functions, classes, constants) bound to :class:`Remote` proxies; a call sends plain-data arguments to the
program and gets a plain-data result (or an opaque handle) back.  Every comparison, truth test and assertion
therefore runs on values the judge decoded itself, with the judge's own operators.  Results go to the worker
through a pipe the program's process never holds.
"""

from __future__ import annotations

import ast
import builtins
import importlib
import sys
import time
from collections.abc import Callable
from typing import Any

from unitrl.execution.protocol import (
    Callback,
    ChannelClosed,
    ChannelTimeout,
    MessageTooLarge,
    Ref,
    is_plain_type,
    recv,
    send,
    transform,
)


class ProgramError(Exception):
    """An exception raised inside the program that has no builtin equivalent here."""


class ProgramTimeout(Exception):
    """The program did not answer before the test's deadline."""


class ProgramCrashed(Exception):
    """The program's process went away (exit, kill, resource limit) or broke the protocol."""


def _rebuild_exception(name: str, message: str, memory: bool) -> BaseException:
    if memory:
        return MemoryError(message)
    cls = getattr(builtins, name, None)
    if isinstance(cls, type) and issubclass(cls, Exception) and cls is not AssertionError:
        try:
            return cls(message)
        except Exception:  # noqa: BLE001 - exceptions with unusual constructors (UnicodeDecodeError)
            pass
    return ProgramError(f"{name}: {message}")


class Connection:
    """Request/reply channel to the program, with a deadline and nested callbacks."""

    def __init__(self, rx: int, tx: int, max_bytes: int) -> None:
        self.rx, self.tx, self.max_bytes = rx, tx, max_bytes
        self.deadline: float | None = None
        self.callbacks: dict[int, Any] = {}
        self.proxies: dict[int, Remote] = {}
        self.broken: BaseException | None = None

    def read(self) -> Any:
        if self.broken is not None:
            raise self.broken
        try:
            return recv(self.rx, deadline=self.deadline, max_bytes=self.max_bytes)
        except ChannelTimeout:
            self.broken = ProgramTimeout("time limit exceeded")
        except ChannelClosed:
            self.broken = ProgramCrashed("program process exited or was killed")
        except MessageTooLarge as e:
            self.broken = ProgramCrashed(f"program returned a value of {e.args[0]} bytes (over the limit)")
        except Exception as e:  # noqa: BLE001 - undecodable or forged message
            self.broken = ProgramCrashed(f"program sent an invalid message ({type(e).__name__}: {e})")
        raise self.broken

    def request(self, msg: tuple[Any, ...]) -> tuple[Any, ...]:
        self.send_request(msg)
        return self.wait_reply()

    def send_request(self, msg: tuple[Any, ...]) -> None:
        if self.broken is not None:
            raise self.broken
        try:
            send(self.tx, msg)
        except OSError:
            self.broken = ProgramCrashed("program process exited or was killed")
            raise self.broken from None

    def wait_reply(self) -> tuple[Any, ...]:
        """Read until the reply to our request, running any callbacks the program makes meanwhile."""
        while True:
            reply = self.read()
            if not isinstance(reply, tuple) or not reply:
                self.broken = ProgramCrashed("program sent a malformed reply")
                raise self.broken
            if reply[0] == "ok":
                return reply[1:]
            if reply[0] == "exc":
                raise _rebuild_exception(str(reply[1]), str(reply[2]), bool(reply[3]))
            if reply[0] == "callback":
                self._run_callback(reply)
                continue
            self.broken = ProgramCrashed("program sent an unexpected message")
            raise self.broken

    def _run_callback(self, msg: tuple[Any, ...]) -> None:
        _, cb_id, args, kwargs = msg
        try:
            result = self.callbacks[cb_id](*self.decode(args), **self.decode(kwargs))
            reply: tuple[Any, ...] = ("ok", self.encode(result))
        except (ProgramTimeout, ProgramCrashed):
            raise
        except BaseException as e:  # noqa: BLE001 - a failing callback is reported to the program
            reply = ("exc", type(e).__name__, str(e)[:300])
        send(self.tx, reply)

    # -- values ----------------------------------------------------------------------------------------------
    def encode(self, value: Any) -> Any:
        return transform(value, self._encode_leaf)

    def _encode_leaf(self, value: Any) -> Any:
        if type(value) is Remote:
            return Ref(object.__getattribute__(value, "_id"))
        if isinstance(value, type) and is_plain_type(value):
            return value  # int, str, Counter...: pickled by name, rebuilt as the same type in the program
        if callable(value):
            self.callbacks[id(value)] = value
            return Callback(id(value))
        return value  # atoms and other plain values (bytearray, Counter, Decimal...) pickle as they are

    def decode(self, value: Any) -> Any:
        return transform(value, self._decode_leaf)

    def _decode_leaf(self, value: Any) -> Any:
        t = type(value)
        if t is Ref:
            proxy = self.proxies.get(value.id)
            if proxy is None:
                proxy = self.proxies[value.id] = Remote(self, value.id)
            return proxy
        if t is Callback:
            raise ProgramCrashed("program sent a callback handle")
        return value


def _write_back(original: Any, new_state: Any) -> None:
    """Mirror an in-place mutation the program made to a mutable argument."""
    if isinstance(original, list) and isinstance(new_state, list):
        original[:] = new_state
    elif isinstance(original, (dict, set)) and type(new_state) is type(original):
        original.clear()
        original.update(new_state)
    elif isinstance(original, bytearray) and isinstance(new_state, bytearray):
        original[:] = new_state


class Remote:
    """A judge-side stand-in for an object of the program (function, class, instance, iterator...).

    Calls, attribute access, iteration, indexing and ``len`` are forwarded; equality is identity and the truth
    value is refused, so an opaque object can never satisfy an assertion by itself.
    """

    __slots__ = ("_conn", "_id")

    def __init__(self, conn: Connection, ident: int) -> None:
        object.__setattr__(self, "_conn", conn)
        object.__setattr__(self, "_id", ident)

    def _op(self, name: str, *args: Any) -> Any:
        conn: Connection = object.__getattribute__(self, "_conn")
        (value,) = conn.request(("op", Ref(object.__getattribute__(self, "_id")), name, conn.encode(args)))
        return conn.decode(value)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        conn: Connection = object.__getattribute__(self, "_conn")
        ref = Ref(object.__getattribute__(self, "_id"))
        value, after = conn.request(("call", ref, conn.encode(args), conn.encode(kwargs)))
        for original, new_state in zip(args, after, strict=False):
            if new_state is not None:
                _write_back(original, conn.decode(new_state))
        return conn.decode(value)

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__") and name.endswith("__"):
            raise AttributeError(name)
        conn: Connection = object.__getattribute__(self, "_conn")
        (value,) = conn.request(("getattr", Ref(object.__getattribute__(self, "_id")), name))
        return conn.decode(value)

    def __setattr__(self, name: str, value: Any) -> None:
        conn: Connection = object.__getattribute__(self, "_conn")
        conn.request(("setattr", Ref(object.__getattribute__(self, "_id")), name, conn.encode(value)))

    def __iter__(self) -> Any:
        return self._op("__iter__")

    def __next__(self) -> Any:
        return self._op("__next__")

    def __len__(self) -> int:
        return self._op("__len__")

    def __getitem__(self, key: Any) -> Any:
        return self._op("__getitem__", key)

    def __setitem__(self, key: Any, value: Any) -> None:
        self._op("__setitem__", key, value)

    def __contains__(self, item: Any) -> bool:
        return bool(self._op("__contains__", item))

    def __bool__(self) -> bool:
        raise TypeError("an opaque object of the program has no trusted truth value")

    def __eq__(self, other: object) -> bool:
        raise TypeError("opaque objects of the program cannot be compared (return plain data instead)")

    __ne__ = __eq__
    __hash__ = object.__hash__

    def __repr__(self) -> str:
        try:
            text = self._op("__repr__")
        except Exception:  # noqa: BLE001
            text = None
        return f"<program object {text[:80] if isinstance(text, str) else '?'}>"

    __str__ = __repr__


def _parse(source: str) -> ast.Module | None:
    try:
        return ast.parse(source)
    except SyntaxError:
        return None  # compiled again when the test runs, where the SyntaxError becomes its verdict


def referenced_names(trees: list[ast.Module | None]) -> set[str]:
    """Every name loaded anywhere in the parsed sources."""
    return {
        node.id for tree in trees if tree is not None for node in ast.walk(tree) if isinstance(node, ast.Name)
    }


#: Standard-library modules a test may use without importing them (MBPP tests rely on the program's
#: ``import math``): the judge imports its own copy, never the program's object of that name.
_TRUSTED_MODULES = frozenset(sys.stdlib_module_names) - {
    "antigravity",
    "this",
    "idlelib",
    "tkinter",
    "turtle",
}


def trusted_bindings(wanted: list[str], program_names: frozenset[str]) -> tuple[dict[str, Any], list[str]]:
    """Split the names tests use into trusted bindings (builtins, stdlib modules) and names to ask the program.

    A program cannot shadow a builtin or a standard module for the tests -- ``def len(x): return 3`` must not
    change what ``assert len(f(x)) == 3`` checks -- except for names listed in ``program_names`` (the task's
    entry point, which may legitimately be called ``sum``).
    """
    trusted: dict[str, Any] = {}
    ask: list[str] = []
    for name in wanted:
        if name in program_names:
            ask.append(name)
        elif hasattr(builtins, name):
            continue
        elif name in _TRUSTED_MODULES:
            try:
                trusted[name] = importlib.import_module(name)
            except ImportError:
                ask.append(name)
        else:
            ask.append(name)
    return trusted, ask


def _compile_test(test: str, tree: ast.Module | None) -> tuple[Any, bool]:
    """Compile a test; a bare expression is compiled in eval mode so its value can be reported."""
    if tree is None:
        tree = ast.parse(test)  # raises the test's SyntaxError
    if len(tree.body) == 1 and isinstance(tree.body[0], ast.Expr):
        return compile(ast.Expression(tree.body[0].value), "<test>", "eval"), True
    return compile(tree, "<test>", "exec"), False


def _classify(e: BaseException) -> tuple[str, str]:
    if isinstance(e, ProgramTimeout):
        return "timeout", "time limit exceeded"
    if isinstance(e, ProgramCrashed):
        return "killed", str(e)
    if isinstance(e, MemoryError):
        return "memory", "MemoryError"
    if isinstance(e, AssertionError):
        return "fail", f"AssertionError{': ' + str(e)[:200] if str(e) else ''}"
    return "error", f"{type(e).__name__}: {str(e)[:300]}"


def _safe_repr(value: Any, limit: int = 100_000) -> str:
    try:
        text = repr(value)
    except BaseException as e:  # noqa: BLE001
        return f"<unrepresentable: {type(e).__name__}>"
    return text if len(text) <= limit else text[:limit] + "...<truncated>"


def run_judge(
    *,
    setup: str,
    tests: list[str],
    rx: int,
    tx: int,
    report: Callable[[tuple[Any, ...]], None],
    deadline: float,
    test_timeout: float | None,
    max_value_bytes: int,
    program_names: frozenset[str] = frozenset(),
) -> None:
    """Run the tests against the program on (rx, tx), passing each verdict to ``report`` as it is reached.

    Reports: ``("program", status, error)`` once, then ``("test", index, outcome, error, value)`` for each
    test that ran.  Tests that never report count as not run.
    """
    conn = Connection(rx, tx, max_value_bytes)
    conn.deadline = deadline
    trees = [_parse(t) for t in tests]
    trusted, ask = trusted_bindings(sorted(referenced_names([_parse(setup), *trees])), program_names)
    # Pipelined: the program answers the lookup as soon as it has loaded, saving a round trip.  A program that
    # fails to compile or load reports it and exits without reading, so the lookup can meet a closed pipe;
    # what the program said is still waiting in the other pipe and decides the verdict (once read as
    # "killed": 7 in 1,000 syntax and load errors on a loaded machine).
    unsent: ProgramCrashed | None = None
    try:
        conn.send_request(("lookup", ask))
    except ProgramCrashed as e:
        unsent, conn.broken = e, None
    try:
        first = conn.read()
    except (ProgramTimeout, ProgramCrashed) as e:
        outcome, error = _classify(e)
        report(("program", outcome, error))
        return
    if first[0] == "syntax_error":
        report(("program", "syntax_error", str(first[1])))
        return
    if first[0] == "load_error":
        status = "memory" if first[1] == "MemoryError" else "runtime_error"
        report(("program", status, f"{first[1]}: {first[2]}"))
        return
    if unsent is not None:  # it loaded, then went away before it read the lookup
        report(("program", *_classify(unsent)))
        return
    report(("program", "ready", ""))

    namespace: dict[str, Any] = {"__name__": "__unitrl_tests__", "__builtins__": builtins}
    try:
        (found,) = conn.wait_reply()
        namespace.update({str(k): conn.decode(v) for k, v in found.items()})
        namespace.update(trusted)
        if setup.strip():
            exec(compile(setup, "<test_setup>", "exec"), namespace)
    except BaseException as e:  # noqa: BLE001 - a failing setup fails every test
        outcome, error = _classify(e)
        if outcome == "fail":
            outcome = "error"
        for i in range(len(tests)):
            report(("test", i, outcome, f"test_setup: {error}", None))
        return

    for i, test in enumerate(tests):
        now = time.monotonic()
        conn.deadline = deadline if test_timeout is None else min(deadline, now + test_timeout)
        value_text = None
        try:
            code, is_expression = _compile_test(test, trees[i])
            if is_expression:
                value_text = _safe_repr(eval(code, namespace))
            else:
                exec(code, namespace)
            outcome, error = "pass", ""
        except BaseException as e:  # noqa: BLE001 - whatever a test raises is its verdict
            outcome, error = _classify(e)
        report(("test", i, outcome, error, value_text))
        if conn.broken is not None:
            return
