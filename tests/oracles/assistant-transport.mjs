// Decode an assistant-transport stream with the official client (assistant-stream's strict
// AssistantTransportDecoder and AssistantMessageAccumulator, as useAssistantTransportRuntime
// pipes them) and print what it built as JSON:
//   {"message": {parts, status, metadata}, "chunks": [decoded chunks...], "thrown": null}
//   node assistant-transport.mjs '{"fragment": true, "initialState": {...}}' < stream-bytes
//   node assistant-transport.mjs '{"many": true}' < [{"stream": "<text>", "initialState": ...}, ...]
// The second form decodes many streams in one process and prints a JSON array of results.
// Any thrown error fails the run, except with {"cut": true}: the stream must then end the way
// the client reports a cut stream (a thrown error), which is printed as "thrown" with the last
// message the accumulator emitted before it; a cut stream that does not throw fails the run.
import {
  AssistantMessageAccumulator,
  AssistantTransportDecoder,
  unstable_createInitialMessage,
} from "assistant-stream";
import { byteStream, main } from "./common.mjs";

async function decode(bytes, opts) {
  const initial = unstable_createInitialMessage({ unstable_state: opts.initialState ?? null });
  const chunks = [];
  const messages = byteStream(bytes, opts)
    .pipeThrough(new AssistantTransportDecoder())
    .pipeThrough(
      new TransformStream({
        transform(chunk, controller) {
          chunks.push(chunk);
          controller.enqueue(chunk);
        },
      }),
    )
    .pipeThrough(new AssistantMessageAccumulator({ initialMessage: initial }));

  let last = initial;
  let thrown = null;
  try {
    for await (const current of messages) last = current;
  } catch (error) {
    if (!opts.cut) throw error;
    thrown = String(error?.message ?? error);
  }
  if (opts.cut && thrown === null) {
    process.stderr.write("a cut stream was expected to make the client throw; it did not\n");
    process.exit(1);
  }
  // Timings are wall-clock and differ on every run; nothing else is left out.
  const { timing, ...metadata } = last.metadata;
  const parts = last.parts.map(({ timing, ...part }) => part);
  return { message: { parts, status: last.status, metadata }, chunks, thrown };
}

await main(decode);
