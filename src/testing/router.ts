/**
 * A small method + path router. Routes are data (`{ method, path, name, handler }`), so a
 * group of endpoints lives in its own module (`messages-routes.ts`, `batch-routes.ts`, the
 * Admin report routes later) and is added with `router.add(...routes)`.
 *
 * To add an endpoint: name it in `FAKE_ROUTE_NAMES` (script-types.ts, so scripts can
 * `match` it), export its `Route[]` from a module of its own, and add them to the router in
 * fake-api.ts. Handlers answer through the `RouteContext` helpers, which set the identity,
 * rate-limit and script headers and fill in the request's record.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { FakeRouteName, FakeScript, ScriptError } from './script-types.js';
import type { Consumption } from './rate-limits.js';
import type { SseFrame, SseOutcome } from './sse.js';
import type { RecordedRequest } from './recorded-request.js';
import type { BatchStore } from './batch-store.js';
import type { BillingLedger } from './billing-ledger.js';

/** What a handler gets: the parsed request, the script that answers it, response helpers. */
export interface RouteContext {
  readonly req: IncomingMessage;
  readonly res: ServerResponse;
  /** Values of the `:name` segments of the route's path, by name. */
  readonly params: Readonly<Record<string, string>>;
  readonly query: URLSearchParams;
  /** The parsed JSON body, or undefined without one. */
  readonly body: unknown;
  /** A beta call: `?beta=true` in the URL or an `anthropic-beta` header. */
  readonly beta: boolean;
  /** The script answering this request (`{}` by default). Status ≥ 400 never reaches a handler. */
  readonly script: FakeScript;
  readonly record: RecordedRequest;
  /** Aborted when the fake API closes. */
  readonly signal: AbortSignal;
  /** `http://host:port` as the client addressed the server (for `results_url`). */
  readonly baseUrl: string;
  readonly batches: BatchStore;
  /** What the fake bills (served calls, batch items, additions); read by the Admin report routes. */
  readonly billing: BillingLedger;
  /** Counts a call against the rate-limit budget (before the headers are sent). */
  consume(c: Consumption): void;
  /** Sends a JSON body with the success headers. */
  json(status: number, body: unknown): void;
  /** Sends the API's error body for `status`. */
  error(status: number, error?: ScriptError): void;
  /** Sends an SSE stream; resolves when it ended (never rejects). */
  sse(frames: readonly SseFrame[]): Promise<SseOutcome>;
  /** Sends JSON Lines. */
  jsonl(lines: readonly unknown[]): void;
}

export type RouteHandler = (ctx: RouteContext) => void | Promise<void>;

export interface Route {
  method: 'GET' | 'POST' | 'DELETE';
  /** A path with `:name` segments, e.g. `/v1/messages/batches/:id/results`. */
  path: string;
  name: FakeRouteName;
  handler: RouteHandler;
}

interface Compiled {
  route: Route;
  segments: string[];
}

export type RouteMatch =
  | { kind: 'found'; route: Route; params: Record<string, string> }
  | { kind: 'method_not_allowed'; allowed: string[] }
  | { kind: 'not_found' };

export class Router {
  readonly #routes: Compiled[] = [];

  add(...routes: Route[]): this {
    for (const route of routes) {
      if (this.#routes.some((c) => c.route.method === route.method && c.route.path === route.path)) {
        throw new Error(`route ${route.method} ${route.path} is registered twice`);
      }
      this.#routes.push({ route, segments: route.path.split('/').filter(Boolean) });
    }
    return this;
  }

  match(method: string, pathname: string): RouteMatch {
    const parts = pathname.split('/').filter(Boolean);
    const allowed: string[] = [];
    for (const { route, segments } of this.#routes) {
      const params = matchSegments(segments, parts);
      if (!params) continue;
      if (route.method === method) return { kind: 'found', route, params };
      allowed.push(route.method);
    }
    return allowed.length ? { kind: 'method_not_allowed', allowed } : { kind: 'not_found' };
  }
}

function matchSegments(pattern: string[], parts: string[]): Record<string, string> | null {
  if (pattern.length !== parts.length) return null;
  const params: Record<string, string> = {};
  for (let i = 0; i < pattern.length; i++) {
    const p = pattern[i]!;
    const v = parts[i]!;
    if (p.startsWith(':')) {
      try {
        params[p.slice(1)] = decodeURIComponent(v);
      } catch {
        return null;
      }
    } else if (p !== v) {
      return null;
    }
  }
  return params;
}
