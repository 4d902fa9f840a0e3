"""The accumulator joins a text part's pieces when the message is read, not per token: whatever
the order of deltas, other parts and reads, the message is the one ``+=`` per piece would give."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from streambridge.chunks import ReasoningDelta, Source, TextDelta
from streambridge.messages import MessageAccumulator, ReasoningPart, SourcePart, TextPart

steps = st.lists(
    st.one_of(
        st.tuples(st.just("text"), st.text(max_size=3), st.sampled_from([None, "a", "b"])),
        st.tuples(st.just("reasoning"), st.text(max_size=3), st.sampled_from([None, "a"])),
        st.tuples(st.just("source"), st.just(""), st.just(None)),
        st.tuples(st.just("read"), st.just(""), st.just(None)),
    ),
    max_size=40,
)


def naive(parts: list[Any], kind: type[Any], text: str, parent: str | None) -> None:
    last = parts[-1] if parts else None
    if type(last) is kind and last.parent_id == parent:
        parts[-1] = kind(last.text + text, parent)
    else:
        parts.append(kind(text, parent))


@settings(max_examples=300)
@given(steps=steps)
def test_text_parts_are_whole_whenever_the_message_is_read(steps: list[Any]) -> None:
    accumulator = MessageAccumulator()
    model: list[Any] = []
    for kind, text, parent in steps:
        if kind == "text":
            accumulator.add(TextDelta(text, parent))
            naive(model, TextPart, text, parent)
        elif kind == "reasoning":
            accumulator.add(ReasoningDelta(text, parent))
            naive(model, ReasoningPart, text, parent)
        elif kind == "source":
            accumulator.add(Source("s", "https://example.com"))
            model.append(SourcePart("s", "https://example.com"))
        else:
            assert accumulator.message.parts == model
    assert accumulator.message.parts == model
