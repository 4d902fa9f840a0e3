"""The run's shared state and the set / append-text operations that keep a client's copy in sync.

The client (assistant-ui's ``GorpStreamAccumulator``, strict mode) applies each operation to its own
copy.  Every write here is checked against exactly the rules that client enforces *before* it
changes anything or is emitted, so an operation the client would reject raises at the call that
made it, and applying the emitted operations in order always rebuilds this state:

* a path is a list of strings; ``None`` or a missing value in the middle of a path becomes ``{}``;
* a string, number or boolean in the middle of a path is an error;
* an array index is canonical (``"3"``, never ``"03"``), ``0 <= index <= len``; ``len`` appends;
* ``__proto__``, ``constructor`` and ``prototype`` are never keys;
* ``append-text`` only applies to an existing string (the proxy emits ``set`` otherwise).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any

from .chunks import StateOperation

__all__ = ["StateError", "StateProxy", "StateStore", "apply_operation"]

PathSegment = str | int
UNSAFE_SEGMENTS = frozenset({"__proto__", "constructor", "prototype"})


class StateError(ValueError):
    """A state write the client could not apply (bad path, index or value)."""


def _check_segment(segment: str, where: str = "state") -> None:
    if segment in UNSAFE_SEGMENTS:
        raise StateError(
            f"{where}: {segment!r} cannot be a state key (the client rejects it as unsafe); "
            "rename it"
        )


def _array_index(segment: str, array: list[Any], path: Sequence[str]) -> int:
    try:
        index = int(segment)
    except ValueError:
        index = -1
    if str(index) != segment or index < 0:
        raise StateError(f"state path {list(path)}: {segment!r} is not an index into a list")
    if index > len(array):
        raise StateError(
            f"state path {list(path)}: index {index} is past the end of a list of {len(array)}; "
            "append at index len(list)"
        )
    return index


def _child(container: Any, segment: str, path: Sequence[str]) -> Any:
    """The value under ``segment`` (``None`` when absent), checking the client's path rules."""
    _check_segment(segment)
    if isinstance(container, list):
        index = _array_index(segment, container, path)
        return container[index] if index < len(container) else None
    if isinstance(container, dict):
        return container.get(segment)
    raise StateError(
        f"state path {list(path)} goes through a {type(container).__name__}: "
        "only objects and lists can hold keys"
    )


def _store(container: Any, segment: str, value: Any) -> None:
    if isinstance(container, list):
        index = int(segment)
        if index == len(container):
            container.append(value)
        else:
            container[index] = value
    else:
        container[segment] = value


def _updated(current: Any, op: StateOperation) -> Any:
    if op["type"] == "set":
        return op["value"]
    if op["type"] == "append-text":
        if not isinstance(current, str):
            raise StateError(f"append-text at {op['path']}: the value there is not a string")
        return current + op["value"]
    raise StateError(f"unknown state operation type {op['type']!r}")


def apply_operation(root: Any, op: StateOperation) -> Any:
    """Apply one operation to ``root`` in place and return the new root.

    Nothing changes when the operation is invalid: the whole path is checked first.
    """
    path = op["path"]
    if not path:
        return _updated(root, op)
    # Check first, so a rejected operation leaves no half-made containers behind.
    current = root if root is not None else {}
    for depth, segment in enumerate(path):
        current = _child(current, segment, path)
        if current is None and depth < len(path) - 1:
            current = {}
    new_value = _updated(current, op)

    root = root if root is not None else {}
    container = root
    for segment in path[:-1]:
        child = _child(container, segment, path)
        if child is None:
            child = {}
            _store(container, segment, child)
        container = child
    _store(container, path[-1], new_value)
    return root


def copy_json(value: Any, where: str = "state") -> Any:
    """A private deep copy of a JSON value; rejects what JSON cannot carry faithfully."""
    if value is None or isinstance(value, (str, bool, int)):
        return value
    if isinstance(value, float):
        if not math.isfinite(value):
            raise StateError(f"{where}: {value!r} is not valid JSON; use None or a string")
        return value
    if isinstance(value, StateProxy):
        return copy_json(value.value, where)
    if isinstance(value, dict):
        copied: dict[str, Any] = {}
        for key, item in value.items():
            if not isinstance(key, str):
                raise StateError(f"{where}: object keys must be strings, got {key!r}")
            _check_segment(key, where)
            copied[key] = copy_json(item, where)
        return copied
    if isinstance(value, (list, tuple)):
        return [copy_json(item, where) for item in value]
    raise StateError(
        f"{where}: a {type(value).__name__} is not JSON; convert it to a dict, list, str, "
        "number, bool or None"
    )


class StateStore:
    """The authoritative state of a run.

    Writes are validated, applied here, and appended to ``pending``, a list the run engine owns and
    flushes as one :class:`~streambridge.chunks.StateUpdate` before the next non-state chunk.
    """

    __slots__ = ("admit", "pending", "value")

    def __init__(
        self,
        initial: Any,
        pending: list[StateOperation],
        admit: Callable[[StateOperation], None] | None = None,
    ) -> None:
        self.value = copy_json(initial)
        self.pending = pending
        self.admit = admit
        """Asked before every write (when given); it may refuse the write by raising."""

    def get(self, path: Sequence[str]) -> Any:
        """The value at ``path``; ``KeyError`` if there is none."""
        current = self.value
        for segment in path:
            if isinstance(current, dict) and segment in current:
                current = current[segment]
            elif isinstance(current, list) and segment.isdigit() and int(segment) < len(current):
                current = current[int(segment)]
            else:
                raise KeyError(segment)
        return current

    def apply(self, op: StateOperation) -> None:
        """Apply an operation (already in wire form) and queue it for the client.

        The state keeps its own copy of a set value, so later in-place writes never change an
        operation that is already queued: each emitted operation is a snapshot.
        """
        if self.admit is not None:
            self.admit(op)
        if op["type"] == "set":
            self.value = apply_operation(self.value, {**op, "value": copy_json(op["value"])})
        else:
            self.value = apply_operation(self.value, op)
        self.pending.append(op)

    def set(self, path: list[str], value: Any) -> None:
        self.apply({"type": "set", "path": path, "value": copy_json(value)})

    def append_text(self, path: list[str], text: str) -> None:
        """Append to the string at ``path``; a missing or ``None`` value becomes ``text``."""
        if not isinstance(text, str):
            raise TypeError(f"state text must be str, not {type(text).__name__}")
        try:
            current = self.get(path)
        except KeyError:
            current = None
        if current is None:
            self.set(path, text)
        elif not isinstance(current, str):
            raise StateError(
                f"cannot append text at {path}: the value there is a {type(current).__name__}"
            )
        elif text:
            self.apply({"type": "append-text", "path": path, "value": text})


def to_path(path: Iterable[PathSegment]) -> list[str]:
    return [str(segment) for segment in path]


class StateProxy:
    """A live view of the run's state at one path.

    Reading returns plain values for strings, numbers, booleans and ``None`` and a proxy for
    objects and lists.  Writing emits operations: assigning a string that extends the current
    string (``state["draft"] += " more"``) becomes ``append-text`` of the new part, any other
    assignment becomes ``set``.  Lists grow with ``append``/``extend``; a state of ``None``
    becomes an object at the first keyed write.
    """

    __slots__ = ("_path", "_store")

    def __init__(self, store: StateStore, path: list[str]) -> None:
        self._store = store
        self._path = path

    @property
    def value(self) -> Any:
        """The current value here (live: change it only through the proxy)."""
        return self._store.get(self._path)

    def is_root_of(self, store: StateStore) -> bool:
        return self._store is store and not self._path

    def _key(self, key: PathSegment, *, for_write: bool) -> str:
        container = self.value
        if isinstance(container, list):
            if not isinstance(key, int) or isinstance(key, bool):
                raise TypeError(f"list indices must be integers, not {type(key).__name__}")
            index = key + len(container) if key < 0 else key
            limit = len(container) + (1 if for_write else 0)
            if not 0 <= index < limit:
                raise IndexError(f"state list index {key} out of range")
            return str(index)
        if isinstance(container, dict) or (container is None and for_write):
            # Writing under None makes it an object, exactly as the client does.
            return key if isinstance(key, str) else str(key)
        raise TypeError(f"state value at {self._path} is a {type(container).__name__}, not a dict")

    def __getitem__(self, key: PathSegment) -> Any:
        path = [*self._path, self._key(key, for_write=False)]
        value = self._store.get(path)
        if isinstance(value, (dict, list)):
            return StateProxy(self._store, path)
        return value

    def __setitem__(self, key: PathSegment, value: Any) -> None:
        path = [*self._path, self._key(key, for_write=True)]
        if isinstance(value, StateProxy) and value._store is self._store and value._path == path:
            return  # the write-back of an in-place operator such as `state["items"] += [...]`
        try:
            current = self._store.get(path)
        except KeyError:
            current = None
        if isinstance(current, str) and isinstance(value, str) and value.startswith(current):
            self._store.append_text(path, value[len(current) :])
        else:
            self._store.set(path, value)

    def __delitem__(self, key: PathSegment) -> None:
        # The client has no delete operation: send the container without the key.
        segment = self._key(key, for_write=False)
        container = self.value
        if isinstance(container, list):
            replacement: Any = container[: int(segment)] + container[int(segment) + 1 :]
        else:
            if segment not in container:
                raise KeyError(key)
            replacement = {k: v for k, v in container.items() if k != segment}
        self._store.set(self._path, replacement)

    def __iadd__(self, other: Any) -> StateProxy:
        current = self.value
        if isinstance(current, list):
            self.extend(other)
            return self
        raise TypeError(f"+= is not supported on a state {type(current).__name__}")

    def append(self, item: Any) -> None:
        """Append ``item`` to the list here."""
        current = self.value
        if not isinstance(current, list):
            raise TypeError(f"append() needs a list, the state here is {type(current).__name__}")
        self._store.set([*self._path, str(len(current))], item)

    def extend(self, items: Iterable[Any]) -> None:
        """Append every item to the list here."""
        for item in list(items.value if isinstance(items, StateProxy) else items):
            self.append(item)

    def get(self, key: str, default: Any = None) -> Any:
        """The value at ``key``, or ``default`` when there is none (as ``dict.get``)."""
        try:
            return self[key]
        except (KeyError, IndexError):
            return default

    def setdefault(self, key: str, default: Any = None) -> Any:
        """The value at ``key``, set to ``default`` first when there is none (a state update
        the client sees)."""
        if key not in self:
            self[key] = default
        return self[key]

    def keys(self) -> Any:
        """The keys of this object in the state."""
        return self._mapping().keys()

    def values(self) -> Any:
        """The values of this object in the state (plain copies, not proxies)."""
        return self._mapping().values()

    def items(self) -> Any:
        """The ``(key, value)`` pairs of this object in the state."""
        return self._mapping().items()

    def _mapping(self) -> dict[str, Any]:
        current = self.value
        if not isinstance(current, dict):
            raise TypeError(f"the state here is a {type(current).__name__}, not a dict")
        return current

    def __contains__(self, item: object) -> bool:
        return item in self.value

    def __iter__(self) -> Iterator[Any]:
        return iter(self.value)

    def __len__(self) -> int:
        return len(self.value)

    def __bool__(self) -> bool:
        return bool(self.value)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, StateProxy):
            other = other.value
        return bool(self.value == other)

    __hash__ = None  # type: ignore[assignment]  # a live, mutable view

    def __repr__(self) -> str:
        return f"StateProxy({self._path!r}, {self.value!r})"
