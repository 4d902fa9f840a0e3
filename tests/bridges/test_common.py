"""How the bridges read an event's fields: dicts, SDK models (fields, extras, properties) and any
other object, with ``None`` for what is absent."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import BaseModel, ConfigDict

from streambridge.bridges._common import field, fields


class Delta(BaseModel):
    model_config = ConfigDict(extra="allow")
    content: str | None = None

    @property
    def shout(self) -> str:
        return (self.content or "").upper()


class Strict(BaseModel):
    content: str = "x"


class Dynamic:
    def __getattr__(self, name: str) -> Any:
        if name == "content":
            return "dynamic"
        raise AttributeError(name)


@pytest.mark.parametrize(
    ("obj", "content", "reasoning"),
    [
        ({"content": "a", "reasoning_content": "r"}, "a", "r"),
        (Delta(content="a", reasoning_content="r"), "a", "r"),  # type: ignore[call-arg]
        (Delta.model_construct(content="a", reasoning_content="r"), "a", "r"),
        (Delta(), None, None),
        (Strict(), "x", None),
        (Dynamic(), "dynamic", None),
    ],
)
def test_fields_and_extras_are_read_and_absent_ones_are_none(
    obj: Any, content: Any, reasoning: Any
) -> None:
    assert field(obj, "content") == content
    assert field(obj, "reasoning_content") == reasoning
    assert field(obj, "missing") is None
    assert fields(obj).get("content") == content
    assert fields(obj).get("reasoning_content") == reasoning
    assert fields(obj).get("missing") is None


def test_a_model_s_properties_are_fields_too() -> None:
    assert field(Delta(content="hi"), "shout") == "HI"
