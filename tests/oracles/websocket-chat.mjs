// The AI SDK's WebSocketChatTransport against a live server: send a message, read a few
// chunks, drop the connection (a reloaded page), then reconnectToStream on a new transport and
// build the message from what it replays; a second reconnect after the end must find nothing.
//   node --experimental-websocket websocket-chat.mjs '{"url": "ws://...", "chatId": "c", "body": {...}, "readFirst": 3}'
// Prints {"head": [chunk types read before the drop], "message": <UIMessage>, "afterEnd": null}.
import { WebSocketChatTransport, readUIMessageStream } from "ai";
import { main } from "./common.mjs";

async function take(stream, count) {
  const reader = stream.getReader();
  const chunks = [];
  while (chunks.length < count) {
    const { value, done } = await reader.read();
    if (done) break;
    chunks.push(value);
  }
  reader.releaseLock();
  return chunks;
}

async function lastMessage(stream) {
  let message = null;
  for await (const value of readUIMessageStream({ stream })) message = value;
  return message;
}

await main(async (_bytes, { url, chatId, body, readFirst }) => {
  const user = { id: "u1", role: "user", parts: [{ type: "text", text: "Hi" }] };
  const first = new WebSocketChatTransport({ url });
  const stream = await first.sendMessages({
    chatId,
    messages: [user],
    trigger: "submit-message",
    messageId: undefined,
    body,
  });
  const head = await take(stream, readFirst);
  first.close();

  const second = new WebSocketChatTransport({ url });
  const resumed = await second.reconnectToStream({ chatId });
  const message = resumed === null ? null : await lastMessage(resumed);
  const afterEnd = await second.reconnectToStream({ chatId });
  second.close();
  return { head: head.map((chunk) => chunk.type), message, afterEnd };
});
