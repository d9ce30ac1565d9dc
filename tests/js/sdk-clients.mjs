// Two official TypeScript SDK clients (A and B), connected at the same time to one 1mcp daemon
// that fronts @modelcontextprotocol/server-everything, run the server-to-client round trips:
// sampling, elicitation (accept and decline), roots, progress and cancellation. Each client
// answers with its own marker ("A-answer" / "B-answer", its own roots, its own progress tokens)
// and checks it sees only its own traffic. Sampling and elicitation run one at a time (the proxy
// can attribute them, so they must arrive) and then both at once (the shared stdio backend's
// request carries no origin: the proxy may refuse, never cross); progress and cancellation run
// both at once.
//
// Usage: node sdk-clients.mjs <daemon MCP URL>   (node 22 from target/js; ONEMCP_JS_DIR points
// at target/js, default ../../target/js from this file). With `--direct` instead of a URL each
// client runs its own server-everything over stdio: the baseline without a proxy. Prints one JSON line last:
// {"sdk":"typescript","checks":[{"client":"A","check":"sampling","ok":true,"detail":"..."}]}.
// Exits 0 when the script itself ran to the end, whatever the checks say; the Rust test judges.

import { dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const jsDir = process.env.ONEMCP_JS_DIR ?? resolve(here, '../../target/js');
const sdk = (path) =>
  import(pathToFileURL(join(jsDir, 'node_modules/@modelcontextprotocol/sdk/dist/esm', path)).href);

const { Client } = await sdk('client/index.js');
const { StreamableHTTPClientTransport } = await sdk('client/streamableHttp.js');
const { StdioClientTransport } = await sdk('client/stdio.js');
const { CreateMessageRequestSchema, ElicitRequestSchema, ListRootsRequestSchema, ProgressNotificationSchema } =
  await sdk('types.js');

const url = process.argv[2];
if (!url) {
  console.error('usage: node sdk-clients.mjs <MCP URL> | --direct');
  process.exit(64);
}

/** Upper bound for any one round trip. */
const STEP_MS = 20_000;
/** After a cancel, progress for the cancelled token may still be in flight for this long. */
const CANCEL_GRACE_MS = 400;

const checks = [];
const check = (client, name, ok, detail) => {
  checks.push({ client, check: name, ok: Boolean(ok), detail: String(detail ?? '') });
  console.error(`${ok ? 'PASS' : 'FAIL'} ${client} ${name}: ${detail ?? ''}`);
};
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const withTimeout = (promise, ms, what) =>
  Promise.race([promise, sleep(ms).then(() => Promise.reject(new Error(`timed out after ${ms} ms: ${what}`)))]);
const textOf = (result) => (result?.content ?? []).map((c) => c.text ?? '').join('\n');
const errText = (e) => (e instanceof Error ? e.message : String(e));

/** One SDK client with its own answers, and a record of everything the proxy sent it. */
async function makeClient(label) {
  const other = label === 'A' ? 'B' : 'A';
  const state = {
    label,
    other,
    samplingRequests: [],
    elicitationRequests: [],
    elicitationPlan: label === 'A' ? ['accept', 'decline', 'accept'] : ['decline', 'accept', 'accept'],
    rootsRequests: 0,
    progress: [], // { token, progress, at }
  };
  const client = new Client(
    { name: `onemcp-sdk-client-${label}`, version: '1.0.0' },
    { capabilities: { sampling: {}, elicitation: { form: {} }, roots: { listChanged: true } } },
  );
  client.setRequestHandler(CreateMessageRequestSchema, async (request) => {
    state.samplingRequests.push(request.params);
    await sleep(300); // keep both clients' sampling requests in flight at once
    return {
      role: 'assistant',
      content: { type: 'text', text: `${label}-answer` },
      model: `model-${label}`,
      stopReason: 'endTurn',
    };
  });
  client.setRequestHandler(ElicitRequestSchema, async (request) => {
    state.elicitationRequests.push(request.params);
    const action = state.elicitationPlan.filter((a) => a !== 'skipped')[state.elicitationRequests.length - 1] ?? 'cancel';
    await sleep(200);
    return action === 'accept' ? { action, content: { name: `name-from-${label}` } } : { action };
  });
  client.setRequestHandler(ListRootsRequestSchema, async () => {
    state.rootsRequests += 1;
    return { roots: [{ uri: `file:///tmp/onemcp-root-${label}`, name: `root-${label}` }] };
  });
  // Replaces the SDK's own progress routing so every progress notification is seen, including
  // any that belong to someone else.
  client.setNotificationHandler(ProgressNotificationSchema, (notification) => {
    state.progress.push({ ...notification.params, at: Date.now() });
  });
  const transport =
    url === '--direct'
      ? new StdioClientTransport({
          command: process.execPath,
          args: [join(jsDir, 'node_modules/@modelcontextprotocol/server-everything/dist/index.js'), 'stdio'],
          stderr: 'ignore',
        })
      : new StreamableHTTPClientTransport(new URL(url), {
          // With authentication on (1mcp's default) the bearer token comes in ONEMCP_TOKEN.
          requestInit: process.env.ONEMCP_TOKEN
            ? { headers: { Authorization: `Bearer ${process.env.ONEMCP_TOKEN}` } }
            : undefined,
        });
  await withTimeout(client.connect(transport), STEP_MS, `${label} connect`);
  return { client, state, transport };
}

async function toolsListed({ client, state }) {
  const wanted = [
    'trigger-sampling-request',
    'trigger-elicitation-request',
    'get-roots-list',
    'trigger-long-running-operation',
  ];
  try {
    const { tools } = await withTimeout(client.listTools(), STEP_MS, 'tools/list');
    const names = new Set(tools.map((t) => t.name));
    const missing = wanted.filter((n) => !names.has(n));
    check(state.label, 'tools-listed', missing.length === 0, missing.length ? `missing: ${missing.join(', ')}` : 'all four');
  } catch (e) {
    check(state.label, 'tools-listed', false, errText(e));
  }
}

/**
 * `strict`: the only sampling in flight, so the proxy can attribute it and must deliver it.
 * Concurrent (not strict): both clients' requests are in flight on the one shared backend, whose
 * sampling request carries no hint of its origin; the proxy may refuse, but never cross.
 */
async function sampling({ client, state }, strict) {
  const name = strict ? 'sampling' : 'sampling-concurrent';
  const before = state.samplingRequests.length;
  let text = '';
  let failure = '';
  try {
    const result = await withTimeout(
      client.callTool({ name: 'trigger-sampling-request', arguments: { prompt: `prompt-from-${state.label}`, maxTokens: 5 } }),
      STEP_MS,
      'trigger-sampling-request',
    );
    text = textOf(result);
    if (result.isError) failure = text;
  } catch (e) {
    failure = errText(e);
  }
  const asked = JSON.stringify(state.samplingRequests);
  const noCrossing = !text.includes(`${state.other}-answer`) && !asked.includes(`prompt-from-${state.other}`);
  const delivered = !failure && text.includes(`${state.label}-answer`) && state.samplingRequests.length === before + 1;
  const refused = Boolean(failure) && state.samplingRequests.length === before;
  const ok = noCrossing && (strict ? delivered : delivered || refused);
  check(state.label, name, ok, `handler calls=${state.samplingRequests.length}; ${failure ? `error: ${failure}` : `result: ${text}`}`.slice(0, 400));
}

/** Like `sampling`: strict when it is the only elicitation in flight, else own-or-refused. */
async function elicitation({ client, state }, round, strict) {
  const action = state.elicitationPlan[round];
  const name = strict ? `elicitation-${action}` : `elicitation-concurrent-${action}`;
  const before = state.elicitationRequests.length;
  let text = '';
  let failure = '';
  try {
    const result = await withTimeout(
      client.callTool({ name: 'trigger-elicitation-request', arguments: {} }),
      STEP_MS,
      'trigger-elicitation-request',
    );
    text = textOf(result);
    if (result.isError) failure = text;
  } catch (e) {
    failure = errText(e);
  }
  const noCrossing = !text.includes(`name-from-${state.other}`);
  const answered =
    action === 'accept'
      ? text.includes('"action": "accept"') && text.includes(`name-from-${state.label}`)
      : text.includes('"action": "decline"') && !text.includes('name-from-');
  const delivered = !failure && answered && state.elicitationRequests.length === before + 1;
  const refused = Boolean(failure) && state.elicitationRequests.length === before;
  if (refused) state.elicitationPlan.splice(round, 1, 'skipped'); // keep later rounds' plan aligned
  const ok = noCrossing && (strict ? delivered : delivered || refused);
  check(state.label, name, ok, `handler calls=${state.elicitationRequests.length}; ${failure ? `error: ${failure}` : `result: ${text}`}`.slice(0, 400));
}

async function roots({ client, state }) {
  try {
    const result = await withTimeout(client.callTool({ name: 'get-roots-list', arguments: {} }), STEP_MS, 'get-roots-list');
    const text = textOf(result);
    // server-everything asks for roots at start-up and caches the first answer for its whole
    // connection; behind a proxy that connection is shared by A and B. Whatever the proxy does
    // (attribute, refuse, answer empty), one client's roots must never be shown to the other.
    const ok = !result.isError && !text.includes(`onemcp-root-${state.other}`);
    check(state.label, 'roots-no-leak', ok, `roots/list answered=${state.rootsRequests}; result: ${text.slice(0, 200)}`);
  } catch (e) {
    check(state.label, 'roots-no-leak', false, errText(e));
  }
}

async function progress({ client, state }) {
  const token = `${state.label}-progress-${process.pid}`;
  const steps = 4;
  try {
    const result = await withTimeout(
      client.callTool({ name: 'trigger-long-running-operation', arguments: { duration: 1, steps }, _meta: { progressToken: token } }),
      STEP_MS,
      'trigger-long-running-operation',
    );
    await sleep(100);
    const mine = state.progress.filter((p) => p.progressToken === token);
    const foreign = state.progress.filter((p) => !String(p.progressToken).startsWith(`${state.label}-`));
    const ok = !result.isError && mine.length === steps && foreign.length === 0;
    check(state.label, 'progress', ok, `own=${mine.length}/${steps} foreign=${JSON.stringify(foreign.map((p) => p.progressToken))}`);
  } catch (e) {
    check(state.label, 'progress', false, errText(e));
  }
}

/** A cancels a long operation after its first progress; B runs one to the end at the same time. */
async function cancellation({ client, state }) {
  const token = `${state.label}-cancel-${process.pid}`;
  if (state.label === 'B') {
    try {
      const result = await withTimeout(
        client.callTool({ name: 'trigger-long-running-operation', arguments: { duration: 2, steps: 4 }, _meta: { progressToken: token } }),
        STEP_MS,
        'long operation next to a cancelled one',
      );
      const mine = state.progress.filter((p) => p.progressToken === token).length;
      check('B', 'unaffected-by-cancel', !result.isError && mine === 4, `own progress=${mine}/4`);
    } catch (e) {
      check('B', 'unaffected-by-cancel', false, errText(e));
    }
    return;
  }
  const controller = new AbortController();
  const call = client.callTool(
    { name: 'trigger-long-running-operation', arguments: { duration: 4, steps: 8 }, _meta: { progressToken: token } },
    undefined,
    { signal: controller.signal, timeout: STEP_MS },
  );
  const firstProgress = (async () => {
    const deadline = Date.now() + 5_000;
    while (Date.now() < deadline && !state.progress.some((p) => p.progressToken === token)) await sleep(20);
  })();
  await firstProgress;
  const sawFirst = state.progress.some((p) => p.progressToken === token);
  const cancelledAt = Date.now();
  controller.abort('cancelled by the test');
  let rejected = false;
  try {
    await withTimeout(call, 2_000, 'the cancelled call to settle');
  } catch (e) {
    rejected = !errText(e).startsWith('timed out');
  }
  await sleep(2_500); // the backend would have finished its remaining steps by now
  const late = state.progress.filter((p) => p.progressToken === token && p.at > cancelledAt + CANCEL_GRACE_MS).length;
  check('A', 'cancel-settles', sawFirst && rejected, `first progress seen=${sawFirst}, call rejected=${rejected}`);
  if (url === '--direct') {
    // server-everything ignores the cancel and keeps reporting; only a proxy can drop those.
    check('A', 'cancel-stops-progress', true, `not applicable without a proxy (${late} late)`);
  } else {
    check('A', 'cancel-stops-progress', sawFirst && late === 0, `progress for the cancelled token after cancel: ${late}`);
  }
  try {
    const after = await withTimeout(client.callTool({ name: 'echo', arguments: { message: 'still-here' } }), STEP_MS, 'echo');
    check('A', 'usable-after-cancel', textOf(after).includes('still-here'), textOf(after));
  } catch (e) {
    check('A', 'usable-after-cancel', false, errText(e));
  }
}

async function main() {
  const clients = [];
  try {
    for (const label of ['A', 'B']) clients.push(await makeClient(label));
  } catch (e) {
    check(clients.length === 0 ? 'A' : 'B', 'connect', false, errText(e));
    return;
  }
  const both = (fn) => Promise.all(clients.map(fn));
  const inTurn = async (fn) => {
    for (const c of clients) await fn(c);
  };
  await both(toolsListed);
  // Both clients stay connected throughout; first one round trip at a time, then both at once.
  await inTurn((c) => sampling(c, true));
  await inTurn((c) => elicitation(c, 0, true));
  await inTurn((c) => elicitation(c, 1, true));
  await both((c) => sampling(c, false));
  await both((c) => elicitation(c, 2, false));
  await inTurn(roots);
  await both(progress);
  await both(cancellation);
  for (const { state } of clients) {
    const foreign = state.progress.filter((p) => !String(p.progressToken).startsWith(`${state.label}-`));
    check(state.label, 'no-foreign-progress', foreign.length === 0, `foreign tokens: ${JSON.stringify(foreign.map((p) => p.progressToken))}`);
  }
  await Promise.allSettled(
    clients.map(({ transport }) => withTimeout(transport.terminateSession?.() ?? Promise.resolve(), 5_000, 'DELETE')),
  );
  await Promise.allSettled(clients.map(({ client }) => withTimeout(client.close(), 5_000, 'close')));
}

try {
  await main();
} catch (e) {
  check('-', 'script', false, `crashed: ${e?.stack ?? e}`);
}
console.log(JSON.stringify({ sdk: 'typescript', checks }));
process.exit(0);
