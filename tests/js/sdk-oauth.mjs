// The official TypeScript SDK client through 1mcp's whole OAuth 2.1 flow: Client +
// StreamableHTTPClientTransport with an `authProvider` (OAuthClientProvider). The first connect
// gets a 401; the SDK discovers the protected resource metadata (RFC 9728) and the authorization
// server metadata (RFC 8414), registers (RFC 7591) or names a Client ID Metadata Document, makes a
// PKCE S256 authorization request and calls redirectToAuthorization(url). There this script plays
// the operator's browser: signed in through the one-time operator link (`1mcp auth link`, given in
// ONEMCP_OPERATOR_LINK), it opens the consent page, approves only the tag ONEMCP_TAG (default
// alpha), and reads the code from the 303's Location. transport.finishAuth(code) redeems it; a new
// connection lists the tools (only that tag's), calls one, is refused the other tag's, then has its
// stored access token spoiled so that the next call's 401 makes the SDK refresh (rotation) and
// retry, which must succeed in the same session.
//
// Usage: node sdk-oauth.mjs <daemon MCP URL> dcr|cimd   (node 22 from target/js; ONEMCP_JS_DIR as
// for sdk-clients.mjs). In `cimd` mode the script serves its Client ID Metadata Document on
// http://127.0.0.1:<port>/client.json (http on loopback is accepted by a loopback daemon) and uses
// that URL as client_id: the SDK's `clientMetadataUrl` insists on https, so the script hands the
// SDK the URL as stored client information, and the SDK skips registration.
// Prints one JSON line last: {"sdk":"typescript-oauth","checks":[...],"loginMs":N}. Exits 0 when
// the script ran to the end, whatever the checks say; the Rust test judges.

import http from 'node:http';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const jsDir = process.env.ONEMCP_JS_DIR ?? resolve(here, '../../target/js');
const sdk = (path) =>
  import(pathToFileURL(join(jsDir, 'node_modules/@modelcontextprotocol/sdk/dist/esm', path)).href);

const { Client } = await sdk('client/index.js');
const { StreamableHTTPClientTransport } = await sdk('client/streamableHttp.js');
const { UnauthorizedError } = await sdk('client/auth.js');

const [url, mode] = process.argv.slice(2);
const operatorLink = process.env.ONEMCP_OPERATOR_LINK;
const tag = process.env.ONEMCP_TAG ?? 'alpha';
const otherTag = tag === 'alpha' ? 'beta' : 'alpha';
if (!url || !['dcr', 'cimd'].includes(mode) || !operatorLink) {
  console.error('usage: ONEMCP_OPERATOR_LINK=... node sdk-oauth.mjs <MCP URL> dcr|cimd');
  process.exit(64);
}
const label = mode.toUpperCase();

/** Upper bound for any one round trip. */
const STEP_MS = 20_000;
/** Where the authorization server sends the browser back (never listened on: the code is read
 * from the consent answer's Location, as a native app's loopback listener would receive it). */
const REDIRECT = 'http://127.0.0.1:47321/callback';

const checks = [];
const check = (client, name, ok, detail) => {
  checks.push({ client, check: name, ok: Boolean(ok), detail: String(detail ?? '') });
  console.error(`${ok ? 'PASS' : 'FAIL'} ${client} ${name}: ${detail ?? ''}`);
};
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const withTimeout = (promise, ms, what) =>
  Promise.race([promise, sleep(ms).then(() => Promise.reject(new Error(`timed out after ${ms} ms: ${what}`)))]);
const errText = (e) => (e instanceof Error ? e.message : String(e));
const textOf = (result) => (result?.content ?? []).map((c) => c.text ?? '').join('\n');
const bounded = (input, init = {}) => fetch(input, { ...init, signal: AbortSignal.timeout(STEP_MS) });

/** Every request the SDK makes (URL, method, form body of token requests), for the checks. */
const sent = [];
const loggingFetch = async (input, init) => {
  const target = new URL(typeof input === 'string' || input instanceof URL ? input : input.url);
  const body = init?.body ? String(init.body) : '';
  const response = await fetch(input, init);
  sent.push({ method: init?.method ?? 'GET', path: target.pathname, body, status: response.status });
  return response;
};

/** The Client ID Metadata Document host (cimd mode): counts the daemon's fetches. */
async function startDocumentHost() {
  const fetched = [];
  const server = http.createServer((req, res) => {
    fetched.push(req.url);
    if (req.url !== '/client.json') {
      res.writeHead(404).end();
      return;
    }
    res.writeHead(200, { 'content-type': 'application/json' }).end(
      JSON.stringify({
        client_id: documentUrl,
        client_name: 'onemcp SDK client (metadata document)',
        redirect_uris: [REDIRECT],
        grant_types: ['authorization_code', 'refresh_token'],
        response_types: ['code'],
        token_endpoint_auth_method: 'none',
      }),
    );
  });
  await new Promise((ok) => server.listen(0, '127.0.0.1', ok));
  const documentUrl = `http://127.0.0.1:${server.address().port}/client.json`;
  return { server, fetched, documentUrl };
}

/** The operator's browser: the cookie from the one-time link. */
async function signIn() {
  const landing = await bounded(operatorLink, { redirect: 'manual' });
  const cookie = landing.headers.get('set-cookie')?.split(';')[0];
  check('operator', 'sign-in', landing.status === 303 && cookie, `HTTP ${landing.status}, cookie ${cookie ? 'set' : 'missing'}`);
  return cookie;
}

/** The OAuthClientProvider: in-memory storage, and a browser that is the operator. */
class Provider {
  constructor(cookie, documentUrl) {
    this.cookie = cookie;
    this.documentUrl = documentUrl;
    this._client = documentUrl ? { client_id: documentUrl } : undefined;
    this._tokens = undefined;
    this._verifier = undefined;
    this._state = undefined;
    this.registered = [];
    this.savedTokens = [];
    this.authorizationUrls = [];
    this.redirect = undefined; // { code, state, iss, status }
  }
  get redirectUrl() {
    return REDIRECT;
  }
  get clientMetadata() {
    return {
      client_name: 'onemcp SDK client (TypeScript)',
      redirect_uris: [REDIRECT],
      grant_types: ['authorization_code', 'refresh_token'],
      response_types: ['code'],
      token_endpoint_auth_method: 'none',
    };
  }
  state() {
    this._state = `state-${Math.random().toString(36).slice(2)}`;
    return this._state;
  }
  clientInformation() {
    return this._client;
  }
  saveClientInformation(info) {
    this.registered.push(info);
    this._client = info;
  }
  tokens() {
    return this._tokens;
  }
  saveTokens(tokens) {
    this.savedTokens.push(tokens);
    this._tokens = tokens;
  }
  saveCodeVerifier(verifier) {
    this._verifier = verifier;
  }
  codeVerifier() {
    return this._verifier;
  }
  /** Plays the browser: consent page with the operator cookie, approve `tag` only, read the code. */
  async redirectToAuthorization(authorizationUrl) {
    this.authorizationUrls.push(String(authorizationUrl));
    const page = await bounded(authorizationUrl, { headers: { cookie: this.cookie } });
    const html = await page.text();
    const field = (name) => new RegExp(`name="${name}" value="([^"]*)"`).exec(html)?.[1];
    const offered = [...html.matchAll(/name="tag" value="([^"]+)"/g)].map((m) => m[1]);
    check(label, 'consent-page', page.status === 200 && field('csrf') && offered.includes(tag), `HTTP ${page.status}; tags offered: ${offered.join(', ')}`);
    const form = new URLSearchParams({ request: field('request') ?? '', csrf: field('csrf') ?? '', decision: 'approve' });
    form.append('tag', tag);
    const answer = await bounded(new URL('/oauth/consent', authorizationUrl), {
      method: 'POST',
      headers: { cookie: this.cookie, 'content-type': 'application/x-www-form-urlencoded' },
      body: form,
      redirect: 'manual',
    });
    const location = answer.headers.get('location') ?? '';
    const params = location ? new URL(location).searchParams : new URLSearchParams();
    this.redirect = { status: answer.status, location, code: params.get('code'), state: params.get('state'), iss: params.get('iss') };
  }
}

async function main() {
  const host = mode === 'cimd' ? await startDocumentHost() : undefined;
  const cookie = await signIn();
  const provider = new Provider(cookie, host?.documentUrl);
  const issuer = new URL(url).origin;

  // 1. Connect: 401, discovery, registration (or the document), PKCE, consent.
  const first = new Client({ name: `onemcp-sdk-oauth-${mode}`, version: '1.0.0' });
  const firstTransport = new StreamableHTTPClientTransport(new URL(url), { authProvider: provider, fetch: loggingFetch });
  let firstError;
  const started = Date.now();
  try {
    await withTimeout(first.connect(firstTransport), STEP_MS, 'first connect');
  } catch (e) {
    firstError = e;
  }
  check(label, 'first-connect-needs-login', firstError instanceof UnauthorizedError, firstError ? errText(firstError) : 'connected without logging in');
  const firstMcp = sent.find((r) => r.path === '/mcp');
  const prm = sent.find((r) => r.path.startsWith('/.well-known/oauth-protected-resource'));
  const asm = sent.find((r) => r.path === '/.well-known/oauth-authorization-server' || r.path === '/.well-known/openid-configuration');
  check(label, 'discovery', firstMcp?.status === 401 && prm?.status === 200 && asm?.status === 200, `mcp ${firstMcp?.status}, ${prm?.path} ${prm?.status}, ${asm?.path} ${asm?.status}`);
  const registrations = sent.filter((r) => r.path === '/register');
  if (mode === 'dcr') {
    const id = provider.registered[0]?.client_id ?? '';
    check(label, 'dynamic-registration', registrations.length === 1 && registrations[0].status === 201 && id.startsWith('1mcp_c_'), `register ${registrations.map((r) => r.status).join(',')}; client_id ${id}`);
  } else {
    check(label, 'metadata-document', registrations.length === 0 && host.fetched.includes('/client.json'), `register calls: ${registrations.length}; document fetched: ${JSON.stringify(host.fetched)}`);
  }
  const authUrl = new URL(provider.authorizationUrls[0] ?? 'http://invalid/');
  const wantedId = mode === 'cimd' ? host.documentUrl : provider.registered[0]?.client_id;
  check(
    label,
    'pkce-authorization-request',
    authUrl.searchParams.get('code_challenge_method') === 'S256' && (authUrl.searchParams.get('code_challenge') ?? '').length === 43 && authUrl.searchParams.get('client_id') === wantedId && authUrl.searchParams.get('resource') === url,
    `challenge method ${authUrl.searchParams.get('code_challenge_method')}, resource ${authUrl.searchParams.get('resource')}, scope ${authUrl.searchParams.get('scope')}`,
  );
  const redirect = provider.redirect ?? {};
  check(label, 'consent-approved', redirect.status === 303 && redirect.code && redirect.state === provider._state && redirect.iss === issuer, `HTTP ${redirect.status}; state ${redirect.state === provider._state ? 'matches' : 'differs'}; iss ${redirect.iss}`);

  // 2. The code for tokens (the SDK sends the PKCE verifier), then a new connection.
  try {
    await withTimeout(firstTransport.finishAuth(redirect.code), STEP_MS, 'finishAuth');
  } catch (e) {
    check(label, 'token', false, errText(e));
  }
  const exchange = sent.find((r) => r.path === '/token' && r.body.includes('grant_type=authorization_code'));
  const granted = provider._tokens ?? {};
  check(
    label,
    'token',
    exchange?.status === 200 && exchange.body.includes('code_verifier=') && granted.access_token?.startsWith('1mcp_at_') && granted.refresh_token?.startsWith('1mcp_rt_') && granted.scope === `tag:${tag}`,
    `HTTP ${exchange?.status}; scope ${granted.scope}; expires_in ${granted.expires_in}`,
  );

  const client = new Client({ name: `onemcp-sdk-oauth-${mode}`, version: '1.0.0' });
  const transport = new StreamableHTTPClientTransport(new URL(url), { authProvider: provider, fetch: loggingFetch });
  await withTimeout(client.connect(transport), STEP_MS, 'connect with the token');
  const { tools } = await withTimeout(client.listTools(), STEP_MS, 'tools/list');
  const names = tools.map((t) => t.name);
  check(label, 'sees-only-its-tag', names.length > 0 && names.every((n) => n.startsWith(`${tag}_1mcp_`)), names.join(', '));
  const echo = await withTimeout(client.callTool({ name: `${tag}_1mcp_echo`, arguments: { text: `hello-${mode}` } }), STEP_MS, 'echo');
  const loginMs = Date.now() - started;
  check(label, 'tool-call', !echo.isError && textOf(echo) === `${tag}: hello-${mode}`, `${textOf(echo)} (${loginMs} ms from the first 401)`);
  let refusal = '';
  try {
    const other = await withTimeout(client.callTool({ name: `${otherTag}_1mcp_echo`, arguments: { text: 'x' } }), STEP_MS, 'other echo');
    refusal = other.isError ? `tool error: ${textOf(other)}` : '';
    if (!refusal) check(label, 'other-tag-refused', false, `called: ${textOf(other)}`);
  } catch (e) {
    refusal = errText(e);
  }
  if (refusal) check(label, 'other-tag-refused', !refusal.includes(`${otherTag}: x`), refusal.slice(0, 200));

  // 3. Refresh: the stored access token goes bad; the next call's 401 makes the SDK refresh.
  const before = provider._tokens;
  provider._tokens = { ...before, access_token: '1mcp_at_e30.spoiled' };
  const session = transport.sessionId;
  let again;
  try {
    again = await withTimeout(client.callTool({ name: `${tag}_1mcp_echo`, arguments: { text: 'after-refresh' } }), STEP_MS, 'echo after refresh');
  } catch (e) {
    check(label, 'refresh', false, errText(e));
  }
  const refreshes = sent.filter((r) => r.path === '/token' && r.body.includes('grant_type=refresh_token'));
  const after = provider._tokens ?? {};
  check(
    label,
    'refresh',
    refreshes.length === 1 && refreshes[0].status === 200 && after.refresh_token !== before.refresh_token && after.access_token !== before.access_token && after.scope === `tag:${tag}`,
    `refresh requests ${refreshes.map((r) => r.status).join(',')}; refresh token ${after.refresh_token !== before.refresh_token ? 'rotated' : 'unchanged'}`,
  );
  check(label, 'call-after-refresh', again && !again.isError && textOf(again) === `${tag}: after-refresh` && transport.sessionId === session, `${textOf(again)}; same session: ${transport.sessionId === session}`);
  check(label, 'one-login-only', provider.authorizationUrls.length === 1, `authorization requests: ${provider.authorizationUrls.length}`);

  await withTimeout(transport.terminateSession?.() ?? Promise.resolve(), 5_000, 'DELETE').catch(() => {});
  await withTimeout(client.close(), 5_000, 'close').catch(() => {});
  host?.server.close();
  return loginMs;
}

let loginMs;
try {
  loginMs = await main();
} catch (e) {
  check('-', 'script', false, `crashed: ${e?.stack ?? e}`);
}
console.log(JSON.stringify({ sdk: 'typescript-oauth', checks, loginMs }));
process.exit(0);
