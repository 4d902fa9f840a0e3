// The assistant message the page shows, built from the UI operations every protocol decoder
// gives back:
//   {type: "text" | "reasoning", text}
//   {type: "tool-begin", id, name}   {type: "tool-args", id, text}   {type: "tool-args-end", id}
//   {type: "tool-result", id, result, isError}
//   {type: "source", id, url, title}   {type: "file", data, mimeType}   {type: "data", name, data}
//   {type: "state", operations | snapshot | patch}
//   {type: "error", message}   {type: "finish", reason, usage: {inputTokens, outputTokens} | null}
import { applyOperations, applyPatch } from "./state.js";

export function createMessage(state = null) {
  return { parts: [], state: structuredClone(state), finishReason: null, usage: null, errors: [] };
}

export function applyOp(message, op) {
  const { parts } = message;
  const last = parts[parts.length - 1];
  switch (op.type) {
    case "text":
    case "reasoning":
      if (last?.type === op.type) last.text += op.text;
      else parts.push({ type: op.type, text: op.text });
      break;
    case "tool-begin":
      parts.push({ type: "tool", id: op.id, name: op.name, argsText: "", argsDone: false,
        hasResult: false, result: null, isError: false });
      break;
    case "tool-args":
      toolCall(message, op.id).argsText += op.text;
      break;
    case "tool-args-end":
      toolCall(message, op.id).argsDone = true;
      break;
    case "tool-result":
      Object.assign(toolCall(message, op.id), {
        argsDone: true, hasResult: true, result: op.result, isError: Boolean(op.isError) });
      break;
    case "source":
      parts.push({ type: "source", id: op.id, url: op.url, title: op.title ?? null });
      break;
    case "file":
      parts.push({ type: "file", data: op.data, mimeType: op.mimeType });
      break;
    case "data":
      parts.push({ type: "data", name: op.name ?? null, data: op.data });
      break;
    case "state":
      if ("snapshot" in op) message.state = structuredClone(op.snapshot);
      else if (op.patch) message.state = applyPatch(message.state, op.patch);
      else message.state = applyOperations(message.state, op.operations);
      break;
    case "error":
      message.errors.push(op.message);
      break;
    case "finish":
      message.finishReason = op.reason ?? null;
      message.usage = op.usage ?? null;
      break;
    default:
      throw new Error(`unknown UI operation ${op.type}`);
  }
  return message;
}

function toolCall(message, id) {
  const call = message.parts.find((part) => part.type === "tool" && part.id === id);
  if (!call) throw new Error(`the stream used tool call ${id} before starting it`);
  return call;
}

/** A call's arguments parsed, or undefined while they are not valid JSON yet. */
export function toolArgs(call) {
  if (!call.argsText.trim()) return call.argsDone ? {} : undefined;
  try {
    return JSON.parse(call.argsText);
  } catch {
    return undefined;
  }
}

/** An assistant message reduced to what chat histories carry: reasoning, text, tool calls. */
export function summary(message) {
  const join = (type) => message.parts.filter((p) => p.type === type).map((p) => p.text).join("");
  const calls = message.parts.filter((p) => p.type === "tool").map((call) => ({
    id: call.id, name: call.name, args: toolArgs(call) ?? {},
    argsText: call.argsText || "{}", hasResult: call.hasResult, result: call.result,
  }));
  return { text: join("text"), reasoning: join("reasoning"), calls };
}

/** A usage object from input/output token counts; null when the stream sent neither. */
export function usage(inputTokens, outputTokens) {
  if (inputTokens == null && outputTokens == null) return null;
  return { inputTokens: inputTokens ?? 0, outputTokens: outputTokens ?? 0 };
}
