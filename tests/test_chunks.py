"""The per-token deltas have an ``__init__`` of their own (a frozen dataclass's is slow): they
must still construct, compare, copy and refuse writes exactly as the dataclass would."""

from __future__ import annotations

import copy
import dataclasses
import pickle
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from streambridge.chunks import ReasoningDelta, TextDelta

DELTAS = [TextDelta, ReasoningDelta]


def reference(cls: type) -> Any:
    """The class as @dataclass(frozen=True, slots=True) alone would make it."""
    fields = [(f.name, f.type, f) for f in dataclasses.fields(cls)]
    return dataclasses.make_dataclass(cls.__name__, fields, frozen=True, slots=True)


@pytest.mark.parametrize("cls", DELTAS)
@given(text=st.text(), parent=st.none() | st.text())
def test_a_delta_is_made_as_its_dataclass_would_be(cls: Any, text: str, parent: str | None) -> None:
    first = dataclasses.fields(cls)[0].name
    made = [cls(text), cls(text, parent), cls(text, parent_id=parent), cls(**{first: text})]
    expected = reference(cls)
    for chunk, want in zip(
        made,
        [expected(text), expected(text, parent), expected(text, parent), expected(text)],
        strict=True,
    ):
        assert dataclasses.asdict(chunk) == dataclasses.asdict(want)
        assert repr(chunk) == repr(want)
        assert chunk == cls(**dataclasses.asdict(want))
        assert hash(chunk) == hash(cls(**dataclasses.asdict(want)))
        assert pickle.loads(pickle.dumps(chunk)) == chunk
        assert copy.copy(chunk) == chunk
    assert dataclasses.replace(made[1], parent_id=None) == made[0]


@pytest.mark.parametrize("cls", DELTAS)
def test_a_delta_refuses_writes_and_missing_fields(cls: Any) -> None:
    chunk = cls("x")
    with pytest.raises(dataclasses.FrozenInstanceError):
        chunk.parent_id = "p"
    with pytest.raises(TypeError, match=rf"{cls.__name__}\.__init__\(\) missing"):
        cls()
    with pytest.raises(TypeError):
        cls("x", None, "extra")
    assert not hasattr(chunk, "__dict__")
