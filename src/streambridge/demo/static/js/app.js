// The page: the controls, the conversation, the live assistant message, the state and the
// event log.  Everything protocol-specific is in ./protocols/; this module only touches the DOM.
import { applyOp, createMessage, toolArgs } from "./message.js";
import { PROTOCOLS } from "./protocols/index.js";
import { attachHttp, overHttp, overWebSocket, resumeWebSocket } from "./transport.js";

const $ = (id) => document.getElementById(id);
const LOG_LIMIT = 200;
// (Not crypto.randomUUID: it exists only in secure contexts, and the demo may be served over
// plain HTTP on a LAN address.)
const newId = (prefix) =>
  `${prefix}_${Date.now().toString(36)}${Math.random().toString(36).slice(2, 10)}`;

let conversation = [];
let state = null; // the agent state after the last run, sent with the next request
let threadId = newId("thread");
let running = null; // the AbortController of the run in progress
let runId = null; // the server's id of the run on screen, while it streams
// The run in progress, for every tab of this page: the server keeps runs, so a reloaded page or
// a second tab attaches to it (GET api/chat/runs/{id}/stream, or a `resume` frame for a run
// started over the WebSocket) and Stop stops it everywhere.
const ACTIVE_RUN = "streambridge-demo-active-run";

/** Keeps a scrolled list at its bottom while the reader is there (not after they scroll up):
 * `change()` mutates the list, and the list then follows unless the reader has scrolled up.
 * Only the reader's own scrolling decides, not the list's size: the panel above the log grows
 * as the state does, which takes the bottom out of view without anyone scrolling. */
function follower(list) {
  let follow = true;
  let placed = 0; // where this page last put the list's scroll position
  list.addEventListener("scroll", () => {
    // At the bottom (the reader went back there, or the list grew and the browser clamped its
    // position): follow.  Above where the page put it: the reader scrolled up.
    if (list.scrollHeight - list.scrollTop - list.clientHeight < 40) follow = true;
    else if (list.scrollTop < placed - 1) follow = false;
  });
  const place = () => {
    list.scrollTop = list.scrollHeight;
    placed = list.scrollTop;
  };
  // The list itself shrinks when the panel above it grows (a run's last state): keep up.
  new ResizeObserver(() => follow && place()).observe(list);
  return (change = () => {}, force = false) => {
    change();
    if (force) follow = true;
    if (follow) place();
  };
}
const followMessages = follower($("messages"));
const followEvents = follower($("events"));

async function init() {
  const select = $("protocol");
  let served = { protocols: Object.keys(PROTOCOLS), default: "data-stream" };
  try {
    served = await (await fetch("api/protocols")).json();
  } catch (error) {
    log("page", `could not load api/protocols: ${error.message}`);
  }
  for (const name of served.protocols) {
    const option = new Option(PROTOCOLS[name] ? name : `${name} (no decoder in this page)`, name);
    option.disabled = !PROTOCOLS[name];
    select.add(option);
  }
  if (PROTOCOLS[served.default]) select.value = served.default; // unless one was chosen before
  for (const id of ["protocol", "transport"]) {
    const key = `streambridge-demo-${id}`;
    const saved = localStorage.getItem(key);
    if ([...$(id).options].some((o) => o.value === saved && !o.disabled)) $(id).value = saved;
    $(id).addEventListener("change", () => localStorage.setItem(key, $(id).value));
  }
  $("composer").addEventListener("submit", (event) => {
    event.preventDefault();
    send();
  });
  $("prompt").addEventListener("keydown", (event) => {
    if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
      event.preventDefault();
      send();
    }
  });
  $("stop").addEventListener("click", stop);
  window.addEventListener("storage", (event) => {
    if (event.key === ACTIVE_RUN && event.newValue && !running) follow(JSON.parse(event.newValue));
  });
  $("new-chat").addEventListener("click", reset);
  $("clear-log").addEventListener("click", () =>
    followEvents(() => $("events").replaceChildren(), true),
  );
  showState(state);
  const active = localStorage.getItem(ACTIVE_RUN);
  if (active) follow(JSON.parse(active));
}

/** Stop the run on the server (every tab following it sees its end), then locally. */
function stop() {
  if (runId) fetch(`api/chat/runs/${encodeURIComponent(runId)}/cancel`, { method: "POST" });
  running?.abort();
}

/** Follow a run another tab (or this page before a reload) started, from its first event. */
async function follow(active) {
  const protocol = PROTOCOLS[active.protocol];
  if (!protocol || running) return;
  addBubble("user").querySelector(".parts").textContent = active.text;
  conversation.push({ id: newId("msg"), role: "user", text: active.text });
  const url = `api/chat/runs/${encodeURIComponent(active.runId)}/stream`;
  const query = `${url}?protocol=${encodeURIComponent(protocol.name)}`;
  runId = active.runId;
  const found = (yes) => yes || forget(active.runId);
  if (active.transport === "ws") {
    // Resumed over the WebSocket it was started on: a `resume` frame naming the run.
    const chat = `api/chat?protocol=${encodeURIComponent(protocol.name)}`;
    const what = `WebSocket resume ${active.runId}`;
    await stream(protocol, "WebSocket (resumed)", what, null, (onEvent, signal) =>
      resumeWebSocket(webSocketUrl(chat), active.runId, protocol.name, protocol.framing, onEvent,
        signal, logFrame).then(found),
    );
    return;
  }
  await stream(protocol, "HTTP (attached)", `GET ${query}`, null, (onEvent, signal) =>
    attachHttp(query, protocol.framing, onEvent, signal).then(found),
  );
}

function webSocketUrl(path) {
  const url = new URL(path, location.href);
  url.protocol = url.protocol === "https:" ? "wss:" : "ws:";
  return url.href;
}

/** The envelope's frames other than chunks, in the events panel. */
function logFrame(frame) {
  if (frame.type !== "chunk") log("frame", JSON.stringify(frame), `ws ${frame.type}`);
}

function forget(id) {
  const active = localStorage.getItem(ACTIVE_RUN);
  if (active && JSON.parse(active).runId === id) localStorage.removeItem(ACTIVE_RUN);
}

function reset() {
  running?.abort();
  conversation = [];
  state = null;
  threadId = newId("thread");
  followMessages(() => $("messages").replaceChildren(), true);
  showState(state);
  setStatus("New conversation.");
}

async function send() {
  const text = $("prompt").value.trim();
  if (!text || running) return;
  const protocol = PROTOCOLS[$("protocol").value];
  const transport = $("transport").value;
  conversation.push({ id: newId("msg"), role: "user", text });
  addBubble("user").querySelector(".parts").textContent = text;
  $("prompt").value = "";

  const body = protocol.request(conversation, { threadId, runId: newId("run"), state });
  const query = `api/chat?protocol=${encodeURIComponent(protocol.name)}`;
  const ws = transport === "ws";
  const how = ws ? "WebSocket" : "HTTP";
  const what = `${ws ? "WebSocket send" : "POST"} ${query}`;
  // The run's id, where the server keeps runs: a reloaded page or another tab follows it.
  const remember = (id) => {
    runId = id;
    const active = { runId, text, protocol: protocol.name, transport };
    if (runId) localStorage.setItem(ACTIVE_RUN, JSON.stringify(active));
  };
  await stream(protocol, how, what, body, (onEvent, signal) => {
    if (ws) {
      const onFrame = (frame) => {
        if (frame.type === "start" && frame.runId) remember(frame.runId);
        logFrame(frame);
      };
      return overWebSocket(webSocketUrl(query), body, protocol.framing, onEvent, signal, onFrame);
    }
    const onResponse = (response) => remember(response.headers.get("x-resumable-stream-id"));
    return overHttp(query, body, protocol.framing, onEvent, signal, onResponse);
  });
}

/** Stream one run into a new assistant bubble: `start(onEvent, signal)` carries it. */
async function stream(protocol, how, what, body, start) {
  const message = createMessage(state);
  const view = addBubble("assistant");
  view.setAttribute("aria-busy", "true"); // screen readers: read the answer once it is whole
  const decoder = protocol.createDecoder();
  const apply = (ops) => {
    ops.forEach((op) => applyOp(message, op));
    if (ops.length) scheduleRender(view, message);
  };
  const onEvent = (event) => {
    log("event", event.data, event.event ?? (protocol.framing === "lines" ? "line" : "data"));
    try {
      apply(decoder.decode(event.event, event.data));
    } catch (error) {
      apply([{ type: "error", message: `cannot decode this event: ${error.message}` }]);
    }
  };

  const controller = (running = new AbortController());
  const chat = conversation; // "New chat" during the run starts another one
  setRunning(true);
  setStatus(`Streaming ${protocol.name} over ${how}…`);
  log("request", body === null ? "" : JSON.stringify(body), what);
  try {
    await start(onEvent, controller.signal);
    apply(decoder.close());
  } catch (error) {
    if (!controller.signal.aborted) apply([{ type: "error", message: error.message }]);
  } finally {
    if (runId) forget(runId); // ended, or stopped here: nothing left to attach to
    runId = null;
    running = null;
    setRunning(false);
    view.removeAttribute("aria-busy");
    // Stopped here, or elsewhere (another tab, the stop route): its protocol's stopped end.
    // (Over WebSocket a run stopped here still ends.)
    message.stopped = controller.signal.aborted || message.finishReason === "cancelled";
    chat.push({ id: newId("msg"), role: "assistant", message });
    if (chat === conversation) {
      render(view, message);
      state = message.state;
      const failed = message.errors.length > 0;
      setStatus(message.stopped ? "Stopped." : failed ? "Ended with an error." : "Done.");
    }
  }
}

function setRunning(on) {
  $("send").disabled = on;
  $("stop").disabled = !on;
  $("protocol").disabled = $("transport").disabled = on;
}

function setStatus(text) {
  $("status").textContent = text;
}

// -- the conversation ---------------------------------------------------------------------------

function addBubble(role) {
  const item = document.createElement("li");
  item.className = `bubble ${role}`;
  item.innerHTML = `<h3 class="visually-hidden"></h3><div class="parts"></div>`;
  item.querySelector("h3").textContent = role === "user" ? "You said:" : "The assistant said:";
  followMessages(() => $("messages").append(item), role === "user");
  return item;
}

const pending = new WeakSet();

function scheduleRender(view, message) {
  if (pending.has(view)) return;
  pending.add(view);
  requestAnimationFrame(() => {
    pending.delete(view);
    render(view, message);
  });
}

function render(view, message) {
  const container = view.querySelector(".parts");
  followMessages(() => {
    message.parts.forEach((part, index) => {
      let node = container.children[index];
      if (node?.dataset.kind !== part.type) {
        const fresh = create(part);
        node ? node.replaceWith(fresh) : container.append(fresh);
        node = fresh;
      }
      update(node, part);
    });
    footer(view, message);
  });
  showState(message.state);
}

function element(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text != null) node.textContent = text;
  return node;
}

function create(part) {
  let node;
  if (part.type === "reasoning") {
    node = element("details", "reasoning");
    node.open = true;
    node.append(element("summary", null, "Reasoning"), element("div", "body"));
  } else if (part.type === "tool") {
    node = element("section", "tool");
    node.append(element("div", "tool-head"), element("pre", "args"), element("pre", "result"));
  } else if (part.type === "source") {
    node = element("a", "source");
    node.target = "_blank";
    node.rel = "noopener noreferrer";
  } else {
    node = element("div", part.type);
  }
  node.dataset.kind = part.type;
  return node;
}

const json = (value) => JSON.stringify(value, null, 2);

function update(node, part) {
  switch (part.type) {
    case "text":
      node.textContent = part.text;
      break;
    case "reasoning":
      node.querySelector(".body").textContent = part.text;
      break;
    case "tool": {
      const status = part.isError ? "failed" : part.hasResult ? "done"
        : part.argsDone ? "running" : "arguments streaming";
      const badge = element("span", `badge ${status.split(" ")[0]}`, status);
      node.querySelector(".tool-head")
        .replaceChildren("Tool call ", element("code", null, part.name), " ", badge);
      const args = toolArgs(part); // pretty once complete, as it streams before
      node.querySelector(".args").textContent =
        part.argsDone && args !== undefined ? json(args) : part.argsText;
      const result = node.querySelector(".result");
      result.hidden = !part.hasResult;
      result.textContent = part.hasResult ? `→ ${json(part.result)}` : "";
      break;
    }
    case "source":
      node.href = /^https?:\/\//i.test(part.url) ? part.url : "#";
      node.textContent = `Source: ${part.title || part.url}`;
      break;
    case "file": {
      const url = `data:${part.mimeType};base64,${part.data}`;
      const image = /^image\/(png|jpeg|gif|webp)$/.test(part.mimeType);
      const label = `file (${part.mimeType})`;
      const child = image ? Object.assign(element("img"), { src: url, alt: label })
        : Object.assign(element("a", null, `Download ${label}`), { href: url, download: "file" });
      node.replaceChildren(child);
      break;
    }
    case "data":
      node.replaceChildren(element("span", "label", part.name ? `data “${part.name}”` : "data"),
        element("pre", null, json(part.data)));
      break;
  }
}

function footer(view, message) {
  view.querySelector(".errors")?.remove();
  view.querySelector(".meta")?.remove();
  if (message.errors.length) {
    const errors = element("div", "errors");
    errors.setAttribute("role", "alert");
    message.errors.forEach((text) => errors.append(element("p", null, `Error: ${text}`)));
    view.append(errors);
  }
  if (message.finishReason || message.usage || message.stopped) {
    const { usage } = message;
    const tokens = usage
      ? ` · ${usage.inputTokens} input + ${usage.outputTokens} output tokens` : "";
    const reason = message.finishReason ?? (message.stopped ? "— (stopped)" : "—");
    view.append(element("p", "meta", `finish: ${reason}${tokens}`));
  }
}

// -- the side panel -----------------------------------------------------------------------------

let shownState;

function showState(value) {
  const text = value == null ? "(no state)" : json(value);
  if (text !== shownState) $("state").textContent = shownState = text;
}

function log(kind, data, label = kind) {
  const list = $("events");
  const item = element("li", kind);
  const now = new Date();
  const ms = String(now.getMilliseconds()).padStart(3, "0");
  const time = `${now.toTimeString().slice(0, 8)}.${ms}`;
  item.append(element("time", null, time), " ", element("b", null, label), " ",
    element("code", null, data.length > 400 ? `${data.slice(0, 400)}…` : data));
  followEvents(() => {
    list.append(item);
    while (list.childElementCount > LOG_LIMIT) list.firstElementChild.remove();
  });
}

init();
