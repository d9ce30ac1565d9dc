// The client side of the modern-peers tests (tests/tests/modern_peers.rs): the official TypeScript
// SDK v2 client (@modelcontextprotocol/client 2.x) pinned to the stateless 2026-07-28 revision --
// no initialize, no session, the per-request `_meta` envelope, InputRequiredResult answered by
// retrying with `inputResponses` -- or, with `"era": "legacy"` in the plan, the SDK 1.x client
// (@modelcontextprotocol/sdk) in a 2025-11-25 session that answers real `elicitation/create`
// requests. Both answer elicitations with the same handler, so a test can send the same plan
// through either era.
//
// Usage: node modern-client.mjs <MCP URL> '<plan JSON>'   (a bearer token in ONEMCP_TOKEN when the
// daemon wants one; ONEMCP_JS_DIR points at target/js, default ../../target/js from this file).
// The plan:
//   { "era": "2026-07-28" | "legacy",
//     "label": "ts-v2",                         who answers (prefixes every elicited value)
//     "tools": ["name", ...],                   must all be listed by tools/list
//     "calls": [{ "check": "call-echo", "name": "tool", "arguments": {...},
//                 "expect": ["substring", ...], each must be in the result's text
//                 "elicitations": 1 }] }         how many elicitations the handler must answer
// The elicitation handler accepts every form, filling each string field with
// "<label>-<field>" (booleans true, numbers 7), so a test knows what must come back.
// Prints one JSON line last: {"sdk":"typescript-v2"|"typescript-v1","checks":[{client,check,ok,detail}]}.
// Exits 0 when the script ran to the end, whatever the checks say; the Rust test judges.

import { dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const jsDir = process.env.ONEMCP_JS_DIR ?? resolve(here, '../../target/js');
const modules = join(jsDir, 'node_modules/@modelcontextprotocol');
const load = (path) => import(pathToFileURL(join(modules, path)).href);

const [url, planText] = process.argv.slice(2);
if (!url || !planText) {
  console.error("usage: node modern-client.mjs <MCP URL> '<plan JSON>'");
  process.exit(64);
}
const plan = JSON.parse(planText);
const modern = plan.era !== 'legacy';
const label = plan.label ?? (modern ? 'ts-v2' : 'ts-v1');
const sdkName = modern ? 'typescript-v2' : 'typescript-v1';

/** Upper bound for any one round trip (a bridged elicitation included). */
const STEP_MS = 20_000;

const checks = [];
const check = (name, ok, detail) => {
  checks.push({ client: label, check: name, ok: Boolean(ok), detail: String(detail ?? '') });
  console.error(`${ok ? 'PASS' : 'FAIL'} ${label} ${name}: ${detail ?? ''}`);
};
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const withTimeout = (promise, ms, what) =>
  Promise.race([promise, sleep(ms).then(() => Promise.reject(new Error(`timed out after ${ms} ms: ${what}`)))]);
const textOf = (result) => (result?.content ?? []).map((c) => c.text ?? '').join('\n');
const errText = (e) => (e instanceof Error ? `${e.name}: ${e.message}` : String(e));

/** Every elicitation the handler answered: { message, fields }. */
const elicited = [];
function answerElicitation(params) {
  const properties = params?.requestedSchema?.properties ?? {};
  const content = {};
  for (const [field, schema] of Object.entries(properties)) {
    content[field] = schema.type === 'boolean' ? true : schema.type === 'number' || schema.type === 'integer' ? 7 : `${label}-${field}`;
  }
  elicited.push({ message: params?.message, fields: Object.keys(content) });
  return { action: 'accept', content };
}

/** What went over the wire: method, protocol header and session header of every POST. */
const wire = [];
const recordingFetch = async (input, init) => {
  const headers = new Headers(init?.headers);
  let method = '?';
  try {
    method = JSON.parse(typeof init?.body === 'string' ? init.body : '{}').method ?? '(response)';
  } catch {}
  if ((init?.method ?? 'GET') === 'POST') {
    wire.push({ method, version: headers.get('mcp-protocol-version'), session: headers.get('mcp-session-id') });
  }
  return fetch(input, init);
};
const requestInit = process.env.ONEMCP_TOKEN ? { headers: { Authorization: `Bearer ${process.env.ONEMCP_TOKEN}` } } : undefined;

async function connect() {
  if (modern) {
    const { Client, StreamableHTTPClientTransport } = await load('client/dist/index.mjs');
    const client = new Client(
      { name: `onemcp-${label}`, version: '1.0.0' },
      { capabilities: { elicitation: { form: {} } }, versionNegotiation: { mode: { pin: '2026-07-28' } } },
    );
    client.setRequestHandler('elicitation/create', async (request) => answerElicitation(request.params));
    const transport = new StreamableHTTPClientTransport(new URL(url), { requestInit, fetch: recordingFetch });
    await withTimeout(client.connect(transport), STEP_MS, 'connect (server/discover)');
    return client;
  }
  const { Client } = await load('sdk/dist/esm/client/index.js');
  const { StreamableHTTPClientTransport } = await load('sdk/dist/esm/client/streamableHttp.js');
  const { ElicitRequestSchema } = await load('sdk/dist/esm/types.js');
  const client = new Client({ name: `onemcp-${label}`, version: '1.0.0' }, { capabilities: { elicitation: { form: {} } } });
  client.setRequestHandler(ElicitRequestSchema, async (request) => answerElicitation(request.params));
  const transport = new StreamableHTTPClientTransport(new URL(url), { requestInit, fetch: recordingFetch });
  await withTimeout(client.connect(transport), STEP_MS, 'connect (initialize)');
  return client;
}

async function main() {
  let client;
  try {
    client = await connect();
  } catch (e) {
    check('connect', false, errText(e));
    return;
  }
  if (modern) {
    const era = client.getProtocolEra?.();
    const version = client.getNegotiatedProtocolVersion?.();
    check('connect', era === 'modern' && version === '2026-07-28', `era=${era} version=${version}`);
  } else {
    check('connect', true, `session ${client.transport?.sessionId ?? '?'}`);
  }

  try {
    const { tools } = await withTimeout(client.listTools(), STEP_MS, 'tools/list');
    const names = new Set(tools.map((t) => t.name));
    const missing = (plan.tools ?? []).filter((n) => !names.has(n));
    check('tools-listed', missing.length === 0, missing.length ? `missing ${missing.join(', ')} in ${[...names].join(', ')}` : `${names.size} tools, all ${plan.tools?.length ?? 0} wanted`);
  } catch (e) {
    check('tools-listed', false, errText(e));
  }

  for (const call of plan.calls ?? []) {
    const before = elicited.length;
    try {
      const result = await withTimeout(client.callTool({ name: call.name, arguments: call.arguments ?? {} }), STEP_MS, call.name);
      const text = textOf(result);
      const missing = (call.expect ?? []).filter((s) => !text.includes(s));
      const asked = elicited.length - before;
      const ok = !result.isError && missing.length === 0 && asked === (call.elicitations ?? 0);
      check(call.check, ok, `elicitations answered=${asked}/${call.elicitations ?? 0}; ${missing.length ? `missing ${JSON.stringify(missing)}; ` : ''}result${result.isError ? ' (isError)' : ''}: ${text}`);
    } catch (e) {
      check(call.check, false, `elicitations answered=${elicited.length - before}; error: ${errText(e)}`);
    }
  }

  // What the client put on the wire is what makes it a client of its era.
  const posts = wire.filter((w) => w.method !== '(response)');
  if (modern) {
    const legacyish = posts.filter((w) => w.method === 'initialize' || w.session || w.version !== '2026-07-28');
    check('wire-stateless', posts.length > 0 && legacyish.length === 0, `${posts.length} requests (${[...new Set(posts.map((w) => w.method))].join(', ')}); not stateless: ${JSON.stringify(legacyish)}`);
  } else {
    const sessioned = posts.filter((w) => w.session);
    check('wire-session', posts[0]?.method === 'initialize' && sessioned.length === posts.length - 1, `${posts.length} requests, first ${posts[0]?.method}, ${sessioned.length} in the session`);
  }
  await withTimeout(client.close(), 5_000, 'close').catch(() => {});
}

try {
  await main();
} catch (e) {
  check('script', false, `crashed: ${e?.stack ?? e}`);
}
console.log(JSON.stringify({ sdk: sdkName, checks }));
process.exit(0);
