// Preloaded with `node --import` into the official conformance suite's client mode, whose mock
// servers call `listen(0)` with no host and so listen on every interface. With this preload a
// `listen` that names a port but no host (and no path or handle) listens on 127.0.0.1 instead;
// the URLs the suite hands out (`http://localhost:PORT`) still reach them. An explicit host is
// left alone.
//
// The socket is bound at once (net._createServerHandle, what cluster uses), not through
// `listen(port, host)`: that form resolves the host first, so `server.address()` would still be
// null right after `listen` returns, and several mock servers read their port right there.

import net from 'node:net';

const LOOPBACK = '127.0.0.1';
const listen = net.Server.prototype.listen;

const isPort = (value) => typeof value === 'number' || (typeof value === 'string' && /^\d+$/.test(value));

/** The port a `listen` call asks for when it names no host, or `undefined` when it names one
 * (or a path, fd or handle) and is left alone. */
function portWithoutHost(args) {
  const [first, second] = args;
  if (args.length === 0 || typeof first === 'function') return 0;
  if (isPort(first)) return typeof second === 'string' ? undefined : Number(first);
  const plainOptions =
    first && typeof first === 'object' && first.host === undefined && first.path === undefined && first.fd === undefined && first.handle === undefined && first._handle === undefined;
  return plainOptions ? Number(first.port ?? 0) : undefined;
}

net.Server.prototype.listen = function listenOnLoopback(...args) {
  const port = portWithoutHost(args);
  if (port === undefined) return listen.apply(this, args);
  const rest = typeof args[0] === 'function' ? args : args.slice(1);
  const handle = net._createServerHandle(LOOPBACK, port, 4);
  if (typeof handle === 'number') {
    // Binding failed (an errno): let listen report it the usual way, on loopback still.
    return listen.call(this, port, LOOPBACK, ...rest.filter((arg) => typeof arg === 'function'));
  }
  return listen.call(this, handle, ...rest);
};
