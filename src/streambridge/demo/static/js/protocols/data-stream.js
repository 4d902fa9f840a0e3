// assistant-ui's data stream (useDataStreamRuntime): `CODE:JSON` lines.
import { summary, usage } from "../message.js";

/** The body useDataStreamRuntime POSTs: the thread as language-model messages, tools, state. */
function request(conversation, { state }) {
  const messages = [];
  for (const turn of conversation) {
    if (turn.role === "user") {
      messages.push({ role: "user", content: [{ type: "text", text: turn.text }] });
      continue;
    }
    const { text, reasoning, calls } = summary(turn.message);
    const content = [];
    if (reasoning) content.push({ type: "reasoning", text: reasoning });
    for (const call of calls) {
      content.push({ type: "tool-call", toolCallId: call.id, toolName: call.name,
        args: call.args });
    }
    if (text) content.push({ type: "text", text });
    messages.push({ role: "assistant", content });
    const results = calls.filter((call) => call.hasResult).map((call) => ({
      type: "tool-result", toolCallId: call.id, toolName: call.name, result: call.result }));
    if (results.length) messages.push({ role: "tool", content: results });
  }
  return { messages, tools: {}, ...(state != null && { state }) };
}

const CODES = {
  0: (text) => [{ type: "text", text }],
  g: (text) => [{ type: "reasoning", text }],
  "aui-text-delta": (v) => [{ type: "text", text: v.textDelta }],
  "aui-reasoning-delta": (v) => [{ type: "reasoning", text: v.reasoningDelta }],
  b: (v) => [{ type: "tool-begin", id: v.toolCallId, name: v.toolName }],
  c: (v) => [
    ...(v.argsTextDelta ? [{ type: "tool-args", id: v.toolCallId, text: v.argsTextDelta }] : []),
    ...(v.isFinal ? [{ type: "tool-args-end", id: v.toolCallId }] : []),
  ],
  a: (v) => [{ type: "tool-result", id: v.toolCallId, result: v.result, isError: v.isError }],
  h: (v) => [{ type: "source", id: v.id, url: v.url, title: v.title }],
  k: (v) => [{ type: "file", data: v.data, mimeType: v.mimeType }],
  2: (items) => items.map((data) => ({ type: "data", name: null, data })),
  "aui-data": (v) => [{ type: "data", name: v.name, data: v.data }],
  3: (message) => [{ type: "error", message }],
  "aui-state": (operations) => [{ type: "state", operations }],
  d: (v) => [{ type: "finish", reason: v.finishReason,
    usage: usage(v.usage?.inputTokens, v.usage?.outputTokens) }],
};

function createDecoder() {
  return {
    decode(_event, line) {
      const colon = line.indexOf(":");
      if (colon < 0) throw new Error(`not a data-stream line: ${line.slice(0, 80)}`);
      const handler = CODES[line.slice(0, colon)];
      return handler ? handler(JSON.parse(line.slice(colon + 1))) : []; // f, e, 8: not shown
    },
    close: () => [],
  };
}

export default { name: "data-stream", framing: "lines", request, createDecoder };
