// The Vercel AI SDK 5+ UI message stream (useChat): SSE chunks, `data: [DONE]` at the end.
import { toolArgs, usage } from "../message.js";

/** The body useChat's DefaultChatTransport POSTs: the chat id and its UI messages. */
function request(conversation, { threadId, state }) {
  const messages = conversation.map((turn) => ({
    id: turn.id,
    role: turn.role,
    parts: turn.role === "user"
      ? [{ type: "text", text: turn.text }] : turn.message.parts.map(uiPart),
  }));
  return { id: threadId, messages, trigger: "submit-message", ...(state != null && { state }) };
}

function uiPart(part) {
  switch (part.type) {
    case "text":
    case "reasoning":
      return { type: part.type, text: part.text, state: "done" };
    case "tool":
      return { type: `tool-${part.name}`, toolCallId: part.id, input: toolArgs(part) ?? {},
        ...(part.hasResult ? { state: "output-available", output: part.result }
          : { state: "input-available" }) };
    case "source":
      return { type: "source-url", sourceId: part.id, url: part.url,
        ...(part.title != null && { title: part.title }) };
    case "file":
      return { type: "file", mediaType: part.mimeType,
        url: `data:${part.mimeType};base64,${part.data}` };
    default:
      return { type: `data-${part.name ?? "data"}`, data: part.data };
  }
}

function createDecoder() {
  const open = new Map(); // open text/reasoning part id -> "text" | "reasoning"
  const calls = new Map(); // tool call id -> {deltas: input came as deltas, done: input complete}
  const handlers = {
    "text-start": (v) => void open.set(v.id, "text"),
    "reasoning-start": (v) => void open.set(v.id, "reasoning"),
    "text-delta": (v) => [{ type: open.get(v.id) ?? "text", text: v.delta }],
    "reasoning-delta": (v) => [{ type: open.get(v.id) ?? "reasoning", text: v.delta }],
    "tool-input-start": (v) => {
      calls.set(v.toolCallId, { deltas: false, done: false });
      return [{ type: "tool-begin", id: v.toolCallId, name: v.toolName }];
    },
    "tool-input-delta": (v) => {
      const call = calls.get(v.toolCallId);
      if (!call || call.done || !v.inputTextDelta) return [];
      call.deltas = true;
      return [{ type: "tool-args", id: v.toolCallId, text: v.inputTextDelta }];
    },
    "tool-input-available": (v) => inputEnd(v),
    "tool-input-error": (v) => inputEnd(v),
    "tool-output-available": (v) => [{ type: "tool-result", id: v.toolCallId, result: v.output }],
    "tool-output-error": (v) => [
      { type: "tool-result", id: v.toolCallId, result: v.errorText, isError: true }],
    "source-url": (v) => [{ type: "source", id: v.sourceId, url: v.url, title: v.title }],
    file: (v) => {
      const match = /^data:[^,]*;base64,(.*)$/s.exec(v.url);
      return [{ type: "file", data: match ? match[1] : v.url, mimeType: v.mediaType }];
    },
    error: (v) => [{ type: "error", message: v.errorText }],
    abort: () => [{ type: "finish", reason: "cancelled", usage: null }], // a stopped run's end
    finish: (v) => {
      const used = v.messageMetadata?.usage;
      return [{ type: "finish", reason: v.finishReason ?? null,
        usage: usage(used?.inputTokens, used?.outputTokens) }];
    },
  };
  function inputEnd(v) {
    const id = v.toolCallId;
    const call = calls.get(id);
    if (!call || call.done) return [];
    call.done = true;
    const out = [{ type: "tool-args-end", id }];
    const text = typeof v.input === "string" ? v.input : JSON.stringify(v.input ?? {});
    if (!call.deltas && text !== "{}") out.unshift({ type: "tool-args", id, text }); // sent whole
    return out;
  }
  return {
    decode(_event, data) {
      if (data === "[DONE]") return [];
      const value = JSON.parse(data);
      if (value.type === "data-state" && value.id === "state") {
        return [{ type: "state", snapshot: value.data }]; // the whole state, every time
      }
      if (value.type.startsWith("data-")) {
        const name = value.type.slice(5);
        return [{ type: "data", name: name === "data" ? null : name, data: value.data }];
      }
      return handlers[value.type]?.(value) ?? []; // start, steps, metadata: not shown
    },
    close: () => [],
  };
}

export default { name: "ui-message-stream", framing: "sse", request, createDecoder };
