"""Small checks shared by the request parsers: each failure is a RequestError that says what
the body should have held."""

from __future__ import annotations

from typing import Any, TypeVar

from ..exceptions import RequestError

__all__ = ["optional", "require_object"]

T = TypeVar("T")


def require_object(body: Any, protocol: str) -> dict[str, Any]:
    if not isinstance(body, dict):
        raise RequestError(f"the {protocol} request body must be a JSON object")
    return body


def optional(body: dict[str, Any], key: str, kind: type[T] | tuple[type, ...], default: Any) -> Any:
    """``body[key]`` if present and not null, checked to be of ``kind``; else ``default``."""
    value = body.get(key)
    if value is None:
        return default
    if not isinstance(value, kind):
        names = kind.__name__ if isinstance(kind, type) else " or ".join(k.__name__ for k in kind)
        raise RequestError(f"{key!r} must be a JSON {_json_name(names)}")
    return value


def _json_name(python_name: str) -> str:
    return (
        python_name.replace("dict", "object")
        .replace("list", "array")
        .replace("str", "string")
        .replace("int", "integer")
        .replace("bool", "boolean")
    )
