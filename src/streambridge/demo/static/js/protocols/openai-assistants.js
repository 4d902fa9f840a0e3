// OpenAI Assistants run events: named SSE events (`thread.message.delta`, `thread.run.step.*`,
// `thread.run.completed`, ...), then `event: done`.  What the API has no field for (reasoning,
// sources, state, ...) arrives at the end, as JSON in the final run's metadata.streambridge.
// (Decodes what streambridge sends: calls stream in step deltas, errors end the run failed.)
import { summary, usage } from "../message.js";

/** The body of "create thread and run" (POST /threads/runs) with the conversation so far. */
function request(conversation) {
  const messages = conversation
    .map((turn) => turn.role === "user" ? { role: "user", content: turn.text }
      : { role: "assistant", content: summary(turn.message).text })
    .filter((message) => message.content);
  return { assistant_id: "asst_streambridge_demo", thread: { messages }, stream: true };
}

const RUN_ENDS = {
  "thread.run.completed": "stop",
  "thread.run.incomplete": "length",
  "thread.run.requires_action": "tool-calls",
  "thread.run.failed": "error",
  "thread.run.cancelled": "cancelled",
  "thread.run.expired": "other",
};

function parsed(output) {
  try {
    return JSON.parse(output);
  } catch {
    return output;
  }
}

/** The final run's metadata.streambridge, as UI operations. */
function extras(text) {
  if (!text) return [];
  const x = JSON.parse(text);
  return [
    ...(x.reasoning ? [{ type: "reasoning", text: x.reasoning }] : []),
    ...(x.sources ?? []).map((s) => ({ type: "source", id: s.id, url: s.url, title: s.title })),
    ...(x.files ?? []).map((f) => ({ type: "file", data: f.data, mimeType: f.mime_type })),
    ...(x.data ?? []).map((d) => ({ type: "data", name: d.name, data: d.data })),
    ...(x.state?.length ? [{ type: "state", operations: x.state }] : []),
  ];
}

function createDecoder() {
  const calls = new Map(); // `${step id}/${index}` -> {id, step, done}

  const argsDone = (call) => {
    if (call.done) return [];
    call.done = true;
    return [{ type: "tool-args-end", id: call.id }];
  };
  const toolCall = (step, delta) => {
    if (delta.type !== "function") return []; // code interpreter, file search: not shown
    const fn = delta.function ?? {};
    const out = [];
    let call = calls.get(`${step}/${delta.index}`);
    if (!call) {
      call = { id: delta.id, step, done: false };
      calls.set(`${step}/${delta.index}`, call);
      out.push({ type: "tool-begin", id: call.id, name: fn.name ?? "" });
    }
    if (fn.arguments) out.push({ type: "tool-args", id: call.id, text: fn.arguments });
    if (fn.output != null) {
      out.push(...argsDone(call), { type: "tool-result", id: call.id, result: parsed(fn.output) });
    }
    return out;
  };
  const runEnd = (run, reason) => {
    const out = [...calls.values()].flatMap(argsDone);
    out.push(...extras(run.metadata?.streambridge));
    if (reason === "error") {
      out.push({ type: "error", message: run.last_error?.message || "The run failed." });
    }
    const used = usage(run.usage?.prompt_tokens, run.usage?.completion_tokens);
    return [...out, { type: "finish", reason, usage: used }];
  };
  const handlers = {
    "thread.message.delta": (v) => (v.delta.content ?? [])
      .filter((block) => block.type === "text" && block.text?.value)
      .map((block) => ({ type: "text", text: block.text.value })),
    "thread.run.step.delta": (v) => {
      const details = v.delta.step_details ?? {};
      return details.type !== "tool_calls" ? []
        : (details.tool_calls ?? []).flatMap((c) => toolCall(v.id, c));
    },
  };
  const stepEnd = (v) => [...calls.values()].filter((c) => c.step === v.id).flatMap(argsDone);
  for (const end of ["completed", "failed", "cancelled", "expired"]) {
    handlers[`thread.run.step.${end}`] = stepEnd;
  }
  for (const [event, reason] of Object.entries(RUN_ENDS)) {
    handlers[event] = (run) => runEnd(run, reason);
  }

  return {
    decode(event, data) {
      if (!event) throw new Error("an openai-assistants event needs an event: line");
      return event === "done" ? [] : handlers[event]?.(JSON.parse(data)) ?? [];
    },
    close: () => [],
  };
}

export default { name: "openai-assistants", framing: "sse", request, createDecoder };
