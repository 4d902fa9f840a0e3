// assistant-ui's assistant-transport: SSE events that build a message of parts, addressed by
// their index ("path": [N]); `data: [DONE]` ends it.
import { usage } from "../message.js";

/** The body useAssistantTransportRuntime POSTs: the new commands and the agent state.  The
 * runtime keeps the conversation in that state, so only the new user message is a command. */
function request(conversation, { state, threadId }) {
  const last = conversation[conversation.length - 1];
  const message = { role: "user", parts: [{ type: "text", text: last.text }] };
  return { commands: [{ type: "add-message", message }], state: state ?? null, tools: {},
    threadId, callSettings: {}, config: {} };
}

function createDecoder() {
  const parts = []; // per index: {type, id} (id: the tool call's)
  const at = (v) => {
    const part = parts[v.path?.[0]];
    if (!part) throw new Error(`no part at path ${JSON.stringify(v.path)}`);
    return part;
  };
  const handlers = {
    "part-start": ({ part }) => {
      parts.push({ type: part.type, id: part.toolCallId });
      switch (part.type) {
        case "tool-call": return [{ type: "tool-begin", id: part.toolCallId, name: part.toolName }];
        case "source": return [{ type: "source", id: part.id, url: part.url, title: part.title }];
        case "file": return [{ type: "file", data: part.data, mimeType: part.mimeType }];
        case "data": return [{ type: "data", name: part.name, data: part.data }];
        default: return []; // text and reasoning start empty
      }
    },
    "text-delta": (v) => {
      const part = at(v);
      if (part.type === "tool-call") return [{ type: "tool-args", id: part.id, text: v.textDelta }];
      return [{ type: part.type === "reasoning" ? "reasoning" : "text", text: v.textDelta }];
    },
    "tool-call-args-text-finish": (v) => [{ type: "tool-args-end", id: at(v).id }],
    result: (v) => [{ type: "tool-result", id: at(v).id, result: v.result, isError: v.isError }],
    data: (v) => v.data.map((data) => ({ type: "data", name: null, data })),
    "update-state": (v) => [{ type: "state", operations: v.operations }],
    error: (v) => [{ type: "error", message: v.error }],
    "message-finish": (v) => [{ type: "finish", reason: v.finishReason,
      usage: usage(v.usage?.inputTokens, v.usage?.outputTokens) }],
  };
  return {
    decode(_event, data) {
      if (data === "[DONE]") return [];
      const value = JSON.parse(data);
      return handlers[value.type]?.(value) ?? []; // part-finish, steps, annotations: not shown
    },
    close: () => [],
  };
}

export default { name: "assistant-transport", framing: "sse", request, createDecoder };
