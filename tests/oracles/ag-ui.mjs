// Run AG-UI streams through the official client (@ag-ui/client's HttpAgent, which enforces the
// event schemas and runs verifyEvents) and print what the agent ended up with.
//   node ag-ui.mjs '{"fragment": true, "initialState": {...}}' < stream-bytes
//   node ag-ui.mjs '{"many": true}' < [{"stream": "<text>", "initialState": ...}, ...]
// The second form runs many streams in one process and prints a JSON array of results.
// fetch is replaced by one that answers with the given bytes (whole, or in 1-7 byte pieces), so
// the agent's own HTTP path reads them: SSE parsing, enforcement, verification, reducer.
import { HttpAgent } from "@ag-ui/client";
import { byteStream, main } from "./common.mjs";

async function run(bytes, opts) {
  let request;
  globalThis.fetch = async (_url, init) => {
    request = JSON.parse(init.body);
    return new Response(byteStream(bytes, opts), {
      status: 200,
      headers: { "content-type": "text/event-stream" },
    });
  };
  const agent = new HttpAgent({
    url: "http://streambridge.invalid/agent",
    threadId: opts.threadId ?? "thread_fixed",
    initialState: opts.initialState ?? undefined,
    initialMessages: opts.initialMessages ?? [],
  });
  const events = [];
  let finished = null;
  let runError = null;
  const outcome = await agent.runAgent(opts.runParameters ?? {}, {
    onEvent: ({ event }) => {
      events.push(event);
    },
    onRunFinishedEvent: ({ outcome, result, pendingToolCallIds }) => {
      finished = { outcome, result, pendingToolCallIds };
    },
    onRunErrorEvent: ({ event }) => {
      runError = event;
    },
  });
  return {
    messages: agent.messages,
    state: agent.state,
    result: outcome.result ?? null,
    newMessageIds: outcome.newMessages.map((message) => message.id),
    events,
    finished,
    runError,
    request,
  };
}

await main(run);
