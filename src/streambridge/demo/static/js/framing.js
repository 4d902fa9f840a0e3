// Undo HTTP framing: bytes in, whole protocol events out, however the network cut the bytes.
// An event is {event, data}: for SSE the `event:` name (or null) and the `data:` text, for a
// line protocol (data-stream) null and one line.

export function createSplitter(framing) {
  if (framing !== "sse" && framing !== "lines") throw new Error(`unknown framing ${framing}`);
  const utf8 = new TextDecoder("utf-8", { fatal: false });
  let pending = "";

  function take(text, final) {
    pending += text;
    if (framing === "lines") {
      const lines = pending.split("\n");
      pending = final ? "" : lines.pop();
      return lines.map((line) => line.replace(/\r$/, "")).filter((line) => line !== "")
        .map((data) => ({ event: null, data }));
    }
    // A "\r" at the end may be the first half of "\r\n": keep it for the next piece.
    const held = !final && pending.endsWith("\r") ? "\r" : "";
    const blocks = pending.slice(0, pending.length - held.length)
      .replace(/\r\n?/g, "\n").split("\n\n");
    const rest = blocks.pop(); // an unfinished event: dropped when the body ends, as SSE says
    pending = final ? "" : rest + held;
    return blocks.map(parseBlock).filter(Boolean);
  }

  return {
    /** The events completed by this piece of the body (a Uint8Array, or a string). */
    push: (piece) =>
      take(typeof piece === "string" ? piece : utf8.decode(piece, { stream: true }), false),
    /** The events left when the body ends. */
    end: () => take(utf8.decode(), true),
  };
}

/** One SSE block as an event; null for a block without data (a comment such as a keepalive). */
function parseBlock(block) {
  let event = null;
  const data = [];
  for (const line of block.split("\n")) {
    if (line === "" || line.startsWith(":")) continue;
    const colon = line.indexOf(":");
    const field = colon < 0 ? line : line.slice(0, colon);
    let value = colon < 0 ? "" : line.slice(colon + 1);
    if (value.startsWith(" ")) value = value.slice(1);
    if (field === "event") event = value || null;
    else if (field === "data") data.push(value);
  }
  return data.length ? { event, data: data.join("\n") } : null;
}
