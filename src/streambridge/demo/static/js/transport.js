// Carry one run: POST and read the streamed body, or the WebSocket envelope.  Both hand every
// protocol event ({event, data}, HTTP framing undone) to onEvent, and settle when the run ends.
import { createSplitter } from "./framing.js";

/** POST `body` to `url` and feed the streamed answer's events to onEvent; `signal` aborts.
 * onResponse sees the response first (its headers: the run's id, where the server keeps runs). */
export async function overHttp(url, body, framing, onEvent, signal, onResponse = () => {}) {
  const response = await fetch(url, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify(body),
    signal,
  });
  if (!response.ok) throw new Error(await errorText(response));
  onResponse(response);
  await readEvents(response, framing, onEvent);
}

/** Attach to a run the server keeps (GET …/runs/{id}/stream): its events from the start.
 * Resolves to false when the server no longer has it. */
export async function attachHttp(url, framing, onEvent, signal) {
  const response = await fetch(url, { signal });
  if (response.status === 404) return false;
  if (!response.ok) throw new Error(await errorText(response));
  await readEvents(response, framing, onEvent);
  return true;
}

async function readEvents(response, framing, onEvent) {
  const splitter = createSplitter(framing);
  const reader = response.body.getReader();
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    splitter.push(value).forEach(onEvent);
  }
  splitter.end().forEach(onEvent);
}

async function errorText(response) {
  const text = await response.text();
  try {
    return `HTTP ${response.status}: ${JSON.parse(text).error.message}`;
  } catch {
    return `HTTP ${response.status}: ${text || response.statusText}`;
  }
}

/** The protocol event a `chunk` frame carries (for an SSE protocol, its JSON data). */
export function chunkEvent(frame, framing) {
  const data = framing === "lines" || frame.raw ? String(frame.chunk) : JSON.stringify(frame.chunk);
  return { event: frame.event ?? null, data };
}

let socket = null; // one connection, reused while the protocol stays the same
let requests = 0;

function connect(url) {
  if (socket?.url === url && socket.readyState <= WebSocket.OPEN) return socket;
  socket?.close(1000);
  socket = new WebSocket(url);
  return socket;
}

/** Run over the WebSocket envelope: a `send` frame, then `start`, `chunk`s and `end`; aborting
 * `signal` sends `abort`, and the server's `end` follows.  Where the server keeps its runs, the
 * `start` frame names the run (`runId`), which onFrame sees. */
export function overWebSocket(url, body, framing, onEvent, signal, onFrame = () => {}) {
  const frame = (requestId) => ({ type: "send", requestId, body });
  return exchange(url, frame, framing, onEvent, signal, onFrame);
}

/** Resume a run the server keeps (a `resume` frame naming it, on this page's connection): its
 * events from the start.  Resolves to false when the server no longer has it (`no-active`). */
export function resumeWebSocket(url, runId, protocol, framing, onEvent, signal, onFrame = () => {}) {
  const frame = (requestId) => ({ type: "resume", requestId, runId, protocol });
  return exchange(url, frame, framing, onEvent, signal, onFrame);
}

/** One request over the envelope: `frame(requestId)` sent, its frames read until `end`
 * (resolves to true), `no-active` (false) or `error` (rejects). */
function exchange(url, frame, framing, onEvent, signal, onFrame) {
  const ws = connect(url);
  const requestId = `r${++requests}`;
  let sequence = 0;
  return new Promise((resolve, reject) => {
    let settled = false;
    const done = (error, found = true) => {
      settled = true;
      ws.removeEventListener("message", onMessage);
      ws.removeEventListener("close", onClose);
      signal.removeEventListener("abort", onAbort);
      error ? reject(error) : resolve(found);
    };
    const onMessage = ({ data }) => {
      const received = JSON.parse(data);
      if (received.requestId !== requestId && received.requestId !== "") return;
      onFrame(received);
      if (received.type === "chunk") {
        if (received.sequence !== sequence++) console.warn(`gap before chunk ${received.sequence}`);
        onEvent(chunkEvent(received, framing));
      } else if (received.type === "end") done();
      else if (received.type === "no-active") done(null, false);
      else if (received.type === "error") done(new Error(received.errorText));
    };
    const onClose = (e) => done(new Error(`the WebSocket closed (${e.code}) before the run ended`));
    const onAbort = () => {
      if (ws.readyState === WebSocket.OPEN) ws.send(JSON.stringify({ type: "abort", requestId }));
      else done(new DOMException("The run was stopped before it started.", "AbortError"));
    };
    const send = () => settled || ws.send(JSON.stringify(frame(requestId)));
    ws.addEventListener("message", onMessage);
    ws.addEventListener("close", onClose);
    signal.addEventListener("abort", onAbort);
    if (ws.readyState === WebSocket.OPEN) send();
    else ws.addEventListener("open", send, { once: true });
  });
}
