// The OAuth 2.1 login of 1mcp's embedded authorization server, driven the way a person and an
// MCP client drive it: Debian's chromium (headless, through puppeteer-core) holds the operator's
// cookie and clicks the consent page; this script plays the MCP client (discovery from the 401,
// dynamic registration, PKCE S256, a loopback callback server, token exchange, refresh, revoke).
//
// Usage: node oauth-browser.mjs '<JSON settings>' where settings are
//   {"mode": "flow" | "refusals" | "conformance", "mcpUrl": "http://127.0.0.1:P/mcp",
//    "operatorLink": "http://127.0.0.1:P/oauth/operator?code=...", "chromium": "/usr/bin/chromium",
//    "profileDir": "<empty dir for chromium's profile>",
//    conformance mode only: "node": "<node 22>", "conformanceCli": "<.../dist/index.js>", "outDir": "<dir>"}
// ONEMCP_JS_DIR points at target/js (default ../../target/js from this file).
//
// flow: the whole login as an MCP client does it (timed from the first 401 to the first tool
//   call), refresh rotation and reuse detection, a second login with "everything" whose refresh
//   token is revoked, a third whose access token is revoked.
// refusals: /authorize without the cookie, consent without the cookie or with a wrong csrf (and a
//   control that the same POST with both is honoured), a wrong PKCE verifier, code replay, a
//   framed consent page.
// conformance: registers a public client for http://127.0.0.1:<free port>/callback, runs the
//   official suite's `authorization` scenarios against the issuer, reads the authorization URL it
//   prints and approves it in chromium as the operator would; the suite's own callback server gets
//   the code. The suite writes checks.json under outDir; the Rust test reads them.
//
// Prints one JSON line last: {"checks":[{"client","check","ok","detail"}],"timings":{...},"notes":[...]}.
// Exits 0 when the script ran to the end, whatever the checks say; the Rust test judges.

import { spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { createServer } from 'node:http';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const jsDir = process.env.ONEMCP_JS_DIR ?? resolve(here, '../../target/js');
const { default: puppeteer } = await import(
  pathToFileURL(join(jsDir, 'node_modules/puppeteer-core/lib/puppeteer/puppeteer-core.js')).href
);

const settings = JSON.parse(process.argv[2] ?? '{}');
for (const key of ['mode', 'mcpUrl', 'operatorLink', 'chromium', 'profileDir']) {
  if (!settings[key]) {
    console.error(`oauth-browser.mjs: settings lack "${key}"`);
    process.exit(64);
  }
}

/** Upper bound for one step (a request, a page load, a click and its navigation). */
const STEP_MS = 20_000;
/** Upper bound for the whole script; the watchdog ends chromium and the runner, then exits. */
const SCRIPT_MS = 150_000;
/** How long to keep listening for a callback that must not come. */
const QUIET_MS = 700;

const checks = [];
const notes = [];
const timings = {};
const check = (client, name, ok, detail) => {
  checks.push({ client, check: name, ok: Boolean(ok), detail: String(detail ?? '') });
  console.error(`${ok ? 'PASS' : 'FAIL'} ${client} ${name}: ${detail ?? ''}`);
  return Boolean(ok);
};
const note = (text) => {
  notes.push(text);
  console.error(`NOTE ${text}`);
};
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const withTimeout = (promise, ms, what) =>
  Promise.race([promise, sleep(ms).then(() => Promise.reject(new Error(`timed out after ${ms} ms: ${what}`)))]);
const errText = (e) => (e instanceof Error ? e.message : String(e));
const b64url = (bytes) => Buffer.from(bytes).toString('base64url');

const mcpUrl = settings.mcpUrl;
const origin = new URL(mcpUrl).origin;

// ---- HTTP as a client --------------------------------------------------------------------------

/** One request, redirects not followed; body parsed as JSON when it is JSON. */
async function http(method, url, { headers = {}, body, form } = {}) {
  const init = { method, headers: { ...headers }, redirect: 'manual', signal: AbortSignal.timeout(STEP_MS) };
  if (form) {
    init.headers['content-type'] = 'application/x-www-form-urlencoded';
    init.body = new URLSearchParams(form).toString();
  } else if (body !== undefined) {
    init.headers['content-type'] = 'application/json';
    init.body = JSON.stringify(body);
  }
  const response = await fetch(url, init);
  const text = await response.text();
  let json;
  try {
    json = JSON.parse(text);
  } catch {
    json = undefined;
  }
  return { status: response.status, headers: response.headers, text, json };
}

const describe = (r) => `${r.status} ${r.text.slice(0, 300).replace(/\s+/g, ' ')}`;

/** A JSON-RPC exchange with /mcp (JSON or SSE answer); returns the HTTP answer and the message. */
async function mcp(token, message, session) {
  const headers = { accept: 'application/json, text/event-stream', 'mcp-protocol-version': '2025-11-25' };
  if (token) headers.authorization = `Bearer ${token}`;
  if (session) headers['mcp-session-id'] = session;
  const r = await http('POST', mcpUrl, { headers, body: message });
  let reply = r.json;
  if (!reply && (r.headers.get('content-type') ?? '').includes('text/event-stream')) {
    for (const line of r.text.split('\n')) {
      if (!line.startsWith('data:')) continue;
      try {
        const m = JSON.parse(line.slice(5));
        if (m.id === message.id) reply = m;
      } catch {
        // not a message we wait for
      }
    }
  }
  return { ...r, reply, session: r.headers.get('mcp-session-id') };
}

const initialize = (id) => ({
  jsonrpc: '2.0',
  id,
  method: 'initialize',
  params: { protocolVersion: '2025-11-25', capabilities: {}, clientInfo: { name: 'oauth-browser-test', version: '1' } },
});

/** Opens a session with `token`; its id and the names of the tools it sees (or the refusal). */
async function sessionTools(token) {
  const init = await mcp(token, initialize(1));
  if (init.status !== 200 || !init.session) return { status: init.status, refusal: describe(init) };
  await mcp(token, { jsonrpc: '2.0', method: 'notifications/initialized' }, init.session);
  const list = await mcp(token, { jsonrpc: '2.0', id: 2, method: 'tools/list' }, init.session);
  const names = (list.reply?.result?.tools ?? []).map((t) => t.name).sort();
  return { status: list.status, session: init.session, names };
}

/** `Bearer k="v", k2="v2"` -> {k: v, k2: v2}. */
function challengeParams(header) {
  const params = {};
  for (const m of (header ?? '').matchAll(/([a-zA-Z_]+)="([^"]*)"/g)) params[m[1]] = m[2];
  return params;
}

// ---- the client's loopback callback server (also serves the framing page) ------------------------

async function startCallbackServer() {
  const hits = [];
  const waiters = [];
  const server = createServer((req, res) => {
    const url = new URL(req.url, `http://127.0.0.1:${server.address().port}`);
    if (url.pathname === '/callback') {
      hits.push(url);
      res.writeHead(200, { 'content-type': 'text/html' }).end('<p id="done">Signed in. You can close this page.</p>');
      for (const w of waiters.splice(0)) w();
    } else if (url.pathname === '/frame') {
      const src = url.searchParams.get('src') ?? '';
      const control = `http://localhost:${server.address().port}/plain`;
      const html =
        `<!doctype html><title>framing</title>` +
        `<iframe name="consent" src="${src.replace(/"/g, '&quot;')}" width="600" height="400"></iframe>` +
        `<iframe name="control" src="${control}" width="200" height="100"></iframe>`;
      res.writeHead(200, { 'content-type': 'text/html' }).end(html);
    } else if (url.pathname === '/plain') {
      res.writeHead(200, { 'content-type': 'text/html' }).end('<p id="plain">a frameable page</p>');
    } else {
      res.writeHead(404).end();
    }
  });
  await new Promise((ok, fail) => server.listen(0, '127.0.0.1', ok).on('error', fail));
  const port = server.address().port;
  /** The callback whose state is `state`, waiting at most `ms`; undefined if none came. */
  const waitFor = async (state, ms) => {
    const deadline = Date.now() + ms;
    for (;;) {
      const hit = hits.find((u) => u.searchParams.get('state') === state);
      if (hit) return hit;
      const left = deadline - Date.now();
      if (left <= 0) return undefined;
      await Promise.race([new Promise((r) => waiters.push(r)), sleep(Math.min(left, 200))]);
    }
  };
  return { port, redirectUri: `http://127.0.0.1:${port}/callback`, hits, waitFor, close: () => server.close() };
}

async function freePort() {
  const server = createServer();
  await new Promise((ok, fail) => server.listen(0, '127.0.0.1', ok).on('error', fail));
  const { port } = server.address();
  await new Promise((r) => server.close(r));
  return port;
}

// ---- the browser -----------------------------------------------------------------------------

let browser;
let runner;
const watchdog = setTimeout(() => {
  console.error(`oauth-browser.mjs: watchdog: still running after ${SCRIPT_MS} ms, stopping`);
  try {
    browser?.process()?.kill('SIGKILL');
  } catch {}
  try {
    runner?.kill('SIGKILL');
  } catch {}
  finish(3);
}, SCRIPT_MS);

function finish(code) {
  clearTimeout(watchdog);
  console.log(JSON.stringify({ checks, timings, notes }));
  process.exit(code);
}

async function launchBrowser() {
  return puppeteer.launch({
    executablePath: settings.chromium,
    headless: true,
    pipe: true,
    userDataDir: settings.profileDir,
    // Root in CI: chromium's sandbox needs an unprivileged user. No proxy: everything is loopback.
    args: ['--no-sandbox', '--no-first-run', '--no-default-browser-check', '--no-proxy-server', '--disable-gpu'],
    protocolTimeout: STEP_MS,
    timeout: STEP_MS,
  });
}

async function allCookies(page) {
  if (typeof browser.cookies === 'function') return browser.cookies();
  return page.cookies(origin);
}

/** Opens the operator's one-time link; checks the cookie it leaves. */
async function signInOperator(page) {
  const response = await page.goto(settings.operatorLink, { waitUntil: 'load', timeout: STEP_MS });
  const chain = response.request().redirectChain();
  const landed = new URL(page.url());
  check(
    'operator',
    'link signs in',
    response.status() === 200 && landed.pathname === '/oauth/operator' && !landed.search.includes('code=') &&
      chain.length === 1 && chain[0].response()?.status() === 303,
    `final ${response.status()} ${landed.pathname}${landed.search}; redirects: ${chain
      .map((r) => `${r.response()?.status()} ${new URL(r.url()).pathname}`)
      .join(', ')}`,
  );
  const cookies = (await allCookies(page)).filter((c) => c.domain === '127.0.0.1' || c.domain === 'localhost');
  const operator = cookies.find((c) => c.httpOnly);
  check(
    'operator',
    'cookie is HttpOnly, SameSite=Strict',
    cookies.length > 0 && cookies.every((c) => c.httpOnly && c.sameSite === 'Strict'),
    cookies.map((c) => `${c.name} httpOnly=${c.httpOnly} sameSite=${c.sameSite} path=${c.path}`).join('; '),
  );
  const again = await http('GET', settings.operatorLink);
  check('operator', 'link is one-time', again.status >= 400 && !again.headers.get('set-cookie'), `second use: ${again.status}`);
  return cookies.map((c) => `${c.name}=${c.value}`).join('; ') || (operator ? `${operator.name}=${operator.value}` : '');
}

// ---- discovery and registration -----------------------------------------------------------------

async function discover() {
  const anonymous = await mcp(undefined, initialize(1));
  const t401 = performance.now();
  const challenge = anonymous.headers.get('www-authenticate') ?? '';
  const params = challengeParams(challenge);
  check('flow', '401 with resource_metadata', anonymous.status === 401 && params.resource_metadata, `${anonymous.status} ${challenge}`);
  const prm = await http('GET', params.resource_metadata ?? `${origin}/.well-known/oauth-protected-resource/mcp`);
  const issuer = prm.json?.authorization_servers?.[0];
  check(
    'flow',
    'protected resource metadata',
    prm.status === 200 && prm.json?.resource === mcpUrl && issuer === origin,
    `resource=${prm.json?.resource} authorization_servers=${JSON.stringify(prm.json?.authorization_servers)} scopes_supported=${JSON.stringify(prm.json?.scopes_supported)}`,
  );
  const asm = await http('GET', `${issuer}/.well-known/oauth-authorization-server`);
  const oidc = await http('GET', `${issuer}/.well-known/openid-configuration`);
  const m = asm.json ?? {};
  const expected = {
    issuer,
    authorization_endpoint: `${issuer}/authorize`,
    token_endpoint: `${issuer}/token`,
    registration_endpoint: `${issuer}/register`,
    revocation_endpoint: `${issuer}/revoke`,
  };
  const wrong = Object.entries(expected).filter(([k, v]) => m[k] !== v).map(([k]) => `${k}=${m[k]}`);
  if (!(Array.isArray(m.code_challenge_methods_supported) && m.code_challenge_methods_supported.join() === 'S256'))
    wrong.push(`code_challenge_methods_supported=${JSON.stringify(m.code_challenge_methods_supported)}`);
  if (m.authorization_response_iss_parameter_supported !== true) wrong.push('authorization_response_iss_parameter_supported');
  if (m.client_id_metadata_document_supported !== true) wrong.push('client_id_metadata_document_supported');
  for (const tag of ['alpha', 'beta'])
    if (!(m.scopes_supported ?? []).includes(`tag:${tag}`)) wrong.push(`scopes_supported lacks tag:${tag}`);
  check('flow', 'AS metadata (RFC 8414)', asm.status === 200 && wrong.length === 0, wrong.join(', ') || 'as specified');
  check(
    'flow',
    'OpenID discovery document',
    oidc.status === 200 && oidc.json?.issuer === issuer && oidc.json?.authorization_endpoint === m.authorization_endpoint &&
      (oidc.json?.code_challenge_methods_supported ?? []).includes('S256'),
    `${oidc.status} issuer=${oidc.json?.issuer}`,
  );
  return { t401, issuer, metadata: m, resource: prm.json?.resource ?? mcpUrl, scopes: prm.json?.scopes_supported };
}

/** Registers a public client (or, with `authMethod`, a confidential one); its client_id (and secret). */
async function register(metadata, redirectUri, clientName, authMethod = 'none') {
  const r = await http('POST', metadata.registration_endpoint, {
    body: {
      client_name: clientName,
      redirect_uris: [redirectUri],
      grant_types: ['authorization_code', 'refresh_token'],
      response_types: ['code'],
      token_endpoint_auth_method: authMethod,
      application_type: 'native',
    },
  });
  const confidential = authMethod !== 'none';
  check(
    'flow',
    `dynamic registration (${confidential ? 'confidential' : 'public'} client)`,
    r.status === 201 && typeof r.json?.client_id === 'string' && confidential === (typeof r.json?.client_secret === 'string'),
    `${r.status} client_id=${r.json?.client_id} secret=${r.json?.client_secret ? 'yes' : 'no'}`,
  );
  return confidential ? { clientId: r.json?.client_id, secret: r.json?.client_secret } : r.json?.client_id;
}

function pkce() {
  const verifier = b64url(randomBytes(32));
  return { verifier, challenge: createHash('sha256').update(verifier).digest('base64url') };
}

function authorizeUrl(metadata, { clientId, redirectUri, challenge, state, scope, resource }) {
  const q = new URLSearchParams({
    response_type: 'code',
    client_id: clientId,
    redirect_uri: redirectUri,
    code_challenge: challenge,
    code_challenge_method: 'S256',
    state,
  });
  if (scope) q.set('scope', scope);
  if (resource) q.set('resource', resource);
  return `${metadata.authorization_endpoint}?${q}`;
}

/** The consent page's facts: client name, redirect host, tag boxes, everything box, form fields. */
async function readConsent(page) {
  return page.evaluate(() => {
    const text = (sel) => document.querySelector(sel)?.textContent?.trim() ?? null;
    const form = document.querySelector('form');
    const field = (name) => form?.querySelector(`input[name="${name}"]`)?.value ?? null;
    return {
      clientName: text('#client-name'),
      redirectHost: text('#redirect-host'),
      tags: [...document.querySelectorAll('input[name=tag]')].map((e) => ({ value: e.value, checked: e.checked, type: e.type })),
      everything: (() => {
        const e = document.querySelector('input[name=everything]');
        return e ? { checked: e.checked, type: e.type } : null;
      })(),
      formMethod: form?.method ?? null,
      formAction: form ? new URL(form.action, location.href).pathname : null,
      request: field('request'),
      csrf: field('csrf'),
      approve: !!document.querySelector('button#approve[name=decision][value=approve]'),
      deny: !!document.querySelector('button#deny[name=decision][value=deny]'),
    };
  });
}

const tagOf = (value) => value.replace(/^tag:/, '');

/** Clicks the consent page's approve button; where the browser ended up, and what it shows. */
async function approve(page) {
  const [response] = await Promise.all([
    page.waitForNavigation({ timeout: STEP_MS }).catch(() => null),
    page.click('button#approve'),
  ]);
  const text = await page.evaluate(() => document.body?.innerText ?? '').catch(() => '');
  return { status: response?.status(), url: page.url(), text: text.replace(/\s+/g, ' ').slice(0, 200) };
}

const landed = (a) => `page ${a.status} at ${a.url.replace(/code=[^&]+/, 'code=…')}: ${a.text}`;

async function exchange(metadata, form) {
  return http('POST', metadata.token_endpoint, { form });
}

// ---- flow mode -------------------------------------------------------------------------------------

async function runFlow() {
  const cb = await startCallbackServer();
  browser = await launchBrowser();
  const page = await browser.newPage();
  try {
    await signInOperator(page);

    // 1. Discovery from the 401, registration, PKCE, the consent page.
    const { t401, issuer, metadata, resource, scopes } = await discover();
    const clientName = `Browser Test Client ${b64url(randomBytes(3))}`;
    const clientId = await register(metadata, cb.redirectUri, clientName);
    const { verifier, challenge } = pkce();
    const state = b64url(randomBytes(16));
    const scope = (scopes ?? metadata.scopes_supported ?? []).filter((s) => /^tag:(alpha|beta)$/.test(s)).join(' ');
    const url = authorizeUrl(metadata, { clientId, redirectUri: cb.redirectUri, challenge, state, scope, resource });

    const consentResponse = await page.goto(url, { waitUntil: 'load', timeout: STEP_MS });
    const h = consentResponse.headers();
    check('flow', 'consent page 200', consentResponse.status() === 200, `${consentResponse.status()} ${page.url()}`);
    check(
      'flow',
      'consent page refuses framing (headers)',
      (h['x-frame-options'] ?? '').toUpperCase() === 'DENY' && /frame-ancestors\s+'none'/.test(h['content-security-policy'] ?? ''),
      `X-Frame-Options: ${h['x-frame-options']}; CSP: ${h['content-security-policy']}`,
    );
    const consent = await readConsent(page);
    const cbHost = `127.0.0.1:${cb.port}`;
    check('flow', 'consent names the client', consent.clientName === clientName, `#client-name=${JSON.stringify(consent.clientName)}`);
    check(
      'flow',
      'consent names the redirect host',
      (consent.redirectHost ?? '').includes('127.0.0.1'),
      `#redirect-host=${JSON.stringify(consent.redirectHost)} (redirect ${cbHost})`,
    );
    const tagNames = consent.tags.map((t) => tagOf(t.value)).sort();
    check(
      'flow',
      'consent offers the requested tags, checked',
      tagNames.join() === 'alpha,beta' && consent.tags.every((t) => t.checked && t.type === 'checkbox') && !consent.everything,
      `tags=${JSON.stringify(consent.tags)} everything=${JSON.stringify(consent.everything)}`,
    );
    check(
      'flow',
      'consent form',
      consent.formMethod === 'post' && consent.formAction === '/oauth/consent' && consent.request && consent.csrf && consent.approve && consent.deny,
      `${consent.formMethod} ${consent.formAction} request=${!!consent.request} csrf=${!!consent.csrf} approve=${consent.approve} deny=${consent.deny}`,
    );

    // 2. The operator narrows the grant to alpha and approves; the browser lands on our callback.
    const beta = consent.tags.find((t) => tagOf(t.value) === 'beta');
    if (beta) await page.click(`input[name=tag][value="${beta.value}"]`);
    const approved = await approve(page);
    const hit = await cb.waitFor(state, STEP_MS);
    check(
      'flow',
      'approve redirects to the callback with code, state, iss',
      hit && hit.searchParams.get('code') && hit.searchParams.getAll('state').length === 1 && hit.searchParams.get('iss') === issuer &&
        !hit.searchParams.has('error'),
      hit ? `${hit.pathname}?${[...hit.searchParams.keys()].join('&')} iss=${hit.searchParams.get('iss')}` : `no callback; ${landed(approved)}`,
    );
    if (!hit) return;
    const code = hit.searchParams.get('code');

    // 3. Token exchange.
    const token = await exchange(metadata, {
      grant_type: 'authorization_code', code, redirect_uri: cb.redirectUri, client_id: clientId, code_verifier: verifier, resource,
    });
    const t = token.json ?? {};
    check(
      'token',
      'authorization_code grant',
      token.status === 200 && (token.headers.get('cache-control') ?? '').includes('no-store') &&
        (token.headers.get('content-type') ?? '').includes('application/json') && /^bearer$/i.test(t.token_type ?? '') &&
        (t.access_token ?? '').startsWith('1mcp_at_') && (t.refresh_token ?? '').startsWith('1mcp_rt_'),
      `${token.status} cache-control=${token.headers.get('cache-control')} token_type=${t.token_type} scope=${t.scope} expires_in=${t.expires_in} ` +
        `access=${(t.access_token ?? '').slice(0, 8)}… refresh=${(t.refresh_token ?? '').slice(0, 8)}…`,
    );
    check('token', 'granted scope is the approved tag', t.scope === 'tag:alpha', `scope=${JSON.stringify(t.scope)}`);
    if (token.status !== 200) return;

    // 4. The token at /mcp: only alpha's servers; the first tool call ends the login clock.
    const seen = await sessionTools(t.access_token);
    check(
      'mcp',
      'token sees only the approved tag',
      seen.names?.length > 0 && seen.names.every((n) => n.startsWith('alpha_1mcp_')) && seen.names.includes('alpha_1mcp_echo'),
      seen.names ? seen.names.join(', ') : seen.refusal,
    );
    const call = await mcp(
      t.access_token,
      { jsonrpc: '2.0', id: 3, method: 'tools/call', params: { name: 'alpha_1mcp_echo', arguments: { text: 'hello' } } },
      seen.session,
    );
    const tCall = performance.now();
    const callText = (call.reply?.result?.content ?? []).map((c) => c.text).join('');
    check('mcp', 'tool call with the token', call.status === 200 && callText.includes('hello'), `${call.status} ${callText}`);
    if (call.status === 200 && callText.includes('hello')) timings.first401ToFirstToolCallMs = Math.round(tCall - t401);
    const beyond = await mcp(
      t.access_token,
      { jsonrpc: '2.0', id: 4, method: 'tools/call', params: { name: 'beta_1mcp_echo', arguments: { text: 'x' } } },
      seen.session,
    );
    check('mcp', 'beta is out of reach', beyond.status !== 200 || beyond.reply?.error || beyond.reply?.result?.isError, describe(beyond));

    // 5. Refresh rotation and reuse detection.
    const refreshed = await exchange(metadata, { grant_type: 'refresh_token', refresh_token: t.refresh_token, client_id: clientId, resource });
    const r = refreshed.json ?? {};
    check(
      'refresh',
      'refresh rotates',
      refreshed.status === 200 && (refreshed.headers.get('cache-control') ?? '').includes('no-store') &&
        (r.access_token ?? '').startsWith('1mcp_at_') && r.access_token !== t.access_token &&
        (r.refresh_token ?? '').startsWith('1mcp_rt_') && r.refresh_token !== t.refresh_token && r.scope === 'tag:alpha',
      `${refreshed.status} scope=${r.scope} new access=${r.access_token !== t.access_token} new refresh=${r.refresh_token !== t.refresh_token}`,
    );
    const viaRefreshed = await sessionTools(r.access_token);
    check('refresh', 'refreshed access token works', viaRefreshed.names?.includes('alpha_1mcp_echo'), viaRefreshed.names?.join(', ') ?? viaRefreshed.refusal);
    // Reuse of the superseded refresh token (as a thief would): refused, and the whole grant
    // ends, the legitimate client's newest tokens included.
    const newestBefore = await mcp(r.access_token, initialize(5));
    const reuse = await exchange(metadata, { grant_type: 'refresh_token', refresh_token: t.refresh_token, client_id: clientId, resource });
    check('refresh', 'reused refresh token: invalid_grant', reuse.status === 400 && reuse.json?.error === 'invalid_grant', describe(reuse));
    const family = await exchange(metadata, { grant_type: 'refresh_token', refresh_token: r.refresh_token, client_id: clientId, resource });
    check('refresh', 'reuse revokes the family', family.status === 400 && family.json?.error === 'invalid_grant', describe(family));
    const newestAfter = await mcp(r.access_token, initialize(6));
    check(
      'refresh',
      "reuse revokes the grant's access tokens",
      newestBefore.status === 200 && newestAfter.status === 401,
      `newest access token before the reuse ${newestBefore.status}, after ${newestAfter.status}`,
    );

    // 6. A second login asking for no scope: "everything", both servers; then revoke its refresh token.
    const second = pkce();
    const state2 = b64url(randomBytes(16));
    const url2 = authorizeUrl(metadata, { clientId, redirectUri: cb.redirectUri, challenge: second.challenge, state: state2, resource });
    await page.goto(url2, { waitUntil: 'load', timeout: STEP_MS });
    const consent2 = await readConsent(page);
    check(
      'everything',
      'no scope: the everything box, checked',
      consent2.everything?.checked === true && consent2.everything?.type === 'checkbox',
      `everything=${JSON.stringify(consent2.everything)} tags=${JSON.stringify(consent2.tags)}`,
    );
    const approved2 = await approve(page);
    const hit2 = await cb.waitFor(state2, STEP_MS);
    const token2 = hit2
      ? await exchange(metadata, {
          grant_type: 'authorization_code', code: hit2.searchParams.get('code'), redirect_uri: cb.redirectUri, client_id: clientId,
          code_verifier: second.verifier, resource,
        })
      : { status: 0, text: `no callback; ${landed(approved2)}`, json: undefined };
    const all = token2.json?.access_token ? await sessionTools(token2.json.access_token) : { refusal: describe(token2) };
    check(
      'everything',
      'everything sees both servers',
      all.names?.includes('alpha_1mcp_echo') && all.names?.includes('beta_1mcp_echo'),
      `scope=${JSON.stringify(token2.json?.scope)} tools: ${all.names?.join(', ') ?? all.refusal}`,
    );
    if (token2.json?.refresh_token) {
      const rv = await http('POST', metadata.revocation_endpoint, {
        form: { token: token2.json.refresh_token, token_type_hint: 'refresh_token', client_id: clientId },
      });
      const after = await exchange(metadata, { grant_type: 'refresh_token', refresh_token: token2.json.refresh_token, client_id: clientId, resource });
      check('revoke', 'revoked refresh token refused', rv.status === 200 && after.status === 400 && after.json?.error === 'invalid_grant', `revoke ${rv.status}; refresh ${describe(after)}`);
      const unknown = await http('POST', metadata.revocation_endpoint, { form: { token: '1mcp_rt_unknown', client_id: clientId } });
      check('revoke', 'unknown token: 200 (RFC 7009)', unknown.status === 200, `${unknown.status}`);
      const access2 = await mcp(token2.json.access_token, initialize(7));
      check('revoke', "revoking the refresh token ends the grant's access token", access2.status === 401, `access token then: ${access2.status}`);
    }

    // 7. A third login, by a client that sends no `resource` (RFC 8707 is recent; many clients
    // omit it): its token works at /mcp; revoking it refuses it from the next request on.
    const third = pkce();
    const state3 = b64url(randomBytes(16));
    await page.goto(authorizeUrl(metadata, { clientId, redirectUri: cb.redirectUri, challenge: third.challenge, state: state3, scope }), {
      waitUntil: 'load',
      timeout: STEP_MS,
    });
    await approve(page);
    const hit3 = await cb.waitFor(state3, STEP_MS);
    const token3 = (await exchange(metadata, {
      grant_type: 'authorization_code', code: hit3?.searchParams.get('code') ?? '', redirect_uri: cb.redirectUri, client_id: clientId,
      code_verifier: third.verifier,
    })).json ?? {};
    const live = await mcp(token3.access_token, initialize(8));
    const revoked = await http('POST', metadata.revocation_endpoint, {
      form: { token: token3.access_token ?? '', token_type_hint: 'access_token', client_id: clientId },
    });
    const afterRevoke = await mcp(token3.access_token, initialize(9));
    check(
      'revoke',
      'revoked access token refused',
      live.status === 200 && revoked.status === 200 && afterRevoke.status === 401,
      `before ${live.status}; revoke ${revoked.status}; then /mcp ${afterRevoke.status} ${afterRevoke.text.slice(0, 120)}`,
    );
    const refresh3 = await exchange(metadata, { grant_type: 'refresh_token', refresh_token: token3.refresh_token ?? '', client_id: clientId });
    note(`after revoking an access token, the refresh token of its grant: ${describe(refresh3)} (RFC 7009: MAY be revoked too)`);

  } finally {
    cb.close();
  }
}

// ---- refusals mode ---------------------------------------------------------------------------------

/** A run of its own (own daemon, so the authorization server's per-address rate limit is fresh). */
async function runRefusals() {
  const cb = await startCallbackServer();
  browser = await launchBrowser();
  const page = await browser.newPage();
  const consoleLines = [];
  page.on('console', (m) => consoleLines.push(m.text()));
  try {
    const cookie = await signInOperator(page);
    const issuer = origin;
    const metadata = (await http('GET', `${issuer}/.well-known/oauth-authorization-server`)).json ?? {};
    const resource = mcpUrl;
    const scope = 'tag:alpha tag:beta';
    const clientId = await register(metadata, cb.redirectUri, 'Refused Client');

    // /authorize in a browser without the operator's cookie: a page saying how to sign in.
    const anonymousAuthorize = await http(
      'GET',
      authorizeUrl(metadata, { clientId, redirectUri: cb.redirectUri, challenge: pkce().challenge, state: 'anon', scope, resource }),
    );
    check(
      'refuse',
      '/authorize without the operator cookie',
      anonymousAuthorize.status === 401 && anonymousAuthorize.text.includes('1mcp auth link') && !anonymousAuthorize.headers.get('location'),
      `${anonymousAuthorize.status} mentions "1mcp auth link": ${anonymousAuthorize.text.includes('1mcp auth link')}`,
    );

    // Refusals at the consent step: no cookie, wrong csrf (from outside and inside the browser).
    const state3 = b64url(randomBytes(16));
    const third = pkce();
    const url3 = authorizeUrl(metadata, { clientId, redirectUri: cb.redirectUri, challenge: third.challenge, state: state3, scope, resource });
    await page.goto(url3, { waitUntil: 'load', timeout: STEP_MS });
    const consent3 = await readConsent(page);
    const consentUrl = `${origin}/oauth/consent`;
    const fields = (extra) => {
      const f = new URLSearchParams({ request: consent3.request ?? '', csrf: consent3.csrf ?? '', decision: 'approve' });
      for (const tag of consent3.tags) f.append('tag', tag.value);
      for (const [k, v] of Object.entries(extra)) f.set(k, v);
      return Object.fromEntries(f);
    };
    const noCookie = await http('POST', consentUrl, { form: fields({}), headers: { origin } });
    const noCookieLocation = noCookie.headers.get('location') ?? '';
    check(
      'refuse',
      'consent POST without the cookie',
      noCookie.status >= 400 && noCookie.status < 500 && !noCookieLocation.includes('code='),
      `${noCookie.status} location=${noCookieLocation}`,
    );
    const wrongCsrf = await http('POST', consentUrl, { form: fields({ csrf: b64url(randomBytes(16)) }), headers: { cookie, origin } });
    const wrongLocation = wrongCsrf.headers.get('location') ?? '';
    check(
      'refuse',
      'consent POST with a wrong csrf (cookie present)',
      wrongCsrf.status >= 400 && wrongCsrf.status < 500 && !wrongLocation.includes('code='),
      `${wrongCsrf.status} location=${wrongLocation}`,
    );
    await page.evaluate(() => {
      document.querySelector('input[name=csrf]').value = 'forged';
    });
    const forged = await approve(page);
    check(
      'refuse',
      'consent in the browser with a forged csrf',
      forged.status >= 400 && forged.status < 500 && !forged.url.startsWith(cb.redirectUri),
      landed(forged),
    );
    const leaked = await cb.waitFor(state3, QUIET_MS);
    check('refuse', 'no code issued for refused consents', !leaked, leaked ? `callback got ${leaked.search}` : 'no callback');

    // The control: the same POST from outside with the cookie and the right csrf is honoured
    // (a fresh request, deny: error=access_denied with state and iss), so the refusals above
    // came from the missing cookie and the wrong csrf.
    const state4 = b64url(randomBytes(16));
    await page.goto(authorizeUrl(metadata, { clientId, redirectUri: cb.redirectUri, challenge: pkce().challenge, state: state4, scope, resource }), {
      waitUntil: 'load',
      timeout: STEP_MS,
    });
    const consent4 = await readConsent(page);
    const denied = await http('POST', consentUrl, {
      form: { request: consent4.request ?? '', csrf: consent4.csrf ?? '', decision: 'deny' },
      headers: { cookie, origin },
    });
    const deniedAt = denied.headers.get('location') ? new URL(denied.headers.get('location')) : null;
    check(
      'refuse',
      'control: cookie + csrf honoured (deny -> access_denied)',
      denied.status === 303 && deniedAt && `${deniedAt.origin}${deniedAt.pathname}` === cb.redirectUri &&
        deniedAt.searchParams.get('error') === 'access_denied' && deniedAt.searchParams.get('state') === state4 &&
        deniedAt.searchParams.get('iss') === issuer && !deniedAt.searchParams.has('code'),
      `${denied.status} location=${denied.headers.get('location')}`,
    );

    // A login of its own for PKCE: the code with a wrong verifier is refused.
    const state6 = b64url(randomBytes(16));
    const sixth = pkce();
    await page.goto(authorizeUrl(metadata, { clientId, redirectUri: cb.redirectUri, challenge: sixth.challenge, state: state6, scope, resource }), {
      waitUntil: 'load',
      timeout: STEP_MS,
    });
    const approved6 = await approve(page);
    const hit6 = await cb.waitFor(state6, STEP_MS);
    const wrongVerifier = await exchange(metadata, {
      grant_type: 'authorization_code', code: hit6?.searchParams.get('code') ?? '', redirect_uri: cb.redirectUri, client_id: clientId,
      code_verifier: pkce().verifier, resource,
    });
    check(
      'token',
      'wrong PKCE verifier refused',
      hit6 && wrongVerifier.status === 400 && wrongVerifier.json?.error === 'invalid_grant',
      hit6 ? describe(wrongVerifier) : `no code to try: ${landed(approved6)}`,
    );
    // The right verifier after a wrong one: the code may have been burned (RFC 9700 allows it).
    const redeemed = await exchange(metadata, {
      grant_type: 'authorization_code', code: hit6?.searchParams.get('code') ?? '', redirect_uri: cb.redirectUri, client_id: clientId,
      code_verifier: sixth.verifier, resource,
    });
    note(`the right verifier after a wrong one: ${redeemed.status} ${redeemed.json?.error ?? 'tokens issued'}`);
    // Code replay: refused, and the grant the code made is revoked (OAuth 2.1 §4.1.3).
    let replayCode = hit6?.searchParams.get('code') ?? '';
    let replayVerifier = sixth.verifier;
    let replayTokens = redeemed.json;
    if (redeemed.status !== 200) {
      const state7 = b64url(randomBytes(16));
      const seventh = pkce();
      await page.goto(authorizeUrl(metadata, { clientId, redirectUri: cb.redirectUri, challenge: seventh.challenge, state: state7, scope, resource }), {
        waitUntil: 'load',
        timeout: STEP_MS,
      });
      await approve(page);
      const hit7 = await cb.waitFor(state7, STEP_MS);
      replayCode = hit7?.searchParams.get('code') ?? '';
      replayVerifier = seventh.verifier;
      replayTokens = (await exchange(metadata, {
        grant_type: 'authorization_code', code: replayCode, redirect_uri: cb.redirectUri, client_id: clientId, code_verifier: replayVerifier, resource,
      })).json;
    }
    const before = replayTokens?.access_token ? (await mcp(replayTokens.access_token, initialize(8))).status : 0;
    const replay = await exchange(metadata, {
      grant_type: 'authorization_code', code: replayCode, redirect_uri: cb.redirectUri, client_id: clientId, code_verifier: replayVerifier, resource,
    });
    const after = replayTokens?.access_token ? (await mcp(replayTokens.access_token, initialize(9))).status : 0;
    const refreshAfter = replayTokens?.refresh_token
      ? await exchange(metadata, { grant_type: 'refresh_token', refresh_token: replayTokens.refresh_token, client_id: clientId, resource })
      : { status: 0, text: 'no refresh token', json: undefined };
    check(
      'token',
      'code replay refused and its grant revoked',
      before === 200 && replay.status === 400 && replay.json?.error === 'invalid_grant' && after === 401 && refreshAfter.status === 400,
      `access token before the replay ${before}; replay ${describe(replay)}; access token after ${after}; its refresh token ${describe(refreshAfter)}`,
    );

    // 8. The consent page inside a frame (clickjacking): refused, while a frameable control loads.
    const state5 = b64url(randomBytes(16));
    const url5 = authorizeUrl(metadata, { clientId, redirectUri: cb.redirectUri, challenge: pkce().challenge, state: state5, scope, resource });
    consoleLines.length = 0;
    await page.goto(`http://127.0.0.1:${cb.port}/frame?src=${encodeURIComponent(url5)}`, { waitUntil: 'load', timeout: STEP_MS });
    await sleep(300);
    const frames = page.frames();
    const consentFrame = frames.find((f) => f.name() === 'consent');
    const controlFrame = frames.find((f) => f.name() === 'control');
    const framedApprove = consentFrame ? await consentFrame.$('button#approve').catch(() => null) : null;
    const controlLoaded = controlFrame ? await controlFrame.$('#plain').catch(() => null) : null;
    check(
      'refuse',
      'consent page refused inside a frame',
      consentFrame && !framedApprove && controlLoaded,
      `consent frame url=${consentFrame?.url()} approve button=${!!framedApprove}; control frame loaded=${!!controlLoaded}; console: ${consoleLines
        .filter((l) => /frame|ancestor/i.test(l))
        .join(' | ')
        .slice(0, 300)}`,
    );
  } finally {
    cb.close();
  }
}

// ---- conformance mode -----------------------------------------------------------------------------

async function runConformance() {
  for (const key of ['node', 'conformanceCli', 'outDir']) {
    if (!settings[key]) throw new Error(`conformance mode needs "${key}"`);
  }
  browser = await launchBrowser();
  const page = await browser.newPage();
  await signInOperator(page);
  const issuer = origin;
  const metadata = (await http('GET', `${issuer}/.well-known/oauth-authorization-server`)).json ?? {};
  const port = await freePort();
  const redirectUri = `http://127.0.0.1:${port}/callback`;
  // settings.clientAuth (e.g. "client_secret_post"): a confidential client, its secret passed on.
  const registered = await register(metadata, redirectUri, 'MCP conformance suite', settings.clientAuth ?? 'none');
  const clientId = typeof registered === 'string' ? registered : registered.clientId;
  const args = [settings.conformanceCli, 'authorization', '--url', issuer, '--client-id', clientId, '-p', String(port), '-o', settings.outDir];
  if (typeof registered !== 'string') args.push('--client-secret', registered.secret ?? '');
  if (settings.noResource !== true) args.push('--resource', mcpUrl);
  console.error(`running: node ${args.join(' ').replace(/--client-secret \S+/, '--client-secret …')}`);
  runner = spawn(settings.node, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let printedUrl;
  let buffered = '';
  const exited = new Promise((r) => runner.on('exit', (code, signal) => r({ code, signal })));
  const urlSeen = new Promise((resolveUrl) => {
    runner.stdout.on('data', (chunk) => {
      process.stderr.write(`[conformance] ${chunk}`);
      buffered += chunk;
      const line = buffered.split('\n').find((l) => l.startsWith(`${metadata.authorization_endpoint}?`));
      if (line && !printedUrl) {
        printedUrl = line.trim();
        resolveUrl(printedUrl);
      }
    });
  });
  runner.stderr.on('data', (chunk) => process.stderr.write(`[conformance:err] ${chunk}`));
  const url = await withTimeout(Promise.race([urlSeen, exited.then(() => undefined)]), STEP_MS * 2, 'the suite printing the authorization URL');
  check('conformance', 'suite prints the authorization URL', url, url ? url.replace(/code_challenge=[^&]+/, 'code_challenge=…') : 'none printed');
  if (url) {
    const q = new URL(url).searchParams;
    note(`the suite's authorization request carries: ${[...q.keys()].join(', ')}`);
    const response = await page.goto(url, { waitUntil: 'load', timeout: STEP_MS });
    const consent = await readConsent(page);
    check(
      'conformance',
      'consent page for the suite',
      response.status() === 200 && consent.approve && consent.clientName === 'MCP conformance suite',
      `${response.status()} client=${consent.clientName} everything=${JSON.stringify(consent.everything)} tags=${consent.tags.map((t) => t.value).join(',')}`,
    );
    const approved = await approve(page);
    check('conformance', 'browser reached the suite callback', approved.url.startsWith(redirectUri), landed(approved));
  }
  const ended = await withTimeout(exited, STEP_MS * 2, 'the suite finishing').catch((e) => ({ code: null, signal: errText(e) }));
  if (ended.code === null && runner.exitCode === null) runner.kill('SIGKILL');
  timings.conformanceExit = ended.code;
  note(`suite exit ${ended.code}${ended.signal ? ` (${ended.signal})` : ''}`);
}

// ---- main -------------------------------------------------------------------------------------

try {
  if (settings.mode === 'flow') await runFlow();
  else if (settings.mode === 'refusals') await runRefusals();
  else if (settings.mode === 'conformance') await runConformance();
  else throw new Error(`unknown mode ${settings.mode}`);
} catch (e) {
  check(settings.mode, 'script ran to the end', false, e instanceof Error ? e.stack : String(e));
} finally {
  try {
    await withTimeout(browser?.close() ?? Promise.resolve(), 5_000, 'closing chromium');
  } catch {
    try {
      browser?.process()?.kill('SIGKILL');
    } catch {}
  }
}
finish(0);
