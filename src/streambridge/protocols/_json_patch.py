"""JSON Pointer (RFC 6901) and JSON Patch (RFC 6902), as far as a protocol whose state travels
as patches needs them (AG-UI's ``STATE_DELTA``): streambridge's state operations said as patch
operations, and patches applied to a document and said back as state operations.
"""

from __future__ import annotations

from typing import Any

from ..chunks import StateOperation
from ..state import copy_json

__all__ = ["apply_patch", "json_pointer", "parse_pointer", "patch_operation", "value_at"]


def json_pointer(path: list[str]) -> str:
    """The RFC 6901 pointer of a state path: ``~`` becomes ``~0`` and ``/`` becomes ``~1``."""
    return "".join("/" + segment.replace("~", "~0").replace("/", "~1") for segment in path)


def value_at(root: Any, path: list[str]) -> Any:
    """The value at a state path that exists (list indexes are decimal strings)."""
    for segment in path:
        root = root[int(segment)] if isinstance(root, list) else root[segment]
    return root


def patch_operation(root: Any, op: StateOperation) -> dict[str, Any] | None:
    """The RFC 6902 operation that does ``op`` to ``root`` (before it is applied), or ``None``
    when only a snapshot can say it (the root itself, or a root that is not a container).

    Missing or ``None`` containers on the way are created as objects, as streambridge's state
    does: the operation then adds (or replaces) the first missing one with the nested value.
    """
    path = op["path"]
    if not path or not isinstance(root, (dict, list)):
        return None
    container: Any = root
    for depth, segment in enumerate(path):
        last = depth == len(path) - 1
        if not isinstance(container, (dict, list)):
            return None  # the state refuses this path; let it say so
        if isinstance(container, list):
            if not (segment.isascii() and segment.isdigit()):
                return None  # the state refuses this index; let it say so
            index = int(segment)
            exists = index < len(container)
            child = container[index] if exists else None
        else:
            exists = segment in container
            child = container.get(segment)
        if last or child is None:
            value = op["value"]
            if not last:  # build the missing containers below this one
                for key in reversed(path[depth + 1 :]):
                    value = {key: value}
            pointer = json_pointer(path[: depth + 1])
            return {"op": "replace" if exists else "add", "path": pointer, "value": value}
        container = child
    raise AssertionError("unreachable")  # pragma: no cover


def _unescape(token: str) -> str:
    return token.replace("~1", "/").replace("~0", "~")


def parse_pointer(pointer: str) -> list[str]:
    """The path an RFC 6901 pointer names (``""`` is the whole document); ``ValueError`` if it
    is not one."""
    if pointer == "":
        return []
    if not pointer.startswith("/"):
        raise ValueError(f"not a JSON pointer: {pointer!r}")
    return [_unescape(token) for token in pointer[1:].split("/")]


def _index(container: list[Any], token: str, *, insert: bool) -> int:
    if token == "-" and insert:
        return len(container)
    if not token.isdigit() or str(int(token)) != token:
        raise ValueError(f"not an array index: {token!r}")
    index = int(token)
    if index > len(container) or (index == len(container) and not insert):
        raise ValueError(f"array index {index} out of range")
    return index


class _Patcher:
    """Applies RFC 6902 operations to a document (in place where it can) and says each as a
    streambridge state operation when one exists."""

    def __init__(self, document: Any) -> None:
        self.document = document

    def _parent(self, path: list[str]) -> Any:
        container = self.document
        for token in path[:-1]:
            if isinstance(container, list):
                container = container[_index(container, token, insert=False)]
            elif isinstance(container, dict) and token in container:
                container = container[token]
            else:
                raise ValueError(f"patch path {path} does not exist")
        return container

    def get(self, path: list[str]) -> Any:
        if not path:
            return self.document
        parent = self._parent(path)
        if isinstance(parent, list):
            return parent[_index(parent, path[-1], insert=False)]
        if isinstance(parent, dict) and path[-1] in parent:
            return parent[path[-1]]
        raise ValueError(f"patch path {path} does not exist")

    def remove(self, path: list[str]) -> Any:
        if not path:
            value, self.document = self.document, None
            return value
        parent = self._parent(path)
        if isinstance(parent, list):
            return parent.pop(_index(parent, path[-1], insert=False))
        if isinstance(parent, dict) and path[-1] in parent:
            return parent.pop(path[-1])
        raise ValueError(f"patch path {path} does not exist")

    def put(self, path: list[str], value: Any, *, insert: bool) -> StateOperation | None:
        """Add (``insert``) or replace; the equivalent streambridge operation, if any."""
        if not path:
            self.document = value
            return {"type": "set", "path": [], "value": copy_json(value)}
        parent = self._parent(path)
        if isinstance(parent, list):
            index = _index(parent, path[-1], insert=insert)
            if not insert or index == len(parent):
                old = parent[index] if index < len(parent) else None
                if index == len(parent):
                    parent.append(value)
                else:
                    parent[index] = value
                return _set_or_append([*path[:-1], str(index)], old, value)
            parent.insert(index, value)
            return None  # an insertion moves the items after it: no set says that
        if not isinstance(parent, dict):
            raise ValueError(f"patch path {path} goes through a scalar")
        if not insert and path[-1] not in parent:
            raise ValueError(f"patch path {path} does not exist")
        old = parent.get(path[-1])
        parent[path[-1]] = value
        return _set_or_append(path, old, value)


def _set_or_append(path: list[str], old: Any, value: Any) -> StateOperation:
    if isinstance(old, str) and isinstance(value, str) and value.startswith(old) and old:
        return {"type": "append-text", "path": path, "value": value[len(old) :]}
    return {"type": "set", "path": path, "value": copy_json(value)}


def apply_patch(state: Any, delta: list[dict[str, Any]]) -> tuple[Any, list[StateOperation]]:
    """Apply the RFC 6902 ``delta`` to ``state`` (in place where it can): the new state, and the
    state operations that say the same (one ``set`` of the whole state when some operation has
    no equivalent, e.g. an insertion into a list).  ``ValueError`` for a patch that does not
    apply."""
    patcher = _Patcher(state)
    operations: list[StateOperation] | None = []
    for step in delta:
        op, path = step.get("op"), parse_pointer(step.get("path", ""))
        said: StateOperation | None = None
        if op in ("add", "replace"):
            said = patcher.put(path, copy_json(step["value"]), insert=op == "add")
        elif op == "remove":
            patcher.remove(path)
        elif op in ("move", "copy"):
            source = parse_pointer(step["from"])
            value = patcher.remove(source) if op == "move" else copy_json(patcher.get(source))
            patcher.put(path, value, insert=True)
        elif op == "test":
            if patcher.get(path) != step.get("value"):
                raise ValueError(f"patch test failed at {step.get('path')!r}")
            continue
        else:
            raise ValueError(f"unknown JSON patch operation {op!r}")
        if said is None:
            operations = None  # then the whole new state is set at once
        elif operations is not None:
            operations.append(said)
    if operations is None:
        operations = [{"type": "set", "path": [], "value": copy_json(patcher.document)}]
    return patcher.document, operations
