/**
 * The daemon's HTTP server (node:http): `/metrics`, `/healthz` and, later, `/api/*` and the
 * dashboard. Routes are registered as data: `server.route('GET', '/metrics', handler)`, or a
 * prefix: `server.route('GET', '/api/', handler, { prefix: true })`.
 *
 * Bound to loopback by default, where no token is needed. When a token is required (always
 * beyond loopback) every route, `/metrics` and `/healthz` included, needs
 * `Authorization: Bearer <token>`; the comparison is constant-time and the token is never
 * written anywhere.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createHash, timingSafeEqual } from 'node:crypto';
import type { AddressInfo, Socket } from 'node:net';
import { isLoopback } from './config.js';

export type RouteHandler = (req: IncomingMessage, res: ServerResponse, url: URL) => void | Promise<void>;

export interface HttpServerOptions {
  host: string;
  /** 0 picks a free port. */
  port: number;
  /** The bearer token; required when `requireToken`. */
  token: string | null;
  /** Every request must carry the token. */
  requireToken: boolean;
  /** Called with a failing handler's error (the client gets a 500 without details). */
  onError?: (err: unknown, req: IncomingMessage) => void;
}

interface Route {
  method: string;
  path: string;
  prefix: boolean;
  /** Served without the token: the dashboard's static files (code, no data). */
  public: boolean;
  handler: RouteHandler;
}

const digest = (s: string): Buffer => createHash('sha256').update(s, 'utf8').digest();

/** Sends a JSON body. */
export function sendJson(res: ServerResponse, status: number, body: unknown): void {
  const text = `${JSON.stringify(body)}\n`;
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'cache-control': 'no-store', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}

export class HttpServer {
  private readonly routes: Route[] = [];
  private readonly server: Server;
  private readonly sockets = new Set<Socket>();
  /** Responses not yet sent. */
  private readonly answering = new Set<ServerResponse>();
  /** SHA-256 of the token: compared in constant time whatever the presented token's length. */
  private readonly tokenDigest: Buffer | null;
  private url_ = '';

  constructor(private readonly o: HttpServerOptions) {
    if (o.requireToken && (o.token === null || o.token === '')) throw new Error('a token is required but none was given');
    this.tokenDigest = o.requireToken && o.token ? digest(o.token) : null;
    this.server = createServer((req, res) => {
      this.answering.add(res);
      res.once('close', () => this.answering.delete(res));
      void this.handle(req, res);
    });
    this.server.on('connection', (s) => {
      this.sockets.add(s);
      s.on('close', () => this.sockets.delete(s));
    });
  }

  /**
   * Registers a route; the first registered match wins. `public: true` serves it without the
   * token (only for files that hold no data, so the dashboard can load and ask for the token).
   */
  route(method: string, path: string, handler: RouteHandler, opts: { prefix?: boolean; public?: boolean } = {}): this {
    this.routes.push({ method: method.toUpperCase(), path, prefix: opts.prefix ?? false, public: opts.public ?? false, handler });
    return this;
  }

  /** The base URL once listening, e.g. `http://127.0.0.1:9471`. */
  get url(): string {
    return this.url_;
  }

  async listen(): Promise<string> {
    await new Promise<void>((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(this.o.port, this.o.host, () => {
        this.server.off('error', reject);
        resolve();
      });
    });
    const a = this.server.address() as AddressInfo;
    const host = a.family === 'IPv6' ? `[${a.address}]` : a.address;
    this.url_ = `http://${host}:${a.port}`;
    return this.url_;
  }

  /** Stops accepting, ends idle keep-alive connections, waits (bounded) for requests in progress. */
  async close(graceMs = 2000): Promise<void> {
    if (!this.server.listening) return;
    const closed = new Promise<void>((resolve) => this.server.close(() => resolve()));
    // A request answered after this would leave its connection open for keep-alive, past the
    // idle ones closed here, until the grace ends: its answer closes it instead.
    for (const res of this.answering) if (!res.headersSent) res.setHeader('connection', 'close');
    this.server.closeIdleConnections();
    const timer = setTimeout(() => {
      for (const s of this.sockets) s.destroy();
    }, graceMs);
    timer.unref();
    await closed;
    clearTimeout(timer);
  }

  private authorized(req: IncomingMessage): boolean {
    if (!this.tokenDigest) return true;
    const h = req.headers.authorization ?? '';
    const m = /^Bearer\s+(\S+)\s*$/i.exec(h);
    // Compare digests: equal lengths, constant time, and nothing learned from the length.
    return timingSafeEqual(digest(m?.[1] ?? ''), this.tokenDigest) && m !== null;
  }

  /**
   * Listening on loopback, a request must name a loopback host: a web page whose domain an
   * attacker re-points at 127.0.0.1 (DNS rebinding) is same-origin with the daemon, and without
   * this check its script could read the calls and silence every alert.
   */
  private hostAllowed(req: IncomingMessage): boolean {
    if (!isLoopback(this.o.host)) return true;
    const host = req.headers.host;
    if (host === undefined) return true;
    const name = host.startsWith('[') ? host.slice(0, host.indexOf(']') + 1) : host.replace(/:\d+$/, '');
    return isLoopback(name);
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    try {
      if (!this.hostAllowed(req)) {
        sendJson(res, 421, { error: 'misdirected_request', message: 'this daemon answers only to a loopback host name (127.0.0.1, localhost, [::1])' });
        return;
      }
      const url = new URL(req.url ?? '/', 'http://localhost');
      const method = req.method === 'HEAD' ? 'GET' : (req.method ?? 'GET');
      const matches = this.routes.filter((r) => (r.prefix ? url.pathname.startsWith(r.path) : url.pathname === r.path));
      const isPublic = matches.length > 0 && matches.find((r) => r.method === method)?.public === true;
      if (!isPublic && !this.authorized(req)) {
        res.setHeader('www-authenticate', 'Bearer realm="claudescope"');
        sendJson(res, 401, { error: 'unauthorized', message: 'this endpoint needs Authorization: Bearer <token>' });
        return;
      }
      if (matches.length === 0) {
        sendJson(res, 404, { error: 'not_found', routes: [...new Set(this.routes.map((r) => r.path))] });
        return;
      }
      const route = matches.find((r) => r.method === method);
      if (!route) {
        res.setHeader('allow', [...new Set(matches.map((r) => r.method))].join(', '));
        sendJson(res, 405, { error: 'method_not_allowed' });
        return;
      }
      await route.handler(req, res, url);
    } catch (err: unknown) {
      this.o.onError?.(err, req);
      if (!res.headersSent) sendJson(res, 500, { error: 'internal_error' });
      else res.destroy();
    }
  }
}
