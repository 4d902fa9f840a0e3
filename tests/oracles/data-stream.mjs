// Decode assistant-ui data streams with the official client (strict) and print the final
// assistant message as JSON.
//   node data-stream.mjs '{"fragment": true, "initialState": {...}}' < stream-bytes
//   node data-stream.mjs '{"many": true}' < [{"stream": "<text>", "initialState": ...}, ...]
// The second form decodes many streams in one process and prints a JSON array of messages.
import {
  AssistantMessageAccumulator,
  DataStreamDecoder,
  unstable_createInitialMessage,
} from "assistant-stream";
import { byteStream, main } from "./common.mjs";

async function decode(bytes, opts) {
  const message = unstable_createInitialMessage({ unstable_state: opts.initialState ?? null });
  const messages = byteStream(bytes, opts)
    .pipeThrough(new DataStreamDecoder())
    .pipeThrough(new AssistantMessageAccumulator({ initialMessage: message }));
  let last = message;
  for await (const current of messages) last = current;
  const { timing, ...metadata } = last.metadata;
  // Timings are wall-clock and differ on every run; nothing else is left out.
  const parts = last.parts.map(({ timing, ...part }) => part);
  return { parts, status: last.status, metadata };
}

await main(decode);
