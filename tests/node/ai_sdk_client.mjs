// Asks HelpYap one question through the Vercel AI SDK's own client code and prints the result.
//
// DefaultChatTransport sends the request and validates every chunk against the SDK's
// UIMessageChunk schema; readUIMessageStream assembles the assistant message, as useChat does.
// Usage: node ai_sdk_client.mjs BASE_URL SESSION_ID QUESTION
// Prints one JSON line: {role, text, sources, token}.
import { DefaultChatTransport, readUIMessageStream } from 'ai';

const [baseUrl, sessionId, question] = process.argv.slice(2);
let token = null;
const transport = new DefaultChatTransport({
  api: `${baseUrl}/api/chat`,
  body: { projectSlug: 'demo', sessionId },
  fetch: async (input, init) => {
    const response = await fetch(input, init);
    token = response.headers.get('x-session-token');
    return response;
  },
});
const stream = await transport.sendMessages({
  chatId: sessionId,
  trigger: 'submit-message',
  messageId: undefined,
  abortSignal: undefined,
  messages: [{ id: 'q1', role: 'user', parts: [{ type: 'text', text: question }] }],
});
let message;
for await (const update of readUIMessageStream({ stream, terminateOnError: true })) {
  message = update;
}
const text = message.parts.filter((part) => part.type === 'text').map((part) => part.text).join('');
const sources = message.parts
  .filter((part) => part.type === 'source-url' || part.type === 'source-document')
  .map((part) => part.url ?? part.title);
console.log(JSON.stringify({ role: message.role, text, sources, token }));
