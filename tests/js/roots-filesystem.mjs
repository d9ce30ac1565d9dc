// Roots are per client, checked with the official TypeScript SDK client against 1mcp fronting
// @modelcontextprotocol/server-filesystem (stdio, shared, allowed directory <ws>/files):
//
//   1. A (roots: <ws>/shell), alone: the server it uses is confined to A's roots.
//   2. C (no roots) connects while A stays: C is not confined to A's roots, A still is.
//   3. A changes its roots (<ws>/other) and says so: A's view follows, C's does not.
//   4. A leaves; a new client D (no roots) is not confined to anything of A's.
//
// Usage: node roots-filesystem.mjs <daemon MCP URL> <ws dir> (a bearer token in ONEMCP_TOKEN
// when the daemon wants one). Prints one JSON line last:
// {"checks":[{"client":"A","check":"...","ok":true,"detail":"..."}]}; exits 0 when the script
// itself ran to the end, whatever the checks say (the Rust test judges).

import { dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const jsDir = process.env.ONEMCP_JS_DIR ?? resolve(here, '../../target/js');
const sdk = (path) =>
  import(pathToFileURL(join(jsDir, 'node_modules/@modelcontextprotocol/sdk/dist/esm', path)).href);
const { Client } = await sdk('client/index.js');
const { StreamableHTTPClientTransport } = await sdk('client/streamableHttp.js');
const { ListRootsRequestSchema } = await sdk('types.js');

const [url, ws] = process.argv.slice(2);
if (!url || !ws) {
  console.error('usage: node roots-filesystem.mjs <MCP URL> <ws dir>');
  process.exit(64);
}
const healthUrl = new URL('/health', url).href;
// With authentication on (as 1mcp starts by default) the token comes in ONEMCP_TOKEN; /health
// shows its details only to a token.
const authHeaders = process.env.ONEMCP_TOKEN ? { Authorization: `Bearer ${process.env.ONEMCP_TOKEN}` } : undefined;
const STEP_MS = 20_000;

const checks = [];
const check = (client, name, ok, detail) => {
  checks.push({ client, check: name, ok: Boolean(ok), detail: String(detail ?? '') });
  console.error(`${ok ? 'PASS' : 'FAIL'} ${client} ${name}: ${detail ?? ''}`);
};
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const textOf = (result) => (result?.content ?? []).map((c) => c.text ?? '').join('\n');

/** A connected client; `roots` null means it declares no roots capability. */
async function connect(label, roots) {
  const capabilities = roots ? { roots: { listChanged: true } } : {};
  const client = new Client({ name: `roots-${label}`, version: '1.0.0' }, { capabilities });
  const state = { label, client, roots, asked: 0 };
  if (roots) {
    client.setRequestHandler(ListRootsRequestSchema, async () => {
      state.asked += 1;
      return { roots: state.roots.map((dir) => ({ uri: pathToFileURL(dir).href, name: dir })) };
    });
  }
  const requestInit = authHeaders ? { headers: authHeaders } : undefined;
  state.transport = new StreamableHTTPClientTransport(new URL(url), { requestInit });
  await client.connect(state.transport, { timeout: STEP_MS });
  return state;
}

async function call(state, tool, args) {
  try {
    const result = await state.client.callTool({ name: `filesystem_1mcp_${tool}`, arguments: args }, undefined, {
      timeout: STEP_MS,
    });
    return { error: Boolean(result.isError), text: textOf(result) };
  } catch (e) {
    return { error: true, text: e instanceof Error ? e.message : String(e) };
  }
}

/** Polls /health (bounded) until filesystem has `n` session instances ready. */
async function instancesReady(n) {
  const deadline = Date.now() + STEP_MS;
  let last = '';
  while (Date.now() < deadline) {
    const health = await (await fetch(healthUrl, { headers: authHeaders })).json();
    const fs = health.servers.details.find((d) => d.name === 'filesystem');
    last = JSON.stringify(fs);
    if ((fs?.sessionInstancesReady ?? 0) === n) return last;
    await sleep(50);
  }
  throw new Error(`filesystem never had ${n} ready session instances: ${last}`);
}

/** The directories a client's filesystem server allows, as it reports them. */
async function allowed(state) {
  const r = await call(state, 'list_allowed_directories', {});
  return r.text;
}

/** Waits (bounded) until a client's allowed directories mention `dir`: roots apply asynchronously. */
async function allowedBecomes(state, dir) {
  const deadline = Date.now() + STEP_MS;
  let text = '';
  while (Date.now() < deadline) {
    text = await allowed(state);
    if (text.includes(dir)) return text;
    await sleep(50);
  }
  return text;
}

const files = join(ws, 'files');
const shell = join(ws, 'shell');
const other = join(ws, 'other');
const hello = join(files, 'hello.txt');
const denied = (r) => r.error && /denied|outside/i.test(r.text);

try {
  // 1. A alone: its roots confine the server it uses.
  const a = await connect('A', [shell]);
  await instancesReady(1);
  check('A', 'was asked for its roots', a.asked >= 1, `asked ${a.asked} time(s)`);
  let dirs = await allowed(a);
  check('A', 'allowed = its roots', dirs.includes(shell) && !dirs.includes(files), dirs);
  let r = await call(a, 'read_text_file', { path: hello });
  check('A', 'cannot read outside its roots', denied(r), r.text);
  r = await call(a, 'read_text_file', { path: join(shell, 'a.txt') });
  check('A', 'reads inside its roots', !r.error && r.text.includes('shell file'), r.text);

  // 2. C, without roots, while A is connected.
  const c = await connect('C', null);
  r = await call(c, 'read_text_file', { path: hello });
  check('C', 'reads the configured directory', !r.error && r.text.includes('hello from files'), r.text);
  dirs = await allowed(c);
  check('C', 'allowed = the configured directory', dirs.includes(files) && !dirs.includes(shell), dirs);
  r = await call(a, 'read_text_file', { path: hello });
  check('A', 'still confined while C is connected', denied(r), r.text);

  // 3. A's roots change: A's instance follows; C's server does not.
  a.roots = [other];
  await a.client.sendRootsListChanged();
  dirs = await allowedBecomes(a, other);
  check('A', 'new roots apply after roots/list_changed', dirs.includes(other) && !dirs.includes(shell), dirs);
  dirs = await allowed(c);
  check('C', 'untouched by A’s roots change', dirs.includes(files) && !dirs.includes(other), dirs);

  // 4. A leaves; nothing of A's stays behind.
  await a.transport.terminateSession();
  await a.client.close();
  await instancesReady(0);
  const d = await connect('D', null);
  r = await call(d, 'read_text_file', { path: hello });
  check('D', 'after A left: reads the configured directory', !r.error && r.text.includes('hello from files'), r.text);
  dirs = await allowed(d);
  check('D', 'after A left: allowed = the configured directory', dirs.includes(files) && !dirs.includes(shell) && !dirs.includes(other), dirs);
  r = await call(c, 'read_text_file', { path: hello });
  check('C', 'after A left: still reads the configured directory', !r.error, r.text);
  await c.client.close();
  await d.client.close();
} catch (e) {
  check('-', 'script ran to the end', false, e instanceof Error ? e.stack : String(e));
}

console.log(JSON.stringify({ checks }));
process.exit(0);
