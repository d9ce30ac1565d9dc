// Preloaded with `node --import` into a client that has no way of its own to present a bearer
// token: the official conformance suite's server mode (its CLI takes only --url; its scenarios
// build `new StreamableHTTPClientTransport(new URL(url))` and send raw requests with fetch or
// undici's `request`, none with an Authorization header). 1mcp runs with authentication on, as
// `1mcp serve` starts by default, so every request to ONEMCP_BEARER_ORIGIN gets
// `Authorization: Bearer $ONEMCP_TOKEN` unless it carries an Authorization header already.
// Requests to any other origin are left alone.
//
// It also wraps `node:http`'s `request`, which some scenarios use for hand-made requests (the
// 2026-07-28 header-validation ones).
//
// It installs undici's global dispatcher (the one Node's fetch, the SDK's transports and
// undici's `request` all use) wrapped in an interceptor. undici is the one the conformance suite
// itself depends on, found from target/js (ONEMCP_JS_DIR, default ../../target/js from this file).

import http from 'node:http';
import { createRequire, syncBuiltinESMExports } from 'node:module';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const jsDir = process.env.ONEMCP_JS_DIR ?? resolve(here, '../../target/js');
/** undici as the first of these packages would resolve it (npm hoists it to the top today). */
function loadUndici() {
  const bases = [
    'package.json',
    'node_modules/@modelcontextprotocol/conformance/package.json',
    'node_modules/conformance-next/package.json',
  ];
  for (const base of bases) {
    try {
      return createRequire(join(jsDir, base))('undici');
    } catch {
      // Not resolvable from there; try the next one.
    }
  }
  throw new Error(`bearer-preload.mjs: undici not found under ${jsDir} (run tests/js/setup.sh)`);
}
const { Agent, setGlobalDispatcher } = loadUndici();

const token = process.env.ONEMCP_TOKEN;
const origin = process.env.ONEMCP_BEARER_ORIGIN;
if (!token || !origin) {
  throw new Error('bearer-preload.mjs needs ONEMCP_TOKEN and ONEMCP_BEARER_ORIGIN');
}
const bearer = `Bearer ${token}`;
const isAuthorization = (name) => String(name).toLowerCase() === 'authorization';

/** `headers` (any of the shapes undici accepts) with the bearer added unless one is there. */
function withBearer(headers) {
  if (headers == null) {
    return { authorization: bearer };
  }
  if (Array.isArray(headers)) {
    if (headers.length > 0 && Array.isArray(headers[0])) {
      return headers.some(([name]) => isAuthorization(name)) ? headers : [...headers, ['authorization', bearer]];
    }
    // Flat [name, value, name, value, ...].
    for (let i = 0; i < headers.length; i += 2) {
      if (isAuthorization(headers[i])) return headers;
    }
    return [...headers, 'authorization', bearer];
  }
  if (typeof headers[Symbol.iterator] === 'function') {
    return withBearer([...headers].map(([name, value]) => [name, value]));
  }
  return Object.keys(headers).some(isAuthorization) ? headers : { ...headers, authorization: bearer };
}

const sameOrigin = (value) => {
  try {
    return new URL(String(value)).origin === origin;
  } catch {
    return false;
  }
};

setGlobalDispatcher(
  new Agent().compose((dispatch) => (options, handler) =>
    dispatch(sameOrigin(options.origin) ? { ...options, headers: withBearer(options.headers) } : options, handler),
  ),
);

// Hand-made requests through node:http to the same origin get the bearer too.
const httpRequest = http.request;
http.request = function request(options, ...rest) {
  if (options && typeof options === 'object' && !(options instanceof URL)) {
    const target = `${options.protocol ?? 'http:'}//${options.hostname ?? options.host}${options.port ? `:${options.port}` : ''}`;
    if (sameOrigin(target)) {
      return httpRequest.call(this, { ...options, headers: withBearer(options.headers) }, ...rest);
    }
  }
  return httpRequest.call(this, options, ...rest);
};
syncBuiltinESMExports();
