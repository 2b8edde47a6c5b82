"""Wire format between the sandbox's processes: length-prefixed pickles of *plain data only*.

Every message that crosses from an untrusted program to the trusted judge is decoded by
:class:`PlainUnpickler`, which refuses any class outside a short allow-list of inert data types.  That is what
makes the verdict unforgeable: the program can only ever hand the judge plain values (or opaque handles to its
own objects), so an object whose ``__eq__`` always says True, a fake ``bool`` or an exit code never reaches the
comparison -- the judge compares plain values with its own, trusted, operators.

This module is imported inside the sandbox, so it uses the standard library only.
"""

from __future__ import annotations

import io
import os
import pickle
import select
import struct
import time
from collections.abc import Callable
from typing import Any

_HEADER = struct.Struct("!Q")
PROTOCOL = 5


class ChannelClosed(Exception):
    """The other end closed the pipe (it exited or was killed)."""


class ChannelTimeout(Exception):
    """No complete message arrived before the deadline."""


class MessageTooLarge(Exception):
    """The other end announced a message above the size limit; the channel can no longer be trusted."""


class Ref:
    """Opaque handle to an object that lives in the program's process (its id in the program's table)."""

    __slots__ = ("id",)

    def __init__(self, id: int) -> None:
        self.id = id

    def __reduce__(self) -> tuple[Any, ...]:
        return (Ref, (self.id,))


class Callback:
    """Handle to a trusted callable (a test's lambda) that the program may call back through the judge."""

    __slots__ = ("id",)

    def __init__(self, id: int) -> None:
        self.id = id

    def __reduce__(self) -> tuple[Any, ...]:
        return (Callback, (self.id,))


#: Classes a message may name.  Each is an inert value type: constructing one runs no program code.
_ALLOWED: dict[tuple[str, str], Any] = {}


def _allow() -> None:
    import builtins
    import collections
    import datetime
    import decimal
    import fractions

    for name in (
        "complex",
        "int",
        "float",
        "str",
        "bytes",
        "list",
        "tuple",
        "dict",
        "set",
        "frozenset",
        "bool",
    ):
        _ALLOWED[("builtins", name)] = getattr(builtins, name)
    for name in ("OrderedDict", "Counter", "deque", "defaultdict"):
        _ALLOWED[("collections", name)] = getattr(collections, name)
    for name in ("date", "time", "datetime", "timedelta", "timezone"):
        _ALLOWED[("datetime", name)] = getattr(datetime, name)
    _ALLOWED[("decimal", "Decimal")] = decimal.Decimal
    _ALLOWED[("fractions", "Fraction")] = fractions.Fraction
    _ALLOWED[(__name__, "Ref")] = Ref
    _ALLOWED[(__name__, "Callback")] = Callback


_allow()

#: Exact types that are plain data (subclasses are *not*: a subclass can override ``__eq__``).
ATOMS: frozenset[type] = frozenset({int, float, complex, str, bytes, bool, type(None)})
CONTAINERS: frozenset[type] = frozenset({list, tuple, dict, set, frozenset})
EXTRA_VALUE_TYPES: frozenset[type] = frozenset(
    v for (mod, _), v in _ALLOWED.items() if mod in ("collections", "datetime", "decimal", "fractions")
)


MAX_DEPTH = 500


def transform(value: Any, leaf: Callable[[Any], Any], depth: int = 0) -> Any:
    """Rebuild ``value`` through its (exact) list/tuple/dict/set/frozenset structure, mapping leaves with ``leaf``.

    Both ends of the channel use this to swap objects for handles and back; subclasses of the containers are
    leaves, so a lying ``list`` subclass is never taken apart as if it were data.
    """
    t = type(value)
    if t in ATOMS:
        return leaf(value)
    if depth > MAX_DEPTH:
        raise RecursionError("value nested too deeply to send")
    if t is list:
        return [transform(v, leaf, depth + 1) for v in value]
    if t is tuple:
        return tuple(transform(v, leaf, depth + 1) for v in value)
    if t is dict:
        return {transform(k, leaf, depth + 1): transform(v, leaf, depth + 1) for k, v in value.items()}
    if t is set or t is frozenset:
        return t(transform(v, leaf, depth + 1) for v in value)
    return leaf(value)


def is_plain_type(cls: type) -> bool:
    """Whether ``cls`` is one of the value types a message may name (so it can be sent by name)."""
    return _ALLOWED.get((cls.__module__, cls.__qualname__)) is cls


class PlainUnpickler(pickle.Unpickler):
    """An unpickler that only builds plain data, :class:`Ref` and :class:`Callback`."""

    def find_class(self, module: str, name: str) -> Any:
        try:
            return _ALLOWED[(module, name)]
        except KeyError:
            raise pickle.UnpicklingError(f"refused non-data type {module}.{name}") from None


def loads(data: bytes) -> Any:
    return PlainUnpickler(io.BytesIO(data)).load()


def dumps(obj: Any) -> bytes:
    return pickle.dumps(obj, protocol=PROTOCOL)


def send(fd: int, obj: Any, write=os.write) -> None:
    """Write one framed message.  ``write`` is captured by callers that must not depend on ``os``."""
    payload = dumps(obj)
    data = memoryview(_HEADER.pack(len(payload)) + payload)
    while data:
        n = write(fd, data)
        data = data[n:]


def _read_exact(fd: int, n: int, deadline: float | None) -> bytes:
    chunks: list[bytes] = []
    while n:
        if deadline is not None:
            # Past the deadline, still look once: a reader that was itself paused or descheduled (a stopped
            # host, a loaded machine) must not call a reply that has been waiting in the pipe a timeout.
            remaining = max(0.0, deadline - time.monotonic())
            ready, _, _ = select.select([fd], [], [], remaining)
            if not ready:
                raise ChannelTimeout()
        chunk = os.read(fd, min(n, 1 << 20))
        if not chunk:
            raise ChannelClosed()
        chunks.append(chunk)
        n -= len(chunk)
    return b"".join(chunks)


def recv_raw(fd: int, *, deadline: float | None = None, max_bytes: int = 1 << 30) -> bytes:
    """Read one framed message's payload, failing if it announces more than ``max_bytes``."""
    (size,) = _HEADER.unpack(_read_exact(fd, _HEADER.size, deadline))
    if size > max_bytes:
        raise MessageTooLarge(size)
    return _read_exact(fd, size, deadline)


def recv(fd: int, *, deadline: float | None = None, max_bytes: int = 1 << 30) -> Any:
    """Read and safely decode one message (plain data only)."""
    return loads(recv_raw(fd, deadline=deadline, max_bytes=max_bytes))
