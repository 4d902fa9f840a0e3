"""The JSON every protocol writes: one line whatever the text, and the same value read back."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

import streambridge as sb
from streambridge._jsonlib import dumps, dumps_str
from streambridge.protocols import protocol_names

LINE_BREAKS_JSON_ALLOWS = "\u2028\u2029\x85"
SPLITS = LINE_BREAKS_JSON_ALLOWS + "\n\r\x0b\x0c\x1c\x1d\x1e"  # every break str.splitlines knows
texts = st.text(alphabet=st.sampled_from(["a", "é", "字", "\U0001f600", *SPLITS]) | st.characters())


@given(texts)
def test_a_json_string_is_one_line_and_reads_back_the_same(text: str) -> None:
    written = dumps_str(text)
    assert len(written.splitlines()) == 1
    assert json.loads(written) == text


values = st.recursive(
    texts | st.integers() | st.booleans() | st.none(),
    lambda inner: st.lists(inner) | st.dictionaries(texts, inner),
    max_leaves=10,
)


@given(values)
def test_a_json_value_is_one_line_and_reads_back_the_same(value: Any) -> None:
    written = dumps(value)
    assert len(written.splitlines()) == 1
    assert json.loads(written) == value


@pytest.mark.anyio
@pytest.mark.parametrize("protocol", protocol_names())
async def test_no_protocol_writes_a_line_break_that_json_allows_raw(protocol: str) -> None:
    text = "one\u2028two\u2029three\x85four"

    async def run(controller: sb.RunController) -> None:
        controller.append_text(text)
        controller.add_data({"note": text})

    body = b"".join([data async for data in sb.encode(sb.create_run(run), protocol)])
    decoded = body.decode()
    assert not any(char in decoded for char in LINE_BREAKS_JSON_ALLOWS)
    assert "one\\u2028two\\u2029three\\u0085four" in decoded


def test_json_carried_as_text_keeps_its_characters() -> None:
    """A tool's error result travels as its JSON text; the frame escapes U+0085 once, so the
    client reads the text the run made, not an escape of it."""
    import streambridge as sb
    from streambridge.chunks import ToolCallArgsFinish, ToolCallBegin, ToolResult
    from streambridge.client import accumulate, decode

    chunks = [
        ToolCallBegin("c1", "t"),
        ToolCallArgsFinish("c1"),
        ToolResult("c1", ["\x85"], None, True),
    ]
    for protocol in ("ui-message-stream", "ag-ui"):
        encoder = sb.get_protocol(protocol).new_encoder(sb.RunInput(run_id="r", created_at=1))
        data = ("".join(encoder.encode(c) for c in chunks) + encoder.finish()).encode()
        assert "\x85".encode() not in data  # the frame has it escaped
        message = accumulate(list(decode(data, protocol)))
        assert message.tool_calls[0].result in (["\x85"], '["\x85"]'), protocol
