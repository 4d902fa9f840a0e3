// Every protocol the page speaks, by the name the server's ?protocol= takes.  Each module gives
// {name, framing: "sse" | "lines", request(conversation, context), createDecoder()}; a decoder's
// decode(eventName, data) returns UI operations (see ../message.js) and close() what the end of
// the stream implies.
import agUi from "./ag-ui.js";
import assistantTransport from "./assistant-transport.js";
import dataStream from "./data-stream.js";
import openaiAssistants from "./openai-assistants.js";
import openaiChat from "./openai-chat.js";
import openaiResponses from "./openai-responses.js";
import uiMessageStream from "./ui-message-stream.js";

export const PROTOCOLS = Object.fromEntries(
  [dataStream, assistantTransport, uiMessageStream, openaiChat, openaiResponses, openaiAssistants,
    agUi].map((protocol) => [protocol.name, protocol]),
);
