// Decode a Vercel AI SDK UI message stream with the official client (strict) and print the
// final UIMessage, the finish chunk (null after an abort) and the errors the stream reported.
//   node ui-message-stream.mjs '{"fragment": true}' < stream-bytes
//   node ui-message-stream.mjs '{"many": true}' < [{"stream": "<text>"}, ...]
// The second form decodes many streams in one process and prints a JSON array of results.
//
// The bytes go through what useChat's DefaultChatTransport runs: parseJsonEventStream with
// uiMessageChunkSchema (every chunk must validate), then readUIMessageStream builds the message.
// Strict beyond the client: an invalid chunk, a chunk with a key the strict schema of ai 5.0.92
// did not allow, or a client failure (e.g. a delta for a part that was never started) fails the
// run; an "error" chunk is reported, not failed.
import { parseJsonEventStream, readUIMessageStream, uiMessageChunkSchema } from "ai";
import { byteStream, main } from "./common.mjs";

// The keys each chunk type may have in ai 5.0.92, the oldest release this encoder targets (the
// first whose `finish` chunk takes `finishReason`; its schema rejected unknown keys).
const PART = ["type", "id", "providerMetadata"];
const TOOL = ["type", "toolCallId", "providerExecuted", "dynamic"];
const STRICT_KEYS = {
  start: ["type", "messageId", "messageMetadata"],
  finish: ["type", "finishReason", "messageMetadata"],
  "message-metadata": ["type", "messageMetadata"],
  error: ["type", "errorText"],
  "text-start": PART,
  "text-delta": [...PART, "delta"],
  "text-end": PART,
  "reasoning-start": PART,
  "reasoning-delta": [...PART, "delta"],
  "reasoning-end": PART,
  "tool-input-start": [...TOOL, "toolName"],
  "tool-input-delta": ["type", "toolCallId", "inputTextDelta"],
  "tool-input-available": [...TOOL, "toolName", "input", "providerMetadata"],
  "tool-input-error": [...TOOL, "toolName", "input", "providerMetadata", "errorText"],
  "tool-output-available": [...TOOL, "output", "preliminary"],
  "tool-output-error": [...TOOL, "errorText"],
  "source-url": ["type", "sourceId", "url", "title", "providerMetadata"],
  file: ["type", "url", "mediaType", "providerMetadata"],
  "start-step": ["type"],
  "finish-step": ["type"],
  abort: ["type"], // a stopped run's end, in place of finish ("reason" came after 5.0.92)
};
const DATA_KEYS = ["type", "id", "data", "transient"];
const OLD_FINISH_REASONS = ["stop", "length", "content-filter", "tool-calls", "error", "other"];

function checkStrict(chunk) {
  const allowed = chunk.type.startsWith("data-") ? DATA_KEYS : STRICT_KEYS[chunk.type];
  if (allowed === undefined) {
    throw new Error(`unexpected chunk type ${chunk.type}`);
  }
  const extra = Object.keys(chunk).filter((key) => !allowed.includes(key));
  if (extra.length > 0) {
    throw new Error(`${chunk.type} chunk has keys older clients reject: ${extra.join(", ")}`);
  }
  const reason = chunk.type === "finish" ? chunk.finishReason : undefined;
  if (reason !== undefined && !OLD_FINISH_REASONS.includes(reason)) {
    throw new Error(`finish reason ${reason} is not one every client accepts`);
  }
}

async function decode(bytes, opts) {
  const types = [];
  const errorTexts = []; // from "error" chunks, in order
  const errors = [];
  const problems = [];
  let finish = null;
  let aborted = false;

  const chunks = parseJsonEventStream({
    stream: byteStream(bytes, opts),
    schema: uiMessageChunkSchema,
  }).pipeThrough(
    new TransformStream({
      transform(result, controller) {
        if (!result.success) {
          throw new Error(`invalid chunk: ${result.error.message}`);
        }
        const chunk = result.value;
        checkStrict(chunk);
        if (finish !== null || aborted) {
          throw new Error(`${chunk.type} chunk after ${aborted ? "abort" : "finish"}`);
        }
        types.push(chunk.type);
        if (chunk.type === "error") errorTexts.push(chunk.errorText);
        if (chunk.type === "abort") aborted = true;
        if (chunk.type === "finish") {
          const { type, ...rest } = chunk;
          finish = rest;
        }
        controller.enqueue(chunk);
      },
    }),
  );

  let message = null;
  const messages = readUIMessageStream({
    stream: chunks,
    onError(error) {
      // An "error" chunk reaches onError as a plain Error with its text; anything else is the
      // client failing on the stream.
      const expected = errorTexts[errors.length];
      if (error?.constructor === Error && expected !== undefined && error.message === expected) {
        errors.push(error.message);
      } else {
        problems.push(String(error?.stack ?? error));
      }
    },
  });
  for await (const current of messages) message = current;
  if (problems.length > 0) {
    process.stderr.write(problems.join("\n") + "\n");
    process.exit(1);
  }
  return { message, finish, errors, types };
}

await main(decode);
