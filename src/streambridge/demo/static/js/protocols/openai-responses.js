// OpenAI Responses API streaming events: `event: <type>` + `data: {...}`, the last one
// `response.completed` / `.incomplete` / `.failed` (no [DONE]).
import { summary, usage } from "../message.js";

/** The body an OpenAI SDK POSTs to /v1/responses: the conversation as input items. */
function request(conversation) {
  const input = [];
  for (const turn of conversation) {
    if (turn.role === "user") {
      input.push({ role: "user", content: turn.text });
      continue;
    }
    const { text, calls } = summary(turn.message);
    for (const { id, name, argsText, hasResult, result } of calls) {
      input.push({ type: "function_call", call_id: id, name, arguments: argsText });
      if (hasResult) {
        input.push({ type: "function_call_output", call_id: id, output: JSON.stringify(result) });
      }
    }
    if (text) input.push({ role: "assistant", content: text });
  }
  return { model: "streambridge-demo", input, stream: true };
}

const IMAGE_TYPES = { png: "image/png", jpeg: "image/jpeg", webp: "image/webp", gif: "image/gif" };
const INCOMPLETE = { max_output_tokens: "length", content_filter: "content-filter" };

function parsed(output) {
  try {
    return typeof output === "string" ? JSON.parse(output) : output;
  } catch {
    return output; // plain text from another server
  }
}

function createDecoder() {
  const calls = new Map(); // output index -> {id, done}
  const awaiting = new Set(); // call ids without a function_call_output
  let errored = false;

  const args = (call, text) => {
    if (!text || call.done) return [];
    return [{ type: "tool-args", id: call.id, text }];
  };
  const argsDone = (call) => {
    if (call.done) return [];
    call.done = true;
    return [{ type: "tool-args-end", id: call.id }];
  };
  const finish = ({ type, response }) => {
    const out = [];
    let reason = awaiting.size ? "tool-calls" : "stop";
    if (type === "response.failed") {
      reason = "error";
      const message = response.error?.message;
      if (!errored && message) out.push({ type: "error", message }); // no error event came
    } else if (response.status === "cancelled") {
      reason = "cancelled"; // stopped: there is no response.cancelled event
    } else if (type === "response.incomplete") {
      reason = INCOMPLETE[response.incomplete_details?.reason] ?? "length";
    }
    const used = response.usage;
    out.push({ type: "finish", reason, usage: usage(used?.input_tokens, used?.output_tokens) });
    return out;
  };
  const handlers = {
    "response.output_item.added": ({ item, output_index: index }) => {
      if (item.type !== "function_call") return [];
      const call = { id: item.call_id, done: false };
      calls.set(index, call);
      awaiting.add(call.id);
      return [{ type: "tool-begin", id: call.id, name: item.name }, ...args(call, item.arguments)];
    },
    "response.output_item.done": ({ item, output_index: index }) => {
      if (item.type === "function_call") return argsDone(calls.get(index));
      if (item.type === "function_call_output") {
        awaiting.delete(item.call_id);
        return [{ type: "tool-result", id: item.call_id, result: parsed(item.output) }];
      }
      if (item.type === "image_generation_call" && typeof item.result === "string") {
        return [{ type: "file", data: item.result,
          mimeType: IMAGE_TYPES[item.output_format ?? "png"] ?? "image/png" }];
      }
      return [];
    },
    "response.output_text.delta": (v) => [{ type: "text", text: v.delta }],
    "response.reasoning_summary_text.delta": (v) => [{ type: "reasoning", text: v.delta }],
    "response.function_call_arguments.delta": (v) => args(calls.get(v.output_index), v.delta),
    "response.function_call_arguments.done": (v) => argsDone(calls.get(v.output_index)),
    "response.output_text.annotation.added": (v) => {
      const { annotation: a } = v;
      if (a?.type !== "url_citation") return [];
      const id = `${v.item_id}_${v.annotation_index}`;
      return [{ type: "source", id, url: a.url, title: a.title || null }];
    },
    error: (v) => {
      errored = true;
      return [{ type: "error", message: v.message ?? v.error?.message ?? "An error occurred." }];
    },
    "response.completed": finish,
    "response.incomplete": finish,
    "response.failed": finish,
  };
  return {
    decode(_event, data) {
      const value = JSON.parse(data);
      return handlers[value.type]?.(value) ?? []; // other Responses events: not shown
    },
    close: () => [],
  };
}

export default { name: "openai-responses", framing: "sse", request, createDecoder };
