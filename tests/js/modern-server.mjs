// A stateless-only MCP server built on the official TypeScript SDK v2 (@modelcontextprotocol/server
// 2.x, served over streamable HTTP by @modelcontextprotocol/node): it speaks the 2026-07-28
// revision and nothing else. `createMcpHandler(..., { legacy: 'reject' })` answers the legacy
// handshake (`initialize`, any request without the per-request `_meta` envelope) with the
// unsupported-protocol-version error, so whoever reaches its tools must speak the new revision.
//
// Tools:
//   v2_echo      plain: {message} -> "v2 echo: <message>"
//   v2_ask_name  asks the user's name by returning an InputRequiredResult (an embedded
//                elicitation/create and a requestState); answered on the retry with
//                "Hello, <name>! (requestState round-tripped)" -- or "...NOT round-tripped" when the
//                retry came back without the state it was given, "declined (<action>)" otherwise.
//
// Usage: node modern-server.mjs [--stdio]   (node 22 from target/js; ONEMCP_JS_DIR points at
// target/js, default ../../target/js from this file). Listens on 127.0.0.1, a free port; the first
// stdout line is `listening on http://127.0.0.1:PORT/mcp`. Each HTTP request it serves is logged to
// stderr as one JSON line ({"seen": method, "legacy": bool, ...}) so a failing test can show what
// arrived. With --stdio the same server speaks on stdin/stdout instead (the SDK's `serveStdio`,
// also with `legacy: 'reject'`), as a stdio backend of 1mcp.

import { createServer } from 'node:http';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const jsDir = process.env.ONEMCP_JS_DIR ?? resolve(here, '../../target/js');
const load = (pkg, file = 'index.mjs') =>
  import(pathToFileURL(join(jsDir, 'node_modules/@modelcontextprotocol', pkg, 'dist', file)).href);

const { McpServer, createMcpHandler, fromJsonSchema, inputRequired, inputResponse } = await load('server');
const { toNodeHandler } = await load('node');

/** The state minted for the one question v2_ask_name asks; the retry must bring it back. */
const ASK_STATE = 'v2-ask-name-round-1';

const nameForm = {
  type: 'object',
  properties: { name: { type: 'string', description: 'Your name' } },
  required: ['name'],
};

function makeServer() {
  const server = new McpServer({ name: 'onemcp-modern-v2-server', version: '1.0.0' });
  server.registerTool(
    'v2_echo',
    {
      description: 'Echoes its message (a stateless TypeScript SDK v2 server)',
      inputSchema: fromJsonSchema({ type: 'object', properties: { message: { type: 'string' } }, required: ['message'] }),
    },
    async ({ message }) => ({ content: [{ type: 'text', text: `v2 echo: ${message}` }] }),
  );
  server.registerTool(
    'v2_ask_name',
    { description: "Asks the user's name with an InputRequiredResult, then greets them" },
    async (ctx) => {
      const answer = inputResponse(ctx.mcpReq.inputResponses, 'user_name');
      if (answer.kind === 'missing') {
        return inputRequired({
          inputRequests: {
            user_name: inputRequired.elicit({ message: 'What is your name?', requestedSchema: nameForm }),
          },
          requestState: ASK_STATE,
        });
      }
      if (answer.kind !== 'elicit' || answer.action !== 'accept') {
        return { content: [{ type: 'text', text: `declined (${answer.kind === 'elicit' ? answer.action : answer.kind})` }] };
      }
      const state = ctx.mcpReq.requestState() === ASK_STATE ? 'requestState round-tripped' : 'requestState NOT round-tripped';
      return { content: [{ type: 'text', text: `Hello, ${answer.content?.name}! (${state})` }] };
    },
  );
  return server;
}

const onerror = (error) => console.error(JSON.stringify({ error: String(error?.message ?? error) }));

if (process.argv.includes('--stdio')) {
  const { serveStdio } = await load('server', 'stdio.mjs');
  serveStdio(makeServer, { legacy: 'reject', onerror });
} else {
  await serveHttp();
}

/** Streamable HTTP on 127.0.0.1: one fresh server instance per request, legacy requests refused. */
async function serveHttp() {
  const serve = toNodeHandler(createMcpHandler(makeServer, { legacy: 'reject', onerror }), { onerror });
  const http = createServer(async (req, res) => {
    const chunks = [];
    for await (const chunk of req) chunks.push(chunk);
    const body = Buffer.concat(chunks).toString('utf8');
    let parsed;
    try {
      parsed = body ? JSON.parse(body) : undefined;
    } catch {
      parsed = undefined;
    }
    const meta = parsed?.params?._meta ?? {};
    console.error(
      JSON.stringify({
        seen: parsed?.method ?? `${req.method} (no JSON-RPC method)`,
        legacy: !('io.modelcontextprotocol/protocolVersion' in meta),
        header: req.headers['mcp-protocol-version'] ?? null,
        inputResponses: parsed?.params?.inputResponses ? Object.keys(parsed.params.inputResponses) : undefined,
        requestState: parsed?.params?.requestState,
      }),
    );
    if (body && parsed === undefined) {
      res.writeHead(400, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ jsonrpc: '2.0', id: null, error: { code: -32700, message: 'Parse error' } }));
      return;
    }
    // The body is read already (for the log line above): hand it over parsed.
    await serve(req, res, parsed);
  });
  await new Promise((done) => http.listen(0, '127.0.0.1', done));
  console.log(`listening on http://127.0.0.1:${http.address().port}/mcp`);
}
