"""The untrusted side: load a program and answer the judge's calls on it.

Runs in the sandboxed program process (already isolated and rate-limited by ``worker``).  Nothing here is
trusted by the judge: whatever this process sends is decoded as plain data only (see ``protocol``), so a
program that tampers with this code can at worst make its own tests fail.
"""

from __future__ import annotations

import builtins
import io
import os
import sys
from typing import Any

from unitrl.execution.protocol import (
    ATOMS,
    EXTRA_VALUE_TYPES,
    Callback,
    ChannelClosed,
    Ref,
    recv,
    send,
    transform,
)

#: Special methods the judge may invoke on an opaque object.  Comparisons and truth value are deliberately
#: absent: the judge never asks the program whether something is equal or true.
FORWARDED_OPS = frozenset(
    {"__iter__", "__next__", "__len__", "__getitem__", "__setitem__", "__contains__", "__repr__", "__str__"}
)
_MUTABLE = (list, dict, set, bytearray)


class BoundedText(io.TextIOBase):
    """A stdout/stderr that keeps the first ``limit`` characters and silently drops the rest."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.parts: list[str] = []
        self.size = 0

    def writable(self) -> bool:
        return True

    def write(self, s: str) -> int:
        if self.size < self.limit:
            piece = str(s)[: self.limit - self.size]
            self.parts.append(piece)
            self.size += len(piece)
        return len(s)


class ProgramServer:
    """Holds the program's namespace and a table of objects the judge refers to by :class:`Ref`."""

    def __init__(self, rx: int, tx: int) -> None:
        self.rx, self.tx = rx, tx
        self.namespace: dict[str, Any] = {"__name__": "__unitrl_program__", "__builtins__": builtins}
        self.objects: dict[int, Any] = {}

    # -- values <-> wire ------------------------------------------------------------------------------------
    def encode(self, value: Any) -> Any:
        return transform(value, self._encode_leaf)

    def _encode_leaf(self, value: Any) -> Any:
        t = type(value)
        if t in ATOMS or t is bytearray or t in EXTRA_VALUE_TYPES:
            return value
        ident = id(value)
        self.objects[ident] = value
        return Ref(ident)

    def decode(self, value: Any) -> Any:
        return transform(value, self._decode_leaf)

    def _decode_leaf(self, value: Any) -> Any:
        t = type(value)
        if t is Ref:
            return self.objects[value.id]
        if t is Callback:
            return self._callback_stub(value.id)
        return value

    # -- request handling -------------------------------------------------------------------------------------
    def _callback_stub(self, cb_id: int):
        def call_back(*args: Any, **kwargs: Any) -> Any:
            send(self.tx, ("callback", cb_id, self.encode(args), self.encode(kwargs)))
            return self.wait_reply()

        return call_back

    def wait_reply(self) -> Any:
        """Serve judge requests until the reply to our own callback arrives."""
        while True:
            msg = recv(self.rx)
            if msg[0] == "ok":
                return self.decode(msg[1])
            if msg[0] == "exc":
                raise _rebuild_exception(msg[1], msg[2])
            self.handle(msg)

    def handle(self, msg: tuple[Any, ...]) -> None:
        try:
            reply = ("ok", *self.dispatch(msg))
        except MemoryError:
            reply = ("exc", "MemoryError", "out of memory", True)
        except BaseException as e:  # noqa: BLE001 - every program failure is reported, none escapes
            reply = ("exc", type(e).__name__, _short(e), False)
        send(self.tx, reply)

    def dispatch(self, msg: tuple[Any, ...]) -> tuple[Any, ...]:
        op = msg[0]
        if op == "lookup":
            found = {n: self.encode(self.namespace[n]) for n in msg[1] if n in self.namespace}
            return (found,)
        if op == "call":
            target = self.decode(msg[1])
            args = self.decode(msg[2])
            result = target(*args, **self.decode(msg[3]))
            after = [self.encode(a) if isinstance(a, _MUTABLE) else None for a in args]
            return (self.encode(result), after)
        if op == "getattr":
            return (self.encode(getattr(self.decode(msg[1]), msg[2])),)
        if op == "setattr":
            setattr(self.decode(msg[1]), msg[2], self.decode(msg[3]))
            return (None,)
        if op == "op" and msg[2] in FORWARDED_OPS:
            obj = self.decode(msg[1])
            method = getattr(type(obj), msg[2], None)
            if method is None:  # what Python itself raises for a missing special method
                raise TypeError(f"'{type(obj).__name__}' object does not support {msg[2]}")
            return (self.encode(method(obj, *self.decode(msg[3]))),)
        raise ValueError(f"unknown request {op!r}")

    def serve(self) -> None:
        while True:
            try:
                msg = recv(self.rx)
            except ChannelClosed:
                return
            self.handle(msg)


def _short(e: BaseException, limit: int = 300) -> str:
    try:
        text = str(e)
    except BaseException:  # noqa: BLE001
        text = "<unprintable>"
    return text[:limit]


def _rebuild_exception(name: str, message: str) -> BaseException:
    cls = getattr(builtins, name, None)
    if isinstance(cls, type) and issubclass(cls, Exception):
        return cls(message)
    return RuntimeError(f"{name}: {message}")


def run_program(source: str, rx: int, tx: int, output_bytes: int) -> None:
    """Load ``source`` and serve the judge.  First message: ready / syntax_error / load_error."""
    sys.stdout = BoundedText(output_bytes)
    sys.stderr = BoundedText(output_bytes)
    server = ProgramServer(rx, tx)
    try:
        code = compile(source, "<program>", "exec")
    except BaseException as e:  # noqa: BLE001 - SyntaxError, ValueError (null bytes), RecursionError, MemoryError
        send(tx, ("syntax_error", f"{type(e).__name__}: {_short(e)}"))
        return
    try:
        exec(code, server.namespace)
    except MemoryError:
        send(tx, ("load_error", "MemoryError", "out of memory"))
        return
    except BaseException as e:  # noqa: BLE001 - SystemExit at import time is a failure, not an exit
        send(tx, ("load_error", type(e).__name__, _short(e)))
        return
    send(tx, ("ready",))
    server.serve()


def main_in_child(source: str, rx: int, tx: int, output_bytes: int) -> None:
    """Entry point in the forked program process; never returns."""
    try:
        run_program(source, rx, tx, output_bytes)
    finally:
        os._exit(0)
