// Real OpenID providers for the external identity provider tests (tests/tests/external_idp.rs):
// npm `oidc-provider` (the certified Node implementation), issuing signed JWT access tokens
// (RFC 9068) through the client_credentials grant for resource indicators (RFC 8707).
//
//   node oidc-provider.mjs <audience> <other-audience>
//
// Starts two providers on 127.0.0.1 (free ports), each with its own keys and so its own issuer
// (`http://127.0.0.1:<port>`), and prints one JSON line: {"issuers": [first, second]}.
// Both know two resources: <audience> (scopes tag:alpha, tag:beta) and <other-audience> (the
// same scopes: a token minted for it is another resource's). Clients (client_secret_post):
//   tester / tester-secret  tokens live 300 s
//   brief  / brief-secret   tokens live 1 s
// The first provider signs with an RS256 key; `POST /test/rotate` on it publishes a new ES256
// key beside the old one and signs new tokens with it (as a provider rotating keys does),
// answering {"kid": "<new kid>"}. The process exits when its stdin closes (its parent is gone).

import http from 'node:http';
import crypto from 'node:crypto';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const jsDir = process.env.ONEMCP_JS_DIR ?? resolve(here, '../../target/js');
const { default: Provider } = await import(
  pathToFileURL(join(jsDir, 'node_modules/oidc-provider/lib/index.js')).href
);

const [audience, otherAudience] = process.argv.slice(2);
if (!audience || !otherAudience) {
  console.error('usage: oidc-provider.mjs <audience> <other-audience>');
  process.exit(2);
}

function privateJwk(kind) {
  const { privateKey } = kind === 'RS256'
    ? crypto.generateKeyPairSync('rsa', { modulusLength: 2048 })
    : crypto.generateKeyPairSync('ec', { namedCurve: 'P-256' });
  return { ...privateKey.export({ format: 'jwk' }), kid: `${kind.toLowerCase()}-${crypto.randomUUID().slice(0, 8)}`, alg: kind, use: 'sig' };
}

const clients = [
  { client_id: 'tester', client_secret: 'tester-secret' },
  { client_id: 'brief', client_secret: 'brief-secret' },
].map((c) => ({
  ...c,
  grant_types: ['client_credentials'],
  response_types: [],
  redirect_uris: [],
  token_endpoint_auth_method: 'client_secret_post',
}));

function provider(issuer, keys, alg) {
  const p = new Provider(issuer, {
    clients,
    clientDefaults: { id_token_signed_response_alg: alg },
    jwks: { keys },
    features: {
      devInteractions: { enabled: false },
      clientCredentials: { enabled: true },
      resourceIndicators: {
        enabled: true,
        useGrantedResource: () => true,
        getResourceServerInfo: (ctx, resource, client) => {
          if (resource !== audience && resource !== otherAudience) {
            throw new Provider.errors.InvalidTarget();
          }
          return {
            scope: 'tag:alpha tag:beta',
            audience: resource,
            accessTokenTTL: client.clientId === 'brief' ? 1 : 300,
            accessTokenFormat: 'jwt',
            jwt: { sign: { alg } },
          };
        },
      },
    },
  });
  return p.callback();
}

async function serve(kind) {
  const server = http.createServer();
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  const issuer = `http://127.0.0.1:${server.address().port}`;
  const state = { keys: [privateJwk(kind)], alg: kind };
  state.handler = provider(issuer, state.keys, state.alg);
  server.on('request', (req, res) => {
    if (req.method === 'POST' && req.url === '/test/rotate') {
      const fresh = privateJwk('ES256');
      state.keys = [fresh, ...state.keys];
      state.alg = 'ES256';
      state.handler = provider(issuer, state.keys, state.alg);
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ kid: fresh.kid }));
      return;
    }
    state.handler(req, res);
  });
  return issuer;
}

const issuers = [await serve('RS256'), await serve('ES256')];
process.stdout.write(`${JSON.stringify({ issuers })}\n`);
process.stdin.resume();
process.stdin.on('end', () => process.exit(0));
process.stdin.on('close', () => process.exit(0));
