// AG-UI events (CopilotKit's HttpAgent): unnamed SSE events from RUN_STARTED to RUN_FINISHED or
// RUN_ERROR; state as a STATE_SNAPSHOT, then RFC 6902 STATE_DELTA patches.
import { summary, usage } from "../message.js";

/** The RunAgentInput HttpAgent POSTs: the thread's messages (with ids), tools, state. */
function request(conversation, { threadId, runId, state }) {
  const messages = [];
  for (const turn of conversation) {
    if (turn.role === "user") {
      messages.push({ id: turn.id, role: "user", content: turn.text });
      continue;
    }
    const { text, calls } = summary(turn.message);
    messages.push({ id: turn.id, role: "assistant", ...(text && { content: text }),
      ...(calls.length && { toolCalls: calls.map((call) => ({ id: call.id, type: "function",
        function: { name: call.name, arguments: call.argsText } })) }) });
    for (const call of calls.filter((c) => c.hasResult)) {
      messages.push({ id: `${turn.id}-result-${call.id}`, role: "tool", toolCallId: call.id,
        content: JSON.stringify(call.result) });
    }
  }
  return { threadId, runId, messages, tools: [], context: [], state: state ?? {},
    forwardedProps: {} };
}

const mine = (event) => event.metadata?.streambridge ?? {};

function totalUsage(event) {
  if (!Array.isArray(event.usage)) return null;
  const sum = (key) => event.usage.reduce((total, entry) => total + (entry?.[key] ?? 0), 0);
  return usage(sum("inputTokens"), sum("outputTokens"));
}

function createDecoder() {
  const pending = new Set(); // calls without a result
  const text = (type) => (e) => (e.delta ? [{ type, text: e.delta }] : []);
  const handlers = {
    TEXT_MESSAGE_CONTENT: text("text"),
    REASONING_MESSAGE_CONTENT: text("reasoning"),
    TOOL_CALL_START: (e) => {
      pending.add(e.toolCallId);
      return [{ type: "tool-begin", id: e.toolCallId, name: e.toolCallName }];
    },
    TOOL_CALL_ARGS: (e) =>
      e.delta ? [{ type: "tool-args", id: e.toolCallId, text: e.delta }] : [],
    TOOL_CALL_END: (e) => [{ type: "tool-args-end", id: e.toolCallId }],
    TOOL_CALL_RESULT: (e) => {
      pending.delete(e.toolCallId);
      const result = mine(e).text ? e.content : JSON.parse(e.content); // JSON text but for strings
      return [{ type: "tool-result", id: e.toolCallId, result, isError: mine(e).isError }];
    },
    STATE_SNAPSHOT: (e) => [{ type: "state", snapshot: e.snapshot }],
    STATE_DELTA: (e) => [{ type: "state", patch: e.delta }],
    CUSTOM: ({ name, value }) => {
      if (name === "source" && value?.url) {
        return [{ type: "source", id: value.id, url: value.url, title: value.title }];
      }
      if (name === "file" && value?.mimeType) {
        return [{ type: "file", data: value.data, mimeType: value.mimeType }];
      }
      if (name === "annotations") return [];
      return [{ type: "data", name: name === "data" ? null : name, data: value }];
    },
    RUN_FINISHED: (e) => {
      const outcome = e.outcome?.type === "cancelled" ? "cancelled"
        : e.outcome?.pendingToolCallIds?.length || pending.size ? "tool-calls" : "stop";
      return [{ type: "finish", reason: mine(e).finishReason ?? outcome, usage: totalUsage(e) }];
    },
    RUN_ERROR: (e) => [{ type: "error", message: e.message },
      { type: "finish", reason: "error", usage: totalUsage(e) }],
  };
  return {
    decode(_event, data) {
      const event = JSON.parse(data);
      return handlers[event.type]?.(event) ?? []; // starts, ends, steps: not shown
    },
    close: () => [],
  };
}

export default { name: "ag-ui", framing: "sse", request, createDecoder };
