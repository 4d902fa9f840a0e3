// Build the request bodies the official clients send for a conversation, and print them.
//   node requests.mjs '{}' < {"uiMessages": [...], "threadMessages": [...], "agUiMessages": [...],
//                              "agUiResume": [...] (optional)}
// Prints {"ui-message-stream": body, "data-stream": {"messages": ...}, "ag-ui": body}:
//  - ui-message-stream: what the AI SDK's DefaultChatTransport (useChat) POSTs for uiMessages;
//  - data-stream: assistant-stream's toGenericMessages of threadMessages (assistant-ui thread
//    messages), in the model-message spelling useDataStreamRuntime sends (tool-call `input`,
//    tool-result `output: {type: "json" | "error-json", value}`);
//  - ag-ui: what @ag-ui/client's HttpAgent POSTs with agUiMessages as its messages (and, given
//    agUiResume, the answers to interrupts as runAgent's `resume`).
import { HttpAgent } from "@ag-ui/client";
import { DefaultChatTransport } from "ai";
import { toGenericMessages } from "assistant-stream";
import { main } from "./common.mjs";

const EMPTY_SSE = () =>
  new Response("", { status: 200, headers: { "content-type": "text/event-stream" } });

async function uiMessageStream(messages) {
  let body;
  const transport = new DefaultChatTransport({
    api: "http://streambridge.invalid/api/chat",
    fetch: async (_url, init) => {
      body = JSON.parse(init.body);
      return EMPTY_SSE();
    },
  });
  const stream = await transport.sendMessages({
    chatId: "chat_1",
    messages,
    trigger: "submit-message",
    messageId: undefined,
    abortSignal: undefined,
  });
  await stream.cancel();
  return body;
}

function dataStream(threadMessages) {
  const messages = toGenericMessages(threadMessages).map((message) => {
    if (message.role === "assistant") {
      return {
        role: "assistant",
        content: message.content.map((part) =>
          part.type === "tool-call"
            ? { type: "tool-call", toolCallId: part.toolCallId, toolName: part.toolName, input: part.args }
            : part,
        ),
      };
    }
    if (message.role === "tool") {
      return {
        role: "tool",
        content: message.content.map((part) => ({
          type: "tool-result",
          toolCallId: part.toolCallId,
          toolName: part.toolName,
          output: { type: part.isError ? "error-json" : "json", value: part.result },
        })),
      };
    }
    if (message.role === "user") {
      return {
        role: "user",
        content: message.content.map((part) =>
          part.type === "file" ? { ...part, data: String(part.data) } : part,
        ),
      };
    }
    return message;
  });
  return { messages, system: "Be brief.", tools: {} };
}

async function agUi(messages, resume) {
  let body;
  globalThis.fetch = async (_url, init) => {
    body = JSON.parse(init.body);
    return EMPTY_SSE();
  };
  const agent = new HttpAgent({
    url: "http://streambridge.invalid/agent",
    threadId: "thread_1",
    initialMessages: messages,
  });
  try {
    await agent.runAgent({ runId: "run_1", ...(resume === undefined ? {} : { resume }) });
  } catch {
    // The empty answer ends the run without RUN_STARTED; only the request matters here.
  }
  return body;
}

await main(async (bytes) => {
  const spec = JSON.parse(new TextDecoder().decode(bytes));
  return {
    "ui-message-stream": await uiMessageStream(spec.uiMessages),
    "data-stream": dataStream(spec.threadMessages),
    "ag-ui": await agUi(spec.agUiMessages, spec.agUiResume),
  };
});
