// 1mcp as the OAuth client of a protected backend, end to end against real parts
// (tests/tests/backend_oauth_e2e.rs). Two modes:
//
//   node backend-oauth-e2e.mjs serve '{"accessTokenTtl": 6}'
//
//     Starts, each on a free 127.0.0.1 port:
//     - an authorization server: npm `oidc-provider` (the certified Node implementation) with the
//       authorization code grant (PKCE required), refresh tokens (rotated, as it does for public
//       clients), open dynamic registration (RFC 7591), resource indicators (RFC 8707) so that
//       access tokens are JWTs (RFC 9068) for the MCP server's URL, living `accessTokenTtl`
//       seconds, the `iss` authorization response parameter (RFC 9207), and its development
//       login and consent pages (any login name, any password);
//     - a protected MCP server written with the official TypeScript SDK (1.x): stateless
//       Streamable HTTP at /mcp behind the SDK's requireBearerAuth, which verifies each JWT
//       against the provider's JWKS (issuer, audience = the resource URL, expiry, scope
//       `mcp:tools`) and answers 401 with `WWW-Authenticate: Bearer ..., resource_metadata=...`;
//       RFC 9728 metadata from the SDK's mcpAuthMetadataRouter; one tool, `whoami`, answering
//       the token's `sub` and the number of calls so far.
//     Prints one JSON line: {"mcp": "<url>/mcp", "issuer": "<url>", "stats": "<url>/test/stats",
//     "secrets": "<url>/test/secrets"}. GET /test/stats: what both servers counted (calls
//     answered, 401s and why, distinct access tokens seen as hashes, token endpoint grants,
//     registrations, authorization requests). POST /test/revoke: the access tokens accepted so
//     far are refused from now on (a 401 before they expire, as after a revocation).
//     GET /test/secrets: every credential the provider issued or received (access and refresh
//     tokens, codes, PKCE verifiers, state values, client secrets, registration access tokens)
//     for the test to grep the logs for. Nothing secret is ever printed. Exits when its stdin
//     closes (or after MAX_LIFE_MS).
//
//   node backend-oauth-e2e.mjs browser '<JSON settings>'
//
//     settings: {"operatorLink": "<daemon>/oauth/operator?code=...", "authorizeUrl":
//     "<daemon>/oauth/authorize/<server>", "chromium": "/usr/bin/chromium", "profileDir": "<empty
//     dir>", "login": "<account name>"}. Debian's chromium (headless, through puppeteer-core)
//     signs in as 1mcp's operator with the one-time link, opens the authorize page (a 303 to the
//     provider), fills the provider's login page, approves its consent page and lands on 1mcp's
//     callback page. Prints one JSON line last: {"checks": [{"client","check","ok","detail"}],
//     "timings": {...}, "notes": [...]}; no URL with its query (codes, state) is printed.
//
// ONEMCP_JS_DIR points at target/js (default ../../target/js from this file).

import { createHash, generateKeyPairSync, randomBytes } from 'node:crypto';
import http from 'node:http';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const jsDir = process.env.ONEMCP_JS_DIR ?? resolve(here, '../../target/js');
const load = (path) => import(pathToFileURL(join(jsDir, 'node_modules', path)).href);

const [mode, settingsText] = process.argv.slice(2);
const settings = JSON.parse(settingsText ?? '{}');

/** Upper bound for one browser step (a page load, a click and its navigation). */
const STEP_MS = 20_000;
/** Upper bound for the browser mode as a whole. */
const BROWSER_MS = 90_000;
/** The serve mode stops by itself after this, should its parent never close stdin. */
const MAX_LIFE_MS = 600_000;
/** The scope the MCP server requires and advertises. */
const SCOPE = 'mcp:tools';

const sha = (text) => createHash('sha256').update(text).digest('hex').slice(0, 16);
const errText = (e) => (e instanceof Error ? `${e.name}: ${e.message}` : String(e));

if (mode === 'serve') {
  await serve();
} else if (mode === 'browser') {
  await browse();
} else {
  console.error('usage: backend-oauth-e2e.mjs serve \'{"accessTokenTtl": N}\' | browser \'<settings>\'');
  process.exit(64);
}

// ---- serve mode: the authorization server and the protected MCP server ---------------------------

async function listen(server) {
  await new Promise((ok, fail) => {
    server.once('error', fail);
    server.listen(0, '127.0.0.1', ok);
  });
  return `http://127.0.0.1:${server.address().port}`;
}

async function serve() {
  const ttl = Number(settings.accessTokenTtl ?? 6);
  const { default: Provider, errors } = await load('oidc-provider/lib/index.js');
  const { default: express } = await load('express/index.js');
  const jose = await load('jose/dist/webapi/index.js');
  const sdk = (path) => load(`@modelcontextprotocol/sdk/dist/esm/${path}`);
  const { McpServer } = await sdk('server/mcp.js');
  const { StreamableHTTPServerTransport } = await sdk('server/streamableHttp.js');
  const { requireBearerAuth } = await sdk('server/auth/middleware/bearerAuth.js');
  const { mcpAuthMetadataRouter, getOAuthProtectedResourceMetadataUrl } = await sdk('server/auth/router.js');
  const { InvalidTokenError } = await sdk('server/auth/errors.js');

  const asServer = http.createServer();
  const mcpServer = http.createServer();
  const issuer = await listen(asServer);
  const base = await listen(mcpServer);
  const resource = `${base}/mcp`;

  // What the test reads back. Secrets go to /test/secrets only, never to a log.
  const secrets = {
    accessTokens: new Set(),
    refreshTokens: new Set(),
    codes: new Set(),
    verifiers: new Set(),
    states: new Set(),
    clientSecrets: new Set(),
    registrationAccessTokens: new Set(),
  };
  const stats = {
    provider: {
      registrations: 0,
      registrationRequests: [],
      authorizationRequests: 0,
      authorizationRequestParams: [],
      redirectsWithIss: 0,
      redirectsWithoutIss: 0,
      grants: {},
      grantErrors: [],
      accessTokensIssued: 0,
    },
    mcp: {
      requests: 0,
      calls: 0,
      refused: { none: 0, expired: 0, revoked: 0, bad: 0, other: 0 },
      revocations: 0,
      distinctAccepted: 0,
      distinctPresented: 0,
      subjects: [],
    },
  };
  const accepted = new Set();
  const presented = new Set();
  const subjects = new Set();

  // ---- the authorization server
  const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const signingKey = { ...privateKey.export({ format: 'jwk' }), kid: `rs-${sha(String(Math.random()))}`, alg: 'RS256', use: 'sig' };
  const provider = new Provider(issuer, {
    jwks: { keys: [signingKey] },
    cookies: { keys: [randomBytes(32).toString('hex')] },
    // Any login name is an account.
    findAccount: async (_ctx, id) => ({ accountId: id, claims: async () => ({ sub: id }) }),
    scopes: ['openid', 'offline_access', SCOPE],
    features: {
      devInteractions: { enabled: true },
      registration: { enabled: true },
      resourceIndicators: {
        enabled: true,
        defaultResource: () => resource,
        useGrantedResource: () => true,
        getResourceServerInfo: (_ctx, indicator) => {
          if (indicator !== resource) throw new errors.InvalidTarget();
          return {
            scope: SCOPE,
            audience: resource,
            accessTokenTTL: ttl,
            accessTokenFormat: 'jwt',
            jwt: { sign: { alg: 'RS256' } },
          };
        },
      },
    },
    // Refresh tokens for every client allowed the grant, `offline_access` or not (an MCP
    // client asks for the resource's scopes only).
    issueRefreshToken: async (_ctx, client) => client.grantTypeAllowed('refresh_token'),
    pkce: { required: () => true },
  });
  provider.on('server_error', (_ctx, err) => console.error(`provider server_error: ${errText(err)}`));
  for (const event of ['grant.error', 'registration_create.error', 'authorization.error', 'discovery.error']) {
    provider.on(event, (_ctx, err) => {
      const line = `${event}: ${err?.error ?? err?.name} ${err?.error_description ?? ''} ${err?.error_detail ?? ''}`.trim();
      console.error(`provider ${line}`);
      if (event === 'grant.error') stats.provider.grantErrors.push(line);
    });
  }
  provider.use(async (ctx, next) => {
    await next();
    const path = ctx.path;
    if (ctx.method === 'POST' && path === '/token') {
      const params = ctx.oidc?.params ?? {};
      const grant = String(params.grant_type ?? '?');
      for (const [key, set] of [['code', secrets.codes], ['code_verifier', secrets.verifiers], ['refresh_token', secrets.refreshTokens]]) {
        if (params[key]) set.add(String(params[key]));
      }
      const counts = (stats.provider.grants[grant] ??= { ok: 0, failed: 0 });
      const body = ctx.body && typeof ctx.body === 'object' ? ctx.body : {};
      if (ctx.status === 200) {
        counts.ok += 1;
        if (body.access_token) {
          secrets.accessTokens.add(body.access_token);
          stats.provider.accessTokensIssued += 1;
        }
        if (body.refresh_token) secrets.refreshTokens.add(body.refresh_token);
      } else {
        counts.failed += 1;
      }
      console.error(`provider token ${grant}: ${ctx.status}${body.error ? ` ${body.error}` : ''}`);
    } else if (ctx.method === 'POST' && path === '/reg') {
      const body = ctx.body && typeof ctx.body === 'object' ? ctx.body : {};
      if (ctx.status === 201) stats.provider.registrations += 1;
      if (body.client_secret) secrets.clientSecrets.add(body.client_secret);
      if (body.registration_access_token) secrets.registrationAccessTokens.add(body.registration_access_token);
      // What 1mcp asked for, without anything secret in it.
      const asked = ctx.oidc?.body ?? ctx.request.body ?? {};
      stats.provider.registrationRequests.push({
        status: ctx.status,
        application_type: asked.application_type,
        token_endpoint_auth_method: asked.token_endpoint_auth_method,
        grant_types: asked.grant_types,
        redirect_uris: asked.redirect_uris,
        scope: asked.scope,
        error: body.error,
        error_description: body.error_description,
      });
      console.error(`provider registration: ${ctx.status}${body.error ? ` ${body.error} ${body.error_description ?? ''}` : ''}`);
    } else if (path === '/auth' || path.startsWith('/auth/')) {
      if (path === '/auth') {
        stats.provider.authorizationRequests += 1;
        const q = ctx.query ?? {};
        if (q.state) secrets.states.add(String(q.state));
        stats.provider.authorizationRequestParams.push({
          response_type: q.response_type,
          code_challenge_method: q.code_challenge_method,
          has_code_challenge: Boolean(q.code_challenge),
          resource: q.resource,
          scope: q.scope,
          redirect_uri: q.redirect_uri,
        });
      }
      const location = ctx.response.get('location') ?? '';
      const code = /[?&]code=([^&#]+)/.exec(location);
      if (code) {
        secrets.codes.add(decodeURIComponent(code[1]));
        if (/[?&]iss=/.test(location)) stats.provider.redirectsWithIss += 1;
        else stats.provider.redirectsWithoutIss += 1;
      }
      const error = /[?&]error=([^&#]+)/.exec(location);
      if (error) console.error(`provider authorization error redirect: ${decodeURIComponent(error[1])}`);
    }
  });
  const providerHandler = provider.callback();
  asServer.on('request', (req, res) => providerHandler(req, res));

  const discovery = await (await fetch(`${issuer}/.well-known/openid-configuration`, { signal: AbortSignal.timeout(10_000) })).json();

  // ---- the protected MCP server
  const jwks = jose.createRemoteJWKSet(new URL(discovery.jwks_uri));
  /** Why the last presentation of a token (by hash) was refused. */
  const refusal = new Map();
  /** Tokens (by hash) refused from now on, as if revoked (POST /test/revoke). */
  const revoked = new Set();
  const verifier = {
    async verifyAccessToken(token) {
      const key = sha(token);
      presented.add(key);
      if (revoked.has(key)) {
        refusal.set(key, 'revoked');
        throw new InvalidTokenError('Token was revoked');
      }
      try {
        const { payload } = await jose.jwtVerify(token, jwks, {
          issuer: discovery.issuer,
          audience: resource,
          typ: 'at+jwt',
        });
        accepted.add(key);
        return {
          token,
          clientId: String(payload.client_id ?? ''),
          scopes: String(payload.scope ?? '').split(' ').filter(Boolean),
          expiresAt: payload.exp,
          resource: new URL(resource),
          extra: { sub: payload.sub },
        };
      } catch (e) {
        refusal.set(key, e?.code === 'ERR_JWT_EXPIRED' ? 'expired' : 'bad');
        throw new InvalidTokenError(e?.code === 'ERR_JWT_EXPIRED' ? 'Token has expired' : 'Invalid token');
      }
    },
  };
  const app = express();
  app.disable('x-powered-by');
  app.get('/test/stats', (_req, res) => {
    stats.mcp.distinctAccepted = accepted.size;
    stats.mcp.distinctPresented = presented.size;
    stats.mcp.subjects = [...subjects];
    res.json(stats);
  });
  // Every access token accepted so far is refused from now on: the next request gets a 401
  // although its token has not expired, as after a revocation.
  app.post('/test/revoke', (_req, res) => {
    for (const key of accepted) revoked.add(key);
    stats.mcp.revocations += 1;
    console.error(`mcp: ${revoked.size} access token(s) revoked`);
    res.json({ revoked: revoked.size });
  });
  app.get('/test/secrets', (_req, res) => {
    res.json(Object.fromEntries(Object.entries(secrets).map(([k, v]) => [k, [...v]])));
  });
  app.use(
    mcpAuthMetadataRouter({
      oauthMetadata: discovery,
      resourceServerUrl: new URL(resource),
      scopesSupported: [SCOPE],
      resourceName: '1mcp e2e protected server',
    }),
  );
  // Counts each 401 by why: no token, an expired one, or one that does not verify.
  const countRefusals = (req, res, next) => {
    stats.mcp.requests += 1;
    res.on('finish', () => {
      if (res.statusCode !== 401) return;
      const [type, token] = String(req.headers.authorization ?? '').split(' ');
      const why = !type ? 'none' : refusal.get(sha(token ?? '')) ?? 'other';
      stats.mcp.refused[why] += 1;
      console.error(`mcp: 401 (${why}) for ${req.method} ${req.path}`);
    });
    next();
  };
  const bearer = requireBearerAuth({
    verifier,
    requiredScopes: [SCOPE],
    resourceMetadataUrl: getOAuthProtectedResourceMetadataUrl(new URL(resource)),
    expectedResource: new URL(resource),
  });
  let calls = 0;
  function mcp() {
    const server = new McpServer({ name: 'e2e-protected', version: '1.0.0' });
    server.registerTool('whoami', { description: 'Who the access token is for, and the number of calls so far' }, async (extra) => {
      calls += 1;
      stats.mcp.calls = calls;
      const sub = String(extra?.authInfo?.extra?.sub ?? '?');
      subjects.add(sub);
      return { content: [{ type: 'text', text: `sub=${sub} call=${calls}` }] };
    });
    return server;
  }
  app.post('/mcp', countRefusals, bearer, express.json({ limit: '1mb' }), async (req, res) => {
    const server = mcp();
    const transport = new StreamableHTTPServerTransport({ sessionIdGenerator: undefined, enableJsonResponse: true });
    res.on('close', () => {
      transport.close().catch(() => {});
      server.close().catch(() => {});
    });
    try {
      await server.connect(transport);
      await transport.handleRequest(req, res, req.body);
    } catch (e) {
      console.error(`mcp: ${errText(e)}`);
      if (!res.headersSent) res.status(500).json({ jsonrpc: '2.0', error: { code: -32603, message: 'internal error' }, id: null });
    }
  });
  const notAllowed = (_req, res) =>
    res.status(405).set('Allow', 'POST').json({ jsonrpc: '2.0', error: { code: -32000, message: 'Method not allowed' }, id: null });
  app.get('/mcp', countRefusals, bearer, notAllowed);
  app.delete('/mcp', countRefusals, bearer, notAllowed);
  mcpServer.on('request', app);

  process.stdout.write(`${JSON.stringify({ mcp: resource, issuer, stats: `${base}/test/stats`, secrets: `${base}/test/secrets` })}\n`);
  console.error(`serving: provider ${issuer}, MCP server ${resource}, access tokens live ${ttl} s`);
  const stop = () => process.exit(0);
  setTimeout(() => {
    console.error(`backend-oauth-e2e.mjs: still running after ${MAX_LIFE_MS} ms, stopping`);
    stop();
  }, MAX_LIFE_MS).unref();
  process.stdin.resume();
  process.stdin.on('end', stop);
  process.stdin.on('close', stop);
}

// ---- browser mode: the operator authorizes 1mcp in chromium ---------------------------------------

async function browse() {
  for (const key of ['operatorLink', 'authorizeUrl', 'chromium', 'profileDir', 'login']) {
    if (!settings[key]) {
      console.error(`backend-oauth-e2e.mjs browser: settings lack "${key}"`);
      process.exit(64);
    }
  }
  const { default: puppeteer } = await load('puppeteer-core/lib/puppeteer/puppeteer-core.js');
  const checks = [];
  const timings = {};
  const notes = [];
  const check = (client, name, ok, detail) => {
    checks.push({ client, check: name, ok: Boolean(ok), detail: String(detail ?? '') });
    console.error(`${ok ? 'PASS' : 'FAIL'} ${client} ${name}: ${detail ?? ''}`);
  };
  /** A URL without its query or fragment (codes, state) and without the provider's interaction
   * handles. */
  const bare = (url) => {
    try {
      const u = new URL(url);
      const path = u.pathname.replace(/^\/(interaction|auth)\/[^/]+/, '/$1/…');
      return `${u.origin}${path}${u.search ? '?…' : ''}`;
    } catch {
      return '(not a URL)';
    }
  };
  /** What an error says, any query string in it left out. */
  const scrubbed = (e) => errText(e).replace(/\?[^\s'"]*/g, '?…');
  let browser;
  const finish = (code) => {
    clearTimeout(watchdog);
    console.log(JSON.stringify({ checks, timings, notes }));
    process.exit(code);
  };
  const watchdog = setTimeout(() => {
    console.error(`backend-oauth-e2e.mjs browser: still running after ${BROWSER_MS} ms, stopping`);
    try {
      browser?.process()?.kill('SIGKILL');
    } catch {}
    check('browser', 'finished in time', false, `${BROWSER_MS} ms`);
    finish(3);
  }, BROWSER_MS);

  /** The text of the first element `selector` matches, shortened. The provider's development
   * pages also show the request's parameters (state among them): only their title and their
   * list of scopes are read. */
  const text = async (page, selector) =>
    (await page.$eval(selector, (e) => e.innerText ?? '').catch(() => '')).replace(/\s+/g, ' ').slice(0, 200);
  const title = async (page) => (await page.title().catch(() => '')).slice(0, 80);
  /** Clicks `selector` and waits for the navigation it starts (and the redirects after it). */
  const submit = async (page, selector) => {
    const [response] = await Promise.all([
      page.waitForNavigation({ timeout: STEP_MS, waitUntil: 'load' }).catch(() => null),
      page.click(selector),
    ]);
    return response;
  };

  const run = async () => {
    browser = await puppeteer.launch({
      executablePath: settings.chromium,
      headless: true,
      pipe: true,
      userDataDir: settings.profileDir,
      // Root in CI: chromium's sandbox needs an unprivileged user. No proxy: everything is loopback.
      args: ['--no-sandbox', '--no-first-run', '--no-default-browser-check', '--no-proxy-server', '--disable-gpu'],
      protocolTimeout: STEP_MS,
      timeout: STEP_MS,
    });
    const page = await browser.newPage();
    page.setDefaultTimeout(STEP_MS);
    const started = Date.now();

    // 1. The operator signs in to 1mcp with the one-time link.
    const signIn = await page.goto(settings.operatorLink, { waitUntil: 'load', timeout: STEP_MS });
    check('operator', 'link signs in', signIn?.status() === 200, `${signIn?.status()} at ${bare(page.url())}`);

    // 2. 1mcp's authorize page sends the browser to the provider, which asks for a login.
    const toProvider = await page.goto(settings.authorizeUrl, { waitUntil: 'load', timeout: STEP_MS });
    const chain = toProvider?.request().redirectChain() ?? [];
    const first = chain[0]?.response();
    check(
      'daemon',
      'authorize page is a 303 to the provider',
      first?.status() === 303 && new URL(chain[1]?.url() ?? page.url()).origin !== new URL(settings.authorizeUrl).origin,
      `${first?.status()} -> ${bare(chain[1]?.url() ?? page.url())}`,
    );
    const loginForm = await page.$('input[name=login]');
    check('provider', 'login page', toProvider?.status() === 200 && loginForm, `${toProvider?.status()} at ${bare(page.url())}: ${await title(page)}`);
    if (!loginForm) return;
    await page.type('input[name=login]', settings.login);
    await page.type('input[name=password]', 'any-password');
    const afterLogin = await submit(page, 'button[type=submit]');
    const consentText = `${await title(page)}: ${await text(page, 'ul')}`;
    const continueButton = await page.$('form input[name=prompt][value=consent]');
    check('provider', 'consent page', afterLogin?.status() === 200 && continueButton, `${afterLogin?.status()} at ${bare(page.url())}: ${consentText}`);
    notes.push(`consent page: ${consentText}`);
    if (!continueButton) return;

    // 3. Approving sends the browser back to 1mcp's callback, which redeems the code.
    const back = await submit(page, 'button[type=submit]');
    const landed = new URL(page.url());
    const landedText = await text(page, 'body');
    timings.authorizeToCallbackMs = Date.now() - started;
    check(
      'daemon',
      'callback page says authorized',
      back?.status() === 200 && landed.origin === new URL(settings.authorizeUrl).origin &&
        landed.pathname.startsWith('/oauth/callback/') && landedText.includes('1mcp is authorized'),
      `${back?.status()} at ${bare(page.url())}: ${landedText}`,
    );
    const hadParams = ['code', 'state', 'iss'].map((p) => `${p}:${landed.searchParams.has(p)}`).join(' ');
    notes.push(`callback query carried ${hadParams}`);
    check('provider', 'redirect carries iss (RFC 9207)', landed.searchParams.has('iss'), hadParams);
  };
  try {
    await run();
  } catch (e) {
    check('browser', 'ran to the end', false, scrubbed(e));
  } finally {
    try {
      await browser?.close();
    } catch {}
  }
  finish(0);
}
