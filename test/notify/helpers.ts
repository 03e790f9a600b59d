import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { createServer as createNetServer, type AddressInfo, type Socket } from 'node:net';
import type { ExecutionContext } from 'ava';
import type { Notification } from '../../src/notify/types.js';

export interface Received {
  headers: IncomingMessage['headers'];
  body: string;
  url: string;
}

/** A real HTTP receiver on 127.0.0.1:0 answering with `statuses` in turn (the last repeats). */
export async function receiver(t: ExecutionContext, statuses: number[] = [200], extraHeaders: Record<string, string> = {}): Promise<{ url: string; got: Received[] }> {
  const got: Received[] = [];
  let i = 0;
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    let body = '';
    req.setEncoding('utf8');
    req.on('data', (c: string) => (body += c));
    req.on('end', () => {
      got.push({ headers: req.headers, body, url: req.url ?? '' });
      const status = statuses[Math.min(i++, statuses.length - 1)] ?? 200;
      res.writeHead(status, extraHeaders).end(status >= 400 ? 'nope' : 'ok');
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  t.teardown(() => new Promise<void>((r) => server.close(() => r())));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, got };
}

export function sampleNotification(over: Partial<Notification> = {}): Notification {
  return {
    receiver: 'test', groupKey: '["ClaudeHighErrorRate"]', groupLabels: { alertname: 'ClaudeHighErrorRate' }, status: 'firing',
    alerts: [{
      fingerprint: 'abc', status: 'firing', labels: { alertname: 'ClaudeHighErrorRate', severity: 'critical', model: 'claude-opus-4-5' },
      annotations: { summary: 'errors at 12%' }, startsAt: Date.UTC(2026, 0, 1), endsAt: null, value: 0.12,
    }],
    commonLabels: { alertname: 'ClaudeHighErrorRate' }, commonAnnotations: {}, ...over,
  };
}

export const noSleep = { sleep: async (): Promise<void> => {}, baseDelayMs: 1 };

/** A receiver that takes every request and never answers; `held` lists the requests it holds. */
export async function hangingReceiver(t: ExecutionContext): Promise<{ url: string; held: ServerResponse[] }> {
  const held: ServerResponse[] = [];
  const server = createServer((_req, res) => void held.push(res));
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  t.teardown(() => new Promise<void>((r) => {
    for (const res of held) res.destroy();
    server.close(() => r());
  }));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`, held };
}

/** An SMTP server that greets, then answers nothing; `sockets` lists its connections. */
export async function hangingSmtp(t: ExecutionContext): Promise<{ port: number; sockets: Socket[] }> {
  const sockets: Socket[] = [];
  const server = createNetServer((sock) => {
    sockets.push(sock);
    sock.write('220 smtp.test ESMTP\r\n');
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  t.teardown(() => new Promise<void>((r) => {
    for (const s of sockets) s.destroy();
    server.close(() => r());
  }));
  return { port: (server.address() as AddressInfo).port, sockets };
}
