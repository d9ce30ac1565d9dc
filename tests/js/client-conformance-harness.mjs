// The client under test for the official conformance suite's client mode (`conformance client
// --command "node client-conformance-harness.mjs" ...`), with 1mcp as that client: the suite
// starts a mock MCP server per scenario and runs this command with the mock's URL as the last
// argument and the scenario in MCP_CONFORMANCE_SCENARIO (the wire revision in
// MCP_CONFORMANCE_PROTOCOL_VERSION, scenario data in MCP_CONFORMANCE_CONTEXT). This script
//   1. starts `1mcp serve` on a free 127.0.0.1 port, authentication on, with the mock as its only
//      backend (`"prefix": false`, and `"protocol": "2026-07-28"` on the 2026-07-28 wire, or
//      $ONEMCP_HARNESS_PROTOCOL, e.g. `legacy`), and mints a token with `1mcp token create`;
//   2. connects an official TypeScript SDK client to 1mcp (1.x in a 2025-11-25 session, or the
//      2.x client pinned to 2026-07-28 on that wire), declaring sampling, elicitation (form,
//      applyDefaults) and roots, and does what the scenario asks of a client: list the tools,
//      call the named ones, answer elicitations;
//   3. stops 1mcp by its PID and prints its log to stderr (the suite keeps it in stderr.txt).
// The suite judges from what its mock saw 1mcp send. In the scenarios under `auth/` the mock
// server is protected: 1mcp meets its 401, walks discovery and registration on its own, and
// waits for the user; the script plays the operator and the user agent (signs in with
// `1mcp auth link`, opens /oauth/authorize/<server> from /health, lets the mock authorization
// server redirect, and delivers the redirect to 1mcp's callback), then calls the mock's tool
// through 1mcp, authorizing again whenever 1mcp waits for the user (step-up), a few rounds at
// most. Pre-registered credentials from MCP_CONFORMANCE_CONTEXT go into the backend's `oauth`.
//
// Environment: ONEMCP_BIN (the 1mcp binary, required), ONEMCP_JS_DIR (target/js, default
// ../../target/js from this file), ONEMCP_HARNESS_PROTOCOL (the backend's `protocol` key),
// ONEMCP_HARNESS_AUTH (`skip`: leave the auth/ scenarios alone, exit 3),
// ONEMCP_HARNESS_BACKEND (JSON merged into the backend entry, to diagnose: e.g.
// `{"perSession": false}`), ONEMCP_HARNESS_BUDGET_MS (the whole run, default 25000: under the
// suite's per-scenario timeout, so this script always stops 1mcp itself).
// Prints one JSON line last on stdout: {"harness":"ok"|"failed"|"not-attempted","scenario",...}.
// Exit 0 when every step the scenario needs worked, 1 when one failed, 2 for an unknown
// scenario, 3 when not attempted.

import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const jsDir = process.env.ONEMCP_JS_DIR ?? resolve(here, '../../target/js');
const load = (path) => import(pathToFileURL(join(jsDir, 'node_modules/@modelcontextprotocol', path)).href);

const started = Date.now();
const mockUrl = process.argv.at(-1);
const scenario = process.env.MCP_CONFORMANCE_SCENARIO ?? '';
const wireVersion = process.env.MCP_CONFORMANCE_PROTOCOL_VERSION ?? '2025-11-25';
const context = JSON.parse(process.env.MCP_CONFORMANCE_CONTEXT ?? '{}');
const modern = wireVersion === '2026-07-28';
const budgetMs = Number(process.env.ONEMCP_HARNESS_BUDGET_MS ?? 25_000);
const onemcp = process.env.ONEMCP_BIN;

const log = (message) => console.error(`[harness +${Date.now() - started}ms] ${message}`);
const sleep = (ms) => new Promise((done) => setTimeout(done, ms));
const left = () => Math.max(1, budgetMs - (Date.now() - started));
const bounded = (promise, what) =>
  Promise.race([promise, sleep(left()).then(() => Promise.reject(new Error(`out of time (${budgetMs} ms) during ${what}`)))]);
const errText = (e) => (e instanceof Error ? `${e.name}: ${e.message}` : String(e));
const textOf = (result) => (result?.content ?? []).map((c) => c.text ?? JSON.stringify(c)).join('\n');

function finish(outcome, code, detail) {
  console.log(JSON.stringify({ harness: outcome, scenario, wire: wireVersion, detail }));
  process.exitCode = code;
}

// ---- 1mcp ------------------------------------------------------------------------------------

/** The backend entry for the mock: what a user would write for a remote server. */
function backendConfig() {
  const entry = { url: mockUrl, prefix: false };
  if (scenario.startsWith('auth/')) {
    const oauth = {};
    if (context.client_id) oauth.clientId = context.client_id;
    if (context.client_secret) oauth.clientSecret = context.client_secret;
    if (scenario === 'auth/basic-cimd') oauth.clientMetadataUrl = 'https://conformance-test.local/client-metadata.json';
    if (Object.keys(oauth).length > 0) entry.oauth = oauth;
  }
  const protocol = process.env.ONEMCP_HARNESS_PROTOCOL || (modern ? '2026-07-28' : '');
  if (protocol) entry.protocol = protocol;
  return { ...entry, ...JSON.parse(process.env.ONEMCP_HARNESS_BACKEND || '{}') };
}

/** 1mcp's environment: ours without ONE_MCP_* settings that would change what it does. */
function daemonEnv() {
  return Object.fromEntries(Object.entries(process.env).filter(([name]) => !name.startsWith('ONE_MCP_')));
}

class Daemon {
  constructor() {
    this.dir = mkdtempSync(join(tmpdir(), 'onemcp-client-conformance-'));
    this.logPath = join(this.dir, 'daemon.log');
    this.child = null;
  }

  async start() {
    const config = { mcpServers: { mock: backendConfig() } };
    writeFileSync(join(this.dir, 'mcp.json'), JSON.stringify(config, null, 2));
    log(`config: ${JSON.stringify(config)}`);
    const out = openSync(this.logPath, 'a');
    const args = ['serve', '-H', '127.0.0.1', '-P', '0', '-d', this.dir, '-c', join(this.dir, 'mcp.json'), '--log-level', 'debug'];
    this.child = spawn(onemcp, args, { stdio: ['ignore', out, out], env: daemonEnv() });
    this.exited = new Promise((done) => this.child.once('exit', (code, signal) => done({ code, signal })));
    log(`1mcp started, pid ${this.child.pid}`);
    this.port = await this.waitForPort();
    this.url = `http://127.0.0.1:${this.port}/mcp`;
    const minted = spawnSync(onemcp, ['token', 'create', '-d', this.dir, '--name', 'conformance-harness'], {
      encoding: 'utf8',
      timeout: 10_000,
      env: daemonEnv(),
    });
    if (minted.status !== 0) throw new Error(`1mcp token create failed (${minted.status}): ${minted.stderr}`);
    this.token = minted.stdout.trim();
    await this.waitReady();
  }

  async waitForPort() {
    const pidFile = join(this.dir, 'server.pid');
    for (let i = 0; i < 200 && Date.now() - started < budgetMs; i++) {
      try {
        const port = JSON.parse(readFileSync(pidFile, 'utf8')).port;
        if (port) return port;
      } catch {
        // Not written yet.
      }
      if (this.child.exitCode !== null) throw new Error(`1mcp exited with ${this.child.exitCode} before listening`);
      await sleep(50);
    }
    throw new Error('1mcp wrote no port to server.pid within 10 s');
  }

  /** /health/ready answers 200 once the backend is ready or has failed its first attempt. */
  async waitReady() {
    let last = 'no answer';
    for (let i = 0; i < 150 && Date.now() - started < budgetMs; i++) {
      try {
        const response = await fetch(`http://127.0.0.1:${this.port}/health/ready`, {
          headers: { Authorization: `Bearer ${this.token}` },
          signal: AbortSignal.timeout(2_000),
        });
        last = `${response.status} ${await response.text()}`;
        if (response.status === 200) {
          log(`1mcp ready on ${this.url}: ${last}`);
          return;
        }
      } catch (e) {
        last = errText(e);
      }
      await sleep(100);
    }
    throw new Error(`1mcp not ready within 15 s; last /health/ready: ${last}`);
  }

  /** The backend's entry in /health (`servers.details`), or null. */
  async backend() {
    const response = await fetch(`http://127.0.0.1:${this.port}/health`, {
      headers: { Authorization: `Bearer ${this.token}` },
      signal: AbortSignal.timeout(2_000),
    });
    const health = await response.json();
    return (health?.servers?.details ?? []).find((d) => d.name === 'mock') ?? null;
  }

  /** The operator cookie, from a fresh `1mcp auth link` opened once. */
  async operatorCookie() {
    if (this.cookie) return this.cookie;
    const made = spawnSync(onemcp, ['auth', 'link', '-d', this.dir], { encoding: 'utf8', timeout: 10_000, env: daemonEnv() });
    if (made.status !== 0) throw new Error(`1mcp auth link failed (${made.status}): ${made.stderr}`);
    const response = await fetch(made.stdout.trim(), { redirect: 'manual', signal: AbortSignal.timeout(5_000) });
    const cookie = response.headers.get('set-cookie')?.split(';')[0];
    if (!cookie) throw new Error(`the operator link set no cookie (HTTP ${response.status})`);
    this.cookie = cookie;
    return cookie;
  }

  async health() {
    try {
      const response = await fetch(`http://127.0.0.1:${this.port}/health`, {
        headers: { Authorization: `Bearer ${this.token}` },
        signal: AbortSignal.timeout(2_000),
      });
      return `${response.status} ${await response.text()}`;
    } catch (e) {
      return errText(e);
    }
  }

  /** SIGTERM by PID, SIGKILL after 5 s; then the log goes to stderr and the directory away. */
  async stop() {
    if (this.child && this.child.exitCode === null && this.child.signalCode === null) {
      process.kill(this.child.pid, 'SIGTERM');
      const done = await Promise.race([this.exited, sleep(5_000).then(() => null)]);
      if (done === null) {
        log(`1mcp (pid ${this.child.pid}) still running 5 s after SIGTERM: SIGKILL`);
        process.kill(this.child.pid, 'SIGKILL');
        await this.exited;
      }
      log(`1mcp stopped: ${JSON.stringify(await this.exited)}`);
    }
    let text = '';
    try {
      text = readFileSync(this.logPath, 'utf8');
    } catch {
      // Never started.
    }
    console.error(`----- 1mcp log (${this.logPath}) -----\n${text}----- end of 1mcp log -----`);
    rmSync(this.dir, { recursive: true, force: true });
  }
}

// ---- the client in front of 1mcp -------------------------------------------------------------

/** An elicitation answer: accept, leaving out every field with a default (the SDK's applyDefaults
 * fills those in, as a form would pre-fill them) and filling the others by type. */
function answerElicitation(params) {
  const content = {};
  for (const [field, schema] of Object.entries(params?.requestedSchema?.properties ?? {})) {
    if (schema.default !== undefined) continue;
    content[field] = schema.type === 'boolean' ? true : schema.type === 'number' || schema.type === 'integer' ? 1 : schema.enum?.[0] ?? 'harness';
  }
  log(`elicitation answered: accept ${JSON.stringify(content)} for ${JSON.stringify(params?.message)}`);
  return { action: 'accept', content };
}

function answerSampling(params) {
  log(`sampling answered for ${JSON.stringify(params?.messages?.length)} message(s)`);
  return { role: 'assistant', content: { type: 'text', text: 'harness sample' }, model: 'harness', stopReason: 'endTurn' };
}

const capabilities = { sampling: {}, elicitation: { form: { applyDefaults: true } }, roots: { listChanged: true } };
const clientInfo = { name: 'onemcp-conformance-harness', version: '1.0.0' };

/** The SDK client connected to 1mcp: the 2.x client pinned to 2026-07-28, or 1.x in a session. */
async function connect(daemon) {
  const requestInit = { headers: { Authorization: `Bearer ${daemon.token}` } };
  if (modern) {
    const { Client, StreamableHTTPClientTransport } = await load('client/dist/index.mjs');
    const client = new Client(clientInfo, { capabilities, versionNegotiation: { mode: { pin: '2026-07-28' } } });
    client.setRequestHandler('elicitation/create', async (request) => answerElicitation(request.params));
    client.setRequestHandler('sampling/createMessage', async (request) => answerSampling(request.params));
    client.setRequestHandler('roots/list', async () => ({ roots: [] }));
    await bounded(client.connect(new StreamableHTTPClientTransport(new URL(daemon.url), { requestInit })), 'connect');
    log(`connected: era ${client.getProtocolEra?.()}, version ${client.getNegotiatedProtocolVersion?.()}`);
    return client;
  }
  const { Client } = await load('sdk/dist/esm/client/index.js');
  const { StreamableHTTPClientTransport } = await load('sdk/dist/esm/client/streamableHttp.js');
  const { CreateMessageRequestSchema, ElicitRequestSchema, ListRootsRequestSchema } = await load('sdk/dist/esm/types.js');
  const client = new Client(clientInfo, { capabilities });
  client.setRequestHandler(ElicitRequestSchema, async (request) => answerElicitation(request.params));
  client.setRequestHandler(CreateMessageRequestSchema, async (request) => answerSampling(request.params));
  client.setRequestHandler(ListRootsRequestSchema, async () => ({ roots: [] }));
  const transport = new StreamableHTTPClientTransport(new URL(daemon.url), { requestInit });
  await bounded(client.connect(transport), 'connect');
  log(`connected: session ${transport.sessionId}, server ${client.getServerVersion?.()?.name ?? '?'}`);
  return client;
}

/** tools/list through the SDK (which also primes the 2.x client's cache for Mcp-Param-*). */
async function listTools(client) {
  const { tools } = await bounded(client.listTools(), 'tools/list');
  log(`tools/list: ${tools.map((t) => t.name).join(', ') || '(none)'}`);
  return tools;
}

/** The tool names exactly as 1mcp listed them: the 2.x SDK's listTools drops tools whose
 * x-mcp-header declarations are invalid, which would hide whether 1mcp dropped them. */
async function listToolNamesRaw(client) {
  const result = modern
    ? await bounded(client.request({ method: 'tools/list', params: {} }), 'raw tools/list')
    : await bounded(client.listTools(), 'tools/list');
  const names = result.tools.map((t) => t.name);
  log(`tools/list as 1mcp sent it: ${names.join(', ') || '(none)'}`);
  return result.tools;
}

async function callTool(client, name, args = {}) {
  const result = await bounded(client.callTool({ name, arguments: args }), `tools/call ${name}`);
  log(`tools/call ${name}: ${result.isError ? 'isError: ' : ''}${textOf(result)}`);
  return result;
}

function requireTool(tools, name) {
  if (!tools.some((t) => t.name === name)) throw new Error(`1mcp does not list ${name} (it lists ${tools.map((t) => t.name).join(', ')})`);
}

/** Arguments that satisfy a tool's required properties by type (for tools whose result is moot). */
function argumentsFor(tool) {
  const properties = tool.inputSchema?.properties ?? {};
  const args = {};
  for (const name of tool.inputSchema?.required ?? []) {
    const type = properties[name]?.type;
    args[name] = { object: {}, array: [], null: null, number: 1, integer: 1, boolean: true }[type] ?? 'us-west1';
  }
  return args;
}

// ---- what each scenario asks of a client -----------------------------------------------------

const plans = {
  initialize: async (client) => {
    await listTools(client);
  },
  tools_call: async (client) => {
    const tools = await listTools(client);
    requireTool(tools, 'add_numbers');
    const result = await callTool(client, 'add_numbers', { a: 2, b: 3 });
    if (result.isError || !textOf(result).includes('5')) throw new Error(`add_numbers answered ${JSON.stringify(result)}`);
  },
  'elicitation-sep1034-client-defaults': async (client) => {
    const tools = await listTools(client);
    requireTool(tools, 'test_client_elicitation_defaults');
    const result = await callTool(client, 'test_client_elicitation_defaults');
    if (!textOf(result).startsWith('Elicitation completed')) throw new Error(`the tool answered ${textOf(result)}`);
  },
  'sse-retry': async (client) => {
    const tools = await listTools(client);
    requireTool(tools, 'test_reconnection');
    const result = await callTool(client, 'test_reconnection');
    if (!textOf(result).includes('Reconnection test completed')) throw new Error(`the tool answered ${JSON.stringify(result)}`);
  },
  'json-schema-2020-12-preservation': async (client) => {
    const tools = await listTools(client);
    const focal = tools.find((t) => t.name === 'json_schema_2020_12_tool');
    if (!focal) throw new Error('1mcp does not list json_schema_2020_12_tool');
    requireTool(tools, 'json_schema_echo');
    log(`json_schema_2020_12_tool's inputSchema through 1mcp: ${JSON.stringify(focal.inputSchema)}`);
    await callTool(client, 'json_schema_echo', { schema: focal.inputSchema });
  },
  'request-metadata': async (client) => {
    await listTools(client);
  },
  'sep-2322-client-request-state': async (client) => {
    const tools = await listTools(client);
    const expected = { test_mrtr_echo_state: 'echo-state-ok', test_mrtr_unrelated: 'unrelated-ok', test_mrtr_no_state: 'no-state-ok', test_mrtr_no_result_type: 'no-result-type-test-ok' };
    for (const [name, text] of Object.entries(expected)) {
      requireTool(tools, name);
      const result = await callTool(client, name);
      if (!textOf(result).includes(text)) throw new Error(`${name} answered ${JSON.stringify(result)}`);
    }
  },
  'http-standard-headers': async (client) => {
    for (const tool of await listTools(client)) await callTool(client, tool.name, argumentsFor(tool));
    const { resources } = await bounded(client.listResources(), 'resources/list');
    log(`resources/list: ${resources.map((r) => r.uri).join(', ')}`);
    for (const resource of resources) await bounded(client.readResource({ uri: resource.uri }), `resources/read ${resource.uri}`);
    const { prompts } = await bounded(client.listPrompts(), 'prompts/list');
    log(`prompts/list: ${prompts.map((p) => p.name).join(', ')}`);
    for (const prompt of prompts) await bounded(client.getPrompt({ name: prompt.name }), `prompts/get ${prompt.name}`);
  },
  'http-custom-headers': async (client) => {
    const tools = await listTools(client);
    const calls = context.toolCalls ?? [];
    if (calls.length === 0) throw new Error(`no toolCalls in MCP_CONFORMANCE_CONTEXT: ${JSON.stringify(context)}`);
    for (const call of calls) {
      requireTool(tools, call.name);
      await callTool(client, call.name, call.arguments);
    }
  },
  'http-invalid-tool-headers': async (client) => {
    // Every tool 1mcp offers is called: the ones with invalid x-mcp-header declarations must not
    // be among them, and the valid one must be.
    const tools = await listToolNamesRaw(client);
    await listTools(client);
    requireTool(tools, 'valid_tool');
    for (const tool of tools) {
      try {
        await callTool(client, tool.name, tool.name === 'valid_tool' ? { region: 'us-west1' } : argumentsFor(tool));
      } catch (e) {
        if (tool.name === 'valid_tool') throw e;
        log(`tools/call ${tool.name} failed: ${errText(e)}`);
      }
    }
  },
  'json-schema-ref-no-deref': async (client) => {
    const tools = await listTools(client);
    requireTool(tools, 'lookup_user');
  },
};

// ---- authorization scenarios ------------------------------------------------------------------

/** Waits (within the budget) until the backend is ready or waits for the user; its /health entry. */
async function settledBackend(daemon) {
  let last = null;
  while (left() > 200) {
    last = await daemon.backend().catch(() => null);
    if (last && (last.status === 'ready' || last.status === 'awaiting-authorization')) return last;
    await sleep(100);
  }
  throw new Error(`the backend neither became ready nor waited for authorization: ${JSON.stringify(last)}`);
}

/** Plays the operator and the user agent once: 1mcp's authorize page, the provider's consent
 * (the mock approves at once), and the redirect back to 1mcp's callback. */
async function authorizeOnce(daemon, entry) {
  if (!entry.authorize?.startsWith('/oauth/authorize/')) throw new Error(`no authorize link in /health: ${JSON.stringify(entry)}`);
  // A user who reads that 1mcp gave up (a refused redirect, a server that keeps asking for more
  // scope) stops there rather than clicking again.
  if (entry.error?.startsWith('authorization failed')) throw new Error(`1mcp gave up: ${entry.error}`);
  log(`1mcp waits for authorization: ${entry.error}`);
  const base = `http://127.0.0.1:${daemon.port}`;
  const cookie = await daemon.operatorCookie();
  const page = await fetch(`${base}${entry.authorize}`, { headers: { cookie }, redirect: 'manual', signal: AbortSignal.timeout(10_000) });
  const provider = page.headers.get('location');
  if (page.status !== 303 || !/^https?:\/\//.test(provider ?? '')) {
    throw new Error(`1mcp's authorize page answered ${page.status} ${provider ?? (await page.text())}`);
  }
  const consent = await fetch(provider, { redirect: 'manual', signal: AbortSignal.timeout(10_000) });
  const back = consent.headers.get('location');
  if (!back) throw new Error(`the authorization server answered ${consent.status} without a redirect: ${await consent.text()}`);
  if (!back.startsWith(`${base}/oauth/callback/`)) throw new Error(`the redirect goes elsewhere: ${back.split('?')[0]}`);
  const done = await fetch(back, { signal: AbortSignal.timeout(15_000) });
  const text = await done.text();
  if (done.status !== 200) throw new Error(`1mcp's callback refused the authorization (${done.status}): ${text.replace(/<[^>]+>/g, ' ').trim()}`);
  log('authorized through 1mcp\'s callback');
}

/** Lists and calls the mock's tool through 1mcp, authorizing whenever 1mcp waits for the user. */
async function authorizedCall(daemon) {
  let client = null;
  try {
    for (let round = 1; round <= 4; round++) {
      const entry = await settledBackend(daemon);
      if (entry.status === 'awaiting-authorization') await authorizeOnce(daemon, entry);
      const ready = await settledBackend(daemon);
      if (ready.status !== 'ready') continue;
      client ??= await connect(daemon);
      try {
        const tools = await listTools(client);
        requireTool(tools, 'test-tool');
        const result = await callTool(client, 'test-tool');
        if (result.isError) throw new Error(`test-tool answered an error: ${textOf(result)}`);
        return;
      } catch (e) {
        log(`round ${round}: ${errText(e)}`);
        await sleep(200);
      }
    }
    throw new Error('test-tool could not be called through 1mcp in 4 authorization rounds');
  } finally {
    if (client) await Promise.race([client.close().catch(() => {}), sleep(3_000)]);
  }
}

// ---- main ------------------------------------------------------------------------------------

async function main() {
  log(`scenario ${scenario}, wire ${wireVersion}, mock ${mockUrl}`);
  const auth = scenario.startsWith('auth/');
  if (auth && process.env.ONEMCP_HARNESS_AUTH === 'skip') {
    finish('not-attempted', 3, 'authorization scenarios are left to another leg (ONEMCP_HARNESS_AUTH=skip)');
    return;
  }
  const plan = plans[scenario];
  if (!plan && !auth) {
    finish('failed', 2, `no plan for scenario '${scenario}' in client-conformance-harness.mjs`);
    return;
  }
  if (!onemcp) {
    finish('failed', 1, 'ONEMCP_BIN is not set');
    return;
  }
  const daemon = new Daemon();
  activeDaemon = daemon;
  let client;
  try {
    await daemon.start();
    log(`/health: ${await daemon.health()}`);
    if (auth) {
      await authorizedCall(daemon);
    } else {
      client = await connect(daemon);
      await plan(client);
    }
    finish('ok', 0, 'every step worked');
  } catch (e) {
    log(`FAILED: ${e?.stack ?? e}`);
    if (daemon.port) log(`/health: ${await daemon.health()}`);
    finish('failed', 1, errText(e));
  } finally {
    if (client) await Promise.race([client.close().catch(() => {}), sleep(3_000)]);
    await daemon.stop();
  }
}

/** The running daemon, so a signal or an early exit can stop it by its PID. */
let activeDaemon = null;
function stopDaemonNow(why) {
  const child = activeDaemon?.child;
  if (child && child.exitCode === null && child.signalCode === null) {
    log(`${why}: SIGTERM to 1mcp (pid ${child.pid})`);
    process.kill(child.pid, 'SIGTERM');
  }
}
// A suite that gives up on us sends SIGTERM: 1mcp goes too.
for (const signal of ['SIGTERM', 'SIGINT']) {
  process.once(signal, () => {
    stopDaemonNow(signal);
    finish('failed', 1, `killed by ${signal}`);
    process.exit(1);
  });
}
process.once('exit', () => stopDaemonNow('exit'));

await main();
process.exit();
