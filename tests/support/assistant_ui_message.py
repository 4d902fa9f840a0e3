"""An assistant-ui message (what ``AssistantMessageAccumulator`` builds) in the scenarios' plain
form (see ``scenarios.summary``): shared by the data-stream and assistant-transport tests, whose
official clients build the same kind of message."""

from __future__ import annotations

from typing import Any


def message_summary(message: dict[str, Any]) -> dict[str, Any]:
    """Everything but the finish reason and usage, which each protocol reports its own way."""
    parts, status = message["parts"], message["status"]
    return {
        "text": "".join(p["text"] for p in parts if p["type"] == "text"),
        "reasoning": "".join(p["text"] for p in parts if p["type"] == "reasoning"),
        "tool_calls": [
            {
                "id": p["toolCallId"],
                "name": p["toolName"],
                "args": p["args"],
                "result": p.get("result"),
                "is_error": p.get("isError", False),
            }
            for p in parts
            if p["type"] == "tool-call"
        ],
        "sources": [
            {"url": p["url"], "title": p.get("title")} for p in parts if p["type"] == "source"
        ],
        "files": [
            {"data": p["data"], "mime_type": p["mimeType"]} for p in parts if p["type"] == "file"
        ],
        # Unnamed data is message metadata in assistant-ui, apart from (after) the data parts.
        "data": [{"name": p["name"], "data": p["data"]} for p in parts if p["type"] == "data"]
        + [{"name": None, "data": d} for d in message["metadata"]["unstable_data"]],
        "state": message["metadata"]["unstable_state"],
        "steps": [
            (s["usage"]["inputTokens"], s["usage"]["outputTokens"])
            for s in message["metadata"]["steps"]
        ],
        "errors": [status["error"]["message"]] if status.get("reason") == "error" else [],
    }


def unnamed_data_last(want: dict[str, Any]) -> dict[str, Any]:
    named = [d for d in want["data"] if d["name"] is not None]
    want["data"] = named + [d for d in want["data"] if d["name"] is None]
    return want


def assert_scenario_parts(name: str, message: dict[str, Any]) -> None:
    """What the summary does not show: the parts' order and kinds, named data, parent ids."""
    if name == "sources_and_file":
        kinds = [(p["type"], p.get("url") or p.get("mimeType")) for p in message["parts"]]
        assert kinds == [
            ("source", "https://example.com/a"),
            ("source", "https://example.com/b"),
            ("file", "text/plain"),
        ]
    if name == "named_data":
        assert message["parts"][0]["name"] == "progress"
        assert message["metadata"]["unstable_data"] == [[1, 2, 3]]
    if name == "parent_ids":
        assert {p.get("parentId") for p in message["parts"]} == {"group"}
