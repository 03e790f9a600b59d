/**
 * Ports for the servers tests start. A port found free and handed to another process is
 * only free until someone binds it: with test files running side by side, another one's
 * server can take it first. Servers that can bind port 0 and say which port they got are
 * started that way; one that must come back on the port it had can try again while
 * `isAddressInUse` says it is taken.
 */
import { createServer as createHttpServer } from 'node:http';
import { createServer, Server } from 'node:net';

/** A port nothing listens on right now (bound to 127.0.0.1 and released). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.on('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const a = s.address();
      const port = typeof a === 'object' && a ? a.port : 0;
      s.close(() => resolve(port));
    });
  });
}

/** Whether a server's output says the address it was to listen on was taken. */
export function isAddressInUse(output: string): boolean {
  return /address already in use|EADDRINUSE/i.test(output);
}

/** The last `127.0.0.1:<port>` a server's log gives after `marker` (its listener's address), or undefined. */
export function listenedPort(log: string, marker: RegExp): number | undefined {
  let port: number | undefined;
  for (const line of log.split('\n')) {
    if (!marker.test(line)) continue;
    const m = /127\.0\.0\.1:(\d+)/.exec(line);
    if (m && Number(m[1]) !== 0) port = Number(m[1]);
  }
  return port;
}

/**
 * From now until `restore()`, each port this process's servers release on 127.0.0.1 is bound
 * again at once by an HTTP server of its own that answers 404 (at most `limit` of them), as a
 * concurrent test's server may do: a port found with `freePort()` is then in use when it is
 * passed on.
 */
export function takeReleasedPorts(limit = Infinity): { taken: number[]; restore(): Promise<void> } {
  const close = Server.prototype.close;
  const squatters: Server[] = [];
  const taken: number[] = [];
  Server.prototype.close = function (this: Server, cb?: (err?: Error) => void): Server {
    const a = this.address();
    const port = typeof a === 'object' && a && a.address === '127.0.0.1' && !squatters.includes(this) ? a.port : 0;
    return close.call(this, (err?: Error) => {
      if (err || port === 0 || taken.length >= limit) return cb?.(err);
      const s = createHttpServer((_req, res) => res.writeHead(404).end());
      squatters.push(s);
      taken.push(port);
      s.once('error', () => cb?.());
      s.listen(port, '127.0.0.1', () => cb?.());
    });
  };
  return {
    taken,
    async restore() {
      Server.prototype.close = close;
      await Promise.all(squatters.map((s) => new Promise<void>((r) => (s.listening ? s.close(() => r()) : r()))));
    },
  };
}
