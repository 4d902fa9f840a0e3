"""The chunks keep assistant-stream's ``type`` strings and field names where the concept is the
same, checked against assistant-stream's own dataclasses (the pinned benchmark dependency)."""

from __future__ import annotations

import dataclasses
import typing

import pytest
from assistant_stream import assistant_stream_chunk as theirs

from streambridge import chunks as ours

SAME_CONCEPT = [
    (ours.TextDelta, theirs.TextDeltaChunk),
    (ours.ReasoningDelta, theirs.ReasoningDeltaChunk),
    (ours.ToolCallBegin, theirs.ToolCallBeginChunk),
    (ours.ToolCallDelta, theirs.ToolCallDeltaChunk),
    (ours.ToolResult, theirs.ToolResultChunk),
    (ours.Data, theirs.DataChunk),
    (ours.Error, theirs.ErrorChunk),
    (ours.StateUpdate, theirs.UpdateStateChunk),
    (ours.Source, theirs.SourceChunk),
    (ours.File, theirs.FileChunk),
    (ours.Annotations, theirs.AnnotationsChunk),
    (ours.StepStart, theirs.StepStartChunk),
    (ours.StepFinish, theirs.StepFinishChunk),
]

ONLY_OURS = {"tool-call-args-finish": ours.ToolCallArgsFinish}
"""Chunks assistant-stream has no counterpart for (documented in docs/guide/run.md)."""

EXTRA_FIELDS = {ours.Data: {"name"}}
"""Fields streambridge adds to a shared concept (also documented there)."""


def _their_type(cls: type) -> str:
    return next(f.default for f in dataclasses.fields(cls) if f.name == "type")  # type: ignore[no-any-return]


@pytest.mark.parametrize(("mine", "their"), SAME_CONCEPT, ids=lambda c: c.__name__)
def test_type_string_is_assistant_streams(mine: type, their: type) -> None:
    assert mine.type == _their_type(their)  # type: ignore[attr-defined]


@pytest.mark.parametrize(("mine", "their"), SAME_CONCEPT, ids=lambda c: c.__name__)
def test_field_names_are_assistant_streams(mine: type, their: type) -> None:
    my_fields = {f.name for f in dataclasses.fields(mine)}
    their_fields = {f.name for f in dataclasses.fields(their)} - {"type"}
    assert my_fields - EXTRA_FIELDS.get(mine, set()) == their_fields


def test_every_chunk_kind_is_accounted_for() -> None:
    """A new chunk kind must either match assistant-stream's or be listed as ours alone."""
    every_kind = set(typing.get_args(ours.Chunk))
    shared = {mine for mine, _ in SAME_CONCEPT}
    assert every_kind == shared | set(ONLY_OURS.values())
    their_types = {_their_type(cls) for cls in typing.get_args(theirs.AssistantStreamChunk)}
    assert their_types == {mine.type for mine in shared}
    assert not set(ONLY_OURS) & their_types


def test_a_chunk_built_by_keyword_as_assistant_stream_code_does() -> None:
    chunk = ours.ToolCallDelta(tool_call_id="call_1", args_text_delta='{"q":')
    assert (chunk.type, chunk.args_text_delta) == ("tool-call-delta", '{"q":')
    assert ours.TextDelta(text_delta="hi").text_delta == "hi"
    assert ours.Error(error="boom").error == "boom"


def test_the_old_class_name_still_imports() -> None:
    assert ours.ToolCallArgsDelta is ours.ToolCallDelta
