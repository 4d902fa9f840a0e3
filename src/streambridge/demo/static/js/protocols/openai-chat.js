// OpenAI Chat Completions streaming: `chat.completion.chunk` events, `data: [DONE]` at the end.
// What chat completions cannot say (tool results, sources, state, ...) rides in a top-level
// "streambridge" object that OpenAI clients ignore.
import { summary, usage } from "../message.js";

/** The body an OpenAI SDK POSTs to /v1/chat/completions, past tool calls and results included. */
function request(conversation) {
  const messages = [];
  for (const turn of conversation) {
    if (turn.role === "user") {
      messages.push({ role: "user", content: turn.text });
      continue;
    }
    const { text, calls } = summary(turn.message);
    if (calls.length) {
      const toolCalls = calls.map((call) => ({
        id: call.id, type: "function", function: { name: call.name, arguments: call.argsText } }));
      messages.push({ role: "assistant", content: null, tool_calls: toolCalls });
      for (const call of calls.filter((c) => c.hasResult)) {
        const content = JSON.stringify(call.result);
        messages.push({ role: "tool", tool_call_id: call.id, content });
      }
    }
    if (text) messages.push({ role: "assistant", content: text });
  }
  return { model: "streambridge-demo", messages, stream: true,
    stream_options: { include_usage: true } };
}

const REASONS = { tool_calls: "tool-calls", content_filter: "content-filter" };

function createDecoder() {
  const ids = new Map(); // delta.tool_calls index -> tool call id
  const openArgs = new Set(); // calls whose arguments may still stream
  let finishReason = null, errored = false, used = null, ended = false;
  let stopped = false; // chat has no finish reason for a stopped run: the step-finish says it

  const closeArgs = (id) => {
    const closing = id === undefined ? [...openArgs] : openArgs.has(id) ? [id] : [];
    closing.forEach((c) => openArgs.delete(c));
    return closing.map((c) => ({ type: "tool-args-end", id: c }));
  };
  const end = () => {
    ended = true;
    const reason = errored ? "error" : stopped ? "cancelled"
      : finishReason && (REASONS[finishReason] ?? finishReason);
    return [...closeArgs(), { type: "finish", reason, usage: used }];
  };
  const extensions = {
    "tool-result": (v) => [...closeArgs(v.tool_call_id),
      { type: "tool-result", id: v.tool_call_id, result: v.result, isError: v.is_error }],
    source: (v) => [{ type: "source", id: v.id, url: v.url, title: v.title }],
    file: (v) => [{ type: "file", data: v.data, mimeType: v.mime_type }],
    data: (v) => [{ type: "data", name: v.name, data: v.data }],
    "update-state": (v) => [{ type: "state", operations: v.operations }],
    "step-finish": (v) => {
      stopped = v.finish_reason === "cancelled";
      return closeArgs();
    },
  };

  return {
    decode(_event, data) {
      if (ended) return [];
      if (data === "[DONE]") return end();
      const value = JSON.parse(data);
      if (value.error) {
        errored = true;
        return [...closeArgs(), { type: "error",
          message: value.error.message || "An error occurred during streaming" }];
      }
      const out = [];
      for (const { delta = {}, finish_reason: reason } of value.choices ?? []) {
        if (delta.reasoning_content) out.push({ type: "reasoning", text: delta.reasoning_content });
        if (delta.content) out.push({ type: "text", text: delta.content });
        for (const call of delta.tool_calls ?? []) {
          if (!ids.has(call.index)) {
            ids.set(call.index, call.id);
            openArgs.add(call.id);
            out.push({ type: "tool-begin", id: call.id, name: call.function?.name ?? "" });
          }
          const text = call.function?.arguments;
          if (text) out.push({ type: "tool-args", id: ids.get(call.index), text });
        }
        if (reason) {
          finishReason = reason;
          out.push(...closeArgs());
        }
      }
      const extension = value.streambridge;
      if (extension) out.push(...(extensions[extension.type]?.(extension) ?? []));
      if (value.usage) used = usage(value.usage.prompt_tokens, value.usage.completion_tokens);
      return out;
    },
    // A stream that said how it ended but lost its [DONE] still ended; otherwise it was cut.
    close: () => (!ended && (finishReason || errored) ? end() : []),
  };
}

export default { name: "openai-chat", framing: "sse", request, createDecoder };
